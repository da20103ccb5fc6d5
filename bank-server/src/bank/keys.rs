//! Denomination keys and the receipt key: generation, the private key file,
//! rotation, the in-memory key store, and `GET /v1/keys`.
//!
//! Private keys live in one JSON file next to the database (mode 0600, written
//! atomically): each keyset's PKCS#8 DER, the ed25519 receipt-signing seed and
//! the ed25519 card issuer seed (added later: a file without it gets one on the
//! next start, see [`load_or_create`]).
//! The database holds the public records (the audit re-checks spent coins with
//! them) and is authoritative for the validity windows, which rotation moves.
//! On start the file's keysets are copied into the database if missing, so a
//! crash between writing the file and the database loses nothing.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use ecash_shared::api::KeysResponse;
use ecash_shared::blind_rsa::SecretKey;

use crate::bank::signer::{Signer, SignerBackend, make_signer};
use ecash_shared::encoding::{Bytes, Timestamp, b64_decode, b64_encode};
use ecash_shared::{Amount, Currency, Keyset, KeysetId, KeysetInfo};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::config::Config;
use crate::storage::{KeysetRecord, Storage};

/// RSA modulus size of the denomination keys.
pub const RSA_BITS: usize = 2048;

/// A keyset with its private key.
pub struct KeyPair {
    /// Public record.
    pub record: KeysetRecord,
    /// The blind-signing key.
    pub secret: Arc<SecretKey>,
}

/// The contents of the private key file.
pub struct KeyFile {
    /// The ed25519 key that signs merchant receipts.
    pub receipt_key: SigningKey,
    /// The ed25519 card issuer key (certificates, load authorizations); `None` in
    /// a file written before cards existed, until [`load_or_create`] adds one.
    pub card_issuer_key: Option<SigningKey>,
    /// Denomination keys, oldest first.
    pub keysets: Vec<KeyPair>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({} keysets, redacted)", self.keysets.len())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    version: u32,
    /// Unpadded base64url of the 32-byte ed25519 seed.
    receipt_key: String,
    /// Unpadded base64url of the 32-byte card issuer seed (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    card_issuer_key: Option<String>,
    keysets: Vec<FileKeyset>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKeyset {
    id: KeysetId,
    currency: Currency,
    value: Amount,
    withdraw_until: Timestamp,
    deposit_until: Timestamp,
    /// Unpadded base64url of the PKCS#8 DER private key.
    secret_key: String,
}

impl Drop for FileJson {
    fn drop(&mut self) {
        self.receipt_key.zeroize();
        self.card_issuer_key.zeroize();
    }
}
impl Drop for FileKeyset {
    fn drop(&mut self) {
        self.secret_key.zeroize();
    }
}

const FILE_VERSION: u32 = 1;

/// Generates one RSA key per value, in parallel on every core, logging progress.
pub fn generate_keysets(
    currency: Currency,
    values: &[Amount],
    withdraw_until: Timestamp,
    deposit_until: Timestamp,
) -> anyhow::Result<Vec<KeyPair>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(values.len().max(1));
    tracing::info!(
        count = values.len(),
        bits = RSA_BITS,
        threads,
        "generating denomination keys (this takes a few seconds)"
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(usize, anyhow::Result<KeyPair>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&value) = values.get(i) else { break };
                        let pair = generate_one(currency, value, withdraw_until, deposit_until);
                        if pair.is_ok() {
                            tracing::info!(value = value.minor(), %currency, "generated denomination key");
                        }
                        out.push((i, pair));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<(usize, anyhow::Result<KeyPair>)> = results.into_iter().flatten().collect();
    if all.len() != values.len() {
        bail!("a key generation thread failed");
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

fn generate_one(
    currency: Currency,
    value: Amount,
    withdraw_until: Timestamp,
    deposit_until: Timestamp,
) -> anyhow::Result<KeyPair> {
    let secret = SecretKey::generate(RSA_BITS).context("RSA key generation")?;
    let der = secret
        .public_key()
        .to_der()
        .context("encoding public key")?;
    Ok(KeyPair {
        record: KeysetRecord {
            id: KeysetId::of_der(&der),
            currency,
            value,
            public_key: der,
            withdraw_until,
            deposit_until,
        },
        secret: Arc::new(secret),
    })
}

/// A fresh ed25519 receipt-signing key.
pub fn generate_receipt_key() -> anyhow::Result<SigningKey> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

impl KeyFile {
    /// A new key file with a fresh receipt key and no keysets.
    pub fn new() -> anyhow::Result<Self> {
        Ok(KeyFile {
            receipt_key: generate_receipt_key()?,
            card_issuer_key: Some(generate_receipt_key()?),
            keysets: Vec::new(),
        })
    }

    /// Reads a key file; `Ok(None)` if it does not exist.
    pub fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        let text = match std::fs::read(path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let json: FileJson = serde_json::from_slice(&text)
            .with_context(|| format!("parsing key file {}", path.display()))?;
        if json.version != FILE_VERSION {
            bail!("unsupported key file version {}", json.version);
        }
        let seed = Zeroizing::new(b64_decode(&json.receipt_key).context("receipt key encoding")?);
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .context("receipt key must be 32 bytes")?;
        let receipt_key = SigningKey::from_bytes(seed);
        let card_issuer_key = match &json.card_issuer_key {
            Some(k) => {
                let seed = Zeroizing::new(b64_decode(k).context("card issuer key encoding")?);
                let seed: &[u8; 32] = seed
                    .as_slice()
                    .try_into()
                    .context("card issuer key must be 32 bytes")?;
                Some(SigningKey::from_bytes(seed))
            }
            None => None,
        };
        let mut keysets = Vec::with_capacity(json.keysets.len());
        for k in &json.keysets {
            let der = Zeroizing::new(b64_decode(&k.secret_key).context("secret key encoding")?);
            let secret = SecretKey::from_pkcs8_der(&der)
                .map_err(|e| anyhow::anyhow!("keyset {}: {e}", k.id))?;
            let public = secret
                .public_key()
                .to_der()
                .context("encoding public key")?;
            if KeysetId::of_der(&public) != k.id {
                bail!("keyset {}: id does not match its key", k.id);
            }
            keysets.push(KeyPair {
                record: KeysetRecord {
                    id: k.id,
                    currency: k.currency,
                    value: k.value,
                    public_key: public,
                    withdraw_until: k.withdraw_until,
                    deposit_until: k.deposit_until,
                },
                secret: Arc::new(secret),
            });
        }
        Ok(Some(KeyFile {
            receipt_key,
            card_issuer_key,
            keysets,
        }))
    }

    /// The card issuer of this file's issuer key.
    pub fn card_issuer(&self) -> anyhow::Result<ecash_card::issuer::Issuer> {
        let seed = self
            .card_issuer_key
            .as_ref()
            .context("the key file has no card issuer key")?
            .to_bytes();
        Ok(ecash_card::issuer::Issuer::new(
            ecash_card::IssuerKey::from_seed(&Zeroizing::new(seed)),
        ))
    }

    /// Writes the file atomically (temporary file, fsync, rename) with mode 0600.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut keysets = Vec::with_capacity(self.keysets.len());
        for k in &self.keysets {
            let der = k.secret.to_pkcs8_der().context("encoding private key")?;
            keysets.push(FileKeyset {
                id: k.record.id,
                currency: k.record.currency,
                value: k.record.value,
                withdraw_until: k.record.withdraw_until,
                deposit_until: k.record.deposit_until,
                secret_key: b64_encode(&der),
            });
        }
        let json = FileJson {
            version: FILE_VERSION,
            receipt_key: b64_encode(self.receipt_key.as_bytes()),
            card_issuer_key: self
                .card_issuer_key
                .as_ref()
                .map(|k| b64_encode(k.as_bytes())),
            keysets,
        };
        let text = Zeroizing::new(serde_json::to_vec_pretty(&json).context("encoding key file")?);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tmp_path(path);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        #[cfg(unix)]
        {
            // `mode` only applies when the file is created; make sure.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Persist the rename; not all platforms can fsync a directory.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// A keyset loaded for use: parsed public key, and the private key if we have it.
pub struct LoadedKeyset {
    /// The keyset.
    pub keyset: Keyset,
    /// Its published form.
    pub info: KeysetInfo,
    /// The blind-signing key (`None`: deposit only).
    pub secret: Option<Arc<SecretKey>>,
    /// The signer built on it, on the configured backend.
    pub signer: Option<Signer>,
}

/// The keys in memory, loaded once at start.
pub struct Keys {
    currency: Currency,
    by_id: HashMap<KeysetId, LoadedKeyset>,
    receipt_key: SigningKey,
    card_issuer: ecash_card::issuer::Issuer,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} {} keysets)", self.by_id.len(), self.currency)
    }
}

impl Keys {
    /// The bank's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// A keyset of the bank's currency by id.
    pub fn get(&self, id: &KeysetId) -> Option<&LoadedKeyset> {
        self.by_id.get(id)
    }

    /// The receipt-signing key.
    pub fn receipt_key(&self) -> &SigningKey {
        &self.receipt_key
    }

    /// The card issuer (its key signs card certificates and load authorizations).
    pub fn card_issuer(&self) -> &ecash_card::issuer::Issuer {
        &self.card_issuer
    }

    /// `GET /v1/keys`: every keyset still valid for deposit at `now`.
    pub fn keys_response(&self, now: Timestamp) -> KeysResponse {
        let mut keysets: Vec<KeysetInfo> = self
            .by_id
            .values()
            .filter(|k| k.keyset.can_deposit(now))
            .map(|k| k.info.clone())
            .collect();
        keysets.sort_by(|a, b| {
            (a.value, a.withdraw_until, a.id).cmp(&(b.value, b.withdraw_until, b.id))
        });
        KeysResponse {
            currency: self.currency,
            receipt_key: self.receipt_key.verifying_key().to_bytes(),
            keysets,
        }
    }

    /// Builds the store from database records and the key file's private keys.
    pub fn from_parts(
        currency: Currency,
        records: Vec<KeysetRecord>,
        file: &KeyFile,
        backend: SignerBackend,
    ) -> anyhow::Result<Self> {
        let secrets: HashMap<KeysetId, &Arc<SecretKey>> = file
            .keysets
            .iter()
            .map(|k| (k.record.id, &k.secret))
            .collect();
        let mut by_id = HashMap::new();
        for r in records {
            if r.currency != currency {
                tracing::warn!(keyset = %r.id, currency = %r.currency, "ignoring keyset of another currency");
                continue;
            }
            let public_key = ecash_shared::blind_rsa::PublicKey::from_der(&r.public_key)
                .map_err(|e| anyhow::anyhow!("keyset {}: {e}", r.id))?;
            if KeysetId::of_der(&r.public_key) != r.id {
                bail!("keyset {}: id does not match its key", r.id);
            }
            let keyset = Keyset {
                id: r.id,
                value: r.value,
                currency: r.currency,
                public_key,
                withdraw_until: r.withdraw_until,
                deposit_until: r.deposit_until,
            };
            let info = KeysetInfo {
                id: r.id,
                value: r.value,
                scheme: ecash_shared::COIN_SCHEME.to_owned(),
                public_key: Bytes(r.public_key),
                withdraw_until: r.withdraw_until,
                deposit_until: r.deposit_until,
            };
            let secret = secrets.get(&r.id).map(|s| Arc::clone(s));
            if secret.is_none() {
                tracing::warn!(keyset = %r.id, "no private key for keyset: deposit only");
            }
            let signer = secret
                .as_ref()
                .map(|s| make_signer(Arc::clone(s), backend))
                .transpose()
                .map_err(|e| anyhow::anyhow!("keyset {}: signer: {e}", r.id))?;
            by_id.insert(
                r.id,
                LoadedKeyset {
                    keyset,
                    info,
                    secret,
                    signer,
                },
            );
        }
        Ok(Keys {
            currency,
            by_id,
            receipt_key: file.receipt_key.clone(),
            card_issuer: file.card_issuer()?,
        })
    }
}

/// The card issuer of an existing key file, for the operator commands that sign
/// (`bank-server admin card-unlock`); creates nothing.
pub fn card_issuer(config: &Config) -> anyhow::Result<ecash_card::issuer::Issuer> {
    let path = config
        .key_file_path()
        .context("signing needs the key file (a database file or --key-file)")?;
    KeyFile::load(&path)?
        .with_context(|| {
            format!(
                "no key file at {}: start the server once first",
                path.display()
            )
        })?
        .card_issuer()
}

fn new_set(config: &Config, now: Timestamp) -> anyhow::Result<Vec<KeyPair>> {
    let values = ecash_shared::denom::powers_of_two(config.max_denomination);
    if values.is_empty() {
        bail!("max denomination must be at least 1");
    }
    let withdraw_until = now.plus_secs(config.withdraw_period_secs);
    let deposit_until = withdraw_until.plus_secs(config.deposit_grace_secs);
    generate_keysets(config.currency, &values, withdraw_until, deposit_until)
}

/// Loads the key file and the database's keysets; on first start (no keyset
/// of the bank's currency can withdraw) generates a set and saves it first.
pub fn load_or_create(
    config: &Config,
    storage: &dyn Storage,
    now: Timestamp,
) -> anyhow::Result<Keys> {
    let path = config.key_file_path();
    let mut file = match &path {
        Some(p) => KeyFile::load(p)?,
        None => None,
    };
    let mut dirty = file.is_none();
    let file_ref = match &mut file {
        Some(f) => f,
        None => file.insert(KeyFile::new()?),
    };
    if file_ref.card_issuer_key.is_none() {
        // A key file from before cards: add the issuer key, keep everything else.
        file_ref.card_issuer_key = Some(generate_receipt_key()?);
        dirty = true;
    }
    let db: HashMap<KeysetId, KeysetRecord> = storage
        .keysets()
        .context("reading keysets")?
        .into_iter()
        .map(|k| (k.id, k))
        .collect();
    let can_withdraw = file_ref.keysets.iter().any(|k| {
        let r = db.get(&k.record.id).unwrap_or(&k.record);
        r.currency == config.currency && now < r.withdraw_until
    });
    if !can_withdraw {
        file_ref.keysets.extend(new_set(config, now)?);
        dirty = true;
    }
    if dirty && let Some(p) = &path {
        file_ref.save(p)?;
        tracing::info!(path = %p.display(), "saved private key file");
    }
    for k in &file_ref.keysets {
        if !db.contains_key(&k.record.id) {
            storage
                .insert_keyset(&k.record)
                .context("recording keyset")?;
        }
    }
    let records = storage.keysets().context("reading keysets")?;
    Keys::from_parts(config.currency, records, file_ref, config.signer)
}

/// `bank-server keys rotate`: a new set of keysets; the old ones stop
/// withdrawing now and stay valid for deposit until their `deposit_until`.
/// A running server picks the new keys up when restarted.
pub fn rotate(
    config: &Config,
    storage: &dyn Storage,
    now: Timestamp,
) -> anyhow::Result<Vec<KeysetRecord>> {
    let path = config
        .key_file_path()
        .context("rotation needs a key file (a database file or --key-file)")?;
    let mut file = KeyFile::load(&path)?.context("no key file yet: start the server once first")?;
    let db: HashMap<KeysetId, KeysetRecord> =
        storage.keysets()?.into_iter().map(|k| (k.id, k)).collect();
    for k in &mut file.keysets {
        let current = db
            .get(&k.record.id)
            .map_or(k.record.withdraw_until, |r| r.withdraw_until);
        k.record.withdraw_until = current.min(now);
    }
    let fresh = new_set(config, now)?;
    let new_records: Vec<KeysetRecord> = fresh.iter().map(|k| k.record.clone()).collect();
    file.keysets.extend(fresh);
    file.save(&path)?;
    for k in &file.keysets {
        match db.get(&k.record.id) {
            Some(r) if r.withdraw_until > k.record.withdraw_until => {
                storage.set_withdraw_until(&k.record.id, k.record.withdraw_until)?;
            }
            Some(_) => {}
            None => storage.insert_keyset(&k.record)?,
        }
    }
    Ok(new_records)
}
