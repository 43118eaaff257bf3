//! The email handlers, each with the template of the user's type, written as an HTML file
//! plus its plain-text alternative under the output directory:
//!
//! | event          | actor                | email              | files                          |
//! |----------------|----------------------|--------------------|--------------------------------|
//! | `UserCreated`  | [`UserCreatedActor`] | welcome            | `welcome_{user_id}.html/.txt`  |
//! | `UserDeleted`  | [`UserDeletedActor`] | goodbye            | `goodbye_{user_id}.html/.txt`  |
//! | `OrderCreated` | [`OrderCreatedActor`]| order confirmation | `order_{order_id}.html/.txt`   |
//! | `OrderPaid`    | [`OrderPaidActor`]   | payment receipt    | `receipt_{order_id}.html/.txt` |
//!
//! `OrderDeleted` writes no email: only the history records it. Deleting an order is a store
//! operation (the stock is put back), not something the customer asked for, and what to
//! tell them (a cancellation? a refund when `was_paid`?) is a business decision nobody has
//! made; a handler for it would be one more [`EventHandler`] and one registry line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use shared_events::{OrderCreated, OrderPaid, UserCreated, UserDeleted, UserType};

use super::{EventHandler, HandlerActor, HandlerError};
use crate::output::{replace_file, sync_file_system};
use crate::registry::EventContext;
use crate::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, Templates, email_file_name,
};

/// Renders and writes emails. Each email actor has its own (clones share the templates,
/// not the files waiting for their sync).
#[derive(Debug, Clone)]
pub struct Mailer {
    /// Compiled once at start-up, shared by every email actor.
    templates: Arc<Templates>,
    /// `OUTPUT_DIR`.
    dir: PathBuf,
    /// Files written since the last [`Mailer::sync`]: whole, not durable yet.
    unsynced: Vec<PathBuf>,
}

impl Mailer {
    pub fn new(templates: Arc<Templates>, dir: impl Into<PathBuf>) -> Self {
        Mailer {
            templates,
            dir: dir.into(),
            unsynced: Vec::new(),
        }
    }

    /// Whether files were written since the last [`Mailer::sync`].
    pub fn has_unsynced(&self) -> bool {
        !self.unsynced.is_empty()
    }

    /// Make the files written since the last call durable, all at once.
    pub fn sync(&mut self) -> Result<(), HandlerError> {
        if self.unsynced.is_empty() {
            return Ok(());
        }
        sync_file_system(&self.dir, &self.unsynced).map_err(|error| {
            HandlerError::from_io(format_args!("cannot sync {}", self.dir.display()), &error)
        })?;
        self.unsynced.clear();
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Render and write a user email (welcome, goodbye), named after the user's id.
    pub fn send_user(
        &mut self,
        kind: EmailKind,
        user: UserView<'_>,
        context: &EventContext,
    ) -> Result<PathBuf, HandlerError> {
        let data = EmailData::new(
            user.id,
            user.name,
            user.email,
            user.user_type,
            &context.datetime,
        );
        self.send(kind, user.user_type, user.id, &data)
    }

    /// Render and write an order email (confirmation, receipt), named after the order's id.
    pub fn send_order(
        &mut self,
        kind: EmailKind,
        order: OrderView<'_>,
        context: &EventContext,
    ) -> Result<PathBuf, HandlerError> {
        let data = OrderEmailData::new(order, &context.datetime);
        self.send(kind, order.user_type, order.order_id, &data)
    }

    /// Render `data` with the `kind` template of `user_type` and write `{prefix}_{id}`
    /// (durable at the next [`Mailer::sync`]). The plain-text file is written first, so an
    /// HTML file on disk always has its alternative beside it. A render error is permanent
    /// (the same event will fail the same way), a write error transient.
    fn send(
        &mut self,
        kind: EmailKind,
        user_type: UserType,
        id: i64,
        data: &impl Serialize,
    ) -> Result<PathBuf, HandlerError> {
        let rendered = self
            .templates
            .render(kind, user_type, data)
            .map_err(|error| HandlerError::Permanent(error.to_string()))?;
        let text_path = self.dir.join(email_file_name(kind, id, Format::Text));
        let html_path = self.dir.join(email_file_name(kind, id, Format::Html));
        replace_file(&text_path, rendered.text.as_bytes())
            .and_then(|()| replace_file(&html_path, rendered.html.as_bytes()))
            .map_err(|error| {
                HandlerError::from_io(
                    format_args!("cannot write {}", error.path.display()),
                    &error.source,
                )
            })?;
        self.unsynced.push(text_path);
        self.unsynced.push(html_path.clone());
        Ok(html_path)
    }
}

/// The two [`EventHandler`] methods of an email handler, whose files are made durable by
/// its `mailer` in batches.
macro_rules! durable_through_mailer {
    () => {
        fn has_unsynced_work(&self) -> bool {
            self.mailer.has_unsynced()
        }

        fn make_durable(&mut self) -> Result<(), HandlerError> {
            self.mailer.sync()
        }
    };
}

/// The fields of a user both events carry.
#[derive(Debug, Clone, Copy)]
pub struct UserView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub email: &'a str,
    pub user_type: UserType,
}

/// Welcome email on `UserCreated`.
#[derive(Debug)]
pub struct WelcomeEmails {
    /// Renders the welcome templates and writes the files.
    mailer: Mailer,
}

impl WelcomeEmails {
    pub fn new(mailer: Mailer) -> Self {
        WelcomeEmails { mailer }
    }
}

impl EventHandler for WelcomeEmails {
    type Event = UserCreated;
    const NAME: &'static str = "UserCreatedActor";
    durable_through_mailer!();

    fn handle(&mut self, event: &UserCreated, context: &EventContext) -> Result<(), HandlerError> {
        let user = UserView {
            id: event.id,
            name: &event.name,
            email: &event.email,
            user_type: event.user_type,
        };
        let path = self.mailer.send_user(EmailKind::Welcome, user, context)?;
        log_written(Self::NAME, event.id, None, &path);
        Ok(())
    }
}

/// Goodbye email on `UserDeleted`.
#[derive(Debug)]
pub struct GoodbyeEmails {
    /// Renders the goodbye templates and writes the files.
    mailer: Mailer,
}

impl GoodbyeEmails {
    pub fn new(mailer: Mailer) -> Self {
        GoodbyeEmails { mailer }
    }
}

impl EventHandler for GoodbyeEmails {
    type Event = UserDeleted;
    const NAME: &'static str = "UserDeletedActor";
    durable_through_mailer!();

    fn handle(&mut self, event: &UserDeleted, context: &EventContext) -> Result<(), HandlerError> {
        let user = UserView {
            id: event.id,
            name: &event.name,
            email: &event.email,
            user_type: event.user_type,
        };
        let path = self.mailer.send_user(EmailKind::Goodbye, user, context)?;
        log_written(Self::NAME, event.id, None, &path);
        Ok(())
    }
}

/// Order confirmation on `OrderCreated`: the items table and the total.
#[derive(Debug)]
pub struct OrderConfirmationEmails {
    /// Renders the order confirmation templates and writes the files.
    mailer: Mailer,
}

impl OrderConfirmationEmails {
    pub fn new(mailer: Mailer) -> Self {
        OrderConfirmationEmails { mailer }
    }
}

impl EventHandler for OrderConfirmationEmails {
    type Event = OrderCreated;
    const NAME: &'static str = "OrderCreatedActor";
    durable_through_mailer!();

    fn handle(&mut self, event: &OrderCreated, context: &EventContext) -> Result<(), HandlerError> {
        let path = self
            .mailer
            .send_order(EmailKind::OrderConfirmation, event.into(), context)?;
        log_written(Self::NAME, event.user_id, Some(event.id), &path);
        Ok(())
    }
}

/// Payment receipt on `OrderPaid`.
#[derive(Debug)]
pub struct PaymentReceiptEmails {
    /// Renders the payment receipt templates and writes the files.
    mailer: Mailer,
}

impl PaymentReceiptEmails {
    pub fn new(mailer: Mailer) -> Self {
        PaymentReceiptEmails { mailer }
    }
}

impl EventHandler for PaymentReceiptEmails {
    type Event = OrderPaid;
    const NAME: &'static str = "OrderPaidActor";
    durable_through_mailer!();

    fn handle(&mut self, event: &OrderPaid, context: &EventContext) -> Result<(), HandlerError> {
        let path = self
            .mailer
            .send_order(EmailKind::PaymentReceipt, event.into(), context)?;
        log_written(Self::NAME, event.user_id, Some(event.id), &path);
        Ok(())
    }
}

/// `order_id` is `None` for the user emails.
fn log_written(actor: &'static str, user_id: i64, order_id: Option<i64>, path: &Path) {
    // Runs in the event's span (event_id, topic, partition, offset): one line per email,
    // the end of the trail that starts at the store's request.
    tracing::info!(
        actor,
        user_id,
        order_id,
        file = %path.display(),
        "email written"
    );
}

/// Writes welcome emails; started under `actix::Supervisor`.
pub type UserCreatedActor = HandlerActor<WelcomeEmails>;
/// Writes goodbye emails; started under `actix::Supervisor`.
pub type UserDeletedActor = HandlerActor<GoodbyeEmails>;
/// Writes order confirmations; started under `actix::Supervisor`.
pub type OrderCreatedActor = HandlerActor<OrderConfirmationEmails>;
/// Writes payment receipts; started under `actix::Supervisor`.
pub type OrderPaidActor = HandlerActor<PaymentReceiptEmails>;
