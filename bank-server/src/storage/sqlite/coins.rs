//! Withdrawals, the spent set and swaps of [`SqliteStorage`].

use ecash_shared::api::LedgerKind;
use rusqlite::params;

use super::*;

impl CoinStore for SqliteStorage {
    fn find_withdrawal(
        &self,
        account_id: AccountId,
        request_id: &str,
    ) -> Result<Option<StoredWithdrawal>, StorageError> {
        self.read(|tx| find_withdrawal(tx, account_id, request_id))
    }

    fn withdraw(&self, w: &NewWithdrawal) -> Result<WithdrawOutcome, StorageError> {
        self.write(|tx| {
            if let Some(stored) = find_withdrawal(tx, w.account_id, &w.request_id)? {
                return if stored.request_hash == w.request_hash {
                    Ok(WithdrawOutcome::Replayed(stored.blind_sigs))
                } else {
                    Err(StorageError::IdempotencyConflict)
                };
            }
            let account =
                account_where(tx, "id = ?1", &w.account_id)?.ok_or(StorageError::UnknownAccount)?;
            let memo = format!("{} coins", w.blind_sigs.len());
            let (balance, ledger_id) = post(
                tx,
                &account,
                LedgerKind::Withdraw,
                false,
                w.value,
                &memo,
                w.created_at,
            )?;
            tx.exec(
                "INSERT INTO withdrawals (account_id, request_id, request_hash, currency, value, blind_sigs, ledger_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    w.account_id,
                    w.request_id,
                    &w.request_hash[..],
                    w.currency.as_str(),
                    amount_to_sql(w.value)?,
                    encode_blobs(&w.blind_sigs),
                    ledger_id,
                    w.created_at.unix()
                ],
            )?;
            Ok(WithdrawOutcome::Done { balance })
        })
    }

    fn spent_by(&self, coin_pubs: &[[u8; 32]]) -> Result<Vec<Option<OpId>>, StorageError> {
        self.read(|tx| spent_by(tx, coin_pubs))
    }

    fn find_swap(&self, op_id: &OpId) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
        self.read(|tx| find_swap(tx, op_id))
    }

    fn spend(&self, req: &SpendRequest) -> Result<SpendOutcome, StorageError> {
        if let SpendEffect::OrderPayment {
            order_id,
            paid_at,
            bank_sig,
        } = &req.effect
        {
            return self.write(|tx| merchant::pay(tx, req, order_id, *paid_at, bank_sig));
        }
        self.write(|tx| {
            let pubs: Vec<[u8; 32]> = req.coins.iter().map(|c| c.coin_pub).collect();
            let spent = spent_by(tx, &pubs)?;
            let is_swap = matches!(req.effect, SpendEffect::Swap { .. });
            if is_swap
                && !spent.is_empty()
                && spent.iter().all(|s| s.as_ref() == Some(&req.op_id))
                && let Some(sigs) = find_swap(tx, &req.op_id)?
            {
                return Ok(SpendOutcome::Replayed(sigs));
            }
            if let Some((coin, _)) = pubs.iter().zip(&spent).find(|(_, s)| s.is_some()) {
                return Err(StorageError::CoinAlreadySpent(*coin));
            }
            let (op_kind, outcome) = match &req.effect {
                SpendEffect::Deposit { account_id } => {
                    let account = account_where(tx, "id = ?1", account_id)?
                        .ok_or(StorageError::UnknownAccount)?;
                    let memo = format!("{} coins", req.coins.len());
                    let (balance, _) = post(
                        tx,
                        &account,
                        LedgerKind::Deposit,
                        true,
                        req.value,
                        &memo,
                        req.now,
                    )?;
                    ("deposit", SpendOutcome::Deposited { balance })
                }
                SpendEffect::Swap { value, blind_sigs } => {
                    tx.exec(
                        "INSERT INTO swaps (op_id, currency, value, blind_sigs, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            &req.op_id[..],
                            req.currency.as_str(),
                            amount_to_sql(*value)?,
                            encode_blobs(blind_sigs),
                            req.now.unix()
                        ],
                    )?;
                    ("swap", SpendOutcome::Swapped)
                }
                // Handled above, before the spent-set checks.
                SpendEffect::OrderPayment { .. } => {
                    return Err(corrupt("order payment on the generic spend path"));
                }
            };
            insert_spent(tx, req, op_kind)?;
            Ok(outcome)
        })
    }
}
