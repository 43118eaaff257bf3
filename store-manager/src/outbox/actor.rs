//! The OutboxActor: runs publication rounds when woken after a commit, on a fallback poll,
//! and once at start-up (the drain that covers a crash between commit and publish).

use std::sync::Arc;

use actix::prelude::*;

use super::publisher::OutboxPublisher;
use crate::config::OutboxSettings;

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
        let round = async move { publisher.publish_available().await };
        ctx.spawn(round.into_actor(self).map(|result, actor, ctx| {
            actor.publishing = false;
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
        tracing::info!(
            actor = "OutboxActor",
            poll_interval_ms = self.settings.poll_interval.as_millis() as u64,
            batch_size = self.settings.batch_size,
            "actor started; draining events left from a previous run"
        );
        self.start_round(ctx);
        ctx.run_interval(self.settings.poll_interval, |actor, ctx| {
            actor.start_round(ctx)
        });
        ctx.run_interval(self.settings.cleanup_interval, |actor, ctx| {
            actor.start_cleanup(ctx)
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = "OutboxActor", "actor stopped");
    }
}

impl Handler<Wake> for OutboxActor {
    type Result = ();

    fn handle(&mut self, _wake: Wake, ctx: &mut Self::Context) {
        self.start_round(ctx);
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
