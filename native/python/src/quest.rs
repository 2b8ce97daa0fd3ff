//! Function Quest bindings: levels, one episode (`QuestGame`) and batches of episodes
//! (`QuestBatch`) stepped with numpy buffers in and out.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::IxDyn;
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use symphony_pit::quest::engine::{ObsBuffers, StepBuffers, CALL_FEATURES};
use symphony_pit::quest::score::tier;
use symphony_pit::quest::{CompiledLevel, Episode, Level, QuestBatch, Score, OBS_CALLS, OBS_FACTS};
use symphony_pit::PitError;

use crate::errors::{run, validation};
use crate::html::render;

/// A validated, solved `function-quest/1` level.
///
/// >>> level = QuestLevel.load("levels/campaign/01-locked-study.json")
/// >>> level.optimal_steps, level.plan
#[pyclass(frozen, name = "QuestLevel", module = "symphony_pit._native")]
pub struct PyQuestLevel {
    pub inner: Arc<CompiledLevel>,
}

fn compile(
    py: Python<'_>,
    source: String,
    load: impl FnOnce(&str) -> Result<Level, PitError> + Send,
) -> PyResult<PyQuestLevel> {
    let compiled = run(py, move || CompiledLevel::new(load(&source)?, &source))?;
    Ok(PyQuestLevel {
        inner: Arc::new(compiled),
    })
}

fn score_dict<'py>(py: Python<'py>, score: &Score) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("base", score.base)?;
    d.set_item("efficiency", score.efficiency)?;
    d.set_item("stability", score.stability)?;
    d.set_item("optimisation", score.optimisation)?;
    d.set_item("total", score.total())?;
    d.set_item("tier", score.tier())?;
    Ok(d)
}

fn units(amount: u64) -> f64 {
    amount as f64 / 1000.0
}

#[pymethods]
impl PyQuestLevel {
    /// Load a level file (`.json`, `.yaml`, `.yml`), validate it and solve it.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let source = path.display().to_string();
        compile(py, source, move |_| Level::from_path(&path))
    }
    /// A level from JSON text; `source` names it in errors (default `<json>`).
    #[staticmethod]
    #[pyo3(signature = (text, source = None))]
    fn from_json(py: Python<'_>, text: String, source: Option<String>) -> PyResult<Self> {
        let source = source.unwrap_or_else(|| "<json>".to_owned());
        compile(py, source, move |s| Level::from_json_str(s, &text))
    }
    /// A level from YAML text; `source` names it in errors (default `<yaml>`).
    #[staticmethod]
    #[pyo3(signature = (text, source = None))]
    fn from_yaml(py: Python<'_>, text: String, source: Option<String>) -> PyResult<Self> {
        let source = source.unwrap_or_else(|| "<yaml>".to_owned());
        compile(py, source, move |s| Level::from_yaml_str(s, &text))
    }
    #[getter]
    fn id(&self) -> &str {
        &self.inner.level.id
    }
    #[getter]
    fn title(&self) -> &str {
        &self.inner.level.title
    }
    #[getter]
    fn band(&self) -> u8 {
        self.inner.level.band
    }
    #[getter]
    fn story(&self) -> &str {
        &self.inner.level.story
    }
    #[getter]
    fn success(&self) -> &str {
        &self.inner.level.success
    }
    #[getter]
    fn facts(&self) -> Vec<String> {
        self.inner.level.facts.clone()
    }
    #[getter]
    fn initial(&self) -> Vec<&str> {
        self.inner.level.fact_names(self.inner.level.initial)
    }
    #[getter]
    fn goal(&self) -> Vec<&str> {
        self.inner.level.fact_names(self.inner.level.goal)
    }
    #[getter]
    fn max_steps(&self) -> u32 {
        self.inner.level.max_steps
    }
    /// Length of the shortest winning plan (the solver's).
    #[getter]
    fn optimal_steps(&self) -> usize {
        self.inner.plan.len()
    }
    /// An optimal plan as call labels, e.g. `['search_desk()', 'unlock(door=study_door)']`.
    #[getter]
    fn plan(&self) -> Vec<String> {
        self.inner
            .plan
            .iter()
            .map(|&a| self.inner.level.calls[a].label())
            .collect()
    }
    /// An optimal plan as action indices.
    #[getter]
    fn plan_actions(&self) -> Vec<usize> {
        self.inner.plan.clone()
    }
    /// Resource use of the optimal plan (what the optimisation score compares against).
    #[getter]
    fn optimal_resource_use(&self) -> f64 {
        self.inner.par.optimal_resource_use
    }
    /// `hidden` (bands 1–5), `indicators` (6–10) or `full` (11–20).
    #[getter]
    fn visibility(&self) -> &'static str {
        self.inner.visibility.as_str()
    }
    /// Pools as `{name: {dimension: capacity}}` (unlimited dimensions left out).
    #[getter]
    fn pools<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for pool in &self.inner.level.pools {
            let dims = PyDict::new(py);
            for (name, limit) in ["cpu", "memory_mb", "gpu_memory_mb"]
                .iter()
                .zip(pool.limits)
            {
                if let Some(l) = limit {
                    dims.set_item(name, units(l))?;
                }
            }
            out.set_item(&pool.name, dims)?;
        }
        Ok(out)
    }
    /// The grounded calls (the action space, in order) as dicts.
    #[getter]
    fn calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let level = &self.inner.level;
        let out = PyList::empty(py);
        for call in &level.calls {
            let d = PyDict::new(py);
            d.set_item("label", call.label())?;
            d.set_item("function", &call.function)?;
            let args = PyDict::new(py);
            for (k, v) in &call.args {
                args.set_item(k, v)?;
            }
            d.set_item("args", args)?;
            d.set_item("description", &call.description)?;
            d.set_item("requires", level.fact_names(call.requires))?;
            d.set_item("forbids", level.fact_names(call.forbids))?;
            d.set_item("adds", level.fact_names(call.adds))?;
            d.set_item("removes", level.fact_names(call.removes))?;
            d.set_item("returns", &call.returns)?;
            d.set_item("fails", &call.fails)?;
            let cost = PyDict::new(py);
            cost.set_item("pool", call.cost.pool.map(|p| level.pools[p].name.as_str()))?;
            cost.set_item("cpu", units(call.cost.amounts[0]))?;
            cost.set_item("memory_mb", units(call.cost.amounts[1]))?;
            cost.set_item("gpu_memory_mb", units(call.cost.amounts[2]))?;
            cost.set_item("steps", call.cost.steps)?;
            d.set_item("cost", cost)?;
            d.set_item("produces", call.produces.as_deref())?;
            out.append(d)?;
        }
        Ok(out)
    }
    fn __len__(&self) -> usize {
        self.inner.level.calls.len()
    }
    fn __repr__(&self) -> String {
        let l = &self.inner.level;
        format!(
            "QuestLevel('{}', band={}, facts={}, calls={}, optimal_steps={})",
            l.id,
            l.band,
            l.facts.len(),
            l.calls.len(),
            self.inner.plan.len()
        )
    }
    fn _repr_html_(slf: &Bound<'_, Self>) -> PyResult<String> {
        render(slf.as_any(), "quest_level_html")
    }
}

/// One episode of a level, for a single environment: the whole observation is written on
/// `observe`, the changing part on every `step`.
#[pyclass(name = "QuestGame", module = "symphony_pit._native")]
pub struct PyQuestGame {
    level: Arc<CompiledLevel>,
    episode: Episode,
    last_message: String,
    /// The observation parts the level fixes (goal, preconditions, effects, costs).
    fixed: FixedObs,
}

struct FixedObs {
    goal: Vec<i8>,
    preconditions: Vec<i8>,
    effects: Vec<i8>,
    costs: Vec<f32>,
}

impl FixedObs {
    /// Observe a fresh episode of `level` once and keep the parts that never change.
    fn of(level: &CompiledLevel, episode: &Episode) -> Result<FixedObs, PitError> {
        let mut facts = vec![0i8; OBS_FACTS];
        let mut goal = vec![0i8; OBS_FACTS];
        let mut preconditions = vec![0i8; OBS_CALLS * OBS_FACTS];
        let mut effects = vec![0i8; OBS_CALLS * OBS_FACTS];
        let mut costs = vec![0f32; OBS_CALLS * CALL_FEATURES];
        let mut resources = vec![0f32; OBS_CALLS * CALL_FEATURES];
        let mut progress = vec![0f32; 1];
        symphony_pit::quest::engine::observe(
            level,
            &episode.state,
            &mut ObsBuffers {
                facts: &mut facts,
                goal: &mut goal,
                preconditions: &mut preconditions,
                effects: &mut effects,
                costs: &mut costs,
                resources: &mut resources,
                progress: &mut progress,
            },
        )?;
        Ok(FixedObs {
            goal,
            preconditions,
            effects,
            costs,
        })
    }
}

/// A new C-contiguous array of `shape`, filled with `data` (or left for the caller to fill).
fn fresh<'py, T: Element + Copy>(
    py: Python<'py>,
    shape: &[usize],
    data: Option<&[T]>,
) -> Bound<'py, PyArrayDyn<T>> {
    // SAFETY: the array is new and C-contiguous; every element is written before Python sees
    // it (here from `data`, or by the engine's `write_dynamic_into` right after).
    let array = unsafe { PyArrayDyn::<T>::new(py, IxDyn(shape), false) };
    if let Some(data) = data {
        // SAFETY: nothing else holds the new array.
        unsafe { array.as_slice_mut() }
            .expect("a new array is contiguous")
            .copy_from_slice(data);
    }
    array
}

type ObsArg<'py, T> = PyReadwriteArrayDyn<'py, T>;

fn slice<'a, T: numpy::Element>(
    py: Python<'_>,
    name: &str,
    arr: &'a mut ObsArg<'_, T>,
) -> PyResult<&'a mut [T]> {
    arr.as_slice_mut().map_err(|_| {
        validation(
            py,
            format!("buffer '{name}' must be a C-contiguous numpy array"),
        )
    })
}

/// The seven observation buffers as slices the engine writes into.
#[allow(clippy::too_many_arguments)]
fn obs_buffers<'a>(
    py: Python<'_>,
    facts: &'a mut ObsArg<'_, i8>,
    goal: &'a mut ObsArg<'_, i8>,
    preconditions: &'a mut ObsArg<'_, i8>,
    effects: &'a mut ObsArg<'_, i8>,
    costs: &'a mut ObsArg<'_, f32>,
    resources: &'a mut ObsArg<'_, f32>,
    progress: &'a mut ObsArg<'_, f32>,
) -> PyResult<ObsBuffers<'a>> {
    Ok(ObsBuffers {
        facts: slice(py, "facts", facts)?,
        goal: slice(py, "goal", goal)?,
        preconditions: slice(py, "preconditions", preconditions)?,
        effects: slice(py, "effects", effects)?,
        costs: slice(py, "costs", costs)?,
        resources: slice(py, "resources", resources)?,
        progress: slice(py, "progress", progress)?,
    })
}

impl PyQuestGame {
    /// Check `action`, step the episode, remember its message.
    fn advance(&mut self, py: Python<'_>, action: i64) -> PyResult<(f64, bool, bool, u8, f64)> {
        if action < 0 || action as usize >= OBS_CALLS {
            return Err(validation(
                py,
                format!(
                    "action {action} is out of range: actions are call slots 0..{OBS_CALLS} (level '{}' uses the first {})",
                    self.level.level.id,
                    self.level.level.calls.len()
                ),
            ));
        }
        let result = self
            .episode
            .step(&self.level, action as usize)
            .map_err(|e| crate::errors::to_pyerr(py, e))?;
        let code = symphony_pit::quest::engine::outcome_code(&result.outcome);
        self.last_message = result.outcome.message;
        Ok((
            result.reward,
            result.terminated,
            result.truncated,
            code,
            self.episode.score.total(),
        ))
    }
}

#[pymethods]
impl PyQuestGame {
    #[new]
    fn new(py: Python<'_>, level: &PyQuestLevel) -> PyResult<Self> {
        let levels = [level.inner.clone()];
        let episode = Episode::new(&levels, 0);
        let fixed =
            FixedObs::of(&level.inner, &episode).map_err(|e| crate::errors::to_pyerr(py, e))?;
        Ok(PyQuestGame {
            level: level.inner.clone(),
            episode,
            last_message: String::new(),
            fixed,
        })
    }
    /// Start a new episode.
    fn reset(&mut self) {
        let levels = [self.level.clone()];
        self.episode = Episode::new(&levels, 0);
        self.last_message.clear();
    }
    /// Make call `action`; return a fresh observation dict (new arrays, so a kept observation
    /// never changes) with `(reward, terminated, truncated, outcome, score)`: outcome 1
    /// succeeded, 2 failed, 3 resource exhausted; score is the episode's total so far.
    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        action: i64,
    ) -> PyResult<(Bound<'py, PyDict>, f64, bool, bool, u8, f64)> {
        let (reward, terminated, truncated, code, score) = self.advance(py, action)?;
        Ok((
            self.observation(py)?,
            reward,
            terminated,
            truncated,
            code,
            score,
        ))
    }

    /// The whole observation of the current state as a dict of new arrays.
    fn observation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let fixed = &self.fixed;
        let calls = [OBS_CALLS, OBS_FACTS];
        let features = [OBS_CALLS, CALL_FEATURES];
        let facts = fresh::<i8>(py, &[OBS_FACTS], None);
        let resources = fresh::<f32>(py, &features, None);
        let progress = fresh::<f32>(py, &[1], None);
        {
            // SAFETY: the arrays are new and not yet shared.
            let (f, r, p) = unsafe {
                (
                    facts.as_slice_mut().expect("contiguous"),
                    resources.as_slice_mut().expect("contiguous"),
                    progress.as_slice_mut().expect("contiguous"),
                )
            };
            self.level
                .write_dynamic_into(&self.episode.state, f, r, p)
                .map_err(|e| crate::errors::to_pyerr(py, e))?;
        }
        let dict = PyDict::new(py);
        dict.set_item(pyo3::intern!(py, "facts"), facts)?;
        dict.set_item(
            pyo3::intern!(py, "goal"),
            fresh(py, &[OBS_FACTS], Some(&fixed.goal)),
        )?;
        dict.set_item(
            pyo3::intern!(py, "preconditions"),
            fresh(py, &calls, Some(&fixed.preconditions)),
        )?;
        dict.set_item(
            pyo3::intern!(py, "effects"),
            fresh(py, &calls, Some(&fixed.effects)),
        )?;
        dict.set_item(
            pyo3::intern!(py, "costs"),
            fresh(py, &features, Some(&fixed.costs)),
        )?;
        dict.set_item(pyo3::intern!(py, "resources"), resources)?;
        dict.set_item(pyo3::intern!(py, "progress"), progress)?;
        Ok(dict)
    }
    /// The episode's total score so far.
    #[getter]
    fn score_total(&self) -> f64 {
        self.episode.score.total()
    }
    /// The message of the last call (`returns`, `fails` or "resource exhausted", then the
    /// level's `success` on a win).
    #[getter]
    fn message(&self) -> &str {
        &self.last_message
    }
    /// Facts that hold now.
    #[getter]
    fn facts(&self) -> Vec<&str> {
        self.level.level.fact_names(self.episode.state.facts)
    }
    #[getter]
    fn steps(&self) -> u32 {
        self.episode.stats.steps
    }
    #[getter]
    fn done(&self) -> bool {
        self.episode.done
    }
    #[getter]
    fn won(&self) -> bool {
        self.episode.stats.won
    }
    /// Failed and resource-exhausted calls so far.
    #[getter]
    fn failures(&self) -> (u32, u32) {
        (self.episode.stats.failed, self.episode.stats.exhausted)
    }
    #[getter]
    fn resource_use(&self) -> f64 {
        self.episode.stats.resource_use
    }
    /// The score if the episode ended now: base, efficiency, stability, optimisation, total, tier.
    #[getter]
    fn score<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        score_dict(py, &self.episode.score)
    }
    /// Costs held now: `[(pool, cpu, memory_mb, gpu_memory_mb, steps_left)]`.
    #[getter]
    fn holds(&self) -> Vec<(String, f64, f64, f64, u32)> {
        let state = &self.episode.state;
        state
            .holds
            .iter()
            .filter(|h| h.until > state.step)
            .map(|h| {
                (
                    self.level.level.pools[h.pool].name.clone(),
                    units(h.amounts[0]),
                    units(h.amounts[1]),
                    units(h.amounts[2]),
                    h.until - state.step,
                )
            })
            .collect()
    }
}

/// `num_envs` episodes over a list of levels, stepped by one call with numpy buffers (next-step
/// auto-reset: the step after an episode ends starts the next one and ignores its action).
#[pyclass(name = "QuestBatch", module = "symphony_pit._native")]
pub struct PyQuestBatch {
    inner: QuestBatch,
}

#[pymethods]
impl PyQuestBatch {
    #[new]
    fn new(
        py: Python<'_>,
        levels: Vec<PyRef<'_, PyQuestLevel>>,
        num_envs: usize,
    ) -> PyResult<Self> {
        let levels: Vec<Arc<CompiledLevel>> = levels.iter().map(|l| l.inner.clone()).collect();
        let inner = QuestBatch::new(Arc::new(levels), num_envs)
            .map_err(|e| crate::errors::to_pyerr(py, e))?;
        Ok(PyQuestBatch { inner })
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
    /// Reset every environment (with a seed, environment `i` draws levels from `seed + i`);
    /// write observations and the level index of each environment.
    #[pyo3(signature = (seed, facts, goal, preconditions, effects, costs, resources, progress, levels))]
    #[allow(clippy::too_many_arguments)]
    fn reset(
        &mut self,
        py: Python<'_>,
        seed: Option<u64>,
        mut facts: ObsArg<'_, i8>,
        mut goal: ObsArg<'_, i8>,
        mut preconditions: ObsArg<'_, i8>,
        mut effects: ObsArg<'_, i8>,
        mut costs: ObsArg<'_, f32>,
        mut resources: ObsArg<'_, f32>,
        mut progress: ObsArg<'_, f32>,
        mut levels: ObsArg<'_, u32>,
    ) -> PyResult<()> {
        let mut obs = obs_buffers(
            py,
            &mut facts,
            &mut goal,
            &mut preconditions,
            &mut effects,
            &mut costs,
            &mut resources,
            &mut progress,
        )?;
        let levels = slice(py, "levels", &mut levels)?;
        let batch = &mut self.inner;
        run(py, move || batch.reset(seed, &mut obs, levels))
    }
    /// Step every environment. Outputs: observations, then rewards, terminated, truncated,
    /// scores (the episode's score so far), levels and outcomes (0 reset, 1 succeeded,
    /// 2 failed, 3 resource exhausted). A bad action refuses the whole batch, changing nothing.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        py: Python<'_>,
        actions: PyReadonlyArrayDyn<'_, i64>,
        mut facts: ObsArg<'_, i8>,
        mut goal: ObsArg<'_, i8>,
        mut preconditions: ObsArg<'_, i8>,
        mut effects: ObsArg<'_, i8>,
        mut costs: ObsArg<'_, f32>,
        mut resources: ObsArg<'_, f32>,
        mut progress: ObsArg<'_, f32>,
        mut rewards: ObsArg<'_, f32>,
        mut terminated: ObsArg<'_, bool>,
        mut truncated: ObsArg<'_, bool>,
        mut scores: ObsArg<'_, f32>,
        mut levels: ObsArg<'_, u32>,
        mut outcomes: ObsArg<'_, u8>,
    ) -> PyResult<()> {
        let actions = actions
            .as_slice()
            .map_err(|_| validation(py, "actions must be a C-contiguous int64 numpy array"))?;
        let mut obs = obs_buffers(
            py,
            &mut facts,
            &mut goal,
            &mut preconditions,
            &mut effects,
            &mut costs,
            &mut resources,
            &mut progress,
        )?;
        let mut out = StepBuffers {
            rewards: slice(py, "rewards", &mut rewards)?,
            terminated: slice(py, "terminated", &mut terminated)?,
            truncated: slice(py, "truncated", &mut truncated)?,
            scores: slice(py, "scores", &mut scores)?,
            levels: slice(py, "levels", &mut levels)?,
            outcomes: slice(py, "outcomes", &mut outcomes)?,
        };
        let batch = &mut self.inner;
        run(py, move || batch.step(actions, &mut obs, &mut out))
    }
    /// Write every environment's action mask (`num_envs × 64` bools).
    fn action_masks(&self, py: Python<'_>, mut out: ObsArg<'_, bool>) -> PyResult<()> {
        let out = slice(py, "masks", &mut out)?;
        self.inner
            .action_masks(out)
            .map_err(|e| crate::errors::to_pyerr(py, e))
    }
}

/// The tier name of a total score (Apprentice ≤ 100, Journeyman ≤ 150, Master ≤ 180,
/// Grand Maestro ≤ 200).
#[pyfunction]
pub fn quest_tier(total: f64) -> &'static str {
    tier(total)
}

/// Observation sizes: `(max_facts, max_calls, call_features)`.
#[pyfunction]
pub fn quest_layout() -> (usize, usize, usize) {
    (OBS_FACTS, OBS_CALLS, CALL_FEATURES)
}
