//! Template previews: `GET /preview` lists every template variant (4 kinds × 3 user
//! types), `GET /preview/{name}` renders one with sample data through the templates the
//! service loaded (strict mode, as for a real email): `welcome_client` or
//! `welcome_client.html` for the HTML, `welcome_client.txt` for the plain text. An unknown
//! name is a 404 with a JSON body.

use actix_web::{HttpResponse, web};
use handlebars::Handlebars;
use serde::Serialize;
use shared_events::{LabDateTime, Money, OrderItem, UserType};

use super::{AdminState, email_response, error_response, html_page};
use crate::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, Templates, template_name,
};

/// The sample's instant: fixed, so a preview is the same bytes every time.
const SAMPLE_DATE: &str = "2025-11-09 14:03:00";

/// Every variant: (name, kind, user type).
pub fn variants() -> Vec<(String, EmailKind, UserType)> {
    EmailKind::ALL
        .into_iter()
        .flat_map(|kind| {
            UserType::ALL
                .into_iter()
                .map(move |user_type| (template_name(kind, user_type), kind, user_type))
        })
        .collect()
}

/// The variant and format `name` names (`welcome_client`, `goodbye_manager.txt`, ...).
pub fn parse_preview_name(name: &str) -> Option<(EmailKind, UserType, Format)> {
    let (stem, format) = match name.rsplit_once('.') {
        Some((stem, "html")) => (stem, Format::Html),
        Some((stem, "txt")) => (stem, Format::Text),
        Some(_) => return None,
        None => (name, Format::Html),
    };
    variants()
        .into_iter()
        .find(|(variant, _, _)| variant == stem)
        .map(|(_, kind, user_type)| (kind, user_type, format))
}

/// Render one variant with sample data (a user, or an order of two lines).
pub fn render_sample(
    templates: &Templates,
    kind: EmailKind,
    user_type: UserType,
    format: Format,
) -> Result<String, crate::templates::TemplateError> {
    let when = LabDateTime::parse(SAMPLE_DATE)
        .unwrap_or_else(|_| unreachable!("the sample date is valid"));
    let rendered = if EmailKind::USER.contains(&kind) {
        let data = EmailData::new(
            42,
            "Ada Lovelace",
            "ada.lovelace@example.com",
            user_type,
            &when,
        );
        templates.render(kind, user_type, &data)?
    } else {
        let items = [
            OrderItem {
                product_id: 4,
                name: "Clavier mécanique".into(),
                sku: "KB-104".into(),
                unit_price: Money::from_cents(12_999),
                quantity: 2,
                line_total: Money::from_cents(25_998),
            },
            OrderItem {
                product_id: 9,
                name: "Souris sans fil".into(),
                sku: "MS-009".into(),
                unit_price: Money::from_cents(4_550),
                quantity: 1,
                line_total: Money::from_cents(4_550),
            },
        ];
        let order = OrderView {
            order_id: 1001,
            user_id: 42,
            user_name: "Ada Lovelace",
            user_email: "ada.lovelace@example.com",
            user_type,
            items: &items,
            total: Money::from_cents(30_548),
        };
        templates.render(kind, user_type, &OrderEmailData::new(order, &when))?
    };
    Ok(match format {
        Format::Html => rendered.html,
        Format::Text => rendered.text,
    })
}

/// `GET /preview`: the list of variants.
pub(super) async fn index() -> HttpResponse {
    html_page(render_index(), "the preview list")
}

#[derive(Debug, Serialize)]
struct VariantRow {
    name: String,
    kind: &'static str,
    user_type: String,
}

/// The page listing every variant, linked to its HTML and text previews (the Handlebars
/// template `preview.html.hbs`, which escapes every value).
pub fn render_index() -> Result<String, handlebars::RenderError> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    let variants: Vec<VariantRow> = variants()
        .into_iter()
        .map(|(name, kind, user_type)| VariantRow {
            name,
            kind: kind.as_str(),
            user_type: format!("{user_type:?}"),
        })
        .collect();
    registry.render_template(
        include_str!("preview.html.hbs"),
        &serde_json::json!({ "variants": variants }),
    )
}

/// `GET /preview/{name}`: one variant rendered, or 404.
pub(super) async fn show(state: web::Data<AdminState>, name: web::Path<String>) -> HttpResponse {
    let name = name.into_inner();
    let Some((kind, user_type, format)) = parse_preview_name(&name) else {
        return error_response(HttpResponse::NotFound(), "no such template");
    };
    match render_sample(&state.templates, kind, user_type, format) {
        Ok(body) => email_response(format, body),
        Err(error) => {
            tracing::warn!(template = %name, error = %error, "cannot render a preview");
            error_response(
                HttpResponse::InternalServerError(),
                &format!("cannot render {name}: {error}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_renders_with_sample_data_in_strict_mode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let templates = Templates::load(&dir).expect("templates");
        assert_eq!(variants().len(), 12);
        for (name, kind, user_type) in variants() {
            for format in Format::ALL {
                let body = render_sample(&templates, kind, user_type, format)
                    .unwrap_or_else(|error| panic!("{name}: {error}"));
                assert!(body.contains("Ada Lovelace"), "{name}: {body}");
            }
        }
        let index = render_index().expect("renders");
        assert!(index.contains("href=\"/preview/payment_receipt_manager.txt\""));
    }

    #[test]
    fn preview_names() {
        assert_eq!(
            parse_preview_name("welcome_client"),
            Some((EmailKind::Welcome, UserType::Client, Format::Html))
        );
        assert_eq!(
            parse_preview_name("order_confirmation_employee.txt"),
            Some((
                EmailKind::OrderConfirmation,
                UserType::Employee,
                Format::Text
            ))
        );
        for refused in [
            "",
            "welcome",
            "welcome_admin",
            "welcome_client.json",
            "../x",
        ] {
            assert_eq!(parse_preview_name(refused), None, "{refused:?}");
        }
    }
}
