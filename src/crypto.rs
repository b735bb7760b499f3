//! Tokens at rest: the IdP's access, refresh and ID tokens are sealed with AES-256-GCM
//! before they reach the database, under a key named in configuration. The key id is
//! stored with each value, so keys can be rotated: new rows use `current`, old rows stay
//! readable while their key is still listed.
//!
//! Stored form: `lk1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The column a
//! value belongs to is bound in as associated data, so a value cannot be moved to
//! another column and still open.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;

use crate::config::EncryptionConfig;

const FORMAT: &str = "lk1";
const NONCE_LEN: usize = 12;

pub struct TokenCipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

#[derive(Debug, thiserror::Error)]
pub enum CipherError {
    #[error("not a sealed value")]
    Malformed,
    #[error("sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("does not open with its key (tampered, or moved from another column)")]
    Forged,
}

impl TokenCipher {
    /// From validated configuration; `None` there means an ephemeral key (see config).
    pub fn new(config: &EncryptionConfig) -> Result<TokenCipher, String> {
        let mut keys = HashMap::new();
        for (id, encoded) in &config.keys {
            let bytes = decode_key(encoded.expose())
                .ok_or_else(|| format!("auth.encryption.keys.{id}: must be 32 bytes, base64-encoded"))?;
            keys.insert(id.clone(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)));
        }
        if !keys.contains_key(&config.current) {
            return Err(format!("auth.encryption.current: no key `{}` in auth.encryption.keys", config.current));
        }
        Ok(TokenCipher { current: config.current.clone(), keys })
    }

    /// A cipher with a random key that lives as long as the process: for development
    /// profiles without configured keys (sealed values do not survive a restart).
    pub fn ephemeral() -> TokenCipher {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let keys = HashMap::from([("ephemeral".to_string(), Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))]);
        TokenCipher { current: "ephemeral".into(), keys }
    }

    /// Seals `plaintext` for `column` (e.g. "sessions.id_token") under the current key.
    pub fn seal(&self, plaintext: &str, column: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let cipher = &self.keys[&self.current];
        // AES-GCM encryption only fails for inputs of gigabytes; tokens are kilobytes.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: column.as_bytes() })
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("{FORMAT}.{}.{}", self.current, URL_SAFE_NO_PAD.encode(blob))
    }

    pub fn seal_opt(&self, plaintext: Option<&str>, column: &str) -> Option<String> {
        plaintext.map(|text| self.seal(text, column))
    }

    /// Opens a value sealed for `column` by any configured key.
    pub fn open(&self, sealed: &str, column: &str) -> Result<String, CipherError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CipherError::Malformed);
        };
        let cipher = self.keys.get(key_id).ok_or_else(|| CipherError::UnknownKey(key_id.to_string()))?;
        let blob = URL_SAFE_NO_PAD.decode(data).map_err(|_| CipherError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(CipherError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: column.as_bytes() })
            .map_err(|_| CipherError::Forged)?;
        String::from_utf8(plain).map_err(|_| CipherError::Forged)
    }
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
    use crate::config::Secret;

    fn cipher(current: &str, keys: &[(&str, &str)]) -> TokenCipher {
        let keys = keys.iter().map(|(id, key)| (id.to_string(), Secret::new(*key))).collect();
        TokenCipher::new(&EncryptionConfig { current: current.into(), keys }).unwrap_or_else(|e| panic!("{e}"))
    }

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn sealed_values_open_and_hide_the_plaintext() {
        let cipher = cipher("k1", &[("k1", K1)]);
        let sealed = cipher.seal("eyJhbGciOi.secret.token", "sessions.id_token");
        assert!(sealed.starts_with("lk1.k1.") && !sealed.contains("secret"));
        assert_ne!(sealed, cipher.seal("eyJhbGciOi.secret.token", "sessions.id_token"), "fresh nonce each time");
        assert_eq!(cipher.open(&sealed, "sessions.id_token").ok().as_deref(), Some("eyJhbGciOi.secret.token"));
    }

    #[test]
    fn a_value_moved_to_another_column_or_tampered_does_not_open() {
        let cipher = cipher("k1", &[("k1", K1)]);
        let sealed = cipher.seal("token", "accounts.access_token");
        assert!(matches!(cipher.open(&sealed, "accounts.refresh_token"), Err(CipherError::Forged)));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(cipher.open(&tampered, "accounts.access_token").is_err());
        assert!(matches!(cipher.open("plain", "accounts.access_token"), Err(CipherError::Malformed)));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = cipher("k1", &[("k1", K1)]);
        let sealed_before = old.seal("before", "c");
        let rotated = cipher("k2", &[("k1", K1), ("k2", K2)]);
        assert_eq!(rotated.open(&sealed_before, "c").ok().as_deref(), Some("before"), "old key still listed");
        assert!(rotated.seal("after", "c").starts_with("lk1.k2."));
        let retired = cipher("k2", &[("k2", K2)]);
        assert!(matches!(retired.open(&sealed_before, "c"), Err(CipherError::UnknownKey(_))));
    }

    #[test]
    fn keys_must_be_32_bytes() {
        let short = [("k1".to_string(), Secret::new("c2hvcnQ="))].into_iter().collect();
        assert!(TokenCipher::new(&EncryptionConfig { current: "k1".into(), keys: short }).is_err());
        let missing = [("k1".to_string(), Secret::new(K1))].into_iter().collect();
        assert!(TokenCipher::new(&EncryptionConfig { current: "k9".into(), keys: missing }).is_err());
    }
}
