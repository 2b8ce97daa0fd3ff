//! Loading and validating `function-quest/1` levels (JSON or YAML), and grounding their functions.
//!
//! Every error names the source, the field and the reason:
//! `locked-study.json: functions[1].adds[0]: fact "door_opn" is not declared in facts`.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value as Json};

use symphony_pit::error::{PitError, Result};
use symphony_pit::resources::{amount_from_units, Amount};

/// The only format this loader reads.
pub const FORMAT: &str = "function-quest/1";
/// Most facts a level may declare (the format asks for at least 64).
pub const MAX_FACTS: usize = 128;
/// Most grounded calls a level may have (the format asks for at least 256).
pub const MAX_CALLS: usize = 1024;
/// Longest episode a level may ask for.
pub const MAX_STEPS: u64 = 10_000;

const TOP_KEYS: &[&str] = &[
    "format",
    "id",
    "title",
    "band",
    "story",
    "facts",
    "initial",
    "goal",
    "success",
    "max_steps",
    "pools",
    "functions",
    "optimal_steps",
];
const FUNCTION_KEYS: &[&str] = &[
    "name",
    "params",
    "description",
    "requires",
    "forbids",
    "adds",
    "removes",
    "returns",
    "fails",
    "cost",
    "produces",
];
const DIMENSIONS: [&str; 3] = ["cpu", "memory_mb", "gpu_memory_mb"];

/// A set of facts, one bit per declared fact.
pub type Bits = u128;

/// A pool of a level: per-dimension limits in thousandths (`None` = unlimited).
#[derive(Clone, Debug, PartialEq)]
pub struct QuestPool {
    pub name: String,
    pub limits: [Option<Amount>; 3],
}

/// What a call holds while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cost {
    /// Index into [`Level::pools`]; `None` when the level declares no pools (unlimited).
    pub pool: Option<usize>,
    /// cpu, memory_mb, gpu_memory_mb in thousandths.
    pub amounts: [Amount; 3],
    /// Steps the cost is held, counting the step of the call.
    pub steps: u32,
}

/// A function with one value chosen for each parameter: one action of the game.
#[derive(Clone, Debug, PartialEq)]
pub struct GroundedCall {
    pub function: String,
    /// (parameter, value) in declaration order.
    pub args: Vec<(String, String)>,
    pub description: String,
    pub requires: Bits,
    pub forbids: Bits,
    pub adds: Bits,
    pub removes: Bits,
    pub returns: String,
    pub fails: String,
    pub cost: Cost,
    pub produces: Option<String>,
}

impl GroundedCall {
    /// `unlock(door=study_door)`, or `search_desk()`.
    pub fn label(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}({})", self.function, args.join(", "))
    }
}

/// A validated level, its functions grounded into calls (the action space, in order).
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub id: String,
    pub title: String,
    pub band: u8,
    pub story: String,
    pub facts: Vec<String>,
    pub initial: Bits,
    pub goal: Bits,
    pub success: String,
    pub max_steps: u32,
    pub pools: Vec<QuestPool>,
    pub calls: Vec<GroundedCall>,
    pub optimal_steps: Option<u32>,
    /// `x-` keys of the document, kept and otherwise ignored.
    pub extensions: Map<String, Json>,
}

/// Error helper: `source: field: reason`.
struct Ctx<'a> {
    source: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, reason: impl std::fmt::Display) -> PitError {
        PitError::validation(format!("{}: {field}: {reason}", self.source))
    }

    fn object<'v>(
        &self,
        v: &'v Json,
        field: &str,
        allowed: &[&str],
    ) -> Result<&'v Map<String, Json>> {
        let map = v
            .as_object()
            .ok_or_else(|| self.err(field, format!("must be an object, got {}", kind(v))))?;
        for (position, key) in map.keys().enumerate() {
            if !allowed.contains(&key.as_str()) && !key.starts_with("x-") {
                return Err(self.err(
                    field,
                    format!(
                        "unknown key {} (key {} of {}; allowed: {})",
                        symphony_pit::error::shown(key),
                        position + 1,
                        map.len(),
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(map)
    }

    fn string(
        &self,
        map: &Map<String, Json>,
        key: &str,
        path: &str,
        default: Option<&str>,
    ) -> Result<String> {
        match (map.get(key), default) {
            (Some(Json::String(s)), _) => Ok(s.clone()),
            (Some(other), _) => Err(self.err(
                &join(path, key),
                format!("must be a string, got {}", kind(other)),
            )),
            (None, Some(d)) => Ok(d.to_owned()),
            (None, None) => Err(self.err(&join(path, key), "is required")),
        }
    }

    fn strings(&self, map: &Map<String, Json>, key: &str, path: &str) -> Result<Vec<String>> {
        match map.get(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str().map(str::to_owned).ok_or_else(|| {
                        self.err(
                            &format!("{}[{i}]", join(path, key)),
                            format!("must be a string, got {}", kind(item)),
                        )
                    })
                })
                .collect(),
            Some(other) => Err(self.err(
                &join(path, key),
                format!("must be a list of strings, got {}", kind(other)),
            )),
        }
    }

    fn integer(
        &self,
        map: &Map<String, Json>,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>> {
        match map.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(self.err(
                    key,
                    format!(
                        "must be an integer from {} to {}, got {v}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
        }
    }

    fn amount(&self, v: &Json, field: &str) -> Result<Amount> {
        let n = v
            .as_f64()
            .ok_or_else(|| self.err(field, format!("must be a number, got {}", kind(v))))?;
        // The message names the field already ("cpu must not be negative ...").
        amount_from_units(field, n)
            .map_err(|e| PitError::validation(format!("{}: {e}", self.source)))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Replace `{param}` placeholders; an unknown placeholder or a stray brace is an error.
fn substitute(template: &str, args: &[(String, String)]) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        let name = &after[..close];
        let value = args
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("placeholder {{{name}}} names no parameter"))?;
        out.push_str(value);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("stray '}}' in {template:?}"));
    }
    out.push_str(rest);
    Ok(out)
}

impl Level {
    /// Load a level file; `.json`, `.yaml` and `.yml` are recognised by extension.
    pub fn from_path(path: &Path) -> Result<Level> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PitError::validation(format!("{source}: cannot read the level: {e}")))?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Level::from_yaml_str(&source, &text),
            _ => Level::from_json_str(&source, &text),
        }
    }

    pub fn from_json_str(source: &str, text: &str) -> Result<Level> {
        let doc: Json = serde_json::from_str(text)
            .map_err(|e| PitError::validation(format!("{source}: not valid JSON: {e}")))?;
        Level::from_json(source, &doc)
    }

    pub fn from_yaml_str(source: &str, text: &str) -> Result<Level> {
        let doc: Json = serde_yaml_ng::from_str(text)
            .map_err(|e| PitError::validation(format!("{source}: not valid YAML: {e}")))?;
        Level::from_json(source, &doc)
    }

    /// Validate a parsed document and ground its functions. (Solvability is checked separately
    /// by [`Level::check_solvable`], which `from_*` does not run.)
    pub fn from_json(source: &str, doc: &Json) -> Result<Level> {
        let cx = Ctx { source };
        let top = cx.object(doc, "level", TOP_KEYS)?;
        let format = cx.string(top, "format", "", None)?;
        if format != FORMAT {
            return Err(cx.err(
                "format",
                format!(
                    "must be {FORMAT:?}, got {}",
                    symphony_pit::error::shown(&format)
                ),
            ));
        }
        let id = cx.string(top, "id", "", None)?;
        if id.is_empty() {
            return Err(cx.err("id", "must not be empty"));
        }
        let band = cx
            .integer(top, "band", 1..=20)?
            .ok_or_else(|| cx.err("band", "is required"))? as u8;
        let max_steps = cx
            .integer(top, "max_steps", 1..=MAX_STEPS)?
            .ok_or_else(|| cx.err("max_steps", "is required"))? as u32;
        let optimal_steps = cx
            .integer(top, "optimal_steps", 1..=MAX_STEPS)?
            .map(|n| n as u32);

        let facts = cx.strings(top, "facts", "")?;
        if !top.contains_key("facts") {
            return Err(cx.err("facts", "is required"));
        }
        if facts.len() > MAX_FACTS {
            return Err(cx.err(
                "facts",
                format!("declares {} facts; the limit is {MAX_FACTS}", facts.len()),
            ));
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, fact) in facts.iter().enumerate() {
            if !is_identifier(fact) {
                return Err(cx.err(
                    &format!("facts[{i}]"),
                    format!("{fact:?} is not a lowercase identifier"),
                ));
            }
            if index.insert(fact, i).is_some() {
                return Err(cx.err(
                    &format!("facts[{i}]"),
                    format!("{fact:?} is declared twice"),
                ));
            }
        }
        let bits = |field: &str, names: &[String]| -> Result<Bits> {
            names.iter().enumerate().try_fold(0, |acc, (i, name)| {
                index
                    .get(name.as_str())
                    .map(|&b| acc | (1u128 << b))
                    .ok_or_else(|| {
                        cx.err(
                            &format!("{field}[{i}]"),
                            format!("fact {name:?} is not declared in facts"),
                        )
                    })
            })
        };
        let initial = bits("initial", &cx.strings(top, "initial", "")?)?;
        let goal = bits("goal", &cx.strings(top, "goal", "")?)?;

        let mut pools = Vec::new();
        if let Some(v) = top.get("pools") {
            // Keys are pool names, so any key is allowed here.
            let map = v
                .as_object()
                .ok_or_else(|| cx.err("pools", format!("must be an object, got {}", kind(v))))?;
            for (name, spec) in map {
                let path = format!("pools.{name}");
                let dims = cx.object(spec, &path, &DIMENSIONS)?;
                let mut limits = [None; 3];
                for (d, dim) in DIMENSIONS.iter().enumerate() {
                    if let Some(v) = dims.get(*dim) {
                        limits[d] = Some(cx.amount(v, &format!("{path}.{dim}"))?);
                    }
                }
                pools.push(QuestPool {
                    name: name.clone(),
                    limits,
                });
            }
        }

        let functions = match top.get("functions") {
            Some(Json::Array(items)) if !items.is_empty() => items,
            Some(Json::Array(_)) => return Err(cx.err("functions", "must not be empty")),
            Some(other) => {
                return Err(cx.err("functions", format!("must be a list, got {}", kind(other))))
            }
            None => return Err(cx.err("functions", "is required")),
        };
        if functions.len() > MAX_CALLS {
            return Err(cx.err(
                "functions",
                format!(
                    "declares {} functions; at most {MAX_CALLS} grounded calls are allowed",
                    functions.len()
                ),
            ));
        }
        let mut calls = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (f, function) in functions.iter().enumerate() {
            let path = format!("functions[{f}]");
            let map = cx.object(function, &path, FUNCTION_KEYS)?;
            let name_path = format!("{path}.name");
            let name = map
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| cx.err(&name_path, "is required and must be a string"))?;
            if !is_identifier(name) {
                return Err(cx.err(
                    &name_path,
                    format!("{name:?} is not a lowercase identifier"),
                ));
            }
            if names.contains(&name) {
                return Err(cx.err(&name_path, format!("function {name:?} is declared twice")));
            }
            names.push(name);
            let params = ground_params(&cx, map, &path)?;
            let grounded = params
                .iter()
                .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()));
            if grounded.is_none_or(|n| calls.len() + n > MAX_CALLS) {
                return Err(cx.err(&path, format!("grounding exceeds {MAX_CALLS} calls")));
            }
            let cost = parse_cost(&cx, map, &path, &pools)?;
            let templates = FunctionTemplates {
                description: cx.string(map, "description", &path, Some(""))?,
                requires: cx.strings(map, "requires", &path)?,
                forbids: cx.strings(map, "forbids", &path)?,
                adds: cx.strings(map, "adds", &path)?,
                removes: cx.strings(map, "removes", &path)?,
                returns: cx.string(map, "returns", &path, Some("Done."))?,
                fails: cx.string(map, "fails", &path, Some("Nothing happens."))?,
                produces: match map.get("produces") {
                    None => None,
                    Some(_) => Some(cx.string(map, "produces", &path, None)?),
                },
            };
            for args in cartesian(&params) {
                let sub = |field: &str, t: &str| {
                    substitute(t, &args).map_err(|why| cx.err(&format!("{path}.{field}"), why))
                };
                let fact_bits = |field: &str, list: &[String]| -> Result<Bits> {
                    list.iter().enumerate().try_fold(0, |acc, (i, t)| {
                        let fact = sub(&format!("{field}[{i}]"), t)?;
                        index
                            .get(fact.as_str())
                            .map(|&b| acc | (1u128 << b))
                            .ok_or_else(|| {
                                cx.err(
                                    &format!("{path}.{field}[{i}]"),
                                    format!("fact {fact:?} is not declared in facts"),
                                )
                            })
                    })
                };
                calls.push(GroundedCall {
                    function: name.to_owned(),
                    description: sub("description", &templates.description)?,
                    requires: fact_bits("requires", &templates.requires)?,
                    forbids: fact_bits("forbids", &templates.forbids)?,
                    adds: fact_bits("adds", &templates.adds)?,
                    removes: fact_bits("removes", &templates.removes)?,
                    returns: sub("returns", &templates.returns)?,
                    fails: sub("fails", &templates.fails)?,
                    produces: templates
                        .produces
                        .as_deref()
                        .map(|p| sub("produces", p))
                        .transpose()?,
                    cost,
                    args,
                });
            }
        }

        let extensions = top
            .iter()
            .filter(|(k, _)| k.starts_with("x-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Level {
            id,
            title: cx.string(top, "title", "", None)?,
            band,
            story: cx.string(top, "story", "", None)?,
            success: cx.string(top, "success", "", None)?,
            facts,
            initial,
            goal,
            max_steps,
            pools,
            calls,
            optimal_steps,
            extensions,
        })
    }

    /// Facts of a bit set, by name.
    pub fn fact_names(&self, bits: Bits) -> Vec<&str> {
        (0..self.facts.len())
            .filter(|&i| bits & (1u128 << i) != 0)
            .map(|i| self.facts[i].as_str())
            .collect()
    }

    /// Reject a level whose goal already holds, that no plan solves within `max_steps` (under
    /// the solver's budget), or whose `optimal_steps` disagrees with the solver. Returns the
    /// optimal plan. The check is the solver's: [`super::solver::check_solvable`].
    pub fn check_solvable(&self, source: &str) -> Result<Vec<usize>> {
        super::solver::check_solvable(self, source)
    }
}

struct FunctionTemplates {
    description: String,
    requires: Vec<String>,
    forbids: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    returns: String,
    fails: String,
    produces: Option<String>,
}

fn ground_params(
    cx: &Ctx<'_>,
    map: &Map<String, Json>,
    path: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let Some(v) = map.get("params") else {
        return Ok(Vec::new());
    };
    let params_path = format!("{path}.params");
    let params = v
        .as_object()
        .ok_or_else(|| cx.err(&params_path, format!("must be an object, got {}", kind(v))))?;
    params
        .iter()
        .map(|(name, values)| {
            let field = format!("{params_path}.{name}");
            if !is_identifier(name) {
                return Err(cx.err(&field, "parameter names are lowercase identifiers"));
            }
            let values = match values {
                Json::Array(items) if !items.is_empty() => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            cx.err(
                                &format!("{field}[{i}]"),
                                format!("must be a string, got {}", kind(item)),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
                other => {
                    return Err(cx.err(
                        &field,
                        format!("must be a non-empty list of values, got {}", kind(other)),
                    ))
                }
            };
            Ok((name.clone(), values))
        })
        .collect()
}

/// Every combination of parameter values, in declaration order, the last parameter varying fastest.
fn cartesian(params: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    params.iter().fold(vec![Vec::new()], |acc, (name, values)| {
        acc.into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((name.clone(), v.clone()));
                    next
                })
            })
            .collect()
    })
}

fn parse_cost(
    cx: &Ctx<'_>,
    map: &Map<String, Json>,
    path: &str,
    pools: &[QuestPool],
) -> Result<Cost> {
    let default_pool = if pools.is_empty() { None } else { Some(0) };
    let mut cost = Cost {
        pool: default_pool,
        amounts: [1000, 0, 0],
        steps: 1,
    };
    let Some(v) = map.get("cost") else {
        return Ok(cost);
    };
    let cost_path = format!("{path}.cost");
    let fields = cx.object(
        v,
        &cost_path,
        &["pool", "cpu", "memory_mb", "gpu_memory_mb", "steps"],
    )?;
    if let Some(p) = fields.get("pool") {
        let name = p.as_str().ok_or_else(|| {
            cx.err(
                &format!("{cost_path}.pool"),
                format!("must be a string, got {}", kind(p)),
            )
        })?;
        let at = pools.iter().position(|q| q.name == name).ok_or_else(|| {
            cx.err(
                &format!("{cost_path}.pool"),
                format!("names undeclared pool {name:?}"),
            )
        })?;
        cost.pool = Some(at);
    }
    for (d, dim) in DIMENSIONS.iter().enumerate() {
        if let Some(v) = fields.get(*dim) {
            cost.amounts[d] = cx.amount(v, &format!("{cost_path}.{dim}"))?;
        }
    }
    if let Some(v) = fields.get("steps") {
        cost.steps = v
            .as_u64()
            .filter(|n| (1..=MAX_STEPS).contains(n))
            .ok_or_else(|| {
                cx.err(
                    &format!("{cost_path}.steps"),
                    format!("must be a positive integer, got {v}"),
                )
            })? as u32;
    }
    Ok(cost)
}
