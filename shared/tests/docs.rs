//! The protocol page documents every error code a server may send.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, missing_docs)]

use ecash_shared::ErrorCode;

#[test]
fn protocol_page_lists_every_error_code_with_its_status() {
    let page = include_str!("../../docs/protocol.md");
    for &code in ErrorCode::ALL {
        let row = format!("| `{}` | {} |", code, code.http_status());
        assert!(
            page.contains(&row),
            "docs/protocol.md lacks the row for {code}: {row}"
        );
    }
}
