//! The email handlers, each with the template of the user's type, written as an HTML file
//! under the output directory (with `COOLRIEL_TEXT_FILES=true`, its plain-text alternative
//! too, as `.txt` beside it, written first):
//!
//! | event          | actor                | email              | file                                 |
//! |----------------|----------------------|--------------------|--------------------------------------|
//! | `UserCreated`  | [`UserCreatedActor`] | welcome            | `welcome_{user_id}.html` (`.txt`)    |
//! | `UserDeleted`  | [`UserDeletedActor`] | goodbye            | `goodbye_{user_id}.html` (`.txt`)    |
//! | `OrderCreated` | [`OrderCreatedActor`]| order confirmation | `order_{order_id}.html` (`.txt`)     |
//! | `OrderPaid`    | [`OrderPaidActor`]   | payment receipt    | `receipt_{order_id}.html` (`.txt`)   |
//!
//! The text part is off by default: the lab wrote HTML files only, and every extra file is
//! an extra inode, which is what writing emails costs (BENCHMARKS.md, case 7).
//!
//! Each of these actors runs as a pool of `COOLRIEL_EMAIL_WRITERS` workers on threads of
//! their own (see [`crate::service`]): creating files is kernel work that two threads do
//! faster than one, and the partition actors already keep one key's events in order.
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
use crate::output::OutputDir;
use crate::registry::EventContext;
use crate::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, Templates, email_file_name,
};

/// Renders and writes emails. Each email actor has its own (clones share the templates
/// and the open output directory, not the files waiting for their sync).
#[derive(Debug, Clone)]
pub struct Mailer {
    /// Compiled once at start-up, shared by every email actor.
    templates: Arc<Templates>,
    /// `OUTPUT_DIR`, opened once.
    output: Arc<OutputDir>,
    /// `COOLRIEL_TEXT_FILES`: also write each email's plain-text alternative as `.txt`.
    text_files: bool,
    /// Names of the files written since the last [`Mailer::sync`]: whole, not durable yet.
    unsynced: Vec<String>,
}

impl Mailer {
    /// A mailer writing the HTML file of each email only (see [`Mailer::with_text_files`]).
    pub fn new(templates: Arc<Templates>, output: Arc<OutputDir>) -> Self {
        Mailer {
            templates,
            output,
            text_files: false,
            unsynced: Vec::new(),
        }
    }

    /// Also write the plain-text alternative of each email, `{prefix}_{id}.txt`, before
    /// its HTML file (so an HTML file on disk always has its alternative beside it).
    pub fn with_text_files(mut self, text_files: bool) -> Self {
        self.text_files = text_files;
        self
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
        self.output.sync(&self.unsynced).map_err(|error| {
            HandlerError::from_io(
                format_args!("cannot sync {}", self.output.path().display()),
                &error,
            )
        })?;
        self.unsynced.clear();
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        self.output.path()
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

    /// Render `data` with the `kind` template of `user_type` and write `{prefix}_{id}.html`
    /// (and `.txt` first, with text files on), durable at the next [`Mailer::sync`]. A
    /// render error is permanent (the same event will fail the same way), a write error
    /// transient.
    fn send(
        &mut self,
        kind: EmailKind,
        user_type: UserType,
        id: i64,
        data: &impl Serialize,
    ) -> Result<PathBuf, HandlerError> {
        let formats: &[Format] = if self.text_files {
            &[Format::Text, Format::Html]
        } else {
            &[Format::Html]
        };
        for &format in formats {
            let rendered = self
                .templates
                .render_format(kind, user_type, format, data)
                .map_err(|error| HandlerError::Permanent(error.to_string()))?;
            let name = email_file_name(kind, id, format);
            self.output
                .publish(&name, rendered.as_bytes())
                .map_err(|error| {
                    HandlerError::from_io(
                        format_args!("cannot write {}", error.path.display()),
                        &error.source,
                    )
                })?;
            self.unsynced.push(name);
        }
        Ok(self
            .output
            .path()
            .join(email_file_name(kind, id, Format::Html)))
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
