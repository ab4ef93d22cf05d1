/*
 * Bad input through lb's C ABI: every case returns its documented status and
 * leaves the balancer's state exactly as it was (checked by comparing snapshots
 * of lb_get_stats, lb_get_all_health and every option before and after).
 * Covers: NULL for every pointer parameter; unknown, duplicate and zero-weight
 * instances; count > 0 with a NULL array; NaN, infinite and out-of-range health
 * scores and option values; unknown strategy, outcome and option values; zeroed,
 * bit-flipped, forged, foreign and expired picks; lb_select and lb_select_key on
 * an empty set; a Maglev table size that is not a prime; an
 * array too short for lb_get_all_health; the same pick reported twice.
 */
#define _POSIX_C_SOURCE 200809L

#include <lb.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MAX_SET 8

/* ---- snapshots of everything a caller can observe ---- */

typedef struct option_spec {
    lb_option id;
    const char *name;
    double min, max;
    int min_open, max_open, whole;
    double def;
} option_spec;

/* The ranges and defaults as include/lb.h documents them. */
static const option_spec OPTIONS[] = {
    {LB_OPTION_PICK_TIMEOUT_MS, "PICK_TIMEOUT_MS", 0, 4294967295.0, 0, 0, 1, 300000},
    {LB_OPTION_PANIC_THRESHOLD, "PANIC_THRESHOLD", 0, 1, 0, 0, 0, 0.5},
    {LB_OPTION_UNHEALTHY_THRESHOLD, "UNHEALTHY_THRESHOLD", 0, 1, 1, 0, 0, 0.5},
    {LB_OPTION_CONSECUTIVE_FAILURES, "CONSECUTIVE_FAILURES", 1, 1000000, 0, 0, 1, 5},
    {LB_OPTION_MIN_SAMPLES, "MIN_SAMPLES", 1, 1000000, 0, 0, 1, 10},
    {LB_OPTION_BASE_EJECTION_MS, "BASE_EJECTION_MS", 1, 86400000, 0, 0, 1, 5000},
    {LB_OPTION_MAX_EJECTION_MS, "MAX_EJECTION_MS", 1, 86400000, 0, 0, 1, 300000},
    {LB_OPTION_RECOVERY_SUCCESSES, "RECOVERY_SUCCESSES", 1, 10000, 0, 0, 1, 5},
    {LB_OPTION_TRIAL_RATIO, "TRIAL_RATIO", 0, 1, 1, 0, 0, 0.02},
    {LB_OPTION_LATENCY_TAU_MS, "LATENCY_TAU_MS", 1, 3600000, 0, 0, 0, 2000},
    {LB_OPTION_HEALTH_WINDOW_MS, "HEALTH_WINDOW_MS", 1, 3600000, 0, 0, 0, 10000},
    {LB_OPTION_LATENCY_OUTLIER_RATIO, "LATENCY_OUTLIER_RATIO", 1, 1000000, 1, 0, 0, 10},
    {LB_OPTION_FAILURE_PENALTY_FACTOR, "FAILURE_PENALTY_FACTOR", 1, 1000000, 0, 0, 0, 5},
    {LB_OPTION_ADAPTIVE_WINDOW_REQUESTS, "ADAPTIVE_WINDOW_REQUESTS", 10, 10000000, 0, 0, 1, 2000},
    {LB_OPTION_ADAPTIVE_MIN_WINDOW_MS, "ADAPTIVE_MIN_WINDOW_MS", 1, 3600000, 0, 0, 1, 1000},
    {LB_OPTION_ADAPTIVE_MAX_WINDOW_MS, "ADAPTIVE_MAX_WINDOW_MS", 1, 3600000, 0, 0, 1, 30000},
    {LB_OPTION_ADAPTIVE_HYSTERESIS, "ADAPTIVE_HYSTERESIS", 0, 1, 0, 1, 0, 0.1},
    {LB_OPTION_MAINTENANCE_INTERVAL_MS, "MAINTENANCE_INTERVAL_MS", 1, 60000, 0, 0, 1, 100},
    {LB_OPTION_CLOCK_REFRESH_OPS, "CLOCK_REFRESH_OPS", 1, 65536, 0, 0, 1, 64},
    {LB_OPTION_CHOICE_COUNT, "CHOICE_COUNT", 2, 8, 0, 0, 1, 2},
    {LB_OPTION_ACTIVE_REQUEST_BIAS, "ACTIVE_REQUEST_BIAS", 0, 10, 0, 0, 0, 1},
    {LB_OPTION_PEAK_EWMA_TAU_MS, "PEAK_EWMA_TAU_MS", 1, 3600000, 0, 0, 0, 10000},
    {LB_OPTION_PEAK_EWMA_DEFAULT_LATENCY_MS, "PEAK_EWMA_DEFAULT_LATENCY_MS", 0.001, 3600000, 0, 0,
     0, 30},
    {LB_OPTION_SLOW_START_WINDOW_MS, "SLOW_START_WINDOW_MS", 0, 3600000, 0, 0, 1, 30000},
    {LB_OPTION_SLOW_START_AGGRESSION, "SLOW_START_AGGRESSION", 0, 100, 1, 0, 0, 1},
    {LB_OPTION_SLOW_START_MIN_WEIGHT_PERCENT, "SLOW_START_MIN_WEIGHT_PERCENT", 0, 100, 0, 0, 0, 10},
    {LB_OPTION_MAGLEV_TABLE_SIZE, "MAGLEV_TABLE_SIZE", 17, 5000011, 0, 0, 1, 65537},
    {LB_OPTION_RING_HASH_MIN_SIZE, "RING_HASH_MIN_SIZE", 1, 8388608, 0, 0, 1, 1024},
    {LB_OPTION_RING_HASH_MAX_SIZE, "RING_HASH_MAX_SIZE", 1, 8388608, 0, 0, 1, 8388608},
    {LB_OPTION_HASH_BALANCE_FACTOR, "HASH_BALANCE_FACTOR", 0, 10000, 0, 0, 1, 0},
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

typedef struct snapshot {
    lb_stats stats;
    size_t count;
    lb_health health[MAX_SET];
    double options[N_OPTIONS];
} snapshot;

static void take(lb_balancer *lb, snapshot *s) {
    memset(s, 0, sizeof *s);
    if (lb_get_stats(lb, &s->stats) != LB_STATUS_OK ||
        lb_get_all_health(lb, s->health, MAX_SET, &s->count) != LB_STATUS_OK) {
        s->count = (size_t)-1;
    }
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (lb_get_option(lb, OPTIONS[i].id, &s->options[i]) != LB_STATUS_OK) {
            s->options[i] = -1;
        }
    }
}

/* Equal in everything, except that a health score may differ in its last bits:
 * lb recomputes scores from time-decayed averages, so two reads a moment apart can
 * round differently without anything having happened. */
static int same(const snapshot *a, const snapshot *b) {
    if (memcmp(&a->stats, &b->stats, sizeof a->stats) != 0 || a->count != b->count ||
        memcmp(a->options, b->options, sizeof a->options) != 0) {
        return 0;
    }
    for (size_t i = 0; i < a->count && i < MAX_SET; i++) {
        lb_health x = a->health[i], y = b->health[i];
        if (fabs(x.health_score - y.health_score) > 1e-9) {
            return 0;
        }
        x.health_score = y.health_score = 0;
        if (memcmp(&x, &y, sizeof x) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Runs `call`, expects `expected`, and checks that nothing observable changed. */
#define CHECK_REFUSED(lb, call, expected)   \
    do {                                    \
        snapshot before_, after_;           \
        take((lb), &before_);               \
        CHECK_STATUS(call, expected);       \
        take((lb), &after_);                \
        CHECK(same(&before_, &after_));     \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static lb_balancer *new_balancer(void) {
    lb_balancer *lb = NULL;
    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_ROUND_ROBIN, &lb), LB_STATUS_OK);
    CHECK(lb != NULL);
    return lb;
}

/* A balancer with instances 1, 2, 3 and a little history (12 pairs). Then refused
 * reports, which change nothing but count towards this thread's clock refresh,
 * until the thread has read the clock: the maintenance pass due from the start (it
 * scores the instances' health) has then run before a case takes its "before"
 * snapshot, instead of between "before" and "after" at a case's refused calls. */
static lb_balancer *busy_balancer(void) {
    lb_balancer *lb = new_balancer();
    const lb_instance set[] = {{1, 1, 0}, {2, 3, 10}, {3, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, set, 3), LB_STATUS_OK);
    for (int i = 0; i < 12; i++) {
        lb_pick p;
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        CHECK_STATUS(lb_report(lb, &p, (lb_outcome)(i % 3), 100 + (uint64_t)i), LB_STATUS_OK);
    }
    double refresh_ops = 0;
    CHECK_STATUS(lb_get_option(lb, LB_OPTION_CLOCK_REFRESH_OPS, &refresh_ops), LB_STATUS_OK);
    lb_pick zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    for (int i = 0; i < 2 * (int)refresh_ops; i++) {
        CHECK_STATUS(lb_report(lb, &zeroed, LB_OUTCOME_SUCCESS, 1), LB_STATUS_INVALID_PICK);
    }
    return lb;
}

/* ---- the cases ---- */

static void null_pointers(void) {
    lb_balancer *lb = busy_balancer();
    lb_pick pick;
    lb_stats stats;
    lb_health health;
    lb_health all[MAX_SET];
    size_t count = 0;
    double value = 0;
    const lb_instance set[] = {{7, 1, 0}};
    const uint64_t ids[] = {1};

    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_ROUND_ROBIN, NULL), LB_STATUS_NULL_POINTER);
    lb_balancer_free(NULL); /* a no-op */
    CHECK_STATUS(lb_set_strategy(NULL, LB_STRATEGY_ROUND_ROBIN), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_set_instances(NULL, set, 1), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_set_instances(lb, NULL, 1), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_set_instances(lb, NULL, SIZE_MAX), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_set_health_score(NULL, 1, 1.0), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_select(NULL, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select(lb, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_select_excluding(NULL, ids, 1, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select_excluding(lb, NULL, 1, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select_excluding(lb, ids, 1, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_select_key(NULL, 7, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select_key(lb, 7, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_select_key_excluding(NULL, 7, ids, 1, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select_key_excluding(lb, 7, NULL, 1, &pick), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_select_key_excluding(lb, 7, ids, 1, NULL), LB_STATUS_NULL_POINTER);
    CHECK(lb_hash_bytes(NULL, 5) == 0);
    CHECK(lb_hash_bytes(NULL, 0) == lb_hash_bytes("", 0));
    CHECK_STATUS(lb_report(NULL, &pick, LB_OUTCOME_SUCCESS, 1), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_report(lb, NULL, LB_OUTCOME_SUCCESS, 1), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_get_stats(NULL, &stats), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_get_stats(lb, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_get_health(NULL, 1, &health), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_get_health(lb, 1, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_get_all_health(NULL, all, MAX_SET, &count), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_get_all_health(lb, NULL, MAX_SET, &count), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_get_all_health(lb, all, MAX_SET, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_set_option(NULL, LB_OPTION_PANIC_THRESHOLD, 0.5), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_get_option(NULL, LB_OPTION_PANIC_THRESHOLD, &value), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_get_option(lb, LB_OPTION_PANIC_THRESHOLD, NULL), LB_STATUS_NULL_POINTER);

    /* NULL arrays are fine with a count of 0. */
    CHECK_STATUS(lb_select_excluding(lb, NULL, 0, &pick), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 5), LB_STATUS_OK);
    CHECK_STATUS(lb_select_key_excluding(lb, 7, NULL, 0, &pick), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 5), LB_STATUS_OK);
    CHECK_STATUS(lb_get_all_health(lb, NULL, 0, &count), LB_STATUS_BUFFER_TOO_SMALL);
    CHECK(count == 3);
    CHECK_STATUS(lb_set_instances(lb, NULL, 0), LB_STATUS_OK);
    CHECK_STATUS(lb_get_all_health(lb, NULL, 0, &count), LB_STATUS_OK);
    CHECK(count == 0);
    lb_balancer_free(lb);
}

static void bad_instances(void) {
    lb_balancer *lb = busy_balancer();
    const lb_instance duplicate[] = {{1, 1, 0}, {9, 1, 0}, {1, 2, 0}};
    const lb_instance zero_weight[] = {{1, 1, 0}, {9, 0, 0}};
    const lb_instance only_zero[] = {{4, 0, 5}};
    CHECK_REFUSED(lb, lb_set_instances(lb, duplicate, 3), LB_STATUS_DUPLICATE_INSTANCE);
    CHECK_REFUSED(lb, lb_set_instances(lb, zero_weight, 2), LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_set_instances(lb, only_zero, 1), LB_STATUS_INVALID_ARGUMENT);

    /* Unknown ids. */
    lb_health health;
    CHECK_REFUSED(lb, lb_set_health_score(lb, 99, 0.5), LB_STATUS_UNKNOWN_INSTANCE);
    CHECK_REFUSED(lb, lb_get_health(lb, 99, &health), LB_STATUS_UNKNOWN_INSTANCE);
    CHECK_REFUSED(lb, lb_get_health(lb, 0, &health), LB_STATUS_UNKNOWN_INSTANCE);
    CHECK_STATUS(lb_get_health(lb, 2, &health), LB_STATUS_OK);
    CHECK(health.instance_id == 2 && health.weight == 3 && health.capacity == 10);

    /* Excluding unknown ids is not an error. */
    const uint64_t unknown[] = {42, 43};
    lb_pick pick;
    CHECK_STATUS(lb_select_excluding(lb, unknown, 2, &pick), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_CANCELLED, 0), LB_STATUS_OK);
    lb_balancer_free(lb);
}

static void bad_health_scores(void) {
    lb_balancer *lb = busy_balancer();
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, -0.01, 1.01, -1e300, 1e300, 2.0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_REFUSED(lb, lb_set_health_score(lb, 1, bad[i]), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_health_score(lb, 99, bad[i]), LB_STATUS_INVALID_ARGUMENT);
    }
    lb_health health;
    CHECK_STATUS(lb_set_health_score(lb, 1, 0.0), LB_STATUS_OK);
    CHECK_STATUS(lb_set_health_score(lb, 1, 1.0), LB_STATUS_OK);
    CHECK_STATUS(lb_get_health(lb, 1, &health), LB_STATUS_OK);
    lb_balancer_free(lb);
}

static double below(const option_spec *o) {
    if (o->min_open) {
        return o->min;
    }
    return o->whole ? o->min - 1 : o->min - fmax(1e-6, fabs(o->min) * 1e-6);
}

static double above(const option_spec *o) {
    if (o->max_open) {
        return o->max;
    }
    return o->whole ? o->max + 1 : o->max + fmax(1e-6, fabs(o->max) * 1e-6);
}

static double lowest_allowed(const option_spec *o) {
    return o->min_open ? o->min + (o->whole ? 1 : 1e-6) : o->min;
}

static double highest_allowed(const option_spec *o) {
    return o->max_open ? o->max - (o->whole ? 1 : 1e-6) : o->max;
}

static void bad_options(void) {
    lb_balancer *lb = busy_balancer();
    double value = -1;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_spec *o = &OPTIONS[i];
        CHECK_STATUS(lb_get_option(lb, o->id, &value), LB_STATUS_OK);
        if (value != o->def) {
            fprintf(stderr, "option %s: default %g, documented %g\n", o->name, value, o->def);
        }
        CHECK(value == o->def);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, NAN), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, INFINITY), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, -INFINITY), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, below(o)), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, above(o)), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, -1e300), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, 1e300), LB_STATUS_INVALID_ARGUMENT);
        if (o->whole) {
            CHECK_REFUSED(lb, lb_set_option(lb, o->id, o->def + 0.5), LB_STATUS_INVALID_ARGUMENT);
        }
        /* Setting the default again is accepted and changes nothing. */
        CHECK_REFUSED(lb, lb_set_option(lb, o->id, o->def), LB_STATUS_OK);
    }
    /* Options that depend on another one. */
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_BASE_EJECTION_MS, 300001),
                  LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_MAX_EJECTION_MS, 4999),
                  LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_ADAPTIVE_MIN_WINDOW_MS, 30001),
                  LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_ADAPTIVE_MAX_WINDOW_MS, 999),
                  LB_STATUS_INVALID_ARGUMENT);
    /* The ring's minimum may reach its maximum, not pass it. */
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_RING_HASH_MIN_SIZE, 8388608), LB_STATUS_OK);
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_RING_HASH_MIN_SIZE, 1024), LB_STATUS_OK);
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_RING_HASH_MAX_SIZE, 1023),
                  LB_STATUS_INVALID_ARGUMENT);
    /* The Maglev table size must be a prime as well as in range. */
    const double not_prime[] = {18, 65536, 65535, 5000000};
    for (size_t i = 0; i < sizeof not_prime / sizeof not_prime[0]; i++) {
        CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_MAGLEV_TABLE_SIZE, not_prime[i]),
                      LB_STATUS_INVALID_ARGUMENT);
    }
    CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_MAGLEV_TABLE_SIZE, 65537), LB_STATUS_OK);
    /* The balance factor is 0 (off) or at least 100. */
    const double not_a_factor[] = {1, 50, 99};
    for (size_t i = 0; i < sizeof not_a_factor / sizeof not_a_factor[0]; i++) {
        CHECK_REFUSED(lb, lb_set_option(lb, LB_OPTION_HASH_BALANCE_FACTOR, not_a_factor[i]),
                      LB_STATUS_INVALID_ARGUMENT);
    }
    /* Unknown options. */
    const lb_option unknown[] = {0, (lb_option)N_OPTIONS + 1, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_REFUSED(lb, lb_set_option(lb, unknown[i], 1.0), LB_STATUS_INVALID_ARGUMENT);
        CHECK_REFUSED(lb, lb_get_option(lb, unknown[i], &value), LB_STATUS_INVALID_ARGUMENT);
    }
    lb_balancer_free(lb);

    /* Each documented range end is accepted and read back. Lower ends in option
     * order (a base before its maximum), upper ends in reverse order. */
    lb_balancer *low = new_balancer();
    lb_balancer *high = new_balancer();
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option_spec *lo = &OPTIONS[i];
        const option_spec *hi = &OPTIONS[N_OPTIONS - 1 - i];
        CHECK_STATUS(lb_set_option(low, lo->id, lowest_allowed(lo)), LB_STATUS_OK);
        CHECK_STATUS(lb_get_option(low, lo->id, &value), LB_STATUS_OK);
        CHECK(value == lowest_allowed(lo));
        CHECK_STATUS(lb_set_option(high, hi->id, highest_allowed(hi)), LB_STATUS_OK);
        CHECK_STATUS(lb_get_option(high, hi->id, &value), LB_STATUS_OK);
        CHECK(value == highest_allowed(hi));
    }
    lb_balancer_free(low);
    lb_balancer_free(high);
}

static void bad_enums(void) {
    lb_balancer *out = (lb_balancer *)&out; /* not NULL: must be reset */
    CHECK_STATUS(lb_balancer_new(8, &out), LB_STATUS_INVALID_ARGUMENT);
    CHECK(out == NULL);
    CHECK_STATUS(lb_balancer_new(UINT32_MAX, &out), LB_STATUS_INVALID_ARGUMENT);
    CHECK(out == NULL);

    lb_balancer *lb = busy_balancer();
    CHECK_REFUSED(lb, lb_set_strategy(lb, 8), LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_set_strategy(lb, UINT32_MAX), LB_STATUS_INVALID_ARGUMENT);

    lb_pick pick;
    CHECK_STATUS(lb_select(lb, &pick), LB_STATUS_OK);
    CHECK_REFUSED(lb, lb_report(lb, &pick, 3, 10), LB_STATUS_INVALID_ARGUMENT);
    CHECK_REFUSED(lb, lb_report(lb, &pick, UINT32_MAX, 10), LB_STATUS_INVALID_ARGUMENT);
    /* The refused report left the pick outstanding: it still reports once. */
    CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);

    /* Status text for every value, known or not. */
    int all_texts = 1;
    for (lb_status s = 0; s < 300; s++) {
        const char *text = lb_status_str(s);
        all_texts = all_texts && text != NULL && text[0] != '\0';
    }
    CHECK(all_texts);
    CHECK(lb_status_str(UINT32_MAX) != NULL);
    CHECK(strcmp(lb_status_str(9), lb_status_str(UINT32_MAX)) == 0); /* 9: not (yet) a status */
    CHECK(strcmp(lb_status_str(LB_STATUS_OK), lb_status_str(LB_STATUS_INVALID_PICK)) != 0);
    lb_balancer_free(lb);
}

static void bad_picks(void) {
    lb_balancer *lb = busy_balancer();
    lb_pick genuine;
    CHECK_STATUS(lb_select(lb, &genuine), LB_STATUS_OK);

    lb_pick zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    CHECK_REFUSED(lb, lb_report(lb, &zeroed, LB_OUTCOME_SUCCESS, 1), LB_STATUS_INVALID_PICK);

    /* Every single-bit flip of a genuine pick. */
    unsigned refused = 0;
    snapshot before, after;
    take(lb, &before);
    for (unsigned bit = 0; bit < 8 * sizeof(lb_pick); bit++) {
        lb_pick flipped = genuine;
        ((unsigned char *)&flipped)[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (lb_report(lb, &flipped, LB_OUTCOME_FAILURE, 1) == LB_STATUS_INVALID_PICK) {
            refused++;
        } else {
            fprintf(stderr, "a pick with bit %u flipped was accepted\n", bit);
        }
    }
    take(lb, &after);
    CHECK(refused == 8 * sizeof(lb_pick));
    CHECK(same(&before, &after));

    /* Forged picks: a real instance id with made-up private words. */
    uint64_t x = 0x243F6A8885A308D3ULL;
    refused = 0;
    for (unsigned i = 0; i < 2000; i++) {
        lb_pick forged;
        forged.instance_id = 1 + i % 3;
        for (int w = 0; w < 3; w++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            forged.private_[w] = i % 2 ? x : genuine.private_[w] ^ ((x & 0xFF) | (w == 0));
        }
        if (lb_report(lb, &forged, LB_OUTCOME_SUCCESS, 1) == LB_STATUS_INVALID_PICK) {
            refused++;
        }
    }
    take(lb, &after);
    CHECK(refused == 2000);
    CHECK(same(&before, &after));

    /* A pick from a second balancer with the same instances. */
    lb_balancer *other = busy_balancer();
    lb_pick foreign;
    CHECK_STATUS(lb_select(other, &foreign), LB_STATUS_OK);
    CHECK_REFUSED(lb, lb_report(lb, &foreign, LB_OUTCOME_SUCCESS, 1), LB_STATUS_INVALID_PICK);
    CHECK_STATUS(lb_report(other, &foreign, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);
    lb_balancer_free(other);

    /* After all that, the genuine pick still reports, once. */
    CHECK_STATUS(lb_report(lb, &genuine, LB_OUTCOME_SUCCESS, 7), LB_STATUS_OK);
    lb_stats stats;
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.in_flight == 0);
    CHECK(stats.total_requests == stats.successes + stats.failures + stats.cancelled);
    lb_balancer_free(lb);
}

static void expired_picks(void) {
    lb_balancer *lb = busy_balancer();
    lb_stats stats;
    lb_health health;
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_PICK_TIMEOUT_MS, 5), LB_STATUS_OK);
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_CLOCK_REFRESH_OPS, 1), LB_STATUS_OK);
    lb_pick late, later;
    CHECK_STATUS(lb_select(lb, &late), LB_STATUS_OK);
    CHECK_STATUS(lb_select(lb, &later), LB_STATUS_OK);
    sleep_ms(60); /* many timeouts of silence */
    /* The first clock read after the silence steps the expiry clock once (a pick
     * could have been made just before it, and must get a full timeout), so
     * nothing has expired yet. */
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.in_flight == 2);
    CHECK(stats.expired == 0);
    sleep_ms(6); /* a timeout after that step */

    /* Reported before anything else made lb look at the clock. Reports count
     * towards the per-thread clock refresh (LB_OPTION_CLOCK_REFRESH_OPS calls),
     * so with a refresh on every call the expiry is seen at once. */
    lb_status first = lb_report(lb, &late, LB_OUTCOME_SUCCESS, 10);
    CHECK_STATUS(first, LB_STATUS_INVALID_PICK);
    /* The stats apply expiry before they answer. */
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.in_flight == 0);
    CHECK(stats.expired == 2u);
    CHECK(stats.total_requests == stats.successes + stats.failures + stats.cancelled);
    CHECK_STATUS(lb_get_health(lb, later.instance_id, &health), LB_STATUS_OK);
    CHECK(health.in_flight == 0);
    /* Once expiry has been applied, a late report is refused and changes nothing. */
    CHECK_REFUSED(lb, lb_report(lb, &later, LB_OUTCOME_SUCCESS, 10), LB_STATUS_INVALID_PICK);
    CHECK_REFUSED(lb, lb_report(lb, &later, LB_OUTCOME_FAILURE, 10), LB_STATUS_INVALID_PICK);

    /* With traffic going on, expiry happens without asking for stats: every call
     * here reads the clock, and two timeouts of traffic step it twice. */
    lb_pick stale;
    CHECK_STATUS(lb_select(lb, &stale), LB_STATUS_OK);
    sleep_ms(150);
    for (int i = 0; i < 20; i++) {
        lb_pick p;
        sleep_ms(1);
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        CHECK_STATUS(lb_report(lb, &p, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    }
    CHECK_STATUS(lb_report(lb, &stale, LB_OUTCOME_SUCCESS, 10), LB_STATUS_INVALID_PICK);
    lb_balancer_free(lb);
}

static void empty_set_and_short_array(void) {
    lb_balancer *lb = new_balancer();
    lb_pick pick;
    memset(&pick, 0xAB, sizeof pick);
    CHECK_REFUSED(lb, lb_select(lb, &pick), LB_STATUS_NO_INSTANCE);
    lb_pick zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&pick, &zero, sizeof pick) == 0); /* zeroed on failure */
    const uint64_t ids[] = {1};
    CHECK_REFUSED(lb, lb_select_excluding(lb, ids, 1, &pick), LB_STATUS_NO_INSTANCE);
    CHECK_REFUSED(lb, lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 1), LB_STATUS_INVALID_PICK);
    lb_balancer_free(lb);

    lb = busy_balancer();
    /* Every instance at capacity: nothing selectable. */
    const lb_instance one[] = {{5, 1, 1}};
    CHECK_STATUS(lb_set_instances(lb, one, 1), LB_STATUS_OK);
    lb_pick held;
    CHECK_STATUS(lb_select(lb, &held), LB_STATUS_OK);
    CHECK_REFUSED(lb, lb_select(lb, &pick), LB_STATUS_NO_INSTANCE);
    CHECK_STATUS(lb_report(lb, &held, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);

    const lb_instance three[] = {{1, 1, 0}, {2, 1, 0}, {3, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, three, 3), LB_STATUS_OK);
    lb_health all[MAX_SET];
    memset(all, 0x5A, sizeof all);
    unsigned char untouched[sizeof all];
    memcpy(untouched, all, sizeof all);
    size_t count = 0;
    CHECK_REFUSED(lb, lb_get_all_health(lb, all, 2, &count), LB_STATUS_BUFFER_TOO_SMALL);
    CHECK(count == 3);
    CHECK(memcmp(all, untouched, sizeof all) == 0);
    CHECK_STATUS(lb_get_all_health(lb, all, 3, &count), LB_STATUS_OK);
    CHECK(count == 3 && all[0].instance_id == 1 && all[1].instance_id == 2 &&
          all[2].instance_id == 3);
    lb_balancer_free(lb);
}

static void duplicate_reports(void) {
    lb_balancer *lb = new_balancer();
    /* With no other pick of the instance outstanding, a second report is always
     * detected (documented at lb_report) and changes nothing. */
    const lb_instance single[] = {{9, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, single, 1), LB_STATUS_OK);
    lb_pick once;
    CHECK_STATUS(lb_select(lb, &once), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &once, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    CHECK_REFUSED(lb, lb_report(lb, &once, LB_OUTCOME_SUCCESS, 10), LB_STATUS_INVALID_PICK);
    CHECK_REFUSED(lb, lb_report(lb, &once, LB_OUTCOME_FAILURE, 10), LB_STATUS_INVALID_PICK);
    lb_balancer_free(lb);

    /* Several picks of the same instances outstanding: duplicates may go
     * undetected, but the totals still add up once everything is settled. */
    lb = new_balancer();
    const lb_instance set[] = {{1, 1, 0}, {2, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, set, 2), LB_STATUS_OK);
    lb_pick picks[6];
    for (int i = 0; i < 6; i++) {
        CHECK_STATUS(lb_select(lb, &picks[i]), LB_STATUS_OK);
    }
    /* Report the first pick twice right away, then every pick once more. */
    unsigned detected = 0;
    CHECK_STATUS(lb_report(lb, &picks[0], LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    lb_status again = lb_report(lb, &picks[0], LB_OUTCOME_SUCCESS, 10);
    CHECK(again == LB_STATUS_OK || again == LB_STATUS_INVALID_PICK);
    detected += again == LB_STATUS_INVALID_PICK;
    for (int i = 1; i < 6; i++) {
        lb_status s = lb_report(lb, &picks[i], LB_OUTCOME_FAILURE, 10);
        /* Where a duplicate went undetected, another report of the same
         * instance may be refused instead. */
        CHECK(s == LB_STATUS_OK || s == LB_STATUS_INVALID_PICK);
    }
    for (int i = 0; i < 6; i++) {
        lb_status s = lb_report(lb, &picks[i], LB_OUTCOME_CANCELLED, 0);
        CHECK(s == LB_STATUS_OK || s == LB_STATUS_INVALID_PICK);
        detected += s == LB_STATUS_INVALID_PICK;
    }
    printf("duplicate reports: %u of 7 detected\n", detected);

    lb_stats stats;
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.total_requests == 6);
    CHECK(stats.in_flight == 0);
    CHECK(stats.total_requests == stats.successes + stats.failures + stats.cancelled);
    lb_health all[2];
    size_t count = 0;
    CHECK_STATUS(lb_get_all_health(lb, all, 2, &count), LB_STATUS_OK);
    for (size_t i = 0; i < count; i++) {
        CHECK(all[i].in_flight == 0);
        CHECK(all[i].successes + all[i].failures <= all[i].requests);
    }
    /* The balancer still works normally. */
    lb_pick p;
    CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &p, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.in_flight == 0 && stats.total_requests == 7);
    lb_balancer_free(lb);
}

static void removed_instances(void) {
    lb_balancer *lb = new_balancer();
    const lb_instance set[] = {{1, 1, 0}};
    const lb_instance other[] = {{2, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, set, 1), LB_STATUS_OK);
    lb_pick a, b;
    CHECK_STATUS(lb_select(lb, &a), LB_STATUS_OK);
    CHECK_STATUS(lb_select(lb, &b), LB_STATUS_OK);
    CHECK_STATUS(lb_set_instances(lb, other, 1), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &a, LB_OUTCOME_SUCCESS, 10), LB_STATUS_OK);
    /* Re-added: a new instance, which the old pick never touches. */
    CHECK_STATUS(lb_set_instances(lb, set, 1), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &b, LB_OUTCOME_FAILURE, 10), LB_STATUS_OK);
    lb_health health;
    CHECK_STATUS(lb_get_health(lb, 1, &health), LB_STATUS_OK);
    CHECK(health.requests == 0 && health.failures == 0 && health.in_flight == 0);
    lb_stats stats;
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.total_requests == 2 && stats.successes == 1 && stats.failures == 1);
    CHECK(stats.in_flight == 0);
    lb_balancer_free(lb);
}

/* The strategies added in 1.2 run: select and report with each, and switch to each. */
static void new_strategies(void) {
    const lb_strategy strategies[] = {LB_STRATEGY_LEAST_REQUEST, LB_STRATEGY_PEAK_EWMA};
    for (size_t i = 0; i < 2; i++) {
        lb_balancer *lb = NULL;
        CHECK_STATUS(lb_balancer_new(strategies[i], &lb), LB_STATUS_OK);
        lb_instance set[] = {{.id = 1, .weight = 1}, {.id = 2, .weight = 3}, {.id = 3, .weight = 1}};
        CHECK_STATUS(lb_set_instances(lb, set, 3), LB_STATUS_OK);
        for (int k = 0; k < 100; k++) {
            lb_pick pick;
            CHECK_STATUS(lb_select(lb, &pick), LB_STATUS_OK);
            CHECK(pick.instance_id >= 1 && pick.instance_id <= 3);
            CHECK_STATUS(lb_report(lb, &pick, k % 7 ? LB_OUTCOME_SUCCESS : LB_OUTCOME_FAILURE, 100),
                         LB_STATUS_OK);
        }
        lb_stats stats;
        CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
        CHECK(stats.active_strategy == strategies[i]);
        CHECK(stats.total_requests == 100 && stats.in_flight == 0);
        CHECK_STATUS(lb_set_strategy(lb, strategies[1 - i]), LB_STATUS_OK);
        CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
        CHECK(stats.active_strategy == strategies[1 - i]);
        lb_balancer_free(lb);
    }
}

/* The hashing strategies through the C ABI: the same key to the same instance,
 * a fallback while it is unhealthy, keys ignored by other strategies, the shared
 * hash vector, and an empty set. */
static void hashing(void) {
    const lb_strategy strategies[] = {LB_STRATEGY_MAGLEV, LB_STRATEGY_RING_HASH};
    for (size_t i = 0; i < 2; i++) {
        lb_balancer *lb = NULL;
        CHECK_STATUS(lb_balancer_new(strategies[i], &lb), LB_STATUS_OK);
        lb_pick pick;
        CHECK_REFUSED(lb, lb_select_key(lb, 1, &pick), LB_STATUS_NO_INSTANCE);
        CHECK(pick.instance_id == 0);
        lb_instance set[] = {{.id = 1, .weight = 1}, {.id = 2, .weight = 3}, {.id = 3, .weight = 1},
                             {.id = 4, .weight = 1}};
        CHECK_STATUS(lb_set_instances(lb, set, 4), LB_STATUS_OK);
        uint64_t home[64];
        int same = 1, moved_off = 1;
        for (uint64_t k = 0; k < 64; k++) {
            CHECK_STATUS(lb_select_key(lb, k, &pick), LB_STATUS_OK);
            home[k] = pick.instance_id;
            CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
            CHECK_STATUS(lb_select_key(lb, k, &pick), LB_STATUS_OK);
            same = same && pick.instance_id == home[k];
            CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
            const uint64_t tried[] = {home[k]};
            CHECK_STATUS(lb_select_key_excluding(lb, k, tried, 1, &pick), LB_STATUS_OK);
            moved_off = moved_off && pick.instance_id != home[k];
            CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
        }
        CHECK(same);
        CHECK(moved_off);
        CHECK_STATUS(lb_set_health_score(lb, 2, 0.0), LB_STATUS_OK);
        int avoided = 1, back = 1;
        for (uint64_t k = 0; k < 64; k++) {
            CHECK_STATUS(lb_select_key(lb, k, &pick), LB_STATUS_OK);
            avoided = avoided && pick.instance_id != 2 && (home[k] == 2 || pick.instance_id == home[k]);
            CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
        }
        CHECK(avoided);
        CHECK_STATUS(lb_set_health_score(lb, 2, 1.0), LB_STATUS_OK);
        for (uint64_t k = 0; k < 64; k++) {
            CHECK_STATUS(lb_select_key(lb, k, &pick), LB_STATUS_OK);
            back = back && pick.instance_id == home[k];
            CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
        }
        CHECK(back);
        lb_stats stats;
        CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
        CHECK(stats.active_strategy == strategies[i]);
        CHECK(stats.in_flight == 0 && stats.total_requests == 64 * 5);
        /* A plain select runs round robin. */
        CHECK_STATUS(lb_select(lb, &pick), LB_STATUS_OK);
        CHECK_STATUS(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), LB_STATUS_OK);
        lb_balancer_free(lb);
    }
    /* Keys are ignored by the other strategies: round robin moves on. */
    lb_balancer *rr = new_balancer();
    lb_instance two[] = {{.id = 1, .weight = 1}, {.id = 2, .weight = 1}};
    CHECK_STATUS(lb_set_instances(rr, two, 2), LB_STATUS_OK);
    lb_pick a, b;
    CHECK_STATUS(lb_select_key(rr, 5, &a), LB_STATUS_OK);
    CHECK_STATUS(lb_select_key(rr, 5, &b), LB_STATUS_OK);
    CHECK(a.instance_id != b.instance_id);
    CHECK_STATUS(lb_report(rr, &a, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);
    CHECK_STATUS(lb_report(rr, &b, LB_OUTCOME_SUCCESS, 1), LB_STATUS_OK);
    lb_balancer_free(rr);
    /* The published XXH3-64 of the empty input. */
    CHECK(lb_hash_bytes("", 0) == UINT64_C(0x2d06800538d394c2));
}

/* The shared hash vector (tests/vectors/hash_bytes.txt, which the Rust, C++ and Go
 * tests read too): every row's input hashes to its value. */
static void hash_vector(const char *path) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return;
    }
    static char line[4096];
    static unsigned char bytes[2048];
    int rows = 0, all_match = 1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        char *space = strchr(line, ' ');
        CHECK(space != NULL);
        if (space == NULL) {
            break;
        }
        *space = '\0';
        size_t len = 0;
        if (strcmp(line, "-") != 0) {
            for (const char *h = line; h[0] != '\0' && h[1] != '\0' && len < sizeof bytes; h += 2) {
                char pair[3] = {h[0], h[1], '\0'};
                bytes[len++] = (unsigned char)strtoul(pair, NULL, 16);
            }
        }
        uint64_t want = strtoull(space + 1, NULL, 16);
        all_match = all_match && lb_hash_bytes(bytes, len) == want;
        rows++;
    }
    fclose(f);
    CHECK(all_match);
    CHECK(rows == 6);
}

/* Strategies and options by name: every name lb has maps to its constant, in
 * any buffer (not NUL-terminated), and nothing else does. */
static void names(void) {
    static const struct {
        const char *name;
        lb_strategy value;
    } strategies[] = {
        {"round_robin", LB_STRATEGY_ROUND_ROBIN},
        {"least_connections", LB_STRATEGY_LEAST_CONNECTIONS},
        {"weighted_response_time", LB_STRATEGY_WEIGHTED_RESPONSE_TIME},
        {"adaptive", LB_STRATEGY_ADAPTIVE},
        {"least_request", LB_STRATEGY_LEAST_REQUEST},
        {"peak_ewma", LB_STRATEGY_PEAK_EWMA},
        {"maglev", LB_STRATEGY_MAGLEV},
        {"ring_hash", LB_STRATEGY_RING_HASH},
    };
    int all = 1;
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        lb_strategy got = 99;
        char buf[64];
        size_t len = strlen(strategies[i].name);
        memcpy(buf, strategies[i].name, len);
        buf[len] = 'X'; /* not NUL-terminated: the length counts */
        all = all && lb_strategy_from_name(buf, len, &got) == LB_STATUS_OK &&
              got == strategies[i].value &&
              strcmp(lb_strategy_str(strategies[i].value), strategies[i].name) == 0;
    }
    CHECK(all);
    all = 1;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char lower[64];
        size_t len = strlen(OPTIONS[i].name);
        for (size_t k = 0; k < len; k++) {
            char c = OPTIONS[i].name[k];
            lower[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        lb_option got = 0;
        all = all && lb_option_from_name(lower, len, &got) == LB_STATUS_OK && got == OPTIONS[i].id;
    }
    CHECK(all);
    lb_strategy s = 42;
    lb_option o = 42;
    const char *bad[] = {"", "Round_Robin", "round_robin ", "roundrobin", "lb_strategy_round_robin",
                         "\xff\xfe"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(lb_strategy_from_name(bad[i], strlen(bad[i]), &s), LB_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(lb_option_from_name(bad[i], strlen(bad[i]), &o), LB_STATUS_INVALID_ARGUMENT);
    }
    CHECK_STATUS(lb_option_from_name("CHOICE_COUNT", 12, &o), LB_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(lb_option_from_name("choice_count", 6, &o), LB_STATUS_INVALID_ARGUMENT);
    CHECK(s == 42 && o == 42); /* unchanged on failure */
    CHECK_STATUS(lb_strategy_from_name(NULL, 3, &s), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_strategy_from_name("maglev", 6, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_option_from_name(NULL, 3, &o), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_option_from_name("choice_count", 12, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_strategy_from_name(NULL, 0, &s), LB_STATUS_INVALID_ARGUMENT);
    CHECK(s == 42);
    CHECK(strcmp(lb_strategy_str(8), "unknown strategy") == 0);
    CHECK(strcmp(lb_strategy_str(UINT32_MAX), "unknown strategy") == 0);
}

/* The metrics text: the size query, a short buffer (nothing written), the text
 * with its NUL, and NULLs. */
static void metrics(void) {
    lb_balancer *lb = busy_balancer();
    size_t needed = 0;
    CHECK_REFUSED(lb, lb_metrics_text(lb, NULL, 0, &needed), LB_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed > 100);
    static char text[65536];
    memset(text, 'x', sizeof text);
    size_t again = 0;
    CHECK_REFUSED(lb, lb_metrics_text(lb, text, needed - 1, &again), LB_STATUS_BUFFER_TOO_SMALL);
    CHECK(text[0] == 'x' && again == needed);
    CHECK_REFUSED(lb, lb_metrics_text(lb, text, sizeof text, &again), LB_STATUS_OK);
    CHECK(again == needed && strlen(text) + 1 == needed);
    CHECK(strstr(text, "# TYPE lb_requests_total counter\nlb_requests_total 12\n") != NULL);
    CHECK(strstr(text, "lb_instance_weight{instance=\"2\"} 3\n") != NULL);
    CHECK_STATUS(lb_metrics_text(NULL, text, sizeof text, &needed), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_metrics_text(lb, text, sizeof text, NULL), LB_STATUS_NULL_POINTER);
    CHECK_REFUSED(lb, lb_metrics_text(lb, NULL, 10, &needed), LB_STATUS_NULL_POINTER);
    lb_balancer_free(lb);
}

/* The event queue from C: an ejection arrives, polling removes it, and the
 * argument checks. */
static void events(void) {
    lb_balancer *lb = new_balancer();
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_CONSECUTIVE_FAILURES, 2), LB_STATUS_OK);
    const lb_instance set[] = {{1, 1, 0}, {2, 1, 0}, {3, 1, 0}};
    CHECK_STATUS(lb_set_instances(lb, set, 3), LB_STATUS_OK);
    for (int failed = 0; failed < 2;) {
        lb_pick p;
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        int fail = p.instance_id == 2;
        failed += fail;
        CHECK_STATUS(lb_report(lb, &p, fail ? LB_OUTCOME_FAILURE : LB_OUTCOME_SUCCESS, 10),
                     LB_STATUS_OK);
    }
    size_t n = 99;
    CHECK_STATUS(lb_poll_events(lb, NULL, 0, &n), LB_STATUS_OK);
    CHECK(n == 0); /* capacity 0 removes nothing */
    lb_event ev[4];
    memset(ev, 0xAB, sizeof ev);
    CHECK_STATUS(lb_poll_events(lb, ev, 4, &n), LB_STATUS_OK);
    CHECK(n == 1 && ev[0].kind == LB_EVENT_EJECTED && ev[0].instance_id == 2);
    CHECK(ev[0].reserved0 == 0 && ev[0].strategy_from == 0 && ev[0].reserved[0] == 0);
    CHECK(ev[1].kind == 0xABABABABu); /* only n elements written */
    CHECK_STATUS(lb_poll_events(lb, ev, 4, &n), LB_STATUS_OK);
    CHECK(n == 0);
    CHECK_STATUS(lb_poll_events(NULL, ev, 4, &n), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_poll_events(lb, ev, 4, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_poll_events(lb, NULL, 4, &n), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_poll_events(lb, ev, SIZE_MAX, &n), LB_STATUS_INVALID_ARGUMENT);
    lb_stats stats;
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    CHECK(stats.ejections == 1 && stats.events_dropped == 0);
    lb_balancer_free(lb);
}

int main(int argc, char **argv) {
    null_pointers();
    bad_instances();
    bad_health_scores();
    bad_options();
    bad_enums();
    new_strategies();
    hashing();
    hash_vector(argc > 1 ? argv[1] : "../../tests/vectors/hash_bytes.txt");
    names();
    metrics();
    events();
    bad_picks();
    expired_picks();
    empty_set_and_short_array();
    duplicate_reports();
    removed_instances();
    return check_summary("bad_input");
}
