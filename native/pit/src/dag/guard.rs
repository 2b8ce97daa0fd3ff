//! A run held for a series of inline node attempts recorded together.

use super::run::Run;
use super::tracker::DagTracker;
use crate::core::ids::ArtifactId;
use crate::core::states::{NodeState, RunStatus};
use crate::error::Result;
use crate::events::EventBatch;
use crate::persist::Op;
use parking_lot::MappedMutexGuard;

/// A run held for inline node attempts (see [`DagTracker::lock_run`]). While it is held no other
/// thread reads or changes any run, so hold it only to record work already done.
pub struct RunGuard<'a> {
    pub(super) run: MappedMutexGuard<'a, Run>,
    pub(super) tracker: &'a DagTracker,
    pub(super) finished: bool,
}

impl RunGuard<'_> {
    /// Whether node `i` may start now (Ready, and the run neither paused nor over).
    pub fn can_start(&self, i: usize) -> bool {
        self.run.can_start(i)
    }

    /// Node `i` (see [`can_start`](Self::can_start)) started at `started`.
    #[inline]
    pub fn record_start(&mut self, i: usize, started: f64, ev: &mut EventBatch) {
        let run = &mut *self.run;
        run.move_node(i, NodeState::Running, started, ev);
        // A node starting changes only a Pending run's status (to Running).
        if run.status != RunStatus::Running {
            self.finished |= run.update_status(ev);
        }
    }

    /// Node `i` (Running) succeeded with `output` at `finished`; its successors that became
    /// Ready are appended to `newly_ready`.
    pub fn record_success(
        &mut self,
        i: usize,
        finished: f64,
        output: ArtifactId,
        ev: &mut EventBatch,
        newly_ready: &mut Vec<usize>,
    ) {
        let run = &mut *self.run;
        run.succeed(i, Some(output), finished, ev, newly_ready);
        // A success moves a Running run (pausing or cancelling it changed its status already)
        // only when it finishes the last node.
        if run.status != RunStatus::Running || run.terminal() == run.states.len() {
            self.finished |= run.update_status(ev);
        }
    }

    /// Append `ev` to the event log (before anything else of this run can happen), release the
    /// run, and persist it if it finished.
    pub fn finish(self, ev: &mut EventBatch) -> Result<()> {
        self.tracker.events.append(ev);
        let record = (self.finished && self.tracker.persists()).then(|| self.run.record());
        let finished = self.finished.then(|| self.run.id.clone());
        let tracker = self.tracker;
        drop(self.run);
        if let Some(id) = finished {
            tracker.state.lock().finished(&tracker.events, &id);
        }
        if let Some(record) = record {
            tracker.persister.send(Op::PutRun(Box::new(record)))?;
        }
        Ok(())
    }
}
