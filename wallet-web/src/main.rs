//! The cyberwallet: a Yew app compiled to wasm (built by Trunk from the root
//! `index.html`). The app itself is [`wallet_web::app::App`].

#[cfg(target_arch = "wasm32")]
fn main() {
    yew::Renderer::<wallet_web::app::App>::new().render();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("wallet-web runs in the browser: build it with `trunk build` (see README).");
}
