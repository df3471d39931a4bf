#pragma once
// Guarded outputs: every file lmusim writes goes through here (docs/hardening.md, "Outputs").
//
//  - check_outputs(): an output is never one of the command's inputs (nor another output), compared
//    as files (device and inode), and an existing file is replaced only when asked.
//  - output_file: an exclusive claim on writing one path. The bytes go to PATH.partial; the file
//    appears at PATH only when the writer commits (rename), so an interrupted write never damages
//    what was there. The claim holds a lock on PATH.lock for its lifetime, so a second writer of
//    the same path (another process, or another object in this one) is refused, not interleaved.
#include <string>
#include <vector>

namespace lmusim {

// What a writer does when its output path already exists.
enum class if_exists {
    fail,     // refuse (the default everywhere: the CLI's --overwrite, Python's overwrite=True ask otherwise)
    replace,  // replace the file (atomically: the old one stays until the new one is complete)
};

inline if_exists overwrite_if(bool overwrite) noexcept { return overwrite ? if_exists::replace : if_exists::fail; }

// Refuses, with an lmusim::error naming both paths, an output that
//  - is the same file as one of `inputs` (same device and inode: symlinks, hard links and other
//    spellings of the path are caught; PATH.partial and PATH.lock count as PATH),
//  - is the same file or normalised path as another output,
//  - is a directory, or
//  - exists while `existing` is if_exists::fail.
// Empty strings in either list are ignored. Call it before any work is done.
void check_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs, if_exists existing);

// True if `a` and `b` name the same existing file (device and inode), or, when either does not
// exist, the same normalised absolute path.
bool same_file(const std::string& a, const std::string& b);

class output_file {
public:
    // What a PATH.partial left by a writer that was killed holds.
    enum class leftover {
        data,     // a streaming writer's flushed data (recordings, clip outputs): refused unless replace
        garbage,  // a whole-file writer's incomplete file: replaced silently
    };

    output_file() = default;
    // Claims `path` (a symbolic link as its last component is followed: the write replaces the
    // file it points to, as cp does, not the link): takes the lock (refused with file_error if another writer holds it), then
    // refuses a directory, an existing `path` unless `existing` is replace, and a leftover
    // PATH.partial of kind leftover::data unless replace. Nothing on disk is changed except the
    // lock file; the partial file is created by the writer.
    output_file(std::string path, if_exists existing, leftover kind = leftover::garbage);
    ~output_file();  // releases the lock; a partial file not committed stays (its data)
    output_file(output_file&& other) noexcept;
    output_file& operator=(output_file&& other) noexcept;
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;

    const std::string& path() const noexcept { return path_; }
    const std::string& partial() const noexcept { return partial_; }  // where the writer writes
    explicit operator bool() const noexcept { return lock_fd_ >= 0; }

    // The closed partial file becomes `path`: fsync'ed, renamed over it, the directory synced.
    // The claim stays held, so the same writer may write and commit again (a rolling checkpoint).
    void commit();
    // Removes the partial file (a failed whole-file write keeps nothing).
    void discard() noexcept;

private:
    void release() noexcept;
    std::string path_, partial_, lock_path_;
    int lock_fd_ = -1;
};

// Writes a small file whole: `bytes` into the claim's partial file, then commit().
void write_file_atomically(output_file& out, const std::string& bytes, const char* what);

}  // namespace lmusim
