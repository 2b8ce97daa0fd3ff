//! The vocabulary of models: their specs, lifecycle states and why each change happened, the
//! runtimes that load and invoke them.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::core::names::check_name;
use crate::error::{PitError, Result};
use crate::resources::Resources;
use crate::value::Value;

/// Lifecycle state of a model instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelState {
    Cold,
    Warming,
    Hot,
    Cooling,
    Failed,
}

impl ModelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Cold => "cold",
            ModelState::Warming => "warming",
            ModelState::Hot => "hot",
            ModelState::Cooling => "cooling",
            ModelState::Failed => "failed",
        }
    }

    /// The lifecycle graph: the only legal moves.
    pub fn can_become(self, to: ModelState) -> bool {
        use ModelState::*;
        matches!(
            (self, to),
            (Cold, Warming) | (Warming, Hot) | (Hot, Cooling) | (Cooling, Cold) | (Failed, Cold)
        ) || (to == Failed && self != Failed)
    }
}

/// Why a model changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionReason {
    User,
    Timeout,
    Health,
    Pressure,
    Prewarm,
    Cooldown,
    Recovery,
}

impl TransitionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionReason::User => "user",
            TransitionReason::Timeout => "timeout",
            TransitionReason::Health => "health",
            TransitionReason::Pressure => "pressure",
            TransitionReason::Prewarm => "prewarm",
            TransitionReason::Cooldown => "cooldown",
            TransitionReason::Recovery => "recovery",
        }
    }
}

/// What to run and what it needs. Two specs with equal fields share warm instances.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub version: String,
    pub model_type: String,
    pub requirements: Resources,
    pub config: Value,
    pub(super) key: [u8; 16],
    /// `name`, shared with events.
    shared_name: Arc<str>,
}

impl ModelSpec {
    pub fn new(
        name: &str,
        version: &str,
        model_type: &str,
        requirements: Resources,
        config: Value,
    ) -> Result<Self> {
        check_name("model", name)?;
        check_name("model version", version)?;
        check_name("model_type", model_type)?;
        let mut hasher = blake3::Hasher::new();
        for part in [name, version, model_type] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        for amount in requirements.0 {
            hasher.update(&amount.to_le_bytes());
        }
        hasher.update(&config.encode());
        let mut key = [0u8; 16];
        key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        Ok(ModelSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            model_type: model_type.to_owned(),
            requirements,
            config,
            key,
            shared_name: Arc::from(name),
        })
    }

    /// The model name as a shared string (what events carry).
    pub fn shared_name(&self) -> Arc<str> {
        self.shared_name.clone()
    }

    /// Identity of the spec: equal specs share warm instances.
    pub fn key(&self) -> [u8; 16] {
        self.key
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model '{}' v{}", self.name, self.version)
    }
}

/// A model failure reported by a runtime; `payload` can carry the original error object.
pub struct ModelFailure {
    pub message: String,
    pub payload: Option<Box<dyn Any + Send>>,
}

impl fmt::Debug for ModelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelFailure")
            .field("message", &self.message)
            .finish()
    }
}

/// Error of [`PoolManager::invoke`]: either the Pit refused, or the model itself failed.
#[derive(Debug)]
pub enum InvokeError {
    Pit(PitError),
    Model(ModelFailure),
}

impl From<PitError> for InvokeError {
    fn from(e: PitError) -> Self {
        InvokeError::Pit(e)
    }
}

/// Executes models of one `model_type`.
pub trait ModelRuntime: Send + Sync {
    /// Called while the instance is Warming; an error sends it to Failed → Cold.
    fn load(&self, _spec: &ModelSpec) -> std::result::Result<(), ModelFailure> {
        Ok(())
    }
    /// Run the model on one input.
    fn invoke(&self, spec: &ModelSpec, input: Value) -> std::result::Result<Value, ModelFailure>;
}

/// Built-in runtime `echo`: returns its input (for wiring and tests).
pub(super) struct EchoRuntime;

impl ModelRuntime for EchoRuntime {
    fn invoke(&self, _spec: &ModelSpec, input: Value) -> std::result::Result<Value, ModelFailure> {
        Ok(input)
    }
}

/// One state change of a model instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub from: ModelState,
    pub to: ModelState,
    pub reason: TransitionReason,
    pub time: f64,
}
