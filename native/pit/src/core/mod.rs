//! The shared vocabulary of the engine: ids, node and run states, names and their checks, time,
//! resources, values, flat lists and the error type. It depends on nothing else in the crate;
//! everything else depends on it, so no two components need each other for a word.
//!
//! Layering, one direction only: `core` ← `events` ← storage (`persist`) ← the components
//! (`pool`, `artifact`, `dag`, `arbitration`) ← `pit` ← what takes a `&Pit` (`stale`,
//! `workflow`).

pub mod error;
pub(crate) mod flat_lists;
pub mod ids;
pub mod names;
pub mod resources;
pub mod states;
pub mod time;
pub mod value;
