// Options, signals, JSON and output guards shared by the commands.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include "lmusim/graph/cuba.hpp"
#include "lmusim/graph/weights.hpp"
#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/frontend/audio.hpp"
#include "lmusim/io/checkpoint.hpp"
#include "lmusim/io/clip_writer.hpp"
#include "lmusim/io/activity_file.hpp"
#include "lmusim/io/h5_recorder.hpp"
#include "lmusim/io/model_file.hpp"
#include "lmusim/io/network_file.hpp"
#include "lmusim/io/npy.hpp"
#include "lmusim/core/output_file.hpp"
#include "lmusim/sim/run_clips.hpp"
#include "lmusim/core/sha256.hpp"
#include "lmusim/sim/simulation.hpp"

#include "cli.hpp"

namespace lmusim::cli {

using lmusim::cat;

// The one piece of process-wide state: set by SIGINT/SIGTERM, read at step and clip boundaries
// (std::atomic<bool> is lock-free, so the handler may write it).
namespace {
std::atomic<bool> stop_requested{false};
}  // namespace

// The first signal asks the run to stop at the next boundary; a second one ends the process.
extern "C" void on_stop_signal(int) {
    if (stop_requested.exchange(true)) _exit(130);
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A file-size limit (ulimit -f) then makes writes fail with EFBIG, reported as an error,
    // instead of killing the process.
    signal(SIGXFSZ, SIG_IGN);
}

bool should_stop() { return stop_requested.load(); }

// `x` rounded to `decimals` places: the --json numbers keep the precision the text output had.
double rounded(double x, int decimals) {
    const double scale = std::pow(10.0, decimals);
    return std::isfinite(x) ? std::round(x * scale) / scale : x;
}

// One JSON object on one line of stdout (--json). Strings (names, paths) are escaped; invalid
// UTF-8 in a path is replaced rather than failing the run after its work is done.
void print_json(const nlohmann::ordered_json& j) {
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

double parse_time_s(const std::string& text, const char* option, bool plain_is_ms, bool allow_zero) {
    std::size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        throw lmusim::error(cat(option, " '", text, "': expected a number with unit s or ms, e.g. ",
                                plain_is_ms ? "1s or 250ms" : "0.3 or 300ms"));
    }
    std::string unit = text.substr(used);
    unit.erase(0, unit.find_first_not_of(' '));
    if (!(allow_zero ? value >= 0 : value > 0) || !std::isfinite(value))
        throw lmusim::error(cat(option, " '", text, "': expected a ", allow_zero ? "duration >= 0" : "positive duration"));
    if (unit == "ms" || (unit.empty() && plain_is_ms)) return value * 1e-3;
    if (unit == "s" || unit.empty()) return value;
    throw lmusim::error(cat(option, " '", text, "': unknown unit '", unit, "', expected s or ms"));
}

double parse_duration_ms(const std::string& text, const char* option) {
    return parse_time_s(text, option, true, false) * 1e3;
}

void add_overwrite_flag(CLI::App* app, bool& flag) {
    app->add_flag("--overwrite", flag,
                  "Replace output files that exist (never an input file); without it an existing output is an error");
}



void add_run_options(CLI::App* app, run_settings& s) {
    app->add_option("--duration", s.duration,
                    "Biological time to simulate, e.g. 1s or 250ms; with --resume the total time of the run, counted from "
                    "step 0 (a resumed run continues up to it)")
        ->capture_default_str();
    app->add_option("--threads", s.threads, "Worker threads (0 = all available)")->capture_default_str();
    app->add_option("--record", s.record, "Write spikes, counts and ops to this HDF5 file");
    app->add_option("--chunk-steps", s.chunk_steps, "Steps per flushed recording chunk")->capture_default_str();
    app->add_flag("--json", s.json, "Print the result as one JSON object");
    app->add_flag("--quiet", s.quiet, "No progress output on stderr");
    app->add_option("--checkpoint", s.checkpoint,
                    "Network runs: save the complete state to this HDF5 file at the end, every --checkpoint-every, "
                    "and when SIGINT/SIGTERM stops the run (docs/checkpoint.md)");
    app->add_option("--checkpoint-every", s.checkpoint_every, "With --checkpoint: also save every this much biological time, e.g. 1s");
    app->add_option("--resume", s.resume,
                    "Network runs: continue from this checkpoint (same network and options) up to --duration in all");
    app->add_option("--dry-run-ranks", s.dry_run_ranks,
                    "Network runs: simulate rank 0 of this many ranks in one process, replaying its spikes as the other "
                    "ranks' traffic, to measure exchange volume and time (docs/distributed.md, \"Dry run\")");
    app->add_option("--weights", s.weights,
                    "Round the synaptic weights to fp32 (as stored), bf16 or int8 (per-output-channel scale) before the "
                    "run; counts are unchanged (docs/weights.md)")
        ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
    app->add_option("--hardware", s.hardware,
                    "Hardware profile (name or JSON file, see lmusim report --list-hardware): use the weight format the "
                    "chip holds (loihi: int8) unless --weights is given");
    add_overwrite_flag(app, s.overwrite);
}

std::vector<std::pair<std::string, std::string>> apply_weights(network& net, const run_settings& s) {
    std::vector<std::pair<std::string, std::string>> attrs;
    std::string format = s.weights;
    if (!s.hardware.empty()) {
        const hardware_profile hw = find_hardware_profile(s.hardware);
        attrs.emplace_back("hardware", hw.name);
        if (format.empty()) format = hw.weights;
    }
    if (!format.empty()) compress_weights(net, weight_format_from_string(format));
    attrs.emplace_back("weights", std::string(to_string(net.weights)));
    return attrs;
}

// Resuming from a checkpoint and saving into the same file is how a long run continues: that
// checkpoint is lmusim's own file, replaced without --overwrite (docs/checkpoint.md).
bool resumes_into_own_checkpoint(const run_settings& s) {
    return !s.resume.empty() && !s.checkpoint.empty() && lmusim::same_file(s.resume, s.checkpoint);
}

// Before any work: no output is an input or another output, and none exists unless --overwrite.
void guard_outputs(std::vector<std::string> outputs, std::vector<std::string> inputs, bool overwrite,
                   const std::string& own_checkpoint) {
    lmusim::check_outputs(outputs, inputs, lmusim::if_exists::replace);  // identity only
    std::erase(outputs, own_checkpoint);
    lmusim::check_outputs(outputs, {}, lmusim::overwrite_if(overwrite));
}

void guard_network_run(const run_settings& s, std::vector<std::string> inputs, std::vector<std::string> outputs) {
    const bool own = resumes_into_own_checkpoint(s);
    if (!own) inputs.push_back(s.resume);
    outputs.push_back(s.record);
    outputs.push_back(s.checkpoint);
    guard_outputs(std::move(outputs), std::move(inputs), s.overwrite, own ? s.checkpoint : "");
}

std::string python_interpreter() {
    if (const char* p = std::getenv("LMUSIM_PYTHON"); p && *p) return p;
    if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
    return "python3";
}

std::string python_path() {
    std::error_code ec;
    if (!std::filesystem::is_directory(std::filesystem::path(LMUSIM_BUILD_PYTHON_DIR) / "lmusim", ec)) return "";
    std::string pythonpath = LMUSIM_BUILD_PYTHON_DIR;
    if (const char* old = std::getenv("PYTHONPATH"); old && *old) pythonpath += std::string(":") + old;
    return pythonpath;
}

helper_result run_python_helper(const std::vector<std::string>& module_and_args,
                                const std::vector<std::pair<std::string, std::string>>& env_defaults) {
    const std::string python = python_interpreter();
    const std::string pythonpath = python_path();
    std::vector<const char*> argv{python.c_str(), "-m"};
    for (const std::string& a : module_and_args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    // A pipe closed on exec tells the parent whether the interpreter started (errno if not).
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) < 0) throw lmusim::error(cat("cannot create a pipe: ", std::strerror(errno)));
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        const int err = errno;
        ::close(exec_pipe[0]);
        ::close(exec_pipe[1]);
        throw lmusim::error(cat("cannot start the Python helper: ", std::strerror(err)));
    }
    if (pid == 0) {
        ::close(exec_pipe[0]);
        if (!pythonpath.empty()) setenv("PYTHONPATH", pythonpath.c_str(), 1);
        for (const auto& [k, v] : env_defaults) setenv(k.c_str(), v.c_str(), 0);
        execvp(python.c_str(), const_cast<char* const*>(argv.data()));
        const int err = errno;
        [[maybe_unused]] const ssize_t n = ::write(exec_pipe[1], &err, sizeof err);
        _exit(127);
    }
    ::close(exec_pipe[1]);
    helper_result r;
    ssize_t got = 0;
    while ((got = ::read(exec_pipe[0], &r.exec_errno, sizeof r.exec_errno)) < 0 && errno == EINTR) {
    }
    r.started = got != static_cast<ssize_t>(sizeof r.exec_errno);
    ::close(exec_pipe[0]);
    while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
    }
    return r;
}

}  // namespace lmusim::cli
