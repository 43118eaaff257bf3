//! One message's way through the handlers, run as a task of its own.
//!
//! [`PartitionActor::start`] spawns the [`Job`] of a received message on the actor's
//! thread; the task delivers it to every route of its event type (with retries, see
//! [`super::retry`]) or dead-letters it, and reports [`JobDone`] to the actor, which then
//! stores what the tracker allows and starts the next message of the key. The tasks are
//! kept by offset so that a restart or a stop can abort them, and carry the actor's
//! generation so that one finishing after a restart is not counted by the new actor.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::{AsyncContext as _, Context, Handler, Message};
use futures::FutureExt as _;
use futures::future::{AbortHandle, Abortable, join_all};
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;
use shared_events::EventEnvelope;
use supervision::panic_message;
use tracing::Instrument as _;

use super::retry::{RouteFailure, deliver_with_retry};
use super::{PartitionActor, PartitionDeps};
use crate::delivery::EventContext;
use crate::kafka::dead_letter::DeadLetterReason;
use crate::metrics::{OUTCOME_DEAD_LETTERED, OUTCOME_OK, TYPE_UNDECODABLE};

/// One received message on its way through the handlers.
pub(super) struct Job {
    pub(super) message: Arc<OwnedMessage>,
    pub(super) work: Work,
}

pub(super) enum Work {
    Dispatch {
        envelope: Arc<EventEnvelope>,
        context: Arc<EventContext>,
    },
    DeadLetter(DeadLetterReason),
}

impl PartitionActor {
    /// Run `job` as a task of its own on this thread, which tells the actor when it is
    /// done ([`JobDone`]). Not a future of the actor's context: actix polls every future
    /// of a context at each wake-up, so with hundreds of messages in flight each message
    /// cost as many polls (and span entries); a task is polled only when it is woken.
    pub(super) fn start(
        &mut self,
        offset: i64,
        lane: Option<Vec<u8>>,
        job: Job,
        ctx: &mut Context<Self>,
    ) {
        let deps = Arc::clone(&self.deps);
        let span = job_span(&job);
        let work = AssertUnwindSafe(async move { run_job(job, &deps).await }.instrument(span))
            .catch_unwind();
        let actor = ctx.address();
        let generation = self.generation;
        let (abort, registration) = AbortHandle::new_pair();
        let task = Abortable::new(
            async move {
                let outcome = work.await.map_err(|panic| panic_message(panic.as_ref()));
                actor.do_send(JobDone {
                    generation,
                    offset,
                    lane,
                    outcome,
                });
            },
            registration,
        );
        actix::spawn(task);
        self.jobs.insert(offset, abort);
    }

    /// Stop every job in progress (a restart, a drain given up, a stop).
    pub(super) fn abort_jobs(&mut self) {
        for (_, job) in self.jobs.drain() {
            job.abort();
        }
    }
}

/// A job started by `PartitionActor::start` is over: handled (or dead-lettered), or its
/// task panicked.
#[derive(Debug)]
struct JobDone {
    /// The actor's [`PartitionActor::generation`] when the job started.
    generation: u64,
    offset: i64,
    lane: Option<Vec<u8>>,
    /// The panic's message when the job panicked.
    outcome: Result<(), String>,
}

impl Message for JobDone {
    type Result = ();
}

impl Handler<JobDone> for PartitionActor {
    type Result = ();

    fn handle(&mut self, done: JobDone, ctx: &mut Self::Context) {
        if done.generation != self.generation || self.jobs.remove(&done.offset).is_none() {
            // A job of the actor before its restart: its message is handled again.
            return;
        }
        match done.outcome {
            Ok(()) => self.guarded(ctx, |actor, ctx| {
                actor.finish(done.offset, done.lane, ctx);
            }),
            Err(cause) => self.crash(cause, ctx),
        }
    }
}

/// The lane of a message: its Kafka key, else the aggregate id (the lab sends no key,
/// but the id is what our key would have been), else none (no order needed).
pub(super) fn lane_key(message: &OwnedMessage, work: &Work) -> Option<Vec<u8>> {
    if let Some(key) = message.key() {
        return Some(key.to_vec());
    }
    match work {
        Work::Dispatch { envelope, .. } => Some(envelope.event.key().into_bytes()),
        Work::DeadLetter(_) => None,
    }
}

/// The span of a message's work (see [`EventContext::span`]); an undecodable message has
/// no event id nor type.
fn job_span(job: &Job) -> tracing::Span {
    match &job.work {
        Work::Dispatch { envelope, context } => {
            let span = context.span();
            span.record("event_type", envelope.event_type().as_str());
            span
        }
        Work::DeadLetter(_) => tracing::info_span!(
            "event",
            topic = %job.message.topic(),
            partition = job.message.partition(),
            offset = job.message.offset(),
        ),
    }
}

/// Everything one message needs before its offset may be stored. Runs in the message's
/// span, which says which message the log lines are about.
async fn run_job(job: Job, deps: &PartitionDeps) {
    match job.work {
        Work::Dispatch { envelope, context } => {
            let event_type = envelope.event_type().as_str();
            let routes = deps.registry.routes(envelope.event_type());
            let outcomes = join_all(
                routes
                    .iter()
                    .map(|route| deliver_with_retry(route, &envelope, &context, deps)),
            )
            .await;
            let failures: Vec<RouteFailure> =
                outcomes.into_iter().filter_map(Result::err).collect();
            if failures.is_empty() {
                tracing::debug!(actor = PartitionActor::NAME, "message handled");
                deps.metrics.event_done(event_type, OUTCOME_OK);
                return;
            }
            let reason = DeadLetterReason {
                error: failures
                    .iter()
                    .map(|failure| format!("{}: {}", failure.actor, failure.error))
                    .collect::<Vec<_>>()
                    .join("; "),
                attempts: failures
                    .iter()
                    .map(|failure| failure.attempts)
                    .max()
                    .unwrap_or(0),
            };
            deps.dead_letters.send(&job.message, &reason).await;
            deps.metrics.dead_lettered();
            deps.metrics.event_done(event_type, OUTCOME_DEAD_LETTERED);
        }
        Work::DeadLetter(reason) => {
            deps.dead_letters.send(&job.message, &reason).await;
            deps.metrics.dead_lettered();
            deps.metrics
                .event_done(TYPE_UNDECODABLE, OUTCOME_DEAD_LETTERED);
        }
    }
}
