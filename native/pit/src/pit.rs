//! The `Pit` value: every component behind one handle, sharing one event log and one store.

use std::path::PathBuf;
use std::sync::Arc;

use crate::arbitration::Arbiter;
use crate::artifact::{ArtifactId, ArtifactStore};
use crate::dag::DagTracker;
use crate::error::Result;
use crate::events::{Component, EventLog, Field, Subject};
use crate::persist::{MemoTable, OpenMode, Persister};
use crate::pool::PoolManager;

/// When artifact writes reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Behind the hot path, on the writer thread; `flush()` or closing the Pit waits for them.
    #[default]
    Background,
    /// Before `put` returns.
    Sync,
}

/// How to open a Pit.
#[derive(Clone, Debug)]
pub struct PitConfig {
    /// Store directory; `None` keeps everything in memory.
    pub store: Option<PathBuf>,
    /// Hot-tier budget in bytes (only bounds a store with a directory).
    pub hot_bytes: u64,
    pub durability: Durability,
    /// Events kept when nobody drains the log.
    pub event_capacity: usize,
    /// Open a damaged store anyway: a database that fails SQLite's check is set aside and a new
    /// one started, and every blob without a row (orphans, quarantined rows) is rebuilt.
    pub recover: bool,
}

impl PitConfig {
    pub fn in_memory() -> Self {
        PitConfig {
            store: None,
            hot_bytes: 256 << 20,
            durability: Durability::Background,
            event_capacity: 100_000,
            recover: false,
        }
    }

    pub fn on_disk(dir: impl Into<PathBuf>) -> Self {
        PitConfig {
            store: Some(dir.into()),
            ..PitConfig::in_memory()
        }
    }
}

/// The engine: Pool Manager, Arbiter, Artifact Store, DAG Tracker and memo table over one
/// event log.
#[derive(Debug)]
pub struct Pit {
    pub events: Arc<EventLog>,
    pub pools: Arc<PoolManager>,
    pub arbiter: Arc<Arbiter>,
    pub artifacts: ArtifactStore,
    pub dags: DagTracker,
    /// Memoised workflow node results.
    pub memo: MemoTable,
    persister: Arc<Persister>,
    config: PitConfig,
}

impl Pit {
    /// Open a Pit; a store directory is created if missing, and everything in it is loaded.
    pub fn open(config: PitConfig) -> Result<Pit> {
        let events = Arc::new(EventLog::new(config.event_capacity));
        let mode = if config.recover {
            OpenMode::SetAsideDamaged
        } else {
            OpenMode::Checked
        };
        let (persister, mut loaded) = Persister::open_with(config.store.as_deref(), mode)?;
        let persister = Arc::new(persister);
        let artifacts_found = loaded.artifacts.len();
        let quarantined = loaded.quarantined.clone();
        let orphans = loaded.orphans.len();
        let damaged_runs = std::mem::take(&mut loaded.damaged_runs);
        let artifacts = ArtifactStore::new(
            persister.clone(),
            &mut loaded,
            events.clone(),
            config.hot_bytes,
            config.durability == Durability::Sync,
        );
        let dags = DagTracker::new(events.clone(), persister.clone(), loaded.runs);
        let memo = MemoTable::new(persister.clone(), loaded.memo);
        let pools = Arc::new(PoolManager::new(events.clone()));
        let arbiter = Arbiter::new(pools.clone(), events.clone());
        let location = config
            .store
            .as_ref()
            .map_or("memory".into(), |p| p.display().to_string());
        log::info!("Pit opened on {location} with {artifacts_found} artifacts");
        for (id, why) in &quarantined {
            log::warn!("artifact {id} is quarantined: {why}");
            let subject = ArtifactId::parse(id)
                .map_or_else(|_| Subject::from(id.as_str()), Subject::Artifact);
            events.emit(
                Component::Artifact,
                "artifact.corrupted",
                subject,
                &[("reason", Field::Text(Arc::from(why.as_str())))],
            );
        }
        if orphans > 0 && !config.recover {
            log::warn!(
                "{orphans} blobs in {location} have no metadata row (a lost or damaged database?); \
                 pit.artifacts.recover() rebuilds them"
            );
        }
        for run in &damaged_runs {
            log::warn!("the history of run {run} is damaged and was left out");
        }
        events.emit(
            Component::Pit,
            "pit.opened",
            Subject::from(location.as_str()),
            &[
                ("artifacts", Field::UInt(artifacts_found as u64)),
                ("quarantined", Field::UInt(quarantined.len() as u64)),
                ("orphans", Field::UInt(orphans as u64)),
            ],
        );
        if config.recover && (orphans > 0 || !quarantined.is_empty()) {
            artifacts.recover()?;
        }
        Ok(Pit {
            events,
            pools,
            arbiter,
            artifacts,
            dags,
            memo,
            persister,
            config,
        })
    }

    pub fn config(&self) -> &PitConfig {
        &self.config
    }

    /// Wait until every queued write is durable.
    pub fn flush(&self) -> Result<()> {
        self.artifacts.flush()
    }

    /// Flush and stop the writer; later writes fail. Dropping the Pit does the same.
    pub fn close(&self) -> Result<()> {
        if self.persister.is_closed() {
            return Ok(());
        }
        let flushed = self.artifacts.flush();
        let closed = self.persister.close();
        flushed.and(closed)
    }

    pub fn is_closed(&self) -> bool {
        self.persister.is_closed()
    }
}

impl Drop for Pit {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
