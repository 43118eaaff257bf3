use sea_orm_migration::prelude::*;

use crate::SEED_USER_TYPES;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
pub(crate) enum UserTypes {
    Table,
    Id,
    Name,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserTypes::Table)
                    .if_not_exists()
                    // Not auto-increment: the ids 1, 2, 3 are part of the event contract.
                    .col(
                        ColumnDef::new(UserTypes::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UserTypes::Name)
                            .string_len(50)
                            .not_null()
                            .unique_key(),
                    )
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(UserTypes::Table)
            .columns([UserTypes::Id, UserTypes::Name]);
        for (id, name) in SEED_USER_TYPES {
            seed.values_panic([id.into(), name.into()]);
        }
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UserTypes::Table).to_owned())
            .await
    }
}
