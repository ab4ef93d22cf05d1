/* Regression checks, on the real clock, for promises of lb.h that a long idle
 * period, low traffic, a capacity of 0, a huge latency or the default seeding
 * once broke. Each block is the reproducer of one break. About 3 s. */
#define _POSIX_C_SOURCE 200809L
#include <lb.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static lb_balancer *one_instance(uint32_t capacity, double timeout_ms) {
    lb_balancer *lb = NULL;
    lb_instance inst = {1, 1, capacity};
    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_ROUND_ROBIN, &lb), LB_STATUS_OK);
    CHECK_STATUS(lb_set_option(lb, LB_OPTION_PICK_TIMEOUT_MS, timeout_ms), LB_STATUS_OK);
    CHECK_STATUS(lb_set_instances(lb, &inst, 1), LB_STATUS_OK);
    return lb;
}

/* Timeout 1 ms, 2.5 s (2 500 timeouts) of silence: every later pair is accepted. */
static void long_idle(uint32_t capacity) {
    lb_balancer *lb = one_instance(capacity, 1);
    lb_stats st;
    lb_pick p;
    unsigned refused = 0;
    sleep_us(2500000);
    CHECK_STATUS(lb_get_stats(lb, &st), LB_STATUS_OK);
    for (int i = 0; i < 200; i++) {
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        refused += lb_report(lb, &p, LB_OUTCOME_SUCCESS, 100) != LB_STATUS_OK;
    }
    CHECK(refused == 0);
    CHECK_STATUS(lb_get_stats(lb, &st), LB_STATUS_OK);
    CHECK(st.in_flight == 0 && st.successes == 200);
    lb_balancer_free(lb);
}

/* Timeout 50 ms, a request every 150 ms reported at once: none refused. */
static void low_traffic(void) {
    lb_balancer *lb = one_instance(0, 50);
    lb_pick p;
    unsigned refused = 0;
    for (int i = 0; i < 12; i++) {
        sleep_us(150000);
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        refused += lb_report(lb, &p, LB_OUTCOME_SUCCESS, 1) != LB_STATUS_OK;
    }
    CHECK(refused == 0);
    lb_balancer_free(lb);
}

/* Capacity 0 stops at LB_IN_FLIGHT_MAX with its own status; nothing else moves. */
static void in_flight_ceiling(void) {
    lb_balancer *lb = one_instance(0, 0);
    lb_pick p;
    lb_stats st;
    unsigned failed = 0;
    for (uint32_t i = 0; i < LB_IN_FLIGHT_MAX; i++) {
        failed += lb_select(lb, &p) != LB_STATUS_OK;
    }
    CHECK(failed == 0);
    CHECK_STATUS(lb_select(lb, &p), LB_STATUS_IN_FLIGHT_LIMIT);
    CHECK_STATUS(lb_get_stats(lb, &st), LB_STATUS_OK);
    CHECK(st.in_flight == LB_IN_FLIGHT_MAX && st.total_requests == LB_IN_FLIGHT_MAX);
    CHECK(strcmp(lb_status_str(LB_STATUS_IN_FLIGHT_LIMIT), "unknown status") != 0);
    lb_balancer_free(lb);
}

/* A latency of UINT64_MAX (a negative duration cast) is clamped and settles. */
static void huge_latency(void) {
    lb_balancer *lb = one_instance(0, 0);
    lb_pick p;
    lb_stats st;
    lb_health h;
    for (int i = 0; i < 20; i++) {
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        CHECK_STATUS(lb_report(lb, &p, LB_OUTCOME_SUCCESS, 1000), LB_STATUS_OK);
    }
    CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
    CHECK_STATUS(lb_report(lb, &p, LB_OUTCOME_SUCCESS, UINT64_MAX), LB_STATUS_OK);
    CHECK_STATUS(lb_get_stats(lb, &st), LB_STATUS_OK);
    double want = (20.0 * 1000.0 + (double)LB_MAX_LATENCY_US) / 21.0;
    CHECK(st.in_flight == 0 && st.successes == 21);
    CHECK(fabs(st.avg_latency_us - want) < 1e-6 * want);
    CHECK_STATUS(lb_get_health(lb, 1, &h), LB_STATUS_OK);
    CHECK(h.latency_ewma_us > 1000.0 && h.latency_ewma_us <= (double)LB_MAX_LATENCY_US);
    lb_balancer_free(lb);
}

/* The picks of a balancer over 16 instances with nothing reported, as ids. */
static void picks_of(lb_balancer *lb, uint64_t *ids, int n) {
    lb_instance set[16];
    for (int i = 0; i < 16; i++) {
        set[i] = (lb_instance){(uint64_t)i + 1, 1, 0};
    }
    CHECK_STATUS(lb_set_instances(lb, set, 16), LB_STATUS_OK);
    for (int i = 0; i < n; i++) {
        lb_pick p;
        CHECK_STATUS(lb_select(lb, &p), LB_STATUS_OK);
        ids[i] = p.instance_id;
    }
}

/* Default balancers draw distinct seeds; a seed replays; bad input is refused. */
static void seeding(void) {
    lb_balancer *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    uint64_t sa = 0, sb = 0, sc = 0, ia[64], ib[64], ic[64], id[64];
    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_WEIGHTED_RESPONSE_TIME, &a), LB_STATUS_OK);
    CHECK_STATUS(lb_balancer_new(LB_STRATEGY_WEIGHTED_RESPONSE_TIME, &b), LB_STATUS_OK);
    CHECK_STATUS(lb_get_seed(a, &sa), LB_STATUS_OK);
    CHECK_STATUS(lb_get_seed(b, &sb), LB_STATUS_OK);
    CHECK(sa != sb);
    picks_of(a, ia, 64);
    picks_of(b, ib, 64);
    CHECK(memcmp(ia, ib, sizeof ia) != 0);
    CHECK_STATUS(lb_balancer_new_seeded(LB_STRATEGY_WEIGHTED_RESPONSE_TIME, sa, &c),
                 LB_STATUS_OK);
    CHECK_STATUS(lb_balancer_new_seeded(LB_STRATEGY_WEIGHTED_RESPONSE_TIME, sa, &d),
                 LB_STATUS_OK);
    CHECK_STATUS(lb_get_seed(c, &sc), LB_STATUS_OK);
    CHECK(sc == sa);
    picks_of(c, ic, 64);
    picks_of(d, id, 64);
    CHECK(memcmp(ic, id, sizeof ic) == 0);
    /* Seed 0 is a seed like any other here. */
    lb_balancer *z = NULL;
    uint64_t sz = 1;
    CHECK_STATUS(lb_balancer_new_seeded(LB_STRATEGY_ROUND_ROBIN, 0, &z), LB_STATUS_OK);
    CHECK_STATUS(lb_get_seed(z, &sz), LB_STATUS_OK);
    CHECK(sz == 0);
    /* Bad input. */
    lb_balancer *bad = (lb_balancer *)&sz;
    CHECK_STATUS(lb_balancer_new_seeded(LB_STRATEGY_ROUND_ROBIN, 1, NULL), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_balancer_new_seeded(99, 1, &bad), LB_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    CHECK_STATUS(lb_get_seed(NULL, &sz), LB_STATUS_NULL_POINTER);
    CHECK_STATUS(lb_get_seed(a, NULL), LB_STATUS_NULL_POINTER);
    lb_balancer_free(a);
    lb_balancer_free(b);
    lb_balancer_free(c);
    lb_balancer_free(d);
    lb_balancer_free(z);
}

int main(void) {
    long_idle(0);
    long_idle(1);
    low_traffic();
    in_flight_ceiling();
    huge_latency();
    seeding();
    return check_summary("reliability");
}
