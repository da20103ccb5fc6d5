-- Electronic purse cards, continued: the owner's requests to reopen a locked
-- card, and the operator's decisions on them.
--
-- A card's risk rules lock it; only an issuer-signed UNLOCK for the card's next
-- unlock number (GET STATUS next_unlock_seq) reopens it. The owner asks for that
-- number (one row per (card, unlock_seq): asking again answers the stored row);
-- the operator approves (the signed UNLOCK goes to card_unlocks, as every
-- operator unlock, and the row points at it) or refuses (with a note). The
-- owner's wallet reads the row and applies an approved UNLOCK to the card.
--
-- A card has at most one pending request: asking for another number sets the
-- pending one 'superseded' (the card cannot need both). An operator unlock of a
-- number nobody asked for is stored here too, as approved with no account, so
-- the owner's wallet finds it the same way.

CREATE TABLE card_unlock_requests (
    card_id      BLOB NOT NULL REFERENCES cards(id),
    unlock_seq   INTEGER NOT NULL CHECK (unlock_seq > 0),
    account_id   INTEGER REFERENCES accounts(id),   -- the owner who asked; NULL: operator, unasked
    reason       TEXT,                              -- the owner's words
    state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'refused', 'superseded')),
    requested_at INTEGER NOT NULL,
    decided_at   INTEGER,                           -- approved, refused or superseded: when
    decided_by   TEXT,                              -- approved or refused: who
    note         TEXT,                              -- refused: the operator's note
    unlock_id    INTEGER REFERENCES card_unlocks(id),  -- approved: the signed decision
    PRIMARY KEY (card_id, unlock_seq),
    CHECK ((state = 'approved') = (unlock_id IS NOT NULL))
) STRICT;
-- One pending request per card; the operator's list scans this index.
CREATE UNIQUE INDEX card_unlock_requests_pending ON card_unlock_requests(card_id)
    WHERE state = 'pending';

-- Operator unlocks recorded before this migration: approved, unasked (the
-- latest decision of each number; number 0, which no card ever expects, was
-- not refused then and is left out).
INSERT INTO card_unlock_requests
    (card_id, unlock_seq, account_id, reason, state, requested_at, decided_at, decided_by, unlock_id)
SELECT card_id, unlock_seq, NULL, NULL, 'approved', created_at, created_at, decided_by, max(id)
FROM card_unlocks
WHERE unlock_seq > 0
GROUP BY card_id, unlock_seq;
