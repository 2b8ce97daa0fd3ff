//! Waves: pure built-in nodes computed in queue order outside any lock, then recorded together (see the module doc of `engine`).

use super::*;

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
    pub(super) fn has_every_input(&self, j: usize) -> bool {
        debug_assert_eq!(
            self.missing_inputs[j] == 0,
            (self.wf.graph.predecessors(j).iter()).all(|&p| self.nodes[p].output.is_some())
        );
        self.missing_inputs[j] == 0
    }
}
