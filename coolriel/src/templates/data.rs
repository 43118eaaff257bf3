//! What the templates are filled with: [`EmailData`] for a user (welcome, goodbye),
//! [`OrderEmailData`] for an order (confirmation, receipt), made from the fields the events
//! share ([`UserView`], [`OrderView`]), with the user type and the date in French words.

use chrono::{Datelike as _, NaiveDateTime, Timelike as _};
use serde::Serialize;
use shared_events::{
    LabDateTime, Money, OrderCreated, OrderItem, OrderPaid, UserCreated, UserDeleted, UserType,
};

/// The fields of a user that [`UserCreated`] and [`UserDeleted`] both carry (`From`
/// either): what a user email is made from.
#[derive(Debug, Clone, Copy)]
pub struct UserView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub email: &'a str,
    pub user_type: UserType,
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

/// The fields of an order that [`OrderCreated`] and [`OrderPaid`] both carry (`From`
/// either): what an order email, and the replay's orders projection, are made from.
#[derive(Debug, Clone, Copy)]
pub struct OrderView<'a> {
    pub order_id: i64,
    pub user_id: i64,
    pub user_name: &'a str,
    pub user_email: &'a str,
    pub user_type: UserType,
    pub items: &'a [OrderItem],
    pub total: Money,
}

/// `From<&$event>` for a view, for each event that carries the view's fields.
macro_rules! view_from {
    ($view:ident from $($event:ident),+ => |$source:ident| $view_value:expr) => {$(
        impl<'a> From<&'a $event> for $view<'a> {
            fn from($source: &'a $event) -> Self {
                $view_value
            }
        }
    )+};
}

view_from!(UserView from UserCreated, UserDeleted => |user| UserView {
    id: user.id,
    name: &user.name,
    email: &user.email,
    user_type: user.user_type,
});

view_from!(OrderView from OrderCreated, OrderPaid => |order| OrderView {
    order_id: order.id,
    user_id: order.user_id,
    user_name: &order.user_name,
    user_email: &order.user_email,
    user_type: order.user_type,
    items: &order.items,
    total: order.total,
});

/// What the order templates may use: the customer's fields as in [`EmailData`], plus the
/// order's id, lines and total. Amounts are decimal strings (`1999.99`), exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEmailData {
    pub order_id: i64,
    /// The customer's name.
    pub name: String,
    pub user_id: i64,
    pub email: String,
    /// The user type in words (`Client`, `Employé`, `Gestionnaire`).
    pub user_type: String,
    /// When the event happened, in French, from the event (see [`EmailData::date`]).
    pub date: String,
    /// The order's lines, in the order the event lists them.
    pub items: Vec<OrderLineData>,
    pub total: String,
}

/// One line of the items table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLineData {
    /// The product's name at the time of the order.
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    pub line_total: String,
}

impl OrderEmailData {
    pub fn new(order: OrderView<'_>, when: &LabDateTime) -> Self {
        OrderEmailData {
            order_id: order.order_id,
            name: order.user_name.to_owned(),
            user_id: order.user_id,
            email: order.user_email.to_owned(),
            user_type: user_type_label(order.user_type).to_owned(),
            date: french_date(when.naive()),
            items: order
                .items
                .iter()
                .map(|item| OrderLineData {
                    name: item.name.clone(),
                    sku: item.sku.clone(),
                    quantity: item.quantity,
                    unit_price: item.unit_price.to_string(),
                    line_total: item.line_total.to_string(),
                })
                .collect(),
            total: order.total.to_string(),
        }
    }
}

/// The user type in words, as the emails say it.
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
    fn order_data_keeps_amounts_exact() {
        let items = [OrderItem {
            product_id: 4,
            name: "Clavier".into(),
            sku: "KB-1".into(),
            unit_price: Money::from_cents(199_999),
            quantity: 2,
            line_total: Money::from_cents(399_998),
        }];
        let order = OrderView {
            order_id: 12,
            user_id: 7,
            user_name: "Ada",
            user_email: "ada@example.com",
            user_type: UserType::Employee,
            items: &items,
            total: Money::from_cents(399_998),
        };
        let when = LabDateTime::parse("2025-08-01 09:05:00").expect("date");
        let data = OrderEmailData::new(order, &when);
        assert_eq!(data.total, "3999.98");
        assert_eq!(data.items[0].unit_price, "1999.99");
        assert_eq!(data.items[0].line_total, "3999.98");
        assert_eq!(data.user_type, "Employé");
    }

    #[test]
    fn dates_are_written_in_french() {
        let when = LabDateTime::parse("2025-08-01 09:05:00").expect("date");
        assert_eq!(french_date(when.naive()), "1 août 2025 à 9 h 05");
    }
}
