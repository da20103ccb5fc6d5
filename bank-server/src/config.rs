//! Server configuration. Every field has a safe default: `bank-server` with no
//! arguments serves a demo bank on 127.0.0.1.

use std::path::PathBuf;

/// Configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory with the built wallet (`index.html`, wasm, js); `None` serves a
    /// placeholder page explaining how to build it.
    pub static_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            static_dir: Some(PathBuf::from("dist")),
        }
    }
}
