//! The states of a workflow node and of a run: the DAG Tracker's state machine, named once for
//! the tracker, the engine and the event log.

use super::error::{PitError, Result};

/// State of one node in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    Pending,
    Ready,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl NodeState {
    pub const ALL: [NodeState; 7] = [
        NodeState::Pending,
        NodeState::Ready,
        NodeState::Running,
        NodeState::Succeeded,
        NodeState::Failed,
        NodeState::Skipped,
        NodeState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Pending => "pending",
            NodeState::Ready => "ready",
            NodeState::Running => "running",
            NodeState::Succeeded => "succeeded",
            NodeState::Failed => "failed",
            NodeState::Skipped => "skipped",
            NodeState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Result<NodeState> {
        NodeState::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text)).ok_or_else(|| {
            PitError::validation(format!(
                "unknown node state {text:?} (expected one of pending, ready, running, succeeded, failed, skipped, cancelled)"
            ))
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodeState::Succeeded | NodeState::Failed | NodeState::Skipped | NodeState::Cancelled
        )
    }

    /// The node state machine. Running → Ready is a retry.
    pub fn can_become(self, to: NodeState) -> bool {
        use NodeState::*;
        matches!(
            (self, to),
            (Pending, Ready)
                | (Pending, Skipped)
                | (Pending, Cancelled)
                | (Ready, Running)
                | (Ready, Skipped)
                | (Ready, Cancelled)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, Ready)
        )
    }

    /// Index of the state in [`NodeState::ALL`] (a counter per state).
    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}

/// Status of a whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Pending,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}
