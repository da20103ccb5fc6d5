//! The cyberwallet: a Yew app compiled to wasm (built by Trunk from the root
//! `index.html`). This first version connects to the bank that serves it and
//! shows its health and keys; the wallet proper comes with the cyberwallet issue.

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("wallet-web runs in the browser: build it with `trunk build` (see README).");
}
