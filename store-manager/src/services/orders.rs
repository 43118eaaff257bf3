//! Orders: placing one checks the user and the products and takes the stock in the same
//! transaction that stores the order and its `OrderCreated` event. Money is exact (cents).
//!
//! Overselling is impossible by construction: stock is taken with
//! `UPDATE stocks SET quantity = quantity - n WHERE product_id = ? AND quantity >= n`, a
//! single statement the database serialises per row (MySQL's row lock; SQLite's single
//! writer). Of two orders for the last unit, the second updates no row and gets a 409.
//! Products are locked in id order, so two orders never wait on each other in a cycle.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, FromQueryResult, QueryFilter as _, QueryOrder as _, Set,
};
use shared_events::{Event, Money, OrderCreated, OrderDeleted, OrderItem, OrderPaid, UserType};

use crate::database;
use crate::entities::{order, order_item, product, user};
use crate::outbox::{self, EventSink};
use crate::services::products::table_id;
use crate::services::stocks;
use crate::services::{LinesError, commit, lab_number, lines_by_product, report};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Lines(#[from] LinesError),
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error(
        "not enough stock for product {product_id}: {requested} requested, {available} available"
    )]
    InsufficientStock {
        product_id: i64,
        requested: i64,
        available: i64,
    },
    #[error("the order total is too large")]
    TotalTooLarge,
    #[error("order {0} not found")]
    NotFound(i64),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// An order as requested, validated: at least one line, quantities in range, one line
/// per product (repeated products are added up), in product id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    user_id: i64,
    lines: BTreeMap<i64, i64>,
}

impl NewOrder {
    pub fn parse(
        user_id: i64,
        items: impl IntoIterator<Item = (i64, i64)>,
    ) -> Result<Self, OrderError> {
        let lines = lines_by_product(items)?;
        Ok(NewOrder { user_id, lines })
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderView {
    pub id: i64,
    pub user_id: i64,
    pub is_paid: bool,
    pub total: Money,
    pub created_at: DateTime<Utc>,
    pub items: Vec<OrderItem>,
    /// The lab's name for `total`, as a number.
    pub total_amount: f64,
    /// The lab's link to pay the order at its payments service. This store has no
    /// payments service (`PUT /orders` records a payment), so it is always null.
    pub payment_link: Option<String>,
}

/// The customer as the order events carry them.
struct Customer {
    id: i64,
    name: String,
    email: String,
    user_type: UserType,
}

async fn customer(
    connection: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Option<Customer>, DbErr> {
    let Some(key) = table_id(user_id) else {
        return Ok(None);
    };
    let Some(found) = user::Entity::find_by_id(key).one(connection).await? else {
        return Ok(None);
    };
    let user_type = UserType::from_id(i64::from(found.user_type_id))
        .map_err(|unknown| DbErr::Custom(format!("stored user {user_id} has {unknown}")))?;
    Ok(Some(Customer {
        id: user_id,
        name: found.name,
        email: found.email,
        user_type,
    }))
}

/// The order as stored (`key` is `id` as the table's key); `NotFound` when there is none.
async fn stored_order(
    connection: &impl ConnectionTrait,
    key: i32,
    id: i64,
) -> Result<order::Model, OrderError> {
    order::Entity::find_by_id(key)
        .one(connection)
        .await?
        .ok_or(OrderError::NotFound(id))
}

/// The customer who placed `order` (a user with orders cannot be deleted).
async fn order_customer(
    connection: &impl ConnectionTrait,
    order: &order::Model,
) -> Result<Customer, DbErr> {
    customer(connection, i64::from(order.user_id))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("order {} has no user", order.id)))
}

/// The lines of an order with their products' names, in line order.
async fn order_lines(
    connection: &impl ConnectionTrait,
    order_id: i32,
) -> Result<Vec<OrderItem>, DbErr> {
    let rows = order_item::Entity::find()
        .filter(order_item::Column::OrderId.eq(order_id))
        .find_also_related(product::Entity)
        .order_by_asc(order_item::Column::Id)
        .all(connection)
        .await?;
    rows.into_iter()
        .map(|(line, product)| {
            let product = product.ok_or_else(|| {
                DbErr::Custom(format!(
                    "order {order_id} names a missing product {}",
                    line.product_id
                ))
            })?;
            order_item(
                i64::from(line.product_id),
                product,
                Money::from_cents(line.unit_price_cents),
                i64::from(line.quantity),
            )
            .ok_or_else(|| DbErr::Custom("stored line total overflows".to_owned()))
        })
        .collect()
}

/// Places the order: checks the user, takes each line's stock, stores the order, its lines
/// and its `OrderCreated` event, then wakes the outbox. Returns the new id.
pub async fn create_order(
    db: &DatabaseConnection,
    events: &dyn EventSink,
    new_order: NewOrder,
) -> Result<i64, OrderError> {
    let transaction = database::begin_write(db).await?;
    let customer = customer(&transaction, new_order.user_id)
        .await?
        .ok_or(OrderError::UnknownUser(new_order.user_id))?;
    let mut items = Vec::with_capacity(new_order.lines.len());
    let mut total = Money::ZERO;
    for (&product_id, &quantity) in &new_order.lines {
        let item = take_line(&transaction, product_id, quantity).await?;
        total = total
            .checked_add(item.line_total)
            .ok_or(OrderError::TotalTooLarge)?;
        items.push(item);
    }
    let user_key = table_id(customer.id).ok_or(OrderError::UnknownUser(customer.id))?;
    let order_id = insert_order(&transaction, user_key, total, &items).await?;
    let event = Event::OrderCreated(OrderCreated {
        id: order_id,
        user_id: customer.id,
        user_name: customer.name,
        user_email: customer.email,
        user_type: customer.user_type,
        items,
        total,
    });
    let event_id = outbox::enqueue_event(&transaction, events.topics(), event).await?;
    commit(transaction, events).await?;
    tracing::info!(order_id, user_id = customer.id, total = %total, %event_id, "order created");
    Ok(order_id)
}

/// Takes `quantity` units of the product out of its stock for an order line; the line at
/// the product's price.
async fn take_line(
    connection: &impl ConnectionTrait,
    product_id: i64,
    quantity: i64,
) -> Result<OrderItem, OrderError> {
    let key = table_id(product_id).ok_or(OrderError::UnknownProduct(product_id))?;
    let product = product::Entity::find_by_id(key)
        .one(connection)
        .await?
        .ok_or(OrderError::UnknownProduct(product_id))?;
    if !stocks::take(connection, key, quantity).await? {
        return Err(OrderError::InsufficientStock {
            product_id,
            requested: quantity,
            available: stocks::current_quantity(connection, key)
                .await?
                .unwrap_or(0),
        });
    }
    let unit_price = Money::from_cents(product.price_cents);
    order_item(product_id, product, unit_price, quantity).ok_or(OrderError::TotalTooLarge)
}

/// The line of `quantity` units of `product` at `unit_price`; `None` when its total
/// overflows.
fn order_item(
    product_id: i64,
    product: product::Model,
    unit_price: Money,
    quantity: i64,
) -> Option<OrderItem> {
    Some(OrderItem {
        product_id,
        name: product.name,
        sku: product.sku,
        unit_price,
        quantity,
        line_total: unit_price.checked_mul(quantity)?,
    })
}

/// Inserts the order and its lines; returns the order's id.
async fn insert_order(
    connection: &impl ConnectionTrait,
    user_key: i32,
    total: Money,
    items: &[OrderItem],
) -> Result<i64, DbErr> {
    let inserted = order::Entity::insert(order::ActiveModel {
        id: NotSet,
        user_id: Set(user_key),
        total_cents: Set(total.cents()),
        is_paid: Set(false),
        created_at: Set(Utc::now()),
    })
    .exec(connection)
    .await?;
    let order_key = inserted.last_insert_id;
    order_item::Entity::insert_many(items.iter().map(|item| order_item::ActiveModel {
        id: NotSet,
        order_id: Set(order_key),
        product_id: Set(table_id(item.product_id).unwrap_or_default()),
        // Quantities were checked against MAX_LINE_QUANTITY, far below i32::MAX.
        quantity: Set(i32::try_from(item.quantity).unwrap_or(i32::MAX)),
        unit_price_cents: Set(item.unit_price.cents()),
    }))
    .exec(connection)
    .await?;
    Ok(i64::from(order_key))
}

pub async fn find_order(db: &DatabaseConnection, id: i64) -> Result<OrderView, OrderError> {
    let key = table_id(id).ok_or(OrderError::NotFound(id))?;
    let found = stored_order(db, key, id).await?;
    let total = Money::from_cents(found.total_cents);
    Ok(OrderView {
        id,
        user_id: i64::from(found.user_id),
        is_paid: found.is_paid,
        total,
        created_at: found.created_at,
        items: order_lines(db, key).await?,
        total_amount: lab_number(total),
        payment_link: None,
    })
}

/// Sets `is_paid`; the change from unpaid to paid publishes `OrderPaid`, once, however
/// many requests race to make it.
pub async fn set_paid(
    db: &DatabaseConnection,
    events: &dyn EventSink,
    id: i64,
    is_paid: bool,
) -> Result<(), OrderError> {
    let key = table_id(id).ok_or(OrderError::NotFound(id))?;
    let transaction = database::begin_write(db).await?;
    let found = stored_order(&transaction, key, id).await?;
    let changed = order::Entity::update_many()
        .col_expr(order::Column::IsPaid, Expr::value(is_paid))
        .filter(order::Column::Id.eq(key))
        .filter(order::Column::IsPaid.eq(!is_paid))
        .exec(&transaction)
        .await?;
    if changed.rows_affected == 1 && is_paid {
        let customer = order_customer(&transaction, &found).await?;
        let event = Event::OrderPaid(OrderPaid {
            id,
            user_id: customer.id,
            user_name: customer.name,
            user_email: customer.email,
            user_type: customer.user_type,
            items: order_lines(&transaction, key).await?,
            total: Money::from_cents(found.total_cents),
        });
        let event_id = outbox::enqueue_event(&transaction, events.topics(), event).await?;
        tracing::info!(order_id = id, %event_id, "order paid");
    }
    commit(transaction, events).await?;
    Ok(())
}

/// Deletes the order and puts its stock back.
pub async fn delete_order(
    db: &DatabaseConnection,
    events: &dyn EventSink,
    id: i64,
) -> Result<(), OrderError> {
    let key = table_id(id).ok_or(OrderError::NotFound(id))?;
    let transaction = database::begin_write(db).await?;
    let found = stored_order(&transaction, key, id).await?;
    let items = order_lines(&transaction, key).await?;
    order_item::Entity::delete_many()
        .filter(order_item::Column::OrderId.eq(key))
        .exec(&transaction)
        .await?;
    // Of two concurrent deletes only the one that removes the row restocks and publishes.
    if order::Entity::delete_by_id(key)
        .exec(&transaction)
        .await?
        .rows_affected
        != 1
    {
        return Err(OrderError::NotFound(id));
    }
    for item in &items {
        let product_key = table_id(item.product_id).unwrap_or_default();
        stocks::put_back(&transaction, product_key, item.quantity).await?;
    }
    let customer = order_customer(&transaction, &found).await?;
    let event = Event::OrderDeleted(OrderDeleted {
        id,
        user_id: customer.id,
        user_name: customer.name,
        user_email: customer.email,
        user_type: customer.user_type,
        items,
        total: Money::from_cents(found.total_cents),
        was_paid: found.is_paid,
    });
    let event_id = outbox::enqueue_event(&transaction, events.topics(), event).await?;
    commit(transaction, events).await?;
    tracing::info!(order_id = id, %event_id, "order deleted, stock put back");
    Ok(())
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Spender {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub orders: i64,
    pub total_spent: Money,
    /// The lab's name for `total_spent`, as a number.
    pub total_expense: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BestSeller {
    pub product_id: i64,
    pub name: String,
    pub sku: String,
    pub quantity_sold: i64,
    pub revenue: Money,
}

#[derive(FromQueryResult)]
struct SpenderRow {
    user_id: i64,
    name: String,
    email: String,
    orders: i64,
    total_cents: i64,
}

#[derive(FromQueryResult)]
struct BestSellerRow {
    product_id: i64,
    name: String,
    sku: String,
    quantity_sold: i64,
    revenue_cents: i64,
}

// CAST … AS SIGNED: MySQL returns SUM over integers as DECIMAL and the driver decodes
// strictly; as BIGINT both backends read the same. Ties are broken by id, so the order
// is stable.
const HIGHEST_SPENDERS: &str = "SELECT CAST(u.id AS SIGNED) AS user_id, u.name, u.email,
        CAST(COUNT(o.id) AS SIGNED) AS orders,
        CAST(SUM(o.total_cents) AS SIGNED) AS total_cents
    FROM orders o JOIN users u ON u.id = o.user_id
    GROUP BY u.id, u.name, u.email
    ORDER BY total_cents DESC, user_id";

const BEST_SELLERS: &str = "SELECT CAST(p.id AS SIGNED) AS product_id, p.name, p.sku,
        CAST(SUM(i.quantity) AS SIGNED) AS quantity_sold,
        CAST(SUM(i.quantity * i.unit_price_cents) AS SIGNED) AS revenue_cents
    FROM order_items i JOIN products p ON p.id = i.product_id
    GROUP BY p.id, p.name, p.sku
    ORDER BY quantity_sold DESC, product_id";

/// Users by the total of their orders, highest first (computed in SQL).
pub async fn highest_spenders(db: &DatabaseConnection) -> Result<Vec<Spender>, OrderError> {
    Ok(report(db, HIGHEST_SPENDERS, |row: SpenderRow| Spender {
        user_id: row.user_id,
        name: row.name,
        email: row.email,
        orders: row.orders,
        total_spent: Money::from_cents(row.total_cents),
        total_expense: lab_number(Money::from_cents(row.total_cents)),
    })
    .await?)
}

/// Products by units sold, highest first (computed in SQL).
pub async fn best_sellers(db: &DatabaseConnection) -> Result<Vec<BestSeller>, OrderError> {
    Ok(report(db, BEST_SELLERS, |row: BestSellerRow| BestSeller {
        product_id: row.product_id,
        name: row.name,
        sku: row.sku,
        quantity_sold: row.quantity_sold,
        revenue: Money::from_cents(row.revenue_cents),
    })
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::MAX_LINE_QUANTITY;

    #[test]
    fn repeated_products_are_added_up_in_product_order() {
        let order = NewOrder::parse(1, [(3, 1), (1, 2), (3, 4)]).expect("valid");
        assert_eq!(
            order.lines.into_iter().collect::<Vec<_>>(),
            [(1, 2), (3, 5)]
        );
    }

    #[test]
    fn empty_orders_and_bad_quantities_are_rejected() {
        assert!(matches!(
            NewOrder::parse(1, []),
            Err(OrderError::Lines(LinesError::NoItems))
        ));
        for quantity in [0, -1, MAX_LINE_QUANTITY + 1] {
            assert!(matches!(
                NewOrder::parse(1, [(1, quantity)]),
                Err(OrderError::Lines(LinesError::InvalidQuantity { .. }))
            ));
        }
        assert!(matches!(
            NewOrder::parse(1, [(1, MAX_LINE_QUANTITY), (1, 1)]),
            Err(OrderError::Lines(LinesError::InvalidQuantity { .. }))
        ));
    }
}
