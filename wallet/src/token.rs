//! The token string that carries coins from one person to another:
//! `ecash:` followed by unpadded base64url of a compact binary encoding.
//!
//! Layout (all lengths big-endian): version `1`; bank URL (u16 length, UTF-8);
//! coin count (u16); per coin: keyset id (32), coin secret seed (32),
//! message prefix (32), signature (u16 length, bytes). The coin public key is
//! derived from the secret. Whoever holds a token can spend its coins: the
//! receiving wallet swaps them at once.

use ecash_shared::coin::{Coin, CoinSecret};
use ecash_shared::encoding::{Bytes, b64_decode, b64_encode};
use ecash_shared::keyset::KeysetId;
use zeroize::Zeroizing;

use crate::WalletError;

const PREFIX: &str = "ecash:";
const VERSION: u8 = 1;
/// Most coins in one token (a QR code holds about 6).
pub const MAX_TOKEN_COINS: usize = 256;

/// A decoded token.
pub struct Token {
    /// Bank that issued the coins.
    pub bank_url: String,
    /// The coins and their secrets.
    pub coins: Vec<(Coin, CoinSecret)>,
}

/// Encodes coins into a token string.
pub fn encode(bank_url: &str, coins: &[(Coin, CoinSecret)]) -> Result<String, WalletError> {
    let bad = |what: &str| WalletError::InvalidToken(what.to_owned());
    if coins.is_empty() || coins.len() > MAX_TOKEN_COINS {
        return Err(bad("a token carries 1 to 256 coins"));
    }
    let url_len = u16::try_from(bank_url.len()).map_err(|_| bad("bank URL too long"))?;
    let mut out = Zeroizing::new(Vec::with_capacity(4 + bank_url.len() + coins.len() * 360));
    out.push(VERSION);
    out.extend_from_slice(&url_len.to_be_bytes());
    out.extend_from_slice(bank_url.as_bytes());
    out.extend_from_slice(&(coins.len() as u16).to_be_bytes());
    for (coin, secret) in coins {
        let sig_len = u16::try_from(coin.sig.0.len()).map_err(|_| bad("signature too long"))?;
        out.extend_from_slice(&coin.keyset_id.0);
        out.extend_from_slice(secret.to_bytes().as_ref());
        out.extend_from_slice(&coin.msg_prefix);
        out.extend_from_slice(&sig_len.to_be_bytes());
        out.extend_from_slice(&coin.sig.0);
    }
    Ok(format!("{PREFIX}{}", b64_encode(&out)))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WalletError> {
        if self.0.len() < n {
            return Err(WalletError::InvalidToken("truncated".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<usize, WalletError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn arr32(&mut self) -> Result<[u8; 32], WalletError> {
        let b = self.take(32)?;
        <[u8; 32]>::try_from(b).map_err(|_| WalletError::InvalidToken("truncated".into()))
    }
}

/// Decodes a token string (surrounding whitespace is ignored).
pub fn decode(token: &str) -> Result<Token, WalletError> {
    let body = token
        .trim()
        .strip_prefix(PREFIX)
        .ok_or_else(|| WalletError::InvalidToken("it does not start with \"ecash:\"".into()))?;
    let bytes = Zeroizing::new(
        b64_decode(body).map_err(|_| WalletError::InvalidToken("bad base64url".into()))?,
    );
    let mut r = Reader(&bytes);
    if r.take(1)? != [VERSION] {
        return Err(WalletError::InvalidToken("unknown version".into()));
    }
    let url_len = r.u16()?;
    let bank_url = String::from_utf8(r.take(url_len)?.to_vec())
        .map_err(|_| WalletError::InvalidToken("bad bank URL".into()))?;
    let n = r.u16()?;
    if n == 0 || n > MAX_TOKEN_COINS {
        return Err(WalletError::InvalidToken(
            "a token carries 1 to 256 coins".into(),
        ));
    }
    let mut coins = Vec::with_capacity(n);
    for _ in 0..n {
        let keyset_id = KeysetId(r.arr32()?);
        let secret = CoinSecret::from_bytes(&Zeroizing::new(r.arr32()?));
        let msg_prefix = r.arr32()?;
        let sig_len = r.u16()?;
        let sig = Bytes(r.take(sig_len)?.to_vec());
        coins.push((
            Coin {
                keyset_id,
                coin_pub: secret.coin_pub(),
                msg_prefix,
                sig,
            },
            secret,
        ));
    }
    if !r.0.is_empty() {
        return Err(WalletError::InvalidToken("trailing bytes".into()));
    }
    Ok(Token { bank_url, coins })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let secret = CoinSecret::generate().unwrap();
        let coin = Coin {
            keyset_id: KeysetId([3; 32]),
            coin_pub: secret.coin_pub(),
            msg_prefix: [5; 32],
            sig: Bytes(vec![9; 256]),
        };
        let t = encode("http://127.0.0.1:8080", &[(coin.clone(), secret)]).unwrap();
        let back = decode(&format!("  {t}\n")).unwrap();
        assert_eq!(back.bank_url, "http://127.0.0.1:8080");
        assert_eq!(back.coins[0].0, coin);
        for bad in [
            "",
            "ecash:",
            "ecash:AAAA",
            "bitcoin:xyz",
            &t[..t.len() - 4],
            &format!("{t}AA"),
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
