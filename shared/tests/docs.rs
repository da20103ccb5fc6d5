//! The README documents every error code a server may send.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, missing_docs)]

use ecash_shared::ErrorCode;

#[test]
fn readme_lists_every_error_code_with_its_status() {
    let readme = include_str!("../../README.md");
    for &code in ErrorCode::ALL {
        let row = format!("| `{}` | {} |", code, code.http_status());
        assert!(
            readme.contains(&row),
            "README lacks the row for {code}: {row}"
        );
    }
}
