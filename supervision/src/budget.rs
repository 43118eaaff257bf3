//! The restart budget: a process whose actors keep panicking stops instead of spinning.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How many restarts a process tolerates: `limit` restarts within `window` exhaust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts within the window that exhaust the budget; at least 1.
    pub limit: u32,
    /// How far back restarts count.
    pub window: Duration,
}

impl Default for RestartPolicy {
    /// Five restarts within a minute: a panic now and then (a bad message, a bug on a rare
    /// path) is survived; one on every message is not.
    fn default() -> Self {
        RestartPolicy {
            limit: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// The budget was used up: the process must report not ready and exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{restarts} actor restarts within {window:?} (limit {limit})")]
pub struct BudgetExhausted {
    pub restarts: u32,
    pub limit: u32,
    pub window: Duration,
}

/// Counts the restarts of every supervised actor of a process (see the crate docs).
#[derive(Debug)]
pub struct RestartBudget {
    policy: RestartPolicy,
    /// When each restart still inside the window happened, oldest first.
    recent: Mutex<VecDeque<Instant>>,
    /// Once exhausted, for good: a process past its budget is on its way out.
    exhausted: AtomicBool,
    /// Wakes [`RestartBudget::exhausted`].
    notify: tokio::sync::Notify,
}

impl RestartBudget {
    pub fn new(policy: RestartPolicy) -> Self {
        RestartBudget {
            policy: RestartPolicy {
                limit: policy.limit.max(1),
                ..policy
            },
            recent: Mutex::new(VecDeque::new()),
            exhausted: AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
        }
    }

    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// One restart, now: the restarts within the window so far, or the budget's end.
    pub fn record(&self) -> Result<u32, BudgetExhausted> {
        self.record_at(Instant::now())
    }

    /// [`RestartBudget::record`] at a given time (tests).
    pub fn record_at(&self, now: Instant) -> Result<u32, BudgetExhausted> {
        let restarts = {
            // Plain timestamps: a panic while holding the lock leaves them usable.
            let mut recent = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while recent
                .front()
                .is_some_and(|&then| now.saturating_duration_since(then) >= self.policy.window)
            {
                recent.pop_front();
            }
            recent.push_back(now);
            u32::try_from(recent.len()).unwrap_or(u32::MAX)
        };
        if restarts >= self.policy.limit || self.is_exhausted() {
            self.exhausted.store(true, Ordering::SeqCst);
            self.notify.notify_waiters();
            return Err(BudgetExhausted {
                restarts,
                limit: self.policy.limit,
                window: self.policy.window,
            });
        }
        Ok(restarts)
    }

    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::SeqCst)
    }

    /// Resolves once the budget is exhausted (at once if it already is).
    pub async fn exhausted(&self) {
        loop {
            let woken = self.notify.notified();
            if self.is_exhausted() {
                return;
            }
            woken.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_within_the_window_exhausts_it_for_good() {
        let budget = RestartBudget::new(RestartPolicy {
            limit: 3,
            window: Duration::from_secs(10),
        });
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(budget.record_at(at(0)), Ok(1));
        assert_eq!(budget.record_at(at(5)), Ok(2));
        // The first one left the window: two in the last ten seconds.
        assert_eq!(budget.record_at(at(12)), Ok(2));
        assert!(!budget.is_exhausted());
        let exhausted = budget.record_at(at(13)).expect_err("three within 10 s");
        assert_eq!(exhausted.restarts, 3);
        assert!(budget.is_exhausted());
        // Exhausted stays exhausted, whatever the window says later.
        assert!(budget.record_at(at(100)).is_err());
    }

    #[tokio::test]
    async fn waiters_are_woken_when_it_runs_out() {
        let budget = std::sync::Arc::new(RestartBudget::new(RestartPolicy {
            limit: 1,
            window: Duration::from_secs(60),
        }));
        let waiter = tokio::spawn({
            let budget = std::sync::Arc::clone(&budget);
            async move { budget.exhausted().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(budget.record().is_err());
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
