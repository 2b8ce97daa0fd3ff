//! The playing engine: levels compiled for play, the observation encoding, and a batch of
//! episodes stepped by one call with flat buffers in and out (auto-reset, seeded).
//!
//! # Observation (one environment; `F` = [`OBS_FACTS`] = 64, `C` = [`OBS_CALLS`] = 64)
//!
//! | key | shape | dtype | meaning |
//! |---|---|---|---|
//! | `facts` | F | i8 | 1 where the fact holds now |
//! | `goal` | F | i8 | 1 where the fact is part of the goal |
//! | `preconditions` | C×F | i8 | +1 the call requires the fact, −1 it forbids it |
//! | `effects` | C×F | i8 | +1 the call adds the fact, −1 it removes it (removes-then-adds nets +1) |
//! | `costs` | C×4 | f32 | cost as a share of its pool's capacity (cpu, memory, gpu; 0 where unlimited), steps/16 (capped at 1) |
//! | `resources` | C×4 | f32 | share of the call's pool in use at the next step (cpu, memory, gpu), 1 if the call's cost fits now |
//! | `progress` | 1 | f32 | steps taken / max_steps |
//!
//! Slots past a level's facts or calls are zero; `action_masks` marks the real calls. Visibility
//! follows the band: 1–5 hide `costs` and `resources` (all zero), 6–10 show `costs` and the
//! "fits now" indicator, 11–20 show everything.

use std::sync::Arc;

use smallvec::{smallvec, SmallVec};

use symphony_pit::error::{PitError, Result};
use symphony_pit::resources::Amount;

use super::level::{Bits, Level};
use super::score::{call_resource_use, score, EpisodeStats, Par, Score};
use super::sim::{Outcome, QuestState};

/// Facts an observation has room for.
pub const OBS_FACTS: usize = 64;
/// Grounded calls an observation (and the action space) has room for.
pub const OBS_CALLS: usize = 64;
/// Features per call in `costs` and in `resources`.
pub const CALL_FEATURES: usize = 4;
/// `steps` of a cost is scaled by this (and capped at 1) in `costs`.
const STEPS_SCALE: f32 = 16.0;

/// How much of the infrastructure a level's band lets the player see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Bands 1–5: no resource information.
    Hidden,
    /// Bands 6–10: costs and whether each call fits now.
    Indicators,
    /// Bands 11–20: costs, pool usage and fits-now.
    Full,
}

impl Visibility {
    pub fn of_band(band: u8) -> Visibility {
        match band {
            0..=5 => Visibility::Hidden,
            6..=10 => Visibility::Indicators,
            _ => Visibility::Full,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Hidden => "hidden",
            Visibility::Indicators => "indicators",
            Visibility::Full => "full",
        }
    }
}

/// A level ready to play: validated, solved, and its unchanging observation parts encoded.
#[derive(Debug)]
pub struct CompiledLevel {
    pub level: Level,
    /// An optimal plan (call indices).
    pub plan: Vec<usize>,
    pub par: Par,
    pub visibility: Visibility,
    goal: [i8; OBS_FACTS],
    preconditions: Vec<i8>,
    effects: Vec<i8>,
    costs: Vec<f32>,
}

impl CompiledLevel {
    /// Check that `level` is solvable and fits the observation, solve it and encode it.
    pub fn new(level: Level, source: &str) -> Result<CompiledLevel> {
        if level.facts.len() > OBS_FACTS {
            return Err(PitError::validation(format!(
                "{source}: facts: {} facts; the environment observes at most {OBS_FACTS}",
                level.facts.len()
            )));
        }
        if level.calls.len() > OBS_CALLS {
            return Err(PitError::validation(format!(
                "{source}: functions: {} grounded calls; the environment observes at most {OBS_CALLS}",
                level.calls.len()
            )));
        }
        let plan = level.check_solvable(source)?;
        let par = Par::of(&level, &plan);
        let visibility = Visibility::of_band(level.band);
        let mut goal = [0i8; OBS_FACTS];
        write_bits(&mut goal, level.goal);
        let mut preconditions = vec![0i8; OBS_CALLS * OBS_FACTS];
        let mut effects = vec![0i8; OBS_CALLS * OBS_FACTS];
        let mut costs = vec![0f32; OBS_CALLS * CALL_FEATURES];
        for (c, call) in level.calls.iter().enumerate() {
            let row = c * OBS_FACTS..(c + 1) * OBS_FACTS;
            for (f, (pre, eff)) in preconditions[row.clone()]
                .iter_mut()
                .zip(&mut effects[row])
                .enumerate()
                .take(level.facts.len())
            {
                let bit: Bits = 1 << f;
                *pre = if call.requires & bit != 0 {
                    1
                } else if call.forbids & bit != 0 {
                    -1
                } else {
                    0
                };
                *eff = if call.adds & bit != 0 {
                    1
                } else if call.removes & bit != 0 {
                    -1
                } else {
                    0
                };
            }
            if visibility != Visibility::Hidden {
                let out = &mut costs[c * CALL_FEATURES..(c + 1) * CALL_FEATURES];
                if let Some(p) = call.cost.pool {
                    let limits = level.pools[p].limits;
                    for ((o, &amount), limit) in out.iter_mut().zip(&call.cost.amounts).zip(limits)
                    {
                        *o = share(amount, limit);
                    }
                }
                out[3] = (call.cost.steps as f32 / STEPS_SCALE).min(1.0);
            }
        }
        Ok(CompiledLevel {
            level,
            plan,
            par,
            visibility,
            goal,
            preconditions,
            effects,
            costs,
        })
    }

    /// Write the parts of an observation that do not change during an episode.
    fn write_static(&self, obs: &mut ObsBuffers<'_>) {
        obs.goal.copy_from_slice(&self.goal);
        obs.preconditions.copy_from_slice(&self.preconditions);
        obs.effects.copy_from_slice(&self.effects);
        obs.costs.copy_from_slice(&self.costs);
    }

    fn write_dynamic(&self, state: &QuestState, obs: &mut ObsBuffers<'_>) {
        self.write_changing(state, obs.facts, obs.resources, obs.progress);
    }

    /// Write the parts of one environment's observation that change with every step.
    pub fn write_dynamic_into(
        &self,
        state: &QuestState,
        facts: &mut [i8],
        resources: &mut [f32],
        progress: &mut [f32],
    ) -> Result<()> {
        check_len("facts", facts.len(), OBS_FACTS)?;
        check_len("resources", resources.len(), OBS_CALLS * CALL_FEATURES)?;
        check_len("progress", progress.len(), 1)?;
        self.write_changing(state, facts, resources, progress);
        Ok(())
    }

    fn write_changing(
        &self,
        state: &QuestState,
        facts: &mut [i8],
        resources: &mut [f32],
        progress: &mut [f32],
    ) {
        write_bits(facts, state.facts);
        progress[0] = state.step as f32 / self.level.max_steps as f32;
        if self.visibility == Visibility::Hidden {
            resources.fill(0.0);
            return;
        }
        let level = &self.level;
        // Usage per pool as the next call will see it (holds that run out now are released).
        resources[level.calls.len() * CALL_FEATURES..].fill(0.0);
        let mut used: SmallVec<[[Amount; 3]; 4]> = smallvec![[0; 3]; level.pools.len()];
        for h in state.holds.iter().filter(|h| h.until > state.step) {
            for (u, a) in used[h.pool].iter_mut().zip(h.amounts) {
                *u += a;
            }
        }
        for (c, call) in level.calls.iter().enumerate() {
            let out = &mut resources[c * CALL_FEATURES..(c + 1) * CALL_FEATURES];
            let Some(p) = call.cost.pool else {
                out.copy_from_slice(&[0.0, 0.0, 0.0, 1.0]);
                continue;
            };
            let limits = level.pools[p].limits;
            let mut fits = true;
            for (d, o) in out.iter_mut().take(3).enumerate() {
                let (used, limit) = (used[p][d], limits[d]);
                if let Some(limit) = limit {
                    fits &= used + call.cost.amounts[d] <= limit;
                }
                *o = if self.visibility == Visibility::Full {
                    share(used, limit)
                } else {
                    0.0
                };
            }
            out[3] = if fits { 1.0 } else { 0.0 };
        }
    }

    /// 1 for the level's calls, 0 for padding slots.
    pub fn action_mask(&self, out: &mut [bool]) {
        for (i, m) in out.iter_mut().enumerate() {
            *m = i < self.level.calls.len();
        }
    }
}

fn share(amount: Amount, limit: Option<Amount>) -> f32 {
    match limit {
        Some(l) if l > 0 => (amount as f64 / l as f64).min(1.0) as f32,
        _ => 0.0,
    }
}

fn write_bits(out: &mut [i8], bits: Bits) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = ((bits >> i) & 1) as i8;
    }
}

/// Observation buffers of a batch of `n` environments (row-major, environment first); one
/// environment's slice of them is an `ObsBuffers` of one.
pub struct ObsBuffers<'a> {
    pub facts: &'a mut [i8],
    pub goal: &'a mut [i8],
    pub preconditions: &'a mut [i8],
    pub effects: &'a mut [i8],
    pub costs: &'a mut [f32],
    pub resources: &'a mut [f32],
    pub progress: &'a mut [f32],
}

impl ObsBuffers<'_> {
    /// Sizes per environment, in key order.
    pub const SIZES: [(&'static str, usize); 7] = [
        ("facts", OBS_FACTS),
        ("goal", OBS_FACTS),
        ("preconditions", OBS_CALLS * OBS_FACTS),
        ("effects", OBS_CALLS * OBS_FACTS),
        ("costs", OBS_CALLS * CALL_FEATURES),
        ("resources", OBS_CALLS * CALL_FEATURES),
        ("progress", 1),
    ];

    fn check(&self, n: usize) -> Result<()> {
        let lens = [
            self.facts.len(),
            self.goal.len(),
            self.preconditions.len(),
            self.effects.len(),
            self.costs.len(),
            self.resources.len(),
            self.progress.len(),
        ];
        for ((name, per_env), len) in Self::SIZES.iter().zip(lens) {
            if len != per_env * n {
                return Err(PitError::validation(format!(
                    "observation buffer '{name}' holds {len} values; {n} environments need {}",
                    per_env * n
                )));
            }
        }
        Ok(())
    }

    fn slot(&mut self, i: usize) -> ObsBuffers<'_> {
        fn part<T>(buf: &mut [T], i: usize, per: usize) -> &mut [T] {
            &mut buf[i * per..(i + 1) * per]
        }
        ObsBuffers {
            facts: part(self.facts, i, OBS_FACTS),
            goal: part(self.goal, i, OBS_FACTS),
            preconditions: part(self.preconditions, i, OBS_CALLS * OBS_FACTS),
            effects: part(self.effects, i, OBS_CALLS * OBS_FACTS),
            costs: part(self.costs, i, OBS_CALLS * CALL_FEATURES),
            resources: part(self.resources, i, OBS_CALLS * CALL_FEATURES),
            progress: part(self.progress, i, 1),
        }
    }
}

/// Per-step outputs of a batch (one value per environment).
pub struct StepBuffers<'a> {
    pub rewards: &'a mut [f32],
    pub terminated: &'a mut [bool],
    pub truncated: &'a mut [bool],
    /// Score of the episode so far (the final score on its last step).
    pub scores: &'a mut [f32],
    /// Which level each environment is playing (index into the batch's levels).
    pub levels: &'a mut [u32],
    /// 0 no call (a reset step), 1 succeeded, 2 failed, 3 resource exhausted.
    pub outcomes: &'a mut [u8],
}

/// One episode in progress.
#[derive(Clone, Debug)]
pub struct Episode {
    pub level: usize,
    pub state: QuestState,
    pub stats: EpisodeStats,
    /// Score if the episode ended now (the potential the reward is the change of).
    pub score: Score,
    pub done: bool,
}

/// What a single call did to an episode.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub outcome: Outcome,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

impl Episode {
    pub fn new(levels: &[Arc<CompiledLevel>], level: usize) -> Episode {
        let compiled = &levels[level];
        let state = QuestState::new(&compiled.level);
        let stats = EpisodeStats::default();
        let score = score(&compiled.level, &compiled.par, state.facts, &stats);
        Episode {
            level,
            state,
            stats,
            score,
            done: false,
        }
    }

    /// Make one call; the reward is the change of the running score / 100.
    pub fn step(&mut self, compiled: &CompiledLevel, action: usize) -> Result<StepResult> {
        if self.done {
            return Err(PitError::validation(
                "the episode is over: call reset() before step()",
            ));
        }
        let level = &compiled.level;
        let outcome = if action >= level.calls.len() && action < OBS_CALLS {
            self.state.idle(
                level,
                format!("There is no call in slot {action}. Nothing happens."),
            )
        } else {
            self.state.step(level, action)?
        };
        let stats = &mut self.stats;
        stats.steps += 1;
        if outcome.succeeded {
            stats.resource_use += call_resource_use(&level.calls[action].cost);
        } else if outcome.exhausted {
            stats.exhausted += 1;
        } else {
            stats.failed += 1;
        }
        stats.won = outcome.won;
        let next = score(level, &compiled.par, self.state.facts, stats);
        let reward = (next.total() - self.score.total()) / 100.0;
        self.score = next;
        self.done = outcome.won || outcome.truncated;
        Ok(StepResult {
            terminated: outcome.won,
            truncated: outcome.truncated,
            outcome,
            reward,
        })
    }
}

/// SplitMix64: a tiny, well-known generator; enough to pick levels reproducibly.
#[derive(Clone, Copy, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` environments over a shared set of levels, stepped together. An environment whose episode
/// ended is reset on its next step (Gymnasium's next-step auto-reset): that step ignores its
/// action, returns the first observation of a new episode, reward 0 and not done.
pub struct QuestBatch {
    levels: Arc<Vec<Arc<CompiledLevel>>>,
    episodes: Vec<Episode>,
    rngs: Vec<SplitMix>,
}

impl QuestBatch {
    pub fn new(levels: Arc<Vec<Arc<CompiledLevel>>>, n: usize) -> Result<QuestBatch> {
        if levels.is_empty() {
            return Err(PitError::validation(
                "a quest batch needs at least one level",
            ));
        }
        if n == 0 {
            return Err(PitError::validation("num_envs must be at least 1, got 0"));
        }
        let episodes = (0..n).map(|_| Episode::new(&levels, 0)).collect();
        let rngs = (0..n).map(|i| SplitMix(i as u64)).collect();
        Ok(QuestBatch {
            levels,
            episodes,
            rngs,
        })
    }

    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    pub fn levels(&self) -> &Arc<Vec<Arc<CompiledLevel>>> {
        &self.levels
    }

    pub fn episode(&self, i: usize) -> Option<&Episode> {
        self.episodes.get(i)
    }

    fn reset_one(&mut self, i: usize, obs: &mut ObsBuffers<'_>) {
        let level = self.rngs[i].below(self.levels.len());
        self.episodes[i] = Episode::new(&self.levels, level);
        let compiled = &self.levels[level];
        let mut slot = obs.slot(i);
        compiled.write_static(&mut slot);
        compiled.write_dynamic(&self.episodes[i].state, &mut slot);
    }

    /// Reset every environment; with a seed, environment `i` draws its levels from `seed + i`.
    pub fn reset(
        &mut self,
        seed: Option<u64>,
        obs: &mut ObsBuffers<'_>,
        levels_out: &mut [u32],
    ) -> Result<()> {
        let n = self.len();
        obs.check(n)?;
        check_len("levels", levels_out.len(), n)?;
        if let Some(seed) = seed {
            for (i, rng) in self.rngs.iter_mut().enumerate() {
                *rng = SplitMix(seed.wrapping_add(i as u64));
            }
        }
        for (i, level) in levels_out.iter_mut().enumerate() {
            self.reset_one(i, obs);
            *level = self.episodes[i].level as u32;
        }
        Ok(())
    }

    /// Step every environment with its action (auto-resetting the ones that ended last step).
    pub fn step(
        &mut self,
        actions: &[i64],
        obs: &mut ObsBuffers<'_>,
        out: &mut StepBuffers<'_>,
    ) -> Result<()> {
        let n = self.len();
        obs.check(n)?;
        check_len("actions", actions.len(), n)?;
        for (name, len) in [
            ("rewards", out.rewards.len()),
            ("terminated", out.terminated.len()),
            ("truncated", out.truncated.len()),
            ("scores", out.scores.len()),
            ("levels", out.levels.len()),
            ("outcomes", out.outcomes.len()),
        ] {
            check_len(name, len, n)?;
        }
        // Validate every action before touching any episode, so a bad batch changes nothing.
        for (i, &a) in actions.iter().enumerate() {
            let ep = &self.episodes[i];
            if !ep.done && (a < 0 || a as usize >= OBS_CALLS) {
                return Err(PitError::validation(format!(
                    "actions[{i}] = {a} is out of range: actions are call slots 0..{OBS_CALLS}"
                )));
            }
        }
        for (i, &action) in actions.iter().enumerate() {
            if self.episodes[i].done {
                self.reset_one(i, obs);
                out.rewards[i] = 0.0;
                out.terminated[i] = false;
                out.truncated[i] = false;
                out.scores[i] = self.episodes[i].score.total() as f32;
                out.outcomes[i] = 0;
            } else {
                let compiled = &self.levels[self.episodes[i].level];
                let result = self.episodes[i].step(compiled, action as usize)?;
                compiled.write_dynamic(&self.episodes[i].state, &mut obs.slot(i));
                out.rewards[i] = result.reward as f32;
                out.terminated[i] = result.terminated;
                out.truncated[i] = result.truncated;
                out.scores[i] = self.episodes[i].score.total() as f32;
                out.outcomes[i] = outcome_code(&result.outcome);
            }
            out.levels[i] = self.episodes[i].level as u32;
        }
        Ok(())
    }

    /// Start the next episode now in every environment whose episode has ended (instead of on
    /// the next step, which then steps them with their actions): SB3's reset semantics. Writes
    /// their first observations and levels; returns how many were reset.
    pub fn reset_done(
        &mut self,
        obs: &mut ObsBuffers<'_>,
        levels_out: &mut [u32],
    ) -> Result<usize> {
        let n = self.len();
        obs.check(n)?;
        check_len("levels", levels_out.len(), n)?;
        let mut count = 0;
        for (i, level) in levels_out.iter_mut().enumerate() {
            if self.episodes[i].done {
                self.reset_one(i, obs);
                *level = self.episodes[i].level as u32;
                count += 1;
            }
        }
        Ok(count)
    }

    /// Valid-action masks of every environment (`n × OBS_CALLS`): [`QuestState::valid_mask`].
    pub fn valid_masks(&self, out: &mut [bool]) -> Result<()> {
        check_len("masks", out.len(), self.len() * OBS_CALLS)?;
        for (ep, row) in self.episodes.iter().zip(out.chunks_mut(OBS_CALLS)) {
            ep.state.valid_mask(&self.levels[ep.level].level, row);
        }
        Ok(())
    }

    /// Action masks of every environment (`n × OBS_CALLS`).
    pub fn action_masks(&self, out: &mut [bool]) -> Result<()> {
        check_len("masks", out.len(), self.len() * OBS_CALLS)?;
        for (ep, row) in self.episodes.iter().zip(out.chunks_mut(OBS_CALLS)) {
            self.levels[ep.level].action_mask(row);
        }
        Ok(())
    }
}

/// Outcome code used in [`StepBuffers::outcomes`].
pub fn outcome_code(outcome: &Outcome) -> u8 {
    if outcome.succeeded {
        1
    } else if outcome.exhausted {
        3
    } else {
        2
    }
}

fn check_len(name: &str, len: usize, n: usize) -> Result<()> {
    if len != n {
        return Err(PitError::validation(format!(
            "buffer '{name}' holds {len} values; expected {n}"
        )));
    }
    Ok(())
}

/// Write the whole observation of `episode` into single-environment buffers.
pub fn observe(
    compiled: &CompiledLevel,
    state: &QuestState,
    obs: &mut ObsBuffers<'_>,
) -> Result<()> {
    obs.check(1)?;
    let mut slot = obs.slot(0);
    compiled.write_static(&mut slot);
    compiled.write_dynamic(state, &mut slot);
    Ok(())
}
