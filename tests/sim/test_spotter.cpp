// The keyword detector of the stream spotter (sim/spotter.hpp): smoothing, threshold, one
// detection per run of confident windows, refractory, and the time it reports.
#include <catch2/catch.hpp>
#include <vector>

#include "lmusim/core/error.hpp"
#include "lmusim/sim/spotter.hpp"

using namespace lmusim;

namespace {

// Probabilities of 3 classes with `c` at `p` and the rest shared.
std::vector<double> probs(std::size_t c, double p) {
    std::vector<double> v(3, (1 - p) / 2);
    v[c] = p;
    return v;
}

// Feeds the windows; returns every detection, the ones at finish() last.
std::vector<detection> run(keyword_detector& d, const std::vector<std::vector<double>>& windows) {
    std::vector<detection> all;
    for (const auto& w : windows) {
        auto e = d.push(w);
        all.insert(all.end(), e.begin(), e.end());
    }
    auto e = d.finish();
    all.insert(all.end(), e.begin(), e.end());
    return all;
}

}  // namespace

TEST_CASE("keyword_detector: a run of confident windows is one detection at its last window", "[spotter]") {
    // hop 800 samples at 16 kHz = 50 ms, no smoothing, refractory 2 windows
    keyword_detector d(3, 0.8, 0.8, 1, 2, 800, 16000);
    std::vector<std::vector<double>> w(20, probs(0, 0.4));
    for (std::size_t k = 5; k <= 9; ++k) w[k] = probs(1, 0.9);
    w[7] = probs(1, 0.5);  // a dip shorter than the refractory period: still the same detection
    w[8] = probs(1, 0.95);
    const auto ds = run(d, w);
    REQUIRE(ds.size() == 1);
    CHECK(ds[0].keyword == 1);
    CHECK(ds[0].first_window == 5);
    CHECK(ds[0].last_window == 9);
    CHECK(ds[0].time_s == Approx(0.45).margin(1e-12));
    CHECK(ds[0].confidence == 0.95);
}

TEST_CASE("keyword_detector: reported once the refractory period passed, not before", "[spotter]") {
    keyword_detector d(3, 0.8, 0.8, 1, 2, 800, 16000);
    REQUIRE(d.push(probs(2, 0.9)).empty());  // window 0
    REQUIRE(d.push(probs(0, 0.4)).empty());  // 1
    REQUIRE(d.push(probs(0, 0.4)).empty());  // 2: 2 windows without: not yet
    const auto e = d.push(probs(0, 0.4));    // 3: more than 2
    REQUIRE(e.size() == 1);
    CHECK(e[0].keyword == 2);
    CHECK(e[0].time_s == 0.0);
    // a gap longer than the refractory period makes two detections
    keyword_detector g(3, 0.8, 0.8, 1, 1, 800, 16000);
    const auto two = run(g, {probs(1, 0.9), probs(0, 0.3), probs(0, 0.3), probs(1, 0.9)});
    REQUIRE(two.size() == 2);
    CHECK(two[0].last_window == 0);
    CHECK(two[1].last_window == 3);
}

TEST_CASE("keyword_detector: smoothing averages the last windows and centres the time", "[spotter]") {
    keyword_detector d(3, 0.8, 0.8, 2, 0, 800, 16000);
    // one window at 0.9 between 0.5s: the 2-window means are 0.7, never >= 0.8
    REQUIRE(run(d, {probs(1, 0.5), probs(1, 0.9), probs(1, 0.5), probs(1, 0.5)}).empty());
    keyword_detector s(3, 0.8, 0.8, 2, 0, 800, 16000);
    const auto ds = run(s, {probs(0, 0.4), probs(1, 0.85), probs(1, 0.95), probs(0, 0.4)});
    REQUIRE(ds.size() == 1);
    CHECK(ds[0].last_window == 2);
    CHECK(ds[0].confidence == Approx(0.9));
    CHECK(ds[0].time_s == (1 + 2) * 800 / (2.0 * 16000));  // the centre of windows 1 and 2
    CHECK_THROWS_AS(keyword_detector(3, 1.5, 1.5, 1, 0, 800, 16000), error);
}

TEST_CASE("keyword_detector: hysteresis: an open detection goes on down to the release confidence", "[spotter]") {
    // threshold 0.8, release 0.5, no smoothing, refractory 1 window
    const std::vector<std::vector<double>> w{probs(0, 0.4), probs(1, 0.9), probs(1, 0.6), probs(1, 0.55),
                                             probs(1, 0.45), probs(1, 0.45), probs(1, 0.7), probs(0, 0.4)};
    keyword_detector h(3, 0.8, 0.5, 1, 1, 800, 16000);
    const auto ds = run(h, w);
    REQUIRE(ds.size() == 1);
    CHECK(ds[0].first_window == 1);
    CHECK(ds[0].last_window == 3);  // 0.6 and 0.55 extend it; 0.45 does not; the 0.7 window comes after the refractory gap
    CHECK(ds[0].time_s == Approx(3 * 0.05).margin(1e-12));
    CHECK(ds[0].confidence == 0.9);
    // release = threshold: the detector without hysteresis
    keyword_detector plain(3, 0.8, 0.8, 1, 1, 800, 16000);
    const auto p = run(plain, w);
    REQUIRE(p.size() == 1);
    CHECK(p[0].last_window == 1);
    // a window at the release confidence never starts a detection
    keyword_detector none(3, 0.8, 0.5, 1, 1, 800, 16000);
    CHECK(run(none, {probs(2, 0.7), probs(2, 0.7), probs(0, 0.4)}).empty());
    CHECK_THROWS_WITH(keyword_detector(3, 0.6, 0.7, 1, 1, 800, 16000), Catch::Matchers::Contains("--release 0.7"));
    CHECK_THROWS_AS(keyword_detector(3, 0.6, 0.0, 1, 1, 800, 16000), error);
}

TEST_CASE("softmax: double precision, max subtracted", "[spotter]") {
    const std::vector<float> z{1000.0f, 1000.0f, -1000.0f};
    const auto p = softmax(z);
    CHECK(p[0] == 0.5);
    CHECK(p[1] == 0.5);
    CHECK(p[2] == 0.0);
}
