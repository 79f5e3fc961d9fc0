//! Exact money: an integer count of cents, never a float.
//!
//! Amounts arrive as JSON strings (`"125000.50"`) or JSON numbers (`125000.5`). Numbers are read
//! from their literal text (serde_json's `arbitrary_precision`), so `0.1` is the decimal 0.1, not
//! the nearest binary float. Every database stores the cents as a 64-bit integer, which every
//! backend sums and compares exactly.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

/// A strictly positive amount of money with at most two decimal places, below [`Money::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// The largest amount one sale or target may carry: 999,999,999.99. Far above any real policy,
    /// low enough that sums over millions of sales never come near `i64::MAX`.
    pub const MAX: Money = Money(99_999_999_999);

    /// Parses user input, naming `field` in the error.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                "invalid_amount",
                format!(
                    "{field} must be a decimal number with at most two decimal places, such as 1250.50; got {raw:?}"
                ),
            )
        };
        let trimmed = raw.trim();
        // Decimal::from_str_exact refuses to round, and we refuse exponents, signs and spaces that
        // a person would not type for an amount.
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            return Err(invalid());
        }
        let value = Decimal::from_str_exact(trimmed).map_err(|_| invalid())?;
        if value.scale() > 2 && value.normalize().scale() > 2 {
            return Err(FieldError::new(
                field,
                "too_precise",
                format!("{field} may have at most two decimal places; got {raw:?}"),
            ));
        }
        if value <= Decimal::ZERO {
            return Err(FieldError::new(
                field,
                "not_positive",
                format!("{field} must be greater than zero; got {raw:?}"),
            ));
        }
        let cents = (value * Decimal::ONE_HUNDRED)
            .normalize()
            .to_string()
            .parse::<i64>()
            .ok()
            .filter(|c| *c <= Self::MAX.0)
            .ok_or_else(|| {
                FieldError::new(field, "too_large", format!("{field} must not exceed {}; got {raw:?}", Self::MAX))
            })?;
        Ok(Money(cents))
    }

    /// Wraps a cent count read back from the database, where it was validated on the way in.
    /// Sums of many amounts may exceed [`Money::MAX`]; that is allowed here.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in cents, as every database stores it.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses an amount that arrived as a JSON string or number, naming `field` on failure:
    /// request bodies that keep amounts as raw JSON (to report every bad field at once) read
    /// them through this, so a string and a number are held to the same rules.
    pub fn parse_json(field: &str, value: &serde_json::Value) -> Result<Self, FieldError> {
        match value {
            serde_json::Value::String(s) => Money::parse(field, s),
            serde_json::Value::Number(n) => Money::parse(field, &n.to_string()),
            serde_json::Value::Null => Err(FieldError::required(field)),
            other => Err(FieldError::new(
                field,
                "invalid_type",
                format!("{field} must be an amount such as \"1250.50\"; got {other}"),
            )),
        }
    }

    /// The exact decimal value, for arithmetic such as attainment percentages.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Adds two amounts, `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// The amount with thousands separators (`1,460,000.00`): what people read in tables and
    /// cards. Exports and the API keep the plain form ([`fmt::Display`]), which machines parse.
    pub fn grouped(self) -> String {
        let plain = self.to_string();
        let (sign, digits) = plain.strip_prefix('-').map_or(("", plain.as_str()), |d| ("-", d));
        let (whole, cents) = digits.split_once('.').unwrap_or((digits, "00"));
        format!("{sign}{}.{cents}", group_thousands(whole))
    }
}

/// `1234567` as `1,234,567`: digits in groups of three from the right.
pub fn group_thousands(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The currency amounts are in (ISO 4217 code such as `LKR`), shown beside them in the console.
/// Amounts carry no currency of their own: the business runs in one, set in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurrencyCode([u8; 3]);

impl CurrencyCode {
    /// Sri Lankan rupees, the insurer's currency, when nothing else is configured.
    pub const LKR: CurrencyCode = CurrencyCode(*b"LKR");

    /// Three ASCII letters (any case, stored upper case), such as `LKR` or `usd`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bytes = raw.trim().as_bytes();
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_alphabetic) => {
                Ok(CurrencyCode([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()]))
            }
            _ => Err(format!("currency must be a three-letter ISO 4217 code such as LKR; got {raw:?}")),
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl Default for CurrencyCode {
    fn default() -> Self {
        Self::LKR
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Money {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse("amount", s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts a JSON string or a JSON number, both read from their exact text. The error message
    /// does not name the field: serde's path tracking adds it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected an amount as a string or number, such as \"1250.50\", got {other}"
                )));
            }
        };
        Money::parse("amount", &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]{1,9}(\.[0-9]{1,2})?$"))
            .description(Some(
                "Exact amount with at most two decimal places, strictly positive, at most 999999999.99. \
                 Responses always use a string with two decimals; requests may send a string or a JSON number.",
            ))
            .examples(["125000.00"])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// The API schema of a computed amount: a total or a difference of [`Money`] values, which may
/// be negative (a gap to pace) or larger than one amount may be (a company's year). Only the
/// schema: the values are `Money` and serialize as it does.
pub struct Total;

impl utoipa::PartialSchema for Total {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?[0-9]{1,16}\.[0-9]{2}$"))
            .description(Some(
                "A computed amount (a sum, or a difference that is negative when short), exact, with two decimals.",
            ))
            .examples(["-2714.29"])
            .into()
    }
}

impl utoipa::ToSchema for Total {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_group_by_thousands_for_people() {
        assert_eq!(Money::from_cents(146_000_000).grouped(), "1,460,000.00");
        assert_eq!(Money::from_cents(12_345).grouped(), "123.45");
        assert_eq!(Money::from_cents(100_000).grouped(), "1,000.00");
        assert_eq!(Money::from_cents(-2_500_000).grouped(), "-25,000.00");
        assert_eq!(group_thousands("1620433000"), "1,620,433,000");
    }

    #[test]
    fn currency_codes_are_three_letters() {
        assert_eq!(CurrencyCode::parse("usd").map(|c| c.to_string()), Ok(String::from("USD")));
        assert_eq!(CurrencyCode::default().as_str(), "LKR");
        for bad in ["", "RS", "LKRS", "L1R", "€€€"] {
            assert!(CurrencyCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tenths_add_exactly() {
        let a = Money::parse("a", "0.10").unwrap();
        let b = Money::parse("a", "0.20").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "0.30");
    }

    #[test]
    fn json_numbers_keep_their_literal_value() {
        let m: Money = serde_json::from_str("0.1").unwrap();
        assert_eq!(m.cents(), 10);
        let m: Money = serde_json::from_str("125000.5").unwrap();
        assert_eq!(m.to_string(), "125000.50");
        let m: Money = serde_json::from_str("\"99999.99\"").unwrap();
        assert_eq!(m.cents(), 9_999_999);
        let m: Money = serde_json::from_str("12.50000").unwrap();
        assert_eq!(m.cents(), 1250);
    }

    #[test]
    fn bad_amounts_name_the_reason() {
        let code = |s: &str| Money::parse("amount", s).unwrap_err().code;
        assert_eq!(code("0"), "not_positive");
        assert_eq!(code("-5"), "not_positive");
        assert_eq!(code("1.005"), "too_precise");
        assert_eq!(code("1000000000.00"), "too_large");
        assert_eq!(code("1e5"), "invalid_amount");
        assert_eq!(code("abc"), "invalid_amount");
        assert_eq!(code(""), "invalid_amount");
        assert!(serde_json::from_str::<Money>("true").is_err());
        assert!(serde_json::from_str::<Money>("1e400").is_err());
    }

    #[test]
    fn display_pads_cents() {
        assert_eq!(Money::from_cents(12_500_000).to_string(), "125000.00");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::MAX.to_string(), "999999999.99");
    }
}
