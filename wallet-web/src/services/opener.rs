//! Talking back to the shop page that opened the wallet in a popup.
//!
//! Messages go only to the contract's `allowed_origin` (the shop's origin as
//! the merchant declared it when creating the order, covered by the contract
//! hash), never to `"*"`: a receipt must not leak to whatever page happens to
//! be the opener.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// The window that opened this one, if any (and not cut off by `noopener`).
fn opener() -> Option<JsValue> {
    let o = web_sys::window()?.opener().ok()?;
    (!o.is_null() && !o.is_undefined()).then_some(o)
}

/// Whether a page opened this window.
pub fn has_opener() -> bool {
    opener().is_some()
}

/// Posts `message` (JSON) to the opener, for `target_origin` only. Refuses an
/// empty or wildcard origin. `Ok(false)` when there is no opener.
pub fn post(message: &serde_json::Value, target_origin: &str) -> Result<bool, String> {
    let origin = target_origin.trim();
    if origin.is_empty() || origin == "*" || origin == "/" {
        return Err(format!("refusing to post to origin {origin:?}"));
    }
    let Some(opener) = opener() else {
        return Ok(false);
    };
    let data = js_sys::JSON::parse(&message.to_string()).map_err(|e| format!("{e:?}"))?;
    // `opener.postMessage(data, origin)` looked up on the object itself: the
    // opener is a cross-origin WindowProxy, on which only a few properties
    // (postMessage among them) may be read.
    let post: Function = Reflect::get(&opener, &"postMessage".into())
        .and_then(|f| f.dyn_into::<Function>())
        .map_err(|e| format!("{e:?}"))?;
    post.call2(&opener, &data, &JsValue::from_str(origin))
        .map_err(|e| format!("{e:?}"))?;
    Ok(true)
}

/// Closes this window (works for windows a script opened).
pub fn close_window() {
    if let Some(w) = web_sys::window() {
        let _ = w.close();
    }
}
