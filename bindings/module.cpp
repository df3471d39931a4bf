#include "common.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "lmusim's compiled engine; use the `lmusim` package, which wraps it.";
    m.attr("__version__") = LMUSIM_VERSION;
    lmusim::py_bindings::register_errors(m);
    lmusim::py_bindings::register_network(m);
    lmusim::py_bindings::register_sim(m);
    lmusim::py_bindings::register_model(m);
    lmusim::py_bindings::register_audio(m);
}
