/*
 * A plain C11 client of lb: three backends, a few hundred requests, a retry that
 * avoids the backend that just failed, and the statistics at the end.
 *
 * Build (installed lb):  cc -std=c11 client.c $(pkg-config --cflags --libs lb)
 */
#include <lb.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stands in for sending a request: backend 3 fails one request in four. */
static int send_request(uint64_t backend, unsigned n, uint64_t *latency_us) {
    *latency_us = 200 + 100 * backend + (n % 7) * 10;
    return !(backend == 3 && n % 4 == 0);
}

static int check(lb_status status, const char *what) {
    if (status != LB_STATUS_OK) {
        fprintf(stderr, "%s: %s (%u)\n", what, lb_status_str(status), (unsigned)status);
        return 0;
    }
    return 1;
}

int main(void) {
    lb_balancer *lb = NULL;
    if (!check(lb_balancer_new(LB_STRATEGY_LEAST_CONNECTIONS, &lb), "lb_balancer_new")) {
        return EXIT_FAILURE;
    }
    if (strcmp(lb_version(), LB_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s but library %s\n", LB_VERSION_STRING, lb_version());
        lb_balancer_free(lb);
        return EXIT_FAILURE;
    }

    const lb_instance backends[] = {
        {.id = 1, .weight = 1, .capacity = 0},
        {.id = 2, .weight = 2, .capacity = 0},
        {.id = 3, .weight = 1, .capacity = 100},
    };
    int ok = check(lb_set_instances(lb, backends, sizeof backends / sizeof backends[0]),
                   "lb_set_instances");
    ok = ok && check(lb_set_option(lb, LB_OPTION_PICK_TIMEOUT_MS, 30000.0), "lb_set_option");

    unsigned retries = 0;
    for (unsigned n = 0; ok && n < 600; n++) {
        lb_pick pick;
        if (!check(lb_select(lb, &pick), "lb_select")) {
            ok = 0;
            break;
        }
        uint64_t latency = 0;
        int served = send_request(pick.instance_id, n, &latency);
        ok = check(lb_report(lb, &pick, served ? LB_OUTCOME_SUCCESS : LB_OUTCOME_FAILURE,
                             latency),
                   "lb_report");
        if (ok && !served) {
            /* Retry once, elsewhere if anything else can serve. */
            const uint64_t tried[] = {pick.instance_id};
            lb_pick retry;
            ok = check(lb_select_excluding(lb, tried, 1, &retry), "lb_select_excluding");
            if (ok) {
                retries++;
                served = send_request(retry.instance_id, n + 1, &latency);
                ok = check(lb_report(lb, &retry,
                                     served ? LB_OUTCOME_SUCCESS : LB_OUTCOME_FAILURE, latency),
                           "lb_report");
            }
        }
    }

    lb_stats stats;
    ok = ok && check(lb_get_stats(lb, &stats), "lb_get_stats");
    if (ok) {
        printf("lb %s: %" PRIu64 " requests, %" PRIu64 " served, %" PRIu64 " failed, %u retries, "
               "mean latency %.0f us\n",
               lb_version(), stats.total_requests, stats.successes, stats.failures, retries,
               stats.avg_latency_us);
        lb_health health[3];
        size_t count = 0;
        ok = check(lb_get_all_health(lb, health, 3, &count), "lb_get_all_health");
        for (size_t i = 0; ok && i < count; i++) {
            printf("  backend %" PRIu64 ": %" PRIu64 " requests, success rate %.2f, %s\n",
                   health[i].instance_id, health[i].requests, health[i].success_rate,
                   health[i].healthy ? "healthy" : "ejected");
        }
        if (stats.in_flight != 0 ||
            stats.total_requests != stats.successes + stats.failures + stats.cancelled) {
            fprintf(stderr, "totals do not add up\n");
            ok = 0;
        }
    }
    lb_balancer_free(lb);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
