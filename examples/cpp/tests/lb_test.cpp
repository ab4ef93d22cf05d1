// Tests of the C++ wrapper lb.hpp (and, through it, of lb's C ABI).
#include <lb.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;

namespace {

lb::Balancer three_instances(lb::Strategy strategy = lb::Strategy::RoundRobin) {
    lb::Balancer balancer(strategy);
    balancer.set_instances({lb::make_instance(1), lb::make_instance(2), lb::make_instance(3)});
    return balancer;
}

void expect_settled(const lb::Stats &stats) {
    EXPECT_EQ(stats.in_flight, 0u);
    EXPECT_EQ(stats.total_requests, stats.successes + stats.failures + stats.cancelled);
}

lb_status status_of(const std::function<void()> &call) {
    try {
        call();
    } catch (const lb::Error &e) {
        return e.status();
    }
    return LB_STATUS_OK;
}

}  // namespace

TEST(Types, OwnershipIsMoveOnly) {
    static_assert(!std::is_copy_constructible_v<lb::Balancer>);
    static_assert(std::is_nothrow_move_constructible_v<lb::Balancer>);
    static_assert(!std::is_copy_constructible_v<lb::Pick>);
    static_assert(std::is_nothrow_move_constructible_v<lb::Pick>);
    EXPECT_STREQ(lb::version(), LB_VERSION_STRING);
}

TEST(Balancer, UnknownStrategyThrows) {
    try {
        // 7 became RingHash in 1.3: the first value past the last strategy.
        lb::Balancer balancer(static_cast<lb::Strategy>(LB_STRATEGY_RING_HASH + 1));
        FAIL() << "constructed with an unknown strategy";
    } catch (const lb::Error &e) {
        EXPECT_EQ(e.status(), LB_STATUS_INVALID_ARGUMENT);
        EXPECT_NE(std::string(e.what()).find("lb_balancer_new"), std::string::npos);
    }
}

TEST(Balancer, SelectOnEmptySet) {
    lb::Balancer balancer;
    EXPECT_EQ(status_of([&] { balancer.select(); }), LB_STATUS_NO_INSTANCE);
    lb_status status = LB_STATUS_OK;
    EXPECT_FALSE(balancer.try_select(&status).has_value());
    EXPECT_EQ(status, LB_STATUS_NO_INSTANCE);
    EXPECT_EQ(balancer.stats().total_requests, 0u);
}

TEST(Balancer, SeedsDifferAndReplay) {
    lb::Balancer a, b;
    EXPECT_NE(a.seed(), b.seed());
    lb::Balancer c(lb::Strategy::RoundRobin, 42);
    EXPECT_EQ(c.seed(), 42u);
    EXPECT_EQ(status_of([] { lb::Balancer bad(static_cast<lb::Strategy>(99), 1); }),
              LB_STATUS_INVALID_ARGUMENT);
}

TEST(Balancer, SetInstancesErrors) {
    lb::Balancer balancer = three_instances();
    EXPECT_EQ(status_of([&] {
                  balancer.set_instances({lb::make_instance(5), lb::make_instance(5)});
              }),
              LB_STATUS_DUPLICATE_INSTANCE);
    EXPECT_EQ(status_of([&] { balancer.set_instances({lb::make_instance(5, 0)}); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { balancer.set_instances(nullptr, 2); }), LB_STATUS_NULL_POINTER);
    // The set is untouched by the refused calls.
    const auto all = balancer.all_health();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].instance_id, 1u);
    EXPECT_EQ(all[2].instance_id, 3u);
}

TEST(Pick, ReportCountsOnce) {
    lb::Balancer balancer = three_instances();
    lb::Pick pick = balancer.select();
    EXPECT_TRUE(pick.pending());
    pick.success(250us);
    EXPECT_FALSE(pick.pending());
    EXPECT_THROW(pick.success(250us), std::logic_error);
    EXPECT_EQ(pick.try_report(lb::Outcome::Success, 1us), LB_STATUS_INVALID_PICK);
    const lb::Stats stats = balancer.stats();
    EXPECT_EQ(stats.successes, 1u);
    EXPECT_DOUBLE_EQ(stats.avg_latency_us, 250.0);
    expect_settled(stats);
}

TEST(Pick, UnreportedPickIsCancelledAtScopeExit) {
    lb::Balancer balancer = three_instances();
    {
        lb::Pick abandoned = balancer.select();
        EXPECT_EQ(balancer.stats().in_flight, 1u);
    }
    const lb::Stats stats = balancer.stats();
    EXPECT_EQ(stats.cancelled, 1u);
    expect_settled(stats);
}

TEST(Pick, MovedPickReportsOnce) {
    lb::Balancer balancer = three_instances();
    std::vector<lb::Pick> picks;
    for (int i = 0; i < 4; i++) {
        lb::Pick p = balancer.select();
        picks.push_back(std::move(p));
        EXPECT_FALSE(p.pending());  // NOLINT(bugprone-use-after-move): moved-from is empty
    }
    lb::Pick target = balancer.select();
    target = std::move(picks[0]);  // the overwritten pick is cancelled
    target.failure(10us);
    picks.clear();  // three more cancelled, the moved-from one is not reported
    const lb::Stats stats = balancer.stats();
    EXPECT_EQ(stats.total_requests, 5u);
    EXPECT_EQ(stats.failures, 1u);
    EXPECT_EQ(stats.cancelled, 4u);
    expect_settled(stats);
}

TEST(Pick, DetachHandsOverToTheCApi) {
    lb::Balancer balancer = three_instances();
    lb::Pick pick = balancer.select();
    const lb_pick raw = pick.detach();
    EXPECT_FALSE(pick.pending());
    EXPECT_EQ(lb_report(balancer.native_handle(), &raw, LB_OUTCOME_SUCCESS, 5), LB_STATUS_OK);
    expect_settled(balancer.stats());
}

TEST(Balancer, SelectExcludingAvoidsTriedInstances) {
    lb::Balancer balancer = three_instances();
    for (int i = 0; i < 30; i++) {
        lb::Pick pick = balancer.select_excluding({1, 2});
        EXPECT_EQ(pick.instance_id(), 3u);
        pick.success(1us);
    }
    // Everything excluded: selects as select() would.
    auto fallback = balancer.try_select_excluding({1, 2, 3});
    ASSERT_TRUE(fallback.has_value());
    fallback->cancel();
    expect_settled(balancer.stats());
}

TEST(Balancer, HealthAndScores) {
    lb::Balancer balancer = three_instances();
    balancer.set_health_score(2, 0.75);
    EXPECT_EQ(status_of([&] { balancer.set_health_score(2, std::nan("")); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { balancer.set_health_score(9, 0.5); }),
              LB_STATUS_UNKNOWN_INSTANCE);
    EXPECT_EQ(status_of([&] { balancer.health(9); }), LB_STATUS_UNKNOWN_INSTANCE);
    const lb::Health h = balancer.health(2);
    EXPECT_EQ(h.instance_id, 2u);
    EXPECT_EQ(h.weight, 1u);
    EXPECT_GE(h.health_score, 0.0);
    EXPECT_LE(h.health_score, 1.0);
}

TEST(Balancer, Options) {
    lb::Balancer balancer;
    EXPECT_EQ(balancer.option(LB_OPTION_PICK_TIMEOUT_MS), 300000.0);
    EXPECT_EQ(balancer.option(LB_OPTION_PANIC_THRESHOLD), 0.5);
    balancer.set_option(LB_OPTION_PANIC_THRESHOLD, 0.25);
    EXPECT_EQ(balancer.option(LB_OPTION_PANIC_THRESHOLD), 0.25);
    EXPECT_EQ(status_of([&] { balancer.set_option(LB_OPTION_PANIC_THRESHOLD, 1.5); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { balancer.set_option(LB_OPTION_PICK_TIMEOUT_MS, 0.5); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { balancer.option(12345); }), LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(balancer.option(LB_OPTION_PANIC_THRESHOLD), 0.25);
}

TEST(Balancer, SlowStartOptions) {
    lb::Balancer balancer;
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_WINDOW_MS), 30000.0);
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_AGGRESSION), 1.0);
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT), 10.0);
    balancer.set_option(LB_OPTION_SLOW_START_WINDOW_MS, 0);
    balancer.set_option(LB_OPTION_SLOW_START_AGGRESSION, 2.5);
    balancer.set_option(LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, 100);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    struct bad_value {
        lb_option option;
        double value;
    };
    // Below and above the range, NaN, infinity, and a fraction for the window.
    const bad_value bad[] = {
        {LB_OPTION_SLOW_START_WINDOW_MS, -1},    {LB_OPTION_SLOW_START_WINDOW_MS, 3600001},
        {LB_OPTION_SLOW_START_WINDOW_MS, nan},   {LB_OPTION_SLOW_START_WINDOW_MS, inf},
        {LB_OPTION_SLOW_START_WINDOW_MS, 1.5},   {LB_OPTION_SLOW_START_AGGRESSION, 0},
        {LB_OPTION_SLOW_START_AGGRESSION, 101},  {LB_OPTION_SLOW_START_AGGRESSION, nan},
        {LB_OPTION_SLOW_START_AGGRESSION, inf},  {LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, -0.5},
        {LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, 100.5},
        {LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, nan},
        {LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, -inf},
    };
    for (const bad_value &b : bad) {
        EXPECT_EQ(status_of([&] { balancer.set_option(b.option, b.value); }),
                  LB_STATUS_INVALID_ARGUMENT)
            << b.option << " = " << b.value;
    }
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_WINDOW_MS), 0.0);
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_AGGRESSION), 2.5);
    EXPECT_EQ(balancer.option(LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT), 100.0);
}

TEST(Balancer, StrategySwitch) {
    lb::Balancer balancer = three_instances();
    balancer.set_strategy(lb::Strategy::LeastConnections);
    EXPECT_EQ(balancer.stats().active_strategy, LB_STRATEGY_LEAST_CONNECTIONS);
    EXPECT_EQ(status_of([&] { balancer.set_strategy(static_cast<lb::Strategy>(200)); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(balancer.stats().active_strategy, LB_STRATEGY_LEAST_CONNECTIONS);
}

TEST(Balancer, MoveKeepsHandleAndPicksValid) {
    lb::Balancer first = three_instances();
    lb::Pick pick = first.select();
    lb::Balancer second = std::move(first);
    EXPECT_EQ(first.native_handle(), nullptr);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(status_of([&] { first.stats(); }), LB_STATUS_NULL_POINTER);
    pick.success(3us);
    EXPECT_EQ(second.stats().successes, 1u);
    expect_settled(second.stats());
}

TEST(Balancer, ConcurrentSelectAndReport) {
    lb::Balancer balancer(lb::Strategy::LeastConnections);
    balancer.set_instances({lb::make_instance(1, 1, 4), lb::make_instance(2, 2, 4),
                            lb::make_instance(3, 1, 4)});
    constexpr int kThreads = 4;
    constexpr int kOps = 5000;
    std::atomic<std::uint64_t> picked{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kOps; i++) {
                lb_status status = LB_STATUS_OK;
                std::optional<lb::Pick> pick = balancer.try_select(&status);
                if (!pick) {
                    ASSERT_EQ(status, LB_STATUS_NO_INSTANCE);  // all at capacity
                    continue;
                }
                picked.fetch_add(1, std::memory_order_relaxed);
                if ((i + t) % 3 == 0) {
                    pick->failure(std::chrono::microseconds(i % 100));
                } else if ((i + t) % 3 == 1) {
                    pick->success(std::chrono::microseconds(i % 100));
                }  // else: cancelled by the destructor
            }
        });
    }
    std::thread churn([&] {
        for (int i = 0; i < 200; i++) {
            balancer.set_health_score(1 + i % 3, (i % 11) / 10.0);
            if (i % 20 == 0) {
                balancer.set_strategy(i % 40 == 0 ? lb::Strategy::Adaptive
                                                  : lb::Strategy::RoundRobin);
            }
            std::this_thread::yield();
        }
    });
    for (auto &thread : threads) {
        thread.join();
    }
    churn.join();
    const lb::Stats stats = balancer.stats();
    EXPECT_EQ(stats.total_requests, picked.load());
    expect_settled(stats);
    for (const lb::Health &h : balancer.all_health()) {
        EXPECT_EQ(h.in_flight, 0u);
    }
}

// The power-of-choices strategies (1.2): they run, least request keeps two
// instances' picks in flight level, and every new option refuses each class of
// bad value with nothing changed.
TEST(Balancer, LeastRequestAndPeakEwma) {
    for (lb::Strategy s : {lb::Strategy::LeastRequest, lb::Strategy::PeakEwma}) {
        lb::Balancer balancer(s);
        balancer.set_instances({lb::make_instance(1), lb::make_instance(2)});
        EXPECT_EQ(balancer.stats().active_strategy, static_cast<lb_strategy>(s));
        std::vector<lb::Pick> held;
        int on_one = 0;
        for (int i = 0; i < 20; i++) {
            held.push_back(balancer.select());
            on_one += held.back().instance_id() == 1;
        }
        if (s == lb::Strategy::LeastRequest) {
            EXPECT_EQ(on_one, 10);
        }
        for (auto &p : held) {
            p.success(std::chrono::microseconds(500));
        }
        expect_settled(balancer.stats());
    }
    struct Case {
        lb_option option;
        double def, ok, below, above;
        bool whole;
    };
    const Case cases[] = {
        {LB_OPTION_CHOICE_COUNT, 2, 5, 1, 9, true},
        {LB_OPTION_ACTIVE_REQUEST_BIAS, 1, 0.5, -0.1, 10.5, false},
        {LB_OPTION_PEAK_EWMA_TAU_MS, 10000, 2500, 0.5, 3600001, false},
        {LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS, 30, 5, 0.0005, 3600001, false},
    };
    lb::Balancer balancer(lb::Strategy::PeakEwma);
    for (const Case &c : cases) {
        EXPECT_EQ(balancer.option(c.option), c.def);
        std::vector<double> bad = {c.below, c.above, std::nan(""), INFINITY, -INFINITY};
        if (c.whole) {
            bad.push_back(c.def + 0.5);
        }
        for (double v : bad) {
            EXPECT_EQ(status_of([&] { balancer.set_option(c.option, v); }),
                      LB_STATUS_INVALID_ARGUMENT)
                << c.option << " " << v;
            EXPECT_EQ(balancer.option(c.option), c.def);
        }
        balancer.set_option(c.option, c.ok);
        EXPECT_EQ(balancer.option(c.option), c.ok);
    }
}

// Keyed selection (1.3): Maglev and ring hash map keys to instances, and the
// 64-bit hash lb gives keys matches the shared test vector.
namespace {

const lb::Strategy kKeyed[] = {lb::Strategy::Maglev, lb::Strategy::RingHash};

// The instance `key` goes to, with the pick settled so nothing stays in flight.
std::uint64_t keyed_id(lb::Balancer &balancer, std::uint64_t key) {
    lb::Pick pick = balancer.select_key(key);
    const std::uint64_t id = pick.instance_id();
    pick.success(1us);
    return id;
}

// tests/vectors/hash_bytes.txt, found from the working directory (ctest runs
// in the build directory) or, failing that, from this source file, so the test
// runs from wherever it is started inside the repository.
std::filesystem::path hash_vector_path() {
    const std::filesystem::path rel = std::filesystem::path("tests") / "vectors" / "hash_bytes.txt";
    for (std::filesystem::path start :
         {std::filesystem::current_path(), std::filesystem::path(__FILE__).parent_path()}) {
        for (std::filesystem::path dir = std::filesystem::absolute(start);; dir = dir.parent_path()) {
            if (std::filesystem::exists(dir / rel)) {
                return dir / rel;
            }
            if (dir == dir.parent_path()) {
                break;
            }
        }
    }
    return {};
}

struct HashRow {
    std::string bytes;
    std::uint64_t hash;
};

std::vector<HashRow> read_hash_vector(const std::filesystem::path &path) {
    std::vector<HashRow> rows;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream fields(line);
        std::string hex, hash;
        fields >> hex >> hash;
        EXPECT_EQ(hash.size(), 16u) << line;
        HashRow row{{}, std::stoull(hash, nullptr, 16)};
        if (hex != "-") {
            EXPECT_EQ(hex.size() % 2, 0u) << line;
            for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
                row.bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
            }
        }
        rows.push_back(row);
    }
    return rows;
}

}  // namespace

TEST(Keyed, StrategiesAreKnown) {
    EXPECT_EQ(static_cast<lb_strategy>(lb::Strategy::Maglev), 6u);
    EXPECT_EQ(static_cast<lb_strategy>(lb::Strategy::RingHash), 7u);
    EXPECT_GE(LB_VERSION_MINOR, 3);
    for (lb::Strategy s : kKeyed) {
        lb::Balancer balancer(s, 7);
        EXPECT_EQ(balancer.stats().active_strategy, static_cast<lb_strategy>(s));
    }
    lb::Balancer balancer;
    balancer.set_strategy(lb::Strategy::RingHash);
    EXPECT_EQ(balancer.stats().active_strategy, LB_STRATEGY_RING_HASH);
    EXPECT_EQ(status_of([&] {
                  balancer.set_strategy(static_cast<lb::Strategy>(LB_STRATEGY_RING_HASH + 1));
              }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(balancer.stats().active_strategy, LB_STRATEGY_RING_HASH);
}

TEST(Keyed, SameKeySameInstance) {
    for (lb::Strategy s : kKeyed) {
        lb::Balancer a = three_instances(s);
        // Another balancer (another seed) with the same set maps keys alike:
        // the mapping depends only on ids, weights and table options.
        lb::Balancer b = three_instances(s);
        std::set<std::uint64_t> used;
        for (std::uint64_t key = 0; key < 300; key++) {
            const std::uint64_t id = keyed_id(a, key);
            used.insert(id);
            EXPECT_EQ(keyed_id(a, key), id) << "key " << key;
            EXPECT_EQ(keyed_id(b, key), id) << "key " << key;
        }
        EXPECT_EQ(used.size(), 3u) << "300 keys should reach all 3 instances";
        const std::uint64_t session = lb::hash_bytes("session-7f3a9c");
        const std::uint64_t id = keyed_id(a, session);
        for (int i = 0; i < 20; i++) {
            auto pick = a.try_select_key(session);
            ASSERT_TRUE(pick.has_value());
            EXPECT_EQ(pick->instance_id(), id);
        }
        expect_settled(a.stats());
        expect_settled(b.stats());
    }
}

TEST(Keyed, ExclusionMovesTheKeyOff) {
    for (lb::Strategy s : kKeyed) {
        lb::Balancer balancer = three_instances(s);
        for (std::uint64_t key = 0; key < 50; key++) {
            const std::uint64_t home = keyed_id(balancer, key);
            lb::Pick retry = balancer.select_key_excluding(key, {home});
            const std::uint64_t next = retry.instance_id();
            EXPECT_NE(next, home) << "key " << key;
            retry.success(1us);
            // The retry's target is stable too.
            for (int i = 0; i < 3; i++) {
                lb_status status = LB_STATUS_INTERNAL;
                auto again = balancer.try_select_key_excluding(key, {home}, &status);
                ASSERT_TRUE(again.has_value());
                EXPECT_EQ(status, LB_STATUS_OK);
                EXPECT_EQ(again->instance_id(), next);
            }
            // Excluding the other two leaves only the third one.
            const std::uint64_t third = 6 - home - next;  // ids are 1, 2, 3
            EXPECT_EQ(balancer.select_key_excluding(key, {home, next}).instance_id(), third);
            // Everything excluded, or unknown ids only: as select_key().
            EXPECT_EQ(balancer.select_key_excluding(key, {1, 2, 3}).instance_id(), home);
            EXPECT_EQ(balancer.select_key_excluding(key, {99}).instance_id(), home);
            EXPECT_EQ(balancer.select_key_excluding(key, {}).instance_id(), home);
        }
        expect_settled(balancer.stats());
    }
}

TEST(Keyed, KeyIgnoredByOtherStrategies) {
    lb::Balancer balancer(lb::Strategy::RoundRobin);
    balancer.set_instances({lb::make_instance(1), lb::make_instance(2)});
    std::uint64_t last = keyed_id(balancer, 42);
    for (int i = 0; i < 10; i++) {
        const std::uint64_t id = keyed_id(balancer, 42);
        EXPECT_NE(id, last) << "round robin should alternate whatever the key";
        last = id;
    }
    // On the keyed strategies plain select() runs round robin.
    for (lb::Strategy s : kKeyed) {
        lb::Balancer keyed(s);
        keyed.set_instances({lb::make_instance(1), lb::make_instance(2)});
        std::uint64_t prev = 0;
        for (int i = 0; i < 10; i++) {
            lb::Pick pick = keyed.select();
            EXPECT_NE(pick.instance_id(), prev);
            prev = pick.instance_id();
        }
    }
}

TEST(Keyed, EmptySetAndMovedFrom) {
    for (lb::Strategy s : kKeyed) {
        lb::Balancer balancer(s);
        EXPECT_EQ(status_of([&] { balancer.select_key(1); }), LB_STATUS_NO_INSTANCE);
        EXPECT_EQ(status_of([&] { balancer.select_key_excluding(1, {1}); }),
                  LB_STATUS_NO_INSTANCE);
        lb_status status = LB_STATUS_OK;
        EXPECT_FALSE(balancer.try_select_key(1, &status).has_value());
        EXPECT_EQ(status, LB_STATUS_NO_INSTANCE);
        status = LB_STATUS_OK;
        EXPECT_FALSE(balancer.try_select_key_excluding(1, {}, &status).has_value());
        EXPECT_EQ(status, LB_STATUS_NO_INSTANCE);
        EXPECT_EQ(balancer.stats().total_requests, 0u);

        // A moved-from Balancer has a null handle: the throwing calls name it,
        // the non-throwing ones pass lb's NULL status through.
        lb::Balancer taken = std::move(balancer);
        // NOLINTNEXTLINE(bugprone-use-after-move): moved-from is the point
        EXPECT_EQ(status_of([&] { balancer.select_key(1); }), LB_STATUS_NULL_POINTER);
        EXPECT_EQ(status_of([&] { balancer.select_key_excluding(1, {}); }),
                  LB_STATUS_NULL_POINTER);
        EXPECT_FALSE(balancer.try_select_key(1, &status).has_value());
        EXPECT_EQ(status, LB_STATUS_NULL_POINTER);
        EXPECT_FALSE(balancer.try_select_key_excluding(1, {2}, &status).has_value());
        EXPECT_EQ(status, LB_STATUS_NULL_POINTER);
        EXPECT_FALSE(taken.try_select_key(1).has_value());
    }
}

// What the wrapper cannot express (a null out pointer, a null or impossible
// exclusion array), straight through the C ABI: refused, with the pick zeroed.
TEST(Keyed, CAbiPointerErrors) {
    lb::Balancer balancer = three_instances(lb::Strategy::Maglev);
    lb_balancer *h = balancer.native_handle();
    lb_pick pick;
    const auto poison = [&] { std::memset(&pick, 0xab, sizeof pick); };
    const auto zeroed = [&] {
        lb_pick zero{};
        return std::memcmp(&pick, &zero, sizeof pick) == 0;
    };
    poison();
    EXPECT_EQ(lb_select_key(nullptr, 1, &pick), LB_STATUS_NULL_POINTER);
    EXPECT_TRUE(zeroed());
    EXPECT_EQ(lb_select_key(h, 1, nullptr), LB_STATUS_NULL_POINTER);
    poison();
    EXPECT_EQ(lb_select_key_excluding(h, 1, nullptr, 1, &pick), LB_STATUS_NULL_POINTER);
    EXPECT_TRUE(zeroed());
    const std::uint64_t one = 1;
    poison();
    EXPECT_EQ(lb_select_key_excluding(h, 1, &one, SIZE_MAX, &pick), LB_STATUS_INVALID_ARGUMENT);
    EXPECT_TRUE(zeroed());
    EXPECT_EQ(lb_select_key_excluding(nullptr, 1, &one, 1, &pick), LB_STATUS_NULL_POINTER);
    EXPECT_EQ(lb_select_key_excluding(h, 1, &one, 1, nullptr), LB_STATUS_NULL_POINTER);
    // NULL with count 0 is an empty list.
    EXPECT_EQ(lb_select_key_excluding(h, 1, nullptr, 0, &pick), LB_STATUS_OK);
    EXPECT_EQ(lb_report(h, &pick, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);
    expect_settled(balancer.stats());
    EXPECT_EQ(balancer.stats().total_requests, 1u);
}

TEST(HashBytes, SharedVector) {
    const std::filesystem::path path = hash_vector_path();
    ASSERT_FALSE(path.empty()) << "tests/vectors/hash_bytes.txt not found above "
                               << std::filesystem::current_path();
    const std::vector<HashRow> rows = read_hash_vector(path);
    ASSERT_EQ(rows.size(), 6u);
    for (const HashRow &row : rows) {
        EXPECT_EQ(lb::hash_bytes(row.bytes), row.hash) << "input of " << row.bytes.size() << " bytes";
        EXPECT_EQ(lb::hash_bytes(row.bytes.data(), row.bytes.size()), row.hash);
    }
    // The empty row is also what a null pointer with length 0 hashes to.
    EXPECT_EQ(rows[0].bytes.size(), 0u);
    EXPECT_EQ(lb::hash_bytes(nullptr, 0), rows[0].hash);
    EXPECT_EQ(lb::hash_bytes(std::string_view{}), rows[0].hash);
}

TEST(HashBytes, NullAndEmpty) {
    const std::uint64_t empty = lb::hash_bytes(nullptr, 0);
    EXPECT_EQ(lb::hash_bytes(""), empty);
    EXPECT_EQ(lb::hash_bytes("x", 0), empty);
    EXPECT_EQ(lb::hash_bytes(nullptr, 5), 0u);  // a bad pointer, not a crash
    EXPECT_NE(lb::hash_bytes("a"), lb::hash_bytes("b"));
    // The view overload hashes exactly its bytes, embedded NULs included.
    const char bytes[] = {'a', '\0', 'b'};
    EXPECT_EQ(lb::hash_bytes(std::string_view(bytes, 3)), lb::hash_bytes(bytes, 3));
    EXPECT_NE(lb::hash_bytes(std::string_view(bytes, 3)), lb::hash_bytes("a"));
}

// The 1.3 options: defaults, accepted values, and each class of invalid value
// refused with nothing changed.
TEST(Keyed, Options) {
    lb::Balancer balancer = three_instances(lb::Strategy::Maglev);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    struct Case {
        lb_option option;
        double def, ok;
        std::vector<double> bad;
    };
    const Case cases[] = {
        // Below, above, NaN, infinities, a fraction, and non-primes in range.
        {LB_OPTION_MAGLEV_TABLE_SIZE, 65537, 251,
         {13, 16, 5000012, 5000021, nan, inf, -inf, 65537.5, 65536, 18, 5000010}},
        {LB_OPTION_RING_HASH_MIN_SIZE, 1024, 16, {0, -1, 8388609, nan, inf, -inf, 1024.5}},
        {LB_OPTION_RING_HASH_MAX_SIZE, 8388608, 4096, {0, -1, 8388609, nan, inf, -inf, 2048.25}},
        // 0 (off) or at least 100: 1..99 are refused as well.
        {LB_OPTION_HASH_BALANCE_FACTOR, 0, 125, {-1, 10001, nan, inf, -inf, 125.5, 1, 99}},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(balancer.option(c.option), c.def) << c.option;
        for (double v : c.bad) {
            EXPECT_EQ(status_of([&] { balancer.set_option(c.option, v); }),
                      LB_STATUS_INVALID_ARGUMENT)
                << c.option << " = " << v;
            EXPECT_EQ(balancer.option(c.option), c.def) << c.option;
        }
        balancer.set_option(c.option, c.ok);
        EXPECT_EQ(balancer.option(c.option), c.ok);
    }
    // The ends of the ranges are accepted.
    balancer.set_option(LB_OPTION_MAGLEV_TABLE_SIZE, 17);
    balancer.set_option(LB_OPTION_MAGLEV_TABLE_SIZE, 5000011);
    balancer.set_option(LB_OPTION_MAGLEV_TABLE_SIZE, 17);
    balancer.set_option(LB_OPTION_RING_HASH_MAX_SIZE, 8388608);
    balancer.set_option(LB_OPTION_RING_HASH_MIN_SIZE, 1);
    balancer.set_option(LB_OPTION_RING_HASH_MIN_SIZE, 8388608);
    // min must not exceed max, from either side.
    balancer.set_option(LB_OPTION_RING_HASH_MIN_SIZE, 1024);
    balancer.set_option(LB_OPTION_RING_HASH_MAX_SIZE, 2048);
    EXPECT_EQ(status_of([&] { balancer.set_option(LB_OPTION_RING_HASH_MIN_SIZE, 4096); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([&] { balancer.set_option(LB_OPTION_RING_HASH_MAX_SIZE, 512); }),
              LB_STATUS_INVALID_ARGUMENT);
    EXPECT_EQ(balancer.option(LB_OPTION_RING_HASH_MIN_SIZE), 1024.0);
    EXPECT_EQ(balancer.option(LB_OPTION_RING_HASH_MAX_SIZE), 2048.0);
    balancer.set_option(LB_OPTION_RING_HASH_MIN_SIZE, 2048);  // equal is fine

    // Keyed selection keeps working on the smallest table and a small ring.
    for (lb::Strategy s : kKeyed) {
        balancer.set_strategy(s);
        for (std::uint64_t key = 0; key < 20; key++) {
            const std::uint64_t id = keyed_id(balancer, key);
            EXPECT_EQ(keyed_id(balancer, key), id);
        }
    }
    expect_settled(balancer.stats());
}

// An ejection shows in the stats and in the instance's health (ABI 1.3).
TEST(Observability, EjectionShowsInStatsAndHealth) {
    lb::Balancer balancer = three_instances();
    balancer.set_option(LB_OPTION_CONSECUTIVE_FAILURES, 2);
    balancer.set_option(LB_OPTION_BASE_EJECTION_MS, 60000);
    for (int failed = 0; failed < 2;) {
        lb::Pick pick = balancer.select();
        if (pick.instance_id() == 2) {
            pick.failure(1ms);
            failed++;
        } else {
            pick.success(1ms);
        }
    }
    EXPECT_EQ(balancer.stats().ejections, 1u);
    const lb::Health ejected = balancer.health(2);
    EXPECT_EQ(ejected.state, LB_HEALTH_STATE_EJECTED);
    EXPECT_EQ(ejected.times_ejected, 1u);
    EXPECT_GT(ejected.cooldown_remaining_ms, 0u);
    EXPECT_LE(ejected.cooldown_remaining_ms, 60000u);
    EXPECT_EQ(balancer.health(1).state, LB_HEALTH_STATE_HEALTHY);
    EXPECT_STREQ(lb_strategy_str(LB_STRATEGY_PEAK_EWMA), "peak_ewma");
}

TEST(Observability, MetricsText) {
    lb::Balancer balancer = three_instances();
    for (int i = 0; i < 30; i++) {
        balancer.select().success(1ms);
    }
    const std::string text = balancer.metrics_text();
    EXPECT_NE(text.find("# TYPE lb_requests_total counter\nlb_requests_total 30\n"), std::string::npos);
    EXPECT_NE(text.find("lb_instance_requests_total{instance=\"3\"} 10\n"), std::string::npos);
    EXPECT_EQ(text.find('\0'), std::string::npos);
}
