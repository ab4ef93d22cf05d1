//! Least request: power of d choices on requests in flight (Envoy's
//! `LEAST_REQUEST`, gRPC's least_request, HAProxy's `random(2)`). A pick draws
//! `choice_count` distinct selectable members in proportion to their weights and
//! takes the one with the fewest requests in flight; O(1) per pick at any set size
//! (a uniform draw, or an alias table over the static weights).
//!
//! With unequal weights the draws are compared by Envoy's least request formula,
//! effective weight = weight / (in flight + 1)^`active_request_bias`, the highest
//! winning. When the draws' in-flight counts are equal (light load) the first draw
//! stands, so the shares follow the weights exactly; under load a busy member
//! sheds picks and gets them back as soon as its requests complete.

use super::choices::Draws;
use super::{Choose, Chosen, Outlook, PickCtx, SetView};
use crate::instance::InstanceState;
use crate::member::Member;

pub(crate) struct LeastRequest;

/// How two draws are compared when their in-flight counts differ.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// Equal weights: the fewest in flight (the bias does not matter).
    Fewest,
    /// Bias 0: weights only, the first (weighted) draw stands.
    WeightsOnly,
    /// Bias 1: in flight relative to weight, compared without division.
    Linear,
    /// Any other bias: weight / (in flight + 1)^bias (a `pow`: off the first
    /// attempt, which has no call).
    Biased(f64),
}

pub(crate) struct Table {
    draws: Draws,
    rule: Rule,
    /// Two choices and a rule without `pow`: the first attempt applies.
    first: bool,
}

impl Choose for LeastRequest {
    type Table = Table;

    fn build(set: &SetView<'_>) -> Table {
        let draws = Draws::build(set, true);
        let bias = set.cfg.active_request_bias;
        let rule = if draws.equal_weights() {
            Rule::Fewest
        } else if bias == 0.0 {
            Rule::WeightsOnly
        } else if bias == 1.0 {
            Rule::Linear
        } else {
            Rule::Biased(bias)
        };
        let first = draws.count() == 2 && !matches!(rule, Rule::Biased(_));
        Table { draws, rule, first }
    }

    fn choose(table: &Table, ctx: &mut PickCtx<'_>) -> Option<(usize, u32)> {
        let rule = table.rule;
        table
            .draws
            .choose(ctx, |c, wc, b, wb| beats(rule, c, wc, b, wb))
    }

    /// Two draws, the better one taking the pick in its common case (with two
    /// choices and a bias of 0 or 1).
    #[inline(always)]
    fn first<'a>(table: &Table, ctx: &mut PickCtx<'a>) -> Option<Chosen<'a>> {
        if !table.first {
            return None;
        }
        let rule = table.rule;
        table
            .draws
            .first(ctx, |c, wc, b, wb| beats_plain(rule, c, wc, b, wb))
    }

    /// As least connections: idle, ties leave the weighted first draw standing
    /// (shares follow the weights); as queues form, equal requests in flight give
    /// shares in proportion to weight / latency (Little's law).
    fn predicted_share(set: &SetView<'_>, idx: usize, outlook: &Outlook) -> f64 {
        outlook.load_aware_share(&set.members[idx])
    }
}

/// Whether `c` (in-flight word `wc`) beats `b` (`wb`), drawn before it, under
/// every rule but `Biased`, which it treats as a tie. No call, no panic site.
#[inline(always)]
fn beats_plain(rule: Rule, c: &Member, wc: u64, b: &Member, wb: u64) -> bool {
    let (fc, fb) = (
        InstanceState::in_flight_of(wc),
        InstanceState::in_flight_of(wb),
    );
    // Counts below 2^21 and weights below 2^32: the products fit in u64.
    fc != fb
        && match rule {
            Rule::Fewest => fc < fb,
            Rule::Linear => c.weight as u64 * (fb + 1) > b.weight as u64 * (fc + 1),
            Rule::WeightsOnly | Rule::Biased(_) => false,
        }
}

/// Whether `c` beats `b` under `rule`: the higher effective weight
/// weight / (in flight + 1)^bias, when their in-flight counts differ.
fn beats(rule: Rule, c: &Member, wc: u64, b: &Member, wb: u64) -> bool {
    let Rule::Biased(bias) = rule else {
        return beats_plain(rule, c, wc, b, wb);
    };
    let (fc, fb) = (
        InstanceState::in_flight_of(wc),
        InstanceState::in_flight_of(wb),
    );
    let effective = |m: &Member, f: u64| m.weight as f64 / libm::pow(f as f64 + 1.0, bias);
    fc != fb && effective(c, fc) > effective(b, fb)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_rule_follows_the_weights_and_the_bias() {
        let cfg = crate::Config::default();
        let members: Vec<Member> = [1u32, 1, 3]
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let state =
                    crate::sync::Arc::new(InstanceState::new(i as u64, 1, 0, 0, 0, 30_000.0));
                Member::new(&crate::Instance::new(i as u64).weight(w), state)
            })
            .collect();
        let rule = |n: usize, bias: f64| {
            let cfg = crate::Config {
                active_request_bias: bias,
                ..cfg.clone()
            };
            let selectable: Vec<u32> = (0..n as u32).collect();
            let set = SetView {
                members: &members,
                selectable: &selectable,
                generation: 1,
                cfg: &cfg,
            };
            LeastRequest::build(&set).rule
        };
        assert_eq!(rule(2, 1.0), Rule::Fewest, "equal weights");
        assert_eq!(rule(3, 1.0), Rule::Linear);
        assert_eq!(rule(3, 0.0), Rule::WeightsOnly);
        assert_eq!(rule(3, 2.0), Rule::Biased(2.0));
        // Bias 2: weight 3 with 1 in flight (3/4) loses to weight 1 with none (1).
        let (light, heavy) = (&members[0], &members[2]);
        let zero = light.state.flight_word();
        heavy.state.try_acquire(0, heavy.limit as u64).unwrap();
        let one = heavy.state.flight_word();
        assert_eq!(InstanceState::in_flight_of(one), 1);
        assert!(beats(Rule::Biased(2.0), light, zero, heavy, one));
        assert!(
            !beats(Rule::Linear, light, zero, heavy, one),
            "3/2 beats 1/1"
        );
        assert!(beats(Rule::Linear, heavy, one, light, zero));
        assert!(!beats(Rule::WeightsOnly, light, zero, heavy, one));
        assert!(beats(Rule::Fewest, light, zero, heavy, one));
        assert!(
            !beats(Rule::Fewest, light, zero, heavy, zero),
            "a tie keeps the first"
        );
    }
}
