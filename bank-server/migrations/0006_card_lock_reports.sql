-- Unlock requests carry the card's own word: since this migration the owner
-- asks with the card-signed lock report (GET LOCK REPORT), which the bank
-- verifies against the card's certificate before storing the request. The
-- request's unlock_seq is the report's; lock_reason is why the card says it
-- locked; lock_report is the report as received (97 bytes: body || signature),
-- kept as evidence for the operator and the audit trail.
--
-- Requests stored before this migration, and an operator's unasked unlocks,
-- have neither (NULL).
ALTER TABLE card_unlock_requests ADD COLUMN lock_reason TEXT
    CHECK (lock_reason IN ('per_transfer_limit', 'daily_limit'));
ALTER TABLE card_unlock_requests ADD COLUMN lock_report BLOB
    CHECK (lock_report IS NULL OR length(lock_report) = 97);
