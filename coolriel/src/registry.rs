//! Which actors receive which events, and the typed message they receive.
//!
//! A handler actor implements `Handler<Deliver<T>>` for the event type `T` it cares about
//! (one event struct: [`UserCreated`], [`UserDeleted`], [`OrderCreated`], [`OrderPaid`],
//! [`OrderDeleted`]; or the whole [`EventEnvelope`] for every event), and one line
//! registers it:
//!
//! ```text
//! registry.route::<UserCreated>("UserCreatedActor", user_created.recipient());
//! ```
//!
//! The partition actor asks the registry for the routes of a decoded event's type and
//! sends each of them its typed message; the message is done when all of them answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::{MailboxError, Message, Recipient};
use futures::future::BoxFuture;
use shared_events::{
    Event, EventEnvelope, EventType, LabDateTime, OrderCreated, OrderDeleted, OrderPaid,
    UserCreated, UserDeleted,
};
use uuid::Uuid;

use crate::handlers::HandlerError;
use crate::metrics::Metrics;

/// Where a message came from, for handlers that log or record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka key, read as UTF-8 (our keys are aggregate ids: the user id for user
    /// events, the order id for order events); `None` for the lab's messages.
    pub key: Option<String>,
    /// The message timestamp the broker holds (create or log-append time), in ms.
    pub timestamp_ms: Option<i64>,
    /// `None` for the lab's messages, which are identified by topic/partition/offset.
    pub event_id: Option<Uuid>,
    /// The event's own timestamp, the lab's `datetime` field.
    pub datetime: LabDateTime,
}

impl EventContext {
    /// The span of the work for this message: `event{event_id, event_type, topic,
    /// partition, offset}`, `event_id` as the store logs it (absent for the lab's
    /// messages), `event_type` left for the caller to record when it knows it. Entered by
    /// the partition actor and by each handler actor, so one event can be followed from
    /// the store's request log to the files written for it.
    pub fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "event",
            event_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            topic = %self.topic,
            partition = self.partition,
            offset = self.offset,
        );
        if let Some(event_id) = self.event_id {
            span.record("event_id", tracing::field::display(event_id));
        }
        span
    }
}

/// The typed message a handler actor receives: the event it asked for and its origin.
#[derive(Debug, Clone)]
pub struct Deliver<T> {
    pub event: T,
    pub context: Arc<EventContext>,
}

impl<T: Send + 'static> Message for Deliver<T> {
    /// Acknowledgement: `Ok` once the work is durable; an error to retry or dead-letter.
    type Result = Result<(), HandlerError>;
}

/// A payload a handler can subscribe to: the event types it covers and how to take it
/// out of a decoded envelope.
pub trait Routable: Clone + Send + 'static {
    const EVENT_TYPES: &'static [EventType];
    fn extract(envelope: &EventEnvelope) -> Option<Self>;
}

/// Each event struct is routable on its own: `Event::$name($name)` has type `$name`.
macro_rules! routable_event {
    ($($name:ident),+ $(,)?) => {$(
        impl Routable for $name {
            const EVENT_TYPES: &'static [EventType] = &[EventType::$name];
            fn extract(envelope: &EventEnvelope) -> Option<Self> {
                match &envelope.event {
                    Event::$name(event) => Some(event.clone()),
                    _ => None,
                }
            }
        }
    )+};
}

routable_event!(
    UserCreated,
    UserDeleted,
    OrderCreated,
    OrderPaid,
    OrderDeleted
);

/// Every event, whole (the history wants them all).
impl Routable for EventEnvelope {
    const EVENT_TYPES: &'static [EventType] = &EventType::ALL;
    fn extract(envelope: &EventEnvelope) -> Option<Self> {
        Some(envelope.clone())
    }
}

/// The answer of one delivery: the handler's own result, or why none came back.
pub type DeliveryFuture = BoxFuture<'static, Result<Result<(), HandlerError>, MailboxError>>;

type DeliverFn =
    dyn Fn(&EventEnvelope, &Arc<EventContext>, Duration) -> Option<DeliveryFuture> + Send + Sync;

/// Whether an actor is running: its mailbox is open (it is alive, or being restarted by
/// its supervisor). Holds the actor weakly, so asking never keeps an actor alive.
pub type LivenessFn = dyn Fn() -> bool + Send + Sync;

/// One actor registered for one event type.
#[derive(Clone)]
pub struct Route {
    actor: &'static str,
    deliver: Arc<DeliverFn>,
    running: Arc<LivenessFn>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").field("actor", &self.actor).finish()
    }
}

impl Route {
    /// The actor's name, for logs and dead-letter reasons.
    pub fn actor(&self) -> &'static str {
        self.actor
    }

    /// Whether the actor is running (see [`LivenessFn`]).
    pub fn is_running(&self) -> bool {
        (self.running)()
    }

    /// Send the event to the actor; the future answers within `timeout`. `None` when the
    /// event does not carry this route's payload (cannot happen for a route found by type).
    pub fn deliver(
        &self,
        envelope: &EventEnvelope,
        context: &Arc<EventContext>,
        timeout: Duration,
    ) -> Option<DeliveryFuture> {
        (self.deliver)(envelope, context, timeout)
    }
}

/// Event type → the actors that handle it.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    routes: BTreeMap<EventType, Vec<Route>>,
    /// The service's metrics, for the actors registered here (their restarts are counted).
    metrics: Arc<Metrics>,
}

impl Registry {
    /// A registry with metrics of its own (tests).
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry whose actors count into `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Registry {
            routes: BTreeMap::new(),
            metrics,
        }
    }

    /// The service's metrics: an actor started for an extra route counts its restarts
    /// there with [`HandlerActor::with_metrics`](crate::HandlerActor::with_metrics).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Send every event carrying a `T` to `recipient`, under the name `actor`.
    pub fn route<T: Routable>(
        &mut self,
        actor: &'static str,
        recipient: Recipient<Deliver<T>>,
    ) -> &mut Self {
        self.route_pool(actor, vec![recipient])
    }

    /// Send every event carrying a `T` to one of `workers` (in turn), under the name
    /// `actor`: a pool of identical actors sharing the work. Order per key holds whatever
    /// worker a message goes to, since the partition actor sends a key's next message
    /// only once the previous one is acknowledged. An empty pool registers nothing.
    pub fn route_pool<T: Routable>(
        &mut self,
        actor: &'static str,
        workers: Vec<Recipient<Deliver<T>>>,
    ) -> &mut Self {
        if workers.is_empty() {
            tracing::error!(actor, "no worker to route to; route not registered");
            return self;
        }
        let turn = AtomicUsize::new(0);
        let watched: Vec<_> = workers.iter().map(Recipient::downgrade).collect();
        let running: Arc<LivenessFn> = Arc::new(move || {
            watched.iter().all(|worker| {
                worker
                    .upgrade()
                    .is_some_and(|recipient| recipient.connected())
            })
        });
        let deliver: Arc<DeliverFn> = Arc::new(move |envelope, context, timeout| {
            let event = T::extract(envelope)?;
            let worker = &workers[turn.fetch_add(1, Ordering::Relaxed) % workers.len()];
            let request = worker
                .send(Deliver {
                    event,
                    context: Arc::clone(context),
                })
                .timeout(timeout);
            Some(Box::pin(request) as DeliveryFuture)
        });
        for &event_type in T::EVENT_TYPES {
            self.routes.entry(event_type).or_default().push(Route {
                actor,
                deliver: Arc::clone(&deliver),
                running: Arc::clone(&running),
            });
        }
        self
    }

    /// The routes for one event type, in registration order.
    pub fn routes(&self, event_type: EventType) -> &[Route] {
        self.routes.get(&event_type).map_or(&[], Vec::as_slice)
    }

    /// The names of the actors an event type goes to.
    pub fn actors_for(&self, event_type: EventType) -> Vec<&'static str> {
        self.routes(event_type).iter().map(Route::actor).collect()
    }

    /// Every registered actor once, with the way to tell whether it is running
    /// (readiness asks; the probes hold the actors weakly).
    pub fn liveness(&self) -> Vec<ActorLiveness> {
        let mut seen = BTreeMap::new();
        for route in self.routes.values().flatten() {
            seen.entry(route.actor)
                .or_insert_with(|| Arc::clone(&route.running));
        }
        seen.into_iter()
            .map(|(actor, running)| ActorLiveness { actor, running })
            .collect()
    }
}

/// One registered actor and its liveness probe (see [`Registry::liveness`]).
#[derive(Clone)]
pub struct ActorLiveness {
    pub actor: &'static str,
    running: Arc<LivenessFn>,
}

impl ActorLiveness {
    pub fn is_running(&self) -> bool {
        (self.running)()
    }
}

impl std::fmt::Debug for ActorLiveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorLiveness")
            .field("actor", &self.actor)
            .field("running", &self.is_running())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::{Actor, Context, Handler};
    use shared_events::UserType;
    use std::sync::Mutex;

    /// Records which payloads it received.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<Deliver<UserCreated>> for Recorder {
        type Result = Result<(), HandlerError>;
        fn handle(&mut self, message: Deliver<UserCreated>, _: &mut Context<Self>) -> Self::Result {
            self.0
                .lock()
                .expect("lock")
                .push(format!("created {}", message.event.id));
            Ok(())
        }
    }

    impl Handler<Deliver<EventEnvelope>> for Recorder {
        type Result = Result<(), HandlerError>;
        fn handle(
            &mut self,
            message: Deliver<EventEnvelope>,
            _: &mut Context<Self>,
        ) -> Self::Result {
            self.0
                .lock()
                .expect("lock")
                .push(format!("any {}", message.event.event_type()));
            Ok(())
        }
    }

    fn context() -> Arc<EventContext> {
        Arc::new(EventContext {
            topic: "user-events".into(),
            partition: 0,
            offset: 0,
            key: Some("1".into()),
            timestamp_ms: None,
            event_id: None,
            datetime: LabDateTime::now(),
        })
    }

    #[test]
    fn each_event_type_goes_to_the_actors_registered_for_it() {
        actix::System::new().block_on(async {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let recorder = Recorder(Arc::clone(&seen)).start();
            let mut registry = Registry::new();
            registry
                .route::<UserCreated>("UserCreatedActor", recorder.clone().recipient())
                .route::<EventEnvelope>("HistoryActor", recorder.recipient());
            assert_eq!(
                registry.actors_for(EventType::UserCreated),
                ["UserCreatedActor", "HistoryActor"]
            );
            assert_eq!(
                registry.actors_for(EventType::UserDeleted),
                ["HistoryActor"]
            );

            let events = [
                Event::UserCreated(UserCreated {
                    id: 1,
                    name: "Ada".into(),
                    email: "ada@example.com".into(),
                    user_type: UserType::Client,
                }),
                Event::UserDeleted(UserDeleted {
                    id: 1,
                    name: "Ada".into(),
                    email: "ada@example.com".into(),
                    user_type: UserType::Client,
                }),
            ];
            for event in events {
                let envelope = EventEnvelope::new(event);
                for route in registry.routes(envelope.event_type()) {
                    let delivery = route
                        .deliver(&envelope, &context(), Duration::from_secs(5))
                        .expect("the route's payload is in the event");
                    delivery.await.expect("delivered").expect("handled");
                }
            }
            assert_eq!(
                *seen.lock().expect("lock"),
                ["created 1", "any UserCreated", "any UserDeleted"]
            );
        });
    }

    #[test]
    fn a_pool_shares_the_events_between_its_workers_in_turn() {
        actix::System::new().block_on(async {
            let seen: Vec<_> = (0..2).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
            let workers = seen
                .iter()
                .map(|log| Recorder(Arc::clone(log)).start().recipient())
                .collect();
            let mut registry = Registry::new();
            registry.route_pool::<UserCreated>("UserCreatedActor", workers);
            assert_eq!(
                registry.actors_for(EventType::UserCreated),
                ["UserCreatedActor"],
                "one route, under the pool's name"
            );
            for id in 1..=4 {
                let envelope = EventEnvelope::new(Event::UserCreated(UserCreated {
                    id,
                    name: "Ada".into(),
                    email: "ada@example.com".into(),
                    user_type: UserType::Client,
                }));
                for route in registry.routes(EventType::UserCreated) {
                    let delivery = route
                        .deliver(&envelope, &context(), Duration::from_secs(5))
                        .expect("the route's payload is in the event");
                    delivery.await.expect("delivered").expect("handled");
                }
            }
            assert_eq!(*seen[0].lock().expect("lock"), ["created 1", "created 3"]);
            assert_eq!(*seen[1].lock().expect("lock"), ["created 2", "created 4"]);
        });
    }

    #[test]
    fn each_event_struct_is_taken_out_of_its_own_event_only() {
        use shared_events::Money;
        let paid = OrderPaid {
            id: 12,
            user_id: 7,
            user_name: "Ada".into(),
            user_email: "ada@example.com".into(),
            user_type: UserType::Manager,
            items: Vec::new(),
            total: Money::ZERO,
        };
        let envelope = EventEnvelope::new(Event::OrderPaid(paid.clone()));
        assert_eq!(OrderPaid::extract(&envelope), Some(paid));
        assert_eq!(OrderCreated::extract(&envelope), None);
        assert_eq!(OrderDeleted::extract(&envelope), None);
        assert_eq!(UserCreated::extract(&envelope), None);
        assert_eq!(OrderCreated::EVENT_TYPES, [EventType::OrderCreated]);
        assert_eq!(OrderPaid::EVENT_TYPES, [EventType::OrderPaid]);
        assert_eq!(OrderDeleted::EVENT_TYPES, [EventType::OrderDeleted]);
        assert_eq!(<EventEnvelope as Routable>::EVENT_TYPES, EventType::ALL);
    }
}
