//! Pseudonyms: how agents appear in the warehouse, the KPI API and every export.
//!
//! A pseudonym is a keyed HMAC-SHA256 of the agent code, so it is stable across refreshes and
//! rebuilds, cannot be reversed without the key, and cannot be recomputed by someone who knows
//! the codes but not the key. The key comes from secret configuration (`MOON_PSEUDONYM_KEY` or
//! `MOON_PSEUDONYM_KEY_FILE`); without one, a random key is generated once and kept in the
//! operational database's `server_secrets` table, so every process of a deployment agrees on it.

use hmac::{Hmac, KeyInit, Mac};
use moon_db::{Db, DbError};
use sha2::Sha256;

const SETTING: &str = "pseudonym_key";

/// The secret key pseudonyms are derived with. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PseudonymKey(Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(<redacted>)")
    }
}

impl PseudonymKey {
    /// A key from configured secret text.
    pub fn from_secret(secret: &str) -> Self {
        Self(secret.as_bytes().to_vec())
    }

    /// The configured key, or the deployment's generated one (created on first use and kept in
    /// `server_secrets`, beside the other generated secrets).
    pub async fn load(db: &Db, configured: Option<&str>) -> Result<Self, DbError> {
        if let Some(secret) = configured.filter(|s| !s.is_empty()) {
            return Ok(Self::from_secret(secret));
        }
        let stored = moon_db::stored_secret(db, SETTING).await.map_err(|e| match e {
            moon_db::StoredSecretError::Db(e) => e,
            e => DbError::Other(moon_db::sqlx::Error::Protocol(e.to_string())),
        })?;
        Ok(Self(stored.expose().as_bytes().to_vec()))
    }

    /// The pseudonym of an agent code, such as `ag_3f9c0e1d2b4a5968`.
    pub fn of(&self, agent_code: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) else {
            return String::from("ag_unavailable");
        };
        mac.update(agent_code.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("ag_{}", hex::encode(&digest[..8]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_distinct() {
        let k = PseudonymKey::from_secret("secret-one");
        let a = k.of("AGT001");
        assert_eq!(a, k.of("AGT001"));
        assert_eq!(a.len(), 19);
        assert!(a.starts_with("ag_"));
        assert_ne!(a, k.of("AGT002"));
        assert_ne!(a, PseudonymKey::from_secret("secret-two").of("AGT001"));
        assert!(!format!("{k:?}").contains("secret"));
    }
}
