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
    solve_from(level, &QuestState::new(level), budget)
}

/// The shortest plan from `start` (any state of an episode: its facts, held resources and step)
/// that wins within the level's `max_steps`; `Some(vec![])` when the goal already holds, `None`
/// when no plan reaches it in the steps left.
pub fn solve_from(
    level: &Level,
    start: &QuestState,
    budget: SolverBudget,
) -> Result<Option<Vec<usize>>> {
    if start.facts & level.goal == level.goal {
        return Ok(Some(Vec::new()));
    }
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
    let start = start.clone();
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

/// Every call that begins a shortest winning plan from `state` — several when plans tie, which
/// one plan hides (the labels imitation learning needs) — in call order; empty when the goal
/// holds already or can no longer be reached. All searches together share `budget`.
pub fn optimal_first_calls(
    level: &Level,
    state: &QuestState,
    budget: SolverBudget,
) -> Result<Vec<usize>> {
    let started = std::time::Instant::now();
    let left = |budget: SolverBudget| SolverBudget {
        max_seconds: (budget.max_seconds - started.elapsed().as_secs_f64()).max(0.0),
        ..budget
    };
    let Some(best) = solve_from(level, state, budget)? else {
        return Ok(Vec::new());
    };
    if best.is_empty() {
        return Ok(Vec::new());
    }
    let mut firsts = Vec::new();
    for action in 0..level.calls.len() {
        let mut next = state.clone();
        let outcome = next.step(level, action)?;
        let rest = if outcome.won {
            Some(0)
        } else if next.step >= level.max_steps {
            None
        } else {
            solve_from(level, &next, left(budget))?.map(|plan| plan.len())
        };
        if rest == Some(best.len() - 1) {
            firsts.push(action);
        }
    }
    Ok(firsts)
}
