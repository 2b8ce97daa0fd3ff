//! `Value`: the dynamic data model that crosses the Python boundary losslessly.
//!
//! Used for model configuration, invocation inputs and outputs, custom artifact metadata, workflow
//! specs and stored Python values. Encoded to bytes with MessagePack (`rmp-serde`) when stored.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{PitError, Result};

/// Deepest nesting accepted, counted as [`Value::depth`] counts it (a scalar is 1, a list of
/// scalars 2). The one limit both directions use: the conversion from Python refuses a value
/// deeper than this, and [`Value::decode`] refuses stored bytes deeper than this, so whatever
/// was accepted reads back (and the stack is safe from hostile input).
pub const MAX_DEPTH: usize = 256;

/// Whether a value nested `depth` levels deep (as [`Value::depth`] counts) is within the limit.
pub fn depth_allowed(depth: usize) -> bool {
    depth <= MAX_DEPTH
}

/// Content type of artifacts that hold an encoded [`Value`].
pub const VALUE_CONTENT_TYPE: &str = "application/vnd.symphony.value+msgpack";

/// A calendar date-time with microseconds, and a fixed UTC offset when it is timezone-aware;
/// `fold` (PEP 495) and an IANA zone name (`zoneinfo.ZoneInfo`) when there are any.
///
/// The last two fields are left out of the encoding when unset (see the `Serialize` impl), so
/// date-times stored before they existed keep their bytes (and their artifact ids), and read
/// back as before.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DateTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
    /// Seconds east of UTC, `None` for a naive date-time.
    pub utc_offset_seconds: Option<i32>,
    /// PEP 495's `fold`: 1 for the second of two equal wall times (when clocks go back).
    #[serde(default)]
    pub fold: u8,
    /// The IANA zone (`Europe/Paris`) of a date-time whose tzinfo is a `zoneinfo.ZoneInfo`.
    #[serde(default)]
    pub zone: Option<String>,
}

/// Fields are written in order (MessagePack writes a struct as an array), and the optional tail
/// is cut after the last field that is set: `fold` is written whenever `zone` is, since a
/// reader takes fields by position.
impl Serialize for DateTime {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let len = match (&self.zone, self.fold) {
            (Some(_), _) => 10,
            (None, 0) => 8,
            (None, _) => 9,
        };
        let mut s = serializer.serialize_struct("DateTime", len)?;
        s.serialize_field("year", &self.year)?;
        s.serialize_field("month", &self.month)?;
        s.serialize_field("day", &self.day)?;
        s.serialize_field("hour", &self.hour)?;
        s.serialize_field("minute", &self.minute)?;
        s.serialize_field("second", &self.second)?;
        s.serialize_field("microsecond", &self.microsecond)?;
        s.serialize_field("utc_offset_seconds", &self.utc_offset_seconds)?;
        if len > 8 {
            s.serialize_field("fold", &self.fold)?;
        }
        if len > 9 {
            s.serialize_field("zone", &self.zone)?;
        }
        s.end()
    }
}

/// A dense n-dimensional array: numpy dtype string (e.g. `<f8`), shape, C-ordered raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NdArray {
    pub dtype: String,
    pub shape: Vec<u64>,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// A Python value the Pit can hold without loss.
///
/// The tag is a whole word (`repr(u64)`), so every payload starts at the second word and moving
/// a value copies four aligned words (native/README.md, "Fast paths kept").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[repr(u64)]
pub enum Value {
    #[default]
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside `i64`, kept exactly as its decimal digits.
    BigInt(String),
    Float(f64),
    Str(String),
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion-ordered key/value pairs (keys may be any value, as in Python).
    Dict(Vec<(Value, Value)>),
    /// Boxed, as arrays are: rare next to scalars, and it carries an optional zone name.
    DateTime(Box<DateTime>),
    /// Boxed: arrays are rare next to scalars, and inline they would make every value 80 bytes.
    Array(Box<NdArray>),
}

// Nodes pass values around by the million: keep the common ones small.
const _: () = assert!(std::mem::size_of::<Value>() <= 32);

impl Value {
    /// Encode to MessagePack bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Append the MessagePack encoding to `out` (no allocation when `out` has room).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        if !encode_scalar(self, out) {
            // Serialising an in-memory enum into a Vec cannot fail.
            rmp_serde::encode::write(out, self).expect("Value always serialises")
        }
    }

    /// Decode bytes written by [`Value::encode`]; malformed bytes give `Integrity`.
    pub fn decode(bytes: &[u8]) -> Result<Value> {
        let value: Value = rmp_serde::from_slice(bytes)
            .map_err(|e| PitError::Integrity(format!("cannot decode stored value: {e}")))?;
        if !depth_allowed(value.depth()) {
            return Err(PitError::Integrity(format!(
                "stored value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(value)
    }

    /// Nesting depth (a scalar is 1).
    pub fn depth(&self) -> usize {
        match self {
            Value::List(items) | Value::Tuple(items) => {
                1 + items.iter().map(Value::depth).max().unwrap_or(0)
            }
            Value::Dict(pairs) => {
                1 + pairs
                    .iter()
                    .map(|(k, v)| k.depth().max(v.depth()))
                    .max()
                    .unwrap_or(0)
            }
            _ => 1,
        }
    }

    /// Look a string key up in a `Dict`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs.iter().find_map(|(k, v)| match k {
                Value::Str(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// Short name of the variant, used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "ndarray",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The first bytes of the encoding of `Value::Array` with this dtype and shape and `nbytes` of
/// data: the data's bytes follow them, as they are. Lets a caller write a large array's
/// encoding in one pass from wherever its bytes are (no intermediate copy of the data); the
/// result is byte for byte what [`Value::encode`] writes.
pub fn array_header(dtype: &str, shape: &[u64], nbytes: usize) -> Vec<u8> {
    use rmp::encode;
    let mut out = Vec::with_capacity(32 + dtype.len() + 9 * shape.len());
    // Writing into a Vec cannot fail.
    let ok = encode::write_map_len(&mut out, 1).is_ok()
        && encode::write_str(&mut out, "Array").is_ok()
        && encode::write_array_len(&mut out, 3).is_ok()
        && encode::write_str(&mut out, dtype).is_ok()
        && encode::write_array_len(&mut out, shape.len() as u32).is_ok()
        && shape
            .iter()
            .all(|&d| encode::write_uint(&mut out, d).is_ok())
        && encode::write_bin_len(&mut out, nbytes as u32).is_ok();
    debug_assert!(ok);
    out
}

/// Write the MessagePack encoding of a scalar exactly as `rmp_serde` does (a variant's name,
/// then a one-entry map of name to payload, integers in their smallest form), without going
/// through serde: nodes store their results by the million and most are scalars. Returns false
/// (writing nothing) for any other value.
fn encode_scalar(value: &Value, out: &mut Vec<u8>) -> bool {
    match *value {
        Value::None => out.extend_from_slice(b"\xa4None"),
        Value::Bool(b) => {
            out.extend_from_slice(b"\x81\xa4Bool");
            out.push(if b { 0xc3 } else { 0xc2 });
        }
        Value::Int(i) => {
            out.extend_from_slice(b"\x81\xa3Int");
            write_int(i, out);
        }
        Value::Float(f) => {
            out.extend_from_slice(b"\x81\xa5Float\xcb");
            out.extend_from_slice(&f.to_be_bytes());
        }
        _ => return false,
    }
    true
}

/// A MessagePack integer in its smallest form, byte for byte as `rmp::encode::write_sint` writes
/// it (a test holds them equal), without its generic writer.
fn write_int(i: i64, out: &mut Vec<u8>) {
    match i {
        0..=127 => out.push(i as u8),
        -32..=-1 => out.push(i as i8 as u8),
        128..=255 => out.extend_from_slice(&[0xcc, i as u8]),
        256..=65_535 => {
            out.push(0xcd);
            out.extend_from_slice(&(i as u16).to_be_bytes());
        }
        65_536..=4_294_967_295 => {
            out.push(0xce);
            out.extend_from_slice(&(i as u32).to_be_bytes());
        }
        4_294_967_296.. => {
            out.push(0xcf);
            out.extend_from_slice(&(i as u64).to_be_bytes());
        }
        -128..=-33 => out.extend_from_slice(&[0xd0, i as i8 as u8]),
        -32_768..=-129 => {
            out.push(0xd1);
            out.extend_from_slice(&(i as i16).to_be_bytes());
        }
        -2_147_483_648..=-32_769 => {
            out.push(0xd2);
            out.extend_from_slice(&(i as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&i.to_be_bytes());
        }
    }
}

/// A value read by several holders (a node's output, the nodes that take it as input). Scalars
/// are kept inline — copying them costs less than an allocation and a reference count; anything
/// else is shared behind an `Arc`.
#[derive(Clone, Debug, PartialEq)]
pub enum SharedValue {
    /// A scalar: it owns no heap memory, so it is never dropped (a node report's drop then
    /// skips it without a call).
    Inline(std::mem::ManuallyDrop<Value>),
    Shared(Arc<Value>),
}

impl SharedValue {
    pub fn new(value: Value) -> Self {
        match value {
            Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                SharedValue::Inline(std::mem::ManuallyDrop::new(value))
            }
            other => SharedValue::Shared(Arc::new(other)),
        }
    }
}

impl std::ops::Deref for SharedValue {
    type Target = Value;
    fn deref(&self) -> &Value {
        match self {
            SharedValue::Inline(v) => v,
            SharedValue::Shared(v) => v,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(i: u64) -> Self {
        i64::try_from(i)
            .map(Value::Int)
            .unwrap_or_else(|_| Value::BigInt(i.to_string()))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_rmp_writes_them() {
        let edges = [
            0i64,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            4_294_967_295,
            4_294_967_296,
        ];
        let mut samples: Vec<i64> = vec![
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            i64::MIN,
            i64::MAX,
        ];
        samples.extend(edges.iter().flat_map(|&e| [e, e - 1, e + 1, -e]));
        for i in samples {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_int(i, &mut ours);
            rmp::encode::write_sint(&mut theirs, i).unwrap();
            assert_eq!(ours, theirs, "{i}");
        }
    }

    #[test]
    fn encode_decode_round_trip_keeps_nan_and_nesting() {
        let v = Value::Dict(vec![
            (Value::from("x"), Value::Float(f64::NAN)),
            (
                Value::Tuple(vec![Value::Int(1)]),
                Value::List(vec![Value::BigInt("123456789012345678901234567890".into())]),
            ),
            (Value::Bytes(vec![0, 255]), Value::None),
        ]);
        let back = Value::decode(&v.encode()).unwrap();
        match (&v, &back) {
            (Value::Dict(a), Value::Dict(b)) => {
                assert!(matches!(b[0].1, Value::Float(f) if f.is_nan()));
                assert_eq!(a[1..], b[1..]);
            }
            _ => panic!("not a dict"),
        }
    }

    /// The encoding serde would write, for comparison with the scalar fast path.
    fn serde_bytes_of(v: &Value) -> Vec<u8> {
        rmp_serde::to_vec(v).unwrap()
    }

    #[test]
    fn scalars_encode_exactly_as_serde_does() {
        let mut ints: Vec<i64> = vec![i64::MIN, i64::MAX, 0, -1];
        for edge in [
            32i64,
            33,
            127,
            128,
            255,
            256,
            32_768,
            65_535,
            65_536,
            2_147_483_648,
        ] {
            for i in [edge - 1, edge, edge + 1, -edge - 1, -edge, -edge + 1] {
                ints.push(i);
            }
        }
        ints.extend([4_294_967_295, 4_294_967_296, -4_294_967_296]);
        let mut values: Vec<Value> = ints.into_iter().map(Value::Int).collect();
        values.extend([Value::None, Value::Bool(true), Value::Bool(false)]);
        for f in [
            0.0,
            -0.0,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            -1e300,
        ] {
            values.push(Value::Float(f));
        }
        for v in &values {
            assert_eq!(v.encode(), serde_bytes_of(v), "{v:?}");
            let mut out = vec![7];
            v.encode_into(&mut out);
            assert_eq!(out[1..], serde_bytes_of(v), "{v:?}");
            assert_eq!(&Value::decode(&out[1..]).unwrap().encode(), &out[1..]);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_int_or_float_encodes_as_serde_does(
            i in proptest::num::i64::ANY,
            f in proptest::num::f64::ANY,
        ) {
            for v in [Value::Int(i), Value::Float(f)] {
                proptest::prop_assert_eq!(v.encode(), serde_bytes_of(&v));
            }
        }
    }

    #[test]
    fn date_times_keep_their_old_encoding_and_gain_fold_and_zone() {
        let base = DateTime {
            year: 2021,
            month: 10,
            day: 31,
            hour: 2,
            minute: 30,
            second: 0,
            microsecond: 5,
            utc_offset_seconds: Some(3600),
            fold: 0,
            zone: None,
        };
        // Byte for byte what was written before fold and zone existed.
        #[derive(Serialize)]
        struct Before {
            year: i32,
            month: u8,
            day: u8,
            hour: u8,
            minute: u8,
            second: u8,
            microsecond: u32,
            utc_offset_seconds: Option<i32>,
        }
        let before = Before {
            year: 2021,
            month: 10,
            day: 31,
            hour: 2,
            minute: 30,
            second: 0,
            microsecond: 5,
            utc_offset_seconds: Some(3600),
        };
        let old =
            rmp_serde::to_vec(&std::collections::BTreeMap::from([("DateTime", before)])).unwrap();
        assert_eq!(Value::DateTime(Box::new(base.clone())).encode(), old);
        for (fold, zone) in [
            (1, None),
            (0, Some("Europe/Paris")),
            (1, Some("Europe/Paris")),
        ] {
            let dt = DateTime {
                fold,
                zone: zone.map(str::to_owned),
                ..base.clone()
            };
            let v = Value::DateTime(Box::new(dt));
            assert_eq!(Value::decode(&v.encode()).unwrap(), v);
        }
        assert_eq!(
            Value::decode(&old).unwrap(),
            Value::DateTime(Box::new(base))
        );
    }

    #[test]
    fn depth_is_counted_the_same_way_in_both_directions() {
        let mut v = Value::Int(0);
        for _ in 1..MAX_DEPTH {
            v = Value::List(vec![v]);
        }
        assert_eq!(v.depth(), MAX_DEPTH);
        assert!(Value::decode(&v.encode()).is_ok());
        let deeper = Value::List(vec![v]);
        assert!(matches!(
            Value::decode(&deeper.encode()),
            Err(PitError::Integrity(_))
        ));
    }

    #[test]
    fn an_array_header_and_its_data_are_the_arrays_encoding() {
        for (shape, n) in [
            (vec![], 8usize),
            (vec![3, 4], 96),
            (vec![70_000], 70_000),
            (vec![0, 5], 0),
        ] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let value = Value::Array(Box::new(NdArray {
                dtype: "<f8".into(),
                shape: shape.clone(),
                data: data.clone(),
            }));
            let mut ours = array_header("<f8", &shape, data.len());
            ours.extend_from_slice(&data);
            assert_eq!(ours, value.encode(), "{shape:?}");
        }
    }

    #[test]
    fn garbage_bytes_give_integrity_error() {
        assert!(matches!(
            Value::decode(&[0xc1, 0xff, 0x00]),
            Err(PitError::Integrity(_))
        ));
    }
}
