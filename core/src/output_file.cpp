#include "lmusim/core/output_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "lmusim/core/error.hpp"
#include "lmusim/core/strings.hpp"

namespace lmusim {

namespace {

std::string normalised(const std::string& p) {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(p, ec);
    if (ec) return p;
    std::filesystem::path canon = std::filesystem::weakly_canonical(abs, ec);
    return ec ? abs.lexically_normal().string() : canon.string();
}

bool exists_no_follow(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

bool is_directory(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void sync_path(const std::string& path, bool directory) noexcept {
    const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC));
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

// A symbolic link as the last component is followed (as cp does), so that a write through a link
// replaces the file it points to and shares that file's lock.
std::string follow_links(std::string path) {
    for (int depth = 0; depth < 40; ++depth) {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
        std::error_code ec;
        const std::filesystem::path target = std::filesystem::read_symlink(path, ec);
        if (ec) return path;
        path = target.is_absolute() ? target.string() : (std::filesystem::path(path).parent_path() / target).string();
    }
    throw file_error(cat("output '", path, "': too many levels of symbolic links"));
}

std::string parent_dir(const std::string& path) {
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    return dir.empty() ? std::string(".") : dir.string();
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    const bool ea = ::stat(a.c_str(), &sa) == 0, eb = ::stat(b.c_str(), &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return normalised(a) == normalised(b);
}

void check_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs, if_exists existing) {
    for (std::size_t k = 0; k < outputs.size(); ++k) {
        const std::string& out = outputs[k];
        if (out.empty()) continue;
        for (const std::string& in : inputs) {
            if (in.empty()) continue;
            for (const char* suffix : {"", ".partial", ".lock"}) {
                const std::string o = out + suffix;
                if (same_file(o, in))
                    throw error(cat("output '", o, "' is the input '", in,
                                    "' (the same file): writing it would destroy the input; choose another output path"));
            }
        }
        for (std::size_t j = 0; j < k; ++j)
            if (!outputs[j].empty() && same_file(out, outputs[j]))
                throw error(cat("two outputs are the same file: '", outputs[j], "' and '", out, "'; give each its own path"));
        if (is_directory(out)) throw error(cat("output '", out, "' is a directory, expected a file path"));
        if (existing == if_exists::fail && exists_no_follow(out))
            throw error(cat("output '", out, "' exists: pass --overwrite to replace it (Python: overwrite=True)"));
    }
}

output_file::output_file(std::string path, if_exists existing, leftover kind) {
    if (path.empty()) throw error("output file: empty path");
    path_ = follow_links(std::move(path));
    partial_ = path_ + ".partial";
    lock_path_ = path_ + ".lock";
    if (is_directory(path_)) throw file_error(cat("output '", path_, "' is a directory, expected a file path"));
    // Lock PATH.lock. The lock file is unlinked by the holder before it lets go, so a writer that
    // locked an inode no longer at PATH.lock lost a race with that unlink and tries again.
    for (int attempt = 0;; ++attempt) {
        const int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw file_error(cat("cannot create '", path_, "': ", std::strerror(errno), " (while creating its lock file '",
                                 lock_path_, "'; check that the directory exists and is writable)"));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(fd);
            if (err == EWOULDBLOCK)
                throw file_error(cat("'", path_, "' is being written by another lmusim writer (it holds '", lock_path_,
                                     "'); wait until it is done, or choose another output path"));
            throw file_error(cat("cannot lock '", lock_path_, "': ", std::strerror(err)));
        }
        struct stat held {}, named {};
        if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino) {
            lock_fd_ = fd;
            break;
        }
        ::close(fd);
        if (attempt >= 100) throw file_error(cat("cannot lock '", lock_path_, "': it keeps being replaced"));
    }
    try {
        if (existing == if_exists::fail && exists_no_follow(path_))
            throw file_error(cat("output '", path_, "' exists: pass --overwrite to replace it (Python: overwrite=True)"));
        if (kind == leftover::data && existing == if_exists::fail && exists_no_follow(partial_))
            throw file_error(cat("'", partial_, "' holds the data of an interrupted write to '", path_,
                                 "': move it away, or pass --overwrite to replace it"));
    } catch (...) {
        release();
        throw;
    }
}

output_file::~output_file() { release(); }

output_file::output_file(output_file&& o) noexcept
    : path_(std::move(o.path_)), partial_(std::move(o.partial_)), lock_path_(std::move(o.lock_path_)),
      lock_fd_(std::exchange(o.lock_fd_, -1)) {}

output_file& output_file::operator=(output_file&& o) noexcept {
    if (this != &o) {
        release();
        path_ = std::move(o.path_);
        partial_ = std::move(o.partial_);
        lock_path_ = std::move(o.lock_path_);
        lock_fd_ = std::exchange(o.lock_fd_, -1);
    }
    return *this;
}

void output_file::release() noexcept {
    if (lock_fd_ < 0) return;
    ::unlink(lock_path_.c_str());  // while still holding the lock (see the constructor)
    ::close(lock_fd_);
    lock_fd_ = -1;
}

void output_file::commit() {
    if (lock_fd_ < 0) throw internal_error(cat("output_file::commit on '", path_, "' without a claim"));
    sync_path(partial_, false);
    if (::rename(partial_.c_str(), path_.c_str()) != 0)
        throw file_error(cat("cannot rename '", partial_, "' to '", path_, "': ", std::strerror(errno)));
    sync_path(parent_dir(path_), true);
}

void output_file::discard() noexcept {
    if (lock_fd_ >= 0) std::remove(partial_.c_str());
}

void write_file_atomically(output_file& out, const std::string& bytes, const char* what) {
    std::FILE* f = std::fopen(out.partial().c_str(), "wb");
    if (!f) throw file_error(cat("cannot create ", what, " '", out.path(), "': ", std::strerror(errno)));
    const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const int err = errno;
    if (std::fclose(f) != 0 || !written) {
        out.discard();
        throw file_error(cat("cannot write ", what, " '", out.path(), "': ", std::strerror(written ? errno : err)));
    }
    out.commit();
}

}  // namespace lmusim
