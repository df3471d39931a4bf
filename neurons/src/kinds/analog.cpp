#include "lmusim/neurons/kinds/analog.hpp"

#include <algorithm>

#include "lmusim/core/check.hpp"

namespace lmusim {

void analog_params::validate(const node_context& c) const { check::affine(c.label, affine, c.size); }

std::unique_ptr<population> make_population(const analog_params& p, const population_args& a) {
    return std::make_unique<analog>(p, a.size, a.streams);
}

void analog::update_range(std::size_t stream, std::size_t begin, std::size_t end, std::uint64_t,
                          std::vector<index_t>&, float* values) {
    float* x = input(0, stream);
    apply_affine(p_.affine, x, begin, end);
    std::copy(x + begin, x + end, values + begin);
    std::fill(x + begin, x + end, 0.0f);
}

}  // namespace lmusim
