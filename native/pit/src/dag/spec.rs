//! Graph specs: the nodes and dependencies a graph is built from, parsed from values.

use super::MAX_RETRIES;
use crate::error::{PitError, Result};
use crate::value::Value;
use serde::Serialize;
use std::fmt;

/// One dependency: a node, or one named output of it (`node.output`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dep {
    pub node: String,
    pub output: Option<String>,
}

/// One node of a workflow as the user wrote it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSpec {
    pub name: String,
    pub kind: String,
    pub deps: Vec<String>,
    pub outputs: Vec<String>,
    pub retries: u32,
    /// Expected cost, used by the critical path before measured durations exist.
    pub weight: f64,
    pub config: Value,
}

/// A workflow as the user wrote it: a name and its nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphSpec {
    pub name: String,
    pub nodes: Vec<NodeSpec>,
}

pub(super) fn field_error(path: &str, why: impl fmt::Display) -> PitError {
    PitError::validation(format!("workflow spec: {path} {why}"))
}

pub(super) fn expect_str(v: &Value, path: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| field_error(path, format!("must be a str, got {}", v.type_name())))
}

pub(super) fn expect_str_list(v: &Value, path: &str) -> Result<Vec<String>> {
    match v {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| expect_str(item, &format!("{path}[{i}]")))
            .collect(),
        other => Err(field_error(
            path,
            format!("must be a list of str, got {}", other.type_name()),
        )),
    }
}

pub(super) fn dict_pairs<'a>(
    v: &'a Value,
    path: &str,
    allowed: &[&str],
) -> Result<&'a [(Value, Value)]> {
    let Value::Dict(pairs) = v else {
        return Err(field_error(
            path,
            format!("must be a dict, got {}", v.type_name()),
        ));
    };
    for (k, _) in pairs {
        match k.as_str() {
            Some(key) if allowed.contains(&key) || key.starts_with("x-") => {}
            Some(key) => {
                return Err(field_error(
                    path,
                    format!(
                        "has unknown key {} (allowed: {})",
                        crate::error::shown(key),
                        allowed.join(", ")
                    ),
                ))
            }
            None => {
                return Err(field_error(
                    path,
                    format!("has a non-str key of type {}", k.type_name()),
                ))
            }
        }
    }
    Ok(pairs)
}

impl GraphSpec {
    /// Parse `{"name": str, "nodes": [{"name", "kind", "deps", "outputs", "retries", "weight",
    /// "config"}, ...]}`; errors name the field (`nodes[2].deps[0]`) and the reason.
    pub fn from_value(v: &Value) -> Result<GraphSpec> {
        dict_pairs(v, "the workflow", &["name", "nodes"])?;
        let name = expect_str(
            v.get("name")
                .ok_or_else(|| field_error("'name'", "is missing"))?,
            "'name'",
        )?;
        let nodes = match v.get("nodes") {
            Some(Value::List(items)) | Some(Value::Tuple(items)) => items,
            Some(other) => {
                return Err(field_error(
                    "'nodes'",
                    format!("must be a list, got {}", other.type_name()),
                ))
            }
            None => return Err(field_error("'nodes'", "is missing")),
        };
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| NodeSpec::from_value(node, &format!("nodes[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        Ok(GraphSpec { name, nodes })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl NodeSpec {
    /// A plain task node with default settings.
    pub fn task(name: &str, deps: &[&str]) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            kind: "task".into(),
            deps: deps.iter().map(|d| (*d).to_owned()).collect(),
            outputs: Vec::new(),
            retries: 0,
            weight: 1.0,
            config: Value::None,
        }
    }

    pub(super) fn from_value(v: &Value, path: &str) -> Result<NodeSpec> {
        dict_pairs(
            v,
            path,
            &[
                "name", "kind", "deps", "outputs", "retries", "weight", "config",
            ],
        )?;
        let name_path = format!("{path}.name");
        let name = expect_str(
            v.get("name")
                .ok_or_else(|| field_error(&name_path, "is missing"))?,
            &name_path,
        )?;
        let kind = match v.get("kind") {
            Some(k) => expect_str(k, &format!("{path}.kind"))?,
            None => "task".into(),
        };
        let deps = match v.get("deps") {
            Some(d) => expect_str_list(d, &format!("{path}.deps"))?,
            None => Vec::new(),
        };
        let outputs = match v.get("outputs") {
            Some(o) => expect_str_list(o, &format!("{path}.outputs"))?,
            None => Vec::new(),
        };
        let retries = match v.get("retries") {
            None => 0,
            Some(Value::Int(r)) if (0..=MAX_RETRIES as i64).contains(r) => *r as u32,
            Some(other) => {
                return Err(field_error(
                    &format!("{path}.retries"),
                    format!("must be an int between 0 and {MAX_RETRIES}, got {other:?}"),
                ))
            }
        };
        let weight = match v.get("weight") {
            None => 1.0,
            Some(Value::Int(w)) if *w >= 0 => *w as f64,
            Some(Value::Float(w)) if w.is_finite() && *w >= 0.0 => *w,
            Some(other) => {
                return Err(field_error(
                    &format!("{path}.weight"),
                    format!("must be a finite non-negative number, got {other:?}"),
                ))
            }
        };
        let config = v.get("config").cloned().unwrap_or(Value::None);
        Ok(NodeSpec {
            name,
            kind,
            deps,
            outputs,
            retries,
            weight,
            config,
        })
    }
}
