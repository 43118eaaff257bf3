//! The users and orders projections: what exists after applying the events read, in the
//! order given (timestamp order, see the [module documentation](super)).

use std::collections::BTreeMap;

use serde::Serialize;
use shared_events::{Event, Money, OrderItem};

use crate::handlers::history::HistoryRecord;
use crate::templates::OrderView;

/// A user in the projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedUser {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub user_type_id: i32,
    pub user_type: &'static str,
}

/// The users that exist after the events, in the order given.
pub fn project_users(records: &[HistoryRecord]) -> BTreeMap<i64, ProjectedUser> {
    let mut users = BTreeMap::new();
    for record in records {
        match &record.event.event {
            Event::UserCreated(created) => {
                users.insert(
                    created.id,
                    ProjectedUser {
                        id: created.id,
                        name: created.name.clone(),
                        email: created.email.clone(),
                        user_type_id: created.user_type.id(),
                        user_type: created.user_type.name(),
                    },
                );
            }
            Event::UserDeleted(deleted) => {
                users.remove(&deleted.id);
            }
            Event::OrderCreated(_) | Event::OrderPaid(_) | Event::OrderDeleted(_) => {}
        }
    }
    users
}

/// An order in the projection: the last snapshot an event gave of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedOrder {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    pub user_type_id: i32,
    pub user_type: &'static str,
    /// Whether an `OrderPaid` was read for it.
    pub paid: bool,
    pub items: Vec<OrderItem>,
    pub total: Money,
}

impl ProjectedOrder {
    fn new(order: OrderView<'_>, paid: bool) -> Self {
        ProjectedOrder {
            id: order.order_id,
            user_id: order.user_id,
            user_name: order.user_name.to_owned(),
            user_email: order.user_email.to_owned(),
            user_type_id: order.user_type.id(),
            user_type: order.user_type.name(),
            paid,
            items: order.items.to_vec(),
            total: order.total,
        }
    }
}

/// The orders that exist after the events, in the order given: `OrderCreated` adds one
/// (unpaid, unless a duplicate of an order already paid), `OrderPaid` marks it paid (and,
/// carrying the whole order, adds it when its creation is outside the window replayed),
/// `OrderDeleted` removes it.
pub fn project_orders(records: &[HistoryRecord]) -> BTreeMap<i64, ProjectedOrder> {
    let mut orders: BTreeMap<i64, ProjectedOrder> = BTreeMap::new();
    for record in records {
        match &record.event.event {
            Event::OrderCreated(order) => {
                // At least once: a re-published creation must not undo a payment.
                let paid = orders.get(&order.id).is_some_and(|known| known.paid);
                orders.insert(order.id, ProjectedOrder::new(order.into(), paid));
            }
            Event::OrderPaid(order) => {
                orders.insert(order.id, ProjectedOrder::new(order.into(), true));
            }
            Event::OrderDeleted(order) => {
                orders.remove(&order.id);
            }
            Event::UserCreated(_) | Event::UserDeleted(_) => {}
        }
    }
    orders
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_events::{
        EventEnvelope, LabDateTime, OrderCreated, OrderDeleted, OrderPaid, UserCreated,
        UserDeleted, UserType,
    };

    fn record(offset: i64, event: Event) -> HistoryRecord {
        let envelope = EventEnvelope {
            event,
            datetime: LabDateTime::parse("2025-11-09 14:03:12").expect("date"),
            event_id: None,
            version: 1,
            occurred_at: None,
        };
        HistoryRecord {
            topic: "user-events".into(),
            partition: 0,
            offset,
            key: None,
            timestamp: None,
            event_type: envelope.event_type().as_str().into(),
            event: envelope,
        }
    }

    #[test]
    fn projection_is_created_minus_deleted() {
        let created = |id, user_type| {
            Event::UserCreated(UserCreated {
                id,
                name: format!("user {id}"),
                email: format!("u{id}@example.com"),
                user_type,
            })
        };
        let deleted = |id| {
            Event::UserDeleted(UserDeleted {
                id,
                name: format!("user {id}"),
                email: format!("u{id}@example.com"),
                user_type: UserType::Client,
            })
        };
        let records = vec![
            record(0, created(1, UserType::Client)),
            record(1, created(2, UserType::Manager)),
            record(2, deleted(1)),
            record(3, created(3, UserType::Employee)),
        ];
        let users = project_users(&records);
        assert_eq!(users.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(users[&2].user_type, "Manager");
        assert_eq!(users[&3].user_type_id, 2);
    }

    fn item(product_id: i64, cents: i64, quantity: i64) -> OrderItem {
        OrderItem {
            product_id,
            name: format!("product {product_id}"),
            sku: format!("SKU-{product_id}"),
            unit_price: Money::from_cents(cents),
            quantity,
            line_total: Money::from_cents(cents * quantity),
        }
    }

    /// Order `id` as an order event of type `$event` carries it (plus `$extra` fields).
    macro_rules! order_event {
        ($event:ident, $id:expr $(, $extra:ident)*) => {{
            let id = $id;
            $event {
                id,
                user_id: 10 + id,
                user_name: format!("user {}", 10 + id),
                user_email: format!("u{}@example.com", 10 + id),
                user_type: UserType::Employee,
                items: vec![item(1, 199_999, 1), item(2, 250, 4)],
                total: Money::from_cents(200_999),
                $($extra,)*
            }
        }};
    }

    fn order_created(id: i64) -> OrderCreated {
        order_event!(OrderCreated, id)
    }

    fn order_paid(id: i64) -> OrderPaid {
        order_event!(OrderPaid, id)
    }

    fn order_deleted(id: i64, was_paid: bool) -> OrderDeleted {
        order_event!(OrderDeleted, id, was_paid)
    }

    #[test]
    fn orders_projection_is_created_minus_deleted_with_the_paid_flag() {
        let records = vec![
            record(0, Event::OrderCreated(order_created(1))),
            record(1, Event::OrderCreated(order_created(2))),
            record(2, Event::OrderCreated(order_created(3))),
            record(3, Event::OrderPaid(order_paid(1))),
            // A duplicate creation after the payment does not undo it.
            record(4, Event::OrderCreated(order_created(1))),
            record(5, Event::OrderPaid(order_paid(3))),
            record(6, Event::OrderDeleted(order_deleted(3, true))),
            // Paid, its creation outside the replayed window: known from the payment.
            record(7, Event::OrderPaid(order_paid(4))),
            record(
                8,
                Event::UserDeleted(UserDeleted {
                    id: 11,
                    name: "user 11".into(),
                    email: "u11@example.com".into(),
                    user_type: UserType::Employee,
                }),
            ),
        ];
        let orders = project_orders(&records);
        assert_eq!(orders.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4]);
        assert!(orders[&1].paid);
        assert!(!orders[&2].paid);
        assert!(orders[&4].paid);
        assert_eq!(orders[&2].user_type, "Employee");
        assert_eq!(orders[&2].items.len(), 2);
        let json = serde_json::to_value(&orders[&2]).expect("json");
        assert_eq!(json["total"], "2009.99");
        assert_eq!(json["items"][0]["unit_price"], "1999.99");
        assert_eq!(json["items"][1]["line_total"], "10.00");
        assert!(
            project_users(&records).is_empty(),
            "order events make no user"
        );
    }
}
