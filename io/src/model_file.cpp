#include "lmusim/io/model_file.hpp"

#include "h5.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/io/network_file.hpp"

namespace lmusim {

model_file load_model(const std::string& path) {
    model_file m;
    m.net = load_network(path);
    h5::quiet q;
    h5::file f = h5::open_file(path, false);
    if (h5::has_attr(f.h.id(), "model")) m.model = h5::read_attr_string(f, f.h.id(), "model", "/");
    if (h5::exists(f.h.id(), "meta") && h5::exists(f.h.id(), "meta/class_names")) {
        h5::handle meta = h5::open_group(f, f.h.id(), "meta", "/meta");
        m.class_names = h5::read_strings(f, meta.id(), "class_names", "/meta/class_names");
    }
    return m;
}

}  // namespace lmusim
