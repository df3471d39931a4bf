// The PCEN front-end (frontend/audio.hpp, docs/frontend.md): closed forms of the smoother and the
// compression on hand-made log-mel rows, level invariance on random audio, whole clips equal to
// streaming in chunks of any size (bit for bit), and the option checks.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/frontend/audio.hpp"

using namespace lmusim;
using Catch::Matchers::Contains;

namespace {

fbank_options pcen_on(double alpha = 0.98) {
    fbank_options o;
    o.pcen.enabled = true;
    o.pcen.alpha = alpha;
    o.feature_mean = 0.0f;
    o.feature_std2 = 1.0f;
    return o;
}

double pcen_value(double e, double m, const pcen_options& p) {
    return std::pow(e / std::pow(p.eps + m, p.alpha) + p.delta, p.root) - std::pow(p.delta, p.root);
}

std::vector<float> random_audio(std::size_t n, unsigned seed, float amplitude) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, amplitude);
    std::vector<float> x(n);
    for (float& v : x) v = d(rng);
    return x;
}

}  // namespace

TEST_CASE("PCEN: the smoother starts at the first frame and follows a step in closed form", "[frontend][pcen]") {
    const fbank_options o = pcen_on();
    const pcen_options& p = o.pcen;
    feature_normaliser norm(o);
    const std::size_t B = o.mel_bins;
    // Band m: log-energy a_m for 5 frames, then b_m: M = E1 + (E0 - E1) (1 - s)^(t - 4) after the step.
    std::vector<double> a(B), b(B);
    for (std::size_t m = 0; m < B; ++m) {
        a[m] = -9.0 + 0.05 * static_cast<double>(m);
        b[m] = -2.0 - 0.03 * static_cast<double>(m);
    }
    for (std::size_t t = 0; t < 40; ++t) {
        std::vector<float> row(B);
        for (std::size_t m = 0; m < B; ++m) row[m] = static_cast<float>(t < 5 ? a[m] : b[m]);
        std::vector<float> in = row;
        norm.row(row.data());
        for (std::size_t m = 0; m < B; ++m) {
            const double e0 = std::exp(static_cast<double>(static_cast<float>(a[m])));
            const double e1 = std::exp(static_cast<double>(static_cast<float>(b[m])));
            const double e = t < 5 ? e0 : e1;
            const double smooth = t < 5 ? e0 : e1 + (e0 - e1) * std::pow(1.0 - p.smooth, static_cast<double>(t - 4));
            INFO("frame " << t << " band " << m);
            REQUIRE(row[m] == Approx(pcen_value(e, smooth, p)).epsilon(1e-5));
        }
    }
}

TEST_CASE("PCEN: a constant input gives the steady-state value, normalised; padding is P = 0", "[frontend][pcen]") {
    fbank_options o = pcen_on();
    o.feature_mean = 0.25f;
    o.feature_std2 = 1.5f;
    feature_normaliser norm(o);
    const double e = std::exp(-4.0);
    const double expect = (pcen_value(e, e, o.pcen) - 0.25) / 1.5;
    for (int t = 0; t < 10; ++t) {
        std::vector<float> row(o.mel_bins, -4.0f);
        norm.row(row.data());
        for (float v : row) REQUIRE(v == Approx(expect).epsilon(1e-6));
    }
    REQUIRE(norm.pad() == (0.0f - 0.25f) / 1.5f);
    // Log-mel: the old normalisation, unchanged.
    fbank_options lm;
    feature_normaliser plain(lm);
    std::vector<float> row(lm.mel_bins, -3.0f);
    plain.row(row.data());
    REQUIRE(row[7] == (-3.0f - lm.feature_mean) / lm.feature_std2);
    REQUIRE(plain.pad() == (0.0f - lm.feature_mean) / lm.feature_std2);
}

TEST_CASE("PCEN with alpha 1 divides the level out: the same audio 30 dB quieter gives the same features", "[frontend][pcen]") {
    fbank_options o = pcen_on(1.0);
    o.pcen.eps = 1e-30;
    o.target_frames = 0;
    const fbank fb(o);
    const std::vector<float> loud = random_audio(16000, 7, 0.3f);
    std::vector<float> quiet(loud);
    for (float& v : quiet) v *= 0.031622777f;  // -30 dB
    const std::vector<float> x = fb.features(loud), y = fb.features(quiet);
    REQUIRE(x.size() == y.size());
    // Bands where the quiet clip's energy hits the log floor somewhere (the lowest triangles, nearly
    // empty after pre-emphasis) are not scaled copies; every other band must agree.
    fbank_options l;
    l.target_frames = 0;
    const fbank lf(l);
    const std::vector<float> lx = lf.features(loud), ly = lf.features(quiet);
    const std::size_t B = o.mel_bins, T = x.size() / B;
    const float floor_norm = (static_cast<float>(std::log(1.1920928955078125e-07)) - l.feature_mean) / l.feature_std2;
    std::size_t bands = 0;
    double worst = 0;
    for (std::size_t m = 0; m < B; ++m) {
        bool floored = false;
        for (std::size_t t = 0; t < T; ++t) floored = floored || ly[t * B + m] <= floor_norm + 1e-3f;
        if (floored) continue;
        ++bands;
        for (std::size_t t = 0; t < T; ++t) worst = std::max(worst, std::abs(static_cast<double>(x[t * B + m]) - y[t * B + m]));
    }
    REQUIRE(bands >= 120);
    REQUIRE(worst < 1e-4);
    // while the log-mel features move by 2 ln(31.6) / std2 = 0.62
    REQUIRE(lx[1000] - ly[1000] == Approx(2.0 * std::log(1.0 / 0.031622777) / l.feature_std2).margin(1e-3));
}

TEST_CASE("PCEN: streaming in chunks of any size equals the whole clip bit for bit", "[frontend][pcen]") {
    fbank_options o = pcen_on();
    o.feature_mean = 0.33f;
    o.feature_std2 = 1.2f;
    const fbank fb(o);
    std::vector<float> audio = random_audio(13000, 11, 0.05f);  // shorter than 128 frames: padded
    for (std::size_t i = 4000; i < 6000; ++i) audio[i] *= 20.0f;  // a loud burst
    const std::vector<float> whole = fb.features(audio);
    REQUIRE(whole.size() == 128 * o.mel_bins);
    for (std::size_t chunk : {1u, 7u, 160u, 399u, 4096u, 20000u}) {
        fbank_stream st(fb);
        std::vector<float> rows;
        for (std::size_t i = 0; i < audio.size(); i += chunk) {
            const auto r = st.push(std::span<const float>(audio).subspan(i, std::min(chunk, audio.size() - i)));
            rows.insert(rows.end(), r.begin(), r.end());
        }
        const auto tail = st.finish();
        rows.insert(rows.end(), tail.begin(), tail.end());
        INFO("chunk " << chunk);
        REQUIRE(rows == whole);
    }
    // the padding rows are P = 0 normalised
    REQUIRE(whole.back() == (0.0f - 0.33f) / 1.2f);
}

TEST_CASE("PCEN options out of range are refused, naming the parameter", "[frontend][pcen]") {
    auto fails = [](auto set, const char* what) {
        fbank_options o = pcen_on();
        set(o.pcen);
        REQUIRE_THROWS_WITH(fbank(o), Contains(what));
    };
    fails([](pcen_options& p) { p.smooth = 0; }, "pcen_smooth = 0: expected a number in (0, 1]");
    fails([](pcen_options& p) { p.smooth = 1.5; }, "pcen_smooth");
    fails([](pcen_options& p) { p.alpha = -0.1; }, "pcen_alpha");
    fails([](pcen_options& p) { p.delta = NAN; }, "pcen_delta");
    fails([](pcen_options& p) { p.root = 0; }, "pcen_root");
    fails([](pcen_options& p) { p.eps = 0; }, "pcen_eps");
    fbank_options o;
    o.feature_std2 = 0;
    REQUIRE_THROWS_WITH(fbank(o), Contains("feature_std2 = 0"));
}
