//! The partition actor: one per assigned partition, fed by that partition's own queue.
//!
//! # What it does with a message
//! 1. Decode it with [`shared_events::decode`]: a known event is routed, an unknown event
//!    type is skipped (debug log, offset stored), and bytes that do not decode go to the
//!    dead-letter topic with their key and value as they were.
//! 2. Send the typed event to every actor the [`Registry`] has for its type, and wait for
//!    all of them, each message as a task of its own ([`job`]). A failing actor is retried
//!    with backoff, on its own, then the message is dead-lettered; a failure of the output
//!    storage is retried for as long as it lasts ([`retry`]).
//! 3. Mark the offset done in the [`OffsetTracker`] and store the position it allows.
//!
//! # Order: pipelined, in order per key
//! Up to `max_in_flight` messages of the partition are in progress at once, but never two
//! of the same key: a message whose key (the Kafka key, else the aggregate id) has one in
//! progress waits in that key's lane and starts when the one before it is done. So one
//! user's `UserCreated` is always written before their `UserDeleted` (and one order's
//! confirmation before its receipt), while different users' and orders' events share the
//! work (and the history's fsyncs). Messages that have neither key nor a decodable id need
//! no order and start at once. Offsets complete out of order, which is why the tracker,
//! not the latest completion, decides what is stored.
//!
//! # States
//! - **Running**: keeps one receive from the queue pending while below `max_in_flight`.
//! - **Draining** (revoke or shutdown, [`drain`]): no more receives; what was received is
//!   finished (or given up after the drain timeout, in which case it is not stored and the
//!   next owner of the partition handles it again); then the actor answers and stops.
//!   Dropping the feed releases its hold on the consumer.
//!
//! # Supervision
//! The actor runs under [`actix::Supervisor`], and a panic anywhere in it becomes a restart
//! that loses nothing: it resumes at the last stored offset, seeked back (see [`restart`]).
//!
//! The actor sees the consumer through its [`PartitionFeed`] only (the partition's queue,
//! its offset store, its seek), which the consumer context provides
//! ([`crate::kafka::context`]).

pub mod drain;
mod feed;
mod job;
pub mod restart;
mod retry;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt as _, AsyncContext as _, Context, Handler, Message, SpawnHandle,
    WrapFuture as _,
};
use futures::future::AbortHandle;
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;
use shared_events::Decoded;
use supervision::FaultHook;

pub use drain::{Drain, DrainReport};
pub use feed::PartitionFeed;
use job::{Job, Work, lane_key};

use super::dead_letter::{DeadLetterReason, DeadLetters};
use crate::config::RetryPolicy;
use crate::delivery::EventContext;
use crate::health::ServiceHealth;
use crate::metrics::{Metrics, OUTCOME_SKIPPED, TYPE_UNKNOWN};
use crate::offsets::OffsetTracker;
use crate::registry::Registry;

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

/// A message of this partition that arrived on the consumer's main queue (fetched before
/// the queue was split); handled like the others.
#[derive(Debug)]
pub struct Adopt(pub OwnedMessage);

impl Message for Adopt {
    type Result = ();
}

/// Where the actor is in its life (see the module documentation).
#[derive(Debug)]
enum State {
    Running,
    Draining {
        waiters: Vec<std::sync::mpsc::Sender<DrainReport>>,
    },
    Stopped,
}

/// Owns one partition while it is assigned to this process (see the module docs).
pub struct PartitionActor {
    /// The topic of the partition, in every log line.
    topic: String,
    /// The partition this actor owns, in every log line.
    partition: i32,
    /// The partition's queue, offset store and seek; `None` once drained: dropping it
    /// gives the queue back.
    feed: Option<Arc<dyn PartitionFeed>>,
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
        feed: Arc<dyn PartitionFeed>,
        deps: Arc<PartitionDeps>,
    ) -> Self {
        PartitionActor {
            topic,
            partition,
            feed: Some(feed),
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
        let handle = ctx.spawn(feed.recv().into_actor(self).map(|received, actor, ctx| {
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
                let context = Arc::new(EventContext::of(message.as_ref(), &envelope));
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
        // No feed (drained) or no consumer (shutting down): the partition is released.
        let Some(stored) = self.feed.as_ref().and_then(|feed| feed.store(position)) else {
            return;
        };
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

impl Handler<Adopt> for PartitionActor {
    type Result = ();

    fn handle(&mut self, Adopt(message): Adopt, ctx: &mut Self::Context) {
        if matches!(self.state, State::Running) {
            self.guarded(ctx, |actor, ctx| actor.accept(message, ctx));
        }
    }
}
