//! Handler actors and their supervision.
//!
//! A handler is a plain synchronous [`EventHandler`]; [`HandlerActor`] runs it as an actix
//! actor meant to be started under [`actix::Supervisor`]. actix's supervisor restarts an
//! actor that *stops*, but a panic would unwind through the supervisor itself and kill it;
//! so the actor catches the panic, answers the message with [`HandlerError::Panicked`]
//! (the partition actor retries it after a backoff), and stops itself, which makes the
//! supervisor restart it with [`EventHandler::restarted`] called. Its mailbox survives the
//! restart, so the messages queued behind the panicking one are not lost either.

pub mod email;
pub mod history;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actix::{Actor, ActorContext as _, Context, Handler, Supervised};

use crate::metrics::Metrics;
use crate::registry::{Deliver, EventContext, Routable};
use crate::wait_group::Token;

/// Why a handler did not finish its work. Carried as text: actor replies cross threads
/// and are logged or written into a dead-letter header, never matched on by cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// May work next time (I/O, a full disk, a busy actor): retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way every time (a template that cannot render this event):
    /// dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
    /// The handler panicked; its actor was restarted and the message is retried.
    #[error("handler panicked: {0}")]
    Panicked(String),
}

impl HandlerError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, HandlerError::Permanent(_))
    }
}

/// The work done for one kind of event. Runs on its actor's own arbiter thread, so
/// blocking file I/O is fine here.
pub trait EventHandler: Unpin + Send + 'static {
    /// The payload it handles (`UserCreated`, `OrderPaid`, ..., or `EventEnvelope` for all).
    type Event: Routable;
    /// The actor's name in logs, dead-letter reasons and the registry.
    const NAME: &'static str;

    /// Handle one event. Must be idempotent: a message is delivered at least once.
    fn handle(&mut self, event: &Self::Event, context: &EventContext) -> Result<(), HandlerError>;

    /// Called when the actor restarts after a panic: drop whatever state the panic may
    /// have left half-updated.
    fn restarted(&mut self) {}
}

/// Runs an [`EventHandler`] as a supervised actor (see the module documentation).
#[derive(Debug)]
pub struct HandlerActor<H> {
    /// The handler; kept across restarts (actix restarts the same value).
    handler: H,
    /// Dropped with the actor, so the service's shutdown can wait until it stopped.
    _watch: Option<Token>,
    /// The message whose panic caused the coming restart, for the restart's log line.
    panicked_on: Option<Arc<EventContext>>,
    /// Where restarts are counted, if anywhere.
    metrics: Option<Arc<Metrics>>,
}

impl<H: EventHandler> HandlerActor<H> {
    pub fn new(handler: H) -> Self {
        HandlerActor {
            handler,
            _watch: None,
            panicked_on: None,
            metrics: None,
        }
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
}

impl<H: EventHandler> Actor for HandlerActor<H> {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = H::NAME, "actor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = H::NAME, "actor stopped");
    }
}

impl<H: EventHandler> Supervised for HandlerActor<H> {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let context = self.panicked_on.take();
        tracing::warn!(
            actor = H::NAME,
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
        self.handler.restarted();
    }
}

impl<H: EventHandler> Handler<Deliver<H::Event>> for HandlerActor<H> {
    type Result = Result<(), HandlerError>;

    fn handle(&mut self, message: Deliver<H::Event>, ctx: &mut Self::Context) -> Self::Result {
        let span = message.context.span();
        if let [event_type] = H::Event::EVENT_TYPES {
            span.record("event_type", event_type.as_str());
        }
        let _entered = span.enter();
        let handler = &mut self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            handler.handle(&message.event, &message.context)
        }));
        outcome.unwrap_or_else(|panic| {
            let reason = panic_message(panic.as_ref());
            tracing::error!(
                actor = H::NAME,
                panic = %reason,
                "handler panicked; stopping the actor so its supervisor restarts it"
            );
            self.panicked_on = Some(Arc::clone(&message.context));
            ctx.stop();
            Err(HandlerError::Panicked(reason))
        })
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}
