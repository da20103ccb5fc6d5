-- Merchants: orders, payments, refunds and refund claims.
--
-- A payment spends coins into the spent set (op_kind 'pay', op_id =
-- orders.pay_op_id) and credits the merchant (ledger kind 'order_payment') in
-- one transaction. A refund debits the merchant (ledger kind 'refund') and
-- raises orders.refunded; a claim signs fresh coins worth the unclaimed part
-- (refund_claims), so the audit's equation gains the term
-- refunds granted - refunds claimed (money owed to payers, not yet coins).

-- The name a merchant's contracts show ("Demo Shop"); NULL: the username.
ALTER TABLE accounts ADD COLUMN display_name TEXT;

CREATE TABLE orders (
    seq             INTEGER PRIMARY KEY,  -- pagination cursor
    id              TEXT NOT NULL UNIQUE, -- base64url of 16 random bytes
    merchant_id     INTEGER NOT NULL REFERENCES accounts(id),
    merchant_name   TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    summary         TEXT NOT NULL,
    fulfillment_url TEXT,
    allowed_origin  TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    contract_hash   BLOB NOT NULL,        -- Contract::compute_hash of the above
    pay_op_id       BLOB UNIQUE,          -- spent_coins.op_id of the coins that paid
    paid_at         INTEGER,
    bank_sig        BLOB,                 -- receipt signature
    refunded        INTEGER NOT NULL DEFAULT 0,
    refund_claimed  INTEGER NOT NULL DEFAULT 0,
    CHECK ((pay_op_id IS NULL) = (paid_at IS NULL) AND (paid_at IS NULL) = (bank_sig IS NULL)),
    CHECK (refunded >= 0 AND refunded <= amount AND (pay_op_id IS NOT NULL OR refunded = 0)),
    CHECK (refund_claimed >= 0 AND refund_claimed <= refunded)
) STRICT;
CREATE INDEX orders_by_merchant ON orders(merchant_id, seq);

-- Refunds granted by merchants (each one a 'refund' ledger debit).
CREATE TABLE refunds (
    id         INTEGER PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders(id),
    currency   TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    ledger_id  INTEGER NOT NULL REFERENCES ledger(id),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_by_order ON refunds(order_id);

-- Coins signed against refunds; keyed by the claim's content so an identical
-- claim gets its signatures back.
CREATE TABLE refund_claims (
    op_id      BLOB PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders(id),
    currency   TEXT NOT NULL,
    value      INTEGER NOT NULL CHECK (value > 0),
    blind_sigs BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX refund_claims_by_order ON refund_claims(order_id);
