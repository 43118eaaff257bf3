//! The OutboxActor: runs publication rounds when woken after a commit, on a fallback poll,
//! and once at start-up (the drain that covers a crash between commit and publish).
//!
//! # Supervision
//! The actor runs under [`actix::Supervisor`]. Its rounds and its message handlers run
//! inside `catch_unwind`: a panic is logged and the actor stops itself, which makes the
//! supervisor restart it (a panic left to unwind would end the actor, and publishing,
//! silently). The restart loses nothing: the round's future is dropped with the old
//! context, which releases the publisher's round lock; nothing was marked for rows the
//! round did not see acknowledged; and the restarted actor's first round, like the
//! start-up one, reads the pending rows again (after 100 ms times the restarts so far,
//! at most 2 s, so a round that panics at once cannot spin). Once the restart budget is
//! exhausted the actor runs no more rounds: the service is stopping, and its shutdown
//! drains the outbox. Each restart is one
//! `actor restarted by its supervisor` line (actor, cause, restart count), counts in
//! `store_manager_actor_restarts_total{actor="OutboxActor"}` and in the restart budget
//! ([`supervision::RestartBudget`]); readiness says `restarting` from the panic until the
//! restarted actor's first round has run ([`OutboxHealth`]).
//!
//! The test-only fault hook ([`OutboxSupervision::faults`], `STORE_MANAGER_FAULT_OUTBOX_PANIC`)
//! makes a round panic before it reads the table, through this same path.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use actix::prelude::*;
use futures::FutureExt as _;
use supervision::{FaultHook, RestartBudget, panic_message};

use super::publisher::OutboxPublisher;
use crate::config::OutboxSettings;
use crate::metrics::Metrics;

/// The wait before a restarted actor's first round, times the restarts so far.
const RESTART_BACKOFF: Duration = Duration::from_millis(100);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(2);

/// What readiness knows of the outbox actor (see the module documentation).
#[derive(Debug, Default)]
pub struct OutboxHealth {
    state: AtomicU8,
    restarts: AtomicU32,
}

/// The outbox actor's state, as readiness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Its rounds run (whether they succeed is the broker's and the database's story).
    Running,
    /// It panicked; its supervisor restarted it, and its first round has not run yet.
    Restarting,
    /// It stopped: shutting down.
    Stopped,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Running => "running",
            OutboxState::Restarting => "restarting",
            OutboxState::Stopped => "stopped",
        }
    }
}

impl OutboxHealth {
    pub fn state(&self) -> OutboxState {
        match self.state.load(Ordering::SeqCst) {
            0 => OutboxState::Running,
            1 => OutboxState::Restarting,
            _ => OutboxState::Stopped,
        }
    }

    /// Restarts after a panic so far.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    fn set(&self, state: OutboxState) {
        let value = match state {
            OutboxState::Running => 0,
            OutboxState::Restarting => 1,
            OutboxState::Stopped => 2,
        };
        self.state.store(value, Ordering::SeqCst);
    }
}

/// What the outbox actor's supervision needs: where its restarts are counted and told.
#[derive(Debug, Clone)]
pub struct OutboxSupervision {
    pub health: Arc<OutboxHealth>,
    pub budget: Arc<RestartBudget>,
    pub metrics: Arc<Metrics>,
    /// Test-only: when it fires, the next round panics.
    pub faults: Arc<FaultHook>,
}

/// Sent by a request handler after its transaction committed: there is a new row.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Sent at shutdown: start no more rounds, stop once the current one has finished (never
/// in the middle of one: a round cut between the broker's ack and the database update
/// would send its rows again).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopPublishing;

/// Publishes the outbox. One round at a time; a wake that arrives during a round schedules
/// another, because the round may have read the table before the new row was committed.
#[derive(Debug)]
pub struct OutboxActor {
    publisher: Arc<OutboxPublisher>,
    settings: OutboxSettings,
    /// A round is in flight.
    publishing: bool,
    /// Woken while a round was in flight: run one more when it ends.
    woken_during_round: bool,
    /// Failed rounds in a row, so the log says "still failing" once, not every poll.
    consecutive_failures: u32,
    /// Shutting down: no new rounds; stop when the current one ends.
    stopping: bool,
    /// Restart accounting, readiness, the test-only fault hook.
    supervision: OutboxSupervision,
    /// The panic that is stopping the actor, for its supervisor's restart.
    crashed: Option<String>,
}

impl OutboxActor {
    pub fn new(publisher: Arc<OutboxPublisher>, settings: OutboxSettings) -> Self {
        OutboxActor {
            publisher,
            settings,
            publishing: false,
            woken_during_round: false,
            consecutive_failures: 0,
            stopping: false,
            supervision: OutboxSupervision {
                health: Arc::default(),
                budget: Arc::new(RestartBudget::new(supervision::RestartPolicy::default())),
                metrics: Arc::default(),
                faults: Arc::default(),
            },
            crashed: None,
        }
    }

    /// Count restarts, report health and take faults as `supervision` says.
    pub fn with_supervision(mut self, supervision: OutboxSupervision) -> Self {
        self.supervision = supervision;
        self
    }

    /// Stop after a panic, so that the supervisor restarts the actor.
    fn crash(&mut self, cause: String, ctx: &mut Context<Self>) {
        if self.crashed.is_some() {
            return;
        }
        tracing::error!(
            actor = "OutboxActor",
            panic = %cause,
            "outbox actor panicked; stopping it so its supervisor restarts it"
        );
        self.supervision.health.set(OutboxState::Restarting);
        self.crashed = Some(cause);
        ctx.stop();
    }

    /// Run one step; a panic in it becomes a supervised restart.
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        step: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if let Err(cause) = supervision::catch_panic(|| step(self, ctx)) {
            self.crash(cause, ctx);
        }
    }

    fn start_round(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.publishing {
            self.woken_during_round = true;
            return;
        }
        self.publishing = true;
        let publisher = Arc::clone(&self.publisher);
        let faults = Arc::clone(&self.supervision.faults);
        let round = async move {
            if faults.fire() {
                panic!("injected fault (test only): outbox round panic");
            }
            publisher.publish_available().await
        };
        let round = AssertUnwindSafe(round).catch_unwind();
        ctx.spawn(round.into_actor(self).map(|result, actor, ctx| {
            let result = match result {
                Ok(result) => result,
                Err(panic) => return actor.crash(panic_message(panic.as_ref()), ctx),
            };
            actor.publishing = false;
            if actor.supervision.health.state() == OutboxState::Restarting {
                actor.supervision.health.set(OutboxState::Running);
                tracing::info!(
                    actor = "OutboxActor",
                    restarts = actor.supervision.health.restarts(),
                    "outbox actor running again: its first round after the restart is done"
                );
            }
            match result {
                Ok(published) => {
                    if actor.consecutive_failures > 0 {
                        tracing::info!(
                            actor = "OutboxActor",
                            published,
                            failed_rounds = actor.consecutive_failures,
                            "outbox publishing again"
                        );
                    } else if published > 0 {
                        tracing::debug!(actor = "OutboxActor", published, "outbox drained");
                    }
                    actor.consecutive_failures = 0;
                }
                Err(error) => {
                    actor.consecutive_failures += 1;
                    if actor.consecutive_failures == 1 {
                        tracing::warn!(
                            actor = "OutboxActor",
                            %error,
                            "outbox publication failed; pending events stay in the outbox and are retried"
                        );
                    } else {
                        tracing::debug!(
                            actor = "OutboxActor",
                            %error,
                            failed_rounds = actor.consecutive_failures,
                            "outbox publication still failing"
                        );
                    }
                    // After a failure, wait for the poll instead of spinning on a wake.
                    actor.woken_during_round = false;
                }
            }
            if actor.stopping {
                ctx.stop();
            } else if std::mem::take(&mut actor.woken_during_round) {
                actor.start_round(ctx);
            }
        }));
    }

    fn start_cleanup(&mut self, ctx: &mut Context<Self>) {
        let publisher = Arc::clone(&self.publisher);
        let retention = self.settings.retention;
        let batch = self.settings.cleanup_batch_size;
        ctx.spawn(
            async move {
                match publisher.clean_up(retention, batch).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(
                        actor = "OutboxActor",
                        deleted,
                        retention_secs = retention.as_secs(),
                        "deleted published outbox rows past retention"
                    ),
                    Err(error) => {
                        tracing::warn!(actor = "OutboxActor", %error, "outbox cleanup failed")
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for OutboxActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.stopping {
            // Stopped for the shutdown, and restarted only because an address was still
            // held: idle until the addresses go.
            return;
        }
        let restarts = self.supervision.health.restarts();
        if restarts == 0 {
            tracing::info!(
                actor = "OutboxActor",
                poll_interval_ms = self.settings.poll_interval.as_millis() as u64,
                batch_size = self.settings.batch_size,
                "actor started; draining events left from a previous run"
            );
            self.start_round(ctx);
        } else {
            // A round that panics at once would otherwise restart the actor in a loop that
            // never lets the thread go (the supervisor restarts within one poll).
            let backoff = RESTART_BACKOFF
                .saturating_mul(restarts)
                .min(MAX_RESTART_BACKOFF);
            ctx.run_later(backoff, |actor, ctx| actor.guarded(ctx, Self::start_round));
        }
        ctx.run_interval(self.settings.poll_interval, |actor, ctx| {
            actor.guarded(ctx, Self::start_round);
        });
        ctx.run_interval(self.settings.cleanup_interval, |actor, ctx| {
            actor.start_cleanup(ctx)
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if self.crashed.is_some() {
            return;
        }
        if self.supervision.health.state() != OutboxState::Stopped {
            self.supervision.health.set(OutboxState::Stopped);
            tracing::info!(actor = "OutboxActor", "actor stopped");
        }
    }
}

impl Supervised for OutboxActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let Some(cause) = self.crashed.take() else {
            return;
        };
        // The round in flight went with the old context (its lock on the publisher too).
        self.publishing = false;
        self.woken_during_round = false;
        let restarts = self
            .supervision
            .health
            .restarts
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        tracing::warn!(
            actor = "OutboxActor",
            cause = %cause,
            restarts,
            "actor restarted by its supervisor; its first round reads the pending rows again"
        );
        self.supervision.metrics.restarted("OutboxActor");
        if let Err(exhausted) = self.supervision.budget.record() {
            // No more rounds: the service is stopping, and its shutdown drains the outbox.
            self.stopping = true;
            tracing::error!(
                actor = "OutboxActor",
                restarts = exhausted.restarts,
                limit = exhausted.limit,
                window_secs = exhausted.window.as_secs(),
                "restart budget exhausted: the outbox actor keeps panicking; not ready, shutting down to exit non-zero"
            );
        }
    }
}

impl Handler<Wake> for OutboxActor {
    type Result = ();

    fn handle(&mut self, _wake: Wake, ctx: &mut Self::Context) {
        self.guarded(ctx, Self::start_round);
    }
}

impl Handler<StopPublishing> for OutboxActor {
    type Result = ();

    fn handle(&mut self, _stop: StopPublishing, ctx: &mut Self::Context) {
        self.stopping = true;
        if !self.publishing {
            ctx.stop();
        }
    }
}
