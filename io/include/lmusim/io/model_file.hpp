#pragma once
// Model files: a network file plus /meta (docs/model_format.md).
#include <string>
#include <vector>

#include "lmusim/graph/network.hpp"

namespace lmusim {

struct model_file {
    network net;
    std::string model;                     // root attribute `model` ("" if absent)
    std::vector<std::string> class_names;  // /meta/class_names, empty if absent
};

// Loads and validates a model file; errors name the file and what is wrong.
model_file load_model(const std::string& path);

}  // namespace lmusim
