//! The unsubscribe link's token: names one sent digest (its claim key) and carries an
//! HMAC-SHA256 of it under the server's secret key (`MOON_SECRET_KEY`, or the key generated into
//! the database), with a purpose label of its own. It is not a session and grants nothing else:
//! a token made for another purpose, or an altered one, does not verify. It does not expire (a
//! mail may be read months later); it works once, since the sent digest records its use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::crypto::{SealingKey, constant_time_eq};

/// The purpose label bound into the MAC: only digest unsubscribe links verify under it.
pub const PURPOSE: &str = "moon.digest.unsubscribe.v1";

/// The token for a sent digest's claim key.
pub fn sign(key: &SealingKey, claim_key: &str) -> String {
    sign_for(key, PURPOSE, claim_key)
}

/// A token for `purpose` (tests make other-purpose tokens with it).
pub fn sign_for(key: &SealingKey, purpose: &str, claim_key: &str) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(claim_key.as_bytes()), key.keyed_digest(purpose, claim_key))
}

/// The claim key a token names, if its MAC is right for this purpose.
pub fn verify(key: &SealingKey, token: &str) -> Option<String> {
    let (encoded, mac) = token.trim().split_once('.')?;
    let claim_key = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    constant_time_eq(&key.keyed_digest(PURPOSE, &claim_key), mac).then_some(claim_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unaltered_token_of_this_purpose_verifies() {
        let key = SealingKey::from_material("0123456789abcdef0123456789abcdef").unwrap();
        let t = sign(&key, "u1:weekly:1765080000");
        assert_eq!(verify(&key, &t).as_deref(), Some("u1:weekly:1765080000"));
        // Another claim key with the same MAC.
        let (_, mac) = t.split_once('.').unwrap();
        let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode("u2:weekly:1765080000"));
        assert_eq!(verify(&key, &forged), None);
        // A flipped MAC character, a token of another purpose, another key, garbage.
        let mut altered = t.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == '0' { '1' } else { '0' });
        assert_eq!(verify(&key, &altered), None);
        assert_eq!(verify(&key, &sign_for(&key, "moon.other", "u1:weekly:1765080000")), None);
        let other = SealingKey::from_material("fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(verify(&other, &t), None);
        assert_eq!(verify(&key, "not-a-token"), None);
    }
}
