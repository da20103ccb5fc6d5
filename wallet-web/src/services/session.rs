//! The bank session of this tab, kept in `sessionStorage` (gone when the tab
//! closes; not shared with other tabs), and the chosen bank URL, kept in
//! `localStorage` (not a secret).

use serde::{Deserialize, Serialize};

const SESSION_KEY: &str = "ecash.session";
const BANK_URL_KEY: &str = "ecash.bank_url";

/// A logged-in session as stored for the tab.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The bank the token is for.
    pub bank_url: String,
    /// Username.
    pub username: String,
    /// Bearer token.
    pub token: String,
}

impl core::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SavedSession")
            .field("bank_url", &self.bank_url)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The tab's session, if any.
pub fn load() -> Option<SavedSession> {
    let raw = session_storage()?.get_item(SESSION_KEY).ok().flatten()?;
    serde_json::from_str(&raw).ok()
}

/// Keeps the session for this tab (best effort: storage may be disabled).
pub fn save(session: &SavedSession) {
    if let (Some(s), Ok(raw)) = (session_storage(), serde_json::to_string(session)) {
        let _ = s.set_item(SESSION_KEY, &raw);
    }
}

/// Forgets the session (log out).
pub fn clear() {
    if let Some(s) = session_storage() {
        let _ = s.remove_item(SESSION_KEY);
    }
}

/// The bank URL chosen earlier, if any.
pub fn load_bank_url() -> Option<String> {
    local_storage()?.get_item(BANK_URL_KEY).ok().flatten()
}

/// Remembers the bank URL.
pub fn save_bank_url(url: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(BANK_URL_KEY, url);
    }
}
