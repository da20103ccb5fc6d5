//! Showing times and signed amounts.

use ecash_shared::Amount;
use ecash_shared::encoding::Timestamp;
use wasm_bindgen::JsValue;

/// A time in the reader's locale and time zone, e.g. `25 Nov 2026, 10:03`.
pub fn local_time(t: Timestamp) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(t.unix() as f64 * 1000.0));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"medium".into());
    let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
    String::from(date.to_locale_string("default", &options))
}

/// `+12.05` or `−12.05` (a real minus sign).
pub fn signed(amount: Amount, incoming: bool) -> String {
    format!("{}{amount}", if incoming { "+" } else { "\u{2212}" })
}

/// The first and last characters of a long identifier.
pub fn short(id: &str) -> String {
    if id.chars().count() <= 16 {
        id.to_owned()
    } else {
        let head: String = id.chars().take(8).collect();
        let tail: String = id
            .chars()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{head}…{tail}")
    }
}
