//! One ordered event stream shared by every component, drained by a pull call.
//!
//! Appending is a short critical section; nothing calls back into Python. When nobody drains the
//! log it keeps the newest `capacity` events and counts what it dropped.

use std::collections::VecDeque;
use std::fmt;
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
pub type Fields = SmallVec<[(&'static str, Field); 3]>;

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
    inner: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug)]
struct Ring {
    queue: VecDeque<Event>,
    next_seq: u64,
    dropped: u64,
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            inner: Mutex::new(Ring {
                queue: VecDeque::with_capacity(capacity.min(4096)),
                next_seq: 1,
                dropped: 0,
            }),
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
        let event = Event {
            seq: 0, // assigned under the lock
            time: crate::now(),
            component,
            kind,
            subject,
            data: Fields::from(data),
        };
        // The oldest event, when the log is full, is dropped after the lock is released.
        let _evicted = self.push(event);
    }

    fn push(&self, mut event: Event) -> Option<Event> {
        let mut ring = self.inner.lock();
        let evicted = if ring.queue.len() >= self.capacity {
            ring.dropped += 1;
            ring.queue.pop_front()
        } else {
            None
        };
        event.seq = ring.next_seq;
        ring.next_seq += 1;
        ring.queue.push_back(event);
        evicted
    }

    /// Remove and return up to `max` of the oldest events.
    pub fn poll(&self, max: usize) -> Vec<Event> {
        let mut ring = self.inner.lock();
        let n = max.min(ring.queue.len());
        ring.queue.drain(..n).collect()
    }

    pub fn pending(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Events discarded because the log was full.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().dropped
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
