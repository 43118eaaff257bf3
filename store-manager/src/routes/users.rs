//! `/users` and `/user-types`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use shared_events::UserType;

use super::error::ApiError;
use super::{AppState, done_or_not_found};
use crate::domain::{UserEmail, UserName};
use crate::services::users::{self, NewUser, UserError};

/// The body of `POST /users`, as the lab's clients send it.
#[derive(Debug, Deserialize)]
pub(super) struct CreateUserBody {
    name: String,
    email: String,
    /// Absent means Client, so the lab's clients (which never sent it) keep working.
    #[serde(default)]
    user_type_id: Option<i64>,
}

impl TryFrom<CreateUserBody> for NewUser {
    type Error = ApiError;

    fn try_from(body: CreateUserBody) -> Result<Self, Self::Error> {
        let name =
            UserName::parse(&body.name).map_err(|error| ApiError::Unprocessable(error.into()))?;
        let email =
            UserEmail::parse(&body.email).map_err(|error| ApiError::Unprocessable(error.into()))?;
        let user_type = match body.user_type_id {
            None => UserType::Client,
            Some(id) => {
                UserType::from_id(id).map_err(|unknown| ApiError::Unprocessable(unknown.into()))?
            }
        };
        Ok(NewUser {
            name,
            email,
            user_type,
        })
    }
}

pub(super) async fn create_user(
    state: web::Data<AppState>,
    body: web::Json<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let new_user = NewUser::try_from(body.into_inner())?;
    let user_id = users::create_user(&state.db, &state.events, new_user).await?;
    Ok(HttpResponse::Created().json(json!({ "user_id": user_id })))
}

pub(super) async fn get_user(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let user = users::find_user(&state.db, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(user))
}

pub(super) async fn delete_user(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let deleted = users::delete_user(&state.db, &state.events, id.into_inner()).await;
    done_or_not_found(deleted, "deleted", |error| {
        matches!(error, UserError::NotFound(_))
    })
}

pub(super) async fn list_user_types(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let types = users::list_user_types(&state.db).await?;
    Ok(HttpResponse::Ok().json(types))
}
