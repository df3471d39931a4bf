#pragma once
// The one observation seam: whatever watches a run is a recorder. simulation::run() calls begin()
// once, record_step() after every step and end() once (also when the run is stopped early);
// clip_runner calls record_step() after every step it takes. Recorders compose with
// recorder_chain, so a run can record to a file, keep spikes in memory and checkpoint at once.
// Implementations: memory_recorder (sim/), h5_recorder, clip_writer and checkpoint_recorder (io/).
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

namespace lmusim {

class simulation;

class recorder {
public:
    virtual ~recorder() = default;
    virtual void begin(const simulation& sim, std::uint64_t steps) = 0;
    virtual void record_step(const simulation& sim) = 0;  // the step just taken is steps_done() - 1
    virtual void end(const simulation& sim) = 0;
};

// Forwards every call to its members in the order they were added (null members are skipped).
class recorder_chain final : public recorder {
public:
    recorder_chain() = default;
    recorder_chain(std::initializer_list<recorder*> members) {
        for (recorder* r : members) add(r);
    }
    void add(recorder* r) {
        if (r) members_.push_back(r);
    }
    // The chain itself, or nullptr when it has no members (for run_options::rec).
    recorder* get() noexcept { return members_.empty() ? nullptr : this; }

    void begin(const simulation& sim, std::uint64_t steps) override {
        for (recorder* r : members_) r->begin(sim, steps);
    }
    void record_step(const simulation& sim) override {
        for (recorder* r : members_) r->record_step(sim);
    }
    void end(const simulation& sim) override {
        for (recorder* r : members_) r->end(sim);
    }

private:
    std::vector<recorder*> members_;
};

// A recorder that calls a function after every step (begin and end do nothing).
class step_recorder final : public recorder {
public:
    explicit step_recorder(std::function<void(const simulation&)> f) : f_(std::move(f)) {}
    void begin(const simulation&, std::uint64_t) override {}
    void record_step(const simulation& sim) override { f_(sim); }
    void end(const simulation&) override {}

private:
    std::function<void(const simulation&)> f_;
};

}  // namespace lmusim
