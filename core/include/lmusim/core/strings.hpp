#pragma once
// Small string helpers for error messages (GCC 12 has no <format>).
#include <sstream>
#include <string>
#include <utility>

namespace lmusim {

template <class... Args>
std::string cat(Args&&... args) {
    std::ostringstream out;
    (out << ... << std::forward<Args>(args));
    return out.str();
}

}  // namespace lmusim
