-- Electronic purse cards, continued: exception logs, recovery of value lost in
-- flight, bank-side blocks of cloned cards, and the operator's unlock decisions.
--
-- A card's exception records (card-signed) are stored once by
-- (card_id, exception_id). A transfer is proven lost when an unacked debit (the
-- payer's record) and an abandoned credit (the payee's) carry identical terms;
-- the payer card then gets a recovery load: a row of card_loads with kind
-- 'recovery', the payer's next load_seq, the transfer's payer_seq (unique per
-- card: recovered once) and no account or ledger entry (the value was counted
-- as on cards when it was loaded).

-- A card caught signing two different messages under one number (a copy of its
-- key and state: a cloned virtual card) is blocked here until an operator
-- unlocks it. NULL: not blocked.
ALTER TABLE cards ADD COLUMN blocked_at INTEGER;
ALTER TABLE cards ADD COLUMN blocked_reason TEXT;

-- card_loads gains a kind; recovery loads debit no account, so account_id and
-- ledger_id become optional (SQLite cannot relax NOT NULL in place: rebuild).
CREATE TABLE card_loads_v4 (
    card_id    BLOB NOT NULL REFERENCES cards(id),
    load_seq   INTEGER NOT NULL CHECK (load_seq > 0),
    kind       TEXT NOT NULL CHECK (kind IN ('bank', 'recovery')),
    account_id INTEGER REFERENCES accounts(id),   -- bank: the account debited
    ledger_id  INTEGER REFERENCES ledger(id),     -- bank: its card_load debit
    payer_seq  INTEGER,                           -- recovery: the lost transfer's payer_seq
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    auth       BLOB NOT NULL,                     -- LoadAuth::to_bytes (92 bytes)
    created_at INTEGER NOT NULL,
    PRIMARY KEY (card_id, load_seq),
    CHECK ((kind = 'bank' AND account_id IS NOT NULL AND ledger_id IS NOT NULL AND payer_seq IS NULL)
        OR (kind = 'recovery' AND account_id IS NULL AND ledger_id IS NULL AND payer_seq IS NOT NULL))
) STRICT;
INSERT INTO card_loads_v4 (card_id, load_seq, kind, account_id, ledger_id, payer_seq, currency, amount, auth, created_at)
    SELECT card_id, load_seq, 'bank', account_id, ledger_id, NULL, currency, amount, auth, created_at
    FROM card_loads;
DROP TABLE card_loads;
ALTER TABLE card_loads_v4 RENAME TO card_loads;
-- A lost transfer is re-credited once: one recovery per (payer card, payer_seq).
CREATE UNIQUE INDEX card_loads_recovered ON card_loads(card_id, payer_seq) WHERE kind = 'recovery';

CREATE TABLE card_exceptions (
    card_id      BLOB NOT NULL REFERENCES cards(id),
    exception_id INTEGER NOT NULL CHECK (exception_id > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('unacked_debit', 'abandoned_credit')),
    payer        BLOB NOT NULL CHECK (length(payer) = 8),
    payer_seq    INTEGER NOT NULL,
    terms        BLOB NOT NULL,   -- Terms encoding (36 bytes): the matching key
    record       BLOB NOT NULL,   -- ExceptionRecord::to_bytes (113 bytes), card-signed
    account_id   INTEGER NOT NULL REFERENCES accounts(id),  -- who uploaded it
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (card_id, exception_id)
) STRICT;
CREATE INDEX card_exceptions_by_terms ON card_exceptions(terms, kind);

-- Every operator unlock: who, when, for which unlock_seq, and the block it lifted.
CREATE TABLE card_unlocks (
    id            INTEGER PRIMARY KEY,
    card_id       BLOB NOT NULL REFERENCES cards(id),
    unlock_seq    INTEGER NOT NULL,
    decided_by    TEXT NOT NULL,
    lifted_block  TEXT,           -- the blocked_reason cleared, NULL if none
    auth          BLOB NOT NULL,  -- UnlockAuth::to_bytes (80 bytes)
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX card_unlocks_by_card ON card_unlocks(card_id);
