//! HTTP errors: every failure is a JSON body `{"error": "..."}` with the status that says
//! whose fault it is. Services return their own domain errors and know nothing of HTTP;
//! the status each one answers is decided here, one `From` per service error
//! (`error/services.rs`). A refusal keeps the error that caused it as its
//! [`source`](std::error::Error::source), typed; the body is that error's text.

mod services;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sea_orm::DbErr;
use serde_json::json;

/// Why a request was refused: the error that says so, typed (a service's or a validator's
/// error, or a message where there is no error value). Its text is the response's.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// `what` could not be read because of `source` ("invalid JSON body: expected `,` at …").
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct Unreadable {
    what: String,
    source: Cause,
}

impl Unreadable {
    pub fn new(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Unreadable {
            what: what.into(),
            source: source.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, missing fields, wrong types, a bad path parameter.
    #[error("{0}")]
    BadRequest(#[source] Cause),
    /// Well-formed but invalid values (an email that is not one, an unknown user type).
    #[error("{0}")]
    Unprocessable(#[source] Cause),
    #[error("{0}")]
    NotFound(#[source] Cause),
    /// The request conflicts with what is stored (a duplicate email).
    #[error("{0}")]
    Conflict(#[source] Cause),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected a JSON body (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The database cannot be reached; the client may retry.
    #[error("the database is unavailable, try again later")]
    Unavailable(#[source] DbErr),
    /// A bug or an unexpected database error; details are in the log, not the response.
    #[error("internal error")]
    Internal(#[source] DbErr),
}

impl ApiError {
    /// Database errors the client cannot fix: 503 when the database is unreachable,
    /// 500 otherwise.
    pub fn from_database(error: DbErr) -> Self {
        if database_unreachable(&error) {
            ApiError::Unavailable(error)
        } else {
            ApiError::Internal(error)
        }
    }
}

/// The database could not be reached (as opposed to refusing a statement): no connection
/// from the pool, a broken socket, a server that went away mid-query.
fn database_unreachable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    use sea_orm::{RuntimeErr, error::ConnAcquireErr};
    let sqlx_error = match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            return true;
        }
        DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_error))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx_error)) => sqlx_error,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        SqlxError::Io(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed
        | SqlxError::Tls(_) => true,
        SqlxError::Database(error) => error
            .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|error| MYSQL_UNAVAILABLE.contains(&error.number())),
        _ => false,
    }
}

/// MySQL/MariaDB errors that mean "no connection to be had now", not "this statement is
/// wrong": another client used up `max_connections` (1040) or the user's own limit
/// (1203), the connection was killed (1927) or the server is shutting down (1053). Each
/// is a 503: retrying later works.
const MYSQL_UNAVAILABLE: [u16; 4] = [1040, 1203, 1927, 1053];

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable")
            }
            ApiError::Internal(source) => tracing::error!(error = %source, "request failed"),
            _ => {}
        }
        HttpResponse::build(self.status_code()).json(json!({ "error": self.to_string() }))
    }
}
