// lb.hpp: a header-only C++17 wrapper over lb's C ABI (lb.h).
//
// Ownership
//   lb::Balancer owns its lb_balancer handle: it is created in the constructor,
//   freed in the destructor, and the class is move-only.
//   lb::Pick owns one outstanding pick: report it with report() (or success(),
//   failure(), cancel()); a Pick that goes out of scope unreported is reported as
//   LB_OUTCOME_CANCELLED. Picks are move-only, so a pick is reported at most once.
//   A Pick refers to its balancer's handle: it must not outlive the Balancer (a
//   moved Balancer keeps the same handle, so moving the Balancer is fine).
//
// Errors
//   Failures throw lb::Error (derived from std::runtime_error), whose status()
//   is the lb_status. The hot path has non-throwing variants: try_select(),
//   try_select_excluding(), try_select_key() and try_select_key_excluding()
//   return std::optional<Pick> (empty on failure, with the status stored through
//   an optional out pointer), and Pick::try_report() returns the lb_status.
//   Destructors never throw.
//
// Keyed selection (1.3)
//   select_key() sends a key (lb::hash_bytes() of a session id, say) to the same
//   instance under Strategy::Maglev and Strategy::RingHash; other strategies
//   ignore the key. Options are the raw LB_OPTION_* values of lb.h, the 1.3 ones
//   (LB_OPTION_MAGLEV_TABLE_SIZE, LB_OPTION_RING_HASH_MIN_SIZE,
//   LB_OPTION_RING_HASH_MAX_SIZE) included.
//
// Thread safety
//   As the C ABI: every member function of Balancer may be called concurrently
//   from any thread, except the destructor and move assignment. A Pick is a plain
//   value: use one Pick from one thread at a time (it may move between threads).
#ifndef LB_HPP
#define LB_HPP

#include <lb.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// This wrapper calls functions that lb.h gained in 1.3; a clear message beats
// a pile of undeclared-identifier errors when an older lb.h is found first.
static_assert(LB_VERSION_MAJOR == 1 && LB_VERSION_MINOR >= 3,
              "lb.hpp needs lb.h 1.3 or a later 1.x");

namespace lb {

// The strategies of LB_STRATEGY_*.
enum class Strategy : lb_strategy {
    RoundRobin = LB_STRATEGY_ROUND_ROBIN,
    LeastConnections = LB_STRATEGY_LEAST_CONNECTIONS,
    WeightedResponseTime = LB_STRATEGY_WEIGHTED_RESPONSE_TIME,
    Adaptive = LB_STRATEGY_ADAPTIVE,
    LeastRequest = LB_STRATEGY_LEAST_REQUEST,  // since 1.2
    PeakEwma = LB_STRATEGY_PEAK_EWMA,          // since 1.2
    Maglev = LB_STRATEGY_MAGLEV,               // since 1.3
    RingHash = LB_STRATEGY_RING_HASH,          // since 1.3
};

// The outcomes of LB_OUTCOME_*.
enum class Outcome : lb_outcome {
    Success = LB_OUTCOME_SUCCESS,
    Failure = LB_OUTCOME_FAILURE,
    Cancelled = LB_OUTCOME_CANCELLED,
};

using Instance = lb_instance;  // {id, weight, capacity}
using Stats = lb_stats;
using Health = lb_health;

// Makes an instance: weight 1 and unlimited capacity unless given.
inline Instance make_instance(std::uint64_t id, std::uint32_t weight = 1,
                              std::uint32_t capacity = 0) noexcept {
    Instance instance{};
    instance.id = id;
    instance.weight = weight;
    instance.capacity = capacity;
    return instance;
}

// A failed lb call: what() names the call and the status; status() is the code.
class Error : public std::runtime_error {
public:
    Error(lb_status status, const char *call)
        : std::runtime_error(std::string(call) + ": " + lb_status_str(status)),
          status_(status) {}
    lb_status status() const noexcept { return status_; }

private:
    lb_status status_;
};

namespace detail {
inline void check(lb_status status, const char *call) {
    if (status != LB_STATUS_OK) {
        throw Error(status, call);
    }
}
}  // namespace detail

// One outstanding pick. Reported as cancelled when destroyed unreported.
class Pick {
public:
    Pick() noexcept = default;
    Pick(const Pick &) = delete;
    Pick &operator=(const Pick &) = delete;
    Pick(Pick &&other) noexcept
        : handle_(std::exchange(other.handle_, nullptr)), pick_(other.pick_) {}
    Pick &operator=(Pick &&other) noexcept {
        if (this != &other) {
            release_cancelled();
            handle_ = std::exchange(other.handle_, nullptr);
            pick_ = other.pick_;
        }
        return *this;
    }
    ~Pick() { release_cancelled(); }

    // The chosen instance.
    std::uint64_t instance_id() const noexcept { return pick_.instance_id; }
    // True until the pick is reported (or moved from).
    bool pending() const noexcept { return handle_ != nullptr; }
    explicit operator bool() const noexcept { return pending(); }

    // Reports the outcome; the pick is spent afterwards, even when lb refuses
    // the report (an expired pick, say). Throws lb::Error on a refusal, and
    // std::logic_error when the pick is no longer pending.
    void report(Outcome outcome, std::chrono::microseconds latency) {
        if (!pending()) {
            throw std::logic_error("lb::Pick::report: pick already reported");
        }
        detail::check(try_report(outcome, latency), "lb_report");
    }
    void success(std::chrono::microseconds latency) { report(Outcome::Success, latency); }
    void failure(std::chrono::microseconds latency) { report(Outcome::Failure, latency); }
    void cancel() { report(Outcome::Cancelled, std::chrono::microseconds(0)); }

    // The non-throwing report: returns lb_report's status (LB_STATUS_INVALID_PICK
    // when the pick is no longer pending). The pick is spent afterwards.
    lb_status try_report(Outcome outcome, std::chrono::microseconds latency) noexcept {
        if (!pending()) {
            return LB_STATUS_INVALID_PICK;
        }
        const auto us = latency.count() < 0 ? 0 : static_cast<std::uint64_t>(latency.count());
        return lb_report(std::exchange(handle_, nullptr), &pick_,
                         static_cast<lb_outcome>(outcome), us);
    }

    // The raw C pick, for code that reports through the C ABI itself; call
    // detach() first so that this Pick does not report it too.
    const lb_pick &raw() const noexcept { return pick_; }
    lb_pick detach() noexcept {
        handle_ = nullptr;
        return pick_;
    }

private:
    friend class Balancer;
    Pick(lb_balancer *handle, const lb_pick &pick) noexcept : handle_(handle), pick_(pick) {}

    void release_cancelled() noexcept {
        if (pending()) {
            (void)try_report(Outcome::Cancelled, std::chrono::microseconds(0));
        }
    }

    lb_balancer *handle_ = nullptr;
    lb_pick pick_{};
};

// A balancer: owns an lb_balancer handle.
class Balancer {
public:
    // A balancer seeded from the operating system's entropy (see lb_balancer_new).
    explicit Balancer(Strategy strategy = Strategy::RoundRobin) {
        detail::check(lb_balancer_new(static_cast<lb_strategy>(strategy), &handle_),
                      "lb_balancer_new");
    }
    // A balancer whose random choices replay from `seed` (lb_balancer_new_seeded).
    Balancer(Strategy strategy, std::uint64_t seed) {
        detail::check(
            lb_balancer_new_seeded(static_cast<lb_strategy>(strategy), seed, &handle_),
            "lb_balancer_new_seeded");
    }
    Balancer(const Balancer &) = delete;
    Balancer &operator=(const Balancer &) = delete;
    Balancer(Balancer &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Balancer &operator=(Balancer &&other) noexcept {
        if (this != &other) {
            lb_balancer_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Balancer() { lb_balancer_free(handle_); }

    // Replaces the instance set (see lb_set_instances).
    void set_instances(const Instance *instances, std::size_t count) {
        detail::check(lb_set_instances(native(), instances, count), "lb_set_instances");
    }
    void set_instances(const std::vector<Instance> &instances) {
        set_instances(instances.data(), instances.size());
    }
    void set_health_score(std::uint64_t instance_id, double score) {
        detail::check(lb_set_health_score(native(), instance_id, score), "lb_set_health_score");
    }
    void set_strategy(Strategy strategy) {
        detail::check(lb_set_strategy(native(), static_cast<lb_strategy>(strategy)),
                      "lb_set_strategy");
    }
    void set_option(lb_option option, double value) {
        detail::check(lb_set_option(native(), option, value), "lb_set_option");
    }
    // The seed in use (lb_get_seed).
    std::uint64_t seed() const {
        std::uint64_t value = 0;
        detail::check(lb_get_seed(native(), &value), "lb_get_seed");
        return value;
    }
    double option(lb_option option) const {
        double value = 0;
        detail::check(lb_get_option(native(), option, &value), "lb_get_option");
        return value;
    }

    // Selects an instance; throws lb::Error (LB_STATUS_NO_INSTANCE when nothing
    // is selectable).
    Pick select() {
        lb_pick pick;
        detail::check(lb_select(native(), &pick), "lb_select");
        return Pick(handle_, pick);
    }
    // Selects avoiding `exclude` while anything else is selectable.
    Pick select_excluding(const std::vector<std::uint64_t> &exclude) {
        lb_pick pick;
        detail::check(lb_select_excluding(native(), exclude.data(), exclude.size(), &pick),
                      "lb_select_excluding");
        return Pick(handle_, pick);
    }
    // The non-throwing selects: empty on failure, with the status in *status
    // when `status` is not null.
    std::optional<Pick> try_select(lb_status *status = nullptr) noexcept {
        lb_pick pick;
        const lb_status s = lb_select(handle_, &pick);
        return make_pick(s, pick, status);
    }
    std::optional<Pick> try_select_excluding(const std::vector<std::uint64_t> &exclude,
                                             lb_status *status = nullptr) noexcept {
        lb_pick pick;
        const lb_status s = lb_select_excluding(handle_, exclude.data(), exclude.size(), &pick);
        return make_pick(s, pick, status);
    }

    // Selects for `key` (lb_select_key): under Maglev and RingHash the same key
    // goes to the same instance while the set and its health stay the same;
    // other strategies ignore the key. Throws lb::Error as select() does.
    Pick select_key(std::uint64_t key) {
        lb_pick pick;
        detail::check(lb_select_key(native(), key, &pick), "lb_select_key");
        return Pick(handle_, pick);
    }
    // Selects for `key` avoiding `exclude` (a retry): the key moves along the
    // table past them, to the same instance each time.
    Pick select_key_excluding(std::uint64_t key, const std::vector<std::uint64_t> &exclude) {
        lb_pick pick;
        detail::check(
            lb_select_key_excluding(native(), key, exclude.data(), exclude.size(), &pick),
            "lb_select_key_excluding");
        return Pick(handle_, pick);
    }
    std::optional<Pick> try_select_key(std::uint64_t key, lb_status *status = nullptr) noexcept {
        lb_pick pick;
        const lb_status s = lb_select_key(handle_, key, &pick);
        return make_pick(s, pick, status);
    }
    std::optional<Pick> try_select_key_excluding(std::uint64_t key,
                                                 const std::vector<std::uint64_t> &exclude,
                                                 lb_status *status = nullptr) noexcept {
        lb_pick pick;
        const lb_status s =
            lb_select_key_excluding(handle_, key, exclude.data(), exclude.size(), &pick);
        return make_pick(s, pick, status);
    }

    Stats stats() const {
        Stats stats;
        detail::check(lb_get_stats(native(), &stats), "lb_get_stats");
        return stats;
    }
    // The metrics in the Prometheus text exposition format (lb_metrics_text).
    std::string metrics_text() const {
        std::string text(16384, '\0');
        for (;;) {
            std::size_t needed = 0;
            const lb_status s = lb_metrics_text(native(), text.data(), text.size(), &needed);
            if (s == LB_STATUS_OK) {
                text.resize(needed - 1);
                return text;
            }
            if (s != LB_STATUS_BUFFER_TOO_SMALL) {
                detail::check(s, "lb_metrics_text");
            }
            text.assign(needed, '\0');
        }
    }
    Health health(std::uint64_t instance_id) const {
        Health health;
        detail::check(lb_get_health(native(), instance_id, &health), "lb_get_health");
        return health;
    }
    // Every instance of the current set, in set order.
    std::vector<Health> all_health() const {
        std::vector<Health> all;
        std::size_t count = 0;
        for (;;) {
            const lb_status s = lb_get_all_health(native(), all.data(), all.size(), &count);
            if (s == LB_STATUS_OK) {
                all.resize(count);
                return all;
            }
            if (s != LB_STATUS_BUFFER_TOO_SMALL) {
                throw Error(s, "lb_get_all_health");
            }
            all.resize(count);  // the set grew in between: ask again
        }
    }

    // The C handle, still owned by this Balancer.
    lb_balancer *native_handle() const noexcept { return handle_; }

private:
    // The handle, or an lb::Error for a moved-from Balancer.
    lb_balancer *native() const {
        if (handle_ == nullptr) {
            throw Error(LB_STATUS_NULL_POINTER, "lb::Balancer (moved from)");
        }
        return handle_;
    }
    std::optional<Pick> make_pick(lb_status s, const lb_pick &pick, lb_status *status) noexcept {
        if (status != nullptr) {
            *status = s;
        }
        if (s != LB_STATUS_OK) {
            return std::nullopt;
        }
        return Pick(handle_, pick);
    }

    lb_balancer *handle_ = nullptr;
};

// lb's version at run time ("MAJOR.MINOR.PATCH").
inline const char *version() noexcept { return lb_version(); }

// The key lb would give these bytes (lb_hash_bytes: XXH3-64, seed 0), equal in
// every process and binding, for select_key(). nullptr with `len` 0 is the empty
// input; nullptr with `len` > 0 returns 0.
inline std::uint64_t hash_bytes(const void *data, std::size_t len) noexcept {
    return lb_hash_bytes(data, len);
}
// An empty view may carry a null data(): lb takes that as the empty input.
inline std::uint64_t hash_bytes(std::string_view bytes) noexcept {
    return lb_hash_bytes(bytes.data(), bytes.size());
}

}  // namespace lb

#endif  // LB_HPP
