#pragma once
// In-process ranks for tests: R threads, each running its own simulation, talk through a
// communicator over shared memory (the collectives of sim/communicator.hpp with a barrier), so
// network-parallel results can be compared for any rank count without mpirun.
#include <barrier>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "lmusim/sim/communicator.hpp"

namespace lmusim::testing {

class thread_ranks {
public:
    explicit thread_ranks(int ranks) : ranks_(ranks), barrier_(ranks), slots_(static_cast<std::size_t>(ranks)) {}

    class comm final : public communicator {
    public:
        comm(thread_ranks& g, int rank) : g_(g), rank_(rank) {}
        int rank() const noexcept override { return rank_; }
        int size() const noexcept override { return g_.ranks_; }
        std::vector<std::byte> allgatherv(std::span<const std::byte> mine, std::vector<std::size_t>& counts) override {
            g_.slots_[static_cast<std::size_t>(rank_)].assign(mine.begin(), mine.end());
            g_.barrier_.arrive_and_wait();
            std::vector<std::byte> all;
            counts.clear();
            for (const auto& s : g_.slots_) {
                counts.push_back(s.size());
                all.insert(all.end(), s.begin(), s.end());
            }
            g_.barrier_.arrive_and_wait();
            return all;
        }
        void allreduce_sum(std::span<std::uint64_t> values) override {
            std::vector<std::size_t> counts;
            const auto all = allgatherv(std::as_bytes(values), counts);
            std::vector<std::uint64_t> sum(values.size(), 0);
            for (std::size_t r = 0; r < counts.size(); ++r)
                for (std::size_t k = 0; k < values.size(); ++k) {
                    std::uint64_t v;
                    std::memcpy(&v, all.data() + r * values.size_bytes() + k * sizeof v, sizeof v);
                    sum[k] += v;
                }
            std::copy(sum.begin(), sum.end(), values.begin());
        }
        bool any(bool flag) override {
            std::uint64_t v = flag;
            allreduce_sum(std::span<std::uint64_t>(&v, 1));
            return v != 0;
        }
        void send(int dest, std::span<const std::byte> data) override {
            std::lock_guard lock(g_.mail_mutex_);
            g_.mail_[{rank_, dest}].emplace_back(data.begin(), data.end());
            g_.mail_cv_.notify_all();
        }
        std::vector<std::byte> recv(int source) override {
            std::unique_lock lock(g_.mail_mutex_);
            auto& q = g_.mail_[{source, rank_}];
            g_.mail_cv_.wait(lock, [&] { return !q.empty(); });
            auto m = std::move(q.front());
            q.pop_front();
            return m;
        }
        [[noreturn]] void abort(int code) noexcept override { std::_Exit(code); }

    private:
        thread_ranks& g_;
        int rank_;
    };

    // Runs f(rank, communicator) on every rank concurrently and waits for all.
    void run(const std::function<void(int, communicator&)>& f) {
        std::vector<std::thread> threads;
        for (int r = 0; r < ranks_; ++r)
            threads.emplace_back([&, r] {
                comm c(*this, r);
                f(r, c);
            });
        for (auto& t : threads) t.join();
    }

private:
    int ranks_;
    std::barrier<> barrier_;
    std::vector<std::vector<std::byte>> slots_;
    std::mutex mail_mutex_;
    std::condition_variable mail_cv_;
    std::map<std::pair<int, int>, std::deque<std::vector<std::byte>>> mail_;
};

}  // namespace lmusim::testing
