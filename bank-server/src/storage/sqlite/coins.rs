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

    fn spend_deposit(&self, req: &SpendRequest<DepositInto>) -> Result<Amount, StorageError> {
        self.write(|tx| {
            refuse_spent(tx, req)?;
            let account = account_where(tx, "id = ?1", &req.effect.account_id)?
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
            insert_spent(tx, req, "deposit")?;
            Ok(balance)
        })
    }

    fn spend_swap(&self, req: &SpendRequest<SwapOutputs>) -> Result<SwapOutcome, StorageError> {
        self.write(|tx| {
            let pubs: Vec<[u8; 32]> = req.coins.iter().map(|c| c.coin_pub).collect();
            let spent = spent_by(tx, &pubs)?;
            if !spent.is_empty()
                && spent.iter().all(|s| s.as_ref() == Some(&req.op_id))
                && let Some(sigs) = find_swap(tx, &req.op_id)?
            {
                return Ok(SwapOutcome::Replayed(sigs));
            }
            refuse_spent(tx, req)?;
            tx.exec(
                "INSERT INTO swaps (op_id, currency, value, blind_sigs, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &req.op_id[..],
                    req.currency.as_str(),
                    amount_to_sql(req.effect.value)?,
                    encode_blobs(&req.effect.blind_sigs),
                    req.now.unix()
                ],
            )?;
            insert_spent(tx, req, "swap")?;
            Ok(SwapOutcome::Swapped)
        })
    }

    fn spend_payment(
        &self,
        req: &SpendRequest<OrderPayment>,
    ) -> Result<StoredPayment, StorageError> {
        self.write(|tx| merchant::pay(tx, req))
    }
}
