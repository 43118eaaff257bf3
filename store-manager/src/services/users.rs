//! Creating, reading and deleting users. Every change writes its event to the outbox in
//! the same transaction, so the event exists if and only if the change committed.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::NotSet, DatabaseConnection, DbErr, EntityTrait as _, ModelTrait as _, Set, SqlErr,
};
use shared_events::{Event, UserCreated, UserDeleted, UserType};

use crate::database;
use crate::domain::{UserEmail, UserName};
use crate::entities::{user, user_type};
use crate::outbox::{self, EventSink};
use crate::services::{commit, is_foreign_key_violation};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user with email {0} already exists")]
    DuplicateEmail(String),
    #[error("user {0} not found")]
    NotFound(i64),
    #[error("user {0} has orders and cannot be deleted")]
    HasOrders(i64),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// A user to create, already validated.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: UserName,
    pub email: UserEmail,
    pub user_type: UserType,
}

/// A user as the API shows it, with its type's name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub user_type_id: i32,
    pub user_type: String,
    pub created_at: DateTime<Utc>,
}

/// Inserts the user and its `UserCreated` event, then wakes the outbox; returns the new id.
pub async fn create_user(
    db: &DatabaseConnection,
    events: &dyn EventSink,
    new_user: NewUser,
) -> Result<i64, UserError> {
    let transaction = database::begin_write(db).await?;
    let email = new_user.email.into_inner();
    let inserted = user::Entity::insert(user::ActiveModel {
        id: NotSet,
        name: Set(new_user.name.as_str().to_owned()),
        email: Set(email.clone()),
        user_type_id: Set(new_user.user_type.id()),
        created_at: Set(Utc::now()),
    })
    .exec(&transaction)
    .await
    .map_err(|error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => UserError::DuplicateEmail(email.clone()),
        _ => UserError::Database(error),
    })?;
    let id = i64::from(inserted.last_insert_id);
    let event = Event::UserCreated(UserCreated {
        id,
        name: new_user.name.into_inner(),
        email,
        user_type: new_user.user_type,
    });
    let event_id = outbox::enqueue_event(&transaction, events.topics(), event).await?;
    commit(transaction, events).await?;
    tracing::info!(user_id = id, %event_id, "user created");
    Ok(id)
}

pub async fn find_user(db: &DatabaseConnection, id: i64) -> Result<UserView, UserError> {
    let key = i32::try_from(id).map_err(|_| UserError::NotFound(id))?;
    let (found, found_type) = user::Entity::find_by_id(key)
        .find_also_related(user_type::Entity)
        .one(db)
        .await?
        .ok_or(UserError::NotFound(id))?;
    Ok(UserView {
        id: i64::from(found.id),
        user_type: found_type.map_or_else(String::new, |t| t.name),
        name: found.name,
        email: found.email,
        user_type_id: found.user_type_id,
        created_at: found.created_at,
    })
}

/// Deletes the user and writes a `UserDeleted` carrying the user as it was, then wakes the
/// outbox.
pub async fn delete_user(
    db: &DatabaseConnection,
    events: &dyn EventSink,
    id: i64,
) -> Result<(), UserError> {
    let key = i32::try_from(id).map_err(|_| UserError::NotFound(id))?;
    let transaction = database::begin_write(db).await?;
    let found = user::Entity::find_by_id(key)
        .one(&transaction)
        .await?
        .ok_or(UserError::NotFound(id))?;
    let user_type = UserType::from_id(i64::from(found.user_type_id))
        .map_err(|unknown| DbErr::Custom(format!("stored user {id} has {unknown}")))?;
    // Two concurrent deletes both find the row; only the one that removes it publishes.
    let removed = found.clone().delete(&transaction).await.map_err(|error| {
        if is_foreign_key_violation(&error) {
            UserError::HasOrders(id)
        } else {
            UserError::Database(error)
        }
    })?;
    if removed.rows_affected != 1 {
        return Err(UserError::NotFound(id));
    }
    let event = Event::UserDeleted(UserDeleted {
        id,
        name: found.name,
        email: found.email,
        user_type,
    });
    let event_id = outbox::enqueue_event(&transaction, events.topics(), event).await?;
    commit(transaction, events).await?;
    tracing::info!(user_id = id, %event_id, "user deleted");
    Ok(())
}

pub async fn list_user_types(db: &DatabaseConnection) -> Result<Vec<user_type::Model>, UserError> {
    use sea_orm::QueryOrder as _;
    Ok(user_type::Entity::find()
        .order_by_asc(user_type::Column::Id)
        .all(db)
        .await?)
}
