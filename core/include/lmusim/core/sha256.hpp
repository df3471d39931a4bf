#pragma once
// SHA-256 (FIPS 180-4) of a file, for naming the model a recording came from.
#include <string>

namespace lmusim {

// Lowercase hex digest of the file's bytes; throws lmusim::file_error if it cannot be read.
std::string sha256_file(const std::string& path);
// Lowercase hex digest of a byte string.
std::string sha256(const std::string& bytes);

}  // namespace lmusim
