//! The session token: 128 random bits, shown to the user when the bridge starts and
//! pasted into the wallet page; the page sends it in `hello`. It keeps other local
//! programs and other origins' pages (which the Origin check already refuses) from
//! driving the readers, and is compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A session token (32 lower-case hex digits).
#[derive(Clone)]
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 16]);
        getrandom::fill(bytes.as_mut())?;
        Ok(SessionToken(Zeroizing::new(hex::encode(bytes.as_ref()))))
    }

    /// A given token (tests, or a token file).
    pub fn from_string(token: String) -> Self {
        SessionToken(Zeroizing::new(token))
    }

    /// The text to show the user.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison (lengths are not secret).
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_exactly() {
        let a = SessionToken::generate().unwrap();
        let b = SessionToken::generate().unwrap();
        assert_eq!(a.reveal().len(), 32);
        assert_ne!(a.reveal(), b.reveal());
        assert!(a.matches(a.reveal()));
        assert!(!a.matches(b.reveal()));
        assert!(!a.matches(&a.reveal()[..31]));
        assert!(!a.matches(""));
        assert_eq!(format!("{a:?}"), "SessionToken(redacted)");
    }
}
