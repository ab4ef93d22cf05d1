//! Model 9: a keyed select (and its report) races a set replacement that rebuilds
//! the Maglev table (instance 1 leaves, 3 joins). Whichever snapshot the select
//! loads, the key must land on its home in that snapshot's own table: its home
//! in the old set or in the new one, never a third instance that an old table
//! read through the new set's members would name.

use loom::sync::Arc;

use lb::sync::fault;
use lb::{Config, Outcome, Strategy};

use crate::common::{balancer, check, set, small_config, spawn, Bounds};

const BOUNDS: Bounds = Bounds {
    preemptions: 2,
    branches: 20_000,
};

/// A key whose home is instance 1 in {1, 2} and instance 3 in {2, 3} (Maglev,
/// 17 entries; the tables are fixed for 1.x, so this is too). A table of {1, 2}
/// read through the members of {2, 3} would send it to 2.
const KEY: u64 = 0;

const HOME: &str = "model 9: a keyed pick lands on the key's home in the old or the new table";

fn keyed_select_racing_a_rebuild() {
    let cfg = Config {
        maglev_table_size: 17,
        ..small_config(Strategy::Maglev)
    };
    let (lb, _clock) = balancer(cfg, &[1, 2]);
    let lb = Arc::new(lb);
    let selector = {
        let lb = lb.clone();
        spawn(move || {
            let p = lb.select_key(KEY).unwrap_or_else(|e| panic!("{HOME}: {e:?}"));
            lb.report(&p, Outcome::Success, 100).unwrap();
            p.instance_id()
        })
    };
    lb.set_instances(&set(&[2, 3])).unwrap();
    let got = selector.join();
    assert!(got == 1 || got == 3, "{HOME}: got instance {got}");
    let after = lb.select_key(KEY).unwrap();
    assert!(after.instance_id() == 3, "{HOME}: after the rebuild, {}", after.instance_id());
    lb.report(&after, Outcome::Success, 100).unwrap();
    let s = lb.stats();
    assert!(s.in_flight == 0 && s.total_requests == 2, "model 9: totals {s:?}");
}

#[test]
fn keyed_pick_uses_one_tables_home() {
    check(BOUNDS, keyed_select_racing_a_rebuild);
}

#[test]
#[should_panic(expected = "model 9: a keyed pick lands on the key's home in the old or the new table")]
fn catches_a_table_kept_across_a_set_change() {
    let _bug = fault::inject(&fault::KEYED_TABLE_KEPT);
    check(BOUNDS, keyed_select_racing_a_rebuild);
}
