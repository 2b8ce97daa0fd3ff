//! Exact solver: breadth-first search over (facts, held resources), so the first plan found is
//! the shortest. Failed calls are legal moves (they let time pass while resources are busy).

use std::collections::{HashSet, VecDeque};

use super::level::Level;
use super::sim::QuestState;

/// The shortest plan (call indices) that wins within `max_steps`, or `None`.
pub fn solve(level: &Level) -> Option<Vec<usize>> {
    let start = QuestState::new(level);
    let mut seen = HashSet::from([start.key()]);
    // Each node: state and the index of its parent move in `moves`.
    let mut moves: Vec<(usize, Option<usize>)> = Vec::new();
    let mut queue = VecDeque::from([(start, None::<usize>)]);
    while let Some((state, parent)) = queue.pop_front() {
        if state.step >= level.max_steps {
            continue;
        }
        for action in 0..level.calls.len() {
            let mut next = state.clone();
            let outcome = next
                .step(level, action)
                .expect("actions come from the level");
            if !seen.insert(next.key()) {
                continue;
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
                return Some(plan);
            }
            queue.push_back((next, Some(here)));
        }
    }
    None
}
