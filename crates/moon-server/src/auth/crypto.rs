//! The few cryptographic primitives the security layer needs, on the aws-lc-rs provider that
//! rustls already links (so no second crypto stack is compiled): random secrets, SHA-256
//! digests of secrets, constant-time comparison, and AES-256-GCM for secrets kept at rest.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

/// Fills `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(buf)
}

/// A 256-bit random secret as URL-safe base64 (43 characters): session and API-token secrets.
pub fn random_token() -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// The lowercase hex SHA-256 of a secret: what the database keeps instead of the secret, so a
/// leaked table grants nothing. The secrets are 256-bit random values, so an unsalted fast hash
/// is enough (there is nothing to brute-force).
pub fn sha256_hex(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    hex(digest.as_ref())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Compares two secrets without leaking, through timing, how many leading bytes match.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The key that encrypts secrets stored in the database (TOTP secrets), and keys the digests of
/// values that must be findable but not readable (typed user names in the sign-in throttle).
/// `Debug` never shows it.
#[derive(Clone)]
pub struct SealingKey(std::sync::Arc<LessSafeKey>, aws_lc_rs::hmac::Key);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

/// Prefix of a sealed value, so a future key or algorithm change can be told apart.
const SEALED_V1: &str = "v1:";

impl SealingKey {
    /// Derives the AES-256 key from configured key material (any string of at least 32
    /// characters, such as 32 random bytes in base64): SHA-256 of it.
    pub fn from_material(material: &str) -> anyhow::Result<Self> {
        if material.len() < 32 {
            anyhow::bail!("the secret key must be at least 32 characters long (for example 32 random bytes in base64)");
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, material.as_bytes());
        let unbound = UnboundKey::new(&AES_256_GCM, digest.as_ref())
            .map_err(|_| anyhow::anyhow!("cannot build the AES-256-GCM key"))?;
        // A separate key for the keyed digests, derived with its own label, so no key serves
        // two algorithms.
        let mac_material =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("moon-mac-v1:{material}").as_bytes());
        let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, mac_material.as_ref());
        Ok(Self(std::sync::Arc::new(LessSafeKey::new(unbound)), mac))
    }

    /// Fresh key material: 32 random bytes in base64.
    pub fn generate_material() -> anyhow::Result<String> {
        Ok(STANDARD.encode(random_bytes::<32>()?))
    }

    /// Encrypts `plain`, binding it to `context` (such as the user id) so a sealed value cannot
    /// be moved to another row.
    pub fn seal(&self, context: &str, plain: &[u8]) -> anyhow::Result<String> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{SEALED_V1}{}", STANDARD.encode(out)))
    }

    /// HMAC-SHA256 of `value` under `context`, in hex: the same input always gives the same
    /// digest (so it can be looked up), and without the key the input cannot be guessed from it
    /// by trying candidates offline.
    pub fn keyed_digest(&self, context: &str, value: &str) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.1);
        ctx.update(context.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        hex(ctx.sign().as_ref())
    }

    /// Decrypts a value made by [`SealingKey::seal`] with the same context.
    pub fn open(&self, context: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = sealed.strip_prefix(SEALED_V1).ok_or_else(|| anyhow::anyhow!("unknown sealed-value format"))?;
        let bytes = STANDARD.decode(raw).map_err(|_| anyhow::anyhow!("sealed value is not base64"))?;
        if bytes.len() < NONCE_LEN {
            anyhow::bail!("sealed value is too short");
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| anyhow::anyhow!("cannot decrypt a stored secret: wrong MOON_SECRET_KEY?"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = SealingKey::from_material(&SealingKey::generate_material().unwrap()).unwrap();
        let sealed = key.seal("user:1", b"JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(key.open("user:1", &sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert!(key.open("user:2", &sealed).is_err(), "bound to its row");
        let other = SealingKey::from_material(&SealingKey::generate_material().unwrap()).unwrap();
        assert!(other.open("user:1", &sealed).is_err());
        assert!(SealingKey::from_material("short").is_err());
        assert_eq!(format!("{key:?}"), "SealingKey([redacted])");
        let digest = key.keyed_digest("throttle", "alice");
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, key.keyed_digest("throttle", "alice"), "stable, so it can be looked up");
        assert_ne!(digest, other.keyed_digest("throttle", "alice"), "keyed");
        assert_ne!(digest, key.keyed_digest("other", "alice"), "bound to its context");
    }

    #[test]
    fn tokens_are_random_and_digests_are_hex() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(constant_time_eq("same", "same") && !constant_time_eq("same", "diff"));
    }
}
