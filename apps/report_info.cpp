// `lmusim report` (energy and activity, optional plot) and `lmusim info`.
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

// `lmusim report`: energy and activity from a recording or clip output, as a table or JSON; the
// plot is drawn by the Python helper lmusim.plot (matplotlib) from the JSON report.
int report(const std::string& path, const std::string& model_name, bool json, bool elementwise, const std::string& plot,
           bool overwrite, const std::string& hardware) {
    if (!plot.empty()) guard_outputs({plot}, {path, model_name}, overwrite);
    const lmusim::energy_model model = lmusim::find_energy_model(model_name);
    std::optional<lmusim::hardware_profile> profile;
    if (!hardware.empty()) profile = lmusim::find_hardware_profile(hardware);
    const lmusim::activity a = lmusim::read_activity(path);
    lmusim::energy_report r = lmusim::make_report(a, model, elementwise);
    if (profile) r.hardware = lmusim::make_hardware_report(a, *profile);
    const std::string text = lmusim::report_json(r);
    if (json)
        std::printf("%s\n", text.c_str());
    else
        std::printf("%s", lmusim::report_table(r).c_str());
    if (plot.empty()) return 0;
    // The report for the helper goes to a private temporary file, never next to the user's files.
    const char* tmpdir = std::getenv("TMPDIR");
    std::string json_path = cat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/lmusim-report-XXXXXX.json");
    {
        const int fd = mkstemps(json_path.data(), 5);
        if (fd < 0) throw lmusim::file_error(cat("cannot create a temporary file '", json_path, "': ", std::strerror(errno)));
        const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::close(fd);
        if (!ok) throw lmusim::file_error(cat("cannot write '", json_path, "'"));
    }
    const std::string python = python_interpreter();
    const std::string pythonpath = python_path();
    // The helper claims the PNG itself (lmusim/_outputs.py: the same lock and rename as here).
    const helper_result h = run_python_helper(
        {"lmusim.plot", json_path, path, plot, overwrite ? "--overwrite" : "--no-overwrite"}, {{"MPLBACKEND", "Agg"}});
    const bool exec_failed = !h.started;
    const int exec_errno = h.exec_errno;
    const int status = h.status;
    if (exec_failed)
        throw lmusim::error(cat("--plot: cannot run the Python interpreter '", python, "': ", std::strerror(exec_errno),
                                " (set LMUSIM_PYTHON to a python3 with matplotlib and the lmusim package); the report is in ",
                                json_path));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        std::remove(json_path.c_str());  // the helper refused the output and said why, in one line
        return 2;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw lmusim::error(cat("--plot: the Python helper (", python, " -m lmusim.plot, needs matplotlib and the lmusim package",
                                pythonpath.empty() ? "" : cat(" from ", LMUSIM_BUILD_PYTHON_DIR),
                                "; LMUSIM_PYTHON selects the interpreter) failed (its message is above); the report is in ",
                                json_path));
    std::remove(json_path.c_str());
    if (!json) std::printf("plot: %s\n", plot.c_str());
    return 0;
}

namespace {

void print_network(const lmusim::network& net) {
    std::size_t synapses = 0;
    std::printf("%zu nodes:\n", net.nodes.size());
    for (const auto& n : net.nodes)
        std::printf("  %-32s %-16s %zu\n", n.name.c_str(), std::string(n.kind()).c_str(), n.size);
    std::printf("%zu projections:\n", net.projections.size());
    for (const auto& p : net.projections) {
        const std::size_t syn = p.synapse_count(net.find_node(p.source).size, net.find_node(p.target).port_size(p.port));
        synapses += syn;
        std::printf("  %-20s %s -> %s  %s, delay %u, port %u, %zu synapses\n", p.name.c_str(), p.source.c_str(),
                    p.target.c_str(), std::string(lmusim::to_string(p.kind)).c_str(), p.delay, p.port, syn);
    }
    std::printf("%zu synapses in all\n", synapses);
    std::printf("%zu trainable parameters\n", net.parameter_count());
    const auto lat = net.latencies();
    std::printf("latency: output after +%u frames\n", *std::max_element(lat.begin(), lat.end()));
}

std::string dims(const std::vector<std::size_t>& s) {
    std::string t = "(";
    for (std::size_t i = 0; i < s.size(); ++i) t += cat(i ? ", " : "", s[i]);
    return t + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

int info(const std::string& path) {
    const lmusim::network net = lmusim::load_network(path);
    std::printf("network '%s' (dt %g ms)\n", net.name.c_str(), net.dt);
    if (net.weights != lmusim::weight_format::fp32)
        std::printf("weights rounded to %s (docs/weights.md)\n", std::string(to_string(net.weights)).c_str());
    print_network(net);
    return 0;
}

int nir_info(const std::string& path, const lmusim::nir_options& o) {
    const lmusim::nir_model g = lmusim::load_nir(path, o);
    std::printf("NIR graph %s (written by nir %s)\n", path.c_str(), g.version.empty() ? "?" : g.version.c_str());
    std::printf("semantics: dt %g s, discretization %s, reset %s (docs/nir.md)\n", o.dt,
                std::string(lmusim::to_string(o.discretization)).c_str(), std::string(lmusim::to_string(o.reset)).c_str());
    std::printf("%zu NIR nodes (nested graphs flattened, evaluation order):\n", g.entries.size());
    for (const auto& e : g.entries) {
        std::printf("  %-28s %-10s %-16s -> %s\n", e.name.c_str(), e.type.c_str(), dims(e.shape).c_str(), e.lowered.c_str());
        if (!e.fields.empty()) std::printf("  %-28s   %s\n", "", e.fields.c_str());
    }
    std::printf("%zu edges:\n", g.edges.size());
    for (const auto& [e, back] : g.edges)
        std::printf("  %s -> %s%s\n", e.first.c_str(), e.second.c_str(), back ? "   (closes a cycle: previous step)" : "");
    for (const auto& n : g.notes) std::printf("note: %s\n", n.c_str());
    std::printf("as lmusim network (dt %g ms):\n", g.net.dt);
    print_network(g.net);
    return 0;
}

}  // namespace lmusim::cli
