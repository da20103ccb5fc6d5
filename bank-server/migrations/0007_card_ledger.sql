-- The bank's own ledger per card (issue 13): a card key the user holds is a claim,
-- never proof, so the bank pays out of a card no more than it has seen go onto it.
--
-- cards.bank_balance = bank loads - unloads - settled transfers out + settled
-- transfers in (recovery loads leave it alone: they re-credit a debit that was never
-- settled). Every unload and every settled transfer out is bounded by it in the
-- transaction that books it. A payer card that cannot cover a transfer it signed is
-- not a genuine card: it is blocked, the evidence kept in card_overspends, the
-- shortfall taken from its owner's balance and the rest booked as the owner's debt
-- (a receivable; collected first from any later credit to the account).

ALTER TABLE cards ADD COLUMN bank_balance INTEGER NOT NULL DEFAULT 0 CHECK (bank_balance >= 0);
UPDATE cards SET bank_balance = max(0,
    coalesce((SELECT sum(amount) FROM card_loads l WHERE l.card_id = cards.id AND l.kind = 'bank'), 0)
  - coalesce((SELECT sum(amount) FROM card_unloads u WHERE u.card_id = cards.id), 0));

ALTER TABLE accounts ADD COLUMN debt INTEGER NOT NULL DEFAULT 0 CHECK (debt >= 0);

-- Offline transfers settled at the bank: the payer card's VALUE and the payee card's
-- ACK for the same terms, once per terms. Two rows with one (payer, payer_seq) are
-- two VALUEs the payer signed under one number: a copy of the card.
CREATE TABLE card_transfers (
    id         INTEGER PRIMARY KEY,
    payer      BLOB NOT NULL REFERENCES cards(id),
    payer_seq  INTEGER NOT NULL,
    payee      BLOB NOT NULL REFERENCES cards(id),
    payee_seq  INTEGER NOT NULL,
    terms      BLOB NOT NULL UNIQUE,          -- Terms encoding (36 bytes)
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    value      BLOB NOT NULL,                 -- payer-signed VALUE (100 bytes)
    ack        BLOB NOT NULL,                 -- payee-signed ACK (100 bytes)
    shortfall  INTEGER NOT NULL CHECK (shortfall >= 0 AND shortfall <= amount),
    account_id INTEGER NOT NULL REFERENCES accounts(id),  -- who presented it
    created_at INTEGER NOT NULL,
    CHECK (payer <> payee)
) STRICT;
CREATE INDEX card_transfers_by_payer ON card_transfers(payer, payer_seq);
CREATE INDEX card_transfers_by_payee ON card_transfers(payee);

-- Evidence of cards caught giving out more than the bank held for them; anyone
-- can re-verify `record` (and `conflicting`) against the card's certificate.
CREATE TABLE card_overspends (
    id           INTEGER PRIMARY KEY,
    card_id      BLOB NOT NULL REFERENCES cards(id),
    account_id   INTEGER NOT NULL REFERENCES accounts(id),  -- the card's owner, charged
    kind         TEXT NOT NULL CHECK (kind IN ('transfer', 'unload')),
    record       BLOB NOT NULL,  -- the card-signed VALUE or unload proof not covered
    conflicting  BLOB,           -- another VALUE it signed under the same payer_seq
    amount       INTEGER NOT NULL CHECK (amount > 0),
    shortfall    INTEGER NOT NULL CHECK (shortfall >= 0),   -- amount - what the card covered
    from_balance INTEGER NOT NULL CHECK (from_balance >= 0), -- taken from the owner's balance
    debt         INTEGER NOT NULL CHECK (debt >= 0),         -- booked as the owner's debt
    created_at   INTEGER NOT NULL,
    CHECK (shortfall = from_balance + debt),
    CHECK (kind = 'transfer' OR shortfall = 0)
) STRICT;
CREATE INDEX card_overspends_by_card ON card_overspends(card_id);
