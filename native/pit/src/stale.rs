//! Stale Manager: what to keep, archive or delete, and idle models to release.
//!
//! Every artifact gets a value score in [0, 1] from recency of use, access frequency, whether a
//! successful run produced it, tags, size and how many artifacts were derived from it. A
//! [`StalePolicy`]'s rules propose decisions (MaxAge, MinAccessCount, MaxTotalSize — lowest
//! value first); KeepTagged and pins override them; a Delete of a high-value artifact, or of
//! training data under PreserveTrainingData, becomes an Archive. Archived artifacts are
//! compressed and stay readable. Deleted artifacts leave the memo table too. Idle warm models
//! unused for `idle_model_ttl` seconds are cooled, giving their capacity back.
//!
//! `cleanup(dry_run = true)` reports every decision without acting on any.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::artifact::{ArtifactId, ArtifactMeta, ListFilter};
use crate::dag::RunStatus;
use crate::error::{PitError, Result};
use crate::events::{Component, Field, Subject};
use crate::pit::Pit;
use crate::pool::TransitionReason;

/// What happens to an artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Archive,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Archive => "archive",
            Action::Delete => "delete",
        }
    }
}

fn archive() -> Action {
    Action::Archive
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Artifacts created more than `seconds` ago.
    MaxAge {
        seconds: f64,
        #[serde(default = "archive")]
        action: Action,
    },
    /// Artifacts read fewer than `count` times once they are `after` seconds old.
    MinAccessCount {
        count: u64,
        #[serde(default)]
        after: f64,
        #[serde(default = "archive")]
        action: Action,
    },
    /// While live (unarchived) bytes exceed `bytes`, act on the lowest-value artifacts.
    MaxTotalSize {
        bytes: u64,
        #[serde(default = "archive")]
        action: Action,
    },
    /// Artifacts carrying any of `tags` are kept.
    KeepTagged { tags: Vec<String> },
    /// Training data (tagged `training`, or created by a `training…` producer) is never
    /// deleted: archived at most.
    PreserveTrainingData,
}

/// Weights of the value score's parts (normalised when used).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValueWeights {
    pub recency: f64,
    pub frequency: f64,
    pub success: f64,
    pub tags: f64,
    pub size: f64,
    pub lineage: f64,
}

impl Default for ValueWeights {
    fn default() -> Self {
        ValueWeights {
            recency: 0.3,
            frequency: 0.2,
            success: 0.2,
            tags: 0.1,
            size: 0.1,
            lineage: 0.1,
        }
    }
}

/// What the Stale Manager keeps, archives or deletes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StalePolicy {
    pub rules: Vec<Rule>,
    /// Artifacts scoring at least this are never deleted (archived instead).
    pub high_value: f64,
    /// Seconds of disuse that halve the recency part of the score.
    pub recency_half_life: f64,
    /// Bytes at which the size part of the score is one half.
    pub size_scale: f64,
    pub weights: ValueWeights,
    /// Warm models idle this long are cooled (capacity released); `None` keeps them.
    pub idle_model_ttl: Option<f64>,
}

impl Default for StalePolicy {
    /// Archive after 30 days, delete unread artifacts after 90, keep `keep`-tagged artifacts,
    /// preserve training data, cool models idle for 5 minutes.
    fn default() -> Self {
        StalePolicy {
            rules: vec![
                Rule::KeepTagged {
                    tags: vec!["keep".into()],
                },
                Rule::PreserveTrainingData,
                Rule::MaxAge {
                    seconds: 30.0 * 86_400.0,
                    action: Action::Archive,
                },
                Rule::MinAccessCount {
                    count: 1,
                    after: 90.0 * 86_400.0,
                    action: Action::Delete,
                },
            ],
            high_value: 0.7,
            recency_half_life: 86_400.0,
            size_scale: (1 << 20) as f64,
            weights: ValueWeights::default(),
            idle_model_ttl: Some(300.0),
        }
    }
}

impl StalePolicy {
    /// Parse a policy from JSON; errors name the field.
    pub fn from_json(text: &str) -> Result<StalePolicy> {
        let mut de = serde_json::Deserializer::from_str(text);
        let policy: StalePolicy = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            PitError::validation(format!("stale policy: {path}: {}", e.into_inner()))
        })?;
        policy.validate()?;
        Ok(policy)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy always serialises")
    }

    /// Check numbers are finite and in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, v: f64| {
            PitError::validation(format!(
                "stale policy: {field} must be a finite number >= 0, got {v}"
            ))
        };
        let check = |field: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(field, v))
            }
        };
        check("high_value", self.high_value)?;
        check("recency_half_life", self.recency_half_life)?;
        check("size_scale", self.size_scale)?;
        if let Some(ttl) = self.idle_model_ttl {
            check("idle_model_ttl", ttl)?;
        }
        let w = &self.weights;
        for (name, v) in [
            ("weights.recency", w.recency),
            ("weights.frequency", w.frequency),
            ("weights.success", w.success),
            ("weights.tags", w.tags),
            ("weights.size", w.size),
            ("weights.lineage", w.lineage),
        ] {
            check(name, v)?;
        }
        for (k, rule) in self.rules.iter().enumerate() {
            match rule {
                Rule::MaxAge { seconds, .. } => check(&format!("rules[{k}].seconds"), *seconds)?,
                Rule::MinAccessCount { after, .. } => check(&format!("rules[{k}].after"), *after)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn keep_tags(&self) -> HashSet<&str> {
        self.rules
            .iter()
            .filter_map(|r| match r {
                Rule::KeepTagged { tags } => Some(tags.iter().map(String::as_str)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn preserves_training(&self) -> bool {
        self.rules.contains(&Rule::PreserveTrainingData)
    }
}

/// The parts of an artifact's value score, each in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ValueParts {
    pub recency: f64,
    pub frequency: f64,
    pub success: f64,
    pub tags: f64,
    pub size: f64,
    pub lineage: f64,
}

impl ValueParts {
    fn score(&self, w: &ValueWeights) -> f64 {
        let total = w.recency + w.frequency + w.success + w.tags + w.size + w.lineage;
        if total <= 0.0 {
            return 0.0;
        }
        (w.recency * self.recency
            + w.frequency * self.frequency
            + w.success * self.success
            + w.tags * self.tags
            + w.size * self.size
            + w.lineage * self.lineage)
            / total
    }
}

/// The decision about one artifact.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub id: ArtifactId,
    pub size: u64,
    /// Seconds since it was created.
    pub age: f64,
    /// Seconds since it was last read (or created).
    pub idle: f64,
    pub access_count: u64,
    pub tags: Vec<String>,
    pub pinned: bool,
    pub archived: bool,
    pub value: f64,
    pub parts: ValueParts,
    pub action: Action,
    pub reason: String,
}

/// What a cleanup did (or, dry, would do).
#[derive(Clone, Debug, PartialEq)]
pub struct CleanupReport {
    pub dry_run: bool,
    pub verdicts: Vec<Verdict>,
    pub kept: usize,
    pub archived: usize,
    pub deleted: usize,
    /// Original bytes of the artifacts archived.
    pub bytes_archived: u64,
    /// Bytes the archived artifacts take compressed (estimated in a dry run: not compressed).
    pub bytes_archive_stored: u64,
    /// Bytes of the artifacts deleted.
    pub bytes_deleted: u64,
    pub models_released: usize,
    pub memo_forgotten: usize,
    pub duration: f64,
}

fn is_training(meta: &ArtifactMeta) -> bool {
    meta.tags.iter().any(|t| t == "training") || meta.created_by.starts_with("training")
}

/// Score and decide every artifact of `pit` under `policy`, as of `now`.
pub fn evaluate(pit: &Pit, policy: &StalePolicy, now: f64) -> Vec<Verdict> {
    let metas = pit.artifacts.list(&ListFilter::default());
    let mut dependents: HashMap<ArtifactId, usize> = HashMap::new();
    for m in &metas {
        for input in &m.inputs {
            *dependents.entry(*input).or_default() += 1;
        }
    }
    let mut run_status: HashMap<&str, Option<RunStatus>> = HashMap::new();
    let keep_tags = policy.keep_tags();
    let half_life = policy.recency_half_life.max(1e-9);
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(metas.len());
    for m in &metas {
        let age = (now - m.created_at).max(0.0);
        let idle = (now - m.last_access.max(m.created_at)).max(0.0);
        let success = match &m.producer {
            None => 0.5,
            Some(p) => match *run_status
                .entry(p.run.as_str())
                .or_insert_with(|| pit.dags.status(&p.run).ok())
            {
                Some(RunStatus::Completed) => 1.0,
                Some(RunStatus::Failed | RunStatus::Cancelled) => 0.0,
                Some(_) => 1.0, // still running: its results are in use
                None => 0.5,
            },
        };
        let parts = ValueParts {
            recency: 0.5f64.powf(idle / half_life),
            frequency: ((1.0 + m.access_count as f64).ln() / 11f64.ln()).min(1.0),
            success,
            tags: if m.tags.is_empty() { 0.0 } else { 1.0 },
            size: 1.0 / (1.0 + m.size as f64 / policy.size_scale.max(1.0)),
            lineage: (dependents.get(&m.id).copied().unwrap_or(0) as f64 / 3.0).min(1.0),
        };
        let value = parts.score(&policy.weights);
        let mut verdict = Verdict {
            id: m.id,
            size: m.size,
            age,
            idle,
            access_count: m.access_count,
            tags: m.tags.clone(),
            pinned: m.pinned,
            archived: m.archived.is_some(),
            value,
            parts,
            action: Action::Keep,
            reason: "no rule applies".into(),
        };
        if m.pinned {
            verdict.reason = "pinned".into();
        } else if let Some(tag) = m.tags.iter().find(|t| keep_tags.contains(t.as_str())) {
            verdict.reason = format!("KeepTagged: tagged '{tag}'");
        } else {
            for rule in &policy.rules {
                let proposal = match rule {
                    Rule::MaxAge { seconds, action } if age > *seconds => Some((
                        *action,
                        format!("MaxAge: {} old > {}", human(age), human(*seconds)),
                    )),
                    Rule::MinAccessCount {
                        count,
                        after,
                        action,
                    } if age > *after && m.access_count < *count => Some((
                        *action,
                        format!(
                            "MinAccessCount: read {} time(s) < {count} after {}",
                            m.access_count,
                            human(age)
                        ),
                    )),
                    _ => None,
                };
                if let Some((action, reason)) = proposal {
                    if action > verdict.action {
                        verdict.action = action;
                        verdict.reason = reason;
                    }
                }
            }
            protect(&mut verdict, m, policy);
        }
        verdicts.push(verdict);
    }
    apply_size_limit(&mut verdicts, &metas, policy);
    for v in &mut verdicts {
        if v.action == Action::Archive && v.archived {
            v.action = Action::Keep;
            v.reason = format!("already archived ({})", v.reason);
        }
    }
    verdicts
}

/// A Delete of something valuable (or of training data) becomes an Archive.
fn protect(v: &mut Verdict, meta: &ArtifactMeta, policy: &StalePolicy) {
    if v.action != Action::Delete {
        return;
    }
    if v.value >= policy.high_value {
        v.action = Action::Archive;
        v.reason = format!(
            "{}; high value {:.2} >= {:.2}: archived, never deleted",
            v.reason, v.value, policy.high_value
        );
    } else if policy.preserves_training() && is_training(meta) {
        v.action = Action::Archive;
        v.reason = format!("{}; PreserveTrainingData: archived, not deleted", v.reason);
    }
}

/// MaxTotalSize: while live bytes exceed the limit, act on kept artifacts, lowest value first.
fn apply_size_limit(verdicts: &mut [Verdict], metas: &[Arc<ArtifactMeta>], policy: &StalePolicy) {
    let keep_tags = policy.keep_tags();
    for rule in &policy.rules {
        let Rule::MaxTotalSize { bytes, action } = rule else {
            continue;
        };
        let live = |v: &Verdict| !v.archived && v.action == Action::Keep;
        let mut total: u64 = verdicts.iter().filter(|v| live(v)).map(|v| v.size).sum();
        if total <= *bytes {
            continue;
        }
        let mut order: Vec<usize> = (0..verdicts.len())
            .filter(|&k| {
                let v = &verdicts[k];
                live(v) && !v.pinned && !v.tags.iter().any(|t| keep_tags.contains(t.as_str()))
            })
            .collect();
        order.sort_by(|&a, &b| {
            let (va, vb) = (&verdicts[a], &verdicts[b]);
            va.value
                .total_cmp(&vb.value)
                .then(vb.idle.total_cmp(&va.idle))
        });
        for k in order {
            if total <= *bytes {
                break;
            }
            let before = total;
            let v = &mut verdicts[k];
            v.action = *action;
            v.reason = format!(
                "MaxTotalSize: {} live > {} limit; lowest value first ({:.2})",
                human_bytes(before),
                human_bytes(*bytes),
                v.value
            );
            protect(v, &metas[k], policy);
            total -= v.size;
        }
    }
}

/// Decide, then (unless `dry_run`) archive, delete, forget memo entries and cool idle models.
pub fn cleanup(pit: &Pit, policy: &StalePolicy, dry_run: bool) -> Result<CleanupReport> {
    policy.validate()?;
    let began = Instant::now();
    let now = crate::now();
    let verdicts = evaluate(pit, policy, now);
    let mut report = CleanupReport {
        dry_run,
        kept: 0,
        archived: 0,
        deleted: 0,
        bytes_archived: 0,
        bytes_archive_stored: 0,
        bytes_deleted: 0,
        models_released: 0,
        memo_forgotten: 0,
        duration: 0.0,
        verdicts: Vec::new(),
    };
    let to_archive: Vec<ArtifactId> = verdicts
        .iter()
        .filter(|v| v.action == Action::Archive)
        .map(|v| v.id)
        .collect();
    let to_delete: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.action == Action::Delete)
        .collect();
    report.kept = verdicts.len() - to_archive.len() - to_delete.len();
    if dry_run {
        report.archived = to_archive.len();
        report.deleted = to_delete.len();
        for v in &verdicts {
            match v.action {
                Action::Archive => {
                    report.bytes_archived += v.size;
                    report.bytes_archive_stored += v.size;
                }
                Action::Delete => report.bytes_deleted += v.size,
                Action::Keep => {}
            }
        }
        if let Some(ttl) = policy.idle_model_ttl {
            report.models_released = pit.pools.idle_models(now - ttl);
        }
    } else {
        for (_, size, stored) in pit.artifacts.archive(&to_archive)? {
            report.archived += 1;
            report.bytes_archived += size;
            report.bytes_archive_stored += stored;
        }
        let mut gone = HashSet::new();
        for v in to_delete {
            match pit.artifacts.delete(&v.id, false) {
                Ok(()) => {
                    gone.insert(v.id);
                    report.deleted += 1;
                    report.bytes_deleted += v.size;
                }
                // Deleted or pinned meanwhile: leave it.
                Err(PitError::NotFound(_) | PitError::Validation(_)) => {}
                Err(e) => return Err(e),
            }
        }
        report.memo_forgotten = pit.memo.forget(&gone);
        if let Some(ttl) = policy.idle_model_ttl {
            report.models_released = pit.pools.cool_idle(ttl, TransitionReason::Cooldown)?;
        }
    }
    report.duration = began.elapsed().as_secs_f64();
    report.verdicts = verdicts;
    pit.events.emit(
        Component::Stale,
        "stale.cleanup",
        Subject::from(if dry_run { "dry run" } else { "cleanup" }),
        &[
            ("examined", Field::UInt(report.verdicts.len() as u64)),
            ("archived", Field::UInt(report.archived as u64)),
            ("deleted", Field::UInt(report.deleted as u64)),
            ("bytes_deleted", Field::UInt(report.bytes_deleted)),
            (
                "models_released",
                Field::UInt(report.models_released as u64),
            ),
            ("dry_run", Field::Bool(dry_run)),
        ],
    );
    Ok(report)
}

fn human(seconds: f64) -> String {
    if seconds >= 86_400.0 {
        format!("{:.1} d", seconds / 86_400.0)
    } else if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{seconds:.1} s")
    }
}

fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

impl Pit {
    /// Run the Stale Manager under `policy`: archive, delete, release idle models; with
    /// `dry_run` only report what would happen.
    pub fn cleanup(&self, policy: &StalePolicy, dry_run: bool) -> Result<CleanupReport> {
        cleanup(self, policy, dry_run)
    }

    /// What `policy` would decide for each artifact now, and why: a cleanup's verdicts without
    /// the cleanup, and without an event (a view that shows value scores reads these).
    pub fn verdicts(&self, policy: &StalePolicy) -> Result<Vec<Verdict>> {
        policy.validate()?;
        Ok(evaluate(self, policy, crate::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_with_field_errors() {
        let p = StalePolicy::from_json(
            r#"{"rules": [{"rule": "max_age", "seconds": 10, "action": "delete"},
                          {"rule": "keep_tagged", "tags": ["gold"]},
                          {"rule": "preserve_training_data"}], "high_value": 0.9}"#,
        )
        .unwrap();
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.idle_model_ttl, Some(300.0));
        let err = StalePolicy::from_json(r#"{"rules": [{"rule": "max_age"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rules[0]") && err.contains("seconds"), "{err}");
        let err = StalePolicy::from_json(r#"{"rules": [{"rule": "forever"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `forever`"), "{err}");
        let err = StalePolicy::from_json(r#"{"high_value": -1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("high_value"), "{err}");
        assert_eq!(
            StalePolicy::from_json(&StalePolicy::default().to_json()).unwrap(),
            StalePolicy::default()
        );
    }
}
