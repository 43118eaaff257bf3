//! The email handler, [`Emails`], one type for the four kinds: each event type says which
//! email it is answered with ([`EmailEvent`]), rendered with the template of the user's
//! type and written as an HTML file under the output directory (with
//! `COOLRIEL_TEXT_FILES=true`, its plain-text alternative too, as `.txt` beside it,
//! written first):
//!
//! | event          | actor                | email              | file                                 |
//! |----------------|----------------------|--------------------|--------------------------------------|
//! | `UserCreated`  | [`UserCreatedActor`] | welcome            | `welcome_{user_id}.html` (`.txt`)    |
//! | `UserDeleted`  | [`UserDeletedActor`] | goodbye            | `goodbye_{user_id}.html` (`.txt`)    |
//! | `OrderCreated` | [`OrderCreatedActor`]| order confirmation | `order_{order_id}.html` (`.txt`)     |
//! | `OrderPaid`    | [`OrderPaidActor`]   | payment receipt    | `receipt_{order_id}.html` (`.txt`)   |
//!
//! The text part is off by default: the lab wrote HTML files only, and every extra file is
//! an extra inode, which is what writing emails costs (see [`crate::output`]).
//!
//! Each of these actors runs as a pool of `COOLRIEL_EMAIL_WRITERS` workers on threads of
//! their own (see [`crate::service`]): creating files is kernel work that two threads do
//! faster than one, and the partition actors already keep one key's events in order.
//!
//! `OrderDeleted` writes no email: only the history records it. Deleting an order is a store
//! operation (the stock is put back), not something the customer asked for, and what to
//! tell them (a cancellation? a refund when `was_paid`?) is a business decision nobody has
//! made; a handler for it would be one more [`EmailEvent`] and one registry line.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use shared_events::{OrderCreated, OrderPaid, UserCreated, UserDeleted, UserType};

use super::{EventHandler, HandlerActor};
use crate::delivery::{EventContext, HandlerError, Routable};
use crate::output::OutputDir;
use crate::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, Templates, UserView, email_file_name,
};

/// An event answered with one email: which kind, under which actor name, written from
/// what.
pub trait EmailEvent: Routable + std::fmt::Debug {
    /// The email it is answered with.
    const KIND: EmailKind;
    /// The name of the actor that writes it, in logs and metrics.
    const ACTOR: &'static str;
    /// Whom the email is for and what it shows.
    fn subject(&self) -> EmailSubject<'_>;
}

/// What an email is written from: a user (welcome, goodbye) or an order (confirmation,
/// receipt, with the customer's fields).
#[derive(Debug, Clone, Copy)]
pub enum EmailSubject<'a> {
    User(UserView<'a>),
    Order(OrderView<'a>),
}

/// Which email each event gets, under which actor name, written from what.
macro_rules! email_events {
    ($($event:ident => $kind:ident, $actor:literal, $subject:ident;)+) => {$(
        impl EmailEvent for $event {
            const KIND: EmailKind = EmailKind::$kind;
            const ACTOR: &'static str = $actor;
            fn subject(&self) -> EmailSubject<'_> {
                EmailSubject::$subject(self.into())
            }
        }
    )+};
}

email_events! {
    UserCreated => Welcome, "UserCreatedActor", User;
    UserDeleted => Goodbye, "UserDeletedActor", User;
    OrderCreated => OrderConfirmation, "OrderCreatedActor", Order;
    OrderPaid => PaymentReceipt, "OrderPaidActor", Order;
}

/// The email handler for events `E` (see the module documentation); its files are made
/// durable by its mailer in batches.
#[derive(Debug)]
pub struct Emails<E> {
    /// Renders the templates of `E::KIND` and writes the files.
    mailer: Mailer,
    event: PhantomData<fn(E)>,
}

impl<E: EmailEvent> Emails<E> {
    pub fn new(mailer: Mailer) -> Self {
        Emails {
            mailer,
            event: PhantomData,
        }
    }
}

impl<E: EmailEvent> EventHandler for Emails<E> {
    type Event = E;
    const NAME: &'static str = E::ACTOR;

    fn handle(&mut self, event: E, context: &EventContext) -> Result<(), HandlerError> {
        let subject = event.subject();
        let path = self.mailer.send(E::KIND, subject, context)?;
        let (user_id, order_id) = match subject {
            EmailSubject::User(user) => (user.id, None),
            EmailSubject::Order(order) => (order.user_id, Some(order.order_id)),
        };
        // Runs in the event's span (event_id, topic, partition, offset): one line per
        // email, the end of the trail that starts at the store's request.
        tracing::info!(
            actor = Self::NAME,
            user_id,
            order_id,
            file = %path.display(),
            "email written"
        );
        Ok(())
    }

    fn has_unsynced_work(&self) -> bool {
        self.mailer.has_unsynced()
    }

    fn make_durable(&mut self) -> Result<(), HandlerError> {
        self.mailer.sync()
    }
}

/// Writes welcome emails; started under `actix::Supervisor`.
pub type UserCreatedActor = HandlerActor<Emails<UserCreated>>;
/// Writes goodbye emails; started under `actix::Supervisor`.
pub type UserDeletedActor = HandlerActor<Emails<UserDeleted>>;
/// Writes order confirmations; started under `actix::Supervisor`.
pub type OrderCreatedActor = HandlerActor<Emails<OrderCreated>>;
/// Writes payment receipts; started under `actix::Supervisor`.
pub type OrderPaidActor = HandlerActor<Emails<OrderPaid>>;

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

    /// Render and write the `kind` email of `subject`, named after the user's id (welcome,
    /// goodbye) or the order's (confirmation, receipt).
    pub fn send(
        &mut self,
        kind: EmailKind,
        subject: EmailSubject<'_>,
        context: &EventContext,
    ) -> Result<PathBuf, HandlerError> {
        match subject {
            EmailSubject::User(user) => {
                let data = EmailData::new(
                    user.id,
                    user.name,
                    user.email,
                    user.user_type,
                    &context.datetime,
                );
                self.write(kind, user.user_type, user.id, &data)
            }
            EmailSubject::Order(order) => {
                let data = OrderEmailData::new(order, &context.datetime);
                self.write(kind, order.user_type, order.order_id, &data)
            }
        }
    }

    /// Render `data` with the `kind` template of `user_type` and write `{prefix}_{id}.html`
    /// (and `.txt` first, with text files on), durable at the next [`Mailer::sync`]. A
    /// render error is permanent (the same event will fail the same way), a write error
    /// transient.
    fn write(
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
