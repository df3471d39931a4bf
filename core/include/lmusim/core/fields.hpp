#pragma once
// Parameters that describe themselves. A node kind's parameter struct (and a projection kind's
// data) has `template <class V> void fields(V& v)`, which names every stored field once; the
// network file reader and writer (io/) and any other generic code visit it with their own V. So
// a kind's file schema lives in the kind's own file, and io/ never names a kind.
//
// A visitor V provides:
//   std::size_t v.size()                          the node's size n (for shapes)
//   v.attr(name, T& value)                        a scalar attribute: float, double, std::uint64_t;
//   v.count(name, std::size_t& value)             a size stored as uint64, 1 <= value <= 2^31
//   v.choice(name, E& value, choices<E>{...})     an enumeration stored as a string attribute
//   v.array(name, std::vector<T>& data, std::vector<std::size_t> shape, presence::required|optional)
//                                                 a dataset; shape entries may be any_extent;
//                                                 optional: written only when non-empty, absent = empty
//   v.affine(prefix, input_affine& a)             an input affine (attribute <prefix>affine + datasets)
// Visiting is sequential: a field read earlier (a mode, a size) may decide what follows.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

namespace lmusim {

inline constexpr std::size_t any_extent = std::numeric_limits<std::size_t>::max();

enum class presence : std::uint8_t { required, optional };

template <class E> using choices = std::initializer_list<std::pair<const char*, E>>;

}  // namespace lmusim
