//! Waves: pure built-in nodes computed in queue order outside any lock, then recorded together (see the module doc of `engine`).

use std::cell::Cell;

use super::{Exec, Host, NodeError, NodeErrorKind, Output, Stamp};
use crate::artifact::{Hashed, SmallIds};
use crate::error::Result;
use crate::events::EventBatch;
use crate::value::{SharedValue, Value};
use crate::workflow::builtin::Builtin;
use crate::workflow::manifest::{Body, Source};

/// Most nodes one wave records at once (bounds how long the run and the store are held).
pub(super) const WAVE_MAX: usize = 256;

/// Events a wave's batch has room for per node before it grows: running, stored, succeeded,
/// and about one successor made ready — a full wave of four per node overflows by the layer
/// it makes ready, and a grown batch costs a copy each wave.
const WAVE_EVENTS_PER_NODE: usize = 5;

thread_local! {
    /// The small-id table of the last run that finished on this thread, for the next one: ids
    /// are content hashes, valid in any run, and a fresh table is 14 KB to fill every run.
    static SPARE_SMALL_IDS: Cell<Option<SmallIds>> = const { Cell::new(None) };
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

/// A wave's buffers: sized once for the workflow's wave nodes (no room at all without them),
/// emptied when a wave starts, reused wave to wave. A wave takes them whole from the run and
/// puts them back however it ends ([`Exec::run_wave`]).
#[derive(Default)]
pub(super) struct WaveScratch {
    /// The nodes computed, in the order computed (the order they are recorded in).
    staged: Vec<Staged>,
    /// Their encodings, end to end.
    bytes: Vec<u8>,
    /// Nodes the wave made ready while computing (their inputs computed in it).
    early_ready: Vec<usize>,
    /// Nodes recording the wave made ready.
    newly_ready: Vec<usize>,
    /// The wave's events, appended to the log at once.
    events: EventBatch,
    /// Ids of small encodings (kept from run to run on this thread: [`SPARE_SMALL_IDS`]).
    small_ids: SmallIds,
}

impl WaveScratch {
    /// Room for waves of up to `nodes` nodes (0: a run without wave nodes).
    pub(super) fn for_nodes(nodes: usize) -> WaveScratch {
        WaveScratch {
            staged: Vec::with_capacity(nodes),
            // Room for a wave of scalars (a scalar's encoding is under 16 bytes).
            bytes: Vec::with_capacity(16 * nodes),
            early_ready: Vec::with_capacity(nodes),
            newly_ready: Vec::with_capacity(nodes),
            events: EventBatch::with_capacity(WAVE_EVENTS_PER_NODE * nodes, nodes),
            small_ids: SPARE_SMALL_IDS.with(Cell::take).unwrap_or_default(),
        }
    }

    /// Leave the small-id table to the next run on this thread.
    pub(super) fn give_back_small_ids(&mut self) {
        let small_ids = std::mem::take(&mut self.small_ids);
        SPARE_SMALL_IDS.with(|spare| spare.set(Some(small_ids)));
    }
}

/// What computing a wave left for recording it.
struct Computed {
    /// The node whose computation failed (the wave stopped there; it goes the single way).
    failed: Option<usize>,
    /// When the last computation finished.
    clock: f64,
}

impl<H: Host> Exec<'_, H> {
    /// Run the wave nodes at the head of the ready queue together: compute each in queue order
    /// (outside any lock) — a node whose every predecessor is computed joins the queue at once,
    /// so one wave can go down many layers of a graph — then record them under one hold of the
    /// run and of the store (Running, result stored with its lineage, Succeeded, successors
    /// Ready, with the times measured around each computation) and append their events at once.
    /// Returns whether it took any node. A node whose computation fails is put back, to go the
    /// single way (which records the failure, retries, fallback); the wave ends there.
    #[inline(never)]
    pub(super) fn run_wave(&mut self) -> Result<bool> {
        let mut scratch = std::mem::take(&mut self.wave);
        let outcome = self.compute_and_record(&mut scratch);
        self.wave = scratch;
        outcome
    }

    fn compute_and_record(&mut self, scratch: &mut WaveScratch) -> Result<bool> {
        let wave = self.waves + 1;
        let computed = self.compute_wave(wave, scratch);
        if scratch.staged.is_empty() {
            if let Some(i) = computed.failed {
                self.push_ready(i, computed.clock); // now it goes the single way
            }
            return Ok(computed.failed.is_some());
        }
        self.waves = wave;
        self.record_wave(scratch, computed)?;
        Ok(true)
    }

    /// Compute the wave nodes at the head of the queue into `scratch` (each result held by its
    /// node's report from then on, so that successors in this wave can read it).
    fn compute_wave(&mut self, wave: u32, scratch: &mut WaveScratch) -> Computed {
        let WaveScratch {
            staged,
            bytes,
            early_ready,
            small_ids,
            ..
        } = scratch;
        staged.clear();
        bytes.clear();
        early_ready.clear();
        let mut clock = crate::now();
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
                return Computed {
                    failed: Some(i),
                    clock,
                };
            };
            self.computed_in_wave[i] = wave;
            let start = bytes.len();
            value.encode_into(bytes);
            let finished = crate::now();
            // Taken back in `record_wave` if the node is not recorded.
            let value = SharedValue::new(value);
            self.nodes[i].output = Some(Output {
                id: small_ids.id_of(&bytes[start..]),
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
                    early_ready.push(j);
                }
            }
        }
        Computed {
            failed: None,
            clock,
        }
    }

    /// Record the staged nodes under one hold of the run and of the store, in the order
    /// computed, stopping at the first that cannot start or whose result cannot be stored; put
    /// the queue right for the nodes not recorded.
    fn record_wave(&mut self, scratch: &mut WaveScratch, computed: Computed) -> Result<()> {
        let WaveScratch {
            staged,
            bytes,
            early_ready,
            newly_ready,
            events,
            ..
        } = scratch;
        newly_ready.clear();
        let mut recorded = 0;
        let mut store_error = None;
        let mut run = self.pit.dags.lock_run(&self.run_id)?;
        let mut released = Ok(());
        match self.pit.artifacts.batch() {
            // The store takes nothing (closed): the first node goes the single way, which
            // records its failure to store; the rest are put back.
            Err(_) => self.wave_ok[staged[0].node] = false,
            Ok(mut store) => {
                for s in staged.iter() {
                    let i = s.node;
                    let id = self.output_of(Source::Node(i)).id;
                    let data = Hashed::again(&bytes[s.bytes.clone()], id);
                    if !run.can_start(i) {
                        break; // paused or over: the rest stay Ready
                    }
                    run.record_start(i, s.started, events);
                    recorded += 1;
                    let stored = store.put_value(
                        &data,
                        || self.lineage_of(i),
                        s.inputs_here,
                        || self.producer_of(i),
                        s.finished,
                        events,
                    );
                    if stored.is_ok() {
                        run.record_success(i, s.finished, id, events, newly_ready);
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
        run.finish(events)?;
        released?;
        let succeeded = recorded - usize::from(store_error.is_some());
        // Nodes not recorded, and one whose result could not be stored, hold no result.
        for s in &staged[succeeded..] {
            self.nodes[s.node].output = None;
            for &j in self.wf.graph.successors(s.node) {
                self.missing_inputs[j] += 1;
            }
        }
        let clock = computed.clock;
        if succeeded < staged.len() || computed.failed.is_some() {
            // Not all recorded: a node not started goes back to the queue if its inputs are
            // there after all, and leaves it if one of them is not.
            let unstarted = staged[recorded..].iter().map(|s| s.node);
            for j in unstarted
                .chain(computed.failed)
                .chain(early_ready.iter().copied())
            {
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
        for &j in newly_ready.iter() {
            // Successors computed in this wave have started already.
            if self.nodes[j].attempts == 0 {
                self.push_ready(j, clock);
            }
        }
        if let Some(e) = store_error {
            // Recorded as Running: fail it the usual way (it holds its pool's slot until then).
            let i = staged[recorded - 1].node;
            self.pools.running[self.wf.pool_of[i]] += 1;
            let error = NodeError::new(
                NodeErrorKind::Storage,
                format!("the result could not be stored: {e}"),
            );
            let inputs = self.gather(i);
            self.fail(i, false, error, inputs)?;
        }
        Ok(())
    }

    /// Compute built-in node `i` of wave `wave` from its inputs (gathered on the stack when
    /// there are few); also says whether every input was computed in that wave.
    pub(super) fn apply_builtin(
        &self,
        i: usize,
        builtin: &Builtin,
        wave: u32,
    ) -> (std::result::Result<Value, NodeError>, bool) {
        static NONE: Value = Value::None;
        let here =
            |source: Source| matches!(source, Source::Node(j) if self.computed_in_wave[j] == wave);
        let sources = self.wf.sources(i);
        // The two-number fast path (native/README.md, "Fast paths kept").
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
    pub(super) fn has_every_input(&self, j: usize) -> bool {
        debug_assert_eq!(
            self.missing_inputs[j] == 0,
            (self.wf.graph.predecessors(j).iter()).all(|&p| self.nodes[p].output.is_some())
        );
        self.missing_inputs[j] == 0
    }
}
