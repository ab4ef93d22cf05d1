//! Loom models of lb's concurrency invariants. Each model drives the real balancer
//! (built with `--cfg loom`, so its atomics, `Arc`s, locks, snapshot cell and thread
//! locals are loom's) and asserts one invariant; next to it, tests with a bug injected
//! through `lb::sync::fault` show that the model catches that bug, by the invariant's
//! own assertion message. Run with `./run.sh` (see README.md).
#![cfg(loom)]

mod common;

mod m1_select_report;
mod m2_replace_set;
mod m3_health;
mod m4_adaptive;
mod m5_expiry;
mod m6_double_report;
mod m7_round_robin;
mod m8_set_strategy;
mod m9_keyed_rebuild;
