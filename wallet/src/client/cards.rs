//! The bank's card endpoints (`/v1/cards/…`) on [`BankClient`], and
//! [`CardSession`]: those endpoints with a session's token, as the
//! [`CardBank`] that `ecash_card::client::PurseClient`'s settling steps call.
//!
//! The endpoints answer [`WalletError`]s like every other call;
//! [`card_error_text`] words them as the Card page shows them (and as
//! [`CardSession`] hands them to the purse client, in `ecash_card::Error::Bank`).

use ecash_card::CardId;
use ecash_card::api::{
    CardInfo, CertifyRequest, CertifyResponse, ExceptionsRequest, ExceptionsResponse, IssuerInfo,
    LoadRequest, LoadResponse, LoadsResponse, NewUnlockRequest, TransfersRequest,
    TransfersResponse, UnloadRequest, UnloadResponse, UnlockStatus,
};
use ecash_card::client::CardBank;
use ecash_card::exception::ExceptionRecord;
use ecash_card::load::LoadAuth;
use ecash_card::settle::Credit;
use ecash_shared::ErrorCode;

use super::BankClient;
use crate::WalletError;
use crate::transport::{Method, Transport};

impl<T: Transport> BankClient<T> {
    /// `GET /v1/cards/issuer`: the issuer key written into every card at INITIALIZE.
    pub async fn card_issuer(&self) -> Result<IssuerInfo, WalletError> {
        self.call::<(), _>(Method::Get, "/v1/cards/issuer", None, None)
            .await
    }

    /// `POST /v1/cards`: certify the key a blank card revealed at INITIALIZE.
    pub async fn certify_card(
        &self,
        token: &str,
        req: &CertifyRequest,
    ) -> Result<CertifyResponse, WalletError> {
        self.call(Method::Post, "/v1/cards", Some(token), Some(req))
            .await
    }

    /// `GET /v1/cards/{id}`: the card as the bank's ledger sees it.
    pub async fn card_info(&self, token: &str, card_id: CardId) -> Result<CardInfo, WalletError> {
        let path = format!("/v1/cards/{card_id}");
        self.call::<(), _>(Method::Get, &path, Some(token), None)
            .await
    }

    /// `POST /v1/cards/{id}/loads`: debit the account, authorize the card's next load.
    pub async fn load_card(
        &self,
        token: &str,
        card_id: CardId,
        req: &LoadRequest,
    ) -> Result<LoadResponse, WalletError> {
        let path = format!("/v1/cards/{card_id}/loads");
        self.call(Method::Post, &path, Some(token), Some(req)).await
    }

    /// `GET /v1/cards/{id}/loads?from=N`: stored load authorizations from `from` on.
    pub async fn card_loads(
        &self,
        token: &str,
        card_id: CardId,
        from: u32,
    ) -> Result<LoadsResponse, WalletError> {
        let path = format!("/v1/cards/{card_id}/loads?from={from}");
        self.call::<(), _>(Method::Get, &path, Some(token), None)
            .await
    }

    /// `POST /v1/cards/{id}/unloads`: credit a card-signed unload proof (once; a
    /// repeat of the same proof gets the same answer and credits nothing more).
    pub async fn unload_card(
        &self,
        token: &str,
        card_id: CardId,
        req: &UnloadRequest,
    ) -> Result<UnloadResponse, WalletError> {
        let path = format!("/v1/cards/{card_id}/unloads");
        self.call(Method::Post, &path, Some(token), Some(req)).await
    }

    /// `POST /v1/cards/{id}/exceptions`: the card's exception log.
    pub async fn card_exceptions(
        &self,
        token: &str,
        card_id: CardId,
        req: &ExceptionsRequest,
    ) -> Result<ExceptionsResponse, WalletError> {
        let path = format!("/v1/cards/{card_id}/exceptions");
        self.call(Method::Post, &path, Some(token), Some(req)).await
    }

    /// `POST /v1/cards/{id}/transfers`: the payee card's unsettled credits.
    pub async fn card_transfers(
        &self,
        token: &str,
        card_id: CardId,
        req: &TransfersRequest,
    ) -> Result<TransfersResponse, WalletError> {
        let path = format!("/v1/cards/{card_id}/transfers");
        self.call(Method::Post, &path, Some(token), Some(req)).await
    }

    /// `POST /v1/cards/{id}/unlock-requests`: ask the operator to reopen the card.
    pub async fn request_card_unlock(
        &self,
        token: &str,
        card_id: CardId,
        req: &NewUnlockRequest,
    ) -> Result<UnlockStatus, WalletError> {
        let path = format!("/v1/cards/{card_id}/unlock-requests");
        self.call(Method::Post, &path, Some(token), Some(req)).await
    }

    /// `GET /v1/cards/{id}/unlock`: the card's current unlock request; `None` when
    /// the bank answers `NO_UNLOCK_REQUEST` (nobody asked).
    pub async fn card_unlock_status(
        &self,
        token: &str,
        card_id: CardId,
    ) -> Result<Option<UnlockStatus>, WalletError> {
        let path = format!("/v1/cards/{card_id}/unlock");
        match self
            .call::<(), _>(Method::Get, &path, Some(token), None)
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.code() == Some(ErrorCode::NoUnlockRequest) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The card endpoints with `token`, as a [`CardBank`].
    pub fn card_session<'a>(&'a self, token: &'a str) -> CardSession<'a, T> {
        CardSession {
            client: self,
            token,
        }
    }
}

/// A card endpoint's failure in words: the wallet's plain language for what the
/// holder must act on (a card caught over-spending, an account in debt), the bank's
/// detail and code for other refusals, what went wrong otherwise.
pub fn card_error_text(e: &WalletError) -> String {
    match e {
        WalletError::Bank(r) => match r.code {
            ErrorCode::CardOverspent | ErrorCode::AccountInDebt => e.to_string(),
            _ => format!("The bank refused: {} ({})", r.detail, r.code),
        },
        WalletError::Network(t) => t.0.clone(),
        other => other.to_string(),
    }
}

/// The bank's card endpoints with a session's bearer token: the [`CardBank`] that
/// `ecash_card::client::PurseClient` settles through. Failures reach the purse
/// client as `ecash_card::Error::Bank` worded by [`card_error_text`].
#[derive(Debug)]
pub struct CardSession<'a, T> {
    client: &'a BankClient<T>,
    token: &'a str,
}

impl<T> CardSession<'_, T> {
    /// The bearer token.
    pub fn token(&self) -> &str {
        self.token
    }
}

fn bank_err(e: WalletError) -> ecash_card::Error {
    ecash_card::Error::Bank(card_error_text(&e))
}

impl<T: Transport> CardBank for CardSession<'_, T> {
    async fn upload_exceptions(
        &self,
        card_id: CardId,
        records: Vec<ExceptionRecord>,
    ) -> Result<ExceptionsResponse, ecash_card::Error> {
        self.client
            .card_exceptions(self.token, card_id, &ExceptionsRequest { records })
            .await
            .map_err(bank_err)
    }

    async fn settle_transfers(
        &self,
        card_id: CardId,
        credits: Vec<Credit>,
    ) -> Result<TransfersResponse, ecash_card::Error> {
        self.client
            .card_transfers(self.token, card_id, &TransfersRequest { credits })
            .await
            .map_err(bank_err)
    }

    async fn loads_from(
        &self,
        card_id: CardId,
        from: u32,
    ) -> Result<Vec<LoadAuth>, ecash_card::Error> {
        self.client
            .card_loads(self.token, card_id, from)
            .await
            .map(|r| r.loads)
            .map_err(bank_err)
    }

    async fn request_unlock(
        &self,
        card_id: CardId,
        request: &NewUnlockRequest,
    ) -> Result<UnlockStatus, ecash_card::Error> {
        self.client
            .request_card_unlock(self.token, card_id, request)
            .await
            .map_err(bank_err)
    }

    async fn unlock_status(
        &self,
        card_id: CardId,
    ) -> Result<Option<UnlockStatus>, ecash_card::Error> {
        self.client
            .card_unlock_status(self.token, card_id)
            .await
            .map_err(bank_err)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use ecash_shared::ErrorResponse;

    use super::*;
    use crate::transport::{HttpResponse, TransportError};

    /// Answers every request with `answer` and records what was asked.
    struct Canned {
        answer: Result<HttpResponse, TransportError>,
        asked: RefCell<Vec<(Method, String, Option<String>)>>,
    }

    impl Canned {
        fn new(status: u16, body: Vec<u8>) -> Self {
            Canned {
                answer: Ok(HttpResponse { status, body }),
                asked: RefCell::new(Vec::new()),
            }
        }

        fn refusing(code: ErrorCode, detail: &str) -> Self {
            let body = serde_json::to_vec(&ErrorResponse::new(code, detail)).unwrap();
            Canned::new(code.http_status(), body)
        }
    }

    impl Transport for &Canned {
        async fn send(
            &self,
            method: Method,
            path: &str,
            bearer: Option<&str>,
            _body: Option<Vec<u8>>,
        ) -> Result<HttpResponse, TransportError> {
            self.asked
                .borrow_mut()
                .push((method, path.to_owned(), bearer.map(str::to_owned)));
            self.answer.clone()
        }

        fn now_unix(&self) -> i64 {
            0
        }

        fn bank_url(&self) -> String {
            "http://bank.test".to_owned()
        }
    }

    /// The canned transport never waits: one poll finishes any call.
    fn ready<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the canned transport never waits"),
        }
    }

    const CARD: CardId = CardId([1, 2, 3, 4, 5, 6, 7, 8]);

    #[test]
    fn no_unlock_request_is_none_and_the_token_is_sent() {
        let t = Canned::refusing(ErrorCode::NoUnlockRequest, "none");
        let client = BankClient::new(&t);
        let session = client.card_session("tok");
        assert_eq!(ready(session.unlock_status(CARD)).unwrap(), None);
        assert_eq!(
            t.asked.borrow().as_slice(),
            [(
                Method::Get,
                "/v1/cards/0102030405060708/unlock".to_owned(),
                Some("tok".to_owned())
            )]
        );
    }

    #[test]
    fn loads_are_fetched_from_the_given_number() {
        let t = Canned::new(200, br#"{"loads":[]}"#.to_vec());
        let client = BankClient::new(&t);
        let loads = ready(client.card_session("tok").loads_from(CARD, 3)).unwrap();
        assert!(loads.is_empty());
        assert_eq!(
            t.asked.borrow()[0].1,
            "/v1/cards/0102030405060708/loads?from=3"
        );
    }

    #[test]
    fn refusals_reach_the_purse_client_in_words() {
        let t = Canned::refusing(ErrorCode::Forbidden, "not your card");
        let client = BankClient::new(&t);
        let err = ready(client.card_session("tok").loads_from(CARD, 1)).unwrap_err();
        assert_eq!(
            err,
            ecash_card::Error::Bank(format!(
                "The bank refused: not your card ({})",
                ErrorCode::Forbidden
            ))
        );
        // What the holder must act on is said plainly.
        let debt = WalletError::Bank(ErrorResponse::new(ErrorCode::AccountInDebt, ""));
        assert_eq!(card_error_text(&debt), debt.to_string());
        let lost = WalletError::Network(TransportError("the bank is not reachable".into()));
        assert_eq!(card_error_text(&lost), "the bank is not reachable");
    }
}
