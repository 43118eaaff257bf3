//! How one route of a message is retried.
//!
//! A failing actor is retried with backoff, on its own (the other routes of the message
//! are not asked again), up to `retry.max_attempts`; then the message is dead-lettered. A
//! failure of the output storage itself ([`HandlerError::Storage`]: disk full, read-only)
//! is retried with backoff for as long as it lasts instead, never dead-lettered: the email
//! is written once space returns.

use std::sync::Arc;
use std::time::Instant;

use actix::MailboxError;
use shared_events::EventEnvelope;

use super::PartitionDeps;
use crate::delivery::{EventContext, HandlerError};
use crate::registry::Route;

/// A route that still failed after its retries.
pub(super) struct RouteFailure {
    pub(super) actor: &'static str,
    pub(super) error: HandlerError,
    pub(super) attempts: u32,
}

/// Deliver to `route` until it answers `Ok`, or its failure once retrying is over.
pub(super) async fn deliver_with_retry(
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
