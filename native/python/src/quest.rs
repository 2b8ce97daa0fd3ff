//! Function Quest bindings: levels, one episode (`QuestGame`) and batches of episodes
//! (`QuestBatch`) stepped with numpy buffers in and out.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::IxDyn;
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use symphony_pit::PitError;
use symphony_quest::engine::{ObsBuffers, StepBuffers, CALL_FEATURES};
use symphony_quest::score::tier;
use symphony_quest::{
    optimal_first_calls, solve_from, CompiledLevel, Episode, Level, QuestBatch, Score,
    SolverBudget, OBS_CALLS, OBS_FACTS,
};

use crate::errors::{run, validation, OrRaise};
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

/// One episode of a level, for a single environment: `step` returns the Gymnasium 5-tuple with a
/// fresh observation and the info dict, built in one native call.
#[pyclass(name = "QuestGame", module = "symphony_pit._native")]
pub struct PyQuestGame {
    level: Arc<CompiledLevel>,
    episode: Episode,
    last_message: String,
    /// What the last call did: 0 reset, 1 succeeded, 2 failed, 3 resource exhausted.
    last_outcome: u8,
    /// The observation parts the level fixes (goal, preconditions, effects, costs).
    fixed: FixedObs,
    /// Observation arrays handed out before, kept for reuse once Python holds them no more.
    spare: Vec<ObsArrays>,
    /// The level id as a Python string, made once (it goes into every info dict).
    level_id: Py<PyString>,
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
        symphony_quest::engine::observe(
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

/// How many sets of observation arrays a game keeps for reuse: the caller usually still holds
/// the previous observation while asking for the next, so two sets alternate; more cover a
/// caller that keeps a few.
const SPARE_SETS: usize = 4;
const FACTS_SHAPE: [usize; 1] = [OBS_FACTS];
const CALLS_SHAPE: [usize; 2] = [OBS_CALLS, OBS_FACTS];
const FEATURES_SHAPE: [usize; 2] = [OBS_CALLS, CALL_FEATURES];
const PROGRESS_SHAPE: [usize; 1] = [1];

/// One observation's seven arrays.
struct ObsArrays {
    facts: Py<PyArrayDyn<i8>>,
    goal: Py<PyArrayDyn<i8>>,
    preconditions: Py<PyArrayDyn<i8>>,
    effects: Py<PyArrayDyn<i8>>,
    costs: Py<PyArrayDyn<f32>>,
    resources: Py<PyArrayDyn<f32>>,
    progress: Py<PyArrayDyn<f32>>,
}

impl ObsArrays {
    fn new(py: Python<'_>) -> ObsArrays {
        ObsArrays {
            facts: fresh::<i8>(py, &FACTS_SHAPE).unbind(),
            goal: fresh::<i8>(py, &FACTS_SHAPE).unbind(),
            preconditions: fresh::<i8>(py, &CALLS_SHAPE).unbind(),
            effects: fresh::<i8>(py, &CALLS_SHAPE).unbind(),
            costs: fresh::<f32>(py, &FEATURES_SHAPE).unbind(),
            resources: fresh::<f32>(py, &FEATURES_SHAPE).unbind(),
            progress: fresh::<f32>(py, &PROGRESS_SHAPE).unbind(),
        }
    }

    /// True when nothing but this set refers to any of its arrays (no observation dict, view,
    /// memoryview or tensor), and Python has not reshaped, retyped or frozen them: then they
    /// can be overwritten without any kept observation changing.
    fn unshared(&self, py: Python<'_>) -> bool {
        untouched(py, &self.facts, &FACTS_SHAPE)
            && untouched(py, &self.goal, &FACTS_SHAPE)
            && untouched(py, &self.preconditions, &CALLS_SHAPE)
            && untouched(py, &self.effects, &CALLS_SHAPE)
            && untouched(py, &self.costs, &FEATURES_SHAPE)
            && untouched(py, &self.resources, &FEATURES_SHAPE)
            && untouched(py, &self.progress, &PROGRESS_SHAPE)
    }

    /// Fill every array: the level's fixed parts, then the state's changing parts.
    fn write(&self, py: Python<'_>, game: &PyQuestGame) -> PyResult<()> {
        let fixed = &game.fixed;
        // SAFETY: the arrays were made here and are either new or `unshared` (only this set
        // refers to them, shape, dtype, contiguity and writeability as made), and the GIL is
        // held, so no other code can read or write them while these slices live.
        unsafe {
            data(py, &self.goal).copy_from_slice(&fixed.goal);
            data(py, &self.preconditions).copy_from_slice(&fixed.preconditions);
            data(py, &self.effects).copy_from_slice(&fixed.effects);
            data(py, &self.costs).copy_from_slice(&fixed.costs);
            game.level
                .write_dynamic_into(
                    &game.episode.state,
                    data(py, &self.facts),
                    data(py, &self.resources),
                    data(py, &self.progress),
                )
                .or_raise(py)
        }
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item(pyo3::intern!(py, "facts"), self.facts.bind(py))?;
        dict.set_item(pyo3::intern!(py, "goal"), self.goal.bind(py))?;
        dict.set_item(
            pyo3::intern!(py, "preconditions"),
            self.preconditions.bind(py),
        )?;
        dict.set_item(pyo3::intern!(py, "effects"), self.effects.bind(py))?;
        dict.set_item(pyo3::intern!(py, "costs"), self.costs.bind(py))?;
        dict.set_item(pyo3::intern!(py, "resources"), self.resources.bind(py))?;
        dict.set_item(pyo3::intern!(py, "progress"), self.progress.bind(py))?;
        Ok(dict)
    }
}

/// Only the holder refers to `array`, and it still has the shape, dtype and flags it was made with.
fn untouched<T: Element>(py: Python<'_>, array: &Py<PyArrayDyn<T>>, shape: &[usize]) -> bool {
    let bound = array.bind(py);
    // SAFETY: reading the reference count of a live object with the GIL held.
    let refs = unsafe { pyo3::ffi::Py_REFCNT(array.as_ptr()) };
    if refs != 1 || bound.shape() != shape || !bound.is_c_contiguous() {
        return false;
    }
    // SAFETY: `bound` is a live numpy array; its flags are a plain field.
    let flags = unsafe { (*numpy::npyffi::_PyArray_GET_ITEM_DATA(bound.as_array_ptr())).flags };
    flags & numpy::npyffi::NPY_ARRAY_WRITEABLE != 0
        && flags & numpy::npyffi::NPY_ARRAY_OWNDATA != 0
        && bound.dtype().num() == T::get_dtype(py).num()
}

/// The elements of an array made by `fresh`, for writing.
///
/// # Safety
/// Nothing else may read or write the array while the slice lives.
#[allow(clippy::mut_from_ref)]
unsafe fn data<'a, T: Element>(py: Python<'_>, array: &'a Py<PyArrayDyn<T>>) -> &'a mut [T] {
    let bound = array.bind(py);
    let (ptr, len) = (bound.data(), PyUntypedArrayMethods::len(bound));
    std::slice::from_raw_parts_mut(ptr, len)
}

/// A new C-contiguous array of `shape`, zero-filled (every element is written again before
/// Python sees it).
fn fresh<'py, T: Element>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArrayDyn<T>> {
    PyArrayDyn::<T>::zeros(py, IxDyn(shape), false)
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
    /// Check `action`, step the episode, remember its message and outcome.
    fn advance(&mut self, py: Python<'_>, action: i64) -> PyResult<(f64, bool, bool)> {
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
            .or_raise(py)?;
        self.last_outcome = symphony_quest::engine::outcome_code(&result.outcome);
        self.last_message = result.outcome.message;
        Ok((result.reward, result.terminated, result.truncated))
    }
}

/// Outcome names by code, as the info dict spells them.
const OUTCOME_NAMES: [&str; 4] = ["reset", "succeeded", "failed", "exhausted"];

#[pymethods]
impl PyQuestGame {
    #[new]
    fn new(py: Python<'_>, level: &PyQuestLevel) -> PyResult<Self> {
        let levels = [level.inner.clone()];
        let episode = Episode::new(&levels, 0);
        let fixed = FixedObs::of(&level.inner, &episode).or_raise(py)?;
        Ok(PyQuestGame {
            level: level.inner.clone(),
            episode,
            last_message: String::new(),
            last_outcome: 0,
            fixed,
            spare: Vec::new(),
            level_id: PyString::new(py, &level.inner.level.id).unbind(),
        })
    }
    /// Start a new episode.
    fn reset(&mut self) {
        let levels = [self.level.clone()];
        self.episode = Episode::new(&levels, 0);
        self.last_message.clear();
        self.last_outcome = 0;
    }
    /// Make call `action` and return Gymnasium's `(observation, reward, terminated, truncated,
    /// info)`: a fresh observation (a kept observation never changes) and the `info` dict.
    #[allow(clippy::type_complexity)]
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        action: i64,
    ) -> PyResult<(Bound<'py, PyDict>, f64, bool, bool, Bound<'py, PyDict>)> {
        let (reward, terminated, truncated) = self.advance(py, action)?;
        Ok((
            self.observation(py)?,
            reward,
            terminated,
            truncated,
            self.info(py)?,
        ))
    }

    /// The whole observation of the current state as a dict of arrays no observation handed
    /// out before shares: arrays whose every earlier reference Python has dropped are reused,
    /// others are left alone and new ones made (a fast path: native/README.md, "Fast paths
    /// kept").
    fn observation<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let index = match self.spare.iter().position(|set| set.unshared(py)) {
            Some(index) => index,
            None => {
                if self.spare.len() == SPARE_SETS {
                    self.spare.remove(0);
                }
                self.spare.push(ObsArrays::new(py));
                self.spare.len() - 1
            }
        };
        let set = &self.spare[index];
        set.write(py, self)?;
        set.dict(py)
    }

    /// Gymnasium's `info` for the state now: `level`, `message`, `outcome` (of the last call:
    /// `reset`, `succeeded`, `failed` or `exhausted`), `steps`, `optimal_steps`, `score` (the
    /// episode's total so far), `tier` and `won`.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let score = self.episode.score.total();
        let info = PyDict::new(py);
        info.set_item(pyo3::intern!(py, "level"), self.level_id.bind(py))?;
        info.set_item(pyo3::intern!(py, "message"), &self.last_message)?;
        info.set_item(
            pyo3::intern!(py, "outcome"),
            OUTCOME_NAMES[usize::from(self.last_outcome)],
        )?;
        info.set_item(pyo3::intern!(py, "steps"), self.episode.stats.steps)?;
        info.set_item(pyo3::intern!(py, "optimal_steps"), self.level.plan.len())?;
        info.set_item(pyo3::intern!(py, "score"), score)?;
        info.set_item(pyo3::intern!(py, "tier"), tier(score))?;
        info.set_item(pyo3::intern!(py, "won"), self.episode.stats.won)?;
        Ok(info)
    }
    /// What the last call did: `reset` (none yet), `succeeded`, `failed` or `exhausted`.
    #[getter]
    fn outcome(&self) -> &'static str {
        OUTCOME_NAMES[usize::from(self.last_outcome)]
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
    /// A shortest plan (call indices) from the state now — facts, held resources and steps
    /// taken — that wins within the level's `max_steps`; `[]` once the goal holds, `None` when
    /// it can no longer be reached. Under the solver's budget (1 s, 256 MiB, 2 M states): past
    /// it, `ValidationError`.
    fn solve(&self, py: Python<'_>) -> PyResult<Option<Vec<usize>>> {
        let (level, state) = (self.level.clone(), self.episode.state.clone());
        run(py, move || {
            solve_from(&level.level, &state, SolverBudget::default())
        })
    }
    /// The calls worth making now, one bool per slot of the action space (64): those that would
    /// succeed and change the facts; else those that would change them but wait for a busy
    /// pool (calling one lets a step pass: how to wait for resources); else every call.
    fn valid_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; OBS_CALLS];
        self.episode.state.valid_mask(&self.level.level, &mut mask);
        mask
    }
    /// Every call that starts a shortest winning plan from the state now (several when plans
    /// tie: the labels for imitating the solver), in call order; `[]` when the goal holds or
    /// can no longer be reached. One solver budget covers all the searches.
    fn optimal_actions(&self, py: Python<'_>) -> PyResult<Vec<usize>> {
        let (level, state) = (self.level.clone(), self.episode.state.clone());
        run(py, move || {
            optimal_first_calls(&level.level, &state, SolverBudget::default())
        })
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
        let inner = QuestBatch::new(Arc::new(levels), num_envs).or_raise(py)?;
        Ok(PyQuestBatch { inner })
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
    /// Reset every environment (with a seed, environment `i` draws levels from `seed + i`), or
    /// with `only_done` just those whose episode ended (SB3's semantics: the next `step` then
    /// steps them with their actions); write their observations and level indices. Returns how
    /// many were reset.
    #[pyo3(signature = (seed, facts, goal, preconditions, effects, costs, resources, progress, levels, only_done=false))]
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
        only_done: bool,
    ) -> PyResult<usize> {
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
        if only_done {
            return batch.reset_done(&mut obs, levels).or_raise(py);
        }
        let n = batch.len();
        run(py, move || batch.reset(seed, &mut obs, levels))?;
        Ok(n)
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
    /// Write every environment's valid-action mask (`num_envs × 64` bools; see
    /// `QuestGame.valid_mask`).
    fn valid_masks(&self, py: Python<'_>, mut out: ObsArg<'_, bool>) -> PyResult<()> {
        let out = slice(py, "masks", &mut out)?;
        self.inner.valid_masks(out).or_raise(py)
    }
    /// Write every environment's action mask (`num_envs × 64` bools).
    fn action_masks(&self, py: Python<'_>, mut out: ObsArg<'_, bool>) -> PyResult<()> {
        let out = slice(py, "masks", &mut out)?;
        self.inner.action_masks(out).or_raise(py)
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
