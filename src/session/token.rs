//! The session token: 32 bytes from the OS CSPRNG, base64url in the cookie, and only its
//! SHA-256 in the database, so a leaked table cannot be replayed as cookies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

const TOKEN_BYTES: usize = 32;
/// Length of the base64url (no padding) text of 32 bytes.
const TOKEN_TEXT_LEN: usize = 43;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> SessionToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        SessionToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Accepts only what [`generate`](Self::generate) produces; anything else is no token.
    pub fn parse(text: &str) -> Option<SessionToken> {
        if text.len() != TOKEN_TEXT_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        (bytes.len() == TOKEN_BYTES).then(|| SessionToken(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CSRF token of this session: derived from the secret cookie token, so only a
    /// holder of the cookie can know it, every instance computes the same one, and
    /// nothing more is stored. Domain-separated from the stored hash.
    pub fn csrf_token(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"latchkey csrf\0");
        hasher.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(hasher.finalize())
    }

    /// What the `sessions.token_hash` column holds.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(SessionToken::parse(a.as_str()), Some(a.clone()));
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for text in ["", "short", &"A".repeat(44), &"!".repeat(43), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            assert!(SessionToken::parse(text).is_none(), "{text:?} parsed");
        }
    }

    #[test]
    fn csrf_tokens_are_per_session_and_not_the_hash() {
        let a = SessionToken::generate();
        assert_eq!(a.csrf_token(), a.csrf_token());
        assert_ne!(a.csrf_token(), SessionToken::generate().csrf_token());
        assert_ne!(a.csrf_token(), URL_SAFE_NO_PAD.encode(a.hash()));
    }

    #[test]
    fn debug_hides_the_token() {
        let token = SessionToken::generate();
        assert!(!format!("{token:?}").contains(token.as_str()));
    }
}
