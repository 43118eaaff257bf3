//! Which actors receive which events.
//!
//! A handler actor implements `Handler<Deliver<T>>` for the [`Routable`] payload `T` it
//! cares about (one event struct, such as `UserCreated`, or the whole [`EventEnvelope`] for
//! every event; the message types are in [`crate::delivery`]), and one line registers it:
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

use actix::{MailboxError, Recipient};
use futures::future::BoxFuture;
use shared_events::{EventEnvelope, EventType};

use crate::delivery::{Deliver, EventContext, HandlerError, Routable};
use crate::metrics::Metrics;

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
    use std::sync::Mutex;

    use actix::{Actor, Context, Handler};
    use shared_events::{Event, LabDateTime, UserCreated, UserDeleted, UserType};

    use super::*;

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
}
