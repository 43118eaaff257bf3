//! The email templates: Handlebars, strict mode, one per email kind and user type, each as
//! HTML (`welcome_client.html.hbs`, values HTML-escaped) and plain text
//! (`welcome_client.txt.hbs`, values as they are). All of them are loaded and compiled at
//! start-up, so a missing or broken template stops the service before it consumes anything.

use std::path::{Path, PathBuf};

use chrono::{Datelike as _, NaiveDateTime, Timelike as _};
use handlebars::Handlebars;
use serde::Serialize;
use shared_events::{LabDateTime, UserType};

/// The two emails the service writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// On `UserCreated`.
    Welcome,
    /// On `UserDeleted`.
    Goodbye,
}

impl EmailKind {
    pub const ALL: [EmailKind; 2] = [EmailKind::Welcome, EmailKind::Goodbye];

    /// The file name prefix, as the lab had it (`welcome_7.html`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EmailKind::Welcome => "welcome",
            EmailKind::Goodbye => "goodbye",
        }
    }
}

/// The two renderings of every email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Text,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Html, Format::Text];

    pub const fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Text => "txt",
        }
    }
}

/// Why the templates could not be loaded or an email rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("templates directory {dir} is not readable: {source}")]
    Directory {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {path} is missing or unreadable: {source}")]
    Missing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("template {path} is invalid: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    #[error("cannot render template {name}: {source}")]
    Render {
        name: String,
        #[source]
        source: Box<handlebars::RenderError>,
    },
}

/// What the templates may use. Strict mode makes any other variable an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailData {
    pub name: String,
    pub user_id: i64,
    pub email: String,
    /// The user type in words (`Client`, `Employé`, `Gestionnaire`).
    pub user_type: String,
    /// When the event happened, in French (`9 novembre 2025 à 14 h 03`), taken from the
    /// event so that a re-delivered event renders the same bytes.
    pub date: String,
}

impl EmailData {
    pub fn new(
        user_id: i64,
        name: &str,
        email: &str,
        user_type: UserType,
        when: &LabDateTime,
    ) -> Self {
        EmailData {
            name: name.to_owned(),
            user_id,
            email: email.to_owned(),
            user_type: user_type_label(user_type).to_owned(),
            date: french_date(when.naive()),
        }
    }
}

/// One email, rendered both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub html: String,
    pub text: String,
}

/// The compiled templates. Two registries because escaping is per registry: HTML escapes
/// every value (a name like `<script>` stays text), plain text must not.
#[derive(Debug)]
pub struct Templates {
    /// The `.html.hbs` templates; values HTML-escaped.
    html: Handlebars<'static>,
    /// The `.txt.hbs` templates; values as they are.
    text: Handlebars<'static>,
}

impl Templates {
    /// Load and compile every template from `dir`; all 12 must be there.
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        std::fs::read_dir(dir).map_err(|source| TemplateError::Directory {
            dir: dir.to_owned(),
            source,
        })?;
        let mut html = strict_registry();
        let mut text = strict_registry();
        text.register_escape_fn(handlebars::no_escape);
        for kind in EmailKind::ALL {
            for user_type in UserType::ALL {
                let name = template_name(kind, user_type);
                for format in Format::ALL {
                    let path = dir.join(template_file(kind, user_type, format));
                    let source = std::fs::read_to_string(&path).map_err(|source| {
                        TemplateError::Missing {
                            path: path.clone(),
                            source,
                        }
                    })?;
                    let registry = match format {
                        Format::Html => &mut html,
                        Format::Text => &mut text,
                    };
                    registry
                        .register_template_string(&name, source)
                        .map_err(|source| TemplateError::Invalid {
                            path: path.clone(),
                            source: Box::new(source),
                        })?;
                }
            }
        }
        Ok(Templates { html, text })
    }

    /// Render one email in both formats.
    pub fn render(
        &self,
        kind: EmailKind,
        user_type: UserType,
        data: &EmailData,
    ) -> Result<RenderedEmail, TemplateError> {
        let name = template_name(kind, user_type);
        let render = |registry: &Handlebars<'static>, format: Format| {
            registry
                .render(&name, data)
                .map_err(|source| TemplateError::Render {
                    name: format!("{name}.{}", format.extension()),
                    source: Box::new(source),
                })
        };
        Ok(RenderedEmail {
            html: render(&self.html, Format::Html)?,
            text: render(&self.text, Format::Text)?,
        })
    }
}

fn strict_registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry
}

/// `welcome_client`, `goodbye_manager`, ...
pub fn template_name(kind: EmailKind, user_type: UserType) -> String {
    format!("{}_{}", kind.as_str(), user_type_slug(user_type))
}

/// `welcome_client.html.hbs`, ...
pub fn template_file(kind: EmailKind, user_type: UserType, format: Format) -> String {
    format!(
        "{}.{}.hbs",
        template_name(kind, user_type),
        format.extension()
    )
}

/// The file an email is written to: from the numeric id only, never from a name, so no
/// input can choose a path.
pub fn email_file_name(kind: EmailKind, user_id: i64, format: Format) -> String {
    format!("{}_{user_id}.{}", kind.as_str(), format.extension())
}

fn user_type_slug(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "client",
        UserType::Employee => "employee",
        UserType::Manager => "manager",
    }
}

fn user_type_label(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Client",
        UserType::Employee => "Employé",
        UserType::Manager => "Gestionnaire",
    }
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// `9 novembre 2025 à 14 h 03`, the way a French-Canadian email writes a date.
pub fn french_date(when: NaiveDateTime) -> String {
    let month = MONTHS
        .get(when.month0() as usize)
        .copied()
        .unwrap_or_default();
    format!(
        "{} {month} {} à {} h {:02}",
        when.day(),
        when.year(),
        when.hour(),
        when.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_id() {
        assert_eq!(
            email_file_name(EmailKind::Welcome, 7, Format::Html),
            "welcome_7.html"
        );
        assert_eq!(
            email_file_name(EmailKind::Goodbye, 12, Format::Text),
            "goodbye_12.txt"
        );
        assert_eq!(
            template_file(EmailKind::Welcome, UserType::Manager, Format::Text),
            "welcome_manager.txt.hbs"
        );
    }

    #[test]
    fn dates_are_written_in_french() {
        let when = LabDateTime::parse("2025-08-01 09:05:00").expect("date");
        assert_eq!(french_date(when.naive()), "1 août 2025 à 9 h 05");
    }
}
