//! The workflow scheduler: runs a [`CompiledWorkflow`] to the end.
//!
//! One scheduler loop per run, on the caller's thread. Ready nodes wait in a queue ordered by
//! priority, then topological rank; a node starts when its pool has a free slot (`concurrency`
//! per pool, default 1). Built-in nodes and host callables of pools with one slot and no timeout
//! run inline on the scheduler's thread (no hand-off); the others run on worker threads and report
//! back through a channel. Every transition goes through the DAG Tracker (states, events,
//! history); every result is stored in the Artifact Store with its lineage; a node whose identity
//! and inputs are unchanged is served from the memo table ("cached"). A failed attempt with
//! retries left waits its backoff and goes again; when every attempt failed the fallback body
//! runs; a final failure skips everything downstream. Cancelling (token, or an interrupt from the
//! host) cancels every unfinished node and ends the run Cancelled; only finished results were
//! stored, so nothing is half-written.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::arbitration::{Grant, Lease, Request};
use crate::artifact::{ArtifactId, Content, Hashed, Producer, PutOptions, SmallIds};
use crate::dag::{NodeState, RunStatus, WorkflowGraph};
use crate::error::{PitError, Result};
use crate::events::{Component, EventBatch, Field, Subject};
use crate::persist::memo::{memo_key, MemoKey};
use crate::pit::Pit;
use crate::value::{SharedValue, Value, VALUE_CONTENT_TYPE};
use crate::workflow::builtin::Builtin;
use crate::workflow::manifest::{Body, CompiledWorkflow, Source};
use crate::workflow::ready::ReadyQueue;
use crate::workflow::workers;

/// How often the scheduler asks the host whether the user interrupted (Ctrl-C).
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// Most nodes one wave records at once (bounds how long the run and the store are held).
const WAVE_MAX: usize = 256;

thread_local! {
    /// The small-id table of the last run that finished on this thread, for the next one: ids
    /// are content hashes, valid in any run, and a fresh table is 14 KB to fill every run.
    static SPARE_SMALL_IDS: Cell<Option<SmallIds>> = const { Cell::new(None) };
}

/// Events a wave's batch has room for per node before it grows: running, stored, succeeded,
/// and about one successor made ready — a full wave of four per node overflows by the layer
/// it makes ready, and a grown batch costs a copy each wave.
const WAVE_EVENTS_PER_NODE: usize = 5;

/// What kind of failure a node attempt met: one of the engine's own, or the host's (a Python
/// callable's exception). The bindings map each kind to an exception class of the host, once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeErrorKind {
    /// A built-in node got an input of a type it does not take.
    WrongType,
    /// A built-in calculation divided by zero.
    ZeroDivision,
    /// A built-in integer calculation left the 64-bit range.
    Overflow,
    /// The attempt ran past the node's timeout.
    Timeout,
    /// The node's resources can never be granted, or too many abandoned attempts still run.
    ResourceExhausted,
    /// The node names a pool that does not exist.
    NotFound,
    /// The node's result could not be stored.
    Storage,
    /// A model invocation or a sub-workflow failed.
    Runtime,
    /// A broken invariant (a panic caught, a missing callable): always a bug.
    Internal,
    /// The host's own failure, named as the host names it (a Python exception's class).
    Host(String),
}

impl fmt::Display for NodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeErrorKind::WrongType => "wrong type",
            NodeErrorKind::ZeroDivision => "division by zero",
            NodeErrorKind::Overflow => "overflow",
            NodeErrorKind::Timeout => "timeout",
            NodeErrorKind::ResourceExhausted => "resource exhausted",
            NodeErrorKind::NotFound => "not found",
            NodeErrorKind::Storage => "storage",
            NodeErrorKind::Runtime => "runtime",
            NodeErrorKind::Internal => "internal",
            NodeErrorKind::Host(name) => name,
        })
    }
}

/// Why a node attempt failed.
#[derive(Clone)]
pub struct NodeError {
    pub kind: NodeErrorKind,
    pub message: String,
    /// The host's formatted traceback, when there is one.
    pub traceback: Option<String>,
    /// The original host exception object, re-raised with its type by the bindings.
    pub payload: Option<Arc<dyn Any + Send + Sync>>,
    /// The user interrupted (KeyboardInterrupt): the run is cancelled, not failed.
    pub interrupt: bool,
}

impl NodeError {
    pub fn new(kind: NodeErrorKind, message: impl Into<String>) -> Self {
        NodeError {
            kind,
            message: message.into(),
            traceback: None,
            payload: None,
            interrupt: false,
        }
    }

    /// A failure the host raised, named as the host names it.
    pub fn host(name: &str, message: impl Into<String>) -> Self {
        NodeError::new(NodeErrorKind::Host(name.to_owned()), message)
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl fmt::Debug for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeError({self})")
    }
}

/// A node's (or workflow input's) result: its artifact, its value, and the host's own object for
/// it when the host made it (so the host gets back the very object, not a copy).
pub struct Output<D> {
    pub id: ArtifactId,
    pub value: SharedValue,
    pub data: Option<D>,
}

impl<D: Clone> Clone for Output<D> {
    fn clone(&self) -> Self {
        Output {
            id: self.id,
            value: self.value.clone(),
            data: self.data.clone(),
        }
    }
}

/// The host language side: runs callables and converts their results.
pub trait Host: Send + Sync + 'static {
    /// The host's handle on a value (a Python object for the bindings).
    type Data: Clone + Send + Sync + 'static;
    /// Call host callable `slot` with `inputs`; return the result and its [`Value`] (for the
    /// store). A result that cannot be converted is a `NodeError` naming its type.
    fn call(
        &self,
        slot: usize,
        inputs: &[Output<Self::Data>],
    ) -> std::result::Result<(Self::Data, Value), NodeError>;
    /// Called while the scheduler waits; an error (with `interrupt`) cancels the run.
    fn check_interrupt(&self) -> std::result::Result<(), NodeError> {
        Ok(())
    }
}

/// Cancels a run from another thread (or an asyncio task's cancellation).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How to run a workflow.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Serve unchanged nodes from the memo table (and remember new results).
    pub cache: bool,
    /// Slots per pool; pools not named get one.
    pub concurrency: HashMap<String, usize>,
    pub cancel: CancelToken,
    /// Results to reuse by node name (resuming a failed run).
    pub reuse: HashMap<String, ArtifactId>,
    /// Who the run's requests are for (Arbitration fairness); default the workflow's name.
    pub tenant: Option<Arc<str>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cache: true,
            concurrency: HashMap::new(),
            cancel: CancelToken::new(),
            reuse: HashMap::new(),
            tenant: None,
        }
    }
}

/// What happened to one node (its name and pool are the workflow's: [`RunReport::name_of`]).
pub struct NodeReport<D> {
    pub attempts: u32,
    /// Served from the memo table.
    pub cached: bool,
    /// Reused from the run being resumed.
    pub reused: bool,
    /// The fallback produced the result.
    pub fallback: bool,
    /// The last error (also kept when a retry or the fallback then succeeded); boxed, as most
    /// nodes have none and a run makes one report per node.
    pub error: Option<Box<NodeError>>,
    pub output: Option<Output<D>>,
    /// Ran on a worker thread.
    pub worker: bool,
    pub ready_at: Stamp,
    pub started_at: Stamp,
    pub finished_at: Stamp,
}

// A run keeps one report per node, and the Pit keeps the reports of its recent runs: keep it small.
const _: () = assert!(std::mem::size_of::<NodeReport<Arc<()>>>() <= 112);

/// A finished run's node reports, by node index (read through `Deref` as a slice).
///
/// Most runs' reports own no heap memory (results inline, no host objects, no errors), and
/// those are let go without reading each report again: a host keeps the reports of its recent
/// runs, so the run let go is the oldest one, its reports long out of the caches, and a pass
/// over them cost several microseconds per thousand nodes.
pub struct NodeReports<D> {
    reports: Vec<NodeReport<D>>,
    /// Some report holds an error, a shared value or a host object (false only when none does).
    owns_heap: bool,
}

impl<D> NodeReports<D> {
    /// `owns_heap` must be true if any report holds an error, a `SharedValue::Shared` value or
    /// host data (a false `false` leaks them; it cannot do worse).
    fn new(reports: Vec<NodeReport<D>>, owns_heap: bool) -> Self {
        debug_assert!(owns_heap || reports.iter().all(NodeReport::owns_nothing));
        NodeReports { reports, owns_heap }
    }
}

impl<D> std::ops::Deref for NodeReports<D> {
    type Target = [NodeReport<D>];
    fn deref(&self) -> &[NodeReport<D>] {
        &self.reports
    }
}

impl<D> Drop for NodeReports<D> {
    fn drop(&mut self) {
        if !self.owns_heap {
            // SAFETY: a length of 0 is within capacity and leaves no element to read; the
            // elements, owning no heap memory, need no drop (the buffer is freed as usual).
            unsafe { self.reports.set_len(0) };
        }
    }
}

impl<D> NodeReport<D> {
    /// Whether dropping this report would free nothing.
    fn owns_nothing(&self) -> bool {
        self.error.is_none()
            && self
                .output
                .as_ref()
                .is_none_or(|o| o.data.is_none() && matches!(o.value, SharedValue::Inline(_)))
    }
}

/// When something happened to a node, if it has: a plain float, NaN until then (half the bytes
/// of an `Option<f64>`).
#[derive(Clone, Copy, Debug)]
pub struct Stamp(f64);

impl Stamp {
    pub const NOT_YET: Stamp = Stamp(f64::NAN);

    pub fn at(time: f64) -> Stamp {
        Stamp(time)
    }

    pub fn get(self) -> Option<f64> {
        crate::known(self.0)
    }

    /// The time, set to `now` if there was none.
    pub fn get_or_set(&mut self, now: f64) -> f64 {
        if self.0.is_nan() {
            self.0 = now;
        }
        self.0
    }
}

/// The outcome of a run.
pub struct RunReport<D> {
    pub run_id: String,
    pub workflow: String,
    /// The graph that ran: node names by index.
    pub graph: Arc<WorkflowGraph>,
    pub status: RunStatus,
    /// Each node's final state (apart from the reports: the tracker's own, handed over whole).
    pub states: Vec<NodeState>,
    pub nodes: NodeReports<D>,
    /// Indices of the output nodes.
    pub outputs: Vec<usize>,
    pub inputs: Vec<Output<D>>,
    /// The first node that failed for good.
    pub failed_node: Option<usize>,
    /// Set when the host interrupted the run (KeyboardInterrupt).
    pub interrupt: Option<NodeError>,
    /// The sub-workflow run each container node started (few nodes are containers).
    pub sub_runs: Vec<(usize, String)>,
    pub started_at: f64,
    pub finished_at: f64,
}

impl<D> RunReport<D> {
    /// Name of node `i`.
    pub fn name_of(&self, i: usize) -> &str {
        self.graph.name_of(i)
    }

    /// The sub-workflow run node `i` started, if it is a container that ran.
    pub fn sub_run_of(&self, i: usize) -> Option<&str> {
        self.sub_runs
            .iter()
            .find(|(k, _)| *k == i)
            .map(|(_, run)| run.as_str())
    }

    /// Node `name`'s report.
    pub fn node(&self, name: &str) -> Option<&NodeReport<D>> {
        self.graph.index_of(name).map(|i| &self.nodes[i])
    }
}

/// What running a body gave: the host's object (if it made one) and the value, or the error.
type Outcome<D> = std::result::Result<(Option<D>, Value), NodeError>;

type Completion<D> = (usize, u64, std::result::Result<(D, Value), NodeError>);

/// What reaches the scheduler from other threads.
enum Message<D> {
    /// A worker finished an attempt.
    Done(Completion<D>),
    /// Arbitration decided a queued node's request: its capacity, or why it never will be.
    Granted(usize, Result<Lease>),
}

/// A wave node computed and waiting to be recorded.
struct Staged {
    node: usize,
    /// Every input was computed in this wave.
    inputs_here: bool,
    /// Its encoding, in the wave's byte buffer (the id of that is in the node's report).
    bytes: std::ops::Range<usize>,
    started: f64,
    finished: f64,
}

struct Flight {
    token: u64,
    /// The worker's job: abandoned if the run stops waiting for it.
    job: Option<workers::Job>,
    deadline: Option<Instant>,
    fallback: bool,
}

struct Exec<'a, H: Host> {
    pit: &'a Pit,
    wf: &'a CompiledWorkflow,
    host: &'a Arc<H>,
    opts: &'a RunOptions,
    run_id: Arc<str>,
    inputs: Vec<Output<H::Data>>,
    nodes: Vec<NodeReport<H::Data>>,
    /// Whether some report may own heap memory (see [`NodeReports`]): set by every way a node
    /// ends but a wave's inline result.
    reports_own_heap: bool,
    /// Each node's memo key, once computed; empty for a run that memoises nothing (per-node
    /// arrays a run does not use are memory it need not touch).
    memo_keys: Vec<Option<MemoKey>>,
    /// Ready nodes: (priority level, topological rank).
    ready: ReadyQueue,
    /// Retries waiting out their backoff: (due, node).
    delayed: Vec<(Instant, usize)>,
    /// Ready nodes whose pool was full (this run's own `concurrency`).
    blocked: Vec<usize>,
    /// The run's pools, by index (looked up by name once, not per node).
    pools: RunPools,
    in_flight: HashMap<usize, Flight>,
    /// Capacity held by running nodes; empty for a run with no arbitrated pool.
    leases: Vec<Option<Lease>>,
    /// Nodes waiting for a grant, and their tickets.
    tickets: HashMap<usize, u64>,
    /// Requests Arbitration refused (they can never fit): the node fails when it starts.
    denied: HashMap<usize, NodeError>,
    tenant: Arc<str>,
    tx: Sender<Message<H::Data>>,
    rx: Receiver<Message<H::Data>>,
    next_token: u64,
    newly_ready: Vec<usize>,
    /// Nodes that may run in a wave: pure built-ins of pools outside Arbitration, not reused
    /// or memoised. A node whose wave attempt fails loses the flag and goes the single way.
    wave_ok: Vec<bool>,
    /// Nodes the current wave made ready (their inputs computed in it).
    early_ready: Vec<usize>,
    staged: Vec<Staged>,
    wave_bytes: Vec<u8>,
    small_ids: SmallIds,
    /// Waves are numbered from 1; each node's result was computed by the wave of this number
    /// (0: none). A node whose inputs were all computed by its own wave finds them stored under
    /// the same hold of the store when it is recorded (a wave records in the order it computed
    /// and stops at the first node it could not record): its lineage needs no lookup.
    computed_in_wave: Vec<u32>,
    waves: u32,
    /// How many predecessors of each node have no result yet (a wave finds the nodes it made
    /// ready by counting down); kept only by runs with wave nodes.
    missing_inputs: Vec<u32>,
    events: EventBatch,
    failed_node: Option<usize>,
    interrupt: Option<NodeError>,
    sub_runs: Vec<(usize, String)>,
    last_interrupt_check: Instant,
}

/// The run's state of the pools its nodes use, by pool index (a node's is `wf.pool_of[i]`).
struct RunPools {
    /// Nodes started or waiting for a grant, per pool.
    running: Vec<usize>,
    /// Registered with the Pool Manager: the pool's capacity is granted by Arbitration.
    arbitrated: Vec<bool>,
    /// This run's own cap per pool: `concurrency` if given, else one for a pool the Pool
    /// Manager does not know, unbounded for an arbitrated pool (its capacity decides).
    limit: Vec<usize>,
}

impl RunPools {
    fn new(pit: &Pit, wf: &CompiledWorkflow, opts: &RunOptions) -> RunPools {
        let arbitrated: Vec<bool> = wf.pools.iter().map(|p| pit.pools.has_pool(p)).collect();
        let limit = wf
            .pools
            .iter()
            .zip(&arbitrated)
            .map(|(p, &arb)| match opts.concurrency.get(&**p) {
                Some(&n) => n.max(1),
                None if arb => usize::MAX,
                None => 1,
            })
            .collect();
        RunPools {
            running: vec![0; wf.pools.len()],
            arbitrated,
            limit,
        }
    }
}

/// Run `wf` with `inputs` (one per declared input, in order: the value and, optionally, the
/// host's object for it). Errors are the Pit's own (a closed store, a bad input count); node
/// failures are in the report.
pub fn execute<H: Host>(
    pit: &Pit,
    wf: &CompiledWorkflow,
    host: &Arc<H>,
    inputs: Vec<(Value, Option<H::Data>)>,
    opts: &RunOptions,
) -> Result<RunReport<H::Data>> {
    if inputs.len() != wf.manifest.inputs.len() {
        return Err(PitError::validation(format!(
            "workflow '{}' takes {} input(s) [{}], got {}",
            wf.name(),
            wf.manifest.inputs.len(),
            wf.manifest.inputs.join(", "),
            inputs.len()
        )));
    }
    let started_at = crate::now();
    let mut stored = Vec::with_capacity(inputs.len());
    for (k, (value, data)) in inputs.into_iter().enumerate() {
        let id = pit.artifacts.put(
            &value.encode(),
            PutOptions {
                content_type: Some(VALUE_CONTENT_TYPE.into()),
                created_by: Some(format!("workflow:{}", wf.name())),
                tags: vec![format!("input:{}", wf.manifest.inputs[k])],
                ..PutOptions::default()
            },
        )?;
        stored.push(Output {
            id,
            value: SharedValue::new(value),
            data,
        });
    }
    let run_id: Arc<str> = Arc::from(pit.dags.start(wf.graph.clone())?);
    // Its detail must stay until the report is made, however many runs finish meanwhile.
    pit.dags.hold(&run_id)?;
    let (tx, rx) = channel();
    let now = crate::now();
    let nodes = wf
        .nodes
        .iter()
        .map(|_| NodeReport {
            attempts: 0,
            cached: false,
            reused: false,
            fallback: false,
            error: None,
            output: None,
            worker: false,
            ready_at: Stamp::NOT_YET,
            started_at: Stamp::NOT_YET,
            finished_at: Stamp::NOT_YET,
        })
        .collect();
    let pools = RunPools::new(pit, wf, opts);
    let arbitrated = pools.arbitrated.contains(&true);
    let memoising = opts.cache && wf.memoisable.contains(&true);
    // Pure built-ins, less those memoised, arbitrated or reused (in the usual run, none: then
    // this is one copy).
    let mut wave_ok = wf.pure_builtin.clone();
    if memoising || arbitrated || !opts.reuse.is_empty() {
        for (i, ok) in wave_ok.iter_mut().enumerate() {
            *ok &= (!opts.cache || !wf.memoisable[i])
                && !pools.arbitrated[wf.pool_of[i]]
                && (opts.reuse.is_empty() || !opts.reuse.contains_key(&*wf.nodes[i].name));
        }
    }
    // Only waves use the run's own event batch and staging buffer: sized for its wave nodes.
    let wave_nodes = wave_ok.iter().filter(|&&ok| ok).count();
    let mut exec = Exec {
        pit,
        wf,
        host,
        opts,
        run_id,
        inputs: stored,
        nodes,
        reports_own_heap: false,
        memo_keys: if memoising {
            vec![None; wf.len()]
        } else {
            Vec::new()
        },
        ready: ReadyQueue::new(wf.levels.priorities.len(), wf.len()),
        delayed: Vec::new(),
        blocked: Vec::new(),
        pools,
        in_flight: HashMap::new(),
        leases: if arbitrated {
            (0..wf.len()).map(|_| None).collect()
        } else {
            Vec::new()
        },
        tickets: HashMap::new(),
        denied: HashMap::new(),
        tenant: opts.tenant.clone().unwrap_or_else(|| Arc::from(wf.name())),
        tx,
        rx,
        next_token: 0,
        newly_ready: Vec::with_capacity(wave_nodes.min(WAVE_MAX)),
        wave_ok,
        early_ready: Vec::with_capacity(wave_nodes.min(WAVE_MAX)),
        staged: Vec::with_capacity(wave_nodes.min(WAVE_MAX)),
        // Room for a wave of scalars (a scalar's encoding is under 16 bytes).
        wave_bytes: Vec::with_capacity(16 * wave_nodes.min(WAVE_MAX)),
        small_ids: SPARE_SMALL_IDS.with(Cell::take).unwrap_or_default(),
        computed_in_wave: if wave_nodes > 0 {
            vec![0; wf.len()]
        } else {
            Vec::new()
        },
        waves: 0,
        missing_inputs: if wave_nodes > 0 {
            wf.graph.in_degrees().to_vec()
        } else {
            Vec::new()
        },
        events: EventBatch::with_capacity(
            WAVE_EVENTS_PER_NODE * wave_nodes.min(WAVE_MAX),
            wave_nodes.min(WAVE_MAX),
        ),
        failed_node: None,
        interrupt: None,
        sub_runs: Vec::new(),
        last_interrupt_check: Instant::now(),
    };
    for &i in wf.graph.roots() {
        exec.push_ready(i, now);
    }
    if let Err(e) = exec.run() {
        // The engine itself failed (a closed store, a broken invariant): leave no run half-open.
        let _ = exec.cancel();
        let _ = pit.dags.release(&exec.run_id);
        return Err(e);
    }
    exec.finish(started_at)
}

impl<H: Host> Exec<'_, H> {
    fn push_ready(&mut self, i: usize, now: f64) {
        self.nodes[i].ready_at.get_or_set(now);
        let level = self.wf.levels.level_of[i] as usize;
        self.ready.insert(level, self.wf.graph.rank_of(i));
    }

    /// Ask Arbitration for node `i`'s capacity: true when it may start now.
    fn request_capacity(&mut self, i: usize) -> bool {
        let node = &self.wf.nodes[i];
        let request = Request {
            tenant: self.tenant.clone(),
            label: Arc::from(format!("{}/{}", self.run_id, node.name)),
            priority: node.priority,
            needs: vec![(node.pool.clone(), node.resources)],
        };
        let tx = self.tx.clone();
        let notify = Box::new(move |outcome: Result<Lease>| {
            // If the run is gone the lease comes back in the error and is dropped: released.
            let _ = tx.send(Message::Granted(i, outcome));
        });
        match self.pit.arbiter.request(request, notify) {
            Ok(Grant::Now(lease)) => {
                self.leases[i] = Some(lease);
                true
            }
            Ok(Grant::Queued(ticket)) => {
                self.tickets.insert(i, ticket);
                false
            }
            Err(e) => {
                self.deny(i, e);
                true
            }
        }
    }

    /// Arbitration will never grant node `i`: it fails with the reason when it starts.
    fn deny(&mut self, i: usize, e: PitError) {
        let kind = match e {
            PitError::NotFound(_) => NodeErrorKind::NotFound,
            _ => NodeErrorKind::ResourceExhausted,
        };
        self.denied.insert(i, NodeError::new(kind, e.to_string()));
    }

    fn cancelled(&self) -> bool {
        self.interrupt.is_some() || self.opts.cancel.is_cancelled()
    }

    fn run(&mut self) -> Result<()> {
        loop {
            if self.cancelled() {
                return self.cancel();
            }
            self.promote_delayed();
            // A paused run starts nothing new (checked once per round, not per node).
            let paused = self.pit.dags.status(&self.run_id)? == RunStatus::Paused;
            if !paused {
                loop {
                    if !self.run_wave()? {
                        let Some(i) = self.pop_startable() else {
                            break;
                        };
                        self.start(i)?;
                    }
                    if self.cancelled() {
                        return self.cancel();
                    }
                    self.poll_interrupt();
                }
            }
            if self.in_flight.is_empty()
                && self.delayed.is_empty()
                && self.ready.is_empty()
                && self.tickets.is_empty()
            {
                if !self.blocked.is_empty() {
                    // Nothing runs, so every pool is free again.
                    let blocked = std::mem::take(&mut self.blocked);
                    for i in blocked {
                        let at = self.nodes[i].ready_at.get().unwrap_or_else(crate::now);
                        self.push_ready(i, at);
                    }
                    continue;
                }
                return Ok(());
            }
            if paused && self.in_flight.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
                self.poll_interrupt();
                continue;
            }
            self.wait()?;
        }
    }

    fn poll_interrupt(&mut self) {
        if self.last_interrupt_check.elapsed() < INTERRUPT_POLL {
            return;
        }
        self.last_interrupt_check = Instant::now();
        if let Err(mut e) = self.host.check_interrupt() {
            e.interrupt = true;
            self.interrupt = Some(e);
        }
    }

    fn promote_delayed(&mut self) {
        if self.delayed.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut k = 0;
        while k < self.delayed.len() {
            if self.delayed[k].0 <= now {
                let (_, i) = self.delayed.swap_remove(k);
                self.push_ready(i, crate::now());
            } else {
                k += 1;
            }
        }
    }

    /// The next ready node whose pool has room; nodes of full pools are set aside, nodes of
    /// arbitrated pools wait for their grant.
    fn pop_startable(&mut self) -> Option<usize> {
        while let Some((_, rank)) = self.ready.pop() {
            let i = self.wf.graph.topological_order()[rank];
            let pool = self.wf.pool_of[i];
            if self.pools.running[pool] >= self.pools.limit[pool] {
                self.blocked.push(i);
                continue;
            }
            self.pools.running[pool] += 1;
            let arbitrated = self.pools.arbitrated[pool];
            // A sub-workflow's own nodes ask for capacity; the container holds none (holding it
            // while they wait would be hold-and-wait).
            let container = matches!(self.wf.body(i), Body::Workflow(_));
            if !arbitrated || container || self.request_capacity(i) {
                return Some(i);
            }
        }
        None
    }

    fn free_slot(&mut self, i: usize) {
        if let Some(lease) = self.leases.get_mut(i) {
            *lease = None; // dropping the lease gives its capacity back
        }
        let pool = self.wf.pool_of[i];
        self.pools.running[pool] = self.pools.running[pool].saturating_sub(1);
        // Nodes waiting for this pool may go now.
        let mut k = 0;
        while k < self.blocked.len() {
            let j = self.blocked[k];
            if self.wf.pool_of[j] == pool {
                self.blocked.swap_remove(k);
                let at = self.nodes[j].ready_at.get().unwrap_or_else(crate::now);
                self.push_ready(j, at);
            } else {
                k += 1;
            }
        }
    }

    fn transition(
        &mut self,
        i: usize,
        to: NodeState,
        error: Option<String>,
        output: Option<ArtifactId>,
    ) -> Result<NodeState> {
        let mut newly = std::mem::take(&mut self.newly_ready);
        newly.clear();
        let end = self
            .pit
            .dags
            .transition(&self.run_id, i, to, error, output, &mut newly);
        let now = crate::now();
        for &j in &newly {
            if j != i {
                self.push_ready(j, now);
            }
        }
        self.newly_ready = newly;
        end
    }

    fn emit(&self, i: usize, kind: &'static str, data: &[(&'static str, Field)]) {
        self.pit.events.emit(
            Component::Dag,
            kind,
            Subject::Pair(self.run_id.clone(), self.wf.nodes[i].name.clone()),
            data,
        );
    }

    fn gather(&self, i: usize) -> Vec<Output<H::Data>> {
        (self.wf.sources(i).iter())
            .map(|&s| self.output_of(s).clone())
            .collect()
    }

    /// What a source holds (a workflow input, or a node that has succeeded).
    fn output_of(&self, source: Source) -> &Output<H::Data> {
        match source {
            Source::Input(k) => &self.inputs[k],
            Source::Node(j) => self.nodes[j]
                .output
                .as_ref()
                .expect("a node starts only after its inputs succeeded"),
        }
    }

    /// Run the wave nodes at the head of the ready queue together: compute each in queue order
    /// (outside any lock) — a node whose every predecessor is computed joins the queue at once,
    /// so one wave can go down many layers of a graph — then record them under one hold of the
    /// run and of the store (Running, result stored with its lineage, Succeeded, successors
    /// Ready, with the times measured around each computation) and append their events at once.
    /// Returns whether it took any node. A node whose computation fails is put back, to go the
    /// single way (which records the failure, retries, fallback); the wave ends there.
    #[inline(never)]
    fn run_wave(&mut self) -> Result<bool> {
        let mut staged = std::mem::take(&mut self.staged);
        let mut bytes = std::mem::take(&mut self.wave_bytes);
        let mut early = std::mem::take(&mut self.early_ready);
        staged.clear();
        bytes.clear();
        early.clear();
        let mut small_ids = std::mem::take(&mut self.small_ids);
        let mut clock = crate::now();
        let mut failed_compute = None;
        let wave = self.waves + 1;
        while staged.len() < WAVE_MAX {
            let Some((level, rank)) = self.ready.peek() else {
                break;
            };
            let i = self.wf.graph.topological_order()[rank];
            let pool = self.wf.pool_of[i];
            if !self.wave_ok[i] || self.pools.running[pool] >= self.pools.limit[pool] {
                break;
            }
            self.ready.remove(level, rank);
            let Body::Builtin(builtin) = self.wf.body(i) else {
                unreachable!("only built-in nodes join a wave")
            };
            let (Ok(value), inputs_here) = self.apply_builtin(i, builtin, wave) else {
                self.wave_ok[i] = false;
                failed_compute = Some(i);
                break;
            };
            self.computed_in_wave[i] = wave;
            let start = bytes.len();
            value.encode_into(&mut bytes);
            let finished = crate::now();
            // Held by the report from now on, so that successors in this wave can read it;
            // taken back below if the node is not recorded.
            let value = SharedValue::new(value);
            self.reports_own_heap |= matches!(value, SharedValue::Shared(_));
            self.nodes[i].output = Some(Output {
                id: *small_ids.id_of(&bytes[start..]),
                value,
                data: None,
            });
            staged.push(Staged {
                node: i,
                inputs_here,
                bytes: start..bytes.len(),
                started: clock,
                finished,
            });
            clock = finished;
            for &j in self.wf.graph.successors(i) {
                self.missing_inputs[j] -= 1;
                if self.has_every_input(j) {
                    self.push_ready(j, finished);
                    early.push(j);
                }
            }
        }
        self.small_ids = small_ids;
        if staged.is_empty() {
            if let Some(i) = failed_compute {
                self.push_ready(i, clock); // now it goes the single way
            }
            self.staged = staged;
            self.wave_bytes = bytes;
            self.early_ready = early;
            return Ok(failed_compute.is_some());
        }
        self.waves = wave;
        let mut ev = std::mem::take(&mut self.events);
        let mut newly = std::mem::take(&mut self.newly_ready);
        newly.clear();
        let mut recorded = 0;
        let mut store_error = None;
        let mut run = self.pit.dags.lock_run(&self.run_id)?;
        let mut released = Ok(());
        match self.pit.artifacts.batch() {
            // The store takes nothing (closed): the first node goes the single way, which
            // records its failure to store; the rest are put back.
            Err(_) => self.wave_ok[staged[0].node] = false,
            Ok(mut store) => {
                for s in &staged {
                    let i = s.node;
                    let id = &self.output_of(Source::Node(i)).id;
                    let data = Hashed::again(&bytes[s.bytes.clone()], *id);
                    if !run.can_start(i) {
                        break; // paused or over: the rest stay Ready
                    }
                    run.record_start(i, s.started, &mut ev);
                    recorded += 1;
                    // Its inputs' ids, without repeats: asked for only when the store uses them.
                    let lineage = || {
                        let mut lineage: SmallVec<[ArtifactId; 4]> = SmallVec::new();
                        for &source in self.wf.sources(i) {
                            let id = self.output_of(source).id;
                            if !lineage.contains(&id) {
                                lineage.push(id);
                            }
                        }
                        lineage
                    };
                    let producer = || Producer {
                        run: self.run_id.to_string(),
                        node: self.wf.nodes[i].name.to_string(),
                    };
                    let stored = store.put_value(
                        &data,
                        lineage,
                        s.inputs_here,
                        producer,
                        s.finished,
                        &mut ev,
                    );
                    if stored.is_ok() {
                        run.record_success(i, s.finished, id, &mut ev, &mut newly);
                    }
                    // Its report, while it is at hand (a pass of its own would read every
                    // report of the wave again).
                    let report = &mut self.nodes[i];
                    report.attempts = 1;
                    report.started_at = Stamp::at(s.started);
                    match stored {
                        Ok(_) => report.finished_at = Stamp::at(s.finished),
                        Err(e) => {
                            store_error = Some(e);
                            break;
                        }
                    }
                }
                released = store.finish();
            }
        }
        // The run's events go out even if the store failed to send its writes.
        run.finish(&mut ev)?;
        released?;
        self.events = ev;
        let succeeded = recorded - usize::from(store_error.is_some());
        // Nodes not recorded, and one whose result could not be stored, hold no result.
        for s in &staged[succeeded..] {
            self.nodes[s.node].output = None;
            for &j in self.wf.graph.successors(s.node) {
                self.missing_inputs[j] += 1;
            }
        }
        if succeeded < staged.len() || failed_compute.is_some() {
            // Not all recorded: a node not started goes back to the queue if its inputs are
            // there after all, and leaves it if one of them is not.
            let unstarted = staged[recorded..].iter().map(|s| s.node);
            for j in unstarted.chain(failed_compute).chain(early.iter().copied()) {
                if self.nodes[j].attempts > 0 {
                    continue;
                }
                if self.has_every_input(j) {
                    self.push_ready(j, clock);
                } else {
                    let level = self.wf.levels.level_of[j] as usize;
                    self.ready.remove(level, self.wf.graph.rank_of(j));
                    self.nodes[j].ready_at = Stamp::NOT_YET;
                }
            }
        }
        for &j in &newly {
            // Successors computed in this wave have started already.
            if self.nodes[j].attempts == 0 {
                self.push_ready(j, clock);
            }
        }
        let failed = (store_error.is_some()).then(|| staged[recorded - 1].node);
        self.newly_ready = newly;
        self.staged = staged;
        self.wave_bytes = bytes;
        self.early_ready = early;
        if let (Some(i), Some(e)) = (failed, store_error) {
            // Recorded as Running: fail it the usual way (it holds its pool's slot until then).
            self.pools.running[self.wf.pool_of[i]] += 1;
            let error = NodeError::new(
                NodeErrorKind::Storage,
                format!("the result could not be stored: {e}"),
            );
            let inputs = self.gather(i);
            self.fail(i, false, error, inputs)?;
        }
        Ok(true)
    }

    /// Compute built-in node `i` of wave `wave` from its inputs (gathered on the stack when
    /// there are few); also says whether every input was computed in that wave.
    fn apply_builtin(
        &self,
        i: usize,
        builtin: &Builtin,
        wave: u32,
    ) -> (std::result::Result<Value, NodeError>, bool) {
        static NONE: Value = Value::None;
        let here =
            |source: Source| matches!(source, Source::Node(j) if self.computed_in_wave[j] == wave);
        let sources = self.wf.sources(i);
        // Two inputs (most nodes) are looked at apart: an `all` over them costs ~20 more
        // instructions a node.
        if let &[a, b] = sources {
            let inputs_here = here(a) & here(b);
            let (a, b) = (&self.output_of(a).value, &self.output_of(b).value);
            if let Some(value) = builtin.apply_to_two_numbers(a, b) {
                return (Ok(value), inputs_here);
            }
        }
        let inputs_here = sources.iter().all(|&source| here(source));
        let outcome = if sources.len() <= 4 {
            let mut inputs: [&Value; 4] = [&NONE; 4];
            for (slot, &source) in inputs.iter_mut().zip(sources) {
                *slot = &self.output_of(source).value;
            }
            builtin.apply(self.pit, &inputs[..sources.len()])
        } else {
            let inputs: Vec<&Value> = sources.iter().map(|&s| &*self.output_of(s).value).collect();
            builtin.apply(self.pit, &inputs)
        };
        (outcome, inputs_here)
    }

    /// Whether every predecessor of node `j` has its result (in a run with wave nodes).
    fn has_every_input(&self, j: usize) -> bool {
        debug_assert_eq!(
            self.missing_inputs[j] == 0,
            (self.wf.graph.predecessors(j).iter()).all(|&p| self.nodes[p].output.is_some())
        );
        self.missing_inputs[j] == 0
    }

    /// Move `i` to Running and run it (inline), hand it to a worker, or serve it from the store.
    fn start(&mut self, i: usize) -> Result<()> {
        self.transition(i, NodeState::Running, None, None)?;
        let report = &mut self.nodes[i];
        report.attempts += 1;
        report.started_at.get_or_set(crate::now());
        let first_attempt = report.attempts == 1;
        let inputs = self.gather(i);
        if let Some(error) = self.denied.remove(&i) {
            return self.fail(i, false, error, inputs);
        }
        if first_attempt {
            if let Some(id) = self.opts.reuse.get(&*self.wf.nodes[i].name).copied() {
                if let Some(value) = self.load(&id) {
                    self.nodes[i].reused = true;
                    self.emit(i, "node.reused", &[]);
                    return self.succeed(i, id, value, None);
                }
            }
            if let (true, Some(identity)) = (self.opts.cache, self.wf.nodes[i].identity) {
                let ids: Vec<ArtifactId> = inputs.iter().map(|o| o.id).collect();
                let key = memo_key(&identity, &ids);
                self.memo_keys[i] = Some(key);
                if let Some(id) = self.pit.memo.get(&key) {
                    if let Some(value) = self.load(&id) {
                        self.nodes[i].cached = true;
                        self.emit(i, "node.cached", &[]);
                        return self.succeed(i, id, value, None);
                    }
                }
            }
        }
        self.run_body(i, false, inputs)
    }

    /// The stored value of artifact `id`, if it is still there and readable.
    fn load(&self, id: &ArtifactId) -> Option<Value> {
        let (blob, content) = self.pit.artifacts.get_typed(id).ok()?;
        match content {
            Content::Value => Value::decode(blob.bytes()).ok(),
            Content::Bytes => Some(Value::Bytes(blob.bytes().to_vec())),
        }
    }

    fn run_body(&mut self, i: usize, fallback: bool, inputs: Vec<Output<H::Data>>) -> Result<()> {
        let node = &self.wf.nodes[i];
        let body = if fallback {
            (node.fallback.as_ref()).expect("run_body(fallback) only with a fallback")
        } else {
            self.wf.body(i)
        };
        match body {
            Body::Builtin(builtin) => {
                let values: Vec<&Value> = inputs.iter().map(|o| &*o.value).collect();
                let outcome = builtin.apply(self.pit, &values).map(|v| (None, v));
                self.complete(i, fallback, outcome, inputs)
            }
            Body::Workflow(sub) => {
                if let Some(lease) = self.leases.get_mut(i) {
                    *lease = None; // a fallback sub-workflow's nodes ask for their own
                }
                let outcome = self.run_sub(i, sub, &inputs)?;
                self.complete(i, fallback, outcome, inputs)
            }
            Body::Host { slot } => {
                let slot = *slot;
                let inline = node.timeout.is_none() && self.pools.limit[self.wf.pool_of[i]] == 1;
                if inline {
                    let outcome = self.host.call(slot, &inputs).map(|(d, v)| (Some(d), v));
                    return self.complete(i, fallback, outcome, inputs);
                }
                if node.timeout.is_some() {
                    if let Some(why) = workers::refuse_abandonable() {
                        let error = NodeError::new(NodeErrorKind::ResourceExhausted, why);
                        return self.complete(i, fallback, Err(error), inputs);
                    }
                }
                self.next_token += 1;
                let token = self.next_token;
                let deadline = node
                    .timeout
                    .map(|t| Instant::now() + Duration::from_secs_f64(t));
                self.in_flight.insert(
                    i,
                    Flight {
                        token,
                        job: None,
                        deadline,
                        fallback,
                    },
                );
                self.nodes[i].worker = true;
                let host = self.host.clone();
                let tx = self.tx.clone();
                let job = workers::submit(move || {
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        host.call(slot, &inputs)
                    }))
                    .unwrap_or_else(|_| {
                        Err(NodeError::new(
                            NodeErrorKind::Internal,
                            "the node's host call panicked",
                        ))
                    });
                    let _ = tx.send(Message::Done((i, token, outcome)));
                });
                if let Some(flight) = self.in_flight.get_mut(&i) {
                    flight.job = Some(job);
                }
                Ok(())
            }
        }
    }

    fn run_sub(
        &mut self,
        i: usize,
        sub: &CompiledWorkflow,
        inputs: &[Output<H::Data>],
    ) -> Result<Outcome<H::Data>> {
        let sub_inputs = inputs
            .iter()
            .map(|o| ((*o.value).clone(), o.data.clone()))
            .collect();
        let opts = RunOptions {
            reuse: HashMap::new(),
            ..self.opts.clone()
        };
        let report = execute(self.pit, sub, self.host, sub_inputs, &opts)?;
        self.sub_runs.push((i, report.run_id.clone()));
        if let Some(e) = report.interrupt {
            self.interrupt = Some(e.clone());
            return Ok(Err(e));
        }
        match report.status {
            RunStatus::Completed => {
                let mut outs = report
                    .outputs
                    .iter()
                    .filter_map(|&k| report.nodes[k].output.clone().map(|o| (k, o)))
                    .collect::<Vec<_>>();
                if outs.len() == 1 {
                    let (_, out) = outs.pop().expect("one output");
                    return Ok(Ok((out.data, (*out.value).clone())));
                }
                Ok(Ok((
                    None,
                    Value::Dict(
                        outs.into_iter()
                            .map(|(k, o)| {
                                (Value::Str(report.name_of(k).to_owned()), (*o.value).clone())
                            })
                            .collect(),
                    ),
                )))
            }
            status => {
                let mut error = report
                    .failed_node
                    .and_then(|k| report.nodes[k].error.as_deref().cloned())
                    .unwrap_or_else(|| {
                        NodeError::new(
                            NodeErrorKind::Runtime,
                            format!("sub-workflow run was {}", status.as_str()),
                        )
                    });
                error.message = format!(
                    "{} (in sub-workflow run '{}')",
                    error.message, report.run_id
                );
                Ok(Err(error))
            }
        }
    }

    fn complete(
        &mut self,
        i: usize,
        fallback: bool,
        outcome: Outcome<H::Data>,
        inputs: Vec<Output<H::Data>>,
    ) -> Result<()> {
        match outcome {
            Ok((data, value)) => {
                let bytes = value.encode();
                let producer = Producer {
                    run: self.run_id.to_string(),
                    node: self.wf.nodes[i].name.to_string(),
                };
                let mut lineage: Vec<ArtifactId> = Vec::with_capacity(inputs.len());
                for o in &inputs {
                    if !lineage.contains(&o.id) {
                        lineage.push(o.id);
                    }
                }
                let stored = self.pit.artifacts.put(
                    &bytes,
                    PutOptions {
                        content_type: Some(VALUE_CONTENT_TYPE.into()),
                        created_by: Some("workflow".into()),
                        producer: Some(producer),
                        inputs: lineage,
                        ..PutOptions::default()
                    },
                );
                let id = match stored {
                    Ok(id) => id,
                    Err(e) => {
                        let error = NodeError::new(
                            NodeErrorKind::Storage,
                            format!("the result could not be stored: {e}"),
                        );
                        return self.fail(i, fallback, error, inputs);
                    }
                };
                if !fallback {
                    if let Some(&Some(key)) = self.memo_keys.get(i) {
                        self.pit.memo.put(key, id);
                    }
                } else {
                    self.nodes[i].fallback = true;
                    self.emit(i, "node.fallback", &[("outcome", Field::Word("succeeded"))]);
                }
                self.succeed(i, id, value, data)
            }
            Err(error) if error.interrupt => {
                self.interrupt = Some(error);
                Ok(())
            }
            Err(error) => self.fail(i, fallback, error, inputs),
        }
    }

    fn succeed(
        &mut self,
        i: usize,
        id: ArtifactId,
        value: Value,
        data: Option<H::Data>,
    ) -> Result<()> {
        self.reports_own_heap = true;
        if !self.missing_inputs.is_empty() {
            for &j in self.wf.graph.successors(i) {
                self.missing_inputs[j] -= 1;
            }
        }
        let report = &mut self.nodes[i];
        report.output = Some(Output {
            id,
            value: SharedValue::new(value),
            data,
        });
        report.finished_at = Stamp::at(crate::now());
        self.free_slot(i);
        self.transition(i, NodeState::Succeeded, None, Some(id))?;
        Ok(())
    }

    fn fail(
        &mut self,
        i: usize,
        fallback: bool,
        error: NodeError,
        inputs: Vec<Output<H::Data>>,
    ) -> Result<()> {
        self.reports_own_heap = true; // the error
        let node = &self.wf.nodes[i];
        let attempts = self.nodes[i].attempts;
        if !fallback && attempts <= node.retries {
            let wait = node.backoff.seconds(attempts);
            self.nodes[i].error = Some(Box::new(error.clone()));
            self.free_slot(i);
            let end = self.transition(i, NodeState::Failed, Some(error.to_string()), None)?;
            if end == NodeState::Ready {
                self.delayed
                    .push((Instant::now() + Duration::from_secs_f64(wait), i));
            }
            return Ok(());
        }
        if !fallback && node.fallback.is_some() {
            self.emit(i, "node.fallback", &[("outcome", Field::Word("started"))]);
            self.nodes[i].error = Some(Box::new(error));
            return self.run_body(i, true, inputs);
        }
        let mut error = error;
        if fallback {
            let first = self.nodes[i].error.take();
            if let Some(first) = first {
                error.message = format!("{} (the fallback ran after: {first})", error.message);
            }
        }
        self.nodes[i].error = Some(Box::new(error.clone()));
        self.nodes[i].finished_at = Stamp::at(crate::now());
        self.failed_node.get_or_insert(i);
        self.free_slot(i);
        self.transition(i, NodeState::Failed, Some(error.to_string()), None)?;
        Ok(())
    }

    fn wait(&mut self) -> Result<()> {
        let now = Instant::now();
        let mut wait = INTERRUPT_POLL;
        for (due, _) in &self.delayed {
            wait = wait.min(due.saturating_duration_since(now));
        }
        for flight in self.in_flight.values() {
            if let Some(d) = flight.deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
        }
        match self.rx.recv_timeout(wait) {
            Ok(message) => {
                self.receive(message)?;
                while let Ok(message) = self.rx.try_recv() {
                    self.receive(message)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PitError::Internal("the completion channel closed".into()))
            }
        }
        self.poll_interrupt();
        self.expire()
    }

    fn receive(&mut self, message: Message<H::Data>) -> Result<()> {
        match message {
            Message::Done(done) => self.arrive(done),
            Message::Granted(i, outcome) => {
                if self.cancelled() || self.tickets.remove(&i).is_none() {
                    return Ok(()); // not wanted any more: dropping the lease releases it
                }
                match outcome {
                    Ok(lease) => self.leases[i] = Some(lease),
                    Err(e) => self.deny(i, e),
                }
                self.start(i)
            }
        }
    }

    fn arrive(&mut self, (i, token, outcome): Completion<H::Data>) -> Result<()> {
        if self.cancelled() {
            return Ok(()); // the run is being cancelled: results arriving now are not kept
        }
        match self.in_flight.get(&i) {
            Some(f) if f.token == token => {}
            _ => return Ok(()), // a late answer of an attempt that timed out
        }
        let flight = self.in_flight.remove(&i).expect("checked above");
        let inputs = self.gather(i);
        self.complete(
            i,
            flight.fallback,
            outcome.map(|(d, v)| (Some(d), v)),
            inputs,
        )
    }

    fn expire(&mut self) -> Result<()> {
        let now = Instant::now();
        let expired: Vec<(usize, bool)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline.is_some_and(|d| d <= now))
            .map(|(&i, f)| (i, f.fallback))
            .collect();
        for (i, fallback) in expired {
            if let Some(job) = self.in_flight.remove(&i).and_then(|f| f.job) {
                job.abandon();
            }
            let timeout = self.wf.nodes[i].timeout.unwrap_or(0.0);
            self.emit(i, "node.timeout", &[]);
            let error = NodeError::new(
                NodeErrorKind::Timeout,
                format!(
                    "node '{}' took longer than its {timeout} s timeout",
                    self.wf.nodes[i].name
                ),
            );
            let inputs = self.gather(i);
            self.fail(i, fallback, error, inputs)?;
        }
        Ok(())
    }

    fn cancel(&mut self) -> Result<()> {
        if !self.pit.dags.status(&self.run_id)?.is_finished() {
            self.pit.dags.cancel(&self.run_id)?;
        }
        for (_, flight) in self.in_flight.drain() {
            if let Some(job) = flight.job {
                job.abandon();
            }
        }
        self.release_all();
        Ok(())
    }

    /// Withdraw every waiting request and give back every lease.
    fn release_all(&mut self) {
        for (_, ticket) in self.tickets.drain() {
            self.pit.arbiter.withdraw(ticket);
        }
        for lease in &mut self.leases {
            *lease = None;
        }
    }

    fn finish(mut self, started_at: f64) -> Result<RunReport<H::Data>> {
        self.release_all();
        let small_ids = std::mem::take(&mut self.small_ids);
        SPARE_SMALL_IDS.with(|spare| spare.set(Some(small_ids)));
        let (states, status) = self.pit.dags.release(&self.run_id)?;
        Ok(RunReport {
            run_id: self.run_id.to_string(),
            workflow: self.wf.name().to_owned(),
            graph: self.wf.graph.clone(),
            status,
            states,
            nodes: NodeReports::new(self.nodes, self.reports_own_heap),
            outputs: self.wf.outputs.clone(),
            inputs: self.inputs,
            failed_node: self.failed_node,
            interrupt: self.interrupt,
            sub_runs: self.sub_runs,
            started_at,
            finished_at: crate::now(),
        })
    }
}
