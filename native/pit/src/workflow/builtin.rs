//! Built-in Rust nodes: they run without the host language, on [`Value`]s.
//!
//! | kind | config | result |
//! |---|---|---|
//! | `passthrough` | — | its one input (None for none, a list for several) |
//! | `constant` | `value` | `value` |
//! | `calculator` | `operation`: add, sub, mul, div, sum; optional `operand` | inputs (then `operand`) folded left; `sum` adds every number of every input (lists are flattened one level) |
//! | `map` | `operation`, `operand` | `[x op operand for x in input]` |
//! | `filter` | `compare`: gt, ge, lt, le, eq, ne; `value` | `[x for x in input if x compare value]` |
//! | `concat` | — | lists joined into one list, or str joined into one str |
//! | `model` | `pool`, `model`, optional `model_type` (echo), `version`, `cpu`, `memory_mb`, `gpu_memory_mb`, `slots`, `config` | the model's answer to its input, allocated and released through the Pool Manager |
//!
//! Arithmetic is Python's on int (64-bit; leaving that range is an `OverflowError`) and float;
//! `div` is true division on floats; an int meets a float as a float; bool is not a number here.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::pit::Pit;
use crate::pool::{InvokeError, ModelSpec};
use crate::resources::Resources;
use crate::value::Value;
use crate::workflow::engine::{NodeError, NodeErrorKind};

/// The built-in node kinds and the settings each takes: the one table the manifest validator
/// checks against and the Python layer reads (`symphony_pit._native.BUILTIN_KINDS`).
pub const BUILTIN_KINDS: [(&str, &[&str]); 7] = [
    ("passthrough", &[]),
    ("constant", &["value"]),
    ("calculator", &["operation", "operand"]),
    ("map", &["operation", "operand"]),
    ("filter", &["compare", "value"]),
    ("concat", &[]),
    (
        "model",
        &[
            "pool",
            "model",
            "model_type",
            "version",
            "cpu",
            "memory_mb",
            "gpu_memory_mb",
            "slots",
            "config",
        ],
    ),
];

/// The settings built-in node `kind` takes (empty for a kind that is not built in).
fn settings_of(kind: &str) -> &'static [&'static str] {
    BUILTIN_KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(&[], |(_, settings)| settings)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Add,
    Sub,
    Mul,
    Div,
    Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    #[inline]
    fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::Int(i),
            Num::Float(f) => Value::Float(f),
        }
    }

    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A built-in node with its settings parsed.
#[derive(Debug)]
pub enum Builtin {
    Passthrough,
    Constant(Value),
    Calculator {
        operation: Operation,
        operand: Option<Num>,
    },
    Map {
        operation: Operation,
        operand: Num,
    },
    Filter {
        compare: Compare,
        value: Num,
    },
    Concat,
    Model {
        pool: String,
        spec: Arc<ModelSpec>,
    },
}

fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n
                .as_u64()
                .map(|u| Value::BigInt(u.to_string()))
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_to_value).collect()),
        Json::Object(map) => Value::Dict(
            map.iter()
                .map(|(k, v)| (Value::Str(k.clone()), json_to_value(v)))
                .collect(),
        ),
    }
}

fn config_keys(kind: &str, config: &Json, allowed: &[&str]) -> Result<(), String> {
    match config {
        Json::Null => Ok(()),
        Json::Object(map) => {
            for key in map.keys() {
                if !allowed.contains(&key.as_str()) {
                    return Err(format!(
                        "{kind} config has unknown key {key:?} (allowed: {})",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        }
        other => Err(format!("{kind} config must be an object, got {other}")),
    }
}

fn operation(kind: &str, config: &Json) -> Result<Operation, String> {
    match config.get("operation").and_then(Json::as_str) {
        Some("add") => Ok(Operation::Add),
        Some("sub") => Ok(Operation::Sub),
        Some("mul") => Ok(Operation::Mul),
        Some("div") => Ok(Operation::Div),
        Some("sum") => Ok(Operation::Sum),
        Some(other) => Err(format!(
            "{kind} operation {other:?} is unknown (use add, sub, mul, div or sum)"
        )),
        None => Err(format!(
            "{kind} config needs 'operation' (add, sub, mul, div or sum)"
        )),
    }
}

fn number(kind: &str, key: &str, j: Option<&Json>) -> Result<Option<Num>, String> {
    match j {
        None => Ok(None),
        Some(Json::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Some(Num::Int(i))),
            None if n.is_u64() => Err(format!("{kind} {key} is outside the 64-bit int range")),
            None => Ok(Some(Num::Float(n.as_f64().unwrap_or(f64::NAN)))),
        },
        Some(other) => Err(format!("{kind} {key} must be a number, got {other}")),
    }
}

fn resource(config: &Json, key: &str) -> Result<f64, String> {
    match config.get(key) {
        None => Ok(0.0),
        Some(j) => j
            .as_f64()
            .ok_or_else(|| format!("model {key} must be a number, got {j}")),
    }
}

impl Builtin {
    /// Parse the settings of built-in node `kind`.
    pub fn parse(kind: &str, config: &Json) -> Result<Builtin, String> {
        if BUILTIN_KINDS.iter().any(|(name, _)| *name == kind) {
            config_keys(kind, config, settings_of(kind))?;
        }
        match kind {
            "passthrough" | "concat" => Ok(if kind == "concat" {
                Builtin::Concat
            } else {
                Builtin::Passthrough
            }),
            "constant" => Ok(Builtin::Constant(json_to_value(
                config.get("value").unwrap_or(&Json::Null),
            ))),
            "calculator" => Ok(Builtin::Calculator {
                operation: operation(kind, config)?,
                operand: number(kind, "operand", config.get("operand"))?,
            }),
            "map" => {
                let op = operation(kind, config)?;
                if op == Operation::Sum {
                    return Err("map operation must be add, sub, mul or div".into());
                }
                Ok(Builtin::Map {
                    operation: op,
                    operand: number(kind, "operand", config.get("operand"))?
                        .ok_or("map config needs 'operand'")?,
                })
            }
            "filter" => {
                let compare = match config.get("compare").and_then(Json::as_str) {
                    Some("gt") => Compare::Gt,
                    Some("ge") => Compare::Ge,
                    Some("lt") => Compare::Lt,
                    Some("le") => Compare::Le,
                    Some("eq") => Compare::Eq,
                    Some("ne") => Compare::Ne,
                    other => {
                        return Err(format!(
                            "filter compare {other:?} is unknown (use gt, ge, lt, le, eq or ne)"
                        ))
                    }
                };
                Ok(Builtin::Filter {
                    compare,
                    value: number(kind, "value", config.get("value"))?
                        .ok_or("filter config needs 'value'")?,
                })
            }
            "model" => {
                let text = |key: &str, default: Option<&str>| -> Result<String, String> {
                    match config.get(key) {
                        Some(Json::String(s)) => Ok(s.clone()),
                        None => default
                            .map(str::to_owned)
                            .ok_or_else(|| format!("model config needs '{key}'")),
                        Some(other) => Err(format!("model {key} must be a str, got {other}")),
                    }
                };
                let requirements = Resources::from_units(
                    resource(config, "cpu")?,
                    resource(config, "memory_mb")?,
                    resource(config, "gpu_memory_mb")?,
                    resource(config, "slots")?,
                )
                .map_err(|e| e.to_string())?;
                let spec = ModelSpec::new(
                    &text("model", None)?,
                    &text("version", Some("1"))?,
                    &text("model_type", Some("echo"))?,
                    requirements,
                    json_to_value(config.get("config").unwrap_or(&Json::Null)),
                )
                .map_err(|e| e.to_string())?;
                Ok(Builtin::Model {
                    pool: text("pool", None)?,
                    spec: Arc::new(spec),
                })
            }
            other => Err(format!(
                "unknown node kind '{other}' (known: python, workflow, {})",
                BUILTIN_KINDS.map(|(name, _)| name).join(", ")
            )),
        }
    }

    /// Whether the result depends on the inputs alone (no model, nothing else of the Pit used):
    /// such nodes may run in a wave (see the engine).
    pub fn is_pure(&self) -> bool {
        !matches!(self, Builtin::Model { .. })
    }

    /// The result of a calculator on exactly the two numbers `a` and `b` (no operand, not a
    /// sum), when it is a number; `None` for anything else, [`apply`](Self::apply)'s to
    /// compute or refuse. Inlined into the engine: the value then stays in registers instead
    /// of going back through memory from a call (native/README.md, "Fast paths kept").
    #[inline]
    pub fn apply_to_two_numbers(&self, a: &Value, b: &Value) -> Option<Value> {
        let Builtin::Calculator { operation, operand } = self else {
            return None;
        };
        two_numbers(*operation, *operand, a, b)?
            .ok()
            .map(Num::value)
    }

    /// Compute the node's result from its inputs.
    pub fn apply(&self, pit: &Pit, inputs: &[&Value]) -> Result<Value, NodeError> {
        match self {
            Builtin::Passthrough => Ok(match inputs {
                [] => Value::None,
                [one] => (*one).clone(),
                many => Value::List(many.iter().map(|v| (*v).clone()).collect()),
            }),
            Builtin::Constant(v) => Ok(v.clone()),
            Builtin::Calculator { operation, operand } => {
                calculate(*operation, inputs, *operand).map(Num::value)
            }
            Builtin::Map { operation, operand } => {
                let items = one_list("map", inputs)?;
                items
                    .iter()
                    .map(|x| binary(*operation, as_num("map", x)?, *operand).map(Num::value))
                    .collect::<Result<Vec<_>, Fault>>()
                    .map(Value::List)
                    .map_err(NodeError::from)
            }
            Builtin::Filter { compare, value } => {
                let items = one_list("filter", inputs)?;
                let mut kept = Vec::new();
                for x in items {
                    if holds(*compare, as_num("filter", x)?, *value) {
                        kept.push(x.clone());
                    }
                }
                Ok(Value::List(kept))
            }
            Builtin::Concat => concat(inputs),
            Builtin::Model { pool, spec } => {
                let input = match inputs {
                    [] => Value::None,
                    [one] => (*one).clone(),
                    many => Value::List(many.iter().map(|v| (*v).clone()).collect()),
                };
                let allocation = pit
                    .pools
                    .allocate(pool, spec)
                    .map_err(|e| NodeError::new(NodeErrorKind::ResourceExhausted, e.to_string()))?;
                let answer = pit.pools.invoke(allocation.handle, input);
                let released = pit.pools.release(allocation.handle, false);
                let answer = answer.map_err(|e| match e {
                    InvokeError::Pit(e) => NodeError::new(NodeErrorKind::Runtime, e.to_string()),
                    InvokeError::Model(f) => NodeError::new(
                        NodeErrorKind::Runtime,
                        format!("model '{}' failed: {}", spec.name, f.message),
                    ),
                })?;
                released.map_err(|e| NodeError::new(NodeErrorKind::Runtime, e.to_string()))?;
                Ok(answer)
            }
        }
    }
}

fn type_error(message: String) -> NodeError {
    NodeError::new(NodeErrorKind::WrongType, message)
}

/// Why arithmetic on a node's inputs failed: two words, so the per-operand results stay cheap;
/// it becomes a [`NodeError`] only when a node fails.
#[derive(Clone, Copy, Debug)]
enum Fault {
    NotNumber {
        kind: &'static str,
        got: &'static str,
    },
    ZeroDivision,
    Overflow,
}

impl From<Fault> for NodeError {
    fn from(fault: Fault) -> NodeError {
        match fault {
            Fault::NotNumber { kind, got } => {
                type_error(format!("{kind} needs numbers, got {got}"))
            }
            Fault::ZeroDivision => NodeError::new(NodeErrorKind::ZeroDivision, "division by zero"),
            Fault::Overflow => NodeError::new(
                NodeErrorKind::Overflow,
                "integer result outside the 64-bit range",
            ),
        }
    }
}

fn as_num(kind: &'static str, v: &Value) -> Result<Num, Fault> {
    match v {
        Value::Int(i) => Ok(Num::Int(*i)),
        Value::Float(f) => Ok(Num::Float(*f)),
        other => Err(Fault::NotNumber {
            kind,
            got: other.type_name(),
        }),
    }
}

fn one_list<'a>(kind: &str, inputs: &[&'a Value]) -> Result<&'a [Value], NodeError> {
    match inputs {
        [Value::List(items)] | [Value::Tuple(items)] => Ok(items),
        [other] => Err(type_error(format!(
            "{kind} needs a list, got {}",
            other.type_name()
        ))),
        _ => Err(type_error(format!(
            "{kind} takes exactly one input, got {}",
            inputs.len()
        ))),
    }
}

/// `a op b` (not `Sum`).
#[inline]
fn binary(op: Operation, a: Num, b: Num) -> Result<Num, Fault> {
    if op == Operation::Div {
        let d = b.float();
        if d == 0.0 {
            return Err(Fault::ZeroDivision);
        }
        return Ok(Num::Float(a.float() / d));
    }
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => match op {
            Operation::Add | Operation::Sum => x.checked_add(y),
            Operation::Sub => x.checked_sub(y),
            Operation::Mul => x.checked_mul(y),
            Operation::Div => unreachable!("handled above"),
        }
        .map(Num::Int)
        .ok_or(Fault::Overflow),
        _ => {
            let (x, y) = (a.float(), b.float());
            Ok(Num::Float(match op {
                Operation::Add | Operation::Sum => x + y,
                Operation::Sub => x - y,
                Operation::Mul => x * y,
                Operation::Div => unreachable!("handled above"),
            }))
        }
    }
}

/// The calculator's usual case, straight: exactly the two numbers `a` and `b`, no operand, not a
/// sum (both are checked before the arithmetic). `None` for any other case.
#[inline]
fn two_numbers(
    op: Operation,
    operand: Option<Num>,
    a: &Value,
    b: &Value,
) -> Option<Result<Num, Fault>> {
    if operand.is_some() || op == Operation::Sum {
        return None;
    }
    // Not `as_num(..).ok()`: that builds an error only to drop it.
    let num = |v: &Value| match *v {
        Value::Int(i) => Some(Num::Int(i)),
        Value::Float(f) => Some(Num::Float(f)),
        _ => None,
    };
    Some(binary(op, num(a)?, num(b)?))
}

fn calculate(op: Operation, inputs: &[&Value], operand: Option<Num>) -> Result<Num, NodeError> {
    if let [a, b] = inputs {
        if let Some(result) = two_numbers(op, operand, a, b) {
            return result.map_err(NodeError::from);
        }
    }
    // One pass, left to right, no buffer (this runs once per calculator node). Every operand is
    // still checked before an arithmetic error is reported: a type error wins over a division
    // by zero, as the reference executor has it.
    let (step, mut acc) = match op {
        Operation::Sum => (Operation::Add, Some(Num::Int(0))),
        _ => (op, None),
    };
    let mut count = 0usize;
    let mut arithmetic: Option<Fault> = None;
    each_operand(op, inputs, operand, |x| {
        count += 1;
        if arithmetic.is_none() {
            match acc.map(|a| binary(step, a, x)).unwrap_or(Ok(x)) {
                Ok(v) => acc = Some(v),
                Err(e) => arithmetic = Some(e),
            }
        }
        Ok(())
    })?;
    if op != Operation::Sum && count < 2 {
        return Err(type_error(
            "calculator add/sub/mul/div needs at least two operands (inputs and 'operand')".into(),
        ));
    }
    match arithmetic {
        Some(fault) => Err(fault.into()),
        None => Ok(acc.expect("at least one operand")),
    }
}

/// Call `f` with each operand of a calculator node in order: its inputs (a list or tuple input
/// of `sum` gives its items), then its `operand`.
fn each_operand(
    op: Operation,
    inputs: &[&Value],
    operand: Option<Num>,
    mut f: impl FnMut(Num) -> Result<(), Fault>,
) -> Result<(), Fault> {
    for v in inputs {
        match (op, v) {
            (Operation::Sum, Value::List(items) | Value::Tuple(items)) => {
                for x in items {
                    f(as_num("calculator", x)?)?;
                }
            }
            _ => f(as_num("calculator", v)?)?,
        }
    }
    operand.map_or(Ok(()), f)
}

fn holds(c: Compare, a: Num, b: Num) -> bool {
    let ord = match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.partial_cmp(&y),
        _ => a.float().partial_cmp(&b.float()),
    };
    match (c, ord) {
        (Compare::Ne, None) => true,
        (_, None) => false,
        (Compare::Gt, Some(o)) => o.is_gt(),
        (Compare::Ge, Some(o)) => o.is_ge(),
        (Compare::Lt, Some(o)) => o.is_lt(),
        (Compare::Le, Some(o)) => o.is_le(),
        (Compare::Eq, Some(o)) => o.is_eq(),
        (Compare::Ne, Some(o)) => o.is_ne(),
    }
}

fn concat(inputs: &[&Value]) -> Result<Value, NodeError> {
    if inputs.iter().all(|v| matches!(v, Value::Str(_))) && !inputs.is_empty() {
        return Ok(Value::Str(
            inputs.iter().filter_map(|v| v.as_str()).collect::<String>(),
        ));
    }
    let mut out = Vec::new();
    for v in inputs {
        match v {
            Value::List(items) | Value::Tuple(items) => out.extend(items.iter().cloned()),
            other => {
                return Err(type_error(format!(
                    "concat joins lists or strs, got {}",
                    other.type_name()
                )))
            }
        }
    }
    Ok(Value::List(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pit::PitConfig;
    use serde_json::json;

    fn run(kind: &str, config: Json, inputs: &[Value]) -> Result<Value, NodeError> {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        let refs: Vec<&Value> = inputs.iter().collect();
        Builtin::parse(kind, &config).unwrap().apply(&pit, &refs)
    }

    fn value_strategy() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(Value::Int),
            (-3i64..4).prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            (-2i32..3).prop_map(|f| Value::Float(f64::from(f) / 2.0)),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Float(-0.0)),
            Just(Value::None),
            Just(Value::Str("7".into())),
        ]
    }

    proptest::proptest! {
        /// The engine's inlined path for two numbers gives what `apply` gives, or leaves the
        /// case (any error, any other input or configuration) to it.
        #[test]
        fn two_numbers_straight_agree_with_apply(
            a in value_strategy(),
            b in value_strategy(),
            op in 0usize..5,
            operand in proptest::option::of(-2i64..3),
        ) {
            let pit = Pit::open(PitConfig::in_memory()).unwrap();
            let operation = ["add", "sub", "mul", "div", "sum"][op];
            let config = match operand {
                Some(x) => json!({"operation": operation, "operand": x}),
                None => json!({"operation": operation}),
            };
            let calculator = Builtin::parse("calculator", &config).unwrap();
            let full = calculator.apply(&pit, &[&a, &b]);
            match calculator.apply_to_two_numbers(&a, &b) {
                Some(straight) => {
                    let full = full.expect("the straight path only gives results");
                    // NaN != NaN: compare what they encode to.
                    proptest::prop_assert_eq!(straight.encode(), full.encode());
                }
                None => proptest::prop_assert!(
                    operand.is_some() || op == 4 || full.is_err()
                        || !matches!((&a, &b), (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_))),
                    "the straight path declined {a:?} {operation} {b:?} = {full:?}"
                ),
            }
            for other in [Builtin::Passthrough, Builtin::Constant(Value::Int(1))] {
                proptest::prop_assert!(other.apply_to_two_numbers(&a, &b).is_none());
            }
        }
    }

    #[test]
    fn two_numbers_straight_leave_sums_and_operands_to_apply() {
        // A sum starts from 0: 0 + -0.0 + -0.0 is 0.0, where -0.0 + -0.0 would be -0.0.
        let sum = run(
            "calculator",
            json!({"operation": "sum"}),
            &[Value::Float(-0.0), Value::Float(-0.0)],
        );
        assert_eq!(sum.unwrap().encode(), Value::Float(0.0).encode());
        for config in [
            json!({"operation": "sum"}),
            json!({"operation": "add", "operand": 1}),
        ] {
            let calculator = Builtin::parse("calculator", &config).unwrap();
            let zero = Value::Float(-0.0);
            assert_eq!(calculator.apply_to_two_numbers(&zero, &zero), None);
        }
    }

    #[test]
    fn calculator_follows_python_arithmetic() {
        let sum = run(
            "calculator",
            json!({"operation": "sum"}),
            &[
                Value::List(vec![Value::Int(1), Value::Float(2.5)]),
                Value::Int(3),
            ],
        );
        assert_eq!(sum.unwrap(), Value::Float(6.5));
        let sub = run(
            "calculator",
            json!({"operation": "sub", "operand": 1}),
            &[Value::Int(10), Value::Int(4)],
        );
        assert_eq!(sub.unwrap(), Value::Int(5));
        let div = run(
            "calculator",
            json!({"operation": "div"}),
            &[Value::Int(7), Value::Int(2)],
        );
        assert_eq!(div.unwrap(), Value::Float(3.5));
        let zero = run(
            "calculator",
            json!({"operation": "div"}),
            &[Value::Int(7), Value::Int(0)],
        );
        assert_eq!(zero.unwrap_err().kind, NodeErrorKind::ZeroDivision);
        let big = run(
            "calculator",
            json!({"operation": "mul"}),
            &[Value::Int(i64::MAX), Value::Int(2)],
        );
        assert_eq!(big.unwrap_err().kind, NodeErrorKind::Overflow);
        let flag = run(
            "calculator",
            json!({"operation": "add"}),
            &[Value::Bool(true), Value::Int(2)],
        );
        assert_eq!(flag.unwrap_err().kind, NodeErrorKind::WrongType);
        // Every operand is checked before any arithmetic: the bad type is named, not the zero.
        let late = run(
            "calculator",
            json!({"operation": "div"}),
            &[Value::Int(1), Value::Int(0), Value::from("x")],
        );
        let late = late.unwrap_err();
        assert_eq!(late.kind, NodeErrorKind::WrongType);
        assert!(late.message.contains("str"), "{}", late.message);
        let lone = run("calculator", json!({"operation": "mul"}), &[Value::Int(3)]);
        assert!(lone.unwrap_err().message.contains("at least two operands"));
        assert_eq!(
            run("calculator", json!({"operation": "sum"}), &[]).unwrap(),
            Value::Int(0)
        );
        let chained = run(
            "calculator",
            json!({"operation": "sub", "operand": 0.5}),
            &[Value::Int(10), Value::Int(4), Value::Int(1)],
        );
        assert_eq!(chained.unwrap(), Value::Float(4.5));
    }

    #[test]
    fn map_filter_concat() {
        let xs = Value::List((1..=4).map(Value::Int).collect());
        assert_eq!(
            run(
                "map",
                json!({"operation": "mul", "operand": 10}),
                std::slice::from_ref(&xs)
            )
            .unwrap(),
            Value::List(vec![
                Value::Int(10),
                Value::Int(20),
                Value::Int(30),
                Value::Int(40)
            ])
        );
        assert_eq!(
            run(
                "filter",
                json!({"compare": "ge", "value": 3}),
                std::slice::from_ref(&xs)
            )
            .unwrap(),
            Value::List(vec![Value::Int(3), Value::Int(4)])
        );
        assert_eq!(
            run(
                "concat",
                Json::Null,
                &[xs.clone(), Value::List(vec![Value::None])]
            )
            .unwrap(),
            Value::List(vec![
                Value::Int(1),
                Value::Int(2),
                Value::Int(3),
                Value::Int(4),
                Value::None
            ])
        );
        assert_eq!(
            run("concat", Json::Null, &[Value::from("ab"), Value::from("c")]).unwrap(),
            Value::from("abc")
        );
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(Builtin::parse("calculator", &json!({"operation": "pow"}))
            .unwrap_err()
            .contains("\"pow\""));
        assert!(Builtin::parse("map", &json!({"operation": "add"}))
            .unwrap_err()
            .contains("operand"));
        assert!(Builtin::parse("concat", &json!({"sep": ","}))
            .unwrap_err()
            .contains("unknown key \"sep\""));
    }

    #[test]
    fn model_nodes_go_through_the_pool_manager() {
        let pit = Pit::open(PitConfig::in_memory()).unwrap();
        pit.pools
            .add_pool("gpu", crate::resources::Capacity::UNLIMITED)
            .unwrap();
        let node =
            Builtin::parse("model", &json!({"pool": "gpu", "model": "m", "cpu": 1})).unwrap();
        assert_eq!(node.apply(&pit, &[&Value::Int(5)]).unwrap(), Value::Int(5));
        assert_eq!(node.apply(&pit, &[&Value::Int(6)]).unwrap(), Value::Int(6));
        assert_eq!(pit.pools.stats().cache_hits, 1);
        let missing = Builtin::parse("model", &json!({"pool": "tpu", "model": "m"})).unwrap();
        assert!(missing
            .apply(&pit, &[])
            .unwrap_err()
            .message
            .contains("tpu"));
    }
}
