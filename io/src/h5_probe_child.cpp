// h5::probe_in_child: read a whole HDF5 file in another process before loading it, so that a
// crash or a hang of the HDF5 library on a corrupt file becomes an error here (docs/hardening.md).
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "h5.hpp"
#include "h5_probe.hpp"
#include "lmusim/core/strings.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define LMUSIM_HAS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LMUSIM_HAS_SANITIZER 1
#endif
#endif
#ifndef LMUSIM_HAS_SANITIZER
#define LMUSIM_HAS_SANITIZER 0
#endif
#if LMUSIM_HAS_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

namespace lmusim::h5 {

namespace {

// The helper program that probes files (io/tools/h5probe.cpp).
constexpr const char* kProbeName = "lmusim-h5probe";

bool executable(const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// The directory of the binary that lmusim's io library is linked into: the `lmusim` program, a
// test, or the Python module _core*.so (where /proc/self/exe would name python).
std::filesystem::path own_binary_dir() {
    void* self = nullptr;
    auto* fn = &probe_in_child;
    std::memcpy(&self, &fn, sizeof self);
    Dl_info info{};
    link_map* map = nullptr;
    if (::dladdr1(self, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 || !map) return {};
    std::error_code ec;
    // The main program's link map has no name (dladdr reports argv[0] for it).
    const std::filesystem::path binary = map->l_name && *map->l_name ? std::filesystem::absolute(map->l_name, ec)
                                                                     : std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path() : binary.parent_path();
}

// Where lmusim-h5probe is: $LMUSIM_H5PROBE if set (nothing else is tried then); else next to this
// binary (the install and build/apps), in its ../apps (the build tree's tests), in the build tree
// this library was built in (while it exists), and on PATH. Empty if none is executable.
std::filesystem::path find_probe_helper() {
    if (const char* forced = std::getenv("LMUSIM_H5PROBE"); forced && *forced)
        return executable(forced) ? std::filesystem::path(forced) : std::filesystem::path();
    std::vector<std::filesystem::path> candidates;
    if (const auto dir = own_binary_dir(); !dir.empty()) {
        candidates.push_back(dir / kProbeName);
        candidates.push_back(dir / ".." / "apps" / kProbeName);
    }
    candidates.emplace_back(LMUSIM_H5PROBE_BUILD_PATH);
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest = path;
        while (!rest.empty()) {
            const std::size_t colon = rest.find(':');
            const std::string_view dir = rest.substr(0, colon);
            if (!dir.empty()) candidates.push_back(std::filesystem::path(dir) / kProbeName);
            rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
        }
    }
    for (const auto& c : candidates)
        if (executable(c)) return c;
    return {};
}

// Threads of this process (/proc/self/status), 0 if unknown.
unsigned thread_count() {
    std::FILE* f = std::fopen("/proc/self/status", "re");
    if (!f) return 0;
    unsigned n = 0;
    char line[256];
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Threads: %u", &n) == 1) break;
    std::fclose(f);
    return n;
}

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct spawn_setup {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    spawn_setup() {
        posix_spawnattr_init(&attr);
        posix_spawn_file_actions_init(&actions);
    }
    ~spawn_setup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    spawn_setup(const spawn_setup&) = delete;
    spawn_setup& operator=(const spawn_setup&) = delete;
};

// Starts the helper on `path`; -1 if it could not be started.
pid_t spawn_probe(const std::filesystem::path& helper, const std::string& path, unsigned limit) {
    spawn_setup s;
    // Default dispositions for the crash signals and SIGALRM, no blocked signals (the helper
    // resets them itself as well); its output is not the user's, nor may it hold the caller's
    // pipes or files open.
    sigset_t defaults, none;
    sigemptyset(&defaults);
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) sigaddset(&defaults, sig);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&s.attr, &defaults);
    posix_spawnattr_setsigmask(&s.attr, &none);
    posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&s.actions, 1, 2);
#ifdef __GLIBC_PREREQ
#if __GLIBC_PREREQ(2, 34)
    posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
#endif
#endif
    const std::string exe = helper.string(), seconds = std::to_string(limit);
    const char* argv[] = {exe.c_str(), path.c_str(), seconds.c_str(), nullptr};
    pid_t pid = -1;
    if (::posix_spawn(&pid, exe.c_str(), &s.actions, &s.attr, const_cast<char* const*>(argv), environ) != 0) return -1;
    return pid;
}

// The fallback without the helper: the probe in a forked copy of this (single-threaded) process.
pid_t fork_probe(const std::string& path, unsigned limit) {
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    // The child's reports are not the user's; nor may it hold the parent's output pipes open.
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
        ::dup2(null_fd, 1);
        ::dup2(null_fd, 2);
    }
#if LMUSIM_HAS_SANITIZER
    __sanitizer_set_death_callback(nullptr);
#endif
    probe_process(path.c_str(), limit);
}

// Waits for the probe `pid`, killing it at the deadline (the limit + 0.5 s) whatever its own signal
// handling. Its wait status, or none if it was reaped elsewhere.
std::optional<int> wait_probe(pid_t pid, const std::string& path, unsigned limit) {
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit) + std::chrono::milliseconds(500);
    auto pause = std::chrono::microseconds(200);
    while (true) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            throw file_error(cat(path, ": corrupt HDF5 file (reading it did not finish within ", limit, " s)"));
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(20000));
    }
}

// A probe's wait status -> nothing if it read the file, else the file_error.
void check_probe(int status, const std::string& path, unsigned limit) {
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        throw file_error(cat(path, ": corrupt HDF5 file (reading it did not finish within ", limit, " s)"));
    if (WIFSIGNALED(status))
        throw file_error(cat(path, ": corrupt HDF5 file (reading it crashed the HDF5 library with signal ", WTERMSIG(status),
                             ": ", strsignal(WTERMSIG(status)), ")"));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)  // e.g. a sanitizer caught the crash
        throw file_error(cat(path, ": corrupt HDF5 file (reading it failed inside the HDF5 library, status ",
                             WEXITSTATUS(status), ")"));
}

}  // namespace

void probe_in_child(const std::string& path) {
    // A sound file is read in well under a second per 50 MB; a corrupt one can make HDF5 loop.
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    const unsigned limit = 10 + static_cast<unsigned>((ec ? 0 : bytes) / (50u << 20));
    // The probe runs in the helper program, a process of its own.
    if (const auto helper = find_probe_helper(); !helper.empty()) {
        if (const pid_t pid = spawn_probe(helper, path, limit); pid >= 0) {
            const std::optional<int> status = wait_probe(pid, path, limit);
            if (!status) return;  // reaped elsewhere: load without the guard
            // 127: the helper could not start (the dynamic loader failed); use the fallback.
            if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 127) {
                check_probe(*status, path, limit);
                return;
            }
        }
    }
    // Without the helper, a forked copy of this process reads the file, but only while this
    // process has one thread: the fork of a multithreaded process may inherit a lock that another
    // thread held (HDF5's own, while it writes a recording) and hang. Else the file is loaded
    // without the guard.
    if (thread_count() != 1) return;
    const pid_t pid = fork_probe(path, limit);
    if (pid < 0) return;  // cannot fork: load without the guard
    if (const std::optional<int> status = wait_probe(pid, path, limit)) check_probe(*status, path, limit);
}

}  // namespace lmusim::h5
