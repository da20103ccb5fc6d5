//! Password hashing: Argon2id (RFC 9106) in PHC string form
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, standard base64 without
//! padding, as the `password-hash` crate writes it).
//!
//! The Argon2 memory (19 MiB with the default parameters) is one buffer per
//! hashing thread, kept and reused, instead of a fresh allocation per hash:
//! glibc keeps freed 19 MiB blocks in per-thread arenas, and the server's
//! memory grew by ~19 MiB per login until this change. Together with the
//! fixed hashing pool (`accounts::password_pool`), the server's memory for
//! passwords is bounded by `threads × 19 MiB`.

use std::cell::RefCell;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const SALT_LEN: usize = 16;

/// Hashing failed (random number generator, or parameters Argon2 refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;
const HASH_LEN: usize = 32;

thread_local! {
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2id of `password` under `salt` and `params` into `out`, with this
/// thread's reusable memory.
fn argon2id(password: &[u8], salt: &[u8], params: Params, out: &mut [u8]) -> Result<(), HashError> {
    let blocks_needed = params.block_count();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < blocks_needed {
            blocks.resize(blocks_needed, Block::default());
        }
        let result = argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..blocks_needed])
            .map_err(|_| HashError);
        // The memory held password-derived state: wipe it before reuse.
        for b in blocks.iter_mut() {
            *b = Block::default();
        }
        result
    })
}

/// Hashes a password with a fresh random salt and the default parameters.
pub fn hash(password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|_| HashError)?;
    let params = Params::default();
    let mut out = [0u8; HASH_LEN];
    argon2id(password, &salt, params.clone(), &mut out)?;
    let phc = format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    );
    out.zeroize();
    Ok(phc)
}

/// Checks a password against a PHC string; anything malformed is a mismatch.
pub fn verify(password: &[u8], phc: &str) -> bool {
    let Some((params, salt, expected)) = parse(phc) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2id(password, &salt, params, &mut out).is_err() {
        return false;
    }
    let ok = bool::from(out.ct_eq(&expected));
    out.zeroize();
    ok
}

/// Parses `$argon2id$v=19$m=M,t=T,p=P$salt$hash`.
fn parse(phc: &str) -> Option<(Params, Vec<u8>, Vec<u8>)> {
    let mut parts = phc.split('$');
    if !parts.next()?.is_empty() || parts.next()? != "argon2id" || parts.next()? != "v=19" {
        return None;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for kv in parts.next()?.split(',') {
        let (k, v) = kv.split_once('=')?;
        let v: u32 = v.parse().ok()?;
        match k {
            "m" => m = Some(v),
            "t" => t = Some(v),
            "p" => p = Some(v),
            _ => return None,
        }
    }
    let salt = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
    let hash = STANDARD_NO_PAD.decode(parts.next()?).ok()?;
    if parts.next().is_some() || !(16..=64).contains(&hash.len()) {
        return None;
    }
    // Bound the work a stored string can ask for (1 GiB, 64 passes).
    let (m, t, p) = (m?, t?, p?);
    if m > 1 << 20 || t > 64 || p > 16 {
        return None;
    }
    let params = Params::new(m, t, p, Some(hash.len())).ok()?;
    Some((params, salt, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn round_trip_and_compatibility_with_password_hash_crate() {
        let phc = hash(b"correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(b"correct horse", &phc));
        assert!(!verify(b"wrong horse", &phc));
        // Strings written by the argon2 crate's own PasswordHasher (older
        // databases) verify here, and ours verify there.
        let theirs = Argon2::default()
            .hash_password(b"pw-123456")
            .unwrap()
            .to_string();
        assert!(verify(b"pw-123456", &theirs));
        assert!(!verify(b"pw-1234567", &theirs));
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", phc.as_str())
                .is_ok()
        );
    }

    #[test]
    fn malformed_strings_never_verify() {
        for bad in [
            "",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=19456,t=2$c2FsdA$aGFzaA",
            "not a hash",
        ] {
            assert!(!verify(b"x", bad), "{bad}");
        }
    }
}
