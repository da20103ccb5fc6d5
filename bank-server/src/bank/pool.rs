//! A fixed set of named worker threads for CPU-heavy work (password hashing,
//! later RSA signing), so that such work never runs on the async threads and
//! never spreads over the blocking pool's up to 512 threads: each thread that
//! ran an Argon2 hash keeps its 19 MiB in its malloc arena, so bounding the
//! threads bounds the server's memory.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// The server could not finish a request's work: the blocking task panicked
/// or was cancelled, or the disk could not confirm its writes (logged where it
/// happened). An internal error of any area.
#[derive(Debug, thiserror::Error)]
#[error("blocking task failed")]
pub struct BlockingFailed;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of `n` worker threads fed from one queue.
#[derive(Debug)]
pub struct CpuPool {
    tx: Mutex<Sender<Job>>,
}

impl CpuPool {
    /// Starts `threads` workers (at least one) named `name-N`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx: Arc<Mutex<Receiver<Job>>> = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only to take a job, not to run it.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })?;
        }
        Ok(CpuPool { tx: Mutex::new(tx) })
    }

    /// Runs `f` on a worker and waits for its result without blocking the caller's thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, BlockingFailed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done_tx.send(f());
        });
        self.tx
            .lock()
            .map_err(|_| BlockingFailed)?
            .send(job)
            .map_err(|_| BlockingFailed)?;
        done_rx.await.map_err(|_| BlockingFailed)
    }
}

/// The number of cores (at least one).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_returns_results() {
        let pool = CpuPool::new("test", 2).unwrap();
        let results = futures_join(&pool).await;
        assert_eq!(results, (1..=8).map(|i| i * i).collect::<Vec<_>>());
    }

    async fn futures_join(pool: &CpuPool) -> Vec<u64> {
        let mut out = Vec::new();
        for i in 1..=8u64 {
            out.push(pool.run(move || i * i).await.unwrap());
        }
        out
    }
}
