//! How a partition actor survives its own panics.
//!
//! The actor runs under [`actix::Supervisor`]. Every way in (a received message, a
//! finished job, a drain, an adopted message, the job futures themselves) runs inside
//! `catch_unwind`: a panic is logged, and the actor stops itself so that the supervisor
//! restarts it (a panic left to unwind would kill the supervisor with it). The restart
//! loses nothing, though it throws away everything the panic may have left half-done:
//!
//! - the jobs in flight (each a task of its own, see [`super::job`]) are aborted, and any
//!   that finished meanwhile is ignored (it belongs to the actor's previous generation),
//!   so their offsets never complete in the old [`OffsetTracker`]; it is replaced by one
//!   that resumes at the last stored position ([`OffsetTracker::resuming_at`]), and never
//!   hands out that position or one below it again (no offset is stored twice or moved
//!   back);
//! - librdkafka has already handed out messages past the stored position (those in
//!   flight, those done above an unfinished one) and prefetched more: the partition is
//!   seeked back to the stored position, which also discards the prefetched messages
//!   (librdkafka's version barrier), so every message from there on is fetched and
//!   handled again (at least once: the handlers are idempotent) and none is skipped;
//! - until the new tracker has passed the highest offset the crashed actor had received,
//!   the partition is listed as recovering (readiness says so, see [`crate::health`]).
//!
//! Each restart is one `actor restarted by its supervisor` line (actor, topic, partition,
//! cause, restart count, the offset it resumes at), counts in
//! `coolriel_actor_restarts_total{actor="PartitionActor"}` and in the restart budget. A
//! panic during a drain answers the drain at once (the unfinished messages are not
//! stored: the next owner handles them). A drained actor that the supervisor restarts
//! because its address was still held stays idle until the address goes.
//!
//! The test-only fault hook ([`PartitionDeps::faults`](super::PartitionDeps::faults),
//! `COOLRIEL_FAULT_PARTITION_PANIC`) makes the actor panic on receiving a message,
//! mid-batch, through this same path.

use std::time::Duration;

use actix::{ActorContext as _, AsyncContext as _, Context, Supervised};

use super::{PartitionActor, State};
use crate::offsets::OffsetTracker;

impl PartitionActor {
    /// Run one step of the actor's work; a panic in it becomes a supervised restart.
    pub(super) fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        step: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if let Err(cause) = supervision::catch_panic(|| step(self, ctx)) {
            self.crash(cause, ctx);
        }
    }

    /// Stop after a panic, so that the supervisor restarts the actor (see the module docs).
    pub(super) fn crash(&mut self, cause: String, ctx: &mut Context<Self>) {
        if self.crashed.is_some() {
            return;
        }
        tracing::error!(
            actor = Self::NAME,
            topic = %self.topic,
            partition = self.partition,
            panic = %cause,
            in_flight = self.tracker.in_flight(),
            "partition actor panicked; stopping it so its supervisor restarts it"
        );
        self.crashed = Some(cause);
        ctx.stop();
    }

    /// Where a restarted actor resumes: the last position stored, or, when nothing was
    /// stored yet, the first offset it received (the committed position it started at).
    fn resume_position(&self) -> Option<i64> {
        self.stored.or(self.tracker.first())
    }

    /// Seek the partition back to `position`; false when librdkafka refused (retried).
    fn seek_back(&self, position: i64) -> bool {
        let Some(sought) = self.feed.as_ref().and_then(|feed| feed.seek(position)) else {
            // Drained or shutting down: the partition is about to be released anyway.
            return true;
        };
        match sought {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(
                    actor = Self::NAME,
                    topic = %self.topic,
                    partition = self.partition,
                    offset = position,
                    error = %error,
                    "cannot seek the partition back after a restart; trying again before fetching"
                );
                false
            }
        }
    }

    /// After a restart whose seek failed: try it again, and fetch only once it worked
    /// (fetching on from where the crashed actor was would skip what it left unfinished).
    pub(super) fn retry_resume(&mut self, ctx: &mut Context<Self>) {
        let Some(position) = self.resume_pending else {
            return;
        };
        if self.seek_back(position) {
            self.resume_pending = None;
            self.fetch_next(ctx);
        } else {
            ctx.run_later(Duration::from_millis(200), |actor, ctx| {
                actor.retry_resume(ctx);
            });
        }
    }
}

impl Supervised for PartitionActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let Some(cause) = self.crashed.take() else {
            return;
        };
        self.restarts += 1;
        // The old context's futures (the pending receive) are gone; its jobs go too.
        self.abort_jobs();
        self.generation += 1;
        self.fetch = None;
        self.lanes.clear();
        let unfinished = self.tracker.in_flight();
        let received_up_to = self.tracker.highest();
        let resume = self.resume_position();
        self.tracker = match resume {
            Some(position) => OffsetTracker::resuming_at(position),
            None => OffsetTracker::new(),
        };
        tracing::warn!(
            actor = Self::NAME,
            topic = %self.topic,
            partition = self.partition,
            cause = %cause,
            restarts = self.restarts,
            offset = ?resume,
            unfinished,
            "actor restarted by its supervisor"
        );
        self.deps.metrics.restarted(Self::NAME);
        match std::mem::replace(&mut self.state, State::Running) {
            State::Draining { waiters } => {
                // Answer the drain now: what was in flight is not stored, and is handled
                // again by the next owner.
                self.state = State::Stopped;
                self.feed = None;
                let report = self.drain_report(unfinished);
                for waiter in waiters {
                    let _ = waiter.send(report.clone());
                }
                return;
            }
            State::Stopped => {
                self.state = State::Stopped;
                return;
            }
            State::Running => {}
        }
        if let (Some(position), Some(until)) = (resume, received_up_to) {
            if until >= position {
                self.recovering_until = Some(until);
                self.deps
                    .health
                    .start_recovery(&self.topic, self.partition, until);
            }
            if !self.seek_back(position) {
                self.resume_pending = Some(position);
            }
        }
    }
}
