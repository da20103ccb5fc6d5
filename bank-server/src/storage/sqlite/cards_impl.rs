//! Cards (the SQL is in `cards`) of [`SqliteStorage`].

use super::*;

impl CardStore for SqliteStorage {
    fn create_card(&self, card: &NewCard) -> Result<CardRecord, StorageError> {
        self.write(|tx| cards::create_card(tx, card))
    }

    fn card(&self, id: &[u8; 8]) -> Result<Option<CardRecord>, StorageError> {
        self.read(|tx| cards::card(tx, id))
    }

    fn card_load(&self, load: &NewCardLoad) -> Result<CardLoadOutcome, StorageError> {
        self.write(|tx| cards::card_load(tx, load))
    }

    fn card_unload(&self, unload: &NewCardUnload) -> Result<CardUnloadOutcome, StorageError> {
        self.write(|tx| cards::card_unload(tx, unload))
    }

    fn card_loads_from(
        &self,
        card_id: &[u8; 8],
        from: u32,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        self.read(|tx| cards::card_loads_from(tx, card_id, from, limit))
    }

    fn card_exceptions(
        &self,
        upload: &CardExceptionUpload,
        sign: &dyn Fn(&RecoveryLoad) -> Vec<u8>,
    ) -> Result<CardExceptionOutcome, StorageError> {
        self.write(|tx| cards::card_exceptions(tx, upload, sign))
    }

    fn card_unlock(&self, unlock: &NewCardUnlock) -> Result<Option<String>, StorageError> {
        self.write(|tx| cards::card_unlock(tx, unlock))
    }

    fn card_settle(&self, settlement: &CardSettlement) -> Result<CardSettleOutcome, StorageError> {
        self.write(|tx| cards::card_settle(tx, settlement))
    }

    fn card_unlock_request(
        &self,
        request: &NewCardUnlockRequest,
    ) -> Result<CardUnlockRequestRecord, StorageError> {
        self.write(|tx| cards::card_unlock_request(tx, request))
    }

    fn card_unlock_status(
        &self,
        card_id: &[u8; 8],
    ) -> Result<Option<CardUnlockRequestRecord>, StorageError> {
        self.read(|tx| cards::card_unlock_status(tx, card_id))
    }

    fn card_unlock_requests_pending(&self) -> Result<Vec<CardUnlockRequestRecord>, StorageError> {
        self.read(cards::card_unlock_requests_pending)
    }

    fn card_unlock_refuse(
        &self,
        refusal: &CardUnlockRefusal,
    ) -> Result<CardUnlockRequestRecord, StorageError> {
        self.write(|tx| cards::card_unlock_refuse(tx, refusal))
    }
}
