//! The three kinds of user the store knows, with the ids of the lab's `user_types` table.

use serde::{Deserialize, Serialize};

/// A user's type. On the wire and in the database it is the integer id of the lab's
/// `user_types` table; a message without `user_type_id` means [`UserType::Client`],
/// which is what every user of the lab's first version was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum UserType {
    #[default]
    Client,
    Employee,
    Manager,
}

/// A `user_type_id` that is not 1, 2 or 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown user type id {0} (expected 1 Client, 2 Employee or 3 Manager)")]
pub struct UnknownUserType(pub i64);

impl UserType {
    pub const ALL: [UserType; 3] = [UserType::Client, UserType::Employee, UserType::Manager];

    /// The id in the `user_types` table.
    pub const fn id(self) -> i32 {
        match self {
            UserType::Client => 1,
            UserType::Employee => 2,
            UserType::Manager => 3,
        }
    }

    /// The name in the `user_types` table.
    pub const fn name(self) -> &'static str {
        match self {
            UserType::Client => "Client",
            UserType::Employee => "Employee",
            UserType::Manager => "Manager",
        }
    }

    pub fn from_id(id: i64) -> Result<Self, UnknownUserType> {
        match id {
            1 => Ok(UserType::Client),
            2 => Ok(UserType::Employee),
            3 => Ok(UserType::Manager),
            other => Err(UnknownUserType(other)),
        }
    }
}

impl TryFrom<i64> for UserType {
    type Error = UnknownUserType;
    fn try_from(id: i64) -> Result<Self, Self::Error> {
        UserType::from_id(id)
    }
}

impl From<UserType> for i64 {
    fn from(user_type: UserType) -> i64 {
        i64::from(user_type.id())
    }
}

impl std::fmt::Display for UserType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for user_type in UserType::ALL {
            assert_eq!(UserType::from_id(i64::from(user_type.id())), Ok(user_type));
        }
    }

    #[test]
    fn unknown_id_is_an_error() {
        assert_eq!(UserType::from_id(0), Err(UnknownUserType(0)));
        assert_eq!(UserType::from_id(4), Err(UnknownUserType(4)));
    }

    #[test]
    fn absent_means_client() {
        assert_eq!(UserType::default(), UserType::Client);
    }
}
