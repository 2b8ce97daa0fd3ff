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
//!
//! Files: this one holds the run's state (`Exec`), the scheduler loop and the waiting side
//! (completions from workers, timeouts, cancellation); `single` starts one node and records its
//! outcome; `wave` computes pure built-in nodes together and records them under one hold;
//! `reports` is what a run hands back; `errors` why a node attempt failed.
//!
//! Which of `Exec`'s per-node arrays are empty when (an empty array means the feature is off
//! for this run, so it costs no memory): `memo_keys` when the run memoises nothing; `leases`
//! when no node's pool is arbitrated; `computed_in_wave` and `missing_inputs` when the workflow
//! has no wave nodes. `staged`, `early_ready` and `wave_bytes` are a wave's scratch buffers,
//! sized for the workflow's wave nodes (no room at all without them) and reused wave to wave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::arbitration::{Grant, Lease, Request};
use crate::artifact::{ArtifactId, Producer, PutOptions};
use crate::dag::{NodeState, RunStatus};
use crate::error::{PitError, Result};
use crate::events::{Component, Field, Subject};
use crate::persist::memo::MemoKey;
use crate::pit::Pit;
use crate::value::{SharedValue, Value, VALUE_CONTENT_TYPE};
use crate::workflow::manifest::{Body, CompiledWorkflow, Source};
use crate::workflow::ready::ReadyQueue;
use crate::workflow::workers;

mod errors;
mod reports;
mod single;
mod wave;

pub use errors::*;
pub use reports::*;
use wave::{WaveScratch, WAVE_MAX};

/// How often the scheduler asks the host whether the user interrupted (Ctrl-C).
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

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
    /// A wave's reusable buffers (taken whole by a wave, put back when it ends).
    wave: WaveScratch,
    /// Waves are numbered from 1; each node's result was computed by the wave of this number
    /// (0: none). A node whose inputs were all computed by its own wave finds them stored under
    /// the same hold of the store when it is recorded (a wave records in the order it computed
    /// and stops at the first node it could not record): its lineage needs no lookup.
    computed_in_wave: Vec<u32>,
    waves: u32,
    /// How many predecessors of each node have no result yet (a wave finds the nodes it made
    /// ready by counting down); kept only by runs with wave nodes.
    missing_inputs: Vec<u32>,
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
        newly_ready: Vec::new(),
        wave_ok,
        wave: WaveScratch::for_nodes(wave_nodes.min(WAVE_MAX)),
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

    /// The lineage of node `i`'s result: its inputs' ids, without repeats. Both ways of
    /// recording a success (one node, [`single`]; a wave under one hold, [`wave`]) store a
    /// result with this lineage and [`Exec::producer_of`].
    fn lineage_of(&self, i: usize) -> SmallVec<[ArtifactId; 4]> {
        let mut lineage = SmallVec::new();
        for &source in self.wf.sources(i) {
            let id = self.output_of(source).id;
            if !lineage.contains(&id) {
                lineage.push(id);
            }
        }
        lineage
    }

    /// Who made node `i`'s result: this run, that node.
    fn producer_of(&self, i: usize) -> Producer {
        Producer {
            run: self.run_id.to_string(),
            node: self.wf.nodes[i].name.to_string(),
        }
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
        self.wave.give_back_small_ids();
        let (states, status) = self.pit.dags.release(&self.run_id)?;
        Ok(RunReport {
            run_id: self.run_id.to_string(),
            workflow: self.wf.name().to_owned(),
            graph: self.wf.graph.clone(),
            status,
            states,
            nodes: NodeReports::new(self.nodes),
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
