#include "lmusim/neurons/kinds/input.hpp"

#include <algorithm>

namespace lmusim {

std::unique_ptr<population> make_population(const input_params&, const population_args& a) {
    return std::make_unique<input_frames>(a.size, a.streams);
}

void input_frames::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                                std::vector<index_t>&, float* values) {
    float* x = input(0, stream);
    std::copy(x + begin, x + end, values + begin);
    std::fill(x + begin, x + end, 0.0f);
}

}  // namespace lmusim
