//! [`HandlerActor`]: runs an [`EventHandler`] as a supervised actix actor.
//!
//! actix's supervisor restarts an actor that *stops*, but a panic would unwind through the
//! supervisor itself and kill it; so the actor catches the panic (in
//! [`EventHandler::handle`] or [`EventHandler::make_durable`]), answers the message with
//! [`HandlerError::Panicked`] (the partition actor retries it after a backoff), and stops
//! itself, which makes the supervisor restart it with [`EventHandler::restarted`] called.
//! Its mailbox survives the restart, so the messages queued behind the panicking one are
//! not lost either. Each restart is one `actor restarted by its supervisor` line and counts
//! in `coolriel_actor_restarts_total{actor=H::NAME}`.
//!
//! Acknowledgements wait for their batch to be durable (see the
//! [module documentation](super)).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actix::{
    Actor, ActorContext as _, AsyncContext as _, Context, Handler, ResponseFuture, Running,
    SpawnHandle, Supervised,
};
use supervision::panic_message;
use tokio::sync::oneshot;

use super::{EventHandler, SyncBatch};
use crate::delivery::{Deliver, EventContext, HandlerError, Routable};
use crate::metrics::Metrics;
use crate::wait_group::Token;

/// An acknowledgement held until its batch is durable.
type HeldAck = oneshot::Sender<Result<(), HandlerError>>;

/// Runs an [`EventHandler`] as a supervised actor (see the module documentation).
#[derive(Debug)]
pub struct HandlerActor<H> {
    /// The handler; kept across restarts (actix restarts the same value).
    handler: H,
    /// Dropped with the actor, so the service's shutdown can wait until it stopped.
    _watch: Option<Token>,
    /// The message whose panic caused the coming restart, for the restart's log line.
    panicked_on: Option<Arc<EventContext>>,
    /// The panic that caused the coming restart, and how many restarts came before.
    restart_cause: Option<String>,
    restarts: u32,
    /// Where restarts are counted, if anywhere.
    metrics: Option<Arc<Metrics>>,
    /// When the waiting work is made durable.
    batch: SyncBatch,
    /// Acknowledgements of handled messages whose work is not durable yet.
    held: Vec<HeldAck>,
    /// The sync scheduled for the held batch, if any.
    sync_timer: Option<SpawnHandle>,
    /// This actor's number in its pool (0 for an actor alone), in its lifecycle lines.
    worker: usize,
}

impl<H: EventHandler> HandlerActor<H> {
    /// The actor's name in logs and metrics: its handler's ([`EventHandler::NAME`]).
    pub const NAME: &'static str = H::NAME;

    pub fn new(handler: H) -> Self {
        HandlerActor {
            handler,
            _watch: None,
            panicked_on: None,
            restart_cause: None,
            restarts: 0,
            metrics: None,
            batch: SyncBatch::default(),
            held: Vec::new(),
            sync_timer: None,
            worker: 0,
        }
    }

    /// Number this actor within its pool (see [`crate::Registry::route_pool`]).
    pub fn with_worker(mut self, worker: usize) -> Self {
        self.worker = worker;
        self
    }

    /// Make waiting work durable by these rules instead of [`SyncBatch::default`].
    pub fn with_batch(mut self, batch: SyncBatch) -> Self {
        self.batch = SyncBatch {
            max_messages: batch.max_messages.max(1),
            ..batch
        };
        self
    }

    /// Count this actor's restarts (`coolriel_actor_restarts_total{actor=H::NAME}`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub(crate) fn watched(mut self, token: Option<Token>) -> Self {
        self._watch = token;
        self
    }

    /// Make the held batch durable and answer its messages.
    fn sync(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.sync_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let handler = &mut self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| handler.make_durable()));
        let (result, panicked) = match outcome {
            Ok(Ok(())) => (Ok(()), false),
            Ok(Err(error)) => {
                tracing::warn!(
                    actor = H::NAME,
                    messages = held.len(),
                    error = %error,
                    "cannot make the batch durable; its messages will be retried"
                );
                (Err(error), false)
            }
            Err(panic) => {
                let reason = panic_message(panic.as_ref());
                tracing::error!(actor = H::NAME, panic = %reason, "sync panicked");
                self.restart_cause = Some(reason.clone());
                (Err(HandlerError::Panicked(reason)), true)
            }
        };
        for ack in held {
            // A sender that went away (its partition was revoked) needs no answer.
            let _ = ack.send(result.clone());
        }
        if panicked {
            ctx.stop();
        }
    }

    /// Hold `ack` until the batch is durable: sync now if the batch is full, else make
    /// sure a sync is scheduled.
    fn hold(&mut self, ack: HeldAck, ctx: &mut Context<Self>) {
        self.held.push(ack);
        if self.held.len() >= self.batch.max_messages {
            self.sync(ctx);
        } else if self.sync_timer.is_none() {
            self.sync_timer = Some(ctx.run_later(self.batch.interval, |actor, ctx| {
                actor.sync_timer = None;
                actor.sync(ctx);
            }));
        }
    }
}

impl<H: EventHandler> Actor for HandlerActor<H> {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = H::NAME, worker = self.worker, "actor started");
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        // Stopping for a restart or for good: what was done is made durable first.
        self.sync(ctx);
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = H::NAME, worker = self.worker, "actor stopped");
    }
}

impl<H: EventHandler> Supervised for HandlerActor<H> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let context = self.panicked_on.take();
        self.restarts += 1;
        tracing::warn!(
            actor = H::NAME,
            worker = self.worker,
            cause = self.restart_cause.take().as_deref().unwrap_or("stopped"),
            restarts = self.restarts,
            topic = context.as_ref().map(|context| context.topic.as_str()),
            partition = context.as_ref().map(|context| context.partition),
            offset = context.as_ref().map(|context| context.offset),
            event_id = context
                .as_ref()
                .and_then(|context| context.event_id)
                .map(tracing::field::display),
            "actor restarted by its supervisor"
        );
        if let Some(metrics) = &self.metrics {
            metrics.restarted(H::NAME);
        }
        // The restart cleared the context's timers (the batch was synced when stopping).
        self.sync_timer = None;
        self.handler.restarted();
    }
}

impl<H: EventHandler> Handler<Deliver<H::Event>> for HandlerActor<H> {
    type Result = ResponseFuture<Result<(), HandlerError>>;

    fn handle(&mut self, message: Deliver<H::Event>, ctx: &mut Self::Context) -> Self::Result {
        let Deliver { event, context } = message;
        let span = if H::IN_EVENT_SPAN {
            let span = context.span();
            if let [event_type] = H::Event::EVENT_TYPES {
                span.record("event_type", event_type.as_str());
            }
            span
        } else {
            tracing::Span::none()
        };
        let entered = span.enter();
        let handler = &mut self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| handler.handle(event, &context)));
        let outcome = outcome.unwrap_or_else(|panic| {
            let reason = panic_message(panic.as_ref());
            tracing::error!(
                actor = H::NAME,
                panic = %reason,
                "handler panicked; stopping the actor so its supervisor restarts it"
            );
            self.panicked_on = Some(Arc::clone(&context));
            self.restart_cause = Some(reason.clone());
            ctx.stop();
            Err(HandlerError::Panicked(reason))
        });
        drop(entered);
        if outcome.is_err() || !self.handler.has_unsynced_work() {
            return Box::pin(async move { outcome });
        }
        let (ack, answer) = oneshot::channel();
        self.hold(ack, ctx);
        let offset = context.offset;
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(HandlerError::Transient(format!(
                    "{} stopped before making offset {offset} durable",
                    H::NAME
                )))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use actix::Actor as _;
    use shared_events::{LabDateTime, UserCreated, UserType};

    use super::*;

    /// What the test handler did, shared with the test.
    #[derive(Debug, Default)]
    struct Log {
        handled: Vec<i64>,
        /// The number of messages handled before each sync.
        syncs: Vec<usize>,
    }

    /// Leaves its work unsynced until `make_durable`, which fails while `fail_sync`.
    struct Deferred {
        log: Arc<Mutex<Log>>,
        unsynced: bool,
        fail_sync: bool,
    }

    impl EventHandler for Deferred {
        type Event = UserCreated;
        const NAME: &'static str = "DeferredActor";

        fn handle(&mut self, event: UserCreated, _: &EventContext) -> Result<(), HandlerError> {
            self.log.lock().expect("log").handled.push(event.id);
            self.unsynced = true;
            Ok(())
        }

        fn has_unsynced_work(&self) -> bool {
            self.unsynced
        }

        fn make_durable(&mut self) -> Result<(), HandlerError> {
            if self.fail_sync {
                return Err(HandlerError::Transient("disk full".into()));
            }
            let mut log = self.log.lock().expect("log");
            let handled = log.handled.len();
            log.syncs.push(handled);
            self.unsynced = false;
            Ok(())
        }
    }

    fn deliver(id: i64) -> Deliver<UserCreated> {
        Deliver {
            event: UserCreated {
                id,
                name: "Ada".into(),
                email: "ada@example.com".into(),
                user_type: UserType::Client,
            },
            context: Arc::new(EventContext {
                topic: "user-events".into(),
                partition: 0,
                offset: id,
                key: Some(id.to_string()),
                timestamp_ms: None,
                event_id: None,
                datetime: LabDateTime::now(),
            }),
        }
    }

    /// A `Deferred` handler's actor, syncing at `max_messages` or after `interval`.
    fn start(
        fail_sync: bool,
        max_messages: usize,
        interval: Duration,
    ) -> (actix::Addr<HandlerActor<Deferred>>, Arc<Mutex<Log>>) {
        let batch = SyncBatch {
            max_messages,
            interval,
        };
        let log = Arc::new(Mutex::new(Log::default()));
        let handler = Deferred {
            log: Arc::clone(&log),
            unsynced: false,
            fail_sync,
        };
        (HandlerActor::new(handler).with_batch(batch).start(), log)
    }

    #[actix::test]
    async fn acknowledgements_wait_for_the_sync_of_a_full_batch() {
        let (actor, log) = start(false, 3, Duration::from_secs(3600));
        let first = actix::spawn(actor.send(deliver(1)));
        let second = actix::spawn(actor.send(deliver(2)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !first.is_finished() && !second.is_finished(),
            "acknowledged before any sync"
        );
        assert!(log.lock().expect("log").syncs.is_empty());

        // The third fills the batch: one sync, then all three are acknowledged.
        actor
            .send(deliver(3))
            .await
            .expect("delivered")
            .expect("durable");
        for held in [first, second] {
            held.await
                .expect("joined")
                .expect("delivered")
                .expect("durable");
        }
        assert_eq!(log.lock().expect("log").syncs, vec![3]);
    }

    #[actix::test]
    async fn the_interval_syncs_a_partial_batch() {
        let (actor, log) = start(false, 100, Duration::from_millis(5));
        let answers = futures::future::join_all((1..=4).map(|id| actor.send(deliver(id)))).await;
        for answer in answers {
            answer.expect("delivered").expect("durable");
        }
        let log = log.lock().expect("log");
        assert_eq!(log.handled, vec![1, 2, 3, 4]);
        assert_eq!(
            log.syncs.last(),
            Some(&4),
            "the last sync covered every message"
        );
    }

    #[actix::test]
    async fn a_failed_sync_fails_every_message_of_its_batch() {
        let (actor, _log) = start(true, 2, Duration::from_secs(3600));
        let answers = futures::future::join_all((1..=2).map(|id| actor.send(deliver(id)))).await;
        for answer in answers {
            let error = answer.expect("delivered").expect_err("not durable");
            assert!(error.is_retryable(), "{error}");
        }
    }
}
