//! Validated text values: codes, names, contact details and messages.
//!
//! Each type has a private field and a `parse` that trims the input and checks it, so a value of
//! the type is known good wherever it travels.

use crate::FieldError;

/// Rejects control characters (newlines included) that would corrupt CSV exports and log lines.
fn no_control(field: &str, s: &str) -> Result<(), FieldError> {
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "invalid_characters",
            format!("{field} must not contain control characters such as newlines"),
        ));
    }
    Ok(())
}

fn bounded<'a>(field: &str, raw: &'a str, max: usize) -> Result<&'a str, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldError::new(field, "blank", format!("{field} must not be blank")));
    }
    if s.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("{field} must be at most {max} characters")));
    }
    Ok(s)
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives up the validated text.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// An agent's business identifier such as `AGT004`: 2–20 characters, an upper-case letter
    /// first, then upper-case letters, digits or `-`. Input is upper-cased, so `agt004` and
    /// `AGT004` name the same agent on every backend.
    AgentCode
);

impl AgentCode {
    /// Parses and normalises an agent code.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 20)?.to_ascii_uppercase();
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !first_ok || !rest_ok || s.len() < 2 {
            return Err(FieldError::new(
                field,
                "invalid_format",
                format!(
                    "{field} must be 2-20 letters, digits or '-', starting with a letter, such as AGT004; got {raw:?}"
                ),
            ));
        }
        Ok(Self(s))
    }
}

text_type!(
    /// A short human label: a first or last name, a branch, a team, a product name or type.
    /// 1–100 characters after trimming, no control characters.
    Label
);

impl Label {
    /// Parses a label of at most 100 characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 100)?;
        no_control(field, s)?;
        Ok(Self(s.to_owned()))
    }
}

text_type!(
    /// An e-mail address, checked for shape only (one `@`, a dotted domain, no spaces); delivery
    /// is the only real test of an address.
    Email
);

impl Email {
    /// Parses an address of at most 254 characters; the domain is lower-cased.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 254)?;
        let invalid = || {
            FieldError::new(
                field,
                "invalid_email",
                format!("{field} must be an e-mail address such as name@example.com; got {raw:?}"),
            )
        };
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty()
            || local.len() > 64
            || local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@')
            || !domain_ok
        {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }
}

text_type!(
    /// A telephone number: digits with optional `+`, spaces, `-` and parentheses; 7–20 characters.
    PhoneNumber
);

impl PhoneNumber {
    /// Parses a telephone number.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 20)?;
        let digits = s.chars().filter(char::is_ascii_digit).count();
        let shape_ok = s
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0));
        if !shape_ok || digits < 7 {
            return Err(FieldError::new(
                field,
                "invalid_phone",
                format!("{field} must be a telephone number such as 0771234567 or +94 77 123 4567; got {raw:?}"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

text_type!(
    /// An insurer's policy number: 1–40 letters, digits, `-`, `/` or `.`.
    PolicyNumber
);

impl PolicyNumber {
    /// Parses a policy number.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 40)?;
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.')) {
            return Err(FieldError::new(
                field,
                "invalid_format",
                format!("{field} may contain only letters, digits, '-', '/' and '.'; got {raw:?}"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

text_type!(
    /// The text of a notification: 1–1000 characters. Newlines are allowed here.
    Message
);

impl Message {
    /// Parses a message.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let s = bounded(field, raw, 1000)?;
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(FieldError::new(
                field,
                "invalid_characters",
                format!("{field} must not contain control characters other than newlines and tabs"),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_codes_are_normalised_and_checked() {
        assert_eq!(AgentCode::parse("c", " agt004 ").unwrap().as_str(), "AGT004");
        assert_eq!(AgentCode::parse("c", "4AGT").unwrap_err().code, "invalid_format");
        assert_eq!(AgentCode::parse("c", "AG T").unwrap_err().code, "invalid_format");
        assert_eq!(AgentCode::parse("c", "").unwrap_err().code, "blank");
        assert_eq!(AgentCode::parse("c", &"A".repeat(21)).unwrap_err().code, "too_long");
    }

    #[test]
    fn emails_are_shape_checked() {
        assert_eq!(Email::parse("e", "Nimal@Example.COM").unwrap().as_str(), "Nimal@example.com");
        for bad in ["nimal", "nimal@", "@x.com", "a b@x.com", "a@x", "a@x..com", "a@@x.com"] {
            assert!(Email::parse("e", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn labels_reject_blank_long_and_control() {
        assert_eq!(Label::parse("l", "  Colombo ").unwrap().as_str(), "Colombo");
        assert_eq!(Label::parse("l", "   ").unwrap_err().code, "blank");
        assert_eq!(Label::parse("l", &"x".repeat(101)).unwrap_err().code, "too_long");
        assert_eq!(Label::parse("l", "a\nb").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn phones_and_policies() {
        assert!(PhoneNumber::parse("p", "+94 77 123-4567").is_ok());
        assert!(PhoneNumber::parse("p", "12+34567").is_err());
        assert!(PhoneNumber::parse("p", "123").is_err());
        assert!(PolicyNumber::parse("p", "POL-2024/001").is_ok());
        assert!(PolicyNumber::parse("p", "POL 1").is_err());
        assert!(Message::parse("m", "line one\nline two").is_ok());
        assert!(Message::parse("m", "bell\u{7}").is_err());
    }
}
