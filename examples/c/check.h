/* A tiny test harness shared by the C test programs: CHECK counts a pass or a
 * failure (printing the failing expression), SUMMARY prints "N passed, N failed"
 * and gives the exit status. */
#ifndef LB_EXAMPLES_CHECK_H
#define LB_EXAMPLES_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static unsigned check_passed_;
static unsigned check_failed_;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            check_passed_++;                                                         \
        } else {                                                                     \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* Checks that an lb call returns the expected status, naming both on failure. */
#define CHECK_STATUS(call, expected)                                                   \
    do {                                                                               \
        lb_status got_ = (call);                                                       \
        lb_status want_ = (expected);                                                  \
        if (got_ == want_) {                                                           \
            check_passed_++;                                                           \
        } else {                                                                       \
            check_failed_++;                                                           \
            fprintf(stderr, "%s:%d: %s returned %u (%s), expected %u (%s)\n", __FILE__, \
                    __LINE__, #call, (unsigned)got_, lb_status_str(got_),              \
                    (unsigned)want_, lb_status_str(want_));                            \
        }                                                                              \
    } while (0)

static int check_summary(const char *name) {
    printf("%s: %u passed, %u failed\n", name, check_passed_, check_failed_);
    return check_failed_ == 0 && check_passed_ > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
