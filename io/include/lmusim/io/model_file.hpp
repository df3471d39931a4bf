#pragma once
// Model files: a network file plus /meta (docs/model_format.md).
#include <string>
#include <vector>

#include "lmusim/frontend/audio.hpp"
#include "lmusim/graph/network.hpp"

namespace lmusim {

struct model_file {
    network net;
    std::string model;                     // root attribute `model` ("" if absent)
    std::vector<std::string> class_names;  // /meta/class_names, empty if absent
    // The node fed with frames and the node whose values are the per-frame output: /meta
    // attributes input_node and output_node; a file without them names no nodes, and then the
    // network's one frame-input node and its one node without outgoing projections are used
    // (an error if either is not unique).
    std::string input_node, output_node;
    // The audio front-end the model was trained with: the defaults, with the normalisation from
    // the /meta attributes feature_mean and feature_std2 when present.
    fbank_options frontend;
};

// Loads and validates a model file; errors name the file and what is wrong.
model_file load_model(const std::string& path);

}  // namespace lmusim
