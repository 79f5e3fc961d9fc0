//! Partial updates: telling "absent" from "null" in a JSON body.

use serde::{Deserialize, Deserializer};

/// With `#[serde(default, deserialize_with = "double_option")]`, an absent field is `None`
/// (leave unchanged), `null` is `Some(None)` (clear), and a value is `Some(Some(v))`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
