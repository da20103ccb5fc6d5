//! The wallet on the browser's storage and transport, one database per bank.

use std::rc::Rc;

use ecash_wallet::Wallet;
use ecash_wallet::storage::StorageError;

use crate::services::http::HttpTransport;
use crate::services::idb::{DB_NAME, IdbStorage};

/// The wallet on the browser's storage and transport.
pub type WebWallet = Wallet<IdbStorage, HttpTransport>;

/// The database for a bank: [`DB_NAME`] for the bank that serves the page,
/// a separate one per other bank, so coins and cached keys never mix.
pub fn db_name_for(bank_url: &str) -> String {
    match HttpTransport::page_origin() {
        Some(origin) if origin == bank_url => DB_NAME.to_owned(),
        _ => format!("{DB_NAME} {bank_url}"),
    }
}

/// Opens the wallet for the bank at `bank_url`.
pub async fn open_wallet(bank_url: &str) -> Result<Rc<WebWallet>, StorageError> {
    let storage = IdbStorage::open(&db_name_for(bank_url)).await?;
    Ok(Rc::new(Wallet::new(storage, HttpTransport::new(bank_url))))
}
