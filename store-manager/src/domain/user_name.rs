use std::fmt;

/// Longest name the `users.name` column holds.
const MAX_NAME_CHARS: usize = 100;

/// A user's display name: trimmed, 1 to 100 characters, no control characters. Anything
/// else (HTML included) is allowed and stored as given; the emails escape it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("name must not be empty")]
    Empty,
    #[error("name is longer than {MAX_NAME_CHARS} characters ({0})")]
    TooLong(usize),
    #[error("name contains control characters")]
    ControlCharacters,
}

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidName::Empty);
        }
        let length = name.chars().count();
        if length > MAX_NAME_CHARS {
            return Err(InvalidName::TooLong(length));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidName::ControlCharacters);
        }
        Ok(UserName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_names_as_given_but_trimmed() {
        for raw in [
            "Ada Lovelace",
            "  Da Boss ",
            "Zoë Ñúñez",
            "<b>bold</b>",
            "李雷",
        ] {
            assert_eq!(UserName::parse(raw).expect(raw).as_str(), raw.trim());
        }
    }

    #[test]
    fn rejects_empty_long_and_control_characters() {
        assert_eq!(UserName::parse("  "), Err(InvalidName::Empty));
        assert_eq!(
            UserName::parse(&"é".repeat(101)),
            Err(InvalidName::TooLong(101))
        );
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            UserName::parse("a\u{7}b"),
            Err(InvalidName::ControlCharacters)
        );
    }
}
