//! Function Quest's engine: the level format (`function-quest/1`), its step semantics, scoring
//! and the exact solver. Its own crate: the Pit does not need it (the game uses the Pit's
//! vocabulary — errors, resource amounts — and, in Python, the Pit as its physics).
//!
//! A level is a story, facts, a goal and named functions with predictable effects; the player wins
//! by calling grounded functions in the right order. See `shared/function-quest-format.md`.

pub mod engine;
pub mod level;
pub mod score;
pub mod sim;
pub mod solver;

pub use engine::{CompiledLevel, Episode, QuestBatch, Visibility, OBS_CALLS, OBS_FACTS};
pub use level::{Bits, Cost, GroundedCall, Level, QuestPool, MAX_CALLS, MAX_FACTS};
pub use score::{EpisodeStats, Par, Score};
pub use sim::{Outcome, QuestState};
pub use solver::{
    check_solvable, optimal_first_calls, solve, solve_from, solve_within, SolverBudget,
};
