//! The email templates: Handlebars, strict mode, one per email kind and user type, each as
//! HTML (`welcome_client.html.hbs`, values HTML-escaped) and plain text
//! (`welcome_client.txt.hbs`, values as they are). All of them are loaded and compiled at
//! start-up, so a missing or broken template stops the service before it consumes anything.
//!
//! The repository's `templates/` are built into the binary ([`Templates::embedded`]), so
//! a copied or installed `coolriel` needs no file beside it; `TEMPLATES_DIR` replaces the
//! whole set with the files of a directory ([`Templates::load`]), all 24 of them, so a
//! misnamed file is an error rather than a silent fallback to the built-in one.
//!
//! Two shapes of data fill them: [`EmailData`] (a user: welcome and goodbye) and
//! [`OrderEmailData`] (an order with its lines and total: order confirmation and payment
//! receipt). Strict mode turns a variable the data does not have into a render error.

mod data;

use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

pub use data::{EmailData, OrderEmailData, OrderLineData, OrderView, UserView, french_date};
use shared_events::UserType;

/// The emails the service writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// On `UserCreated`; filled with [`EmailData`].
    Welcome,
    /// On `UserDeleted`; filled with [`EmailData`].
    Goodbye,
    /// On `OrderCreated`; filled with [`OrderEmailData`].
    OrderConfirmation,
    /// On `OrderPaid`; filled with [`OrderEmailData`].
    PaymentReceipt,
}

impl EmailKind {
    pub const ALL: [EmailKind; 4] = [
        EmailKind::Welcome,
        EmailKind::Goodbye,
        EmailKind::OrderConfirmation,
        EmailKind::PaymentReceipt,
    ];
    /// The kinds filled with [`EmailData`].
    pub const USER: [EmailKind; 2] = [EmailKind::Welcome, EmailKind::Goodbye];
    /// The kinds filled with [`OrderEmailData`].
    pub const ORDER: [EmailKind; 2] = [EmailKind::OrderConfirmation, EmailKind::PaymentReceipt];

    /// The template name prefix (`order_confirmation` in `order_confirmation_client.html.hbs`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EmailKind::Welcome => "welcome",
            EmailKind::Goodbye => "goodbye",
            EmailKind::OrderConfirmation => "order_confirmation",
            EmailKind::PaymentReceipt => "payment_receipt",
        }
    }

    /// The file name prefix: as the lab had it for users (`welcome_7.html`, id = user id),
    /// `order_12.html` and `receipt_12.html` for orders (id = order id).
    pub const fn file_prefix(self) -> &'static str {
        match self {
            EmailKind::Welcome => "welcome",
            EmailKind::Goodbye => "goodbye",
            EmailKind::OrderConfirmation => "order",
            EmailKind::PaymentReceipt => "receipt",
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

/// `(name, include_str!("../../templates/" name))` for each file name.
macro_rules! embedded_templates {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../../templates/", $file)))),*]
    };
}

/// The repository's `templates/*.hbs`, compiled into the binary: (file name, source).
/// `the_built_in_templates_are_the_repository_files` keeps this list and the directory equal.
const EMBEDDED: &[(&str, &str)] = embedded_templates![
    "welcome_client.html.hbs",
    "welcome_client.txt.hbs",
    "welcome_employee.html.hbs",
    "welcome_employee.txt.hbs",
    "welcome_manager.html.hbs",
    "welcome_manager.txt.hbs",
    "goodbye_client.html.hbs",
    "goodbye_client.txt.hbs",
    "goodbye_employee.html.hbs",
    "goodbye_employee.txt.hbs",
    "goodbye_manager.html.hbs",
    "goodbye_manager.txt.hbs",
    "order_confirmation_client.html.hbs",
    "order_confirmation_client.txt.hbs",
    "order_confirmation_employee.html.hbs",
    "order_confirmation_employee.txt.hbs",
    "order_confirmation_manager.html.hbs",
    "order_confirmation_manager.txt.hbs",
    "payment_receipt_client.html.hbs",
    "payment_receipt_client.txt.hbs",
    "payment_receipt_employee.html.hbs",
    "payment_receipt_employee.txt.hbs",
    "payment_receipt_manager.html.hbs",
    "payment_receipt_manager.txt.hbs",
];

/// The file names of the built-in templates (tests compare them with `templates/`).
pub fn embedded_template_files() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(file, _)| *file)
}

/// Where a template came from, for the error that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A file of `TEMPLATES_DIR`.
    File(PathBuf),
    /// Built into the binary (named by its file name in the repository's `templates/`).
    BuiltIn(&'static str),
}

impl std::fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateSource::File(path) => write!(f, "{}", path.display()),
            TemplateSource::BuiltIn(file) => write!(f, "{file} (built in)"),
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
    #[error("template {template} is invalid: {source}")]
    Invalid {
        template: TemplateSource,
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
    /// The templates built into the binary, or those of `dir` when given (`TEMPLATES_DIR`).
    pub fn load_or_embedded(dir: Option<&Path>) -> Result<Self, TemplateError> {
        match dir {
            Some(dir) => Self::load(dir),
            None => Self::embedded(),
        }
    }

    /// Compile the templates built into the binary (the repository's `templates/`).
    pub fn embedded() -> Result<Self, TemplateError> {
        Self::compile(|file| {
            let source = EMBEDDED
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(name, source)| (TemplateSource::BuiltIn(name), (*source).to_owned()));
            // The list holds every name `template_file` makes (a unit test checks it).
            source.ok_or_else(|| TemplateError::Missing {
                path: PathBuf::from(file),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "not built in"),
            })
        })
    }

    /// Load and compile every template from `dir`; all 24 must be there (4 kinds × 3 user
    /// types × 2 formats).
    pub fn load(dir: &Path) -> Result<Self, TemplateError> {
        std::fs::read_dir(dir).map_err(|source| TemplateError::Directory {
            dir: dir.to_owned(),
            source,
        })?;
        Self::compile(|file| {
            let path = dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(source) => Ok((TemplateSource::File(path), source)),
                Err(source) => Err(TemplateError::Missing { path, source }),
            }
        })
    }

    /// Compile the 24 templates, each read by `read` from its file name.
    fn compile(
        read: impl Fn(&str) -> Result<(TemplateSource, String), TemplateError>,
    ) -> Result<Self, TemplateError> {
        let mut html = strict_registry();
        let mut text = strict_registry();
        text.register_escape_fn(handlebars::no_escape);
        for kind in EmailKind::ALL {
            for user_type in UserType::ALL {
                let name = template_name(kind, user_type);
                for format in Format::ALL {
                    let (template, source) = read(&template_file(kind, user_type, format))?;
                    let registry = match format {
                        Format::Html => &mut html,
                        Format::Text => &mut text,
                    };
                    registry
                        .register_template_string(&name, source)
                        .map_err(|source| TemplateError::Invalid {
                            template,
                            source: Box::new(source),
                        })?;
                }
            }
        }
        Ok(Templates { html, text })
    }

    /// Render one email in both formats: `data` is an [`EmailData`] for the user kinds and
    /// an [`OrderEmailData`] for the order kinds (anything else fails in strict mode).
    pub fn render(
        &self,
        kind: EmailKind,
        user_type: UserType,
        data: &impl Serialize,
    ) -> Result<RenderedEmail, TemplateError> {
        Ok(RenderedEmail {
            html: self.render_format(kind, user_type, Format::Html, data)?,
            text: self.render_format(kind, user_type, Format::Text, data)?,
        })
    }

    /// Render one email in one format (see [`Templates::render`]).
    pub fn render_format(
        &self,
        kind: EmailKind,
        user_type: UserType,
        format: Format,
        data: &impl Serialize,
    ) -> Result<String, TemplateError> {
        let name = template_name(kind, user_type);
        let registry = match format {
            Format::Html => &self.html,
            Format::Text => &self.text,
        };
        registry
            .render(&name, data)
            .map_err(|source| TemplateError::Render {
                name: format!("{name}.{}", format.extension()),
                source: Box::new(source),
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

/// The file an email is written to (`welcome_7.html`, `receipt_12.txt`): from the numeric
/// id (the user's or the order's) only, never from a name, so no input can choose a path.
pub fn email_file_name(kind: EmailKind, id: i64, format: Format) -> String {
    format!("{}_{id}.{}", kind.file_prefix(), format.extension())
}

/// A user type as template names and the gallery's query write it (`client`, ...).
pub fn user_type_slug(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "client",
        UserType::Employee => "employee",
        UserType::Manager => "manager",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_id() {
        for (kind, id, format, name) in [
            (EmailKind::Welcome, 7, Format::Html, "welcome_7.html"),
            (EmailKind::Goodbye, 12, Format::Text, "goodbye_12.txt"),
            (
                EmailKind::OrderConfirmation,
                3,
                Format::Html,
                "order_3.html",
            ),
            (EmailKind::PaymentReceipt, 3, Format::Text, "receipt_3.txt"),
        ] {
            assert_eq!(email_file_name(kind, id, format), name);
        }
        assert_eq!(
            template_file(EmailKind::Welcome, UserType::Manager, Format::Text),
            "welcome_manager.txt.hbs"
        );
        assert_eq!(
            template_file(EmailKind::PaymentReceipt, UserType::Employee, Format::Html),
            "payment_receipt_employee.html.hbs"
        );
    }

    #[test]
    fn the_built_in_templates_are_the_repository_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("templates/")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".hbs"))
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = embedded_template_files().map(str::to_owned).collect();
        built_in.sort();
        assert_eq!(built_in, on_disk);
        let mut needed: Vec<String> = EmailKind::ALL
            .into_iter()
            .flat_map(|kind| UserType::ALL.into_iter().map(move |user| (kind, user)))
            .flat_map(|(kind, user)| Format::ALL.map(|format| template_file(kind, user, format)))
            .collect();
        needed.sort();
        assert_eq!(built_in, needed);
        Templates::embedded().expect("the built-in templates compile");
    }
}
