#pragma once
// What a node kind is. A kind lives in its own pair of files, neurons/include/lmusim/neurons/kinds/
// <kind>.hpp (its parameters and population class) and neurons/src/kinds/<kind>.cpp (the rest),
// and is registered by one line in node_kinds.hpp (docs/architecture.md, "Adding a kind").
//
// The parameter struct P of a kind provides everything generic code asks of a kind; node_kind<P>
// checks it at compile time for every registered kind, and the population factory is a function
// each kind must define (a missing one is a link error), so a kind is complete or the build fails:
//
//   static constexpr std::string_view name;   the kind's name in files, messages and Python
//   static constexpr bool spiking;            output is spikes (else real values)
//   static constexpr bool frame_input;        fed with frames by simulation::push_frames
//   std::size_t input_ports() const;          0 for sources
//   std::size_t port_size(std::size_t port, std::size_t size) const;   values per stream in a port
//   void validate(const node_context&) const; throws network_error naming the node and the value
//   template <class V> void fields(V&);       what a network file stores (core/fields.hpp)
//   std::size_t parameters(std::size_t size) const;     trainable parameters, as PyTorch counts
//   std::size_t elementwise_per_step(std::size_t size, std::size_t inputs) const;
//                                             element-wise work per active step and stream
//                                             (inputs: the projections into the node)
//   std::unique_ptr<population> make_population(const P&, const population_args&);
#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lmusim/core/affine.hpp"
#include "lmusim/core/fields.hpp"

namespace lmusim {

class population;

// What validation knows about the node.
struct node_context {
    std::string label;  // "node '<name>'", for messages
    std::size_t size;   // neurons (values)
    double dt;          // the network's step [ms]
};

// What a population is built from.
struct population_args {
    std::size_t size;
    std::size_t streams;
    double dt;  // [ms]
};

// A visitor that accepts every field call, to check that fields() compiles for a kind.
struct any_field_visitor {
    std::size_t size() const;
    template <class T> void attr(const char*, T&);
    void count(const char*, std::size_t&);
    template <class E> void choice(const char*, E&, choices<E>);
    template <class T> void array(const char*, std::vector<T>&, const std::vector<std::size_t>&,
                                  presence = presence::required);
    void affine(const char*, input_affine&);
};

template <class P>
concept node_kind = requires(P p, const P cp, const node_context& c, any_field_visitor& v, std::size_t n) {
    { P::name } -> std::convertible_to<std::string_view>;
    { P::spiking } -> std::convertible_to<bool>;
    { P::frame_input } -> std::convertible_to<bool>;
    { cp.input_ports() } -> std::same_as<std::size_t>;
    { cp.port_size(n, n) } -> std::same_as<std::size_t>;
    { cp.validate(c) };
    { p.fields(v) };
    { cp.parameters(n) } -> std::same_as<std::size_t>;
    { cp.elementwise_per_step(n, n) } -> std::same_as<std::size_t>;
};

// The registered kinds as a type list; node_params is the variant of their parameter structs.
template <class... P> struct node_kind_list {
    static_assert((node_kind<P> && ...), "every node kind provides the interface of neurons/kind.hpp");
    using variant = std::variant<P...>;
};

}  // namespace lmusim
