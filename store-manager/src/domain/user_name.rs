//! [`UserName`]: a person's name, checked and trimmed once, at the door.

use std::fmt;

/// Longest name the `users.name` column holds.
const MAX_NAME_CHARS: usize = 100;

/// A person's name: trimmed, 1 to 100 characters of letters and digits of any script,
/// combining marks, spaces and the punctuation names use (`' ’ - . ,`). Markup and
/// statement syntax (`< > ; ( ) " \` …) are refused: no name needs them, and refusing
/// them at the door keeps them out of every email, log and report downstream (the emails
/// escape names anyway, for events that come from elsewhere).
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
    #[error("name contains {0:?}; use letters, digits, spaces and ' - . ,")]
    Character(char),
}

fn allowed_in_name(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || matches!(c, '\'' | '’' | '-' | '.' | ',') || is_mark(c)
}

/// Combining marks (accents typed as separate characters, as some keyboards produce).
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
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
        if let Some(refused) = name.chars().find(|c| !allowed_in_name(*c)) {
            return Err(InvalidName::Character(refused));
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
            "李雷",
            "Seán O'Brien-Smith",
            "J. R. R. Tolkien",
            "Louis XIV",
            "Zoe\u{0308}",
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
