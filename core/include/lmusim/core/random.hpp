#pragma once
// Counter-based random numbers: a value is a pure function of (seed, key...), so results never
// depend on the order in which threads draw them (the same idea as Philox in Random123, with the
// splitmix64 finaliser as the mixing function; statistically adequate for connectivity and Poisson
// sources, not for cryptography).
#include <cstdint>

namespace lmusim::random {

// splitmix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// A 64-bit random word for the key (seed, a, b, c).
constexpr std::uint64_t word(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                             std::uint64_t c = 0) noexcept {
    return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

// Uniform double in [0, 1) with 53 random bits.
constexpr double uniform(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                         std::uint64_t c = 0) noexcept {
    return static_cast<double>(word(seed, a, b, c) >> 11) * 0x1.0p-53;
}

}  // namespace lmusim::random
