//! The event queue: what changed in the balancer's health view and strategy, kept
//! for the caller to read (`poll_events`), never delivered by a callback from
//! inside lb. Bounded: when it is full the oldest event is dropped and counted.
//! Events are rare (an ejection, a recovery, panic mode, a switch), so a lock is
//! fine; no event is pushed on the request path's common case.

use std::collections::VecDeque;

use super::Balancer;
use crate::sync::{lock, Mutex};
use crate::types::{Event, EventKind, Strategy};

/// Events kept before the oldest is dropped.
pub const EVENT_QUEUE_CAPACITY: usize = 1024;

#[derive(Default)]
pub(super) struct EventLog {
    queue: VecDeque<Event>,
    dropped: u64,
}

pub(super) struct Events(Mutex<EventLog>);

impl Events {
    pub(super) fn new() -> Events {
        Events(Mutex::new(EventLog::default()))
    }

    pub(super) fn push(&self, event: Event) {
        let mut log = lock(&self.0);
        if log.queue.len() == EVENT_QUEUE_CAPACITY {
            log.queue.pop_front();
            log.dropped += 1;
        }
        log.queue.push_back(event);
    }

    /// Events dropped because the queue was full, ever.
    pub(super) fn dropped(&self) -> u64 {
        lock(&self.0).dropped
    }

    /// Removes and returns up to `max` of the oldest events.
    pub(super) fn take(&self, max: usize) -> Vec<Event> {
        let mut log = lock(&self.0);
        let n = max.min(log.queue.len());
        log.queue.drain(..n).collect()
    }
}

impl Balancer {
    /// Removes and returns up to `max` events, oldest first: ejections and
    /// recoveries of instances, panic mode entered and left, and adaptive's
    /// switches, each with the balancer's clock (us) when it happened. lb keeps
    /// the last [`EVENT_QUEUE_CAPACITY`] events; when more arrive before they are
    /// read the oldest are dropped, and `LoadBalancerStats::events_dropped` counts
    /// them.
    pub fn poll_events(&self, max: usize) -> Vec<Event> {
        self.events.take(max)
    }

    pub(super) fn event(&self, kind: EventKind, instance_id: u64, now_us: u64) {
        self.events.push(Event {
            kind,
            instance_id,
            time_us: now_us,
            from: None,
            to: None,
        });
    }

    pub(super) fn switch_event(&self, from: Strategy, to: Strategy, now_us: u64) {
        self.events.push(Event {
            kind: EventKind::StrategySwitched,
            instance_id: 0,
            time_us: now_us,
            from: Some(from),
            to: Some(to),
        });
    }
}
