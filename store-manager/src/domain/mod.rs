//! Validated input: newtypes that can only be built from valid values, so the services
//! below the routes never see an invalid name or email.

mod user_email;
mod user_name;

pub use user_email::{InvalidEmail, UserEmail};
pub use user_name::{InvalidName, UserName};
