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

use crate::core::ids::ArtifactId;
use crate::core::states::NodeState;

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

/// A run's names as its node events see them: the run id and its node names by index (shared
/// with the run's graph), registered with the log once per run (see [`EventLog::open_names`]),
/// so a node event is a few plain numbers and costs no reference counting.
#[derive(Debug)]
pub struct RunNames {
    pub run: Arc<str>,
    pub nodes: Arc<[Arc<str>]>,
}

/// A run's registration of its [`RunNames`] with the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamesSlot(u32);

/// What the log keeps per event: plain data, 24 bytes. The two kinds a workflow emits for
/// every node are kept whole (an `artifact.stored` keeps its id in its chunk's `ids`: four of
/// these per node fill half the memory the ids inline would); any other event is a marker for
/// the next of the log's `others`. Sequence numbers are implicit (the log holds a gap-free run
/// of them).
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
    /// `artifact.stored` of the artifact at `id` in the chunk's ids (of at most 4 GiB: bigger
    /// ones are kept as `Other`).
    Stored {
        time: f64,
        size: u32,
        id: u32,
        dedup: bool,
    },
    Other,
}

// A log keeps 100,000 of these, and a wave writes four per node: keep them small.
const _: () = assert!(std::mem::size_of::<Record>() <= 24);

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

/// Records in order and the artifact ids their `Stored` records point at: a batch being
/// filled, then (moved, not copied) a piece of the log.
#[derive(Debug, Default)]
struct Chunk {
    records: Vec<Record>,
    ids: Vec<ArtifactId>,
}

impl Chunk {
    fn with_capacity(records: usize, ids: usize) -> Self {
        Chunk {
            records: Vec::with_capacity(records),
            ids: Vec::with_capacity(ids),
        }
    }

    /// Append `artifact.stored`; `false` when its size needs the whole event.
    fn stored(&mut self, time: f64, id: ArtifactId, size: usize, dedup: bool) -> bool {
        let Ok(size) = u32::try_from(size) else {
            return false;
        };
        // Results repeat (every node that returns None has the same one): an id equal to the
        // last one is not kept twice.
        if self.ids.last() != Some(&id) {
            self.ids.push(id);
        }
        self.records.push(Record::Stored {
            time,
            size,
            id: self.ids.len() as u32 - 1,
            dedup,
        });
        true
    }

    /// Whether `records` more (and `ids` more ids) fit without growing (a grown chunk would
    /// copy all it holds).
    fn has_room(&self, records: usize, ids: usize) -> bool {
        self.records.capacity() - self.records.len() >= records
            && self.ids.capacity() - self.ids.len() >= ids
    }

    /// Append the records of `other`, their ids with them.
    fn extend_from(&mut self, other: &Chunk) {
        let offset = self.ids.len() as u32;
        self.records
            .extend(other.records.iter().map(|&record| match record {
                Record::Stored {
                    time,
                    size,
                    id,
                    dedup,
                } => Record::Stored {
                    time,
                    size,
                    id: id + offset,
                    dedup,
                },
                record => record,
            }));
        self.ids.extend_from_slice(&other.ids);
    }

    fn clear(&mut self) {
        self.records.clear();
        self.ids.clear();
    }
}

/// Events gathered by one piece of work and appended to the log together (one lock for all of
/// them, and no other event in between).
#[derive(Debug, Default)]
pub struct EventBatch {
    chunk: Chunk,
    /// The events of its `Other` markers, in order; until appended, each one's `seq` is its
    /// marker's position in the batch (so appending need not look for the markers).
    others: Vec<Event>,
}

impl EventBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch with room for `records` plain events, `stored` of them `artifact.stored`,
    /// before it grows.
    pub fn with_capacity(records: usize, stored: usize) -> Self {
        EventBatch {
            chunk: Chunk::with_capacity(records, stored),
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
        self.chunk.records.push(Record::NodeState {
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
        if !self.chunk.stored(time, id, size, dedup) {
            self.push_other(stored_event(time, id, size as u64, dedup));
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
        self.push_other(event_now(component, kind, subject, data));
    }

    fn push_other(&mut self, mut event: Event) {
        event.seq = self.chunk.records.len() as u64;
        self.chunk.records.push(Record::Other);
        self.others.push(event);
    }

    pub fn len(&self) -> usize {
        self.chunk.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunk.records.is_empty()
    }
}

/// A batch of at least this many events is moved into the log whole (the batch takes a spare
/// chunk in exchange); smaller ones are copied onto the log's last chunk.
const WHOLE_CHUNK: usize = 64;
/// Room of a chunk made for small batches and single events.
const SMALL_CHUNK: usize = 1024;
/// Chunks let go by the log kept for reuse (a wave gives one back for each it takes).
const SPARE_CHUNKS: usize = 4;

/// Bounded, ordered, multi-producer event log.
#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug)]
struct Ring {
    /// The events, oldest first, in the chunks they were appended in.
    chunks: VecDeque<Chunk>,
    /// Records of the front chunk already gone (polled or dropped).
    head: usize,
    /// Events held (in all chunks, less `head`).
    len: usize,
    /// Chunks let go, cleared, to be filled again: a log that wraps takes no fresh memory.
    spare: Vec<Chunk>,
    /// The events behind the `Other` markers, in order, with their sequence numbers.
    others: VecDeque<Event>,
    /// Sequence number of the next event appended; the log holds the `len` before it.
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
        self.next_seq - self.len as u64
    }

    /// An empty chunk with room for `records` and `ids`: a spare one if it is big enough.
    fn take_chunk(&mut self, records: usize, ids: usize) -> Chunk {
        // Spares come in the sizes of what was appended (waves' batches, small chunks): any
        // one with room will do.
        match (self.spare.iter()).position(|chunk| chunk.has_room(records, ids)) {
            Some(k) => self.spare.swap_remove(k),
            None => Chunk::with_capacity(records, ids),
        }
    }

    /// Forget the `n` oldest events (polled, or dropped for room).
    fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let left = front.records.len() - self.head;
            if n < left {
                self.head += n;
                self.len -= n;
                return;
            }
            n -= left;
            self.len -= left;
            self.head = 0;
            let mut chunk = self.chunks.pop_front().expect("the front chunk");
            if self.spare.len() < SPARE_CHUNKS {
                chunk.clear();
                self.spare.push(chunk);
            }
        }
    }

    /// Keep the newest `capacity` events, counting the others as dropped.
    fn bound(&mut self, capacity: usize) {
        let overflow = self.len.saturating_sub(capacity);
        if overflow > 0 {
            self.drop_front(overflow);
            self.dropped += overflow as u64;
        }
    }

    /// The last chunk, if it has room for `records` and `ids` more; a new one otherwise.
    fn tail_with_room(&mut self, records: usize, ids: usize) -> &mut Chunk {
        let has_room = self
            .chunks
            .back()
            .is_some_and(|tail| tail.has_room(records, ids));
        if !has_room {
            let chunk = self.take_chunk(SMALL_CHUNK.max(records), (SMALL_CHUNK / 4).max(ids));
            self.chunks.push_back(chunk);
        }
        self.chunks.back_mut().expect("a tail chunk")
    }

    /// Append one event: its record (and id), and for an `Other` marker the event behind it.
    fn push(&mut self, record: Record, id: Option<ArtifactId>, other: Option<Event>) {
        if let Some(mut event) = other {
            event.seq = self.next_seq;
            self.others.push_back(event);
        }
        let tail = self.tail_with_room(1, usize::from(id.is_some()));
        match (record, id) {
            (
                Record::Stored {
                    time, size, dedup, ..
                },
                Some(id),
            ) => {
                tail.records.push(Record::Stored {
                    time,
                    size,
                    id: tail.ids.len() as u32,
                    dedup,
                });
                tail.ids.push(id);
            }
            (record, _) => tail.records.push(record),
        }
        self.len += 1;
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

    /// The `n` events from the `skip`-th kept one on, oldest first. With `take` the events behind
    /// `Other` markers are moved out (the caller then drops the `n` from the front, as a poll
    /// does); without, they are copied and the log stays as it is.
    fn events(&mut self, skip: usize, n: usize, take: bool) -> Vec<Event> {
        debug_assert!(!take || skip == 0, "only the front can be taken");
        let (mut chunk, mut k) = (0, self.head);
        let mut left = skip;
        while left > 0 {
            let here = self.chunks[chunk].records.len() - k;
            if left < here {
                k += left;
                left = 0;
            } else {
                left -= here;
                (chunk, k) = (chunk + 1, 0);
            }
        }
        let mut seq = self.first_seq() + skip as u64;
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            if k == self.chunks[chunk].records.len() {
                (chunk, k) = (chunk + 1, 0);
                continue;
            }
            let record = self.chunks[chunk].records[k];
            events.push(if take {
                self.event(chunk, record, seq)
            } else {
                self.event_copy(chunk, record, seq)
            });
            k += 1;
            seq += 1;
        }
        events
    }

    /// The event `record` of `chunk` stands for, numbered `seq`.
    fn event(&mut self, chunk: usize, record: Record, seq: u64) -> Event {
        if let Record::Other = record {
            // Others before the first kept event were trimmed: the front is this one.
            let event = self.others.pop_front().expect("an event per Other marker");
            debug_assert_eq!(event.seq, seq);
            return event;
        }
        self.event_copy(chunk, record, seq)
    }

    /// The event `record` of `chunk` stands for, numbered `seq`, leaving the log as it is.
    fn event_copy(&self, chunk: usize, record: Record, seq: u64) -> Event {
        match record {
            Record::NodeState {
                time,
                slot,
                node,
                attempt,
                from,
                to,
            } => {
                let names = self.names[slot.0 as usize]
                    .as_ref()
                    .expect("a run's names stay while the log holds its events");
                Event {
                    seq,
                    time,
                    component: Component::Dag,
                    kind: "node.state",
                    subject: Subject::Pair(names.run.clone(), names.nodes[node as usize].clone()),
                    data: Fields::from_buf([
                        ("from", Field::Word(from.as_str())),
                        ("to", Field::Word(to.as_str())),
                        ("attempt", Field::UInt(u64::from(attempt))),
                    ]),
                }
            }
            Record::Stored {
                time,
                size,
                id,
                dedup,
            } => Event {
                seq,
                ..stored_event(
                    time,
                    self.chunks[chunk].ids[id as usize],
                    u64::from(size),
                    dedup,
                )
            },
            Record::Other => {
                let k = (self.others)
                    .binary_search_by_key(&seq, |e| e.seq)
                    .expect("an event per Other marker");
                self.others[k].clone()
            }
        }
    }
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            inner: Mutex::new(Ring {
                chunks: VecDeque::new(),
                head: 0,
                len: 0,
                spare: Vec::new(),
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
            None,
            Some(event_now(component, kind, subject, data)),
        );
    }

    /// Append `artifact.stored` for `id` (`dedup`: its bytes were already there), stamped now.
    pub fn stored(&self, id: ArtifactId, size: usize, dedup: bool) {
        let time = crate::now();
        match u32::try_from(size) {
            Ok(size) => self.push_one(
                Record::Stored {
                    time,
                    size,
                    id: 0,
                    dedup,
                },
                Some(id),
                None,
            ),
            Err(_) => self.push_one(
                Record::Other,
                None,
                Some(stored_event(time, id, size as u64, dedup)),
            ),
        }
    }

    fn push_one(&self, record: Record, id: Option<ArtifactId>, other: Option<Event>) {
        let mut ring = self.inner.lock();
        ring.push(record, id, other);
        ring.bound(self.capacity);
        ring.trim();
    }

    /// Append every event of `batch`, in order, leaving it empty (with room for as many).
    /// A big batch becomes part of the log as it is, without a copy. When the log is full the
    /// oldest events make room and are counted as dropped (a batch larger than the whole log
    /// keeps only its newest events).
    pub fn append(&self, batch: &mut EventBatch) {
        if batch.is_empty() {
            return;
        }
        let mut ring = self.inner.lock();
        let incoming = batch.len();
        let base = ring.next_seq;
        for mut event in batch.others.drain(..) {
            event.seq += base;
            ring.others.push_back(event);
        }
        if incoming >= WHOLE_CHUNK {
            let room = (batch.chunk.records.capacity(), batch.chunk.ids.capacity());
            let chunk = std::mem::replace(&mut batch.chunk, ring.take_chunk(room.0, room.1));
            ring.chunks.push_back(chunk);
        } else {
            let ids = batch.chunk.ids.len();
            ring.tail_with_room(incoming, ids).extend_from(&batch.chunk);
            batch.chunk.clear();
        }
        ring.len += incoming;
        ring.next_seq += incoming as u64;
        ring.bound(self.capacity);
        ring.trim();
    }

    /// Remove and return up to `max` of the oldest events.
    pub fn poll(&self, max: usize) -> Vec<Event> {
        let mut ring = self.inner.lock();
        let n = max.min(ring.len);
        let events = ring.events(0, n, true);
        ring.drop_front(n);
        ring.trim();
        events
    }

    /// Up to `max` of the events numbered after `after`, oldest first, left in the log for
    /// [`poll`](Self::poll): a reader that must not take them from the user (a notebook's event
    /// pump) keeps the last number it saw and asks again. Events the log dropped or a poll took
    /// meanwhile are not there to read.
    pub fn read_after(&self, after: u64, max: usize) -> Vec<Event> {
        let mut ring = self.inner.lock();
        let first = ring.first_seq();
        let skip = (after.saturating_add(1).max(first) - first) as usize;
        if skip >= ring.len {
            return Vec::new();
        }
        let n = max.min(ring.len - skip);
        ring.events(skip, n, false)
    }

    pub fn pending(&self) -> usize {
        self.inner.lock().len
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
        Arc::new(RunNames {
            run: Arc::from(run),
            nodes: vec![Arc::from("a"), Arc::from("b")].into(),
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

    /// One thing a test does to the log: `(what, count, flag)`.
    type Op = (u8, usize, bool);

    /// An event as a test compares it: kind, subject and `key=value` details.
    type Shown = (&'static str, String, Vec<String>);

    /// What an event must look like when polled, without its sequence number.
    fn expected(kind: u8, k: usize, flag: bool, run: &str) -> Shown {
        let id = artifact_of(k);
        match kind {
            0 => (
                "node.state",
                format!("{run}/{}", if flag { "b" } else { "a" }),
                vec![
                    "from=ready".into(),
                    "to=running".into(),
                    format!("attempt={k}"),
                ],
            ),
            1 => {
                let size = if flag { 5_000_000_000 } else { k as u64 };
                (
                    "artifact.stored",
                    id.to_string(),
                    vec![format!("size={size}"), format!("dedup={flag}")],
                )
            }
            _ => ("other", format!("x{k}"), vec![format!("k={k}")]),
        }
    }

    /// The artifact of event `k`: the same for neighbours, and again later (results repeat).
    fn artifact_of(k: usize) -> ArtifactId {
        ArtifactId::of(&((k / 6) % 4).to_le_bytes())
    }

    fn add(batch: &mut EventBatch, slot: NamesSlot, kind: u8, k: usize, flag: bool) {
        let id = artifact_of(k);
        match kind {
            0 => batch.node_state(
                k as f64,
                slot,
                usize::from(flag),
                NodeState::Ready,
                NodeState::Running,
                k as u32,
            ),
            1 => batch.stored(k as f64, id, if flag { 5_000_000_000 } else { k }, flag),
            _ => batch.emit(
                Component::Pit,
                "other",
                format!("x{k}").as_str().into(),
                &[("k", Field::UInt(k as u64))],
            ),
        }
    }

    proptest::proptest! {
        /// Batches big and small (moved whole or copied onto the last chunk), single events,
        /// polls and a full log that drops the oldest: every event comes back once, in order,
        /// with its details (a stored artifact's id from its own chunk), and the counts agree
        /// with a plain queue of events.
        #[test]
        fn the_log_keeps_the_newest_events_like_a_plain_queue(
            capacity in 1usize..400,
            ops in proptest::collection::vec((0u8..4, 0usize..150, proptest::bool::ANY), 0..60),
        ) {
            let log = EventLog::new(capacity);
            let slot = log.open_names(names("wf-1"));
            let mut model: VecDeque<(u64, Shown)> = VecDeque::new();
            let (mut next, mut dropped) = (1u64, 0u64);
            let mut batch = EventBatch::new();
            let ops: Vec<Op> = ops;
            for (step, &(what, count, flag)) in ops.iter().enumerate() {
                match what {
                    // A batch of `count` events of mixed kinds.
                    0 | 1 => {
                        for k in 0..count {
                            let kind = ((k + step) % 3) as u8;
                            let flag = flag && k % 7 == 0;
                            add(&mut batch, slot, kind, k, flag);
                            model.push_back((next, expected(kind, k, flag, "wf-1")));
                            next += 1;
                        }
                        log.append(&mut batch);
                        proptest::prop_assert!(batch.is_empty());
                    }
                    // A single event.
                    2 => {
                        if flag {
                            log.stored(artifact_of(count), count, false);
                            model.push_back((next, expected(1, count, false, "wf-1")));
                        } else {
                            log.emit(
                                Component::Pit,
                                "other",
                                format!("x{count}").as_str().into(),
                                &[("k", Field::UInt(count as u64))],
                            );
                            model.push_back((next, expected(2, count, false, "wf-1")));
                        }
                        next += 1;
                    }
                    // A poll of up to `count`.
                    _ => {
                        while model.len() > capacity {
                            model.pop_front();
                            dropped += 1;
                        }
                        // A reader that leaves them (from a few events in) sees what a
                        // poll then takes.
                        let after = model.front().map_or(next - 1, |(seq, _)| seq - 1) + (count % 5) as u64;
                        let read = log.read_after(after, count);
                        let readable: Vec<_> = model.iter().filter(|(seq, _)| *seq > after).take(count).collect();
                        proptest::prop_assert_eq!(read.len(), readable.len());
                        for (event, (seq, (kind, subject, _))) in read.iter().zip(readable) {
                            proptest::prop_assert_eq!(event.seq, *seq);
                            proptest::prop_assert_eq!(event.kind, *kind);
                            proptest::prop_assert_eq!(&event.subject.to_string(), subject);
                        }
                        let events = log.poll(count);
                        let want: Vec<_> = (0..count.min(model.len()))
                            .map(|_| model.pop_front().expect("counted"))
                            .collect();
                        proptest::prop_assert_eq!(events.len(), want.len());
                        for (event, (seq, (kind, subject, data))) in events.iter().zip(&want) {
                            proptest::prop_assert_eq!(event.seq, *seq);
                            proptest::prop_assert_eq!(event.kind, *kind);
                            proptest::prop_assert_eq!(&event.subject.to_string(), subject);
                            let got: Vec<String> =
                                event.data.iter().map(|(k, v)| format!("{k}={v}")).collect();
                            proptest::prop_assert_eq!(&got, data);
                        }
                    }
                }
                while model.len() > capacity {
                    model.pop_front();
                    dropped += 1;
                }
                proptest::prop_assert_eq!(log.pending(), model.len());
                proptest::prop_assert_eq!(log.dropped(), dropped);
            }
            let rest = log.poll(usize::MAX);
            let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
            let want: Vec<u64> = model.iter().map(|(seq, _)| *seq).collect();
            proptest::prop_assert_eq!(seqs, want);
        }
    }
}
