// Tests of the C++ wrapper lb.hpp (and, through it, of lb's C ABI).
#include <lb.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
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
        lb::Balancer balancer(static_cast<lb::Strategy>(7));
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
