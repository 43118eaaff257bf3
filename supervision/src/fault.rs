//! The test-only fault hook (see the crate documentation).

use std::sync::atomic::{AtomicU64, Ordering};

/// When a hook fires on its own: at every `every`-th check, at most `times` times. Read
/// from a setting (`every=N` or `every=N,times=K`) that only tests and the chaos runs set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Fire at the `every`-th check, the `2 × every`-th, ...; at least 1.
    pub every: u64,
    /// Fire at most this many times (`None`: no limit).
    pub times: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected every=N or every=N,times=K with N at least 1")]
pub struct FaultPlanError(pub String);

impl std::str::FromStr for FaultPlan {
    type Err = FaultPlanError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || FaultPlanError(text.to_owned());
        let mut every = None;
        let mut times = None;
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (key, value) = part.split_once('=').ok_or_else(invalid)?;
            let value: u64 = value.trim().parse().map_err(|_| invalid())?;
            match key.trim() {
                "every" if value >= 1 => every = Some(value),
                "times" => times = Some(value),
                _ => return Err(invalid()),
            }
        }
        Ok(FaultPlan {
            every: every.ok_or_else(invalid)?,
            times,
        })
    }
}

/// A point in an actor where a test can make it panic. [`FaultHook::fire`] says whether
/// to panic now; the actor panics itself, so the panic goes through the real code path
/// and the real supervision (nothing is mocked).
#[derive(Debug, Default)]
pub struct FaultHook {
    /// Checks left that fire because a test armed them.
    armed: AtomicU64,
    plan: Option<FaultPlan>,
    /// Checks made, for the plan.
    checks: AtomicU64,
    /// Times the plan fired.
    fired: AtomicU64,
}

impl FaultHook {
    /// A hook that fires only when armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hook that also fires by `plan`.
    pub fn with_plan(plan: Option<FaultPlan>) -> Self {
        FaultHook {
            plan,
            ..Self::default()
        }
    }

    /// The next `count` checks fire.
    pub fn arm(&self, count: u64) {
        self.armed.fetch_add(count, Ordering::SeqCst);
    }

    /// One check: true when the caller must panic now.
    pub fn fire(&self) -> bool {
        let armed = self
            .armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
        if armed.is_ok() {
            return true;
        }
        let Some(plan) = self.plan else {
            return false;
        };
        let check = self.checks.fetch_add(1, Ordering::SeqCst) + 1;
        if !check.is_multiple_of(plan.every) {
            return false;
        }
        self.fired
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |fired| {
                plan.times
                    .is_none_or(|times| fired < times)
                    .then_some(fired + 1)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_hook_never_fires_and_an_armed_one_fires_that_often() {
        let hook = FaultHook::new();
        assert!((0..1000).all(|_| !hook.fire()));
        hook.arm(2);
        assert!(hook.fire());
        assert!(hook.fire());
        assert!(!hook.fire());
    }

    #[test]
    fn a_plan_fires_every_nth_check_up_to_its_times() {
        let plan: FaultPlan = "every=3,times=2".parse().expect("valid");
        assert_eq!(
            plan,
            FaultPlan {
                every: 3,
                times: Some(2)
            }
        );
        let hook = FaultHook::with_plan(Some(plan));
        let fired: Vec<u64> = (1..=12).filter(|_| hook.fire()).collect();
        assert_eq!(fired, vec![3, 6]);
    }

    #[test]
    fn bad_plans_are_refused() {
        for bad in [
            "",
            "every=0",
            "every=x",
            "times=3",
            "often",
            "every=2,when=3",
        ] {
            assert!(bad.parse::<FaultPlan>().is_err(), "{bad}");
        }
        assert_eq!("every=5".parse::<FaultPlan>().expect("valid").times, None);
    }
}
