//! The email templates: golden files for every variant, escaping, and start-up errors.
//! No broker needed. `UPDATE_GOLDEN=1 cargo test -p coolriel --test coolriel templates::`
//! rewrites the goldens after an intended template change (review the diff).

use std::path::{Path, PathBuf};

use coolriel::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, RenderedEmail, TemplateError,
    Templates, template_file,
};
use coolriel::{Config, Coolriel, StartError};
use shared_events::{LabDateTime, Money, OrderItem, UserType};

use crate::helpers::templates_dir;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn when() -> LabDateTime {
    LabDateTime::parse("2025-11-09 14:03:12.123456").expect("date")
}

fn sample(user_type: UserType, name: &str) -> EmailData {
    EmailData::new(7, name, "alovelace@example.com", user_type, &when())
}

fn items(product: &str) -> Vec<OrderItem> {
    vec![
        OrderItem {
            product_id: 3,
            name: product.to_owned(),
            sku: "LAP-3".to_owned(),
            unit_price: Money::from_cents(199_999),
            quantity: 1,
            line_total: Money::from_cents(199_999),
        },
        OrderItem {
            product_id: 8,
            name: "Câble USB-C".to_owned(),
            sku: "USB-C-8".to_owned(),
            unit_price: Money::from_cents(1_250),
            quantity: 3,
            line_total: Money::from_cents(3_750),
        },
    ]
}

fn order_sample(user_type: UserType, name: &str, items: &[OrderItem]) -> OrderEmailData {
    let order = OrderView {
        order_id: 12,
        user_id: 7,
        user_name: name,
        user_email: "alovelace@example.com",
        user_type,
        items,
        total: Money::from_cents(203_749),
    };
    OrderEmailData::new(order, &when())
}

/// `kind` for a user named `name` (and, for the order kinds, the usual two lines).
fn render(
    templates: &Templates,
    kind: EmailKind,
    user_type: UserType,
    name: &str,
) -> RenderedEmail {
    render_with(templates, kind, user_type, name, "Portable 14 pouces")
}

fn render_with(
    templates: &Templates,
    kind: EmailKind,
    user_type: UserType,
    name: &str,
    product: &str,
) -> RenderedEmail {
    if EmailKind::ORDER.contains(&kind) {
        let items = items(product);
        templates.render(kind, user_type, &order_sample(user_type, name, &items))
    } else {
        templates.render(kind, user_type, &sample(user_type, name))
    }
    .unwrap_or_else(|error| panic!("{kind:?} {user_type}: {error}"))
}

fn slug(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "client",
        UserType::Employee => "employee",
        UserType::Manager => "manager",
    }
}

#[test]
fn every_variant_matches_its_golden_file() {
    let templates = Templates::load(&templates_dir()).expect("templates load");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for kind in EmailKind::ALL {
        for user_type in UserType::ALL {
            let rendered = render(&templates, kind, user_type, "Ada Lovelace");
            for (format, body) in [
                (Format::Html, &rendered.html),
                (Format::Text, &rendered.text),
            ] {
                let path = golden_dir().join(format!(
                    "{}_{}.{}",
                    kind.as_str(),
                    slug(user_type),
                    format.extension()
                ));
                if update {
                    std::fs::create_dir_all(golden_dir()).expect("golden dir");
                    std::fs::write(&path, body).expect("write golden");
                    continue;
                }
                let golden = std::fs::read_to_string(&path)
                    .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                if &golden != body {
                    mismatches.push(format!("{}:\n{body}", path.display()));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "rendered differs from golden:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn variants_say_different_things() {
    let templates = Templates::load(&templates_dir()).expect("templates load");
    let welcome = |user_type| {
        templates
            .render(EmailKind::Welcome, user_type, &sample(user_type, "Ada"))
            .expect("render")
            .html
    };
    assert!(welcome(UserType::Client).contains("Merci d'avoir visité notre magasin"));
    assert!(welcome(UserType::Employee).contains("Salut et bienvenue dans l'équipe !"));
    assert!(welcome(UserType::Manager).contains("équipe de direction"));
    for kind in EmailKind::ALL {
        let bodies: Vec<String> = UserType::ALL
            .into_iter()
            .map(|user_type| render(&templates, kind, user_type, "Ada").html)
            .collect();
        assert!(
            bodies[0] != bodies[1] && bodies[1] != bodies[2] && bodies[0] != bodies[2],
            "{kind:?}: each user type has its own wording"
        );
    }
    for user_type in UserType::ALL {
        let html = welcome(user_type);
        for field in [
            "Ada",
            "7",
            "alovelace@example.com",
            "9 novembre 2025 à 14 h 03",
        ] {
            assert!(html.contains(field), "{user_type}: {field} missing");
        }
    }
}

#[test]
fn order_emails_have_the_items_table_and_the_total() {
    let templates = Templates::load(&templates_dir()).expect("templates load");
    let wording = [
        (
            EmailKind::OrderConfirmation,
            UserType::Client,
            "Merci d'avoir fait vos achats chez nous",
        ),
        (
            EmailKind::OrderConfirmation,
            UserType::Employee,
            "Merci pour ta commande",
        ),
        (
            EmailKind::OrderConfirmation,
            UserType::Manager,
            "figurera dans les rapports du magasin",
        ),
        (
            EmailKind::PaymentReceipt,
            UserType::Client,
            "nous avons bien reçu votre paiement",
        ),
        (
            EmailKind::PaymentReceipt,
            UserType::Employee,
            "Ton paiement est bien reçu",
        ),
        (
            EmailKind::PaymentReceipt,
            UserType::Manager,
            "joint à vos pièces comptables",
        ),
    ];
    for (kind, user_type, marker) in wording {
        let rendered = render(&templates, kind, user_type, "Ada");
        for body in [&rendered.html, &rendered.text] {
            assert!(
                body.contains(marker),
                "{kind:?} {user_type}: {marker} missing"
            );
            for field in [
                "Ada",
                "commande n° 12",
                "alovelace@example.com",
                "9 novembre 2025 à 14 h 03",
                "Portable 14 pouces",
                "LAP-3",
                "1999.99 $",
                "Câble USB-C",
                "USB-C-8",
                "12.50 $",
                "37.50 $",
                "2037.49 $",
            ] {
                assert!(
                    body.contains(field),
                    "{kind:?} {user_type}: {field} missing"
                );
            }
        }
        // One row per item, in the order of the event.
        assert_eq!(
            rendered.html.matches("<tr><td").count(),
            2,
            "{kind:?} {user_type}"
        );
        let first = rendered
            .html
            .find("Portable 14 pouces")
            .expect("first item");
        let second = rendered.html.find("Câble USB-C").expect("second item");
        assert!(first < second);
    }
}

#[test]
fn names_are_html_escaped_but_not_in_plain_text() {
    let templates = Templates::load(&templates_dir()).expect("templates load");
    let name = "<script>alert(1)</script>";
    for kind in EmailKind::ALL {
        for user_type in UserType::ALL {
            // The product is named like an attack too (it only exists in the order kinds).
            let rendered = render_with(&templates, kind, user_type, name, name);
            assert!(!rendered.html.contains("<script>"), "{kind:?} {user_type}");
            assert!(
                rendered
                    .html
                    .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{kind:?} {user_type}: {}",
                rendered.html
            );
            assert!(
                rendered.text.contains(name),
                "plain text keeps the name as typed"
            );
        }
    }
}

fn copy_templates(to: &Path) {
    for entry in std::fs::read_dir(templates_dir()).expect("templates") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn a_missing_template_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_templates(dir.path());
    let missing = template_file(EmailKind::Goodbye, UserType::Manager, Format::Text);
    std::fs::remove_file(dir.path().join(&missing)).expect("remove");
    let error = Templates::load(dir.path()).expect_err("incomplete set");
    assert!(matches!(error, TemplateError::Missing { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing), "{error}");
}

#[test]
fn an_invalid_template_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_templates(dir.path());
    let broken = template_file(EmailKind::Welcome, UserType::Employee, Format::Html);
    std::fs::write(dir.path().join(&broken), "<p>{{#if name}}unclosed</p>").expect("break");
    let error = Templates::load(dir.path()).expect_err("invalid template");
    assert!(matches!(error, TemplateError::Invalid { .. }), "{error:?}");
    assert!(error.to_string().contains(&broken), "{error}");
}

#[test]
fn strict_mode_rejects_an_unknown_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_templates(dir.path());
    let file = template_file(EmailKind::Welcome, UserType::Client, Format::Html);
    std::fs::write(dir.path().join(file), "<p>{{name}} {{loyalty_points}}</p>").expect("edit");
    let templates = Templates::load(dir.path()).expect("syntax is fine");
    let error = templates
        .render(
            EmailKind::Welcome,
            UserType::Client,
            &sample(UserType::Client, "Ada"),
        )
        .expect_err("missing variable");
    assert!(error.to_string().contains("loyalty_points"), "{error}");
}

#[test]
fn an_order_template_cannot_be_filled_with_user_data() {
    // Strict mode: a user's data lacks the order's fields, so a mix-up fails loudly.
    let templates = Templates::load(&templates_dir()).expect("templates load");
    let error = templates
        .render(
            EmailKind::PaymentReceipt,
            UserType::Client,
            &sample(UserType::Client, "Ada"),
        )
        .expect_err("no order fields");
    assert!(
        error.to_string().contains("payment_receipt_client"),
        "{error}"
    );
}

#[test]
fn a_missing_order_template_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_templates(dir.path());
    let missing = template_file(
        EmailKind::OrderConfirmation,
        UserType::Employee,
        Format::Html,
    );
    std::fs::remove_file(dir.path().join(&missing)).expect("remove");
    let error = Templates::load(dir.path()).expect_err("incomplete set");
    assert!(matches!(error, TemplateError::Missing { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing), "{error}");
}

#[test]
fn the_service_does_not_start_without_its_templates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        templates_dir: Some(dir.path().join("nowhere")),
        output_dir: dir.path().join("output"),
        ..Config::default()
    };
    let error = Coolriel::start(config).expect_err("no templates");
    assert!(matches!(error, StartError::Templates(_)), "{error:?}");
    assert!(error.to_string().contains("nowhere"), "{error}");
}
