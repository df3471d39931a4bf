// Reading NIR files (docs/nir.md, "The file"): /version, then /node recursively. Every field is a
// dataset of any numeric dtype or a string; NIRGraph nodes hold `nodes` (a group per child) and
// `edges` ((E, 2) strings, or an empty numeric dataset when there are none).
#include <algorithm>

#include "h5.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/io/nir.hpp"

namespace lmusim {
namespace {

std::string join(const std::string& a, const std::string& b) { return a == "/" ? a + b : a + "/" + b; }

nir_field field_of(const h5::file& f, hid_t g, const std::string& name, const std::string& where) {
    h5::any_dataset d = h5::read_any(f, g, name, where);
    nir_field out;
    out.name = name;
    out.shape.assign(d.dims.begin(), d.dims.end());
    out.text = d.text;
    out.numbers = std::move(d.numbers);
    out.strings = std::move(d.strings);
    return out;
}

std::string single_string(const h5::file& f, const nir_field& fld, const std::string& where) {
    if (!fld.text || fld.strings.size() != 1)
        throw file_error(cat(f.path, ": '", where, "' should be one string (got ",
                             fld.text ? cat(fld.strings.size(), " strings") : std::string("numbers"), ")"));
    return fld.strings[0];
}

void read_node(const h5::file& f, hid_t g, const std::string& where, nir_node& out, int depth) {
    if (depth > 64) throw file_error(cat(f.path, ": '", where, "': graphs nested more than 64 deep"));
    if (!h5::exists(g, "type") || h5::is_group(g, "type"))
        throw file_error(cat(f.path, ": '", where, "' has no 'type' dataset (expected a NIR node: a group with a 'type' "
                             "string and its fields)"));
    out.type = single_string(f, field_of(f, g, "type", join(where, "type")), join(where, "type"));
    if (out.type == "NIRGraph") {
        if (!h5::is_group(g, "nodes")) throw file_error(cat(f.path, ": NIRGraph '", where, "' has no 'nodes' group"));
        h5::handle nodes = h5::open_group(f, g, "nodes", join(where, "nodes"));
        for (const std::string& name : h5::members(nodes.id())) {
            const std::string w = join(join(where, "nodes"), name);
            if (!h5::is_group(nodes.id(), name)) throw file_error(cat(f.path, ": '", w, "' is not a group (expected a node)"));
            h5::handle child = h5::open_group(f, nodes.id(), name, w);
            nir_node c;
            c.name = name;
            read_node(f, child.id(), w, c, depth + 1);
            out.nodes.push_back(std::move(c));
        }
        if (!h5::exists(g, "edges")) throw file_error(cat(f.path, ": NIRGraph '", where, "' has no 'edges' dataset"));
        const nir_field e = field_of(f, g, "edges", join(where, "edges"));
        if (e.count() != 0) {
            if (!e.text || e.shape.size() != 2 || e.shape[1] != 2)
                throw file_error(cat(f.path, ": '", join(where, "edges"), "' should be an (E, 2) array of node names"));
            for (std::size_t i = 0; i < e.shape[0]; ++i) out.edges.emplace_back(e.strings[2 * i], e.strings[2 * i + 1]);
        }
        return;
    }
    for (const std::string& name : h5::members(g)) {
        if (name == "type" || h5::is_group(g, name)) continue;  // groups: metadata and the like
        out.fields.push_back(field_of(f, g, name, join(where, name)));
    }
}

}  // namespace

const nir_field* nir_node::find(std::string_view field) const noexcept {
    for (const nir_field& f : fields)
        if (f.name == field) return &f;
    return nullptr;
}

nir_document read_nir(const std::string& path) {
    h5::probe_in_child(path);
    h5::quiet q;
    h5::file f = h5::open_file(path, false);
    const hid_t root = f.h.id();
    nir_document doc;
    doc.path = path;
    if (h5::exists(root, "version") && !h5::is_group(root, "version"))
        doc.version = single_string(f, field_of(f, root, "version", "/version"), "/version");
    if (!h5::is_group(root, "node"))
        throw file_error(cat(path, ": not a NIR file: no '/node' group (NIR files hold the graph under /node and the "
                             "nir package's version under /version)"));
    h5::handle node = h5::open_group(f, root, "node", "/node");
    read_node(f, node.id(), "/node", doc.root, 0);
    return doc;
}

bool is_nir_file(const std::string& path) {
    try {
        h5::quiet q;
        h5::probe_in_child(path);  // a corrupt file must not reach HDF5 here either (false: the loader says why)
        h5::file f = h5::open_file(path, false);
        if (!h5::is_group(f.h.id(), "node")) return false;
        h5::handle node = h5::open_group(f, f.h.id(), "node", "/node");
        return h5::exists(node.id(), "type");
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace lmusim
