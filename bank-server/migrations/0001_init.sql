-- Initial schema of the bank. Amounts are integer minor units, times Unix
-- seconds, ids and keys raw bytes. Every value movement is a ledger entry or a
-- row in withdrawals / swaps / spent_coins, so `bank-server audit` can prove
-- that wired in - wired out = balances + coins signed - coins spent.

CREATE TABLE keysets (
    id             BLOB PRIMARY KEY,     -- SHA-256 of public_key
    currency       TEXT NOT NULL,
    value          INTEGER NOT NULL CHECK (value > 0),
    public_key     BLOB NOT NULL,        -- DER SubjectPublicKeyInfo
    withdraw_until INTEGER NOT NULL,
    deposit_until  INTEGER NOT NULL
) STRICT;

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,         -- Argon2id PHC string
    merchant      INTEGER NOT NULL CHECK (merchant IN (0, 1)),
    currency      TEXT NOT NULL,
    balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at    INTEGER NOT NULL
) STRICT;

-- Login tokens, by SHA-256 (the tokens carry 256 bits of entropy).
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    currency      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    credit        INTEGER NOT NULL CHECK (credit IN (0, 1)),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    created_at    INTEGER NOT NULL,
    memo          TEXT NOT NULL
) STRICT;
CREATE INDEX ledger_by_account ON ledger(account_id, id);

-- Coins signed against an account debit; the idempotency record of withdraw.
CREATE TABLE withdrawals (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    request_id   TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    currency     TEXT NOT NULL,
    value        INTEGER NOT NULL CHECK (value > 0),
    blind_sigs   BLOB NOT NULL,
    ledger_id    INTEGER NOT NULL REFERENCES ledger(id),
    created_at   INTEGER NOT NULL,
    UNIQUE (account_id, request_id)
) STRICT;

-- Coins signed against spent coins of equal value; keyed by the swap's content.
CREATE TABLE swaps (
    op_id      BLOB PRIMARY KEY,
    currency   TEXT NOT NULL,
    value      INTEGER NOT NULL CHECK (value > 0),
    blind_sigs BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The spent set. The primary key is what makes a double spend impossible.
CREATE TABLE spent_coins (
    coin_pub   BLOB PRIMARY KEY,
    keyset_id  BLOB NOT NULL REFERENCES keysets(id),
    currency   TEXT NOT NULL,
    value      INTEGER NOT NULL CHECK (value > 0),
    msg_prefix BLOB NOT NULL,
    denom_sig  BLOB NOT NULL,
    coin_sig   BLOB NOT NULL,
    spend_msg  BLOB NOT NULL,
    op_kind    TEXT NOT NULL,            -- 'deposit' | 'swap'
    op_id      BLOB NOT NULL,
    spent_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX spent_by_op ON spent_coins(op_id);
