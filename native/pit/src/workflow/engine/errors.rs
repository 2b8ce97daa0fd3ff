//! Why a node attempt failed: the engine's kinds of failure, or the host's own.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

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
