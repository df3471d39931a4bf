#pragma once
// Reads what a run did (spike counts, firing rates, op counts per layer; energy/report.hpp's
// activity) from a clip output file (lmusim run --output, docs/output_format.md) or a recording
// (lmusim cuba/run --record, docs/recording_format.md). Errors name the file and the dataset.
#include <string>

#include "lmusim/energy/report.hpp"

namespace lmusim {

activity read_activity(const std::string& path);

// The energy report of a file: make_report(read_activity(path), model, include_elementwise).
energy_report make_report(const std::string& path, const energy_model& model, bool include_elementwise);

}  // namespace lmusim
