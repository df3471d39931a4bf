#pragma once
// Scratch files of the io tests: a directory under the build tree (LMUSIM_TEST_TMP).
#include <filesystem>
#include <string>

namespace lmusim::testing {

// A path in the scratch directory.
inline std::string tmp(const std::string& name) { return std::string(LMUSIM_TEST_TMP) + "/" + name; }

// The same, with whatever an earlier run of the tests left there (the file and its
// .partial/.lock companions) removed: writers refuse to replace existing files.
inline std::string fresh_tmp(const std::string& name) {
    const std::string path = tmp(name);
    for (const char* suffix : {"", ".partial", ".lock"}) std::filesystem::remove(path + suffix);
    return path;
}

}  // namespace lmusim::testing
