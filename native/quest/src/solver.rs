//! Exact solver: breadth-first search over (facts, held resources), so the first plan found is
//! the shortest. Failed calls are legal moves (they let time pass while resources are busy).

use std::collections::{HashSet, VecDeque};

use symphony_pit::error::{PitError, Result};

use super::level::Level;
use super::sim::QuestState;

/// What the solver may spend on one level before it gives up, so that every level loads or is
/// refused within a second and a bounded amount of memory, however it was written (a 1 KB level
/// can describe millions of states).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverBudget {
    /// Distinct states visited.
    pub max_states: usize,
    /// Wall-clock time.
    pub max_seconds: f64,
    /// Memory for the states kept (seen set, queue, plan tree), estimated per state.
    pub max_bytes: usize,
}

impl Default for SolverBudget {
    /// One second, 256 MiB, two million states: whichever comes first.
    fn default() -> Self {
        SolverBudget {
            max_states: 2_000_000,
            max_seconds: 1.0,
            max_bytes: 256 << 20,
        }
    }
}

/// Memory one visited state costs the search: its key in the seen set (with the table's
/// overhead), its copy in the queue and its entry in the plan tree. Holds add to it when there
/// are any (counted per state as they are met).
const BYTES_PER_STATE: usize = std::mem::size_of::<super::sim::StateKey>()
    + 16
    + std::mem::size_of::<QuestState>()
    + std::mem::size_of::<(usize, Option<usize>)>();

/// Reject a level whose goal already holds, that no plan solves within `max_steps` (under the
/// default budget), or whose `optimal_steps` disagrees with the solver; `source` names the level
/// in messages. Returns the optimal plan.
pub fn check_solvable(level: &Level, source: &str) -> Result<Vec<usize>> {
    let err =
        |field: &str, reason: String| PitError::validation(format!("{source}: {field}: {reason}"));
    if level.goal & !level.initial == 0 {
        return Err(err("goal", "already holds at the start".into()));
    }
    let plan = solve(level)?.ok_or_else(|| {
        err(
            "goal",
            format!("no plan reaches it within max_steps = {}", level.max_steps),
        )
    })?;
    if let Some(claimed) = level.optimal_steps {
        if claimed as usize != plan.len() {
            return Err(err(
                "optimal_steps",
                format!(
                    "is {claimed}, but the shortest plan takes {} steps",
                    plan.len()
                ),
            ));
        }
    }
    Ok(plan)
}

/// The shortest plan (call indices) that wins within `max_steps`, or `None` when none does.
/// Panics never; gives up with a validation error past the default [`SolverBudget`].
pub fn solve(level: &Level) -> Result<Option<Vec<usize>>> {
    solve_within(level, SolverBudget::default())
}

/// [`solve`] under an explicit budget.
pub fn solve_within(level: &Level, budget: SolverBudget) -> Result<Option<Vec<usize>>> {
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    let give_up = |what: String| {
        PitError::validation(format!(
            "level '{}': the solver gave up after {what} (its budget: {} states, {} s, {} MiB); \
             make the level smaller",
            level.id,
            budget.max_states,
            budget.max_seconds,
            budget.max_bytes >> 20
        ))
    };
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
            bytes +=
                BYTES_PER_STATE + 2 * next.holds.len() * std::mem::size_of::<super::sim::Hold>();
            if seen.len() > budget.max_states {
                return Err(give_up(format!("{} states", budget.max_states)));
            }
            if bytes > budget.max_bytes {
                return Err(give_up(format!("~{} MiB of states", bytes >> 20)));
            }
            if seen.len() % 4096 == 0 && started.elapsed().as_secs_f64() > budget.max_seconds {
                return Err(give_up(format!(
                    "{:.1} s ({} states)",
                    started.elapsed().as_secs_f64(),
                    seen.len()
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
