//! The lab's two staff members get the lab's e-mail domain: Jane Doe and Da Boss were
//! seeded as `@example.com` by `m20251109_000002_users`, the lab seeds them as
//! `jdoe@magasinducoin.ca` and `dboss@magasinducoin.ca`. That migration has already run on
//! deployed databases, so it stays as it was and this one changes the rows.
//!
//! Only a seed row that still has its seeded address changes: a user whose address was
//! changed since, or who was deleted, is left alone. An address that some other user
//! registered in the meantime is not taken from them: that seed row keeps its old address
//! (e-mails are unique), rather than the migration failing and the store not starting.

use sea_orm_migration::prelude::*;

use crate::LAB_EMAIL_CHANGES;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Email,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for (seeded, lab) in LAB_EMAIL_CHANGES {
            let taken = Query::select()
                .expr(Expr::val(1))
                .from(Users::Table)
                .and_where(Expr::col(Users::Email).eq(lab))
                .to_owned();
            if connection.query_one(&taken).await?.is_some() {
                continue;
            }
            let change = Query::update()
                .table(Users::Table)
                .value(Users::Email, lab)
                .and_where(Expr::col(Users::Email).eq(seeded))
                .to_owned();
            connection.execute(&change).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for (seeded, lab) in LAB_EMAIL_CHANGES {
            let change = Query::update()
                .table(Users::Table)
                .value(Users::Email, seeded)
                .and_where(Expr::col(Users::Email).eq(lab))
                .to_owned();
            connection.execute(&change).await?;
        }
        Ok(())
    }
}
