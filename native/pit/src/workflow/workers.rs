//! Worker threads for nodes that run off the scheduler's thread (concurrent pools, timeouts).
//!
//! One elastic pool per process: a job goes to an idle worker, or a new worker is started when
//! none is idle, so a node stuck past its timeout never blocks the others. Workers idle for a
//! minute exit.
//!
//! A thread cannot be killed: a node past its timeout is *abandoned* — its run moves on, and its
//! thread keeps going until the node's code returns (burning CPU if it spins). Abandoned jobs
//! still running are counted ([`stats`]), and bounded ([`set_abandoned_limit`], default
//! [`DEFAULT_ABANDONED_LIMIT`]): past the limit, a node that could be abandoned in turn is not
//! started (its run records why). Only a process pool can truly stop a node.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

type Work = Box<dyn FnOnce() + Send + 'static>;

const IDLE_EXIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Work>,
    idle: usize,
    threads: usize,
}

struct Workers {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// Abandoned jobs still running, abandoned jobs ever, and the bound on the first.
static ABANDONED_RUNNING: AtomicUsize = AtomicUsize::new(0);
static ABANDONED_TOTAL: AtomicUsize = AtomicUsize::new(0);
static ABANDONED_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_ABANDONED_LIMIT);

/// How many abandoned jobs may still be running before nodes that could be abandoned are refused.
pub const DEFAULT_ABANDONED_LIMIT: usize = 64;

/// A submitted job, as its submitter sees it: it can give up on it ([`Job::abandon`]).
#[derive(Clone, Debug)]
pub struct Job(Arc<AtomicU8>);

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const ABANDONED: u8 = 2;

impl Job {
    /// The submitter no longer waits for this job (its node timed out, its run was cancelled).
    /// Counted as abandoned while it still runs.
    pub fn abandon(&self) {
        if self
            .0
            .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            ABANDONED_RUNNING.fetch_add(1, Ordering::Relaxed);
            ABANDONED_TOTAL.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finished(&self) {
        if self
            .0
            .compare_exchange(RUNNING, FINISHED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // It had been abandoned: one fewer abandoned job runs now.
            ABANDONED_RUNNING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The worker threads as they stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerStats {
    pub threads: usize,
    pub idle: usize,
    /// Jobs given up on (timed out, cancelled) whose code is still running.
    pub abandoned_running: usize,
    /// Jobs given up on since the process started.
    pub abandoned_total: usize,
    pub abandoned_limit: usize,
}

pub fn stats() -> WorkerStats {
    let q = workers().queue.lock();
    WorkerStats {
        threads: q.threads,
        idle: q.idle,
        abandoned_running: ABANDONED_RUNNING.load(Ordering::Relaxed),
        abandoned_total: ABANDONED_TOTAL.load(Ordering::Relaxed),
        abandoned_limit: ABANDONED_LIMIT.load(Ordering::Relaxed),
    }
}

/// Bound the abandoned jobs that may still run (process-wide).
pub fn set_abandoned_limit(limit: usize) {
    ABANDONED_LIMIT.store(limit, Ordering::Relaxed);
}

/// Why a job that could be abandoned must not start now, if it must not.
pub fn refuse_abandonable() -> Option<String> {
    let running = ABANDONED_RUNNING.load(Ordering::Relaxed);
    let limit = ABANDONED_LIMIT.load(Ordering::Relaxed);
    (running >= limit).then(|| {
        format!(
            "{running} nodes that timed out or were cancelled are still running on their threads \
             (a thread cannot be killed; the limit is {limit}), so this node was not started; \
             let them finish, or run such nodes in a process pool"
        )
    })
}

fn workers() -> &'static Workers {
    static WORKERS: OnceLock<Workers> = OnceLock::new();
    WORKERS.get_or_init(|| Workers {
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
    })
}

/// Run `job` on a worker thread. A panic inside the job is caught (the job is expected to report
/// its own outcome, so a panic there means the outcome never arrives; callers guard with their
/// own sentinel).
pub fn submit(job: impl FnOnce() + Send + 'static) -> Job {
    let handle = Job(Arc::new(AtomicU8::new(RUNNING)));
    let done = handle.clone();
    let job = move || {
        let _ = catch_unwind(AssertUnwindSafe(job));
        done.finished();
    };
    let pool = workers();
    let mut q = pool.queue.lock();
    q.jobs.push_back(Box::new(job));
    if q.idle >= q.jobs.len() {
        drop(q);
        pool.wake.notify_one();
        return handle;
    }
    q.threads += 1;
    let number = q.threads;
    drop(q);
    let started = std::thread::Builder::new()
        .name(format!("symphony-worker-{number}"))
        .spawn(|| work(workers()));
    if started.is_err() {
        // No thread could be started: run the queue's oldest job on this thread instead.
        let job = {
            let mut q = pool.queue.lock();
            q.threads -= 1;
            q.jobs.pop_front()
        };
        if let Some(job) = job {
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }
    handle
}

fn work(pool: &Workers) {
    loop {
        let job = {
            let mut q = pool.queue.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    break job;
                }
                q.idle += 1;
                let timed_out = pool.wake.wait_for(&mut q, IDLE_EXIT).timed_out();
                q.idle -= 1;
                if timed_out && q.jobs.is_empty() {
                    q.threads -= 1;
                    return;
                }
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}
