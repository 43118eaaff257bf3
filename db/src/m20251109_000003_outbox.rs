use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Topic,
    EventKey,
    EventType,
    Payload,
    CreatedAt,
    PublishedAt,
    Attempts,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    // The id is the publication order: rows are published strictly by id.
                    .col(
                        ColumnDef::new(Outbox::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Outbox::EventId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Outbox::Topic).string_len(249).not_null())
                    .col(ColumnDef::new(Outbox::EventKey).string_len(255).not_null())
                    .col(ColumnDef::new(Outbox::EventType).string_len(100).not_null())
                    .col(ColumnDef::new(Outbox::Payload).text().not_null())
                    // Microseconds: the commit-to-ack latency is measured from here.
                    .col(precise_utc_timestamp(backend, Outbox::CreatedAt).not_null())
                    .col(precise_utc_timestamp(backend, Outbox::PublishedAt).null())
                    .col(
                        ColumnDef::new(Outbox::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Outbox::LastError).text().null())
                    .to_owned(),
            )
            .await?;
        // The publisher asks "oldest unpublished rows"; the cleaner asks "published before T".
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_published_at_id")
                    .table(Outbox::Table)
                    .col(Outbox::PublishedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}

/// A UTC instant with microseconds. MySQL's plain `TIMESTAMP` keeps whole seconds and ends
/// in 2038, so MySQL gets `DATETIME(6)` (the pool's session time zone is UTC); SQLite keeps
/// the full RFC 3339 text either way.
fn precise_utc_timestamp(
    backend: sea_orm_migration::sea_orm::DatabaseBackend,
    column: Outbox,
) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    match backend {
        sea_orm_migration::sea_orm::DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    def
}
