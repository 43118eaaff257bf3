//! `users`: each belongs to one user type (foreign key, ON DELETE RESTRICT).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    #[sea_orm(unique)]
    pub email: String,
    pub user_type_id: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user_type::Entity",
        from = "Column::UserTypeId",
        to = "super::user_type::Column::Id",
        on_delete = "Restrict"
    )]
    UserType,
    #[sea_orm(has_many = "super::order::Entity")]
    Order,
}

impl Related<super::user_type::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserType.def()
    }
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
