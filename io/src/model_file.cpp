#include "lmusim/io/model_file.hpp"

#include <cmath>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/io/network_file.hpp"

namespace lmusim {
namespace {

// The one node that satisfies `pick`, for files that do not name it.
template <class Pick> std::string the_one(const std::string& path, const network& net, const char* what, Pick pick) {
    std::string found, all;
    std::size_t count = 0;
    for (std::size_t i = 0; i < net.nodes.size(); ++i)
        if (pick(i)) {
            found = net.nodes[i].name;
            all += cat(count++ ? ", " : "", "'", found, "'");
        }
    if (count != 1)
        throw file_error(cat(path, ": /meta has no ", what, " attribute and the network has ", count, " candidate node(s)",
                             count ? cat(" (", all, ")") : std::string(), "; add /meta/", what));
    return found;
}

}  // namespace

model_file load_model(const std::string& path) {
    model_file m;
    m.net = load_network(path);
    h5::quiet q;
    h5::file f = h5::open_file(path, false);
    const hid_t root = f.h.id();
    if (h5::has_attr(root, "model")) m.model = h5::read_attr_string(f, root, "model", "/");
    const bool has_meta = h5::exists(root, "meta");
    h5::handle meta = has_meta ? h5::open_group(f, root, "meta", "/meta") : h5::handle();
    if (has_meta && h5::exists(meta.id(), "class_names"))
        m.class_names = h5::read_strings(f, meta.id(), "class_names", "/meta/class_names");
    auto node_attr = [&](const char* name) -> std::string {
        if (!has_meta || !h5::has_attr(meta.id(), name)) return {};
        const std::string v = h5::read_attr_string(f, meta.id(), name, "/meta");
        try {
            (void)m.net.node_index(v);
        } catch (const error&) {
            throw file_error(cat(path, ": /meta attribute ", name, " = '", v, "' is not a node of the network"));
        }
        return v;
    };
    m.input_node = node_attr("input_node");
    m.output_node = node_attr("output_node");
    if (m.input_node.empty())
        m.input_node = the_one(path, m.net, "input_node", [&](std::size_t i) { return m.net.nodes[i].frame_input(); });
    if (m.output_node.empty())
        m.output_node = the_one(path, m.net, "output_node", [&](std::size_t i) {
            for (const projection& p : m.net.projections)
                if (p.source == m.net.nodes[i].name) return false;
            return !m.net.nodes[i].spiking();
        });
    if (!m.net.find_node(m.input_node).frame_input())
        throw file_error(cat(path, ": /meta input_node '", m.input_node, "' is a ", m.net.find_node(m.input_node).kind(),
                             " node, expected an input node"));
    auto norm = [&](const char* name, float& value) {  // checked with the rest of the front-end below
        if (has_meta && h5::has_attr(meta.id(), name)) value = h5::read_attr<float>(f, meta.id(), name, "/meta");
    };
    norm("feature_mean", m.frontend.feature_mean);
    norm("feature_std2", m.frontend.feature_std2);
    // The front-end: "logmel" (the default when absent) or "pcen" with its pcen_* parameters.
    const std::string frontend = has_meta && h5::has_attr(meta.id(), "frontend")
                                     ? h5::read_attr_string(f, meta.id(), "frontend", "/meta") : "logmel";
    if (frontend == "pcen") {
        pcen_options& p = m.frontend.pcen;
        p.enabled = true;
        for (const auto& [name, member] : pcen_parameters) {
            const std::string key = cat("pcen_", name);
            if (!h5::has_attr(meta.id(), key))
                throw file_error(cat(path, ": /meta frontend = 'pcen' but the attribute ", key, " is missing"));
            p.*member = h5::read_attr<double>(f, meta.id(), key, "/meta");
        }
    } else if (frontend != "logmel") {
        throw file_error(cat(path, ": /meta attribute frontend = '", frontend, "': expected 'logmel' or 'pcen'"));
    }
    try {
        check_frontend(m.frontend, cat(path, ": /meta"));
    } catch (const error& e) {  // a bad value in the file
        throw file_error(e.what());
    }
    return m;
}

}  // namespace lmusim
