//! Exact solver: breadth-first search over (facts, held resources), so the first plan found is
//! the shortest. Failed calls are legal moves (they let time pass while resources are busy).

use std::collections::{HashSet, VecDeque};

use crate::error::{PitError, Result};

use super::level::Level;
use super::sim::QuestState;

/// Most distinct states the solver visits before it gives up (a level that needs more is too big
/// to check when it loads; the loader reports it instead of hanging).
pub const MAX_SOLVER_STATES: usize = 2_000_000;

/// The shortest plan (call indices) that wins within `max_steps`, or `None` when none does.
/// Panics never; gives up with a validation error past [`MAX_SOLVER_STATES`] states.
pub fn solve(level: &Level) -> Result<Option<Vec<usize>>> {
    solve_within(level, MAX_SOLVER_STATES)
}

/// [`solve`] with an explicit budget of distinct states.
pub fn solve_within(level: &Level, max_states: usize) -> Result<Option<Vec<usize>>> {
    let start = QuestState::new(level);
    let mut seen = HashSet::from([start.key()]);
    // Each node: state and the index of its parent move in `moves`.
    let mut moves: Vec<(usize, Option<usize>)> = Vec::new();
    let mut queue = VecDeque::from([(start, None::<usize>)]);
    while let Some((state, parent)) = queue.pop_front() {
        if state.step >= level.max_steps {
            continue;
        }
        // Every call whose preconditions fail leads to the same state (time passes): try one.
        let mut waited = false;
        for action in 0..level.calls.len() {
            if !state.preconditions_hold(level, action) {
                if waited {
                    continue;
                }
                waited = true;
            }
            let mut next = state.clone();
            let outcome = next
                .step(level, action)
                .expect("actions come from the level");
            if !seen.insert(next.key()) {
                continue;
            }
            if seen.len() > max_states {
                return Err(PitError::validation(format!(
                    "level '{}': the solver gave up after {max_states} states; make the level smaller",
                    level.id
                )));
            }
            moves.push((action, parent));
            let here = moves.len() - 1;
            if outcome.won {
                let mut plan = Vec::new();
                let mut at = Some(here);
                while let Some(i) = at {
                    plan.push(moves[i].0);
                    at = moves[i].1;
                }
                plan.reverse();
                return Ok(Some(plan));
            }
            queue.push_back((next, Some(here)));
        }
    }
    Ok(None)
}
