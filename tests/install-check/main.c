/* An outside program: one select and report, the version it ran with. */
#include <lb.h>
#include <stdio.h>

int main(void) {
    lb_balancer *lb = NULL;
    if (lb_balancer_new(LB_STRATEGY_ROUND_ROBIN, &lb) != LB_STATUS_OK) {
        return 1;
    }
    const lb_instance set[] = {{.id = 1, .weight = 1}, {.id = 2, .weight = 1}};
    lb_pick pick;
    int ok = lb_set_instances(lb, set, 2) == LB_STATUS_OK && lb_select(lb, &pick) == LB_STATUS_OK &&
             lb_report(lb, &pick, LB_OUTCOME_SUCCESS, 100) == LB_STATUS_OK;
    lb_balancer_free(lb);
    printf("lb %s: %s\n", lb_version(), ok ? "ok" : "failed");
    return ok ? 0 : 1;
}
