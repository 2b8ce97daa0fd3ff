//! One ordered event stream shared by every component, drained by a pull call.
//!
//! Appending is a short critical section; nothing calls back into Python. When nobody drains the
//! log it keeps the newest `capacity` events and counts what it dropped.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::artifact::ArtifactId;

/// The component an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Pit,
    Pool,
    Artifact,
    Dag,
    Arbiter,
    Stale,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Pit => "pit",
            Component::Pool => "pool",
            Component::Artifact => "artifact",
            Component::Dag => "dag",
            Component::Arbiter => "arbiter",
            Component::Stale => "stale",
        }
    }
}

/// What an event is about. Built from shared names, rendered to text only when read, so
/// emitting an event on a hot path allocates (almost) nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A pool, run or store.
    Name(Arc<str>),
    /// `pool/model` or `run/node`.
    Pair(Arc<str>, Arc<str>),
    Artifact(ArtifactId),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Name(name) => f.write_str(name),
            Subject::Pair(a, b) => write!(f, "{a}/{b}"),
            Subject::Artifact(id) => write!(f, "{id}"),
        }
    }
}

impl From<&str> for Subject {
    fn from(name: &str) -> Self {
        Subject::Name(Arc::from(name))
    }
}

/// One detail of an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// A fixed word: a state, a reason.
    Word(&'static str),
    Text(Arc<str>),
    UInt(u64),
    Bool(bool),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Word(w) => f.write_str(w),
            Field::Text(t) => f.write_str(t),
            Field::UInt(u) => write!(f, "{u}"),
            Field::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl Field {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Field::Word(w) => Some(w),
            Field::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// Event details, inline for the usual handful.
pub type Fields = SmallVec<[(&'static str, Field); 4]>;

/// One thing that happened. `seq` is strictly increasing across all components.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub time: f64,
    pub component: Component,
    /// Dotted kind, e.g. `model.transition`, `artifact.stored`, `node.state`.
    pub kind: &'static str,
    /// What the event is about: a pool/model, an artifact, a run or `run/node`.
    pub subject: Subject,
    pub data: Fields,
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
        subject: Subject,
        data: &[(&'static str, Field)],
    ) {
        let data: Fields = data.iter().cloned().collect();
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
            log.emit(
                Component::Pit,
                "test",
                Subject::from(format!("e{i}").as_str()),
                &[],
            );
        }
        assert_eq!(log.dropped(), 2);
        let events = log.poll(10);
        let subjects: Vec<_> = events.iter().map(|e| e.subject.to_string()).collect();
        assert_eq!(subjects, ["e2", "e3", "e4"]);
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(log.poll(10).is_empty());
    }
}
