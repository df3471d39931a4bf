#pragma once
// Save and load a network description to and from HDF5 (layout: docs/network_format.md).
#include <string>

#include "lmusim/graph/network.hpp"
#include "lmusim/core/output_file.hpp"

namespace lmusim {

inline constexpr int network_format_version = 1;

// Writes `net` (validated first) to `path`. The file is written under a temporary name and
// renamed at the end, so a failure never leaves a half-written network; an existing file is
// replaced only with if_exists::replace (docs/hardening.md, "Outputs").
void save_network(const network& net, const std::string& path, if_exists existing = if_exists::fail);
void save_network(const network& net, output_file& out);  // through a claim the caller holds

// Reads and validates a network. Every missing or malformed field is an lmusim::file_error naming
// the file, the object and what was expected; an invalid network is an lmusim::network_error.
network load_network(const std::string& path);

}  // namespace lmusim
