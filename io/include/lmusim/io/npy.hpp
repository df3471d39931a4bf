#pragma once
// NumPy .npy files (format versions 1-3): float arrays in C order.
#include <cstddef>
#include <string>
#include <vector>

#include "lmusim/core/output_file.hpp"

namespace lmusim {

struct npy_array {
    std::vector<std::size_t> shape;
    std::vector<float> data;  // C order
};

// Reads a little-endian float32 or float64 array (float64 is converted). Anything else (other
// dtypes, Fortran order, truncated data, a malformed header) is an lmusim::file_error naming the
// file and the problem.
npy_array read_npy(const std::string& path);

// Writes a float32 array in C order (format version 1.0), whole or not at all (output_file); an
// existing file is replaced only with if_exists::replace.
void write_npy(const std::string& path, const std::vector<std::size_t>& shape, const float* data,
               if_exists existing = if_exists::fail);

}  // namespace lmusim
