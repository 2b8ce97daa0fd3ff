//! The tracker's state: live runs and the history of finished ones (detail, then summaries).

use super::run::{Run, RunSummary};
use super::{unknown_run, HISTORY_NODES, HISTORY_SUMMARIES};
use crate::core::ids::ArtifactId;
use crate::core::states::RunStatus;
use crate::error::PitError;
use crate::events::{EventBatch, EventLog};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

#[derive(Default)]
pub(super) struct State {
    pub(super) runs: HashMap<Arc<str>, Run>,
    /// Runs found in the store when it was opened (read-only history).
    pub(super) past: Vec<RunSummary>,
    /// Node outputs of the runs found in the store, for resuming them.
    pub(super) past_outputs: HashMap<String, Vec<(String, ArtifactId)>>,
    pub(super) next_run: u64,
    /// Events of the operation in progress, appended before the lock is released.
    pub(super) pending: EventBatch,
    /// Finished runs still in `runs`, oldest first, and their nodes in all.
    pub(super) finished: VecDeque<Arc<str>>,
    pub(super) finished_nodes: usize,
    /// Runs of this process whose node detail was let go: summary and status, oldest first.
    pub(super) summaries: HashMap<Arc<str>, (RunSummary, RunStatus)>,
    pub(super) summary_order: VecDeque<Arc<str>>,
}

impl State {
    /// Run `id` has just finished: it joins the finished runs, and the oldest of them give up
    /// their node detail while they hold more than [`HISTORY_NODES`] nodes (the newest and any
    /// run an executor still reads keep it).
    /// Its names are let go by the event log once the log no longer holds its events.
    pub(super) fn finished(&mut self, events: &EventLog, id: &Arc<str>) {
        let Some(run) = self.runs.get(id) else {
            return;
        };
        events.close_names(run.names);
        self.finished_nodes += run.states.len();
        self.finished.push_back(id.clone());
        while self.finished_nodes > HISTORY_NODES && self.finished.len() > 1 {
            let oldest = self.finished.front().expect("more than one");
            if self.runs.get(oldest).is_some_and(|run| run.held) {
                break; // let go once its executor is done
            }
            let oldest = self.finished.pop_front().expect("more than one");
            let Some(run) = self.runs.remove(&oldest) else {
                continue;
            };
            self.finished_nodes -= run.states.len();
            self.summaries
                .insert(oldest.clone(), (run.summary(), run.status));
            self.summary_order.push_back(oldest);
            while self.summary_order.len() > HISTORY_SUMMARIES {
                if let Some(gone) = self.summary_order.pop_front() {
                    self.summaries.remove(&gone);
                }
            }
        }
    }

    pub(super) fn unknown(&self, run_id: &str) -> PitError {
        if self.summaries.contains_key(run_id) {
            PitError::not_found(format!(
                "run '{run_id}' finished and only its summary is kept (the tracker keeps node \
                 detail of the newest finished runs, {HISTORY_NODES} nodes in all)"
            ))
        } else {
            unknown_run(run_id)
        }
    }
}

/// A tag unique to this opening of a store with high probability: a hash of the process id, the
/// time and a per-process counter.
pub(super) fn session_tag() -> String {
    static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    h.update(&std::process::id().to_le_bytes());
    h.update(&crate::now().to_bits().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(&nanos.to_le_bytes());
    h.update(
        &OPENED
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    hex::encode(&h.finalize().as_bytes()[..3])
}
