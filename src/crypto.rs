//! Tokens at rest: the provider's access, refresh and ID tokens are sealed with
//! AES-256-GCM before they reach the database, under a key named in configuration. The
//! key id is stored with each value, so keys can be rotated: new rows use `current`, old
//! rows stay readable while their key is still listed.
//!
//! Stored form: `lk1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The column a
//! value belongs to is bound in as associated data, so a value cannot be moved to
//! another column and still open.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

const FORMAT: &str = "lk1";
const NONCE_LEN: usize = 12;
/// Longest key id: it is stored in every sealed value.
const KEY_ID_MAX: usize = 32;

/// The keys that seal the provider's tokens at rest (`auth.encryption`), by id.
///
/// Outside a running app it opens stored values, e.g. in a maintenance script:
///
/// ```
/// use latchkey::Keyring;
///
/// let keyring = Keyring::new("k1", [("k1", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")])?;
/// let sealed = keyring.seal("a token", "sessions.id_token")?;
/// assert_eq!(keyring.open(&sealed, "sessions.id_token")?, "a token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    current: Arc<str>,
    keys: Arc<HashMap<String, Aes256Gcm>>,
}

/// Why a keyring could not be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key id that could not be stored in a sealed value.
    #[error("key id `{id}` must be 1 to 32 of a-z, A-Z, 0-9, '-' and '_'")]
    BadId {
        /// The id as configured.
        id: String,
    },
    /// A key that is not 32 bytes of base64.
    #[error("must be 32 bytes, base64-encoded")]
    NotAKey {
        /// The id of the key.
        id: String,
    },
    /// The current key id names no listed key.
    #[error("no key `{id}` in auth.encryption.keys")]
    NoCurrent {
        /// The current key id as configured.
        id: String,
    },
}

/// Why a stored value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Not in the sealed format at all.
    #[error("not a sealed value")]
    Malformed,
    /// Sealed under a key that is no longer listed.
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    /// Tampered with, or sealed for another column.
    #[error("does not open with its key (tampered, or moved from another column)")]
    Forged,
}

/// Sealing failed (AES-GCM refuses only inputs of gigabytes, never a token): the value
/// is not stored rather than stored empty.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a value could not be sealed")]
#[non_exhaustive]
pub struct SealError;

impl Keyring {
    /// A keyring of `keys` (id, 32 bytes in base64), sealing new values with `current`.
    pub fn new<'a>(current: &str, keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Keyring, KeyError> {
        let mut ciphers = HashMap::new();
        for (id, encoded) in keys {
            let id_ok = !id.is_empty()
                && id.len() <= KEY_ID_MAX
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(KeyError::BadId { id: id.to_string() });
            }
            let bytes = decode_key(encoded).ok_or_else(|| KeyError::NotAKey { id: id.to_string() })?;
            ciphers.insert(id.to_string(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)));
        }
        if !ciphers.contains_key(current) {
            return Err(KeyError::NoCurrent { id: current.to_string() });
        }
        Ok(Keyring { current: current.into(), keys: Arc::new(ciphers) })
    }

    /// A keyring with one random key that lives as long as the process: for development
    /// profiles without configured keys (sealed values do not survive a restart).
    pub fn ephemeral() -> Keyring {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let keys = HashMap::from([("ephemeral".to_string(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))]);
        Keyring { current: "ephemeral".into(), keys: Arc::new(keys) }
    }

    /// Seals `plaintext` for `column` (e.g. "sessions.id_token") under the current key.
    pub fn seal(&self, plaintext: &str, column: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let cipher = self.keys.get(&*self.current).ok_or(SealError)?;
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: column.as_bytes() })
            .map_err(|_| SealError)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        Ok(format!("{FORMAT}.{}.{}", self.current, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens a value sealed for `column` by any listed key.
    pub fn open(&self, sealed: &str, column: &str) -> Result<String, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Malformed);
        };
        let cipher = self.keys.get(key_id).ok_or_else(|| OpenError::UnknownKey(key_id.to_string()))?;
        let blob = URL_SAFE_NO_PAD.decode(data).map_err(|_| OpenError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: column.as_bytes() })
            .map_err(|_| OpenError::Forged)?;
        String::from_utf8(plain).map_err(|_| OpenError::Forged)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring").field("current", &self.current).field("ids", &ids).finish_non_exhaustive()
    }
}

/// Equality whose time does not depend on where the inputs differ (CSRF tokens, the
/// metrics' bearer token).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    [STANDARD.decode(text), URL_SAFE.decode(text), URL_SAFE_NO_PAD.decode(text)]
        .into_iter()
        .flatten()
        .find(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(current: &str, keys: &[(&str, &str)]) -> Keyring {
        Keyring::new(current, keys.iter().copied()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn seal(keyring: &Keyring, text: &str, column: &str) -> String {
        keyring.seal(text, column).unwrap_or_else(|e| panic!("{e}"))
    }

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn sealed_values_open_and_hide_the_plaintext() {
        let keyring = keyring("k1", &[("k1", K1)]);
        let sealed = seal(&keyring, "eyJhbGciOi.secret.token", "sessions.id_token");
        assert!(sealed.starts_with("lk1.k1.") && !sealed.contains("secret"));
        assert_ne!(sealed, seal(&keyring, "eyJhbGciOi.secret.token", "sessions.id_token"), "fresh nonce each time");
        assert_eq!(keyring.open(&sealed, "sessions.id_token").ok().as_deref(), Some("eyJhbGciOi.secret.token"));
    }

    #[test]
    fn a_value_moved_to_another_column_or_tampered_does_not_open() {
        let keyring = keyring("k1", &[("k1", K1)]);
        let sealed = seal(&keyring, "token", "accounts.access_token");
        assert_eq!(keyring.open(&sealed, "accounts.refresh_token"), Err(OpenError::Forged));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(keyring.open(&tampered, "accounts.access_token").is_err());
        assert_eq!(keyring.open("plain", "accounts.access_token"), Err(OpenError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = keyring("k1", &[("k1", K1)]);
        let sealed_before = seal(&old, "before", "c");
        let rotated = keyring("k2", &[("k1", K1), ("k2", K2)]);
        assert_eq!(rotated.open(&sealed_before, "c").ok().as_deref(), Some("before"), "old key still listed");
        assert!(seal(&rotated, "after", "c").starts_with("lk1.k2."));
        let retired = keyring("k2", &[("k2", K2)]);
        assert_eq!(retired.open(&sealed_before, "c"), Err(OpenError::UnknownKey("k1".into())));
    }

    #[test]
    fn keys_must_be_32_bytes_and_current_must_be_listed() {
        assert_eq!(Keyring::new("k1", [("k1", "c2hvcnQ=")]).err(), Some(KeyError::NotAKey { id: "k1".into() }));
        assert_eq!(Keyring::new("k9", [("k1", K1)]).err(), Some(KeyError::NoCurrent { id: "k9".into() }));
    }

    #[test]
    fn key_ids_that_a_sealed_value_could_not_carry_are_refused() {
        for id in ["", "k.1", "k 1", "ключ", &"k".repeat(33)] {
            assert_eq!(Keyring::new(id, [(id, K1)]).err(), Some(KeyError::BadId { id: id.to_string() }), "{id:?}");
        }
        assert!(Keyring::new("dev-1_a", [("dev-1_a", K1)]).is_ok());
    }

    #[test]
    fn debug_output_names_key_ids_but_never_key_material() {
        let text = format!("{:?}", keyring("k1", &[("k1", K1)]));
        assert!(text.contains("k1") && !text.contains(K1), "{text}");
    }
}
