#pragma once
// The `lmusim` command-line program's parts (apps/): shared options and guards (cli_common.cpp),
// network runs (run_network.cpp), model runs and features (run_model.cpp), report and info
// (report_info.cpp); main.cpp declares the commands and dispatches.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lmusim/graph/network.hpp"
#include "lmusim/io/nir.hpp"
#include "lmusim/sim/communicator.hpp"
#include "lmusim/sim/simulation.hpp"
#include "lmusim/sim/spotter.hpp"

namespace lmusim::cli {

struct run_settings {
    std::string duration = "1s";
    std::size_t threads = 0;
    std::string record;
    bool json = false;
    bool quiet = false;
    std::uint64_t chunk_steps = 1000;
    std::string checkpoint;        // write the run's state here (docs/checkpoint.md)
    std::string checkpoint_every;  // ... also every this much biological time
    std::string resume;            // continue from this checkpoint
    bool overwrite = false;        // replace existing output files (docs/hardening.md, "Outputs")
    int dry_run_ranks = 0;         // > 1: a dry run standing in for this many ranks
    std::string weights;           // --weights fp32|bf16|int8 (docs/weights.md); empty: as stored
    std::string hardware;          // --hardware PROFILE: the chip's weight format when --weights is not given
    communicator* comm = nullptr;  // the ranks of an mpirun job (docs/distributed.md); null: one process
};

struct model_settings {
    std::vector<std::string> inputs;
    double chunk_ms = 10.0;
    std::string output;
    bool stream = false;
    bool record_spikes = false;
    bool per_frame_counts = false;
    std::size_t batch = 16;
    std::size_t tile_bytes = lmusim::context{}.tile_bytes;  // --tile-bytes (docs/design.md, "Tiled delivery")
    std::string memory_mode;
    // NIR graphs (docs/nir.md)
    double dt = 0;  // [s]
    std::string nir_discretization = "euler";
    std::string nir_reset = "zero";
    std::string nir_readout = "sum";
    // Keyword spotting in a stream: --input - (standard input) or --spot (apps/run_spot.cpp,
    // docs/spotting.md)
    bool spot = false;
    bool raw = false;                 // headerless PCM16 instead of a WAV header
    double threshold = spot_options{}.threshold;  // on the smoothed confidence (the spotter's default)
    double release = -1;  // an open detection goes on while the confidence is >= this; < 0: min(spot_options{}.release, threshold)
    std::string hop = "50ms";         // between window starts
    std::string refractory = "0.3s";  // a detection ends after this long without a confident window
};

// SIGINT/SIGTERM: the first asks the run to stop at the next boundary, a second ends the process.
void install_signal_handlers();
bool should_stop();
// `x` rounded to `decimals` places (the --json numbers keep the precision the text output had).
double rounded(double x, int decimals);
// One JSON object on one line of stdout (--json).
void print_json(const nlohmann::ordered_json& j);
// "1s", "250ms", "2.5 s" or a plain number (milliseconds if plain_is_ms, else seconds) -> seconds;
// a duration > 0 (>= 0 with allow_zero). Errors name the option and what was expected.
double parse_time_s(const std::string& text, const char* option, bool plain_is_ms, bool allow_zero);
// The same with a plain number in milliseconds, > 0 -> milliseconds (--duration, --checkpoint-every).
double parse_duration_ms(const std::string& text, const char* option = "--duration");
void add_overwrite_flag(CLI::App* app, bool& flag);
void add_run_options(CLI::App* app, run_settings& s);
bool resumes_into_own_checkpoint(const run_settings& s);
// Before any work: no output is an input or another output, and none exists unless --overwrite.
void guard_outputs(std::vector<std::string> outputs, std::vector<std::string> inputs, bool overwrite,
                   const std::string& own_checkpoint = "");
void guard_network_run(const run_settings& s, std::vector<std::string> inputs, std::vector<std::string> outputs);
// --weights, else the --hardware profile's weight format: rounds the network's weights
// (docs/weights.md) and returns the attributes an output file records (weights, hardware).
std::vector<std::pair<std::string, std::string>> apply_weights(network& net, const run_settings& s);

// Python helpers (python3 -m lmusim.<module>): the interpreter is $LMUSIM_PYTHON, else
// /usr/bin/python3, else python3 from PATH; the build tree's package goes first on PYTHONPATH
// while that tree exists.
std::string python_interpreter();
std::string python_path();
struct helper_result {
    bool started = false;  // false: the interpreter could not be run (exec_errno says why)
    int exec_errno = 0;
    int status = 0;  // waitpid status
};
helper_result run_python_helper(const std::vector<std::string>& module_and_args,
                                const std::vector<std::pair<std::string, std::string>>& env_defaults = {});

int run_network(network net, const run_settings& s, const std::map<std::string, std::string>& attrs,
                const std::string& identity);
int run_model(const std::string& path, const run_settings& rs, const model_settings& ms);
// Keyword spotting in a stream (apps/run_spot.cpp): chosen by --input - or --spot.
bool spots_keywords(const model_settings& ms);
int run_spot(const std::string& path, const run_settings& rs, const model_settings& ms);
int features(const std::string& in, const std::string& out, const std::string& model, bool overwrite);
int report(const std::string& path, const std::string& model_name, bool json, bool elementwise, const std::string& plot,
           bool overwrite, const std::string& hardware = "");
int info(const std::string& path);
int nir_info(const std::string& path, const nir_options& options);

}  // namespace lmusim::cli
