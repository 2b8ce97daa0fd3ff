//! Episode scoring (ARCHITECTURE §5) and the per-step reward derived from it.
//!
//! | part | points | earned |
//! |---|---|---|
//! | base | 0–100 | 100 on a win; otherwise 50 × the share of goal facts that hold at the end |
//! | efficiency | 0–50 | on a win: 50 × optimal steps / steps taken |
//! | stability | 0–30 | on a win: 30 − 3 per failed call − 5 per exhausted call (not below 0) |
//! | optimisation | 0–20 | on a win: 20 × min(1, optimal plan's resource use / this episode's) |
//!
//! Resource use is Σ over successful calls of `steps × (cpu + memory_mb/1024 + gpu_memory_mb/1024)`.
//! Tiers: Apprentice ≤ 100, Journeyman ≤ 150, Master ≤ 180, Grand Maestro ≤ 200.
//!
//! The reward of a step is the change of the score "if the episode ended now", divided by 100, so
//! an episode's rewards sum to its final score / 100 (potential-based shaping: progress toward the
//! goal pays as it happens, the rest is paid on the winning step).

use super::level::{Bits, Cost, Level};
use symphony_pit::resources::Amount;

/// Points lost per failed call (preconditions did not hold).
pub const FAILED_PENALTY: f64 = 3.0;
/// Points lost per call refused for lack of capacity.
pub const EXHAUSTED_PENALTY: f64 = 5.0;

/// The four parts of an episode's score.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    pub base: f64,
    pub efficiency: f64,
    pub stability: f64,
    pub optimisation: f64,
}

impl Score {
    pub fn total(&self) -> f64 {
        self.base + self.efficiency + self.stability + self.optimisation
    }

    /// The tier a total falls in.
    pub fn tier(&self) -> &'static str {
        tier(self.total())
    }
}

/// Tier name of a total score.
pub fn tier(total: f64) -> &'static str {
    if total <= 100.0 {
        "Apprentice"
    } else if total <= 150.0 {
        "Journeyman"
    } else if total <= 180.0 {
        "Master"
    } else {
        "Grand Maestro"
    }
}

/// Resource use of one successful call (see the module docs).
pub fn call_resource_use(cost: &Cost) -> f64 {
    if cost.pool.is_none() {
        return 0.0;
    }
    let [cpu, mem, gpu]: [Amount; 3] = cost.amounts;
    let units =
        cpu as f64 / 1000.0 + (mem as f64 / 1000.0) / 1024.0 + (gpu as f64 / 1000.0) / 1024.0;
    units * f64::from(cost.steps)
}

/// Running statistics of an episode, enough to score it at any step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpisodeStats {
    pub steps: u32,
    pub failed: u32,
    pub exhausted: u32,
    pub resource_use: f64,
    pub won: bool,
}

/// What the scorer needs to know of a level beyond its definition: its optimal plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Par {
    pub optimal_steps: u32,
    pub optimal_resource_use: f64,
}

impl Par {
    /// Par of a level from its optimal plan.
    pub fn of(level: &Level, plan: &[usize]) -> Par {
        Par {
            optimal_steps: plan.len() as u32,
            optimal_resource_use: plan
                .iter()
                .map(|&a| call_resource_use(&level.calls[a].cost))
                .sum(),
        }
    }
}

/// The score of an episode that ends with `facts` true after `stats`.
pub fn score(level: &Level, par: &Par, facts: Bits, stats: &EpisodeStats) -> Score {
    if !stats.won {
        let goal = level.goal.count_ones();
        let held = (level.goal & facts).count_ones();
        let share = if goal == 0 {
            0.0
        } else {
            f64::from(held) / f64::from(goal)
        };
        return Score {
            base: 50.0 * share,
            ..Score::default()
        };
    }
    let efficiency = 50.0 * (f64::from(par.optimal_steps) / f64::from(stats.steps.max(1))).min(1.0);
    let penalty =
        FAILED_PENALTY * f64::from(stats.failed) + EXHAUSTED_PENALTY * f64::from(stats.exhausted);
    let optimisation = if stats.resource_use <= par.optimal_resource_use {
        20.0
    } else {
        20.0 * par.optimal_resource_use / stats.resource_use
    };
    Score {
        base: 100.0,
        efficiency,
        stability: (30.0 - penalty).max(0.0),
        optimisation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_the_bands() {
        assert_eq!(tier(0.0), "Apprentice");
        assert_eq!(tier(100.0), "Apprentice");
        assert_eq!(tier(100.5), "Journeyman");
        assert_eq!(tier(150.0), "Journeyman");
        assert_eq!(tier(180.0), "Master");
        assert_eq!(tier(200.0), "Grand Maestro");
    }

    #[test]
    fn resource_use_weighs_memory_per_gib() {
        let cost = Cost {
            pool: Some(0),
            amounts: [2000, 1024 * 1000, 0],
            steps: 3,
        };
        assert!((call_resource_use(&cost) - 9.0).abs() < 1e-12);
        let free = Cost { pool: None, ..cost };
        assert_eq!(call_resource_use(&free), 0.0);
    }
}
