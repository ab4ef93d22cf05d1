//! Keyed selection for the hashing strategies (Maglev, ring hash): the table a
//! snapshot holds, and the walk from a key's entry to the member that takes it.
//!
//! A table depends only on the set's ids and configured weights and on the size
//! options (never on the balancer's seed, the order of the set, health or slow
//! start), so every process maps a key to the same instance. It is rebuilt only
//! when one of those changes; a new snapshot for a health change keeps it.
//!
//! Health and capacity are applied on the walk: a key whose instance cannot take
//! the request (not selectable, at capacity, excluded) goes to the next instance
//! in table (or ring) order that can, so a key keeps landing on the same fallback
//! while the set and its health stay the same, and goes back to its own instance
//! when that one can take requests again.

use super::hash_ring::HashRing;
use super::maglev_table::MaglevTable;
use super::PickCtx;
use crate::config::Config;
use crate::member::Member;
#[cfg(loom)]
use crate::sync::fault;
use crate::sync::Arc;
use crate::types::{Instance, Strategy};

/// Table entries a walk visits before it goes through the members in id order
/// (past that, long runs of unusable entries mean most of the set is unusable).
const WALK_ENTRIES: usize = 64;

enum Table {
    Maglev(MaglevTable),
    Ring(HashRing),
}

impl Table {
    #[inline(always)]
    fn slot(&self, key: u64) -> Option<usize> {
        match self {
            Table::Maglev(t) => t.slot(key),
            Table::Ring(t) => t.slot(key),
        }
    }

    #[inline(always)]
    fn entry(&self, slot: usize) -> u32 {
        match self {
            Table::Maglev(t) => t.entry(slot),
            Table::Ring(t) => t.entry(slot),
        }
    }

    #[inline(always)]
    fn entry_after(&self, slot: usize, step: usize) -> u32 {
        match self {
            Table::Maglev(t) => t.entry_after(slot, step),
            Table::Ring(t) => t.entry_after(slot, step),
        }
    }

    fn len(&self) -> usize {
        match self {
            Table::Maglev(t) => t.len(),
            Table::Ring(t) => t.len(),
        }
    }
}

/// What a table is built from; equal recipes give equal tables.
#[derive(PartialEq)]
struct Recipe {
    strategy: Strategy,
    /// Maglev's table size, or the ring's (min, max) sizes.
    sizes: (u64, u64),
    /// (id, configured weight), sorted by id: entries are positions in it.
    nodes: Box<[(u64, u32)]>,
}

struct Built {
    recipe: Recipe,
    table: Table,
}

/// A snapshot's keyed table and where its nodes are among the snapshot's members.
pub(crate) struct Keyed {
    built: Arc<Built>,
    /// Member index (in the snapshot) of each node position.
    member_of: Box<[u32]>,
    /// The weights of the members that may be picked (bounded loads share the
    /// load among them).
    weight_sum: u64,
}

/// Bounded loads for one keyed select: the balance factor (percent) and the
/// keyed picks in flight when the select began.
#[derive(Clone, Copy)]
pub(crate) struct Bound {
    pub factor: u32,
    pub total: u64,
}

impl Bound {
    /// Whether a member of weight `weight` with `in_flight` picks may take one
    /// more: in_flight + 1 <= ceil(factor / 100 x (total + 1) x weight / W), that
    /// is in_flight x 100 x W < factor x (total + 1) x weight (in u128, which no
    /// product of these here can overflow; no division, no panic site).
    #[inline(always)]
    pub(crate) fn admits(self, in_flight: u64, weight: u32, weight_sum: u64) -> bool {
        let load = (in_flight as u128) * 100 * weight_sum as u128;
        let allowed = self.factor as u128 * (self.total as u128 + 1) * weight as u128;
        load < allowed
    }
}

impl Keyed {
    /// The table for a snapshot of `instances` (configured weights, in members
    /// order) under `cfg`, or `None` when the strategy does not hash. `prev`'s
    /// table is kept when it was built from the same recipe.
    /// `weight_sum`: the weights of the members that may be picked.
    pub(crate) fn build(
        instances: &[Instance],
        cfg: &Config,
        prev: Option<&Keyed>,
        weight_sum: u64,
    ) -> Option<Keyed> {
        let sizes = match cfg.strategy {
            Strategy::Maglev => (cfg.maglev_table_size as u64, 0),
            Strategy::RingHash => (cfg.ring_hash_min_size, cfg.ring_hash_max_size),
            _ => return None,
        };
        let mut order: Vec<(u64, u32, u32)> = instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.id, inst.weight, i as u32))
            .collect();
        order.sort_unstable();
        let recipe = Recipe {
            strategy: cfg.strategy,
            sizes,
            nodes: order.iter().map(|&(id, w, _)| (id, w)).collect(),
        };
        let member_of = order.iter().map(|&(_, _, i)| i).collect();
        #[cfg(loom)]
        if let Some(p) =
            prev.filter(|p| !p.member_of.is_empty() && fault::on(&fault::KEYED_TABLE_KEPT))
        {
            return Some(Keyed {
                built: Arc::clone(&p.built),
                member_of,
                weight_sum,
            });
        }
        let built = match prev {
            Some(p) if p.built.recipe == recipe => Arc::clone(&p.built),
            _ => {
                let table = match recipe.strategy {
                    Strategy::Maglev => {
                        Table::Maglev(MaglevTable::build(&recipe.nodes, sizes.0 as u32))
                    }
                    _ => Table::Ring(HashRing::build(&recipe.nodes, sizes.0, sizes.1)),
                };
                Arc::new(Built { recipe, table })
            }
        };
        Some(Keyed {
            built,
            member_of,
            weight_sum,
        })
    }

    /// The member index `key`'s own entry names (health and capacity aside);
    /// `None` for an empty set. No panic site.
    #[inline(always)]
    pub(crate) fn home(&self, key: u64) -> Option<usize> {
        let table = &self.built.table;
        let pos = table.entry(table.slot(key)?);
        self.member_of.get(pos as usize).map(|&i| i as usize)
    }

    /// The weights of the members that may be picked.
    #[inline(always)]
    pub(crate) fn weight_sum(&self) -> u64 {
        self.weight_sum
    }

    /// The walk: from `key`'s entry along the table, the first member that is
    /// selectable (healthy, or any in `panic` mode) and takes a slot; after
    /// `WALK_ENTRIES` entries, every member once in id order from the key's own.
    /// With `bound`, a member whose picks in flight would pass its limit is
    /// passed over too. Deterministic for a given set, health and load. Returns
    /// (member index, pick epoch) with the slot taken.
    pub(crate) fn choose(
        &self,
        key: u64,
        panic: bool,
        bound: Option<Bound>,
        ctx: &mut PickCtx<'_>,
    ) -> Option<(usize, u32)> {
        let table = &self.built.table;
        let slot = table.slot(key)?;
        let try_pos = |pos: u32, ctx: &mut PickCtx<'_>| -> Option<(usize, u32)> {
            let idx = *self.member_of.get(pos as usize)? as usize;
            let m: &Member = ctx.members.get(idx)?;
            if !(panic || m.healthy) {
                return None;
            }
            if let Some(b) = bound {
                if !b.admits(m.state.in_flight(), m.weight, self.weight_sum) {
                    return None;
                }
            }
            ctx.acquire(idx).map(|e| (idx, e))
        };
        let mut last = u32::MAX;
        for step in 0..table.len().min(WALK_ENTRIES) {
            let pos = table.entry_after(slot, step);
            if pos == last {
                continue;
            }
            last = pos;
            if let Some(found) = try_pos(pos, ctx) {
                return Some(found);
            }
        }
        let n = self.member_of.len();
        let home = table.entry(slot) as usize;
        (1..=n).find_map(|j| try_pos(((home + j) % n) as u32, ctx))
    }
}
