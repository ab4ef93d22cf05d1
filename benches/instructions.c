/* Select + report pairs through the C ABI, for counting instructions per pair
 * under callgrind (benches/instructions.sh runs it).
 *
 *   instructions STRATEGY N PAIRS [FACTOR]
 *
 * STRATEGY is an LB_STRATEGY_* value, N the number of instances (weight 1,
 * unlimited capacity). The hashing strategies (Maglev, ring hash) select with
 * lb_select_key, pair i with key i (so the keys cover every instance), under
 * LB_OPTION_HASH_BALANCE_FACTOR = FACTOR (default 0, off). One warm-up pair makes the thread's state, so that two
 * runs differing only in PAIRS difference out everything but the pairs.
 * Maintenance is moved out of the measured window (every 60 s).
 *
 * The clock is virtual, so that the count does not depend on how fast the run
 * goes. This program defines clock_gettime (the function lb's clock calls; liblb.a
 * is linked statically, so lb's calls bind to it), and each call moves the time
 * on by NS_PER_READ nanoseconds (environment), by default 30 ns for each pair
 * between two reads. lb reads the clock every LB_OPTION_CLOCK_REFRESH_OPS calls
 * of a thread, a fixed number of pairs, so the time per pair is fixed too: the
 * program prints it (30 ns by default, a thread doing nothing but pairs). Work
 * on the request path that is due by time, such as a latency average's decay
 * step (due once latency_tau_ms / 1024 has passed since the instance's last one),
 * then happens
 * as often as on a machine where a pair takes that long. With the real clock it
 * would happen as often as callgrind's speed made it: at n = 1024 an instance
 * sees one report in 1024, and the slower the run, the more of them step. */
#define _POSIX_C_SOURCE 199309L
#include <lb.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long virtual_ns = 1000000000ULL;
/* Virtual time per pair unless NS_PER_READ is set. */
#define NS_PER_PAIR 30ULL
static unsigned long long ns_per_read = NS_PER_PAIR;
static unsigned long long clock_reads;

int clock_gettime(clockid_t clock, struct timespec *ts) {
    (void)clock;
    virtual_ns += ns_per_read;
    clock_reads++;
    ts->tv_sec = (time_t)(virtual_ns / 1000000000ULL);
    ts->tv_nsec = (long)(virtual_ns % 1000000000ULL);
    return 0;
}

static void must(lb_status s, const char *what) {
    if (s != LB_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", what, lb_status_str(s));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s STRATEGY N PAIRS [FACTOR]\n", argv[0]);
        return 2;
    }
    lb_strategy strategy = (lb_strategy)strtoul(argv[1], NULL, 10);
    size_t n = strtoul(argv[2], NULL, 10);
    unsigned long pairs = strtoul(argv[3], NULL, 10);
    double factor = argc == 5 ? strtod(argv[4], NULL) : 0;
    int keyed = strategy == LB_STRATEGY_MAGLEV || strategy == LB_STRATEGY_RING_HASH;
    lb_instance *set = calloc(n, sizeof *set);
    if (set == NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        set[i].id = i + 1;
        set[i].weight = 1;
    }
    lb_balancer *lb = NULL;
    must(lb_balancer_new_seeded(strategy, 1, &lb), "lb_balancer_new_seeded");
    must(lb_set_option(lb, LB_OPTION_MAINTENANCE_INTERVAL_MS, 60000), "lb_set_option");
    must(lb_set_option(lb, LB_OPTION_HASH_BALANCE_FACTOR, factor), "lb_set_option");
    must(lb_set_instances(lb, set, n), "lb_set_instances");
    /* A select and a report each count one call, so a thread doing pairs reads
     * the clock once every LB_OPTION_CLOCK_REFRESH_OPS / 2 pairs. */
    double refresh_ops = 0;
    must(lb_get_option(lb, LB_OPTION_CLOCK_REFRESH_OPS, &refresh_ops), "lb_get_option");
    unsigned long long pairs_per_read = refresh_ops >= 2 ? (unsigned long long)refresh_ops / 2 : 1;
    ns_per_read = NS_PER_PAIR * pairs_per_read;
    const char *per_read = getenv("NS_PER_READ");
    if (per_read != NULL) {
        ns_per_read = strtoull(per_read, NULL, 10);
    }
    lb_pick pick;
    must(lb_select(lb, &pick), "lb_select");
    must(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100), "lb_report");
    /* Two loops, so that the plain one is exactly the loop of earlier versions
     * (the count includes it: 17 instructions a pair). */
    if (keyed) {
        for (unsigned long i = 0; i < pairs; i++) {
            must(lb_select_key(lb, i, &pick), "lb_select_key");
            must(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100 + (i & 63)), "lb_report");
        }
    } else {
        for (unsigned long i = 0; i < pairs; i++) {
            must(lb_select(lb, &pick), "lb_select");
            must(lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100 + (i & 63)), "lb_report");
        }
    }
    fprintf(stderr, "virtual time per pair: %.1f ns (%llu clock reads)\n",
            pairs ? (double)clock_reads * (double)ns_per_read / (double)pairs : 0.0, clock_reads);
    lb_balancer_free(lb);
    free(set);
    return 0;
}
