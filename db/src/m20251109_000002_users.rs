use sea_orm_migration::prelude::*;

use crate::FIRST_SEED_USERS;
use crate::m20251109_000001_user_types::UserTypes;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    Email,
    UserTypeId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Users::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Users::Name).string_len(100).not_null())
                    .col(
                        ColumnDef::new(Users::Email)
                            .string_len(150)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::UserTypeId).integer().not_null())
                    .col(
                        ColumnDef::new(Users::CreatedAt)
                            .timestamp()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_user_type")
                            .from(Users::Table, Users::UserTypeId)
                            .to(UserTypes::Table, UserTypes::Id)
                            // A type in use cannot disappear from under its users.
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        let mut seed = Query::insert();
        seed.into_table(Users::Table)
            .columns([Users::Name, Users::Email, Users::UserTypeId]);
        for (name, email, user_type_id) in FIRST_SEED_USERS {
            seed.values_panic([name.into(), email.into(), user_type_id.into()]);
        }
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
