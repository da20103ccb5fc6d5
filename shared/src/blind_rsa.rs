//! RSA blind signatures, [RFC 9474] (RSABSSA), all four SHA-384 variants.
//!
//! The protocol (RFC 9474 §4): the client `prepare`s a message (§4.1), `blind`s it
//! with the signer's public key (§4.2), the signer answers with `blind_sign` (§4.3),
//! and the client `finalize`s the blind signature into an ordinary RSASSA-PSS
//! signature (§4.4) that anyone can `verify` (§4.5).
//!
//! Built on the `rsa` 0.10 crate: its constant-time `crypto-bigint` arithmetic for
//! every operation and its raw RSASP1 (`hazmat::rsa_decrypt_and_check`) for the
//! signer, which blinds the base and the exponents with fresh randomness and
//! checks `s^e == m` before the signature leaves (defence against CRT faults).
//! EMSA-PSS encoding is written here because the RFC needs the encoding step
//! separately from the private operation and `rsa` keeps it crate-private.
//!
//! [RFC 9474]: https://www.rfc-editor.org/rfc/rfc9474

use core::fmt;

use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{Gcd, RandomMod};
use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pss};
use sha2::{Digest, Sha384};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Smallest modulus accepted, in bits (RFC 9474 §4: at least 2048).
pub const MIN_KEY_BITS: usize = 2048;
/// Largest modulus accepted, in bits: bounds the work an attacker-supplied key can cause.
pub const MAX_KEY_BITS: usize = 4096;
/// Length of the random prefix of the randomized variants (RFC 9474 §4.1).
pub const MSG_PREFIX_LEN: usize = 32;
const HASH_LEN: usize = 48;

/// Why a blind-signature operation failed. Deliberately coarse: the detail of a
/// failed check must not become an oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key is malformed or its size is outside 2048..=4096 bits.
    #[error("invalid RSA key")]
    InvalidKey,
    /// A message, blinded message or signature is malformed or out of range
    /// (RFC 9474 "invalid input").
    #[error("invalid input")]
    InvalidInput,
    /// The message is too long to encode for this modulus ("message too long").
    #[error("message too long")]
    MessageTooLong,
    /// A signature does not verify ("invalid signature").
    #[error("invalid signature")]
    InvalidSignature,
    /// The signer's self-check failed: a fault during the private operation
    /// ("signing failure"). The signature is withheld.
    #[error("signing failure")]
    SigningFailure,
    /// The operating system's random number generator failed.
    #[error("random number generator failure")]
    Rng,
}

/// The four RSABSSA variants of RFC 9474 §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// RSABSSA-SHA384-PSS-Randomized: 48-byte salt, random message prefix. Used for coins.
    Sha384PssRandomized,
    /// RSABSSA-SHA384-PSSZERO-Randomized: no salt, random message prefix.
    Sha384PssZeroRandomized,
    /// RSABSSA-SHA384-PSS-Deterministic: 48-byte salt, no prefix.
    Sha384PssDeterministic,
    /// RSABSSA-SHA384-PSSZERO-Deterministic: no salt, no prefix.
    Sha384PssZeroDeterministic,
}

impl Variant {
    /// All variants, in RFC order.
    pub const ALL: [Variant; 4] = [
        Variant::Sha384PssRandomized,
        Variant::Sha384PssZeroRandomized,
        Variant::Sha384PssDeterministic,
        Variant::Sha384PssZeroDeterministic,
    ];

    /// The RFC's name of the variant, e.g. `RSABSSA-SHA384-PSS-Randomized`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Sha384PssRandomized => "RSABSSA-SHA384-PSS-Randomized",
            Variant::Sha384PssZeroRandomized => "RSABSSA-SHA384-PSSZERO-Randomized",
            Variant::Sha384PssDeterministic => "RSABSSA-SHA384-PSS-Deterministic",
            Variant::Sha384PssZeroDeterministic => "RSABSSA-SHA384-PSSZERO-Deterministic",
        }
    }

    /// Parses the RFC's name of a variant.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// PSS salt length in bytes (48 for PSS, 0 for PSSZERO).
    pub fn salt_len(self) -> usize {
        match self {
            Variant::Sha384PssRandomized | Variant::Sha384PssDeterministic => HASH_LEN,
            Variant::Sha384PssZeroRandomized | Variant::Sha384PssZeroDeterministic => 0,
        }
    }

    /// Whether `prepare` adds a random 32-byte prefix to the message.
    pub fn is_randomized(self) -> bool {
        matches!(
            self,
            Variant::Sha384PssRandomized | Variant::Sha384PssZeroRandomized
        )
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A signer's public key (2048..=4096 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: rsa::PublicKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bits)", self.bits())
    }
}

fn check_size(n: &rsa::PublicKey) -> Result<(), Error> {
    let bits = n.n().bit_width() as usize;
    if (MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(Error::InvalidKey)
    }
}

impl PublicKey {
    /// Builds a key from big-endian modulus and exponent bytes.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, Error> {
        let n = BoxedUint::from_be_slice_vartime(n);
        let e = BoxedUint::from_be_slice_vartime(e);
        let inner = rsa::PublicKey::new(n, e).map_err(|_| Error::InvalidKey)?;
        check_size(&inner)?;
        Ok(PublicKey { inner })
    }

    /// Parses a DER `SubjectPublicKeyInfo` (the form `/v1/keys` publishes).
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let inner = rsa::PublicKey::from_public_key_der(der).map_err(|_| Error::InvalidKey)?;
        check_size(&inner)?;
        Ok(PublicKey { inner })
    }

    /// The DER `SubjectPublicKeyInfo` of the key.
    pub fn to_der(&self) -> Result<Vec<u8>, Error> {
        self.inner
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::InvalidKey)
    }

    /// Modulus length in bits.
    pub fn bits(&self) -> usize {
        self.inner.n().bit_width() as usize
    }

    /// Modulus length in bytes: the length of blinded messages and signatures.
    pub fn modulus_len(&self) -> usize {
        self.inner.size()
    }

    fn precision(&self) -> u32 {
        self.inner.n_bits_precision()
    }

    /// Checks that `bytes` is a valid RSA representative for this key: exactly
    /// `modulus_len` bytes and, as an integer, below `n` (RFC 9474 §4.3 step 1).
    pub fn check_representative(&self, bytes: &[u8]) -> Result<(), Error> {
        self.os2ip_below_n(bytes).map(|_| ())
    }

    /// OS2IP of exactly `modulus_len` bytes into a value `< n`.
    fn os2ip_below_n(&self, bytes: &[u8]) -> Result<BoxedUint, Error> {
        if bytes.len() != self.modulus_len() {
            return Err(Error::InvalidInput);
        }
        let x =
            BoxedUint::from_be_slice(bytes, self.precision()).map_err(|_| Error::InvalidInput)?;
        if x >= *self.inner.n().as_ref() {
            return Err(Error::InvalidInput);
        }
        Ok(x)
    }

    /// I2OSP to `modulus_len` bytes (the value is `< n`, so it fits).
    fn i2osp(&self, x: &BoxedUint) -> Vec<u8> {
        let bytes = x.to_be_bytes();
        let k = self.modulus_len();
        bytes[bytes.len().saturating_sub(k)..].to_vec()
    }
}

/// A signer's private key. Zeroized on drop (by `rsa`), never printed.
pub struct SecretKey {
    inner: rsa::PrivateKey,
    public: PublicKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bits, redacted)", self.public.bits())
    }
}

impl SecretKey {
    /// Generates a fresh key of `bits` bits (2048..=4096).
    pub fn generate(bits: usize) -> Result<Self, Error> {
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(Error::InvalidKey);
        }
        let inner =
            rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|_| Error::InvalidKey)?;
        Self::from_inner(inner)
    }

    /// Builds a key from its primes and public exponent (big-endian bytes).
    pub fn from_primes(p: &[u8], q: &[u8], e: &[u8]) -> Result<Self, Error> {
        let p = Zeroizing::new(BoxedUint::from_be_slice_vartime(p));
        let q = Zeroizing::new(BoxedUint::from_be_slice_vartime(q));
        let e = BoxedUint::from_be_slice_vartime(e);
        let inner = rsa::PrivateKey::from_p_q((*p).clone(), (*q).clone(), e)
            .map_err(|_| Error::InvalidKey)?;
        Self::from_inner(inner)
    }

    /// Parses a PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let inner = rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| Error::InvalidKey)?;
        Self::from_inner(inner)
    }

    /// The PKCS#8 DER encoding of the key, zeroized when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.inner
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|_| Error::InvalidKey)
    }

    fn from_inner(mut inner: rsa::PrivateKey) -> Result<Self, Error> {
        inner.validate().map_err(|_| Error::InvalidKey)?;
        inner.precompute().map_err(|_| Error::InvalidKey)?;
        let public = PublicKey {
            inner: inner.to_public_key(),
        };
        check_size(&public.inner)?;
        Ok(SecretKey { inner, public })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// Something that can answer RFC 9474 `BlindSign` requests. The bank may put a
/// faster constant-time backend behind it; every backend must blind its private
/// operation and check its own output.
pub trait BlindSigner {
    /// RFC 9474 §4.3 `BlindSign`.
    fn blind_sign(&self, blinded_msg: &[u8]) -> Result<Vec<u8>, Error>;
    /// The public key the signatures verify under.
    fn public_key(&self) -> &PublicKey;
}

impl BlindSigner for SecretKey {
    fn blind_sign(&self, blinded_msg: &[u8]) -> Result<Vec<u8>, Error> {
        blind_sign(self, blinded_msg)
    }
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// The output of `prepare`: the message actually signed, and its random prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    /// The random prefix (randomized variants only).
    pub msg_prefix: Option<[u8; MSG_PREFIX_LEN]>,
    /// `msg_prefix || msg` for randomized variants, else `msg`.
    pub input_msg: Vec<u8>,
}

/// The inverse of the blinding factor, `inv = r⁻¹ mod n`. Whoever holds it can
/// link the blinded message to the final signature, so it is zeroized on drop
/// and never printed. It is also what a wallet must persist before sending a
/// withdrawal, to finish it after a crash.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BlindingInverse(Vec<u8>);

impl BlindingInverse {
    /// Restores a stored inverse (big-endian, modulus length).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        BlindingInverse(bytes.to_vec())
    }
    /// The big-endian bytes, for storage in the wallet's intent log.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for BlindingInverse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindingInverse(redacted)")
    }
}

/// The output of `blind`: what goes to the signer and what the client keeps.
#[derive(Debug, Clone)]
pub struct Blinded {
    /// `blinded_msg`, modulus length, sent to the signer.
    pub blinded_msg: Vec<u8>,
    /// `inv`, kept secret by the client.
    pub inv: BlindingInverse,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| Error::Rng)?;
    Ok(out)
}

/// RFC 9474 §4.1 `Prepare`: a random 32-byte prefix for randomized variants.
pub fn prepare(variant: Variant, msg: &[u8]) -> Result<PreparedMessage, Error> {
    if variant.is_randomized() {
        let prefix = random_bytes::<MSG_PREFIX_LEN>()?;
        Ok(prepare_with_prefix(variant, msg, Some(prefix)))
    } else {
        Ok(prepare_with_prefix(variant, msg, None))
    }
}

/// `Prepare` with a given prefix (ignored for deterministic variants). Used to
/// rebuild `input_msg` from a stored coin and by the test vectors.
pub fn prepare_with_prefix(
    variant: Variant,
    msg: &[u8],
    msg_prefix: Option<[u8; MSG_PREFIX_LEN]>,
) -> PreparedMessage {
    match (variant.is_randomized(), msg_prefix) {
        (true, Some(prefix)) => {
            let mut input_msg = Vec::with_capacity(MSG_PREFIX_LEN + msg.len());
            input_msg.extend_from_slice(&prefix);
            input_msg.extend_from_slice(msg);
            PreparedMessage {
                msg_prefix: Some(prefix),
                input_msg,
            }
        }
        _ => PreparedMessage {
            msg_prefix: None,
            input_msg: msg.to_vec(),
        },
    }
}

/// MGF1 with SHA-384 (RFC 8017 B.2.1), XORed into `out`.
fn mgf1_xor(out: &mut [u8], seed: &[u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(HASH_LEN)) {
        let mask = Sha384::new()
            .chain_update(seed)
            .chain_update(counter.to_be_bytes())
            .finalize();
        for (o, m) in chunk.iter_mut().zip(mask.iter()) {
            *o ^= m;
        }
    }
}

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1) with SHA-384 and MGF1-SHA-384.
pub(crate) fn emsa_pss_encode(msg: &[u8], em_bits: usize, salt: &[u8]) -> Result<Vec<u8>, Error> {
    let m_hash = Sha384::digest(msg);
    let em_len = em_bits.div_ceil(8);
    if em_len < HASH_LEN + salt.len() + 2 {
        return Err(Error::MessageTooLong);
    }
    let h = Sha384::new()
        .chain_update([0u8; 8])
        .chain_update(m_hash)
        .chain_update(salt)
        .finalize();
    let db_len = em_len - HASH_LEN - 1;
    let mut em = vec![0u8; em_len];
    // DB = PS || 0x01 || salt
    let ps_len = db_len - salt.len() - 1;
    em[ps_len] = 0x01;
    em[ps_len + 1..db_len].copy_from_slice(salt);
    mgf1_xor(&mut em[..db_len], &h);
    let unused_bits = 8 * em_len - em_bits;
    em[0] &= 0xffu8 >> unused_bits;
    em[db_len..em_len - 1].copy_from_slice(&h);
    em[em_len - 1] = 0xbc;
    Ok(em)
}

/// RFC 9474 §4.2 steps 1-3: EMSA-PSS-ENCODE of `input_msg` with `salt`, as
/// an integer at the key's precision (EM is one byte shorter than n when
/// modBits - 1 is a multiple of 8).
fn encoded_message(
    pk: &PublicKey,
    input_msg: &[u8],
    salt: &[u8],
) -> Result<Zeroizing<BoxedUint>, Error> {
    let em = Zeroizing::new(emsa_pss_encode(input_msg, pk.bits() - 1, salt)?);
    let mut em_padded = Zeroizing::new(vec![0u8; pk.modulus_len()]);
    let offset = em_padded.len() - em.len();
    em_padded[offset..].copy_from_slice(&em);
    BoxedUint::from_be_slice(&em_padded, pk.precision())
        .map(Zeroizing::new)
        .map_err(|_| Error::InvalidInput)
}

/// RFC 9474 §4.2 `Blind`: encodes `input_msg` with a fresh salt and blinds it
/// with a fresh `r`. The returned `inv` must be kept to `finalize`.
pub fn blind(pk: &PublicKey, variant: Variant, input_msg: &[u8]) -> Result<Blinded, Error> {
    let salt = Zeroizing::new(random_bytes::<HASH_LEN>()?);
    loop {
        let r = Zeroizing::new(
            BoxedUint::try_random_mod_vartime(&mut getrandom::SysRng, pk.inner.n())
                .map_err(|_| Error::Rng)?,
        );
        // A non-invertible r (zero, or sharing a factor with n: probability
        // ~2^-1000) is simply drawn again.
        if let Some(blinded) = blind_inner(pk, input_msg, &salt[..variant.salt_len()], &r)? {
            return Ok(blinded);
        }
    }
}

/// `Blind` for several messages under one key, sharing one modular inversion
/// among them (Montgomery's trick: invert the product of all `m·r`, then peel
/// each inverse off with two multiplications). Every step is constant-time;
/// the output is exactly what `blind` would give each message. Falls back to
/// one `blind` per message when the product is not invertible.
pub fn blind_many(
    pk: &PublicKey,
    variant: Variant,
    input_msgs: &[&[u8]],
) -> Result<Vec<Blinded>, Error> {
    if input_msgs.len() < 2 {
        return input_msgs.iter().map(|m| blind(pk, variant, m)).collect();
    }
    let params = pk.inner.n_params();
    let n = pk.inner.n();
    let mut ms = Vec::with_capacity(input_msgs.len());
    let mut mrs = Vec::with_capacity(input_msgs.len());
    let mut zs = Vec::with_capacity(input_msgs.len());
    for msg in input_msgs {
        let salt = Zeroizing::new(random_bytes::<HASH_LEN>()?);
        let m = (*encoded_message(pk, msg, &salt[..variant.salt_len()])?).clone();
        let mut r =
            BoxedUint::try_random_mod_vartime(&mut getrandom::SysRng, n).map_err(|_| Error::Rng)?;
        let m_mont = BoxedMontyForm::new(m, params);
        let mut r_mont = BoxedMontyForm::new(r.clone(), params);
        r.zeroize();
        let mut x = pow_public(&r_mont, pk.inner.e());
        zs.push(m_mont.mul(&x).retrieve());
        mrs.push(m_mont.mul(&r_mont));
        x.zeroize();
        r_mont.zeroize();
        ms.push(m_mont);
    }
    // prefix[i] = mr_0 · … · mr_i
    let mut prefix: Vec<BoxedMontyForm> = Vec::with_capacity(mrs.len());
    for mr in &mrs {
        let next = match prefix.last() {
            Some(p) => p.mul(mr),
            None => mr.clone(),
        };
        prefix.push(next);
    }
    let Some(last) = prefix.last() else {
        return Ok(Vec::new());
    };
    let Some(mut inv_acc) = Option::<BoxedMontyForm>::from(last.invert()) else {
        // Some m or r shares a factor with n: sort it out one by one.
        return input_msgs.iter().map(|m| blind(pk, variant, m)).collect();
    };
    let mut out = vec![None; mrs.len()];
    for i in (0..mrs.len()).rev() {
        let inv_mr = match i {
            0 => inv_acc.clone(),
            _ => inv_acc.mul(&prefix[i - 1]),
        };
        inv_acc = inv_acc.mul(&mrs[i]);
        // r⁻¹ = m · (m·r)⁻¹
        let mut inv_r = inv_mr.mul(&ms[i]);
        out[i] = Some(Blinded {
            blinded_msg: pk.i2osp(&zs[i]),
            inv: BlindingInverse(pk.i2osp(&inv_r.retrieve())),
        });
        inv_r.zeroize();
    }
    inv_acc.zeroize();
    for v in prefix.iter_mut().chain(mrs.iter_mut()).chain(ms.iter_mut()) {
        v.zeroize();
    }
    out.into_iter()
        .map(|b| b.ok_or(Error::InvalidInput))
        .collect()
}

/// `Blind` with a given salt and blinding factor `r` (the test vectors fix both).
pub fn blind_with(
    pk: &PublicKey,
    input_msg: &[u8],
    salt: &[u8],
    r: &BoxedUint,
) -> Result<Blinded, Error> {
    blind_inner(pk, input_msg, salt, r)?.ok_or(Error::InvalidInput)
}

/// `Ok(None)` when `r` has no inverse modulo `n`.
fn blind_inner(
    pk: &PublicKey,
    input_msg: &[u8],
    salt: &[u8],
    r: &BoxedUint,
) -> Result<Option<Blinded>, Error> {
    let n = pk.inner.n();
    if r.bits_precision() != pk.precision() || r >= n.as_ref() {
        return Err(Error::InvalidInput);
    }
    let m = encoded_message(pk, input_msg, salt)?;
    // RFC 9474 §4.2 steps 4-7 with one inversion instead of a gcd and an
    // inversion: (m·r)⁻¹ exists iff both m and r are coprime to n, and then
    // r⁻¹ = m·(m·r)⁻¹. Only on failure is the gcd computed, to tell a bad
    // message (an error) from an unlucky r (draw again).
    let params = pk.inner.n_params();
    let m_mont = BoxedMontyForm::new((*m).clone(), params);
    let r_mont = BoxedMontyForm::new(r.clone(), params);
    let mr = Zeroizing::new(m_mont.mul(&r_mont).retrieve());
    let Some(inv_mr) = Option::<BoxedUint>::from(mr.invert_mod(n)) else {
        let gcd = Gcd::gcd(n, &*m);
        if !bool::from(gcd.as_ref().is_one()) {
            return Err(Error::InvalidInput);
        }
        return Ok(None);
    };
    let inv_mr = Zeroizing::new(inv_mr);
    let inv = Zeroizing::new(inv_mr.mul_mod(&m, n));
    // z = m · r^e mod n, r^e by square-and-multiply over the public exponent.
    let mut x = pow_public(&r_mont, pk.inner.e());
    let z = m_mont.mul(&x).retrieve();
    x.zeroize();
    let mut r_mont = r_mont;
    r_mont.zeroize();
    Ok(Some(Blinded {
        blinded_msg: pk.i2osp(&z),
        inv: BlindingInverse(pk.i2osp(&inv)),
    }))
}

/// `base^e` for a public exponent `e` (square-and-multiply over e's bits:
/// e is public, the base's value does not influence the sequence of operations).
fn pow_public(base: &BoxedMontyForm, e: &BoxedUint) -> BoxedMontyForm {
    let bits = e.bit_width_vartime();
    let mut acc = base.clone();
    for i in (0..bits.saturating_sub(1)).rev() {
        acc = acc.square();
        if e.bit_vartime(i) {
            acc = acc.mul(base);
        }
    }
    acc
}

/// RFC 9474 §4.3 `BlindSign`: the signer's private operation on a blinded
/// message. Base- and exponent-blinded with fresh randomness; the result is
/// checked against the public key before it is returned.
pub fn blind_sign(sk: &SecretKey, blinded_msg: &[u8]) -> Result<Vec<u8>, Error> {
    let pk = &sk.public;
    let m = pk.os2ip_below_n(blinded_msg)?;
    let s = rsa_decrypt_and_check(&sk.inner, Some(&mut getrandom::SysRng), &m)
        .map_err(|_| Error::SigningFailure)?;
    // rsa_decrypt_and_check already compared s^e with m; check once more at the
    // byte level so that no backend change can silently drop the check.
    let check = rsa_encrypt(&pk.inner, &s).map_err(|_| Error::SigningFailure)?;
    if check != m {
        return Err(Error::SigningFailure);
    }
    Ok(pk.i2osp(&s))
}

/// RFC 9474 §4.4 `Finalize`: unblinds the signer's answer and verifies the
/// result (a faulty or malicious signer is caught here).
pub fn finalize(
    pk: &PublicKey,
    variant: Variant,
    input_msg: &[u8],
    blind_sig: &[u8],
    inv: &BlindingInverse,
) -> Result<Vec<u8>, Error> {
    let z = pk.os2ip_below_n(blind_sig)?;
    let inv = Zeroizing::new(pk.os2ip_below_n(inv.as_bytes())?);
    let s = z.mul_mod(&inv, pk.inner.n());
    let sig = pk.i2osp(&s);
    verify(pk, variant, input_msg, &sig)?;
    Ok(sig)
}

/// RFC 9474 §4.5 `Verify`: RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) with SHA-384,
/// MGF1-SHA-384 and the variant's salt length.
///
/// Written here rather than calling `rsa`'s verifier because `rsa`'s public
/// operation recomputes Montgomery parameters per call, which made it half of
/// the wallet's cost per coin in wasm; the public exponentiation below reuses
/// the key's parameters. A test checks it agrees with `rsa`'s verifier.
pub fn verify(pk: &PublicKey, variant: Variant, input_msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    let s = pk.os2ip_below_n(sig).map_err(|_| Error::InvalidSignature)?;
    let m = pow_public(&BoxedMontyForm::new(s, pk.inner.n_params()), pk.inner.e()).retrieve();
    let em_bits = pk.bits() - 1;
    let em_len = em_bits.div_ceil(8);
    let full = pk.i2osp(&m);
    // EM has em_len bytes; a representative that needs more is invalid.
    let (high, em) = full.split_at(full.len() - em_len);
    if high.iter().any(|&b| b != 0) {
        return Err(Error::InvalidSignature);
    }
    if emsa_pss_verify(input_msg, em, em_bits, variant.salt_len()) {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with SHA-384: `true` when consistent.
fn emsa_pss_verify(msg: &[u8], em: &[u8], em_bits: usize, s_len: usize) -> bool {
    let em_len = em.len();
    if em_len < HASH_LEN + s_len + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let db_len = em_len - HASH_LEN - 1;
    let (masked_db, rest) = em.split_at(db_len);
    let h = &rest[..HASH_LEN];
    let unused_bits = 8 * em_len - em_bits;
    if masked_db[0] & !(0xffu8 >> unused_bits) != 0 {
        return false;
    }
    let mut db = masked_db.to_vec();
    mgf1_xor(&mut db, h);
    db[0] &= 0xffu8 >> unused_bits;
    let ps_len = db_len - s_len - 1;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 0x01 {
        return false;
    }
    let salt = &db[ps_len + 1..];
    let h2 = Sha384::new()
        .chain_update([0u8; 8])
        .chain_update(Sha384::digest(msg))
        .chain_update(salt)
        .finalize();
    h2.as_slice() == h
}

/// `rsa`'s own RSASSA-PSS verifier, for cross-checking [`verify`] in tests.
#[doc(hidden)]
pub fn verify_with_rsa_crate(
    pk: &PublicKey,
    variant: Variant,
    input_msg: &[u8],
    sig: &[u8],
) -> Result<(), Error> {
    let hashed = Sha384::digest(input_msg);
    pk.inner
        .verify(
            Pss::<Sha384>::new_with_salt(variant.salt_len()),
            &hashed,
            sig,
        )
        .map_err(|_| Error::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_encode_rejects_tiny_modulus() {
        assert_eq!(
            emsa_pss_encode(b"m", 400, &[0u8; 48]),
            Err(Error::MessageTooLong)
        );
    }

    #[test]
    fn variant_names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(Variant::from_name(v.name()), Some(v));
        }
        assert_eq!(Variant::from_name("RSABSSA-SHA256-PSS-Randomized"), None);
    }
}
