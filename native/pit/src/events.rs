//! One ordered event stream shared by every component, drained by a pull call.
//!
//! Appending is a short critical section; nothing calls back into Python. When nobody drains the
//! log it keeps the newest `capacity` events and counts what it dropped. Work that makes many
//! events at once (a wave of workflow nodes) gathers them in an [`EventBatch`] and appends them
//! under one lock; the per-node kinds are kept compact and made into [`Event`]s when polled.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::artifact::ArtifactId;
use crate::dag::{NodeState, WorkflowGraph};

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

/// A run's names as its node events see them: the run id and its graph (node names by index),
/// registered with the log once per run (see [`EventLog::open_names`]), so a node event is a
/// few plain numbers and costs no reference counting.
#[derive(Debug)]
pub struct RunNames {
    pub run: Arc<str>,
    pub graph: Arc<WorkflowGraph>,
}

/// A run's registration of its [`RunNames`] with the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamesSlot(u32);

/// What the log keeps per event: plain data, one cache line at most. The two kinds a workflow
/// emits for every node are kept whole; any other event is a marker for the next of the log's
/// `others`. Sequence numbers are implicit (the log holds a gap-free run of them).
#[derive(Clone, Copy, Debug)]
enum Record {
    /// `node.state` of `run/node`, the run's names in `slot`.
    NodeState {
        time: f64,
        slot: NamesSlot,
        node: u32,
        attempt: u32,
        from: NodeState,
        to: NodeState,
    },
    /// `artifact.stored` (of at most 4 GiB: bigger ones are kept as `Other`, so that a record
    /// stays 48 bytes).
    Stored {
        time: f64,
        id: ArtifactId,
        size: u32,
        dedup: bool,
    },
    Other,
}

// One record per event in a log of 100,000: keep it small.
const _: () = assert!(std::mem::size_of::<Record>() <= 48);

/// An event stamped now; its sequence number is given when it is appended.
fn event_now(
    component: Component,
    kind: &'static str,
    subject: Subject,
    data: &[(&'static str, Field)],
) -> Event {
    Event {
        seq: 0,
        time: crate::now(),
        component,
        kind,
        subject,
        data: Fields::from(data),
    }
}

fn stored_event(time: f64, id: ArtifactId, size: u64, dedup: bool) -> Event {
    Event {
        seq: 0,
        time,
        component: Component::Artifact,
        kind: "artifact.stored",
        subject: Subject::Artifact(id),
        data: Fields::from_iter([("size", Field::UInt(size)), ("dedup", Field::Bool(dedup))]),
    }
}

/// The record of an `artifact.stored`; `None` when its size does not fit one (the whole event
/// is kept then: [`stored_event`]).
fn stored_record(time: f64, id: ArtifactId, size: usize, dedup: bool) -> Option<Record> {
    let size = u32::try_from(size).ok()?;
    Some(Record::Stored {
        time,
        id,
        size,
        dedup,
    })
}

/// Events gathered by one piece of work and appended to the log together (one lock for all of
/// them, and no other event in between).
#[derive(Debug, Default)]
pub struct EventBatch {
    records: Vec<Record>,
    others: Vec<Event>,
}

impl EventBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch with room for `records` plain events before it grows.
    pub fn with_capacity(records: usize) -> Self {
        EventBatch {
            records: Vec::with_capacity(records),
            others: Vec::new(),
        }
    }

    /// Node `node` of the run registered in `slot` moved from `from` to `to` at `time`.
    pub fn node_state(
        &mut self,
        time: f64,
        slot: NamesSlot,
        node: usize,
        from: NodeState,
        to: NodeState,
        attempt: u32,
    ) {
        self.records.push(Record::NodeState {
            time,
            slot,
            node: node as u32,
            attempt,
            from,
            to,
        });
    }

    /// An artifact was stored (`dedup`: its bytes were already there) at `time`.
    pub fn stored(&mut self, time: f64, id: ArtifactId, size: usize, dedup: bool) {
        match stored_record(time, id, size, dedup) {
            Some(record) => self.records.push(record),
            None => {
                self.records.push(Record::Other);
                self.others.push(stored_event(time, id, size as u64, dedup));
            }
        }
    }

    /// Any other event, stamped now.
    pub fn emit(
        &mut self,
        component: Component,
        kind: &'static str,
        subject: Subject,
        data: &[(&'static str, Field)],
    ) {
        self.records.push(Record::Other);
        self.others.push(event_now(component, kind, subject, data));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Bounded, ordered, multi-producer event log.
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug)]
struct Ring {
    queue: VecDeque<Record>,
    /// The events behind the queue's `Other` markers, in order, with their sequence numbers.
    others: VecDeque<Event>,
    /// Sequence number of the next event appended; the queue holds the `queue.len()` before it.
    next_seq: u64,
    dropped: u64,
    /// Registered run names by slot (`None`: free).
    names: Vec<Option<Arc<RunNames>>>,
    free: Vec<u32>,
    /// Closed slots and the last sequence number that may refer to them: freed once the log
    /// no longer holds that event.
    closing: VecDeque<(u64, NamesSlot)>,
}

impl Ring {
    fn first_seq(&self) -> u64 {
        self.next_seq - self.queue.len() as u64
    }

    /// Make room for `incoming` more events in a log of `capacity`: the oldest go, counted as
    /// dropped (with those of the incoming that do not fit either).
    fn make_room(&mut self, incoming: usize, capacity: usize) {
        let overflow = (self.queue.len() + incoming).saturating_sub(capacity);
        if overflow > 0 {
            let evict = overflow.min(self.queue.len());
            self.queue.drain(..evict);
            self.dropped += overflow as u64;
        }
    }

    /// Append one event: its record, and for an `Other` marker the event behind it.
    fn push(&mut self, record: Record, other: Option<Event>) {
        if let Some(mut event) = other {
            event.seq = self.next_seq;
            self.others.push_back(event);
        }
        self.queue.push_back(record);
        self.next_seq += 1;
    }

    /// Forget what no kept event refers to any more: others before the first kept event, and
    /// closed name slots whose last event is gone.
    fn trim(&mut self) {
        let first = self.first_seq();
        while self.others.front().is_some_and(|e| e.seq < first) {
            self.others.pop_front();
        }
        while let Some(&(last, NamesSlot(slot))) = self.closing.front() {
            if last >= first {
                break;
            }
            self.closing.pop_front();
            self.names[slot as usize] = None;
            self.free.push(slot);
        }
    }
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            inner: Mutex::new(Ring {
                queue: VecDeque::with_capacity(capacity.min(4096)),
                others: VecDeque::new(),
                next_seq: 1,
                dropped: 0,
                names: Vec::new(),
                free: Vec::new(),
                closing: VecDeque::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    /// Register a run's names for its node events; [`close_names`](Self::close_names) once the
    /// run emits no more.
    pub fn open_names(&self, names: Arc<RunNames>) -> NamesSlot {
        let mut ring = self.inner.lock();
        match ring.free.pop() {
            Some(slot) => {
                ring.names[slot as usize] = Some(names);
                NamesSlot(slot)
            }
            None => {
                ring.names.push(Some(names));
                NamesSlot(ring.names.len() as u32 - 1)
            }
        }
    }

    /// The run of `slot` emits no more node events: its names are let go once the log holds
    /// none of them.
    pub fn close_names(&self, slot: NamesSlot) {
        let mut ring = self.inner.lock();
        let last = ring.next_seq - 1;
        ring.closing.push_back((last, slot));
        ring.trim();
    }

    /// Append an event stamped now.
    pub fn emit(
        &self,
        component: Component,
        kind: &'static str,
        subject: Subject,
        data: &[(&'static str, Field)],
    ) {
        self.push_one(
            Record::Other,
            Some(event_now(component, kind, subject, data)),
        );
    }

    /// Append `artifact.stored` for `id` (`dedup`: its bytes were already there), stamped now.
    pub fn stored(&self, id: ArtifactId, size: usize, dedup: bool) {
        let time = crate::now();
        match stored_record(time, id, size, dedup) {
            Some(record) => self.push_one(record, None),
            None => self.push_one(
                Record::Other,
                Some(stored_event(time, id, size as u64, dedup)),
            ),
        }
    }

    fn push_one(&self, record: Record, other: Option<Event>) {
        let mut ring = self.inner.lock();
        ring.make_room(1, self.capacity);
        ring.push(record, other);
        ring.trim();
    }

    /// Append every event of `batch`, in order, leaving it empty (its buffers are kept for
    /// reuse). When the log is full the oldest events make room and are counted as dropped.
    pub fn append(&self, batch: &mut EventBatch) {
        if batch.is_empty() {
            return;
        }
        let mut ring = self.inner.lock();
        let incoming = batch.records.len();
        ring.make_room(incoming, self.capacity);
        // A batch larger than the whole log keeps only its newest events.
        let skip = incoming.saturating_sub(self.capacity);
        let base = ring.next_seq;
        if !batch.others.is_empty() {
            let mut others = batch.others.drain(..);
            for (k, record) in batch.records.iter().enumerate() {
                if matches!(record, Record::Other) {
                    let mut event = others.next().expect("one event per Other marker");
                    if k >= skip {
                        event.seq = base + k as u64;
                        ring.others.push_back(event);
                    }
                }
            }
        }
        // Plain records: copied in one go.
        ring.queue.extend(&batch.records[skip..]);
        ring.next_seq += incoming as u64;
        batch.records.clear();
        ring.trim();
    }

    /// Remove and return up to `max` of the oldest events.
    pub fn poll(&self, max: usize) -> Vec<Event> {
        let mut ring = self.inner.lock();
        let n = max.min(ring.queue.len());
        let first = ring.first_seq();
        let mut events = Vec::with_capacity(n);
        for k in 0..n {
            let seq = first + k as u64;
            let record = ring.queue[k];
            let event = match record {
                Record::NodeState {
                    time,
                    slot,
                    node,
                    attempt,
                    from,
                    to,
                } => {
                    let names = ring.names[slot.0 as usize]
                        .as_ref()
                        .expect("a run's names stay while the log holds its events");
                    Event {
                        seq,
                        time,
                        component: Component::Dag,
                        kind: "node.state",
                        subject: Subject::Pair(
                            names.run.clone(),
                            names.graph.name_of(node as usize).clone(),
                        ),
                        data: Fields::from_buf([
                            ("from", Field::Word(from.as_str())),
                            ("to", Field::Word(to.as_str())),
                            ("attempt", Field::UInt(u64::from(attempt))),
                        ]),
                    }
                }
                Record::Stored {
                    time,
                    id,
                    size,
                    dedup,
                } => Event {
                    seq,
                    ..stored_event(time, id, u64::from(size), dedup)
                },
                Record::Other => {
                    // Others before the first kept event were trimmed: the front is this one.
                    let event = ring.others.pop_front().expect("an event per Other marker");
                    debug_assert_eq!(event.seq, seq);
                    event
                }
            };
            events.push(event);
        }
        ring.queue.drain(..n);
        ring.trim();
        events
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

    fn names(run: &str) -> Arc<RunNames> {
        use crate::dag::{GraphSpec, NodeSpec};
        let spec = GraphSpec {
            name: "wf".into(),
            nodes: vec![NodeSpec::task("a", &[]), NodeSpec::task("b", &["a"])],
        };
        Arc::new(RunNames {
            run: Arc::from(run),
            graph: Arc::new(WorkflowGraph::build(spec).unwrap()),
        })
    }

    #[test]
    fn compact_and_whole_events_come_back_in_order_with_their_details() {
        let log = EventLog::new(100);
        let slot = log.open_names(names("wf-1"));
        let id = ArtifactId::of(b"x");
        let mut batch = EventBatch::new();
        batch.node_state(1.0, slot, 1, NodeState::Ready, NodeState::Running, 1);
        batch.emit(Component::Dag, "node.cached", "wf-1/b".into(), &[]);
        batch.stored(2.0, id, 5, true);
        batch.stored(2.5, id, 5_000_000_000, false); // over 4 GiB: kept whole
        log.append(&mut batch);
        assert!(batch.is_empty());
        log.emit(Component::Pit, "after", "pit".into(), &[]);
        let events = log.poll(10);
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "node.state",
                "node.cached",
                "artifact.stored",
                "artifact.stored",
                "after"
            ]
        );
        assert_eq!(events[0].subject.to_string(), "wf-1/b");
        assert_eq!(events[0].time, 1.0);
        let data: Vec<String> = events[0]
            .data
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(data, ["from=ready", "to=running", "attempt=1"]);
        assert_eq!(events[2].subject, Subject::Artifact(id));
        assert_eq!(events[3].data[0].1, Field::UInt(5_000_000_000));
    }

    #[test]
    fn a_full_log_drops_the_oldest_and_lets_go_of_finished_runs_names() {
        let log = EventLog::new(4);
        let first = log.open_names(names("wf-1"));
        let mut batch = EventBatch::new();
        for k in 0..3 {
            batch.node_state(k as f64, first, 0, NodeState::Pending, NodeState::Ready, 0);
            batch.emit(
                Component::Dag,
                "other",
                "x".into(),
                &[("k", Field::UInt(k))],
            );
        }
        log.append(&mut batch);
        log.close_names(first);
        assert_eq!(log.pending(), 4);
        assert_eq!(log.dropped(), 2);
        // The closed run's slot is still needed (its events are kept), so a new run gets another.
        let second = log.open_names(names("wf-2"));
        assert_ne!(second, first);
        let events = log.poll(2);
        assert_eq!(events[0].seq, 3);
        assert_eq!(events[0].subject.to_string(), "wf-1/a");
        assert_eq!(events[1].data[0].1, Field::UInt(1));
        // A batch larger than the log keeps its newest events.
        for k in 0..6 {
            batch.node_state(k as f64, second, 1, NodeState::Pending, NodeState::Ready, 0);
        }
        log.append(&mut batch);
        let events = log.poll(10);
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].time, 2.0);
        assert_eq!(events[3].seq, 12);
        // wf-1's events are all gone: its slot is free for the next run.
        let third = log.open_names(names("wf-3"));
        assert_eq!(third, first);
    }
}
