#include "kinds_common.hpp"

#include <Eigen/Core>

namespace lmusim::kinds_common {

void add_column(float* __restrict in, const float* __restrict col, std::size_t b, std::size_t e) noexcept {
    for (std::size_t t = b; t < e; ++t) in[t] += col[t];
}

void add_rows_times(const float* w, const float* x, std::size_t ns, std::size_t b, std::size_t e, float* in) {
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const auto rows = static_cast<Eigen::Index>(e - b), cols = static_cast<Eigen::Index>(ns);
    Eigen::Map<const row_major> wm(w + b * ns, rows, cols);
    Eigen::Map<const Eigen::VectorXf> xv(x, cols);
    Eigen::Map<Eigen::VectorXf> out(in + b, rows);
    out.noalias() += wm * xv;
}

}  // namespace lmusim::kinds_common
