//! The email handlers: a welcome email on `UserCreated`, a goodbye email on `UserDeleted`,
//! each with the template of the user's type, written as `welcome_{id}.html` plus
//! `welcome_{id}.txt` under the output directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared_events::{UserCreated, UserDeleted, UserType};

use super::{EventHandler, HandlerActor, HandlerError};
use crate::output::write_atomically;
use crate::registry::EventContext;
use crate::templates::{EmailData, EmailKind, Format, Templates, email_file_name};

/// Renders and writes emails.
#[derive(Debug, Clone)]
pub struct Mailer {
    /// Compiled once at start-up, shared by both email actors.
    templates: Arc<Templates>,
    /// `OUTPUT_DIR`.
    dir: PathBuf,
}

impl Mailer {
    pub fn new(templates: Arc<Templates>, dir: impl Into<PathBuf>) -> Self {
        Mailer {
            templates,
            dir: dir.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Render and write one email. The plain-text file is written first, so an HTML file
    /// on disk always has its alternative beside it.
    pub fn send(
        &self,
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
        let rendered = self
            .templates
            .render(kind, user.user_type, &data)
            .map_err(|error| HandlerError::Permanent(error.to_string()))?;
        let text_path = self.dir.join(email_file_name(kind, user.id, Format::Text));
        let html_path = self.dir.join(email_file_name(kind, user.id, Format::Html));
        write_atomically(&text_path, rendered.text.as_bytes())
            .and_then(|()| write_atomically(&html_path, rendered.html.as_bytes()))
            .map_err(|error| HandlerError::Transient(error.to_string()))?;
        Ok(html_path)
    }
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

    fn handle(&mut self, event: &UserCreated, context: &EventContext) -> Result<(), HandlerError> {
        let user = UserView {
            id: event.id,
            name: &event.name,
            email: &event.email,
            user_type: event.user_type,
        };
        let path = self.mailer.send(EmailKind::Welcome, user, context)?;
        log_written(Self::NAME, context, event.id, &path);
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

    fn handle(&mut self, event: &UserDeleted, context: &EventContext) -> Result<(), HandlerError> {
        let user = UserView {
            id: event.id,
            name: &event.name,
            email: &event.email,
            user_type: event.user_type,
        };
        let path = self.mailer.send(EmailKind::Goodbye, user, context)?;
        log_written(Self::NAME, context, event.id, &path);
        Ok(())
    }
}

fn log_written(actor: &'static str, context: &EventContext, user_id: i64, path: &Path) {
    tracing::debug!(
        actor,
        partition = context.partition,
        offset = context.offset,
        event_id = ?context.event_id,
        user_id,
        file = %path.display(),
        "email written"
    );
}

/// Writes welcome emails; started under `actix::Supervisor`.
pub type UserCreatedActor = HandlerActor<WelcomeEmails>;
/// Writes goodbye emails; started under `actix::Supervisor`.
pub type UserDeletedActor = HandlerActor<GoodbyeEmails>;
