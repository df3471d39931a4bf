#pragma once
// Shared helpers for the register_<area>.cpp files: NumPy conversions only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <span>

#include "lmusim/core/error.hpp"
#include <vector>

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

void register_errors(py::module_& m);
void register_network(py::module_& m);
void register_sim(py::module_& m);
void register_model(py::module_& m);
void register_audio(py::module_& m);

}  // namespace lmusim::py_bindings
