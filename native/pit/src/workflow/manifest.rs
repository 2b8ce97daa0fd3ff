//! The workflow manifest (format `symphony.workflow`, version 1): parsing, validation and
//! compilation into what the engine runs.
//!
//! ```json
//! {"format": "symphony.workflow", "version": 1, "name": "etl", "inputs": ["n"],
//!  "nodes": [{"name": "load", "kind": "python", "callable": "etl:load", "code_hash": "…",
//!             "inputs": ["n"], "retries": 2, "backoff": {"strategy": "exponential", "delay": 0.1},
//!             "timeout": 30, "pool": "cpu", "priority": 500},
//!            {"name": "total", "kind": "calculator", "inputs": ["load"],
//!             "config": {"operation": "sum"}}]}
//! ```
//! The published JSON Schema is `symphony_pit/schemas/workflow-v1.schema.json`; every error names
//! the field at fault (`nodes[2].retries`) and the reason.

use std::borrow::Cow;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use serde_json::Value as Json;

use crate::core::names::check_name;
use crate::dag::{GraphSpec, NodeSpec, WorkflowGraph, MAX_RETRIES, WIDE_NODE};
use crate::error::{PitError, Result};
use crate::flat_lists::FlatLists;
use crate::resources::{Resources, SCALE};
use crate::value::Value;
use crate::workflow::builtin::Builtin;
use crate::workflow::ready::PriorityLevels;

/// The `format` every manifest carries.
pub const MANIFEST_FORMAT: &str = "symphony.workflow";
/// The manifest version this Pit writes and understands.
pub const MANIFEST_VERSION: u32 = 1;
/// Deepest nesting of sub-workflows.
pub const MAX_SUBWORKFLOW_DEPTH: usize = 32;
/// Largest timeout or backoff delay accepted, in seconds (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// How long to wait before retry number `n` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackoffStrategy {
    #[default]
    Constant,
    Linear,
    Exponential,
}

/// Retry backoff: `delay` seconds, growing with the strategy, capped at `max_delay`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(default)]
    pub strategy: BackoffStrategy,
    #[serde(default)]
    pub delay: f64,
    #[serde(default = "default_max_delay")]
    pub max_delay: f64,
}

fn default_max_delay() -> f64 {
    60.0
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            strategy: BackoffStrategy::Constant,
            delay: 0.0,
            max_delay: default_max_delay(),
        }
    }
}

impl Backoff {
    /// Seconds to wait before retry `retry` (1 for the first retry).
    pub fn seconds(&self, retry: u32) -> f64 {
        let n = f64::from(retry.max(1));
        let raw = match self.strategy {
            BackoffStrategy::Constant => self.delay,
            BackoffStrategy::Linear => self.delay * n,
            BackoffStrategy::Exponential => self.delay * 2f64.powf(n - 1.0),
        };
        raw.min(self.max_delay)
    }

    fn is_default(&self) -> bool {
        *self == Backoff::default()
    }
}

/// What runs when a node (or its fallback) executes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyDef {
    pub kind: String,
    /// For `python` bodies: where the callable lives (`module:qualname`), for people and imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callable: Option<String>,
    /// For `python` bodies: hash of the callable's code; memoisation needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
    /// Settings of a built-in node.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub config: Json,
}

/// One node of a manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    pub name: String,
    pub kind: String,
    /// Nodes or workflow inputs whose results are passed in, in order.
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub config: Json,
    /// For `workflow` nodes: the sub-workflow's manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Box<Manifest>>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Backoff::is_default")]
    pub backoff: Backoff,
    /// Seconds one attempt may take; a node with a timeout runs on a worker thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    #[serde(default = "default_pool")]
    pub pool: String,
    /// -1000 (background) … 1000 (critical); higher runs first among ready nodes.
    #[serde(default)]
    pub priority: i32,
    /// Runs with the same inputs when every attempt failed; its result stands in for the node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<BodyDef>,
    /// Whether an unchanged node may be served from the store.
    #[serde(default = "yes")]
    pub cache: bool,
    /// What one execution holds in its pool while it runs, when the pool is registered with
    /// the Pool Manager (granted by Arbitration); default one slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesDef>,
}

/// Amounts a node holds in its pool while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourcesDef {
    #[serde(default)]
    pub cpu: f64,
    #[serde(default)]
    pub memory_mb: f64,
    #[serde(default)]
    pub gpu_memory_mb: f64,
    #[serde(default)]
    pub slots: f64,
}

fn default_pool() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

/// A workflow manifest as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Names of the values a run must be given.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Nodes whose results are the workflow's outputs; empty means every node nothing depends on.
    #[serde(default)]
    pub outputs: Vec<String>,
    pub nodes: Vec<NodeDef>,
}

impl Manifest {
    /// Parse manifest JSON; errors name the field and the reason.
    pub fn from_json(text: &str) -> Result<Manifest> {
        // The plain parse is the fast path (tracking the path costs a third of a large
        // manifest's compile); only a manifest it refuses is parsed again to say where.
        serde_json::from_str(text).map_err(|plain| {
            Self::locate_error(text)
                .unwrap_or_else(|| PitError::validation(format!("workflow manifest: {plain}")))
        })
    }

    /// The error of a manifest the plain parse refused, naming the field at fault.
    fn locate_error(text: &str) -> Option<PitError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed: std::result::Result<Manifest, _> = serde_path_to_error::deserialize(&mut de);
        match parsed {
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                Some(if path == "." || path.is_empty() {
                    PitError::validation(format!("workflow manifest: {inner}"))
                } else {
                    PitError::validation(format!("workflow manifest: {path}: {inner}"))
                })
            }
            Ok(_) => de
                .end()
                .err()
                .map(|e| PitError::validation(format!("workflow manifest: {e}"))),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest always serialises")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serialises")
    }
}

/// A node's executable body.
#[derive(Debug)]
pub enum Body {
    /// A host (Python) callable; `slot` indexes the callables the host was given.
    Host {
        slot: usize,
    },
    Builtin(Builtin),
    Workflow(Arc<CompiledWorkflow>),
}

/// Where a node's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Node(usize),
    Input(usize),
}

/// A validated node, ready to run (its body is the workflow's [`body`](CompiledWorkflow::body)).
#[derive(Debug)]
pub struct CompiledNode {
    pub name: Arc<str>,
    pub fallback: Option<Body>,
    pub retries: u32,
    pub backoff: Backoff,
    pub timeout: Option<f64>,
    pub pool: Arc<str>,
    pub priority: i32,
    /// What one execution holds in an arbitrated pool.
    pub resources: Resources,
    /// Hash of what the node computes (code or built-in settings); `None` when it cannot be
    /// memoised (no code hash, or `cache: false`).
    pub identity: Option<[u8; 32]>,
}

/// A validated manifest: the graph the DAG Tracker follows and every node's body.
#[derive(Debug)]
pub struct CompiledWorkflow {
    pub manifest: Manifest,
    pub graph: Arc<WorkflowGraph>,
    pub nodes: Vec<CompiledNode>,
    /// Output node indices, in the order of `manifest.outputs` (or the sinks).
    pub outputs: Vec<usize>,
    /// Host callables used by this workflow and its sub-workflows (slots are numbered across the
    /// whole top-level workflow, which is what a host is given).
    pub host_slots: usize,
    /// The distinct pools its nodes name, in order of first use.
    pub pools: Vec<Arc<str>>,
    /// Each node's pool, as an index into `pools`.
    pub pool_of: Vec<usize>,
    /// The nodes' distinct priorities (the scheduler's ready queue has one level each).
    pub levels: PriorityLevels,
    /// Per node: a pure built-in (it may run in a wave), and memoisable (it has an identity).
    /// Dense copies of what `nodes` says, read for every node at the start of each run: a
    /// node's ~200 bytes each would be a cache miss per node when the run starts cold.
    pub pure_builtin: Vec<bool>,
    pub memoisable: Vec<bool>,
    /// Node `i`'s inputs, in order (see [`sources`](Self::sources)).
    sources: FlatLists<Source>,
    /// What each node runs, apart from the rest of the node: a run reads it for every node
    /// (a node is 200 bytes, one read each when the run starts cold).
    bodies: Vec<Body>,
}

fn problem(path: &str, why: impl std::fmt::Display) -> PitError {
    PitError::validation(format!("workflow manifest: {path}: {why}"))
}

/// `value` if it is a number of seconds we accept; `path` (built only on error) names it.
fn seconds(path: impl FnOnce() -> String, value: f64) -> Result<f64> {
    if value.is_finite() && (0.0..=MAX_SECONDS).contains(&value) {
        Ok(value)
    } else {
        Err(problem(
            &path(),
            format!("must be between 0 and {MAX_SECONDS} seconds, got {value}"),
        ))
    }
}

struct Compiler {
    next_slot: usize,
    /// Identities by the bytes they hash (most nodes of a large workflow share a kind and a
    /// config: one hash each instead of one per node).
    identities: FxHashMap<Vec<u8>, [u8; 32]>,
    /// Reused for those bytes.
    scratch: Vec<u8>,
}

impl Compiler {
    fn new() -> Self {
        Compiler {
            next_slot: 0,
            identities: FxHashMap::default(),
            scratch: Vec::new(),
        }
    }

    /// Hash of a body's definition: what memoisation keys on besides the inputs (its kind,
    /// then the code hash of a python body, the manifest of a sub-workflow, or the config).
    fn body_identity(
        &mut self,
        kind: &str,
        code_hash: Option<&str>,
        config: &Json,
        sub: Option<&Manifest>,
    ) -> Option<[u8; 32]> {
        let bytes = &mut self.scratch;
        bytes.clear();
        bytes.extend_from_slice(kind.as_bytes());
        bytes.push(0);
        match kind {
            "python" => bytes.extend_from_slice(code_hash?.as_bytes()),
            "workflow" => {
                bytes.extend_from_slice(sub?.to_json().as_bytes());
                return Some(*blake3::hash(bytes).as_bytes());
            }
            _ => serde_json::to_writer(&mut *bytes, config).expect("JSON values always serialise"),
        }
        if let Some(identity) = self.identities.get(bytes.as_slice()) {
            return Some(*identity);
        }
        let identity = *blake3::hash(bytes).as_bytes();
        self.identities.insert(bytes.clone(), identity);
        Some(identity)
    }

    /// The body of kind `kind`; `path` (built only on error) says where it is.
    fn body(
        &mut self,
        path: impl Fn() -> String,
        kind: &str,
        config: &Json,
        sub: Option<&Manifest>,
        depth: usize,
        allow_workflow: bool,
    ) -> Result<Body> {
        match kind {
            "python" => {
                let slot = self.next_slot;
                self.next_slot += 1;
                Ok(Body::Host { slot })
            }
            "workflow" if allow_workflow => {
                let sub = sub.ok_or_else(|| {
                    problem(&path(), "a 'workflow' node needs a 'workflow' manifest")
                })?;
                if depth >= MAX_SUBWORKFLOW_DEPTH {
                    return Err(problem(
                        &path(),
                        format!("sub-workflows nest deeper than {MAX_SUBWORKFLOW_DEPTH} levels"),
                    ));
                }
                Ok(Body::Workflow(Arc::new(
                    self.workflow(sub.clone(), depth + 1)?,
                )))
            }
            "workflow" => Err(problem(&path(), "a fallback cannot be a sub-workflow")),
            other => Builtin::parse(other, config)
                .map(Body::Builtin)
                .map_err(|e| problem(&path(), e)),
        }
    }

    /// Compile `m`, which the result keeps (taken, not copied: a large manifest's copy is a
    /// tenth of its compile).
    fn workflow(&mut self, m: Manifest, depth: usize) -> Result<CompiledWorkflow> {
        let first_slot = self.next_slot;
        if m.format != MANIFEST_FORMAT {
            return Err(problem(
                "format",
                format!(
                    "must be {MANIFEST_FORMAT:?}, got {}",
                    crate::error::shown(&m.format)
                ),
            ));
        }
        if m.version != MANIFEST_VERSION {
            return Err(problem(
                "version",
                format!(
                    "version {} is not understood by this Pit (it reads version {MANIFEST_VERSION})",
                    m.version
                ),
            ));
        }
        check_name("workflow", &m.name).map_err(|e| problem("name", e))?;
        let mut inputs: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, name) in m.inputs.iter().enumerate() {
            check_name("input", name).map_err(|e| problem(&format!("inputs[{i}]"), e))?;
            if inputs.insert(name, i).is_some() {
                return Err(problem(
                    &format!("inputs[{i}]"),
                    format!("input '{name}' is declared twice"),
                ));
            }
        }
        let node_names: FxHashMap<&str, usize> = m
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        for (i, node) in m.nodes.iter().enumerate() {
            if inputs.contains_key(node.name.as_str()) {
                return Err(problem(
                    &format!("nodes[{i}].name"),
                    format!("'{}' is both a node and a workflow input", node.name),
                ));
            }
        }
        let mut nodes = Vec::with_capacity(m.nodes.len());
        let mut bodies = Vec::with_capacity(m.nodes.len());
        let mut sources =
            FlatLists::with_capacity(m.nodes.len(), m.nodes.iter().map(|n| n.inputs.len()).sum());
        let mut specs = Vec::with_capacity(m.nodes.len());
        for (i, def) in m.nodes.iter().enumerate() {
            // Where a problem is; written out only when there is one.
            let path = || format!("nodes[{i}] ('{}')", def.name);
            let at = |field: &str| format!("{}.{field}", path());
            if def.retries > MAX_RETRIES {
                return Err(problem(
                    &at("retries"),
                    format!("must be at most {MAX_RETRIES}, got {}", def.retries),
                ));
            }
            if !(-1000..=1000).contains(&def.priority) {
                return Err(problem(
                    &at("priority"),
                    format!("must be between -1000 and 1000, got {}", def.priority),
                ));
            }
            let timeout = def
                .timeout
                .map(|t| seconds(|| at("timeout"), t))
                .transpose()?;
            if timeout == Some(0.0) {
                return Err(problem(&at("timeout"), "must be more than 0 seconds"));
            }
            seconds(|| at("backoff.delay"), def.backoff.delay)?;
            seconds(|| at("backoff.max_delay"), def.backoff.max_delay)?;
            check_name("pool", &def.pool).map_err(|e| problem(&at("pool"), e))?;
            let resources = match def.resources {
                None => Resources([0, 0, 0, SCALE as u64]),
                Some(r) => Resources::from_units(r.cpu, r.memory_mb, r.gpu_memory_mb, r.slots)
                    .map_err(|e| problem(&at("resources"), e))?,
            };
            if def.kind != "python" && (def.callable.is_some() || def.code_hash.is_some()) {
                return Err(problem(
                    &path(),
                    format!(
                        "'callable' and 'code_hash' belong to python nodes, not '{}'",
                        def.kind
                    ),
                ));
            }
            if def.kind != "workflow" && def.workflow.is_some() {
                return Err(problem(
                    &path(),
                    "'workflow' belongs to nodes of kind 'workflow'",
                ));
            }
            let mut deps = Vec::new();
            // A node with many inputs checks for repeats in a set (a scan per input would make
            // compiling quadratic in its input count); a few are scanned.
            let mut seen = rustc_hash::FxHashSet::default();
            let wide = def.inputs.len() > WIDE_NODE;
            for (k, name) in def.inputs.iter().enumerate() {
                if let Some(&j) = node_names.get(name.as_str()) {
                    sources.push(Source::Node(j));
                    let first = if wide {
                        seen.insert(name.as_str())
                    } else {
                        !deps.contains(name)
                    };
                    if first {
                        deps.push(name.clone());
                    }
                } else if let Some(&j) = inputs.get(name.as_str()) {
                    sources.push(Source::Input(j));
                } else {
                    let mut known: Vec<&str> = m.inputs.iter().map(String::as_str).collect();
                    known.extend(m.nodes.iter().map(|n| n.name.as_str()).take(20));
                    return Err(problem(
                        &at(&format!("inputs[{k}]")),
                        format!(
                            "'{name}' is neither a node nor a declared workflow input (known: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
            if let Some(sub) = &def.workflow {
                if sub.inputs.len() != def.inputs.len() {
                    return Err(problem(
                        &at("inputs"),
                        format!(
                            "sub-workflow '{}' takes {} input(s) [{}], the node passes {}",
                            sub.name,
                            sub.inputs.len(),
                            sub.inputs.join(", "),
                            def.inputs.len()
                        ),
                    ));
                }
            }
            // A model node is allocated in its own pool unless its config names another.
            let mut config = Cow::Borrowed(&def.config);
            if def.kind == "model" {
                if let Json::Object(map) = config.to_mut() {
                    map.entry("pool")
                        .or_insert_with(|| Json::String(def.pool.clone()));
                } else if config.is_null() {
                    config = Cow::Owned(serde_json::json!({ "pool": def.pool }));
                }
            }
            let body = self.body(
                path,
                &def.kind,
                &config,
                def.workflow.as_deref(),
                depth,
                true,
            )?;
            let fallback = match &def.fallback {
                None => None,
                Some(fb) => {
                    if fb.kind != "python" && (fb.callable.is_some() || fb.code_hash.is_some()) {
                        return Err(problem(
                            &at("fallback"),
                            "'callable' and 'code_hash' belong to python bodies",
                        ));
                    }
                    Some(self.body(|| at("fallback"), &fb.kind, &fb.config, None, depth, false)?)
                }
            };
            let identity = if def.cache {
                self.body_identity(
                    &def.kind,
                    def.code_hash.as_deref(),
                    &def.config,
                    def.workflow.as_deref(),
                )
            } else {
                None
            };
            specs.push(NodeSpec {
                name: def.name.clone(),
                kind: def.kind.clone(),
                deps,
                outputs: Vec::new(),
                retries: def.retries,
                weight: 1.0,
                config: Value::None,
            });
            bodies.push(body);
            nodes.push(CompiledNode {
                name: Arc::from(def.name.as_str()),
                fallback,
                retries: def.retries,
                backoff: def.backoff,
                timeout,
                pool: Arc::from(def.pool.as_str()),
                priority: def.priority,
                resources,
                identity,
            });
            sources.close_list();
        }
        let graph = Arc::new(WorkflowGraph::build(GraphSpec {
            name: m.name.clone(),
            nodes: specs,
        })?);
        let outputs = if m.outputs.is_empty() {
            (0..graph.len())
                .filter(|&i| graph.successors(i).is_empty())
                .collect()
        } else {
            m.outputs
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    node_names.get(name.as_str()).copied().ok_or_else(|| {
                        problem(&format!("outputs[{k}]"), format!("'{name}' is not a node"))
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        let mut pools: Vec<Arc<str>> = Vec::new();
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        let pool_of = nodes
            .iter()
            .map(|n| {
                *index.entry(&n.pool).or_insert_with(|| {
                    pools.push(n.pool.clone());
                    pools.len() - 1
                })
            })
            .collect();
        let levels = PriorityLevels::of(nodes.iter().map(|n| n.priority));
        let pure_builtin = (bodies.iter())
            .map(|body| matches!(body, Body::Builtin(b) if b.is_pure()))
            .collect();
        let memoisable = nodes.iter().map(|n| n.identity.is_some()).collect();
        Ok(CompiledWorkflow {
            manifest: m,
            graph,
            nodes,
            outputs,
            host_slots: self.next_slot - first_slot,
            pools,
            pool_of,
            levels,
            pure_builtin,
            memoisable,
            sources,
            bodies,
        })
    }
}

impl CompiledWorkflow {
    /// Validate `manifest` and prepare it to run. Host callables are numbered depth-first in
    /// manifest order: a node's body, then the nodes of its sub-workflow, then its fallback.
    pub fn compile(manifest: &Manifest) -> Result<CompiledWorkflow> {
        Self::compile_owned(manifest.clone())
    }

    /// [`compile`](Self::compile) a manifest the result may keep as it is.
    pub fn compile_owned(manifest: Manifest) -> Result<CompiledWorkflow> {
        Compiler::new().workflow(manifest, 0)
    }

    pub fn from_json(text: &str) -> Result<CompiledWorkflow> {
        Self::compile_owned(Manifest::from_json(text)?)
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// What node `i` runs.
    #[inline]
    pub fn body(&self, i: usize) -> &Body {
        &self.bodies[i]
    }

    /// Where node `i`'s inputs come from, in the order its manifest names them.
    #[inline]
    pub fn sources(&self, i: usize) -> &[Source] {
        self.sources.of(i)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(nodes: &str) -> String {
        format!(
            r#"{{"format": "symphony.workflow", "version": 1, "name": "w", "inputs": ["x"], "nodes": {nodes}}}"#
        )
    }

    #[test]
    fn compiles_a_mixed_workflow_and_numbers_host_slots_depth_first() {
        let sub = r#"{"format": "symphony.workflow", "version": 1, "name": "s", "inputs": ["a"],
                      "nodes": [{"name": "p", "kind": "python", "inputs": ["a"]}]}"#;
        let text = manifest(&format!(
            r#"[{{"name": "a", "kind": "python", "inputs": ["x"], "code_hash": "h1"}},
                {{"name": "b", "kind": "workflow", "inputs": ["a"], "workflow": {sub}}},
                {{"name": "c", "kind": "calculator", "inputs": ["a", "b"], "config": {{"operation": "add"}},
                  "fallback": {{"kind": "python"}}}}]"#
        ));
        let wf = CompiledWorkflow::from_json(&text).unwrap();
        assert_eq!(wf.host_slots, 3);
        assert!(matches!(wf.body(0), Body::Host { slot: 0 }));
        assert!(matches!(wf.nodes[2].fallback, Some(Body::Host { slot: 2 })));
        assert_eq!(wf.sources(0), [Source::Input(0)]);
        assert_eq!(wf.sources(2), [Source::Node(0), Source::Node(1)]);
        assert_eq!(wf.outputs, vec![2]);
        assert!(wf.nodes[0].identity.is_some());
        // Round trip through JSON keeps the manifest.
        assert_eq!(
            Manifest::from_json(&wf.manifest.to_json()).unwrap(),
            wf.manifest
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = Manifest::from_json(&manifest(
            r#"[{"name": "a", "kind": "python", "retries": "x"}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("nodes[0].retries"), "{err}");
        let err = CompiledWorkflow::from_json(&manifest(
            r#"[{"name": "a", "kind": "python", "inputs": ["nope"]}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("nodes[0] ('a').inputs[0]") && err.contains("'nope'"),
            "{err}"
        );
        let err = CompiledWorkflow::from_json(&manifest(r#"[{"name": "a", "kind": "teleport"}]"#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown node kind 'teleport'"), "{err}");
        let err = Manifest::from_json(&manifest(
            r#"[{"name": "a", "kind": "python", "colour": 1}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn errors_found_after_parsing_still_name_their_place() {
        let text = manifest(r#"[{"name": "a", "kind": "python"}]"#);
        let err = Manifest::from_json(&format!("{text} trailing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("trailing characters"), "{err}");
        let err = Manifest::from_json("{\"format\": ")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("workflow manifest: "), "{err}");
        for (node, place) in [
            (
                r#"{"name": "a", "kind": "python", "timeout": -1}"#,
                "nodes[0] ('a').timeout",
            ),
            (
                r#"{"name": "a", "kind": "python", "backoff": {"delay": 1e9}}"#,
                "nodes[0] ('a').backoff.delay",
            ),
            (
                r#"{"name": "a", "kind": "python", "pool": ""}"#,
                "nodes[0] ('a').pool",
            ),
            (
                r#"{"name": "a", "kind": "python", "fallback": {"kind": "workflow"}}"#,
                "nodes[0] ('a').fallback",
            ),
        ] {
            let err = CompiledWorkflow::from_json(&manifest(&format!("[{node}]")))
                .unwrap_err()
                .to_string();
            assert!(err.contains(place), "{place}: {err}");
        }
    }

    #[test]
    fn identities_hash_the_kind_and_its_definition_and_are_shared_when_equal() {
        let wf = CompiledWorkflow::from_json(&manifest(
            r#"[{"name": "a", "kind": "calculator", "inputs": ["x"], "config": {"operation": "add"}},
                {"name": "b", "kind": "calculator", "inputs": ["x"], "config": {"operation": "add"}},
                {"name": "c", "kind": "calculator", "inputs": ["x"], "config": {"operation": "mul"}},
                {"name": "d", "kind": "python", "inputs": ["x"], "code_hash": "h1"},
                {"name": "e", "kind": "python", "inputs": ["x"]},
                {"name": "f", "kind": "passthrough", "inputs": ["x"], "cache": false}]"#,
        ))
        .unwrap();
        let id = |i: usize| wf.nodes[i].identity;
        // Memo keys persist with the store: the hashed bytes must not change between versions.
        let add = blake3::hash(b"calculator\0{\"operation\":\"add\"}");
        assert_eq!(id(0), Some(*add.as_bytes()));
        assert_eq!(id(1), id(0));
        assert_ne!(id(2), id(0));
        assert_eq!(id(3), Some(*blake3::hash(b"python\0h1").as_bytes()));
        assert_eq!(
            id(4),
            None,
            "a python node without a code hash is not memoised"
        );
        assert_eq!(id(5), None, "cache: false");
    }

    #[test]
    fn cycles_and_duplicates_are_refused() {
        let err = CompiledWorkflow::from_json(&manifest(
            r#"[{"name": "a", "kind": "python", "inputs": ["b"]}, {"name": "b", "kind": "python", "inputs": ["a"]}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("cycle"), "{err}");
        let err = CompiledWorkflow::from_json(&manifest(
            r#"[{"name": "a", "kind": "python"}, {"name": "a", "kind": "python"}]"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("duplicate node names: 'a'"), "{err}");
    }

    #[test]
    fn backoff_grows_by_strategy_and_is_capped() {
        let b = |strategy| Backoff {
            strategy,
            delay: 1.0,
            max_delay: 5.0,
        };
        assert_eq!(b(BackoffStrategy::Constant).seconds(3), 1.0);
        assert_eq!(b(BackoffStrategy::Linear).seconds(3), 3.0);
        assert_eq!(b(BackoffStrategy::Exponential).seconds(3), 4.0);
        assert_eq!(b(BackoffStrategy::Exponential).seconds(10), 5.0);
    }
}
