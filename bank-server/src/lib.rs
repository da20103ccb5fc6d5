//! `bank-server`: the bank (issuer) and merchant server of the e-cash system.
//!
//! A library with a thin `main.rs`, so tests start a real server on port 0.
//!
//! - [`config`] — server configuration and its safe defaults.
//! - [`health`] — `GET /v1/health`.
//! - [`web`] — static files: the cyberwallet built by Trunk, served at `/`.

pub mod config;
pub mod health;
pub mod web;

use std::net::TcpListener;

use actix_web::{App, HttpServer, web as aweb};

pub use config::Config;

/// Registers every route of the server.
pub fn configure(config: &Config) -> impl FnOnce(&mut aweb::ServiceConfig) + Clone + use<> {
    let static_dir = config.static_dir.clone();
    move |cfg: &mut aweb::ServiceConfig| {
        cfg.configure(health::configure);
        cfg.configure(web::configure(static_dir));
    }
}

/// Serves on `listener` until the process is stopped.
pub async fn run(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let routes = configure(&config);
    HttpServer::new(move || App::new().configure(routes.clone()))
        .listen(listener)?
        .run()
        .await?;
    Ok(())
}
