//! The `bank-server` binary: parses the command line and runs the library.

use std::net::TcpListener;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bank-server",
    version,
    about = "E-cash bank and merchant server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bank, the merchant API and the wallet page (the default).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory of the built wallet.
        #[arg(long, default_value = "dist")]
        static_dir: PathBuf,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_web=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let (listen, static_dir) = match cli.command {
        Some(Command::Serve { listen, static_dir }) => (listen, static_dir),
        None => ("127.0.0.1:8080".to_owned(), PathBuf::from("dist")),
    };
    let listener = TcpListener::bind(&listen)?;
    let config = bank_server::Config {
        static_dir: Some(static_dir),
    };
    println!("bank-server: wallet at http://{}/", listener.local_addr()?);
    bank_server::run(listener, config).await
}
