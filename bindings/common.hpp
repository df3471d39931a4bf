#pragma once
// Shared helpers for the register_<area>.cpp files: NumPy conversions only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <span>

#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/core/op_counts.hpp"

namespace lmusim::py_bindings {

namespace py = pybind11;

// A C-contiguous array of T, converted from whatever NumPy holds (the Python layer has already
// checked that the conversion is safe).
template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
std::vector<T> to_vector(const carray<T>& a) {
    return std::vector<T>(a.data(), a.data() + a.size());
}

template <class T>
std::span<const T> as_span(const carray<T>& a) {
    return {a.data(), static_cast<std::size_t>(a.size())};
}

// A new NumPy array holding a copy of `data` with the given shape.
template <class T>
py::array_t<T> to_numpy(const T* data, std::vector<py::ssize_t> shape) {
    py::array_t<T> out(shape);
    std::copy(data, data + out.size(), out.mutable_data());
    return out;
}

// Op counts as {field: uint64 array} for every field of op_count_fields; entry k of each array is
// counts(k) for k < n.
template <class F> py::dict ops_to_dict(std::size_t n, F&& counts) {
    py::dict d;
    for (const op_count_field& f : op_count_fields) {
        py::array_t<std::uint64_t> a(static_cast<py::ssize_t>(n));
        for (std::size_t k = 0; k < n; ++k) a.mutable_at(static_cast<py::ssize_t>(k)) = counts(k).*f.member;
        d[f.name] = a;
    }
    return d;
}

void register_errors(py::module_& m);
void register_network(py::module_& m);
void register_sim(py::module_& m);
void register_model(py::module_& m);
void register_audio(py::module_& m);

}  // namespace lmusim::py_bindings
