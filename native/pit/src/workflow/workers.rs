//! Worker threads for nodes that run off the scheduler's thread (concurrent pools, timeouts).
//!
//! One elastic pool per process: a job goes to an idle worker, or a new worker is started when
//! none is idle, so a node stuck past its timeout never blocks the others. Workers idle for a
//! minute exit.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

const IDLE_EXIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

struct Workers {
    queue: Mutex<Queue>,
    wake: Condvar,
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
pub fn submit(job: impl FnOnce() + Send + 'static) {
    let pool = workers();
    let mut q = pool.queue.lock();
    q.jobs.push_back(Box::new(job));
    if q.idle >= q.jobs.len() {
        drop(q);
        pool.wake.notify_one();
        return;
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
