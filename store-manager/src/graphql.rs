//! The suppliers' GraphQL query (`POST /stocks/graphql-query`, the lab's supplier endpoint),
//! executed by async-graphql against the database.
//!
//! ```graphql
//! type Query {
//!   product(id: String!): Product          # null when there is no such product
//!   stockLevel(productId: String!): Int    # null when there is no such product
//! }
//! type Product { id: String!  name: String!  sku: String!  price: Float!  quantity: Int! }
//! ```
//!
//! Ids are strings, as in the lab's schema (`product(id: "1")`); one that is not a product
//! id finds nothing. `price` is a Float, as the lab has it; the REST routes write money as
//! exact decimal strings instead.
//!
//! # Limits
//! A query is refused, with the reason in `errors`, when it nests deeper than
//! [`MAX_DEPTH`], when it would resolve more than [`MAX_COMPLEXITY`] fields (aliases
//! included, so one request cannot ask for the same product a thousand times), or when its
//! text is longer than [`MAX_QUERY_BYTES`]. Nothing here recurses, so the limits bound the
//! database work of one request to [`MAX_COMPLEXITY`] lookups.

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions as _, Object, Schema, SimpleObject,
};
use sea_orm::{DatabaseConnection, DbErr};

use crate::routes::error::ApiError;
use crate::services::{lab_number, stocks};

/// Deepest nesting a query may have. Ours is 2 (`product { name }`); introspection of a
/// type's fields (`__type(name: "Product") { fields { name type { name } } }`) is 4.
pub const MAX_DEPTH: usize = 5;

/// Most fields one query may resolve. A product with its five fields counts 6.
pub const MAX_COMPLEXITY: usize = 60;

/// Longest query text accepted. The lab's queries are about 60 bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// The `extensions.code` of a resolver error caused by an unreachable database: the route
/// answers 503 for it, as every other route does.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

pub type SupplierSchema = Schema<SupplierQuery, EmptyMutation, EmptySubscription>;

/// The schema with its limits. It holds no database: each request brings its own
/// [`DatabaseConnection`] as request data (`Request::data`), so one schema serves every
/// application in the process.
pub fn supplier_schema() -> SupplierSchema {
    Schema::build(SupplierQuery, EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The root of every supplier query.
#[derive(Debug, Clone, Copy, Default)]
pub struct SupplierQuery;

/// A product with its quantity on hand.
#[derive(Debug, Clone, PartialEq, SimpleObject)]
pub struct Product {
    id: String,
    name: String,
    sku: String,
    price: f64,
    quantity: i64,
}

#[Object]
impl SupplierQuery {
    /// The product with this id, and its stock.
    async fn product(
        &self,
        context: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<Product>> {
        let Some(product_id) = parse_id(&id) else {
            return Ok(None);
        };
        let found = stocks::product_stock(database(context)?, product_id)
            .await
            .map_err(resolver_error)?;
        Ok(found.map(|product| Product {
            id: product.id.to_string(),
            name: product.name,
            sku: product.sku,
            price: lab_number(product.price),
            quantity: product.quantity,
        }))
    }

    /// The quantity on hand of this product.
    async fn stock_level(
        &self,
        context: &Context<'_>,
        product_id: String,
    ) -> async_graphql::Result<Option<i64>> {
        let Some(product_id) = parse_id(&product_id) else {
            return Ok(None);
        };
        let found = stocks::product_stock(database(context)?, product_id)
            .await
            .map_err(resolver_error)?;
        Ok(found.map(|product| product.quantity))
    }
}

fn database<'a>(context: &Context<'a>) -> async_graphql::Result<&'a DatabaseConnection> {
    context.data::<DatabaseConnection>()
}

/// `"1"` and `" 1 "` are product 1; anything else is no product at all.
fn parse_id(id: &str) -> Option<i64> {
    id.trim().parse().ok()
}

/// The same words and log line a REST route would give this database error, and a code
/// that lets the route pick the status.
fn resolver_error(error: DbErr) -> async_graphql::Error {
    let api_error = ApiError::from_database(error);
    let code = match &api_error {
        ApiError::Unavailable(source) => {
            tracing::warn!(error = %source, "database unavailable");
            DATABASE_UNAVAILABLE
        }
        other => {
            tracing::error!(error = ?other, "supplier query failed");
            "INTERNAL"
        }
    };
    async_graphql::Error::new(api_error.to_string()).extend_with(|_, extensions| {
        extensions.set("code", code);
    })
}
