//! A JSON field whose type is checked by validation instead of by the deserializer.
//!
//! serde stops at the first value of the wrong type, so `{"product_id": "x", "amount": "abc"}`
//! would be answered with `product_id` alone. A request type whose fields are `Typed` always
//! deserializes; each field's `get` then reports its type error as a [`FieldError`] beside every
//! other problem of the request, so one 422 lists every bad field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::FieldError;

/// A value of type `T` as the client sent it, or why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed<T> {
    /// A value of the expected type.
    Value(T),
    /// Something else: the code and message to report for the field.
    Invalid {
        /// Stable code (`invalid_type` unless the caller chose another).
        code: &'static str,
        /// What was wrong, without the field name.
        message: String,
    },
}

impl<T> Typed<T> {
    /// The value, or the field's error under the name `field`.
    pub fn get(&self, field: &str) -> Result<T, FieldError>
    where
        T: Clone,
    {
        match self {
            Typed::Value(v) => Ok(v.clone()),
            Typed::Invalid { code, message } => Err(FieldError::new(field, code, format!("{field}: {message}"))),
        }
    }

    /// The value, when it has the expected type.
    pub fn value(&self) -> Option<&T> {
        match self {
            Typed::Value(v) => Some(v),
            Typed::Invalid { .. } => None,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Typed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(match T::deserialize(&raw) {
            Ok(v) => Typed::Value(v),
            Err(e) => Typed::Invalid { code: "invalid_type", message: e.to_string() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        id: Option<Typed<i64>>,
        name: Option<Typed<String>>,
    }

    #[test]
    fn every_field_keeps_its_own_type_error() {
        let b: Body = serde_json::from_str(r#"{"id": "x", "name": 5}"#).unwrap_or_else(|e| panic!("{e}"));
        let id = b.id.as_ref().map(|t| t.get("id"));
        let name = b.name.as_ref().map(|t| t.get("name"));
        assert!(matches!(id, Some(Err(ref e)) if e.field == "id" && e.code == "invalid_type"), "{id:?}");
        assert!(matches!(name, Some(Err(ref e)) if e.field == "name" && e.code == "invalid_type"), "{name:?}");
        let ok: Body = serde_json::from_str(r#"{"id": 7, "name": null}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.id, Some(Typed::Value(7)));
        assert_eq!(ok.name, None, "null is absent, as with a plain Option");
    }
}
