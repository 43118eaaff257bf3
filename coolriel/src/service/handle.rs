//! [`CoolrielHandle`]: what the caller of [`Coolriel::start`](super::Coolriel::start) holds
//! while the service runs, and how it stops it within `COOLRIEL_SHUTDOWN_TIMEOUT_MS` (see
//! the [service documentation](super), "A bounded shutdown").

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use supervision::FaultHook;
use tokio::sync::oneshot;

use super::{Progress, ServiceError, Supervised};
use crate::kafka::context::{self, PartitionMap};
use crate::kafka::partition::DrainReport;

/// How far the shutdown got: written by the consumer thread, read when the bound passes.
#[derive(Debug, Clone, Default)]
pub struct ShutdownProgress {
    /// What the shutdown is doing now, for the log line of a shutdown that ran out of time.
    pub stage: String,
    /// The drained partitions: where each stored its last offset.
    pub drained: Vec<DrainReport>,
    /// Messages given up at the drain timeout.
    pub unfinished: usize,
    /// The final commit: `None` while it has not answered.
    pub committed: Option<bool>,
}

impl ShutdownProgress {
    /// Every message finished and its offset committed (the close may still be waiting).
    pub(super) fn finished(&self) -> bool {
        self.unfinished == 0 && self.committed == Some(true)
    }
}

pub(super) fn progress_of(progress: &Progress) -> std::sync::MutexGuard<'_, ShutdownProgress> {
    // Plain data: a panic while it was held leaves it readable.
    progress
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running service.
#[derive(Debug)]
pub struct CoolrielHandle {
    /// Dropping it (or sending the deadline) asks the service to stop.
    pub(super) shutdown: Option<oneshot::Sender<Instant>>,
    /// Answered when the service has stopped.
    pub(super) done: Option<oneshot::Receiver<Result<(), ServiceError>>>,
    /// The actix system thread, joined on shutdown.
    pub(super) thread: Option<JoinHandle<()>>,
    /// The partition actors, to tell which partitions this instance owns.
    pub(super) partitions: PartitionMap,
    /// Where the admin server listens.
    pub(super) admin_addr: SocketAddr,
    /// The restart budget, the fault hook, the shutdown's progress.
    pub(super) supervised: Supervised,
    /// `COOLRIEL_SHUTDOWN_TIMEOUT_MS`.
    pub(super) shutdown_timeout: Duration,
}

impl CoolrielHandle {
    /// The address the admin HTTP server is bound to (the port chosen for port 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The partitions this instance owns now, as `(topic, partition)`.
    pub fn assigned_partitions(&self) -> Vec<(String, i32)> {
        context::lock(&self.partitions).keys().cloned().collect()
    }

    /// Resolves when the service must stop with a failure: its actors used up the restart
    /// budget (`coolriel run` then shuts down and exits non-zero).
    pub async fn failed(&self) {
        self.supervised.health.budget().exhausted().await;
    }

    /// Whether the restart budget is used up (see [`CoolrielHandle::failed`]).
    pub fn restart_budget_exhausted(&self) -> bool {
        self.supervised.health.budget().is_exhausted()
    }

    /// Test-only: the partition actors' fault hook; [`FaultHook::arm`] makes the next
    /// messages received panic their partition actor.
    pub fn partition_faults(&self) -> &FaultHook {
        &self.supervised.partition_faults
    }

    /// Stop fetching, finish in-flight messages, commit, leave the group, stop; within
    /// `COOLRIEL_SHUTDOWN_TIMEOUT_MS` (see the module documentation).
    pub async fn shutdown(mut self) -> Result<(), ServiceError> {
        let bound = self.shutdown_timeout;
        let deadline = Instant::now() + bound;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(deadline);
        }
        let outcome = match self.done.take() {
            Some(done) => {
                match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), done).await
                {
                    Ok(outcome) => outcome.unwrap_or(Err(ServiceError::Panicked("coolriel"))),
                    // The threads are left behind: the process is about to exit.
                    Err(_) => return self.ran_out_of_time(bound),
                }
            }
            None => Ok(()),
        };
        if let Some(thread) = self.thread.take() {
            // It has answered `done`; only its last few instructions are left.
            thread
                .join()
                .map_err(|_| ServiceError::Panicked("coolriel"))?;
        }
        outcome
    }

    /// The bound passed before the shutdown finished: say what was and was not committed.
    fn ran_out_of_time(&self, bound: Duration) -> Result<(), ServiceError> {
        let progress = progress_of(&self.supervised.progress).clone();
        let stored: Vec<String> = progress
            .drained
            .iter()
            .map(|report| match report.position {
                Some(offset) => format!("{}/{}@{offset}", report.topic, report.partition),
                None => format!("{}/{}@-", report.topic, report.partition),
            })
            .collect();
        if progress.finished() {
            tracing::warn!(
                bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
                stage = %progress.stage,
                committed = ?stored,
                "shutdown bound reached while closing the consumer; every offset was committed, leaving without the close"
            );
            return Ok(());
        }
        tracing::error!(
            bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            stage = %progress.stage,
            stored = ?stored,
            committed = ?progress.committed,
            unfinished = progress.unfinished,
            "shutdown bound reached; what was not committed is handled again after a restart"
        );
        Err(ServiceError::TimedOut {
            bound,
            stage: progress.stage,
        })
    }

    /// [`CoolrielHandle::shutdown`] for callers without an async runtime (not bounded).
    pub fn shutdown_blocking(mut self) -> Result<(), ServiceError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(Instant::now() + self.shutdown_timeout);
        }
        self.done.take();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| ServiceError::Panicked("coolriel")),
            None => Ok(()),
        }
    }
}

impl Drop for CoolrielHandle {
    fn drop(&mut self) {
        // A handle dropped without `shutdown` still stops the service, without waiting.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(Instant::now() + self.shutdown_timeout);
        }
    }
}
