//! The handler actors of a service and the registry that routes events to them: each
//! email kind a pool of `COOLRIEL_EMAIL_WRITERS` supervised [`HandlerActor`]s, the history
//! one actor (one writer for its file), each actor on an arbiter (a thread) of its own
//! because they do blocking file I/O, and each watched so that the shutdown can wait until
//! it stopped.

use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Arbiter, Recipient, Supervisor};
use shared_events::{OrderCreated, OrderPaid, UserCreated, UserDeleted};

use crate::config::Config;
use crate::delivery::Deliver;
use crate::handlers::email::{EmailEvent, Emails, Mailer};
use crate::handlers::history::History;
use crate::handlers::{EventHandler, HandlerActor, SyncBatch};
use crate::metrics::Metrics;
use crate::output::OutputDir;
use crate::registry::Registry;
use crate::templates::Templates;
use crate::wait_group::WaitGroup;

/// Start the standard handler actors: welcome and goodbye emails, order confirmations and
/// payment receipts, and the history; and the registry that routes events to them.
pub(super) fn start(
    config: &Config,
    templates: &Arc<Templates>,
    output: Arc<OutputDir>,
    actors: &WaitGroup,
    metrics: &Arc<Metrics>,
) -> (Registry, HandlerThreads) {
    let mailer = Mailer::new(Arc::clone(templates), output).with_text_files(config.text_files);
    let mut pools = HandlerPools {
        threads: HandlerThreads::default(),
        actors,
        metrics,
        batch: config.sync_batch,
    };
    let mut registry = Registry::with_metrics(Arc::clone(metrics));
    pools.route_emails::<UserCreated>(&mut registry, &mailer, config.email_writers);
    pools.route_emails::<UserDeleted>(&mut registry, &mailer, config.email_writers);
    pools.route_emails::<OrderCreated>(&mut registry, &mailer, config.email_writers);
    pools.route_emails::<OrderPaid>(&mut registry, &mailer, config.email_writers);
    let history = config.history_path();
    pools.route(&mut registry, 1, || History::new(history.clone()));
    (registry, pools.threads)
}

/// The arbiters the handler actors run on.
#[derive(Debug, Default)]
pub(super) struct HandlerThreads {
    arbiters: Vec<Arbiter>,
}

impl HandlerThreads {
    /// Wait (at most `timeout`) until every actor watched by `actors` stopped, then stop
    /// and join the arbiters.
    pub(super) async fn stop(self, actors: WaitGroup, timeout: Duration) {
        if !actors.wait(timeout).await {
            tracing::warn!("some handler actors did not stop in time");
        }
        for arbiter in self.arbiters {
            arbiter.stop();
            let _ = arbiter.join();
        }
    }
}

/// Starts pools of handler actors and registers them.
struct HandlerPools<'a> {
    threads: HandlerThreads,
    actors: &'a WaitGroup,
    metrics: &'a Arc<Metrics>,
    batch: SyncBatch,
}

impl HandlerPools<'_> {
    /// A pool of `writers` email actors for events `E`, routed under `E::ACTOR`.
    fn route_emails<E: EmailEvent>(
        &mut self,
        registry: &mut Registry,
        mailer: &Mailer,
        writers: usize,
    ) {
        self.route(registry, writers, || Emails::<E>::new(mailer.clone()));
    }

    /// A pool of `workers` actors running the handlers `make` gives, routed under
    /// `H::NAME`.
    fn route<H: EventHandler>(
        &mut self,
        registry: &mut Registry,
        workers: usize,
        make: impl Fn() -> H,
    ) {
        let pool = self.start(workers, make);
        registry.route_pool::<H::Event>(H::NAME, recipients(pool));
    }

    fn start<H: EventHandler>(
        &mut self,
        workers: usize,
        make: impl Fn() -> H,
    ) -> Vec<Addr<HandlerActor<H>>> {
        (0..workers.max(1))
            .map(|worker| {
                let token = self.actors.token();
                let actor = HandlerActor::new(make())
                    .with_metrics(Arc::clone(self.metrics))
                    .with_batch(self.batch)
                    .with_worker(worker);
                let arbiter = Arbiter::new();
                let addr =
                    Supervisor::start_in_arbiter(&arbiter.handle(), move |_| actor.watched(token));
                self.threads.arbiters.push(arbiter);
                addr
            })
            .collect()
    }
}

fn recipients<H: EventHandler>(
    pool: Vec<Addr<HandlerActor<H>>>,
) -> Vec<Recipient<Deliver<H::Event>>> {
    pool.into_iter().map(|worker| worker.recipient()).collect()
}
