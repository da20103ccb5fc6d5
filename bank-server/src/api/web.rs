//! Static files: the cyberwallet (built by Trunk into `dist/`) at `/`.

use std::path::PathBuf;

use actix_web::{HttpResponse, web};

const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>Cyberwallet</title>\
<h1>Cyberwallet not built</h1><p>Run <code>make run</code> from the repository root: \
it builds the wallet with Trunk into <code>dist/</code> and serves it here.</p>";

/// Registers the static routes (last: they match everything else under `/`).
pub fn configure(static_dir: Option<PathBuf>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| match static_dir.filter(|d| d.join("index.html").is_file())
    {
        Some(dir) => {
            cfg.service(actix_files::Files::new("/", dir).index_file("index.html"));
        }
        None => {
            cfg.route(
                "/",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(PLACEHOLDER)
                }),
            );
        }
    }
}
