/*
 * Checks the struct layouts, value constants and version macros of lb.h against
 * the C ABI contract in lb.h. Built as C11 and as C++17; the static
 * assertions fail the build, the runtime checks the run.
 */
#include <lb.h>

#include <stddef.h>
#include <string.h>

#include "check.h"

#ifdef __cplusplus
#define LB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define LB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Every field at its contract offset: natural alignment, no hidden padding. */
#define FIELD(type, field, offset) \
    LB_STATIC_ASSERT(offsetof(type, field) == (offset), #type "." #field " offset")

LB_STATIC_ASSERT(sizeof(lb_status) == 4 && sizeof(lb_strategy) == 4 && sizeof(lb_outcome) == 4,
                 "value types are uint32_t");

FIELD(lb_instance, id, 0);
FIELD(lb_instance, weight, 8);
FIELD(lb_instance, capacity, 12);
LB_STATIC_ASSERT(sizeof(lb_instance) == 16, "sizeof lb_instance");

FIELD(lb_pick, instance_id, 0);
FIELD(lb_pick, private_, 8);
LB_STATIC_ASSERT(sizeof(lb_pick) == 32, "sizeof lb_pick");

FIELD(lb_stats, total_requests, 0);
FIELD(lb_stats, successes, 8);
FIELD(lb_stats, failures, 16);
FIELD(lb_stats, cancelled, 24);
FIELD(lb_stats, expired, 32);
FIELD(lb_stats, in_flight, 40);
FIELD(lb_stats, avg_latency_us, 48);
FIELD(lb_stats, instance_count, 56);
FIELD(lb_stats, healthy_count, 60);
FIELD(lb_stats, active_strategy, 64);
FIELD(lb_stats, reserved0, 68);
FIELD(lb_stats, strategy_switches, 72);
FIELD(lb_stats, adaptive_trials, 80);
FIELD(lb_stats, ejections, 88);
FIELD(lb_stats, events_dropped, 96);
FIELD(lb_stats, reserved, 104);
LB_STATIC_ASSERT(sizeof(lb_stats) == 144, "sizeof lb_stats");

FIELD(lb_health, instance_id, 0);
FIELD(lb_health, health_score, 8);
FIELD(lb_health, in_flight, 16);
FIELD(lb_health, requests, 24);
FIELD(lb_health, successes, 32);
FIELD(lb_health, failures, 40);
FIELD(lb_health, consecutive_failures, 48);
FIELD(lb_health, success_rate, 56);
FIELD(lb_health, latency_ewma_us, 64);
FIELD(lb_health, weight, 72);
FIELD(lb_health, capacity, 76);
FIELD(lb_health, healthy, 80);
FIELD(lb_health, state, 81);
FIELD(lb_health, reserved_bytes, 82);
FIELD(lb_health, times_ejected, 88);
FIELD(lb_health, cooldown_remaining_ms, 96);
FIELD(lb_health, reserved, 104);
LB_STATIC_ASSERT(sizeof(lb_health) == 152, "sizeof lb_health");

#define SIZE_OF_MEMBER(type, field) sizeof(((type *)0)->field)

int main(void) {
    /* The same facts at run time, so that a run shows them checked. */
    CHECK(sizeof(lb_instance) == 16);
    CHECK(sizeof(lb_pick) == 32);
    CHECK(sizeof(lb_stats) == 144);
    CHECK(sizeof(lb_health) == 152);
    CHECK(SIZE_OF_MEMBER(lb_pick, private_) == 3 * sizeof(uint64_t));
    CHECK(SIZE_OF_MEMBER(lb_stats, reserved) == 5 * sizeof(uint64_t));
    CHECK(sizeof(lb_event) == 48 && offsetof(lb_event, time_us) == 16 &&
          offsetof(lb_event, strategy_to) == 28 && offsetof(lb_event, reserved) == 32);
    CHECK(SIZE_OF_MEMBER(lb_health, healthy) == 1);
    CHECK(SIZE_OF_MEMBER(lb_health, state) == 1);
    CHECK(SIZE_OF_MEMBER(lb_health, reserved_bytes) == 6);
    CHECK(SIZE_OF_MEMBER(lb_health, reserved) == 6 * sizeof(uint64_t));
    CHECK(SIZE_OF_MEMBER(lb_stats, avg_latency_us) == sizeof(double));
    CHECK(SIZE_OF_MEMBER(lb_health, success_rate) == sizeof(double));
    CHECK(offsetof(lb_stats, strategy_switches) == 72);
    CHECK(offsetof(lb_health, reserved) == 104);
    CHECK(LB_HEALTH_STATE_HEALTHY == 0 && LB_HEALTH_STATE_EJECTED == 1 && LB_HEALTH_STATE_ON_TRIAL == 2);

    /* Values fixed by the contract. */
    CHECK(LB_STATUS_OK == 0);
    CHECK(LB_STATUS_NULL_POINTER == 1);
    CHECK(LB_STATUS_INVALID_ARGUMENT == 2);
    CHECK(LB_STATUS_NO_INSTANCE == 3);
    CHECK(LB_STATUS_UNKNOWN_INSTANCE == 4);
    CHECK(LB_STATUS_DUPLICATE_INSTANCE == 5);
    CHECK(LB_STATUS_INVALID_PICK == 6);
    CHECK(LB_STATUS_BUFFER_TOO_SMALL == 7);
    CHECK(LB_STATUS_INTERNAL == 255);
    CHECK(LB_STRATEGY_ROUND_ROBIN == 0);
    CHECK(LB_STRATEGY_LEAST_CONNECTIONS == 1);
    CHECK(LB_STRATEGY_WEIGHTED_RESPONSE_TIME == 2);
    CHECK(LB_STRATEGY_ADAPTIVE == 3);
    CHECK(LB_STRATEGY_LEAST_REQUEST == 4);
    CHECK(LB_STRATEGY_PEAK_EWMA == 5);
    CHECK(LB_OUTCOME_SUCCESS == 0);
    CHECK(LB_OUTCOME_FAILURE == 1);
    CHECK(LB_OUTCOME_CANCELLED == 2);

    /* The options the contract names exist, and all options are distinct. */
    {
        const unsigned options[] = {
            LB_OPTION_PICK_TIMEOUT_MS,         LB_OPTION_PANIC_THRESHOLD,
            LB_OPTION_UNHEALTHY_THRESHOLD,     LB_OPTION_CONSECUTIVE_FAILURES,
            LB_OPTION_MIN_SAMPLES,             LB_OPTION_BASE_EJECTION_MS,
            LB_OPTION_MAX_EJECTION_MS,         LB_OPTION_RECOVERY_SUCCESSES,
            LB_OPTION_TRIAL_RATIO,             LB_OPTION_LATENCY_TAU_MS,
            LB_OPTION_HEALTH_WINDOW_MS,        LB_OPTION_LATENCY_OUTLIER_RATIO,
            LB_OPTION_FAILURE_PENALTY_FACTOR,  LB_OPTION_ADAPTIVE_WINDOW_REQUESTS,
            LB_OPTION_ADAPTIVE_MIN_WINDOW_MS,  LB_OPTION_ADAPTIVE_MAX_WINDOW_MS,
            LB_OPTION_ADAPTIVE_HYSTERESIS,     LB_OPTION_MAINTENANCE_INTERVAL_MS,
            LB_OPTION_CLOCK_REFRESH_OPS,       LB_OPTION_CHOICE_COUNT,
            LB_OPTION_ACTIVE_REQUEST_BIAS,     LB_OPTION_PEAK_EWMA_TAU_MS,
            LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS, LB_OPTION_SLOW_START_WINDOW_MS,
            LB_OPTION_SLOW_START_AGGRESSION,   LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT,
        };
        const size_t n = sizeof options / sizeof options[0];
        int distinct = 1;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                distinct = distinct && options[i] != options[j];
            }
        }
        CHECK(distinct);
    }

    /* The version macros agree with each other, with the library, and with
     * Cargo.toml's version, which the build passes in as EXPECTED_VERSION. */
    {
        char built[32];
        snprintf(built, sizeof built, "%d.%d.%d", LB_VERSION_MAJOR, LB_VERSION_MINOR,
                 LB_VERSION_PATCH);
        CHECK(strcmp(built, LB_VERSION_STRING) == 0);
        CHECK(strcmp(lb_version(), LB_VERSION_STRING) == 0);
#ifdef EXPECTED_VERSION
        CHECK(strcmp(LB_VERSION_STRING, EXPECTED_VERSION) == 0);
#else
#error "build with -DEXPECTED_VERSION='\"x.y.z\"' (the version in Cargo.toml)"
#endif
    }
    return check_summary("layout");
}
