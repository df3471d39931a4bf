// C++ exceptions become Python exceptions with the same message: lmusim::error -> lmusim.Error
// (a ValueError), its leaves -> lmusim.NetworkError / lmusim.FileError, internal_error ->
// RuntimeError.
#include "common.hpp"
#include "lmusim/core/error.hpp"

namespace lmusim::py_bindings {

void register_errors(py::module_& m) {
    static py::exception<error> base(m, "Error", PyExc_ValueError);
    static py::exception<network_error> net(m, "NetworkError", base.ptr());
    static py::exception<file_error> file(m, "FileError", base.ptr());
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const network_error& e) {
            net(e.what());
        } catch (const file_error& e) {
            file(e.what());
        } catch (const error& e) {
            base(e.what());
        } catch (const internal_error& e) {
            PyErr_SetString(PyExc_RuntimeError, (std::string("lmusim internal error: ") + e.what()).c_str());
        }
    });
}

}  // namespace lmusim::py_bindings
