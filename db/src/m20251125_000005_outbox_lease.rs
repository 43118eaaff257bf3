//! `outbox_lease`: which store-manager process publishes the outbox. With several replicas
//! on one database, only the lease holder publishes, so rows still go out one at a time in
//! id order; a holder that dies without releasing the lease loses it when it expires.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum OutboxLease {
    Table,
    Name,
    Owner,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut expires_at = ColumnDef::new(OutboxLease::ExpiresAt);
        match backend {
            sea_orm_migration::sea_orm::DatabaseBackend::MySql => {
                expires_at.custom(Alias::new("DATETIME(6)"))
            }
            _ => expires_at.timestamp_with_time_zone(),
        };
        manager
            .create_table(
                Table::create()
                    .table(OutboxLease::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(OutboxLease::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    // Empty while nobody holds it.
                    .col(ColumnDef::new(OutboxLease::Owner).string_len(64).not_null())
                    .col(expires_at.not_null())
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(OutboxLease::Table)
            .columns([
                OutboxLease::Name,
                OutboxLease::Owner,
                OutboxLease::ExpiresAt,
            ])
            .values_panic([
                "outbox".into(),
                "".into(),
                Expr::cust("'1970-01-01 00:00:00'"),
            ]);
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutboxLease::Table).to_owned())
            .await
    }
}
