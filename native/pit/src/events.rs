//! One ordered event stream shared by every component, drained by a pull call.
//!
//! Appending is a short critical section; nothing calls back into Python. When nobody drains the
//! log it keeps the newest `capacity` events and counts what it dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::value::Value;

/// The component an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Pit,
    Pool,
    Artifact,
    Dag,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Pit => "pit",
            Component::Pool => "pool",
            Component::Artifact => "artifact",
            Component::Dag => "dag",
        }
    }
}

/// One thing that happened. `seq` is strictly increasing across all components.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub time: f64,
    pub component: Component,
    /// Dotted kind, e.g. `model.transition`, `artifact.stored`, `node.state`.
    pub kind: &'static str,
    /// What the event is about: a pool, model, artifact id or `run/node`.
    pub subject: String,
    pub data: Vec<(&'static str, Value)>,
}

/// Bounded, ordered, multi-producer event log.
#[derive(Debug)]
pub struct EventLog {
    queue: Mutex<VecDeque<Event>>,
    next_seq: AtomicU64,
    dropped: AtomicU64,
    capacity: usize,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            next_seq: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            capacity: capacity.max(1),
        }
    }

    /// Append an event; the sequence number is assigned under the lock so order matches seq.
    pub fn emit(
        &self,
        component: Component,
        kind: &'static str,
        subject: impl Into<String>,
        data: Vec<(&'static str, Value)>,
    ) {
        let subject = subject.into();
        let time = crate::now();
        let mut queue = self.queue.lock();
        if queue.len() >= self.capacity {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        queue.push_back(Event {
            seq,
            time,
            component,
            kind,
            subject,
            data,
        });
    }

    /// Remove and return up to `max` of the oldest events.
    pub fn poll(&self, max: usize) -> Vec<Event> {
        let mut queue = self.queue.lock();
        let n = max.min(queue.len());
        queue.drain(..n).collect()
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().len()
    }

    /// Events discarded because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_counts_drops() {
        let log = EventLog::new(3);
        for i in 0..5 {
            log.emit(Component::Pit, "test", format!("e{i}"), vec![]);
        }
        assert_eq!(log.dropped(), 2);
        let events = log.poll(10);
        let subjects: Vec<_> = events.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(subjects, ["e2", "e3", "e4"]);
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(log.poll(10).is_empty());
    }
}
