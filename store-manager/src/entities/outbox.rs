//! `outbox`: events written in the same transaction as the change they describe, published
//! to Kafka by the [`OutboxActor`](crate::outbox::OutboxActor) in `id` order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// The publication order.
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_id: String,
    pub topic: String,
    pub event_key: String,
    pub event_type: String,
    /// The encoded [`shared_events::EventEnvelope`], exactly the bytes that go on the topic.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// `NULL` until the broker acknowledged the message.
    pub published_at: Option<DateTimeUtc>,
    /// Failed publication attempts, for operators looking at a stuck row.
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
