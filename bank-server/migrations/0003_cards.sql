-- Electronic purse cards (crate ecash-card): certificates, loads and unloads.
--
-- A load debits the owner's account (ledger kind 'card_load') and stores the
-- issuer-signed authorization under (card_id, load_seq) in one transaction,
-- before the authorization leaves; a retry gets the stored one. An unload
-- credits the proof's destination account (ledger kind 'card_unload') once per
-- (card_id, unload_seq), keeping the card-signed proof. Value on cards
-- (loads - unloads) joins the audit's equation.

CREATE TABLE cards (
    id         BLOB PRIMARY KEY CHECK (length(id) = 8),
    card_pub   BLOB NOT NULL UNIQUE CHECK (length(card_pub) = 32),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    mode       TEXT NOT NULL CHECK (mode IN ('personal', 'terminal')),
    currency   TEXT NOT NULL,
    cert       BLOB NOT NULL,         -- CardCert::to_bytes (133 bytes)
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX cards_by_account ON cards(account_id);

CREATE TABLE card_loads (
    card_id    BLOB NOT NULL REFERENCES cards(id),
    load_seq   INTEGER NOT NULL CHECK (load_seq > 0),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    auth       BLOB NOT NULL,         -- LoadAuth::to_bytes (92 bytes)
    ledger_id  INTEGER NOT NULL REFERENCES ledger(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (card_id, load_seq)
) STRICT;

CREATE TABLE card_unloads (
    card_id    BLOB NOT NULL REFERENCES cards(id),
    unload_seq INTEGER NOT NULL CHECK (unload_seq >= 0),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    proof      BLOB NOT NULL,         -- UnloadProof::to_bytes (119 bytes)
    ledger_id  INTEGER NOT NULL REFERENCES ledger(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (card_id, unload_seq)
) STRICT;
