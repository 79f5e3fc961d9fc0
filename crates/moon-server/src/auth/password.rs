//! Passwords: the policy a new password must meet, and Argon2id hashing off the async threads.
//!
//! Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane) costs tens of milliseconds of
//! CPU and memory per hash by design. Each hash runs in `spawn_blocking`, and a semaphore caps
//! how many run at once, so a burst of sign-ins on a 2-core pod cannot starve the request
//! threads or exhaust memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use moon_domain::FieldError;
use tokio::sync::Semaphore;

/// The shortest password accepted. Length is what makes a password strong; no composition rules
/// (NIST SP 800-63B).
pub const MIN_LENGTH: usize = 12;
/// The longest password accepted, so hashing cost cannot be driven up by huge inputs.
pub const MAX_LENGTH: usize = 256;

/// Checks a new password against the policy. (A breached-password list check is not done: it
/// would need a list shipped with the binary or an outside service.)
pub fn check_policy(field: &str, password: &str, username: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(FieldError::new(
            field,
            "password_too_short",
            format!("{field} must be at least {MIN_LENGTH} characters long"),
        ));
    }
    if chars > MAX_LENGTH {
        return Err(FieldError::new(
            field,
            "password_too_long",
            format!("{field} may be at most {MAX_LENGTH} characters long"),
        ));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(FieldError::new(
            field,
            "password_contains_username",
            format!("{field} may not contain the username"),
        ));
    }
    Ok(())
}

/// A random password of 24 URL-safe characters (144 bits), for `moon user add` without a
/// password and for the demo users.
pub fn generate() -> anyhow::Result<String> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(super::crypto::random_bytes::<18>()?))
}

/// Whether a stored hash was made with other parameters than today's (an older default, another
/// Argon2 variant, or no valid PHC string): it is then re-hashed at the next successful sign-in,
/// the one moment the password is at hand.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return true };
    let Ok(params) = argon2::Params::try_from(&parsed) else { return true };
    let want = argon2::Params::default();
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || (params.m_cost(), params.t_cost(), params.p_cost()) != (want.m_cost(), want.t_cost(), want.p_cost())
}

/// Hashes and verifies passwords, at most `permits` at a time.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("available", &self.permits.available_permits()).finish()
    }
}

impl Hasher {
    /// A hasher running at most `permits` hashes concurrently.
    pub fn new(permits: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(permits.max(1))) }
    }

    /// The Argon2id PHC string of `password`, with a fresh random salt.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
        })
        .await?
    }

    /// Whether `password` matches the PHC string `hash`. An unparsable hash never matches.
    pub async fn verify(&self, password: &str, hash: &str) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let password = password.to_owned();
        let hash = hash.to_owned();
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else { return false };
            Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await
        .map_err(Into::into)
    }

    /// Spends the time of one verification without a stored hash, so a sign-in for an unknown
    /// user takes as long as one with a wrong password (no username probing by timing).
    pub async fn verify_dummy(&self, password: &str) -> anyhow::Result<()> {
        // A valid Argon2id hash of a random string, computed once per process.
        static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let hash = DUMMY.get_or_try_init(|| async { self.hash(&super::crypto::random_token()?).await }).await?.clone();
        self.verify(password, &hash).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_wants_length_not_tricks() {
        assert!(check_policy("password", "short", "ann").is_err());
        assert!(check_policy("password", "correct horse battery", "ann").is_ok());
        assert!(check_policy("password", "my name is annabel!!", "annabel").is_err());
        assert!(check_policy("password", &"x".repeat(300), "ann").is_err());
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let h = Hasher::new(1);
        let a = h.hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, h.hash("correct horse battery").await.unwrap());
        assert!(h.verify("correct horse battery", &a).await.unwrap());
        assert!(!h.verify("wrong horse battery", &a).await.unwrap());
        assert!(!h.verify("x", "not a hash").await.unwrap());
        assert!(!needs_rehash(&a), "today's parameters");
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak), "older, weaker parameters");
        assert!(h.verify("correct horse battery", &weak).await.unwrap(), "still verifies until re-hashed");
        assert!(needs_rehash("not a hash"));
    }
}
