#pragma once
// Validation helpers for kinds: each throws lmusim::network_error "<label>: <what> = <value>,
// expected ..." (label names the node or projection, e.g. "node 'x1'").
#include <cstddef>
#include <string>
#include <vector>

#include "lmusim/core/affine.hpp"

namespace lmusim::check {

[[noreturn]] void fail(const std::string& what);
// Every value finite.
void finite(const std::string& label, const char* what, const std::vector<float>& v);
// A finite scalar.
void finite(const std::string& label, const char* what, double v);
// A finite value > 0.
void positive(const std::string& label, const char* what, double v);
// An affine of n values: the arrays its form needs, each of n finite values.
void affine(const std::string& label, const input_affine& a, std::size_t n);

}  // namespace lmusim::check
