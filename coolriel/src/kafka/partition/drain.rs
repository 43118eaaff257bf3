//! Draining a partition actor (revoke or shutdown): stop fetching, finish what is in
//! flight, store the offsets, answer, stop.

use std::time::Duration;

use actix::{ActorContext as _, AsyncContext as _, Context, Handler, Message};

use super::{PartitionActor, State};

/// What a drained partition actor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub topic: String,
    pub partition: i32,
    /// The last position stored (the offset to resume from), if any moved.
    pub position: Option<i64>,
    /// Messages given up at the drain timeout; they will be delivered again.
    pub unfinished: usize,
}

/// Stop fetching, finish what is in flight, store the offsets, answer, stop.
#[derive(Debug)]
pub struct Drain {
    /// Give up on unfinished messages after this long.
    pub timeout: Duration,
    /// Answered from the actor's thread; read by a blocking rebalance callback, hence a
    /// std channel rather than an actix response.
    pub reply: std::sync::mpsc::Sender<DrainReport>,
}

impl Message for Drain {
    type Result = ();
}

impl Handler<Drain> for PartitionActor {
    type Result = ();

    fn handle(&mut self, drain: Drain, ctx: &mut Self::Context) {
        self.guarded(ctx, |actor, ctx| actor.drain(drain, ctx));
    }
}

impl PartitionActor {
    /// What the drain answers: where the partition stored its last offset, and how many
    /// messages it gives up (handled again by the next owner).
    pub(super) fn drain_report(&self, unfinished: usize) -> DrainReport {
        DrainReport {
            topic: self.topic.clone(),
            partition: self.partition,
            position: self.stored,
            unfinished,
        }
    }

    fn drain(&mut self, drain: Drain, ctx: &mut Context<Self>) {
        if let Some(fetch) = self.fetch.take() {
            ctx.cancel_future(fetch);
        }
        match &mut self.state {
            State::Running => {
                tracing::info!(
                    actor = Self::NAME,
                    topic = %self.topic,
                    partition = self.partition,
                    in_flight = self.tracker.in_flight(),
                    "draining partition"
                );
                self.state = State::Draining {
                    waiters: vec![drain.reply],
                };
                ctx.run_later(drain.timeout, |actor, ctx| {
                    if matches!(actor.state, State::Draining { .. }) {
                        tracing::warn!(
                            actor = Self::NAME,
                            topic = %actor.topic,
                            partition = actor.partition,
                            unfinished = actor.tracker.in_flight(),
                            "drain timed out; unfinished messages will be delivered again"
                        );
                        actor.finish_drain(ctx);
                    }
                });
            }
            State::Draining { waiters } => waiters.push(drain.reply),
            State::Stopped => {
                let _ = drain.reply.send(self.drain_report(0));
                return;
            }
        }
        if self.tracker.in_flight() == 0 {
            self.finish_drain(ctx);
        }
    }

    pub(super) fn finish_drain(&mut self, ctx: &mut Context<Self>) {
        let waiters = match std::mem::replace(&mut self.state, State::Stopped) {
            State::Draining { waiters } => waiters,
            State::Running | State::Stopped => Vec::new(),
        };
        self.feed = None;
        if self.recovering_until.take().is_some() {
            self.deps.health.end_recovery(&self.topic, self.partition);
        }
        let report = self.drain_report(self.tracker.in_flight());
        tracing::info!(
            actor = Self::NAME,
            topic = %self.topic,
            partition = self.partition,
            offset = ?self.stored,
            unfinished = report.unfinished,
            "partition drained"
        );
        for waiter in waiters {
            // The waiter may have given up already (it waits with a timeout).
            let _ = waiter.send(report.clone());
        }
        ctx.stop();
    }
}
