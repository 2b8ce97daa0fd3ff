//! Deterministic step semantics of a level (`function-quest-format.md`, "Rules").

use smallvec::SmallVec;
use symphony_pit::error::{PitError, Result};

use symphony_pit::resources::Amount;

use super::level::{Bits, Level};

/// A cost held in a pool until the start of step `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hold {
    pub pool: usize,
    pub amounts: [Amount; 3],
    pub until: u32,
}

/// The state of an episode: true facts, the step count, and the costs still held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestState {
    pub facts: Bits,
    pub step: u32,
    pub holds: Vec<Hold>,
}

/// What one call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Preconditions held and the capacity was there: the call took effect.
    pub succeeded: bool,
    /// Preconditions held but a pool could not fit the cost.
    pub exhausted: bool,
    /// `returns` (then `success` on a win), `fails`, or "resource exhausted".
    pub message: String,
    /// The goal holds after this step.
    pub won: bool,
    /// The episode reached `max_steps` without a win.
    pub truncated: bool,
}

/// Holds of a [`StateKey`]: (pool, amounts, steps left); a few fit inline.
pub type HoldKeys = SmallVec<[(usize, [Amount; 3], u32); 4]>;
/// What identifies a state for search: facts and the holds' remaining steps.
pub type StateKey = (Bits, HoldKeys);

/// The message of a call refused for lack of capacity.
pub const EXHAUSTED: &str = "resource exhausted";

impl QuestState {
    pub fn new(level: &Level) -> QuestState {
        QuestState {
            facts: level.initial,
            step: 0,
            holds: Vec::new(),
        }
    }

    /// What is held in `pool` right now (thousandths per dimension).
    pub fn used(&self, pool: usize) -> [Amount; 3] {
        self.holds
            .iter()
            .filter(|h| h.pool == pool)
            .fold([0; 3], |mut acc, h| {
                for (a, b) in acc.iter_mut().zip(h.amounts) {
                    *a += b;
                }
                acc
            })
    }

    /// Make call `action` (an index into `level.calls`): release what has run out, check the
    /// preconditions, then the capacity; apply `removes` then `adds` on success.
    pub fn step(&mut self, level: &Level, action: usize) -> Result<Outcome> {
        let call = level.calls.get(action).ok_or_else(|| {
            PitError::validation(format!(
                "action {action} is out of range: level '{}' has {} calls",
                level.id,
                level.calls.len()
            ))
        })?;
        let now = self.step;
        self.holds.retain(|h| h.until > now);
        let preconditions = call.requires & !self.facts == 0 && call.forbids & self.facts == 0;
        let fits = self.fits(level, action); // before the step count moves on
        self.step += 1;
        let (succeeded, exhausted, mut message) = if !preconditions {
            (false, false, call.fails.clone())
        } else if !fits {
            (false, true, EXHAUSTED.to_owned())
        } else {
            self.facts = (self.facts & !call.removes) | call.adds;
            if let Some(pool) = call.cost.pool {
                self.holds.push(Hold {
                    pool,
                    amounts: call.cost.amounts,
                    until: now + call.cost.steps,
                });
            }
            (true, false, call.returns.clone())
        };
        let won = self.facts & level.goal == level.goal;
        if won {
            message.push(' ');
            message.push_str(&level.success);
        }
        Ok(Outcome {
            succeeded,
            exhausted,
            message,
            won,
            truncated: !won && self.step >= level.max_steps,
        })
    }

    /// Let one step pass without a call (an action in an empty slot of the environment's action
    /// space): held costs run out as usual; it counts as a failed call.
    pub fn idle(&mut self, level: &Level, message: String) -> Outcome {
        let now = self.step;
        self.holds.retain(|h| h.until > now);
        self.step += 1;
        Outcome {
            succeeded: false,
            exhausted: false,
            message,
            won: false,
            truncated: self.step >= level.max_steps,
        }
    }

    /// Whether call `action`'s cost fits its pool beside what is held (holds that have run out by
    /// now count as released, as `step` releases them first).
    fn fits(&self, level: &Level, action: usize) -> bool {
        let cost = &level.calls[action].cost;
        let Some(p) = cost.pool else {
            return true;
        };
        let mut used = [0; 3];
        for h in self
            .holds
            .iter()
            .filter(|h| h.pool == p && h.until > self.step)
        {
            for (u, a) in used.iter_mut().zip(h.amounts) {
                *u += a;
            }
        }
        level.pools[p]
            .limits
            .iter()
            .zip(used)
            .zip(cost.amounts)
            .all(|((limit, u), a)| limit.is_none_or(|l| u + a <= l))
    }

    /// Whether call `action` would change the facts if it took effect now (preconditions and
    /// capacity aside), as `step` applies it: `removes`, then `adds`.
    pub fn would_change(&self, level: &Level, action: usize) -> bool {
        let call = &level.calls[action];
        (self.facts & !call.removes) | call.adds != self.facts
    }

    /// The calls worth making now, as a mask over `out` (slots past the level's calls false):
    /// those that would succeed and change the facts; if there is none, those that would change
    /// them but wait for a busy pool (calling one lets a step pass: the way to wait for
    /// resources); if there is none either, every call (a dead end: nothing helps). Never all
    /// false, so a masked policy always has a move.
    pub fn valid_mask(&self, level: &Level, out: &mut [bool]) {
        let n = level.calls.len();
        let changes = |a: usize| self.preconditions_hold(level, a) && self.would_change(level, a);
        let mut any = false;
        for (a, m) in out.iter_mut().enumerate() {
            *m = a < n && changes(a) && self.fits(level, a);
            any |= *m;
        }
        if !any {
            for (a, m) in out.iter_mut().enumerate() {
                *m = a < n && changes(a);
                any |= *m;
            }
        }
        if !any {
            for (a, m) in out.iter_mut().enumerate() {
                *m = a < n;
            }
        }
    }

    /// Whether `call`'s preconditions hold now (capacity not considered).
    pub fn preconditions_hold(&self, level: &Level, action: usize) -> bool {
        let call = &level.calls[action];
        call.requires & !self.facts == 0 && call.forbids & self.facts == 0
    }

    /// The state with holds as remaining steps, sorted: equal keys behave identically from now on.
    pub fn key(&self) -> StateKey {
        let mut holds: HoldKeys = self
            .holds
            .iter()
            .filter(|h| h.until > self.step)
            .map(|h| (h.pool, h.amounts, h.until - self.step))
            .collect();
        holds.sort_unstable();
        (self.facts, holds)
    }
}
