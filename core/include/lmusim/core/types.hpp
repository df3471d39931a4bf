#pragma once
// Basic types shared by every layer.
#include <cstddef>
#include <cstdint>

namespace lmusim {

using index_t = std::uint32_t;  // a neuron's index within its population

// Largest population accepted: indices are 32-bit.
inline constexpr std::size_t max_population_size = std::size_t{1} << 31;

}  // namespace lmusim
