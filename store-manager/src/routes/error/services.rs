//! The status each service error answers: one `From` per service, so the services stay
//! free of HTTP. Database errors are 503 or 500 ([`ApiError::from_database`]); the others
//! keep the service's error as their cause, whose text is the response's.

use super::ApiError;
use crate::services::orders::OrderError;
use crate::services::products::ProductError;
use crate::services::stocks::StockError;
use crate::services::users::UserError;

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::DuplicateEmail(_) | UserError::HasOrders(_) => {
                ApiError::Conflict(error.into())
            }
            UserError::NotFound(_) => ApiError::NotFound(error.into()),
            UserError::Database(source) => ApiError::from_database(source),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(error: ProductError) -> Self {
        match error {
            ProductError::DuplicateSku(_) | ProductError::OnAnOrder(_) => {
                ApiError::Conflict(error.into())
            }
            ProductError::NotFound(_) => ApiError::NotFound(error.into()),
            ProductError::Database(source) => ApiError::from_database(source),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(error: StockError) -> Self {
        match error {
            StockError::Lines(_)
            | StockError::UnknownOperation(_)
            | StockError::UnknownProduct(_) => ApiError::Unprocessable(error.into()),
            StockError::BelowZero { .. } | StockError::AboveMaximum { .. } => {
                ApiError::Conflict(error.into())
            }
            StockError::Database(source) => ApiError::from_database(source),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::Lines(_)
            | OrderError::UnknownUser(_)
            | OrderError::UnknownProduct(_)
            | OrderError::TotalTooLarge => ApiError::Unprocessable(error.into()),
            OrderError::InsufficientStock { .. } => ApiError::Conflict(error.into()),
            OrderError::NotFound(_) => ApiError::NotFound(error.into()),
            OrderError::Database(source) => ApiError::from_database(source),
        }
    }
}
