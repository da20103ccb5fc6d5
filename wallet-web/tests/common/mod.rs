//! Helpers shared by the browser suites (`ui.rs`, `card.rs`, `resume.rs`): driving the
//! rendered page as a user would (wait for an element or a text, type, click, go to a
//! route), and a test bank (an account registered, credited through the admin endpoint
//! and logged in). Each suite is its own test binary and uses only some of them.
#![allow(dead_code)]

use ecash_shared::Amount;
use ecash_shared::api::Credentials;
use ecash_wallet::Wallet;
use ecash_wallet::transport::{Method, Transport};
use wallet_web::services::http::HttpTransport;
use wallet_web::services::idb::IdbStorage;
use wallet_web::services::session::{self, SavedSession};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::console_log;
use web_sys::{Element, HtmlElement, HtmlInputElement};

/// How many times the waits below look, 20 ms apart (about 10 s).
const TRIES: usize = 500;

pub fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

pub async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

pub fn body_text() -> String {
    document()
        .body()
        .unwrap()
        .text_content()
        .unwrap_or_default()
}

/// The element with `id`, waiting up to about 10 s for it to appear.
pub async fn wait_for(id: &str) -> Element {
    for _ in 0..TRIES {
        if let Some(e) = document().get_element_by_id(id) {
            return e;
        }
        sleep(20).await;
    }
    panic!("#{id} never appeared; page: {}", body_text());
}

/// Waits (up to about 10 s) until `#id`'s text contains `needle`, and returns the text.
pub async fn wait_text(id: &str, needle: &str) -> String {
    for _ in 0..TRIES {
        if let Some(t) = document()
            .get_element_by_id(id)
            .and_then(|e| e.text_content())
            .filter(|t| t.contains(needle))
        {
            return t;
        }
        sleep(20).await;
    }
    panic!("#{id} never said {needle:?}; page: {}", body_text());
}

/// Waits (up to about 10 s) until there is no `#id` any more.
pub async fn wait_gone(id: &str) {
    for _ in 0..TRIES {
        if document().get_element_by_id(id).is_none() {
            return;
        }
        sleep(20).await;
    }
    panic!("#{id} never went away; page: {}", body_text());
}

/// Types `value` into the input `#id` (an `input` event, as a user's typing fires).
pub async fn type_into(id: &str, value: &str) {
    let input: HtmlInputElement = wait_for(id).await.dyn_into().unwrap();
    input.set_value(value);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let ev = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&ev).unwrap();
    sleep(20).await;
}

/// Clicks `#id` once it is enabled (buttons are disabled while an operation runs).
pub async fn click(id: &str) {
    for _ in 0..TRIES {
        let el: HtmlElement = wait_for(id).await.dyn_into().unwrap();
        if !el.has_attribute("disabled") {
            el.click();
            sleep(50).await;
            return;
        }
        sleep(20).await;
    }
    panic!("#{id} stayed disabled; page: {}", body_text());
}

/// Goes to the route `hash` (`#/withdraw`, …).
pub async fn go(hash: &str) {
    web_sys::window()
        .unwrap()
        .location()
        .set_hash(hash)
        .unwrap();
    sleep(50).await;
}

/// The bank the suites were built against.
pub struct TestBank {
    pub url: &'static str,
    /// The bank's admin token (`BANK_ADMIN_TOKEN`), to credit accounts and approve unlocks.
    pub admin: &'static str,
}

/// The bank named by `ECASH_TEST_BANK_URL` and `ECASH_TEST_ADMIN_TOKEN` at build time;
/// without them, a notice that `test` is skipped, and `None`.
pub fn test_bank(test: &str) -> Option<TestBank> {
    match (
        option_env!("ECASH_TEST_BANK_URL"),
        option_env!("ECASH_TEST_ADMIN_TOKEN"),
    ) {
        (Some(url), Some(admin)) => Some(TestBank { url, admin }),
        _ => {
            console_log!(
                "SKIPPED {test}: \
                 set ECASH_TEST_BANK_URL and ECASH_TEST_ADMIN_TOKEN at build time to run it"
            );
            None
        }
    }
}

/// An IndexedDB database of its own, named `ecash-{tag}-<random>`.
pub async fn fresh_db(tag: &str) -> IdbStorage {
    IdbStorage::open(&format!("ecash-{tag}-{}", js_sys::Math::random()))
        .await
        .unwrap()
}

/// An account at the test bank, with its login token.
pub struct Account {
    pub http: HttpTransport,
    pub username: String,
    pub token: String,
}

/// A new account `<prefix><random>` at `bank`, credited with `minor` through the admin
/// endpoint, and logged in.
pub async fn credited_account(bank: &TestBank, prefix: &str, minor: u64) -> Account {
    let http = HttpTransport::new(bank.url);
    let username = format!("{prefix}{}", (js_sys::Math::random() * 1e9) as u64);
    let creds = Credentials {
        username: username.clone(),
        password: "correct horse battery".into(),
        merchant: false,
    };
    let setup = Wallet::new(fresh_db(&format!("{prefix}-setup")).await, http.clone());
    setup.client().register(&creds).await.unwrap();
    let token = setup.client().login(&creds).await.unwrap().token;
    let credit = serde_json::json!({ "username": username, "amount": minor });
    let resp = http
        .send(
            Method::Post,
            "/v1/admin/credit",
            Some(bank.admin),
            Some(credit.to_string().into_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    Account {
        http,
        username,
        token,
    }
}

/// A new account at `bank` with `minor` on it, logged in for the page (the session the
/// app reads when it starts).
pub async fn logged_in_user(bank: &TestBank, prefix: &str, minor: u64) -> HttpTransport {
    let account = credited_account(bank, prefix, minor).await;
    session::save(&SavedSession {
        bank_url: bank.url.to_owned(),
        username: account.username,
        token: account.token,
    });
    account.http
}

/// The balance of the account logged in with `token`, as the bank says.
pub async fn account_balance(http: &HttpTransport, token: &str) -> Amount {
    let w = Wallet::new(fresh_db("balance").await, http.clone());
    w.client().account(token).await.unwrap().balance
}
