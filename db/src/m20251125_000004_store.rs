//! The rest of the lab's store: products, their stock, orders and order lines, seeded with
//! the lab's four products. Money is a whole number of cents (`BIGINT`): exact on every
//! backend, where a `DECIMAL` would come back from SQLite as a float.

use sea_orm_migration::prelude::*;

use crate::SEED_PRODUCTS;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    Name,
    Sku,
    PriceCents,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Stocks {
    Table,
    ProductId,
    Quantity,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    TotalCents,
    IsPaid,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    Id,
    OrderId,
    ProductId,
    Quantity,
    UnitPriceCents,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn auto_id(column: impl IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(column);
    def.integer().not_null().auto_increment().primary_key();
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .if_not_exists()
                    .col(auto_id(Products::Id))
                    .col(ColumnDef::new(Products::Name).string_len(100).not_null())
                    .col(
                        ColumnDef::new(Products::Sku)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Products::PriceCents)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Products::PriceCents).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Products::CreatedAt)
                            .timestamp()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Stocks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Stocks::ProductId)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    // The last line of defence against overselling: orders decrement with
                    // `quantity >= n` in the WHERE clause, this catches anything else.
                    .col(
                        ColumnDef::new(Stocks::Quantity)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(Stocks::Quantity).gte(0)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_stocks_product")
                            .from(Stocks::Table, Stocks::ProductId)
                            .to(Products::Table, Products::Id)
                            // A product's stock goes with it.
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(auto_id(Orders::Id))
                    .col(ColumnDef::new(Orders::UserId).integer().not_null())
                    .col(ColumnDef::new(Orders::TotalCents).big_integer().not_null())
                    .col(
                        ColumnDef::new(Orders::IsPaid)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Orders::CreatedAt)
                            .timestamp()
                            .not_null()
                            .default(Expr::current_timestamp()),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_orders_user")
                            .from(Orders::Table, Orders::UserId)
                            .to(Users::Table, Users::Id)
                            // A user with orders cannot be deleted (409), history stays whole.
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .if_not_exists()
                    .col(auto_id(OrderItems::Id))
                    .col(ColumnDef::new(OrderItems::OrderId).integer().not_null())
                    .col(ColumnDef::new(OrderItems::ProductId).integer().not_null())
                    .col(ColumnDef::new(OrderItems::Quantity).integer().not_null())
                    // The price when the order was placed; the product's may change later.
                    .col(
                        ColumnDef::new(OrderItems::UnitPriceCents)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_order")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_product")
                            .from(OrderItems::Table, OrderItems::ProductId)
                            .to(Products::Table, Products::Id)
                            // A product on an order cannot be deleted (409).
                            .on_delete(ForeignKeyAction::Restrict)
                            .on_update(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Best sellers group order lines by product.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_order_items_product_id")
                    .table(OrderItems::Table)
                    .col(OrderItems::ProductId)
                    .to_owned(),
            )
            .await?;

        let mut products = Query::insert();
        products.into_table(Products::Table).columns([
            Products::Id,
            Products::Name,
            Products::Sku,
            Products::PriceCents,
        ]);
        let mut stocks = Query::insert();
        stocks
            .into_table(Stocks::Table)
            .columns([Stocks::ProductId, Stocks::Quantity]);
        for (id, (name, sku, price_cents, quantity)) in (1..).zip(SEED_PRODUCTS) {
            products.values_panic([id.into(), name.into(), sku.into(), price_cents.into()]);
            stocks.values_panic([id.into(), quantity.into()]);
        }
        manager.exec_stmt(products).await?;
        manager.exec_stmt(stocks).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
            Stocks::Table.into_iden(),
            Products::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
