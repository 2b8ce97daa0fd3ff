//! Function Quest levels: the format document's example, step semantics, resources, the exact
//! solver (checked against brute force), and malformed input.

use proptest::prelude::*;
use std::sync::Arc;

use symphony_pit::PitError;
use symphony_quest::engine::{ObsBuffers, StepBuffers, CALL_FEATURES};
use symphony_quest::{
    optimal_first_calls, solve, solve_from, CompiledLevel, Episode, Level, QuestBatch, QuestState,
    SolverBudget, OBS_CALLS, OBS_FACTS,
};

/// The example of `shared/function-quest-format.md`, verbatim.
const LOCKED_STUDY: &str = r#"{
  "format": "function-quest/1",
  "id": "locked-study",
  "title": "The Locked Study",
  "band": 1,
  "story": "You wake in a dusty study. The only door is locked, and the desk has three drawers...",
  "facts": ["has_key", "study_door_unlocked", "closet_door_unlocked", "door_open", "lamp_on"],
  "initial": ["lamp_on"],
  "goal": ["door_open"],
  "success": "The door opens!",
  "max_steps": 12,
  "pools": {"cpu": {"cpu": 2, "memory_mb": 1024}},
  "functions": [
    {
      "name": "search_desk",
      "description": "Search the desk drawers.",
      "requires": [], "forbids": ["has_key"],
      "adds": ["has_key"], "removes": [],
      "returns": "A brass key lies under some papers.",
      "fails": "The drawers are empty now.",
      "cost": {"pool": "cpu", "cpu": 1, "memory_mb": 128, "steps": 1},
      "produces": "brass_key"
    },
    {
      "name": "unlock",
      "params": {"door": ["study_door", "closet_door"]},
      "description": "Unlock a door with the key you carry.",
      "requires": ["has_key"], "forbids": [],
      "adds": ["{door}_unlocked"], "removes": [],
      "returns": "The lock of the {door} clicks.",
      "fails": "You have nothing to unlock it with."
    },
    {
      "name": "open_door",
      "description": "Push the study door.",
      "requires": ["study_door_unlocked"], "adds": ["door_open"],
      "returns": "The hinges creak."
    }
  ],
  "optimal_steps": 3
}"#;

fn load(text: &str) -> Result<Level, PitError> {
    Level::from_json_str("test.json", text)
}

fn message(err: PitError) -> String {
    match err {
        PitError::Validation(m) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn the_format_example_loads_grounds_and_plays() {
    let level = load(LOCKED_STUDY).unwrap();
    let labels: Vec<String> = level.calls.iter().map(|c| c.label()).collect();
    assert_eq!(
        labels,
        [
            "search_desk()",
            "unlock(door=study_door)",
            "unlock(door=closet_door)",
            "open_door()"
        ]
    );
    assert_eq!(level.calls[1].returns, "The lock of the study_door clicks.");
    assert_eq!(level.calls[0].produces.as_deref(), Some("brass_key"));
    // open_door takes the default cost: the first pool, 1 cpu, 1 step.
    assert_eq!(
        (
            level.calls[3].cost.pool,
            level.calls[3].cost.amounts,
            level.calls[3].cost.steps
        ),
        (Some(0), [1000, 0, 0], 1)
    );
    assert_eq!(level.check_solvable("test.json").unwrap(), vec![0, 1, 3]);

    let mut state = QuestState::new(&level);
    let first = state.step(&level, 3).unwrap();
    assert_eq!(
        (first.succeeded, first.message.as_str()),
        (false, "Nothing happens.")
    );
    assert!(state.step(&level, 0).unwrap().succeeded);
    assert_eq!(
        state.step(&level, 0).unwrap().message,
        "The drawers are empty now."
    );
    state.step(&level, 1).unwrap();
    let last = state.step(&level, 3).unwrap();
    assert!(last.won);
    assert_eq!(last.message, "The hinges creak. The door opens!");
    assert_eq!(
        level.fact_names(state.facts),
        ["has_key", "study_door_unlocked", "door_open", "lamp_on"]
    );
    assert!(
        matches!(state.step(&level, 4), Err(PitError::Validation(m)) if m.contains("out of range"))
    );
}

#[test]
fn yaml_and_json_give_the_same_level() {
    let doc: serde_json::Value = serde_json::from_str(LOCKED_STUDY).unwrap();
    let yaml = serde_yaml_ng::to_string(&doc).unwrap();
    assert_eq!(
        Level::from_yaml_str("test.yaml", &yaml).unwrap(),
        load(LOCKED_STUDY).unwrap()
    );
}

/// One cpu; `compile` holds it for 2 steps. The shortest plan must wait (a failed call) before
/// `deploy` can run: compile, wait, deploy.
const BUSY_CPU: &str = r#"{
  "format": "function-quest/1", "id": "busy", "title": "Busy", "band": 6, "story": "s",
  "facts": ["built", "shipped"], "initial": [], "goal": ["shipped"], "success": "Shipped!",
  "max_steps": 6, "pools": {"cpu": {"cpu": 1}},
  "functions": [
    {"name": "compile", "forbids": ["built"], "adds": ["built"], "cost": {"cpu": 1, "steps": 2}},
    {"name": "deploy", "requires": ["built"], "adds": ["shipped"], "cost": {"cpu": 1}}
  ],
  "x-author": "tests"
}"#;

#[test]
fn held_resources_release_after_their_steps_and_waiting_is_a_legal_move() {
    let level = load(BUSY_CPU).unwrap();
    assert_eq!(level.extensions["x-author"], "tests");
    let mut state = QuestState::new(&level);
    assert!(state.step(&level, 0).unwrap().succeeded);
    let blocked = state.step(&level, 1).unwrap();
    assert!(blocked.exhausted && !blocked.succeeded);
    assert_eq!(blocked.message, "resource exhausted");
    assert_eq!(level.fact_names(state.facts), ["built"]);
    assert!(state.step(&level, 1).unwrap().won);
    let plan = solve(&level).unwrap().unwrap();
    assert_eq!(plan.len(), 3);
    assert_eq!((plan[0], plan[2]), (0, 1));
}

#[test]
fn truncation_at_max_steps() {
    let level = load(&BUSY_CPU.replace("\"max_steps\": 6", "\"max_steps\": 2")).unwrap();
    let mut state = QuestState::new(&level);
    state.step(&level, 0).unwrap();
    assert!(state.step(&level, 1).unwrap().truncated);
    let err = message(level.check_solvable("busy.json").unwrap_err());
    assert!(
        err.contains("busy.json: goal: no plan reaches it within max_steps = 2"),
        "{err}"
    );
}

#[test]
fn malformed_levels_name_file_field_and_reason() {
    let cases: Vec<(String, &str)> = vec![
        (
            LOCKED_STUDY.replace("\"optimal_steps\": 3", "\"optimal_steps\": 3, \"bonus\": 1"),
            "level: unknown key \"bonus\"",
        ),
        (
            LOCKED_STUDY.replace("function-quest/1", "function-quest/2"),
            "format: must be \"function-quest/1\"",
        ),
        (
            LOCKED_STUDY.replace("\"adds\": [\"door_open\"]", "\"adds\": [\"door_opn\"]"),
            "functions[2].adds[0]: fact \"door_opn\" is not declared",
        ),
        (
            LOCKED_STUDY.replace("\"pool\": \"cpu\"", "\"pool\": \"gpu\""),
            "functions[0].cost.pool: names undeclared pool \"gpu\"",
        ),
        (
            LOCKED_STUDY.replace("\"band\": 1", "\"band\": 21"),
            "band: must be an integer from 1 to 20",
        ),
        (
            LOCKED_STUDY.replace("\"band\": 1", "\"band\": \"one\""),
            "band: must be an integer",
        ),
        (
            LOCKED_STUDY.replace("\"initial\": [\"lamp_on\"]", "\"initial\": \"lamp_on\""),
            "initial: must be a list of strings",
        ),
        (
            LOCKED_STUDY.replace("\"has_key\", \"study", "\"Has Key\", \"study"),
            "facts[0]: \"Has Key\" is not a lowercase identifier",
        ),
        (
            LOCKED_STUDY.replace("{door}_unlocked", "{room}_unlocked"),
            "functions[1].adds[0]: placeholder {room} names no parameter",
        ),
        (
            LOCKED_STUDY.replace("\"memory_mb\": 128", "\"memory_mb\": -5"),
            "memory_mb must not be negative",
        ),
        (
            LOCKED_STUDY.replace("\"steps\": 1", "\"steps\": 0"),
            "functions[0].cost.steps: must be a positive integer",
        ),
        (
            LOCKED_STUDY.replace("\"name\": \"unlock\"", "\"name\": \"search_desk\""),
            "functions[1].name: function \"search_desk\" is declared twice",
        ),
        (
            LOCKED_STUDY.replace("\"title\": \"The Locked Study\",", ""),
            "title: is required",
        ),
        (
            "\u{0}\u{1}garbage{{".to_owned(),
            "test.json: not valid JSON",
        ),
        ("[".repeat(10_000), "test.json: not valid JSON"),
    ];
    for (text, expected) in cases {
        let err = message(load(&text).unwrap_err());
        assert!(
            err.starts_with("test.json: ") && err.contains(expected),
            "expected {expected:?} in {err:?}"
        );
    }
}

#[test]
fn ten_thousand_functions_are_refused_quickly() {
    let functions: Vec<String> = (0..10_000)
        .map(|i| format!("{{\"name\": \"f{i}\"}}"))
        .collect();
    let text = LOCKED_STUDY.replace(
        &LOCKED_STUDY[LOCKED_STUDY.find("\"functions\"").unwrap()
            ..LOCKED_STUDY.find("\"optimal_steps\"").unwrap()],
        &format!("\"functions\": [{}],\n  ", functions.join(",")),
    );
    let started = std::time::Instant::now();
    let err = message(load(&text).unwrap_err());
    assert!(err.contains("10000 functions"), "{err}");
    assert!(started.elapsed().as_secs() < 2);
}

#[test]
fn goal_already_holding_and_wrong_optimal_steps_are_rejected() {
    let held =
        load(&LOCKED_STUDY.replace("\"initial\": [\"lamp_on\"]", "\"initial\": [\"door_open\"]"))
            .unwrap();
    assert!(
        message(held.check_solvable("t").unwrap_err()).contains("goal: already holds at the start")
    );
    let wrong =
        load(&LOCKED_STUDY.replace("\"optimal_steps\": 3", "\"optimal_steps\": 2")).unwrap();
    let err = message(wrong.check_solvable("t").unwrap_err());
    assert!(
        err.contains("optimal_steps: is 2, but the shortest plan takes 3 steps"),
        "{err}"
    );
}

/// Every action sequence up to `depth`: the length of the shortest winning one.
fn brute_force(level: &Level, depth: u32) -> Option<usize> {
    fn go(level: &Level, state: &QuestState, depth: u32) -> Option<usize> {
        if depth == 0 {
            return None;
        }
        (0..level.calls.len())
            .filter_map(|a| {
                let mut next = state.clone();
                let outcome = next.step(level, a).unwrap();
                if outcome.won {
                    Some(1)
                } else {
                    go(level, &next, depth - 1).map(|n| n + 1)
                }
            })
            .min()
    }
    go(level, &QuestState::new(level), depth)
}

fn random_level() -> impl Strategy<Value = String> {
    let function = (0u8..16, 0u8..16, 0u8..16, 0u8..16, 1u8..3, 1u32..3);
    (proptest::collection::vec(function, 1..4), 0u8..16, 1u8..16, 1u8..3).prop_map(|(functions, initial, goal, cpu)| {
        let facts = |bits: u8| -> String {
            let names: Vec<String> = (0..4).filter(|i| bits & (1 << i) != 0).map(|i| format!("\"f{i}\"")).collect();
            format!("[{}]", names.join(", "))
        };
        let functions: Vec<String> = functions
            .iter()
            .enumerate()
            .map(|(i, (req, forb, add, rem, c, steps))| {
                format!(
                    "{{\"name\": \"a{i}\", \"requires\": {}, \"forbids\": {}, \"adds\": {}, \"removes\": {}, \"cost\": {{\"cpu\": {c}, \"steps\": {steps}}}}}",
                    facts(*req), facts(*forb & !*req), facts(*add), facts(*rem)
                )
            })
            .collect();
        format!(
            "{{\"format\": \"function-quest/1\", \"id\": \"r\", \"title\": \"r\", \"band\": 1, \"story\": \"s\", \"success\": \"w\",
              \"facts\": [\"f0\", \"f1\", \"f2\", \"f3\"], \"initial\": {}, \"goal\": {}, \"max_steps\": 5,
              \"pools\": {{\"cpu\": {{\"cpu\": {cpu}}}}}, \"functions\": [{}]}}",
            facts(initial), facts(goal), functions.join(", ")
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The solver finds exactly the brute-force optimum, and its plan replays to a win.
    #[test]
    fn solver_is_optimal(text in random_level()) {
        let level = load(&text).unwrap();
        prop_assume!(level.goal & !level.initial != 0);
        let plan = solve(&level).unwrap();
        prop_assert_eq!(plan.as_ref().map(Vec::len), brute_force(&level, level.max_steps));
        if let Some(plan) = plan {
            let mut state = QuestState::new(&level);
            let outcomes: Vec<bool> = plan.iter().map(|&a| state.step(&level, a).unwrap().won).collect();
            prop_assert_eq!(outcomes.last(), Some(&true));
            prop_assert!(outcomes[..outcomes.len() - 1].iter().all(|w| !w));
        }
    }
}

/// The length of the shortest winning sequence of at most `depth` calls from `state`.
fn brute_from(level: &Level, state: &QuestState, depth: u32) -> Option<usize> {
    if depth == 0 {
        return None;
    }
    (0..level.calls.len())
        .filter_map(|a| {
            let mut next = state.clone();
            if next.step(level, a).unwrap().won {
                Some(1)
            } else {
                brute_from(level, &next, depth - 1).map(|n| n + 1)
            }
        })
        .min()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// From any state an episode can reach, the solver's plan is as short as brute force finds,
    /// and its first calls are exactly every call that starts a shortest plan.
    #[test]
    fn from_any_state_every_optimal_first_call(text in random_level(), prefix in proptest::collection::vec(0usize..8, 0..4)) {
        let level = load(&text).unwrap();
        prop_assume!(level.goal & !level.initial != 0);
        let mut state = QuestState::new(&level);
        for a in prefix {
            if state.step(&level, a % level.calls.len()).unwrap().won {
                return Ok(());
            }
        }
        let left = level.max_steps.saturating_sub(state.step);
        let best = brute_from(&level, &state, left);
        let plan = solve_from(&level, &state, SolverBudget::default()).unwrap();
        prop_assert_eq!(plan.as_ref().map(Vec::len), best);
        let expected: Vec<usize> = match best {
            None => Vec::new(),
            Some(b) => (0..level.calls.len())
                .filter(|&a| {
                    let mut next = state.clone();
                    if next.step(&level, a).unwrap().won {
                        b == 1
                    } else {
                        brute_from(&level, &next, left - 1).map(|n| n + 1) == Some(b)
                    }
                })
                .collect(),
        };
        let firsts = optimal_first_calls(&level, &state, SolverBudget::default()).unwrap();
        prop_assert_eq!(&firsts, &expected);
        if let Some(plan) = plan {
            prop_assert!(firsts.contains(&plan[0]));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The valid mask is exactly the calls that would succeed and change the facts (found by
    /// making each on a copy), else those that would change them but wait for capacity, else
    /// every call; never all false; padding slots never.
    #[test]
    fn the_valid_mask_is_what_stepping_a_copy_says(text in random_level(), prefix in proptest::collection::vec(0usize..8, 0..4)) {
        let level = load(&text).unwrap();
        let mut state = QuestState::new(&level);
        for a in prefix {
            state.step(&level, a % level.calls.len()).unwrap();
        }
        let n = level.calls.len();
        let mut mask = [false; OBS_CALLS];
        state.valid_mask(&level, &mut mask);
        let tried: Vec<(bool, bool)> = (0..n)
            .map(|a| {
                let mut next = state.clone();
                let outcome = next.step(&level, a).unwrap();
                (outcome.succeeded && next.facts != state.facts, outcome.exhausted && state.would_change(&level, a))
            })
            .collect();
        let useful: Vec<bool> = tried.iter().map(|t| t.0).collect();
        let waiting: Vec<bool> = tried.iter().map(|t| t.1).collect();
        let expected: Vec<bool> = if useful.contains(&true) {
            useful
        } else if waiting.contains(&true) {
            waiting
        } else {
            vec![true; n]
        };
        prop_assert_eq!(&mask[..n], &expected[..]);
        prop_assert!(mask[n..].iter().all(|m| !m));
    }
}

#[test]
fn the_valid_mask_of_the_locked_study_follows_the_story() {
    let level = load(LOCKED_STUDY).unwrap();
    let mut state = QuestState::new(&level);
    let mut mask = [false; OBS_CALLS];
    state.valid_mask(&level, &mut mask);
    assert_eq!(&mask[..4], &[true, false, false, false]); // only the desk helps at first
    state.step(&level, 0).unwrap();
    state.valid_mask(&level, &mut mask);
    assert_eq!(&mask[..4], &[false, true, true, false]); // then either door's lock
}

/// Owned buffers for a batch of `n` environments.
struct Buffers {
    facts: Vec<i8>,
    goal: Vec<i8>,
    pre: Vec<i8>,
    eff: Vec<i8>,
    costs: Vec<f32>,
    resources: Vec<f32>,
    progress: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    scores: Vec<f32>,
    levels: Vec<u32>,
    outcomes: Vec<u8>,
}

impl Buffers {
    fn new(n: usize) -> Buffers {
        Buffers {
            facts: vec![0; n * OBS_FACTS],
            goal: vec![0; n * OBS_FACTS],
            pre: vec![0; n * OBS_CALLS * OBS_FACTS],
            eff: vec![0; n * OBS_CALLS * OBS_FACTS],
            costs: vec![0.0; n * OBS_CALLS * CALL_FEATURES],
            resources: vec![0.0; n * OBS_CALLS * CALL_FEATURES],
            progress: vec![0.0; n],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            scores: vec![0.0; n],
            levels: vec![0; n],
            outcomes: vec![0; n],
        }
    }

    fn split(&mut self) -> (ObsBuffers<'_>, StepBuffers<'_>) {
        (
            ObsBuffers {
                facts: &mut self.facts,
                goal: &mut self.goal,
                preconditions: &mut self.pre,
                effects: &mut self.eff,
                costs: &mut self.costs,
                resources: &mut self.resources,
                progress: &mut self.progress,
            },
            StepBuffers {
                rewards: &mut self.rewards,
                terminated: &mut self.terminated,
                truncated: &mut self.truncated,
                scores: &mut self.scores,
                levels: &mut self.levels,
                outcomes: &mut self.outcomes,
            },
        )
    }

    fn reset(&mut self, batch: &mut QuestBatch, seed: Option<u64>) {
        let (mut obs, out) = self.split();
        batch.reset(seed, &mut obs, out.levels).unwrap();
    }

    fn step(&mut self, batch: &mut QuestBatch, actions: &[i64]) -> Result<(), PitError> {
        let (mut obs, mut out) = self.split();
        batch.step(actions, &mut obs, &mut out)
    }
}

fn compiled(text: &str) -> Arc<CompiledLevel> {
    Arc::new(CompiledLevel::new(load(text).unwrap(), "test.json").unwrap())
}

#[test]
fn the_optimal_plan_scores_grand_maestro_and_rewards_sum_to_the_score() {
    let level = compiled(LOCKED_STUDY);
    let levels = [level.clone()];
    let mut ep = Episode::new(&levels, 0);
    let mut total = 0.0;
    for &a in &level.plan {
        total += ep.step(&level, a).unwrap().reward;
    }
    assert!(ep.done && ep.stats.won);
    assert_eq!(ep.score.total(), 200.0);
    assert_eq!(ep.score.tier(), "Grand Maestro");
    assert!((total - 2.0).abs() < 1e-9);
    let err = message(ep.step(&level, 0).unwrap_err());
    assert!(err.contains("reset()"), "{err}");

    // An empty slot of the action space is a legal move: a failed call that lets time pass.
    let mut ep = Episode::new(&levels, 0);
    let idle = ep.step(&level, OBS_CALLS - 1).unwrap();
    assert!(!idle.outcome.succeeded && idle.outcome.message.contains("no call in slot 63"));
    assert_eq!((ep.stats.failed, ep.state.step), (1, 1));
    assert!(message(ep.step(&level, OBS_CALLS).unwrap_err()).contains("out of range"));

    // A detour: two failed calls and three extra steps cost efficiency and stability.
    let mut ep = Episode::new(&levels, 0);
    for a in [3, 3, 0, 0, 1, 3] {
        ep.step(&level, a).unwrap();
    }
    assert!(ep.stats.won);
    assert_eq!((ep.stats.failed, ep.stats.steps), (3, 6));
    assert_eq!(ep.score.efficiency, 25.0);
    assert_eq!(ep.score.stability, 21.0);
}

#[test]
fn the_batch_auto_resets_on_the_next_step_and_refuses_bad_actions_whole() {
    let level = compiled(LOCKED_STUDY);
    let busy = compiled(BUSY_CPU);
    let mut batch = QuestBatch::new(Arc::new(vec![level.clone(), busy.clone()]), 3).unwrap();
    let mut buf = Buffers::new(3);
    buf.reset(&mut batch, Some(7));
    let first_levels = buf.levels.clone();
    let mut again = QuestBatch::new(batch.levels().clone(), 3).unwrap();
    let mut buf2 = Buffers::new(3);
    buf2.reset(&mut again, Some(7));
    assert_eq!(buf2.levels, first_levels, "same seed, same levels");
    assert_eq!(&buf.goal[..OBS_FACTS], &buf2.goal[..OBS_FACTS]);

    // An out-of-range action anywhere refuses the whole batch and changes nothing.
    let before = buf.facts.clone();
    let err = message(buf.step(&mut batch, &[0, 0, 99]).unwrap_err());
    assert!(err.contains("actions[2] = 99 is out of range"), "{err}");
    assert_eq!(buf.facts, before);
    assert_eq!(batch.episode(0).unwrap().state.step, 0);

    // Play env 0's optimal plan; the step after its win resets it.
    let plan = batch.levels()[buf.levels[0] as usize].plan.clone();
    for (k, &a) in plan.iter().enumerate() {
        buf.step(&mut batch, &[a as i64, 0, 0]).unwrap();
        assert_eq!(buf.terminated[0], k + 1 == plan.len());
    }
    let levels = batch.levels().clone();
    let mut replay = Episode::new(&levels, buf.levels[0] as usize);
    for &a in &plan {
        replay.step(&levels[replay.level], a).unwrap();
    }
    assert_eq!(f64::from(buf.scores[0]), replay.score.total());
    buf.step(&mut batch, &[0, 0, 0]).unwrap();
    assert!(!buf.terminated[0]);
    assert_eq!((buf.rewards[0], buf.outcomes[0]), (0.0, 0));
    assert_eq!(batch.episode(0).unwrap().state.step, 0);
    assert_eq!(buf.progress[0], 0.0);
}

#[test]
fn the_observation_encodes_calls_and_hides_resources_by_band() {
    let level = compiled(LOCKED_STUDY);
    let mut batch = QuestBatch::new(Arc::new(vec![level.clone()]), 1).unwrap();
    let mut buf = Buffers::new(1);
    buf.reset(&mut batch, None);
    // unlock(study_door) is call 1; it requires has_key (fact 0) and adds study_door_unlocked (1).
    let row = OBS_FACTS;
    assert_eq!(buf.pre[row], 1);
    assert_eq!(buf.eff[row + 1], 1);
    // search_desk forbids has_key and adds it.
    assert_eq!((buf.pre[0], buf.eff[0]), (-1, 1));
    assert_eq!(buf.facts[4], 1, "lamp_on holds at the start");
    assert_eq!(buf.goal[3], 1);
    assert!(buf.costs.iter().all(|&c| c == 0.0), "band 1 hides costs");
    let mut masks = vec![false; OBS_CALLS];
    batch.action_masks(&mut masks).unwrap();
    assert_eq!(masks.iter().filter(|&&m| m).count(), 4);

    // From band 11 the player sees pool usage: search_desk holds half the cpu for one step.
    let full = compiled(&LOCKED_STUDY.replace("\"band\": 1", "\"band\": 12"));
    let mut batch = QuestBatch::new(Arc::new(vec![full]), 1).unwrap();
    buf.reset(&mut batch, None);
    assert_eq!(&buf.costs[..4], &[0.5, 0.125, 0.0, 1.0 / 16.0]);
    assert_eq!(buf.resources[3], 1.0, "fits now");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Whatever is played, the rewards of an episode add up to its final score / 100.
    #[test]
    fn rewards_sum_to_the_final_score(text in random_level(), actions in proptest::collection::vec(0usize..4, 1..8)) {
        // Unsolvable random levels are refused by CompiledLevel::new; they have nothing to play.
        let Ok(compiled) = CompiledLevel::new(load(&text).unwrap(), "r.json") else {
            return Ok(());
        };
        let compiled = Arc::new(compiled);
        let levels = [compiled.clone()];
        let mut ep = Episode::new(&levels, 0);
        let mut total = ep.score.total() / 100.0;
        for a in actions {
            if ep.done {
                break;
            }
            let a = a % compiled.level.calls.len();
            total += ep.step(&compiled, a).unwrap().reward;
        }
        prop_assert!((total - ep.score.total() / 100.0).abs() < 1e-9);
        prop_assert!(ep.score.total() <= 200.0 && ep.score.total() >= 0.0);
    }
}

/// A 1 KB level that describes two million states: 21 switches, each turned on or off at will,
/// and a goal that needs them all on (an obvious 22-step plan, but breadth-first search must
/// look at every subset first).
fn switches(n: usize) -> String {
    let facts: Vec<String> = (0..n).map(|i| format!("\"s{i}\"")).collect();
    let functions: Vec<String> = (0..n)
        .flat_map(|i| {
            [
                format!(r#"{{"name": "on{i}", "description": "on", "adds": ["s{i}"], "returns": "on", "fails": "no"}}"#),
                format!(r#"{{"name": "off{i}", "description": "off", "removes": ["s{i}"], "returns": "off", "fails": "no"}}"#),
            ]
        })
        .collect();
    format!(
        r#"{{"format": "function-quest/1", "id": "switches", "title": "Switches", "band": 1,
        "story": "Switches.", "facts": [{}, "done"], "initial": [], "goal": ["done"],
        "success": "Done.", "max_steps": {}, "pools": {{}},
        "functions": [{}, {{"name": "finish", "description": "finish", "requires": [{}],
        "adds": ["done"], "returns": "done", "fails": "not yet"}}]}}"#,
        facts.join(", "),
        n + 2,
        functions.join(", "),
        facts.join(", ")
    )
}

#[test]
fn a_level_beyond_the_solver_budget_is_refused_within_about_a_second() {
    let text = switches(21);
    assert!(text.len() < 8192, "a small file: {} bytes", text.len());
    let started = std::time::Instant::now();
    let refused = CompiledLevel::new(load(&text).unwrap(), "switches.json");
    let took = started.elapsed().as_secs_f64();
    match refused {
        Err(PitError::Validation(m)) => assert!(m.contains("solver gave up"), "{m}"),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("solved?"),
    }
    assert!(took < 2.0, "took {took:.2} s");
    // A small one of the same shape still loads.
    assert!(CompiledLevel::new(load(&switches(6)).unwrap(), "s.json").is_ok());
}
