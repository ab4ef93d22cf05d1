/*
 * Stress test of lb through its C ABI, with pthreads: WORKERS threads select and
 * report (out of order, with every outcome, some picks with exclusions) while a
 * churn thread keeps replacing the instance set, setting health scores, switching
 * strategies and changing options, and a reader thread keeps reading the totals
 * (lb_get_stats), single instances (lb_get_health), the whole set
 * (lb_get_all_health) and options (lb_get_option), checking what must hold of
 * every single read (see reader()). Every worker runs a fixed number of
 * operations; the churn and reader threads run until they are done (and at least
 * MIN_CHURN_ROUNDS / MIN_READER_ROUNDS rounds). Maintenance runs every 1 to 10 ms
 * and adaptive evaluates short windows, so that expiry, health evaluation, weight
 * refresh and strategy switches run among the selects and reports many times per
 * run instead of once or twice. At the end every pick has been reported, so
 * lb_get_stats must show 0 in flight, total_requests == successes + failures +
 * cancelled, and exactly the counts the threads saw; every instance must show 0
 * in flight.
 *
 * The program is also the ThreadSanitizer workload of tests/tsan.sh. The threads
 * share nothing but the balancer and atomics: CHECK (check.h) is not thread-safe,
 * so the churn and reader threads count their errors and main checks the counts.
 *
 * Usage: stress [operations per worker]   (default 250000)
 */
#define _POSIX_C_SOURCE 200809L

#include <lb.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

enum { WORKERS = 4, MAX_HELD = 16, MAX_ID = 16, MIN_CHURN_ROUNDS = 500, MIN_READER_ROUNDS = 200 };

static lb_balancer *lb;
static unsigned long ops_per_worker = 250000;
static atomic_int workers_done;
/* Set by the churn thread once it has installed its first non-empty set (round 1;
 * round 0 installs an empty one): workers and reader wait for it, so that a
 * slow-starting churn thread cannot leave the workers only refused selects. */
static atomic_int started_gate;
static unsigned churn_rounds;
static unsigned reader_rounds;

typedef struct worker_result {
    uint64_t selected, no_instance, successes, failures, cancelled;
    uint64_t select_errors, report_errors; /* any other status: a bug */
} worker_result;

static uint64_t next_random(uint64_t *state) {
    /* xorshift64* */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void report_one(lb_pick *pick, uint64_t *rng, worker_result *r) {
    uint64_t roll = next_random(rng) % 10;
    lb_outcome outcome = roll < 7 ? LB_OUTCOME_SUCCESS
                         : roll < 9 ? LB_OUTCOME_FAILURE
                                    : LB_OUTCOME_CANCELLED;
    lb_status status = lb_report(lb, pick, outcome, 50 + next_random(rng) % 5000);
    if (status != LB_STATUS_OK) {
        r->report_errors++;
        fprintf(stderr, "lb_report: %s\n", lb_status_str(status));
        return;
    }
    if (outcome == LB_OUTCOME_SUCCESS) {
        r->successes++;
    } else if (outcome == LB_OUTCOME_FAILURE) {
        r->failures++;
    } else {
        r->cancelled++;
    }
}

static void wait_for_start(void) {
    while (!atomic_load(&started_gate)) {
        sched_yield();
    }
}

static void *worker(void *arg) {
    worker_result *r = (worker_result *)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)arg;
    lb_pick held[MAX_HELD];
    size_t n_held = 0;
    wait_for_start();
    for (unsigned long op = 0; op < ops_per_worker; op++) {
        uint64_t roll = next_random(&rng);
        if (n_held < MAX_HELD && (n_held == 0 || roll % 2 == 0)) {
            lb_status status;
            if (roll % 8 == 1) {
                const uint64_t exclude[2] = {1 + next_random(&rng) % MAX_ID,
                                             1 + next_random(&rng) % MAX_ID};
                status = lb_select_excluding(lb, exclude, 2, &held[n_held]);
            } else {
                status = lb_select(lb, &held[n_held]);
            }
            if (status == LB_STATUS_OK) {
                r->selected++;
                n_held++;
            } else if (status == LB_STATUS_NO_INSTANCE) {
                r->no_instance++;
            } else {
                r->select_errors++;
                fprintf(stderr, "lb_select: %s\n", lb_status_str(status));
            }
        } else {
            /* Report a random held pick: out of selection order. */
            size_t i = (size_t)(next_random(&rng) % n_held);
            report_one(&held[i], &rng, r);
            held[i] = held[--n_held];
        }
    }
    while (n_held > 0) {
        report_one(&held[--n_held], &rng, r);
    }
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

static void *churn(void *arg) {
    unsigned *errors = (unsigned *)arg;
    uint64_t rng = 0xC0FFEEULL;
    unsigned round = 0;
    for (; round < MIN_CHURN_ROUNDS || atomic_load(&workers_done) < WORKERS; round++) {
        lb_instance set[MAX_ID];
        size_t n = 0;
        /* Mostly large sets; now and then an empty or single-instance one. */
        uint64_t keep = round % 97 == 0 ? 0 : next_random(&rng) | (round % 5 == 0 ? 0 : 0xFFF0);
        for (uint64_t id = 1; id <= MAX_ID; id++) {
            if (keep & (1ULL << (id - 1))) {
                set[n].id = id;
                set[n].weight = 1 + (uint32_t)(next_random(&rng) % 5);
                set[n].capacity = next_random(&rng) % 3 == 0 ? 2 + (uint32_t)(next_random(&rng) % 40) : 0;
                n++;
            }
        }
        lb_status status = lb_set_instances(lb, n ? set : NULL, n);
        if (status != LB_STATUS_OK) {
            (*errors)++;
            fprintf(stderr, "lb_set_instances: %s\n", lb_status_str(status));
        }
        for (int k = 0; k < 4; k++) {
            uint64_t id = 1 + next_random(&rng) % MAX_ID;
            /* Mostly healthy scores, now and then one low enough to eject. */
            double score = (double)(next_random(&rng) % 1001) / 1000.0;
            if (next_random(&rng) % 5 != 0) {
                score = 0.6 + 0.4 * score;
            }
            status = lb_set_health_score(lb, id, score);
            if (status != LB_STATUS_OK && status != LB_STATUS_UNKNOWN_INSTANCE) {
                (*errors)++;
                fprintf(stderr, "lb_set_health_score: %s\n", lb_status_str(status));
            }
        }
        if (round == 1) {
            atomic_store(&started_gate, 1);
        }
        if (round % 50 == 0) {
            status = lb_set_strategy(lb, (lb_strategy)(next_random(&rng) % 6));
            if (status != LB_STATUS_OK) {
                (*errors)++;
                fprintf(stderr, "lb_set_strategy: %s\n", lb_status_str(status));
            }
            status = lb_set_option(lb, LB_OPTION_PANIC_THRESHOLD,
                                   (double)(next_random(&rng) % 11) / 10.0);
            if (status != LB_STATUS_OK) {
                (*errors)++;
                fprintf(stderr, "lb_set_option: %s\n", lb_status_str(status));
            }
            status = lb_set_option(lb, LB_OPTION_MAINTENANCE_INTERVAL_MS,
                                   (double)(1 + next_random(&rng) % 10));
            if (status != LB_STATUS_OK) {
                (*errors)++;
                fprintf(stderr, "lb_set_option: %s\n", lb_status_str(status));
            }
        }
        if (round % 10 == 0) {
            lb_stats stats;
            lb_health all[MAX_ID];
            size_t count = 0;
            status = lb_get_stats(lb, &stats);
            if (status != LB_STATUS_OK) {
                (*errors)++;
            }
            status = lb_get_all_health(lb, all, MAX_ID, &count);
            if (status != LB_STATUS_OK) {
                (*errors)++;
            }
        }
        sched_yield();
    }
    churn_rounds = round;
    return NULL;
}

/* Counts a broken invariant of one read (the reader cannot use CHECK). */
#define READER_EXPECT(cond)                                                          \
    do {                                                                             \
        if (!(cond)) {                                                               \
            (*errors)++;                                                             \
            fprintf(stderr, "%s:%d: reader: expected %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* What must hold of one instance read while everything else runs: the churn
 * thread only ever sets ids 1..MAX_ID, weights 1..5, capacities 0 or 2..41 and
 * scores in 0..1. */
static void check_health(const lb_health *h, unsigned *errors) {
    READER_EXPECT(h->instance_id >= 1 && h->instance_id <= MAX_ID);
    READER_EXPECT(h->health_score >= 0.0 && h->health_score <= 1.0);
    READER_EXPECT(h->success_rate >= 0.0 && h->success_rate <= 1.0);
    READER_EXPECT(h->weight >= 1 && h->weight <= 5);
    READER_EXPECT(h->capacity == 0 || (h->capacity >= 2 && h->capacity <= 41));
    READER_EXPECT(h->healthy == 0 || h->healthy == 1);
}

/* Reads everything a monitoring thread would, as fast as it can, until the
 * workers are done. Checks only what holds of each read under concurrent
 * traffic: the totals are read one after the other (lb.h), so no equation
 * between them is checked here, only that total_requests never goes back. */
static void *reader(void *arg) {
    unsigned *errors = (unsigned *)arg;
    uint64_t rng = 0xBADC0DEULL;
    uint64_t last_total = 0;
    unsigned round = 0;
    wait_for_start();
    for (; round < MIN_READER_ROUNDS || atomic_load(&workers_done) < WORKERS; round++) {
        lb_stats stats;
        lb_status status = lb_get_stats(lb, &stats);
        READER_EXPECT(status == LB_STATUS_OK);
        if (status == LB_STATUS_OK) {
            READER_EXPECT(stats.total_requests >= last_total);
            last_total = stats.total_requests;
            READER_EXPECT(stats.instance_count <= MAX_ID);
            READER_EXPECT(stats.healthy_count <= stats.instance_count);
            READER_EXPECT(stats.active_strategy <= LB_STRATEGY_PEAK_EWMA &&
                          stats.active_strategy != LB_STRATEGY_ADAPTIVE);
            READER_EXPECT(stats.expired == 0);
        }

        uint64_t id = 1 + next_random(&rng) % MAX_ID;
        lb_health one;
        status = lb_get_health(lb, id, &one);
        READER_EXPECT(status == LB_STATUS_OK || status == LB_STATUS_UNKNOWN_INSTANCE);
        if (status == LB_STATUS_OK) {
            READER_EXPECT(one.instance_id == id);
            check_health(&one, errors);
        }

        lb_health all[MAX_ID];
        size_t count = 0;
        status = lb_get_all_health(lb, all, MAX_ID, &count);
        READER_EXPECT(status == LB_STATUS_OK);
        if (status == LB_STATUS_OK) {
            READER_EXPECT(count <= MAX_ID);
            uint32_t seen = 0; /* one snapshot: no id twice */
            for (size_t i = 0; i < count && i < MAX_ID; i++) {
                check_health(&all[i], errors);
                uint32_t bit = 1u << ((all[i].instance_id - 1) % MAX_ID);
                READER_EXPECT((seen & bit) == 0);
                seen |= bit;
            }
        }

        double threshold = -1.0;
        status = lb_get_option(lb, LB_OPTION_PANIC_THRESHOLD, &threshold);
        READER_EXPECT(status == LB_STATUS_OK);
        READER_EXPECT(threshold >= 0.0 && threshold <= 1.0);
        if (round % 4 == 0) {
            sched_yield();
        }
    }
    reader_rounds = round;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        ops_per_worker = strtoul(argv[1], NULL, 10);
    }
    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_ADAPTIVE, &lb), LB_STATUS_OK);
    if (lb == NULL) {
        return check_summary("stress");
    }
    /* Frequent maintenance and short adaptive windows (see the top of the file). */
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_MAINTENANCE_INTERVAL_MS, 1), LB_STATUS_OK);
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_ADAPTIVE_MIN_WINDOW_MS, 5), LB_STATUS_OK);
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_ADAPTIVE_WINDOW_REQUESTS, 500), LB_STATUS_OK);
    pthread_t workers[WORKERS], churner, reading;
    worker_result results[WORKERS];
    memset(results, 0, sizeof results);
    unsigned churn_errors = 0, reader_errors = 0;
    int started = pthread_create(&churner, NULL, churn, &churn_errors) == 0;
    CHECK(started);
    if (!started) {
        atomic_store(&started_gate, 1);
    }
    int reader_started = pthread_create(&reading, NULL, reader, &reader_errors) == 0;
    CHECK(reader_started);
    for (int i = 0; i < WORKERS; i++) {
        CHECK(pthread_create(&workers[i], NULL, worker, &results[i]) == 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(workers[i], NULL);
    }
    if (started) {
        pthread_join(churner, NULL);
    }
    if (reader_started) {
        pthread_join(reading, NULL);
    }
    CHECK(churn_errors == 0);
    CHECK(reader_errors == 0);

    worker_result sum;
    memset(&sum, 0, sizeof sum);
    for (int i = 0; i < WORKERS; i++) {
        sum.selected += results[i].selected;
        sum.no_instance += results[i].no_instance;
        sum.successes += results[i].successes;
        sum.failures += results[i].failures;
        sum.cancelled += results[i].cancelled;
        sum.select_errors += results[i].select_errors;
        sum.report_errors += results[i].report_errors;
    }
    CHECK(sum.select_errors == 0);
    CHECK(sum.report_errors == 0);
    /* The run did something. How many selects find no instance depends on how long
     * the churner's small or unhealthy sets last, which varies with scheduling
     * (223k to 340k picks seen for 250k ops per worker), so the bar is low. */
    CHECK(sum.selected > ops_per_worker / 4);

    lb_stats stats;
    CHECK_STATUS(lb_get_stats(lb, &stats), LB_STATUS_OK);
    printf("stress: %" PRIu64 " picks (%" PRIu64 " refused: no instance), %" PRIu64
           " successes, %" PRIu64 " failures, %" PRIu64 " cancelled, %" PRIu64
           " strategy switches, %u set changes, %u reader rounds\n",
           stats.total_requests, sum.no_instance, stats.successes, stats.failures,
           stats.cancelled, stats.strategy_switches, churn_rounds, reader_rounds);
    CHECK(stats.in_flight == 0);
    CHECK(stats.total_requests == stats.successes + stats.failures + stats.cancelled);
    CHECK(stats.total_requests == sum.selected);
    CHECK(stats.successes == sum.successes);
    CHECK(stats.failures == sum.failures);
    CHECK(stats.cancelled == sum.cancelled);
    CHECK(stats.expired == 0);

    lb_health all[MAX_ID];
    size_t count = 0;
    CHECK_STATUS(lb_get_all_health(lb, all, MAX_ID, &count), LB_STATUS_OK);
    CHECK(count == stats.instance_count);
    for (size_t i = 0; i < count && i < MAX_ID; i++) {
        CHECK(all[i].in_flight == 0);
        CHECK(all[i].successes + all[i].failures <= all[i].requests);
    }
    lb_balancer_free(lb);
    return check_summary("stress");
}
