/* liblb.so loaded with dlopen() while the program already runs threads, as a
 * proxy loads a module: lb keeps its per-thread slot in static TLS (the
 * initial-exec model), which the C library must then set up for every thread,
 * including those that started before the library was loaded. One thread that
 * started before the dlopen and three that start after it each run select +
 * report pairs on two balancers in turn (so each thread's slot keeps moving from
 * one balancer to the other); the totals must come out exact. Then the library
 * is closed, opened again and used again.
 *
 * Links only libdl and pthreads: every lb function comes from dlsym(). */
#define _POSIX_C_SOURCE 200809L
#include <lb.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "check.h"

#define INSTANCES 8
#define PAIRS 20000
#define THREADS 4 /* the first starts before dlopen() */

typedef lb_status (*new_fn)(lb_strategy, lb_balancer **);
typedef lb_status (*set_instances_fn)(lb_balancer *, const lb_instance *, size_t);
typedef lb_status (*select_fn)(lb_balancer *, lb_pick *);
typedef lb_status (*report_fn)(lb_balancer *, const lb_pick *, lb_outcome, uint64_t);
typedef lb_status (*stats_fn)(lb_balancer *, lb_stats *);
typedef void (*free_fn)(lb_balancer *);

static struct {
    void *handle;
    new_fn balancer_new;
    set_instances_fn set_instances;
    select_fn select;
    report_fn report;
    stats_fn get_stats;
    free_fn balancer_free;
} lib;

/* dlsym() returns an object pointer; ISO C has no cast from it to a function
 * pointer, so the bits are copied (POSIX guarantees they are the same). */
static int resolve(void *slot, size_t size, const char *name) {
    void *p = dlsym(lib.handle, name);
    if (p == NULL) {
        fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());
        return 0;
    }
    memcpy(slot, &p, size);
    return 1;
}

static int open_lb(void) {
    lib.handle = dlopen("liblb.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib.handle == NULL) {
        fprintf(stderr, "dlopen(liblb.so.1): %s\n", dlerror());
        return 0;
    }
    return resolve(&lib.balancer_new, sizeof lib.balancer_new, "lb_balancer_new") &&
           resolve(&lib.set_instances, sizeof lib.set_instances, "lb_set_instances") &&
           resolve(&lib.select, sizeof lib.select, "lb_select") &&
           resolve(&lib.report, sizeof lib.report, "lb_report") &&
           resolve(&lib.get_stats, sizeof lib.get_stats, "lb_get_stats") &&
           resolve(&lib.balancer_free, sizeof lib.balancer_free, "lb_balancer_free");
}

static lb_balancer *balancers[2];
static pthread_barrier_t loaded; /* the early thread waits here for the dlopen */

struct worker {
    pthread_t thread;
    int early;
    unsigned long bad; /* failed calls or impossible picks */
};

static void *run(void *arg) {
    struct worker *w = arg;
    if (w->early) {
        pthread_barrier_wait(&loaded);
    }
    for (unsigned long i = 0; i < PAIRS; i++) {
        lb_balancer *lb = balancers[i & 1];
        lb_pick pick;
        if (lib.select(lb, &pick) != LB_STATUS_OK || pick.instance_id < 1 ||
            pick.instance_id > INSTANCES) {
            w->bad++;
            continue;
        }
        if (lib.report(lb, &pick, LB_OUTCOME_SUCCESS, 100 + (i & 63)) != LB_STATUS_OK) {
            w->bad++;
        }
    }
    return NULL;
}

/* One round: balancers made, THREADS workers (the first already running when
 * `early` is set), exact totals checked, balancers freed. */
static void round_of_pairs(struct worker *workers, int early_running) {
    lb_instance set[INSTANCES];
    for (int i = 0; i < INSTANCES; i++) {
        set[i].id = (uint64_t)i + 1;
        set[i].weight = 1;
        set[i].capacity = 0;
    }
    CHECK(lib.balancer_new(LB_STRATEGY_ROUND_ROBIN, &balancers[0]) == LB_STATUS_OK);
    CHECK(lib.balancer_new(LB_STRATEGY_PEAK_EWMA, &balancers[1]) == LB_STATUS_OK);
    CHECK(lib.set_instances(balancers[0], set, INSTANCES) == LB_STATUS_OK);
    CHECK(lib.set_instances(balancers[1], set, INSTANCES) == LB_STATUS_OK);
    if (early_running) {
        pthread_barrier_wait(&loaded);
    }
    for (int t = early_running ? 1 : 0; t < THREADS; t++) {
        CHECK(pthread_create(&workers[t].thread, NULL, run, &workers[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        CHECK(pthread_join(workers[t].thread, NULL) == 0);
        CHECK(workers[t].bad == 0);
    }
    for (int b = 0; b < 2; b++) {
        lb_stats stats;
        CHECK(lib.get_stats(balancers[b], &stats) == LB_STATUS_OK);
        CHECK(stats.total_requests == (uint64_t)THREADS * PAIRS / 2);
        CHECK(stats.successes == (uint64_t)THREADS * PAIRS / 2);
        CHECK(stats.in_flight == 0);
        lib.balancer_free(balancers[b]);
    }
}

int main(void) {
    struct worker workers[THREADS];
    memset(workers, 0, sizeof workers);
    workers[0].early = 1;
    CHECK(pthread_barrier_init(&loaded, NULL, 2) == 0);
    CHECK(pthread_create(&workers[0].thread, NULL, run, &workers[0]) == 0);

    int opened = open_lb();
    CHECK(opened);
    if (!opened) {
        return check_summary("dlopen");
    }
    round_of_pairs(workers, 1);
    CHECK(dlclose(lib.handle) == 0);

    /* Opened again (a library that stayed mapped, or a fresh copy): the same. */
    memset(workers, 0, sizeof workers);
    opened = open_lb();
    CHECK(opened);
    if (opened) {
        round_of_pairs(workers, 0);
        CHECK(dlclose(lib.handle) == 0);
    }
    pthread_barrier_destroy(&loaded);
    return check_summary("dlopen");
}
