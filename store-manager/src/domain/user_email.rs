//! [`UserEmail`]: an email address checked, trimmed and lower-cased once, at the door.

use std::fmt;

/// Longest email the `users.email` column holds.
const MAX_EMAIL_CHARS: usize = 150;

/// A syntactically plausible email address, trimmed and lower-cased so that uniqueness
/// means the same on SQLite (case-sensitive) and MySQL (case-insensitive collation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEmail(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid email {shown:?}: {reason}")]
pub struct InvalidEmail {
    shown: String,
    reason: &'static str,
}

impl UserEmail {
    /// Checks the shape `local@domain.tld` without trying to implement RFC 5322: no spaces
    /// or control characters, one `@`, a non-empty local part, a domain with a dot and no
    /// empty labels.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        let fail = |reason| {
            Err(InvalidEmail {
                shown: email.chars().take(60).collect(),
                reason,
            })
        };
        if email.is_empty() {
            return fail("it is empty");
        }
        if email.chars().count() > MAX_EMAIL_CHARS {
            return fail("it is longer than 150 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return fail("it contains spaces or control characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return fail("it has no '@'");
        };
        if local.is_empty() {
            return fail("nothing before the '@'");
        }
        if domain.contains('@') {
            return fail("more than one '@'");
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return fail("the domain must look like example.com");
        }
        if email.contains(['<', '>', '"', '\'', '\\', ',', ';', '(', ')', '[', ']']) {
            return fail("it contains characters an address cannot have here");
        }
        Ok(UserEmail(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_labs_addresses_and_normalises_case() {
        for raw in [
            "alovelace@example.com",
            " Jdoe@Example.COM ",
            "a.b+c@sub.example.org",
        ] {
            let email = UserEmail::parse(raw).expect(raw);
            assert_eq!(email.as_str(), raw.trim().to_lowercase());
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for raw in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@b",
            "a@@example.com",
            "a@example..com",
            "a b@example.com",
            "a@example.com.",
            "<script>@example.com",
            "x'; DROP TABLE users; --@example.com",
            "a\u{0}@example.com",
        ] {
            assert!(UserEmail::parse(raw).is_err(), "{raw:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(150));
        assert!(UserEmail::parse(&long).is_err());
    }
}
