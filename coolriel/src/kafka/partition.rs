//! The partition actor: one per assigned partition, fed by that partition's own queue.
//!
//! # What it does with a message
//! 1. Decode it with [`shared_events::decode`]: a known event is routed, an unknown event
//!    type is skipped (debug log, offset stored), and bytes that do not decode go to the
//!    dead-letter topic with their key and value as they were.
//! 2. Send the typed event to every actor the [`Registry`] has for its type, and wait for
//!    all of them. A failing actor is retried with backoff, on its own (the others are not
//!    asked again), up to `retry.max_attempts`; then the message is dead-lettered. A
//!    failure of the output storage itself ([`HandlerError::Storage`]: disk full,
//!    read-only) is retried with backoff for as long as it lasts instead, never
//!    dead-lettered: the email is written once space returns.
//! 3. Mark the offset done in the [`OffsetTracker`] and store the position it allows.
//!
//! # Order: pipelined, in order per key
//! Up to `max_in_flight` messages of the partition are in progress at once, but never two
//! of the same key: a message whose key (the Kafka key, else the aggregate id) has one in
//! progress waits in that key's lane and starts when the one before it is done. So one
//! user's `UserCreated` is always written before their `UserDeleted` (and one order's
//! confirmation before its receipt), while different users' and orders' events share the
//! work (and the history's fsyncs). Messages that have neither
//! key nor a decodable id need no order and start at once. Offsets complete out of order,
//! which is why the tracker, not the latest completion, decides what is stored.
//!
//! # States
//! - **Running**: keeps one receive from the queue pending while below `max_in_flight`.
//! - **Draining** (revoke or shutdown): no more receives; what was received is finished
//!   (or given up after the drain timeout, in which case it is not stored and the next
//!   owner of the partition handles it again); then the actor answers and stops. Dropping
//!   the queue releases its hold on the consumer.
//!
//! # Supervision
//! The actor runs under [`actix::Supervisor`]. Every way in (a received message, a
//! finished job, a drain, an adopted message, the job futures themselves) runs inside
//! `catch_unwind`: a panic is logged, and the actor stops itself so that the supervisor
//! restarts it (a panic left to unwind would kill the supervisor with it). The restart
//! loses nothing, though it throws away everything the panic may have left half-done:
//!
//! - the jobs in flight (each a task of its own, see `PartitionActor::start`) are
//!   aborted, and any that finished meanwhile is ignored (it belongs to the actor's
//!   previous generation), so their offsets never complete in the old [`OffsetTracker`]; it is replaced by one that resumes at the
//!   last stored position ([`OffsetTracker::resuming_at`]), and never hands out that
//!   position or one below it again (no offset is stored twice or moved back);
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
//! The test-only fault hook ([`PartitionDeps::faults`], `COOLRIEL_FAULT_PARTITION_PANIC`)
//! makes the actor panic on receiving a message, mid-batch, through this same path.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext as _, ActorFutureExt as _, AsyncContext as _, Context, Handler,
    MailboxError, Message, SpawnHandle, Supervised, WrapFuture as _,
};
use futures::FutureExt as _;
use futures::future::join_all;
use futures::future::{AbortHandle, Abortable};
use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::message::OwnedMessage;
use rdkafka::{Message as _, Offset, TopicPartitionList};
use shared_events::{Decoded, EventEnvelope};
use supervision::{FaultHook, panic_message};
use tracing::Instrument as _;

use super::LiveConsumer;
use super::context::CoolrielContext;
use super::dead_letter::{DeadLetterReason, DeadLetters};
use crate::config::RetryPolicy;
use crate::handlers::HandlerError;
use crate::health::ServiceHealth;
use crate::metrics::{
    Metrics, OUTCOME_DEAD_LETTERED, OUTCOME_OK, OUTCOME_SKIPPED, TYPE_UNDECODABLE, TYPE_UNKNOWN,
};
use crate::offsets::OffsetTracker;
use crate::registry::{EventContext, Registry, Route};
use crate::wait_group::Token;

/// What every partition actor of the service shares.
#[derive(Debug)]
pub struct PartitionDeps {
    /// Event type → handler actors.
    pub registry: Arc<Registry>,
    /// Where undecodable messages and exhausted retries go.
    pub dead_letters: DeadLetters,
    /// How failed handlers are retried.
    pub retry: RetryPolicy,
    /// A handler that does not answer within this time counts as failed.
    pub handler_timeout: Duration,
    /// Received and unfinished messages per partition before fetching pauses.
    pub max_in_flight: usize,
    /// Outcomes, handler latencies, retries, dead letters, restarts.
    pub metrics: Arc<Metrics>,
    /// Where a restarted actor says it is recovering.
    pub health: Arc<ServiceHealth>,
    /// Test-only: when it fires, the actor panics on the message it just received (see
    /// the module documentation). Never fires in production, where nothing arms it.
    pub faults: Arc<FaultHook>,
}

/// A partition's own queue, split from the consumer.
pub struct PartitionFeed {
    /// The messages of this partition only, split from the consumer.
    queue: StreamPartitionQueue<CoolrielContext>,
    /// Dropped after the queue: the shutdown path waits for every token before it closes
    /// the consumer, so the consumer is closed on its own thread, not by whichever
    /// thread happens to drop the last queue.
    _released: Token,
}

impl PartitionFeed {
    pub(crate) fn new(queue: StreamPartitionQueue<CoolrielContext>, released: Token) -> Self {
        PartitionFeed {
            queue,
            _released: released,
        }
    }
}

impl std::fmt::Debug for PartitionFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionFeed").finish_non_exhaustive()
    }
}

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

/// A message of this partition that arrived on the consumer's main queue (fetched before
/// the queue was split); handled like the others.
#[derive(Debug)]
pub struct Adopt(pub OwnedMessage);

impl Message for Adopt {
    type Result = ();
}

#[derive(Debug)]
enum State {
    Running,
    Draining {
        waiters: Vec<std::sync::mpsc::Sender<DrainReport>>,
    },
    Stopped,
}

/// One received message on its way through the handlers.
struct Job {
    message: Arc<OwnedMessage>,
    work: Work,
}

enum Work {
    Dispatch {
        envelope: Arc<EventEnvelope>,
        context: Arc<EventContext>,
    },
    DeadLetter(DeadLetterReason),
}

/// Owns one partition while it is assigned to this process (see the module docs).
pub struct PartitionActor {
    /// The topic of the partition, in every log line.
    topic: String,
    /// The partition this actor owns, in every log line.
    partition: i32,
    /// `None` once drained: dropping it gives the queue back.
    feed: Option<Arc<PartitionFeed>>,
    /// For storing offsets. Weak, so only the consumer thread ever owns the consumer.
    consumer: Weak<LiveConsumer>,
    /// Registry, dead letters and retry settings, shared by all partition actors.
    deps: Arc<PartitionDeps>,
    /// Which offsets are done, so only a safe position is stored.
    tracker: OffsetTracker,
    /// Per key in progress: the messages of that key waiting their turn.
    lanes: HashMap<Vec<u8>, VecDeque<(i64, Job)>>,
    /// The pending receive from the queue, if any.
    fetch: Option<SpawnHandle>,
    /// The last position stored, for the logs and the drain report.
    stored: Option<i64>,
    /// Running, or draining with the callers to answer (see the module docs).
    state: State,
    /// The panic that is stopping the actor, for its supervisor's restart.
    crashed: Option<String>,
    /// Restarts after a panic so far.
    restarts: u32,
    /// After a restart: the highest offset the crashed actor had received; the partition
    /// has recovered once everything up to it is stored again.
    recovering_until: Option<i64>,
    /// The seek back to the stored position failed: retried before fetching again.
    resume_pending: Option<i64>,
    /// `actor stopped` was logged (a drained actor may stop twice, see the module docs).
    stop_logged: bool,
    /// The messages in progress, each a task of its own (see `PartitionActor::start`),
    /// by offset: aborted when the actor restarts or stops.
    jobs: HashMap<i64, AbortHandle>,
    /// Bumped at each restart, so that a job of the crashed actor that finished anyway
    /// is not counted by the new one.
    generation: u64,
}

impl std::fmt::Debug for PartitionActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionActor")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("in_flight", &self.tracker.in_flight())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl PartitionActor {
    pub const NAME: &'static str = "PartitionActor";

    pub(crate) fn new(
        topic: String,
        partition: i32,
        feed: Arc<PartitionFeed>,
        consumer: Weak<LiveConsumer>,
        deps: Arc<PartitionDeps>,
    ) -> Self {
        PartitionActor {
            topic,
            partition,
            feed: Some(feed),
            consumer,
            deps,
            tracker: OffsetTracker::new(),
            lanes: HashMap::new(),
            jobs: HashMap::new(),
            generation: 0,
            fetch: None,
            stored: None,
            state: State::Running,
            crashed: None,
            restarts: 0,
            recovering_until: None,
            resume_pending: None,
            stop_logged: false,
        }
    }

    /// Run one step of the actor's work; a panic in it becomes a supervised restart.
    fn guarded(
        &mut self,
        ctx: &mut Context<Self>,
        step: impl FnOnce(&mut Self, &mut Context<Self>),
    ) {
        if let Err(cause) = supervision::catch_panic(|| step(self, ctx)) {
            self.crash(cause, ctx);
        }
    }

    /// Stop after a panic, so that the supervisor restarts the actor (see the module docs).
    fn crash(&mut self, cause: String, ctx: &mut Context<Self>) {
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
        let Some(consumer) = self.consumer.upgrade() else {
            // Shutting down: the partition is about to be released anyway.
            return true;
        };
        // Asynchronous (timeout 0): the version barrier that discards the messages
        // fetched before the seek is set before this returns.
        match consumer.seek(
            &self.topic,
            self.partition,
            Offset::Offset(position),
            Duration::ZERO,
        ) {
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
    fn retry_resume(&mut self, ctx: &mut Context<Self>) {
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

    /// Keep one receive pending while running and below the in-flight limit.
    fn fetch_next(&mut self, ctx: &mut Context<Self>) {
        if self.fetch.is_some()
            || !matches!(self.state, State::Running)
            || self.resume_pending.is_some()
            || self.tracker.in_flight() >= self.deps.max_in_flight
        {
            return;
        }
        let Some(feed) = self.feed.clone() else {
            return;
        };
        let receive = async move { feed.queue.recv().await.map(|message| message.detach()) };
        let handle = ctx.spawn(receive.into_actor(self).map(|received, actor, ctx| {
            actor.fetch = None;
            match received {
                Ok(message) => actor.guarded(ctx, |actor, ctx| {
                    actor.accept(message, ctx);
                    actor.fetch_next(ctx);
                }),
                Err(error) => {
                    tracing::warn!(
                        actor = Self::NAME,
                        topic = %actor.topic,
                        partition = actor.partition,
                        error = %error,
                        "cannot receive from the partition queue; trying again"
                    );
                    ctx.run_later(Duration::from_millis(200), |actor, ctx| {
                        actor.fetch_next(ctx);
                    });
                }
            }
        }));
        self.fetch = Some(handle);
    }

    /// Take a received message in: decode it and start it, or queue it behind its key.
    fn accept(&mut self, message: OwnedMessage, ctx: &mut Context<Self>) {
        let offset = message.offset();
        self.tracker.begin(offset);
        if self.deps.faults.fire() {
            panic!(
                "injected fault (test only): partition actor panic on {}/{} offset {offset}",
                self.topic, self.partition
            );
        }
        let message = Arc::new(message);
        let work = match shared_events::decode(message.payload().unwrap_or_default()) {
            Ok(Decoded::Event(envelope)) => {
                let context = Arc::new(event_context(message.as_ref(), &envelope));
                Work::Dispatch {
                    envelope: Arc::new(envelope),
                    context,
                }
            }
            Ok(Decoded::UnknownType { event_type }) => {
                tracing::debug!(
                    actor = Self::NAME,
                    topic = %self.topic,
                    partition = self.partition,
                    offset,
                    event_type = %event_type,
                    "unknown event type; skipped"
                );
                self.deps.metrics.event_done(TYPE_UNKNOWN, OUTCOME_SKIPPED);
                self.finish(offset, None, ctx);
                return;
            }
            Err(error) => {
                tracing::warn!(
                    actor = Self::NAME,
                    topic = %self.topic,
                    partition = self.partition,
                    offset,
                    error = %error,
                    "message cannot be decoded; dead-lettering it"
                );
                Work::DeadLetter(DeadLetterReason {
                    error: error.to_string(),
                    attempts: 0,
                })
            }
        };
        let lane = lane_key(&message, &work);
        let job = Job { message, work };
        match lane {
            None => self.start(offset, None, job, ctx),
            Some(key) => {
                if let Some(waiting) = self.lanes.get_mut(&key) {
                    waiting.push_back((offset, job));
                } else {
                    self.lanes.insert(key.clone(), VecDeque::new());
                    self.start(offset, Some(key), job, ctx);
                }
            }
        }
    }

    /// Run `job` as a task of its own on this thread, which tells the actor when it is
    /// done ([`JobDone`]). Not a future of the actor's context: actix polls every future
    /// of a context at each wake-up, so with hundreds of messages in flight each message
    /// cost as many polls (and span entries); a task is polled only when it is woken.
    fn start(&mut self, offset: i64, lane: Option<Vec<u8>>, job: Job, ctx: &mut Context<Self>) {
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
    fn abort_jobs(&mut self) {
        for (_, job) in self.jobs.drain() {
            job.abort();
        }
    }

    /// A message is done: store what the tracker allows, start the next of its key.
    fn finish(&mut self, offset: i64, lane: Option<Vec<u8>>, ctx: &mut Context<Self>) {
        self.tracker.complete(offset);
        if let Some(position) = self.tracker.take_committable() {
            self.store(position);
        }
        if let Some(key) = lane {
            let next = self.lanes.get_mut(&key).and_then(VecDeque::pop_front);
            match next {
                Some((next_offset, job)) => self.start(next_offset, Some(key), job, ctx),
                None => {
                    self.lanes.remove(&key);
                }
            }
        }
        match self.state {
            State::Running => self.fetch_next(ctx),
            State::Draining { .. } if self.tracker.in_flight() == 0 => self.finish_drain(ctx),
            State::Draining { .. } | State::Stopped => {}
        }
    }

    fn store(&mut self, position: i64) {
        let Some(consumer) = self.consumer.upgrade() else {
            return;
        };
        let mut list = TopicPartitionList::new();
        let stored = list
            .add_partition_offset(&self.topic, self.partition, Offset::Offset(position))
            .and_then(|()| consumer.store_offsets(&list));
        match stored {
            Ok(()) => {
                self.stored = Some(position);
                if self.recovering_until.is_some_and(|until| position > until) {
                    self.recovering_until = None;
                    self.deps.health.end_recovery(&self.topic, self.partition);
                    tracing::info!(
                        actor = Self::NAME,
                        topic = %self.topic,
                        partition = self.partition,
                        offset = position,
                        "partition recovered: everything the crashed actor had received is handled again"
                    );
                }
            }
            // The partition was revoked under us; its next owner resumes from the
            // last committed position, so nothing is lost.
            Err(error) => tracing::warn!(
                actor = Self::NAME,
                topic = %self.topic,
                partition = self.partition,
                offset = position,
                error = %error,
                "cannot store offset"
            ),
        }
    }

    fn finish_drain(&mut self, ctx: &mut Context<Self>) {
        let waiters = match std::mem::replace(&mut self.state, State::Stopped) {
            State::Draining { waiters } => waiters,
            State::Running | State::Stopped => Vec::new(),
        };
        self.feed = None;
        if self.recovering_until.take().is_some() {
            self.deps.health.end_recovery(&self.topic, self.partition);
        }
        let report = DrainReport {
            topic: self.topic.clone(),
            partition: self.partition,
            position: self.stored,
            unfinished: self.tracker.in_flight(),
        };
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

/// The lane of a message: its Kafka key, else the aggregate id (the lab sends no key,
/// but the id is what our key would have been), else none (no order needed).
fn lane_key(message: &OwnedMessage, work: &Work) -> Option<Vec<u8>> {
    if let Some(key) = message.key() {
        return Some(key.to_vec());
    }
    match work {
        Work::Dispatch { envelope, .. } => Some(envelope.event.key().into_bytes()),
        Work::DeadLetter(_) => None,
    }
}

/// Where a decoded message came from, for its handlers.
pub(crate) fn event_context<M: rdkafka::Message>(
    message: &M,
    envelope: &EventEnvelope,
) -> EventContext {
    EventContext {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned()),
        timestamp_ms: message.timestamp().to_millis(),
        event_id: envelope.event_id,
        datetime: envelope.datetime,
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

/// A route that still failed after its retries.
struct RouteFailure {
    actor: &'static str,
    error: HandlerError,
    attempts: u32,
}

async fn deliver_with_retry(
    route: &Route,
    envelope: &EventEnvelope,
    context: &Arc<EventContext>,
    deps: &PartitionDeps,
) -> Result<(), RouteFailure> {
    let mut attempt = 0_u32;
    let mut storage_failures = 0_u32;
    loop {
        attempt += 1;
        let Some(delivery) = route.deliver(envelope, context, deps.handler_timeout) else {
            return Ok(());
        };
        let started = Instant::now();
        let answer = delivery.await;
        deps.metrics
            .handler_latency(route.actor(), started.elapsed().as_secs_f64());
        let error = match answer {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => error,
            // The actor is between a panic and its restart, or gone.
            Err(MailboxError::Closed) => {
                HandlerError::Transient("the actor's mailbox is closed".to_owned())
            }
            Err(MailboxError::Timeout) => {
                HandlerError::Transient(format!("no answer within {:?}", deps.handler_timeout))
            }
        };
        if let HandlerError::Storage(_) = &error {
            // The disk, not the message: it works once space returns, so it waits for as
            // long as that takes (the offset is not stored meanwhile; readiness reports
            // the directory), and is never dead-lettered.
            attempt -= 1;
            storage_failures += 1;
            let backoff = deps.retry.backoff(storage_failures);
            deps.metrics.retried(route.actor());
            if storage_failures == 1 || storage_failures.is_multiple_of(20) {
                tracing::warn!(
                    actor = route.actor(),
                    failures = storage_failures,
                    retry_in = ?backoff,
                    error = %error,
                    "output storage refuses writes; retrying until it takes them again"
                );
            }
            actix::clock::sleep(backoff).await;
            continue;
        }
        if !error.is_retryable() || attempt >= deps.retry.max_attempts {
            tracing::warn!(
                actor = route.actor(),
                attempts = attempt,
                error = %error,
                "handler failed; giving up on this message"
            );
            return Err(RouteFailure {
                actor: route.actor(),
                error,
                attempts: attempt,
            });
        }
        let backoff = deps.retry.backoff(attempt);
        deps.metrics.retried(route.actor());
        tracing::warn!(
            actor = route.actor(),
            attempt,
            retry_in = ?backoff,
            error = %error,
            "handler failed; retrying"
        );
        actix::clock::sleep(backoff).await;
    }
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if matches!(self.state, State::Stopped) {
            // Drained, and restarted only because its address was still held.
            return;
        }
        if self.restarts == 0 {
            tracing::info!(
                actor = Self::NAME,
                topic = %self.topic,
                partition = self.partition,
                "actor started"
            );
        }
        if self.resume_pending.is_some() {
            self.retry_resume(ctx);
        } else {
            self.fetch_next(ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Given up at a drain's timeout, or stopping for a restart: unfinished messages
        // are not stored, and the partition's next owner (or this actor restarted)
        // handles them again.
        self.abort_jobs();
        if self.crashed.is_some() || self.stop_logged {
            return;
        }
        self.stop_logged = true;
        tracing::info!(
            actor = Self::NAME,
            topic = %self.topic,
            partition = self.partition,
            offset = ?self.stored,
            "actor stopped"
        );
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
                let report = DrainReport {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    position: self.stored,
                    unfinished,
                };
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

impl Handler<Drain> for PartitionActor {
    type Result = ();

    fn handle(&mut self, drain: Drain, ctx: &mut Self::Context) {
        self.guarded(ctx, |actor, ctx| actor.drain(drain, ctx));
    }
}

impl PartitionActor {
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
                let _ = drain.reply.send(DrainReport {
                    topic: self.topic.clone(),
                    partition: self.partition,
                    position: self.stored,
                    unfinished: 0,
                });
                return;
            }
        }
        if self.tracker.in_flight() == 0 {
            self.finish_drain(ctx);
        }
    }
}

impl Handler<Adopt> for PartitionActor {
    type Result = ();

    fn handle(&mut self, Adopt(message): Adopt, ctx: &mut Self::Context) {
        if matches!(self.state, State::Running) {
            self.guarded(ctx, |actor, ctx| actor.accept(message, ctx));
        }
    }
}
