//! `card-bridge`: PC/SC readers for the wallet page over ws://127.0.0.1, and a virtual
//! purse for vpcd. See the library docs (`card_bridge`) for the protocol and defences.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use card_bridge::backend::{PcscBackend, ReaderBackend};
use card_bridge::server::{self, Config};
use card_bridge::token::SessionToken;
use card_bridge::vicc;
use clap::{Parser, Subcommand};
use ecash_card::PurseState;
use ecash_card::virtual_card::FileStore;

#[derive(Parser)]
#[command(version, about = "Smart-card readers for the e-cash wallet page")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve PC/SC readers on a loopback WebSocket (the default).
    Serve(ServeArgs),
    /// Run a virtual purse as the card in a vpcd reader (vsmartcard).
    VirtualCard {
        /// vpcd's address (one port per reader slot).
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: SocketAddr,
        /// The purse's state file (created blank if missing, 0600).
        #[arg(long)]
        state: PathBuf,
        /// Exit when vpcd closes the connection instead of reconnecting.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Parser)]
struct ServeArgs {
    /// Loopback address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:35990")]
    listen: SocketAddr,
    /// Page origin allowed to connect, e.g. http://127.0.0.1:8080 (repeatable).
    #[arg(long = "allow-origin", default_values = ["http://127.0.0.1:8080", "http://localhost:8080"])]
    allow_origin: Vec<String>,
    /// Concurrent page sessions.
    #[arg(long, default_value_t = 4)]
    max_sessions: usize,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeArgs::parse_from(["card-bridge"])),
        Some(Cmd::Serve(args)) => serve(args),
        Some(Cmd::VirtualCard { vpcd, state, once }) => virtual_card(vpcd, state, once),
    };
    if let Err(e) = result {
        eprintln!("card-bridge: {e}");
        std::process::exit(1);
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    server::check_listen_addr(&args.listen)?;
    for origin in &args.allow_origin {
        if origin.ends_with('/') || !origin.contains("://") {
            return Err(format!(
                "--allow-origin {origin:?}: write scheme://host[:port] without a trailing slash"
            ));
        }
    }
    let listener = TcpListener::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let token = SessionToken::generate().map_err(|e| format!("no randomness: {e}"))?;
    // Fail early, with a useful message, if pcscd is not there.
    if let Err(e) = PcscBackend::new() {
        eprintln!("card-bridge: warning: PC/SC unavailable ({e}); is pcscd running?");
    }
    println!("card-bridge: listening on ws://{local}/ (PC/SC readers)");
    println!(
        "card-bridge: allowed origins: {}",
        args.allow_origin.join(", ")
    );
    println!(
        "card-bridge: session token: {}   (paste it into the wallet's Card page)",
        token.reveal()
    );
    let config = Config {
        allowed_origins: args.allow_origin,
        token,
        max_sessions: args.max_sessions.max(1),
        backend: Arc::new(|| Ok(Box::new(PcscBackend::new()?) as Box<dyn ReaderBackend>)),
    };
    server::serve(listener, config).map_err(|e| e.to_string())
}

fn virtual_card(vpcd: SocketAddr, state: PathBuf, once: bool) -> Result<(), String> {
    let store = FileStore::new(&state);
    let mut card = store
        .open_or_create(PurseState::manufacture)
        .map_err(|e| e.to_string())?;
    println!(
        "card-bridge: virtual purse {} on vpcd {vpcd}",
        state.display()
    );
    let stop = AtomicBool::new(false);
    loop {
        let stream = vicc::connect(vpcd, Duration::from_secs(3600)).map_err(|e| e.to_string())?;
        let result = vicc::run(stream, &mut card, &stop);
        if once {
            return result.map_err(|e| e.to_string());
        }
        if let Err(e) = result {
            eprintln!("card-bridge: vpcd connection ended: {e}; reconnecting");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
