//! Function Quest: the level format (`function-quest/1`), its step semantics and an exact solver.
//!
//! A level is a story, facts, a goal and named functions with predictable effects; the player wins
//! by calling grounded functions in the right order. See `shared/function-quest-format.md`.

pub mod level;
pub mod sim;
pub mod solver;

pub use level::{Bits, Cost, GroundedCall, Level, QuestPool, MAX_CALLS, MAX_FACTS};
pub use sim::{Outcome, QuestState};
pub use solver::solve;
