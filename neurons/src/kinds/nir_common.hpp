#pragma once
// What the NIR node kinds share (private to neurons/): lowering per-neuron parameters, the step
// factor of a time constant and its validation, and the float32 update kernels. The arithmetic of
// every LIF-like NIR kind is written here once, in the order nir_lif.hpp states (no fused
// multiply-adds: the build uses -ffp-contract=off).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "lmusim/core/check.hpp"
#include "lmusim/core/strings.hpp"
#include "lmusim/neurons/kinds/leaky.hpp"
#include "lmusim/neurons/kinds/nir_lif.hpp"

namespace lmusim::nir {

// One value per neuron: a population-wide value repeated, or the values as given.
template <class T> std::vector<T> per_neuron(const std::vector<T>& v, std::size_t n) {
    return v.size() == 1 ? std::vector<T>(n, v[0]) : v;
}

// The per-step factor of time constant tau (kept in float64: NIR files often store it so):
// computed in float64, rounded to float32 once.
inline float step_factor(double dt, double tau, nir_discretization d) {
    const double ratio = dt / tau;
    return static_cast<float>(d == nir_discretization::euler ? ratio : -std::expm1(-ratio));
}

// The factors of every neuron.
inline std::vector<float> step_factors(double dt, const std::vector<double>& tau, std::size_t n, nir_discretization d) {
    const std::vector<double> t = per_neuron(tau, n);
    std::vector<float> k(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) k[i] = step_factor(dt, t[i], d);
    return k;
}

inline void check_dt(const node_context& c, double dt) { check::positive(c.label, "dt", dt); }

// A time constant: 1 or n finite values, each > 0, whose step factor is a finite float32.
inline void check_time_constant(const node_context& c, const char* what, const std::vector<double>& tau, double dt,
                                nir_discretization d) {
    if (tau.size() != 1 && tau.size() != c.size)
        check::fail(cat(c.label, ": ", what, " has ", tau.size(), " values, expected 1 (the population) or ", c.size,
                        " (one per neuron)"));
    for (std::size_t i = 0; i < tau.size(); ++i) {
        if (!(tau[i] > 0.0)) check::fail(cat(c.label, ": ", what, "[", i, "] = ", tau[i], ", expected > 0"));
        if (!std::isfinite(step_factor(dt, tau[i], d)))
            check::fail(cat(c.label, ": ", what, "[", i, "] = ", tau[i], " gives dt / ", what, " = ",
                            dt / tau[i], ", beyond float32"));
    }
}

// The LIF charge: a = r*x; c = (v_leak - v) + a; v + k*c.
inline float lif_charge(float v, float x, float r, float v_leak, float k) {
    const float a = r * x;
    const float c = (v_leak - v) + a;
    return v + k * c;
}

// The CUBA synaptic current: a = w_in*x; c = a - I; I + ks*c.
inline float cuba_current(float i, float x, float w_in, float ks) {
    const float a = w_in * x;
    const float c = a - i;
    return i + ks * c;
}

// The IF / integrator charge: v + r*x.
inline float integrate(float v, float x, float r) {
    const float a = r * x;
    return v + a;
}

// Spiking update of n neurons: v = charge(i, v, x); spike where v > threshold (strict); reset where
// spiking; the input is consumed (cleared). moved: v changed (for membrane-update counts).
template <nir_reset R, class Charge>
void spiking_update(std::size_t n, float* __restrict x, float* __restrict v, const float* __restrict thr,
                    const float* __restrict v_reset, std::uint8_t* __restrict fired, std::uint8_t* __restrict moved,
                    Charge charge) {
    for (std::size_t i = 0; i < n; ++i) {
        const float old = v[i];
        const float h = charge(i, old, x[i]);
        const bool spike = h > thr[i];
        float next;
        if constexpr (R == nir_reset::zero)
            next = spike ? v_reset[i] : h;
        else
            next = spike ? h - thr[i] : h;
        moved[i] = static_cast<std::uint8_t>(next != old);
        v[i] = next;
        x[i] = 0.0f;
        fired[i] = static_cast<std::uint8_t>(spike);
    }
}

// Real-valued update of n neurons: v = charge(i, v, x), written to out; the input is cleared.
template <class Charge>
void value_update(std::size_t n, float* __restrict x, float* __restrict v, float* __restrict out,
                  std::uint8_t* __restrict moved, Charge charge) {
    for (std::size_t i = 0; i < n; ++i) {
        const float old = v[i];
        const float next = charge(i, old, x[i]);
        moved[i] = static_cast<std::uint8_t>(next != old);
        v[i] = next;
        out[i] = next;
        x[i] = 0.0f;
    }
}

// The CUBA kinds' first half: I = I + ks*(w_in*x - I), and x := the updated I, which the LIF
// update that follows reads as its input.
inline void cuba_currents(std::size_t n, float* __restrict x, float* __restrict cur, const float* __restrict w_in,
                          const float* __restrict ks) {
    for (std::size_t i = 0; i < n; ++i) {
        const float next = cuba_current(cur[i], x[i], w_in[i], ks[i]);
        cur[i] = next;
        x[i] = next;
    }
}

// Calls f(std::integral_constant<nir_reset, r>{}): the reset as a compile-time constant.
template <class F> void with_reset(nir_reset r, F&& f) {
    if (r == nir_reset::zero)
        f(std::integral_constant<nir_reset, nir_reset::zero>{});
    else
        f(std::integral_constant<nir_reset, nir_reset::subtract>{});
}

}  // namespace lmusim::nir
