//! The `bank-server` binary: parses the command line and runs the library.
//!
//! ```text
//! bank-server [serve] [--listen 127.0.0.1:8080] [--db demo-data/bank.sqlite] [--static-dir dist] [--no-demo-shop]
//! bank-server keys rotate
//! bank-server audit
//! bank-server admin credit <user> <amount>
//! bank-server admin make-merchant <user> [--name "Shop name"]
//! bank-server admin card-requests
//! bank-server admin card-unlock <card_id> [--seq N]
//! bank-server admin card-refuse <card_id> [--note "why"]
//! ```

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bank_server::{Config, Database};
use clap::{Args, Parser, Subcommand};
use ecash_shared::encoding::b64_encode;
use ecash_shared::{Amount, Currency};

#[derive(Parser)]
#[command(
    name = "bank-server",
    version,
    about = "E-cash bank and merchant server"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct GlobalArgs {
    /// SQLite database file; the private key file sits next to it (`*.keys.json`).
    #[arg(
        long,
        global = true,
        env = "BANK_DB",
        default_value = "demo-data/bank.sqlite"
    )]
    db: PathBuf,
    /// Private key file (default: next to the database).
    #[arg(long, global = true, env = "BANK_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The bank's currency (ISO 4217).
    #[arg(long, global = true, env = "BANK_CURRENCY", default_value = "EUR")]
    currency: String,
    /// Largest coin value in minor units; keysets are 1, 2, 4, … up to it.
    #[arg(
        long,
        global = true,
        env = "BANK_MAX_DENOMINATION",
        default_value_t = 8192
    )]
    max_denomination: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the bank API and the wallet page (the default).
    Serve(ServeArgs),
    /// Manage denomination keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check that the books balance and every spent coin is valid; exits 1 if not.
    Audit,
    /// Operator actions on the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BANK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory of the built wallet.
    #[arg(long, default_value = "dist")]
    static_dir: PathBuf,
    /// Operator token for /v1/admin/* (default: random, printed once at start).
    #[arg(long, env = "BANK_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "BANK_WORKERS")]
    workers: Option<usize>,
    /// Blind-signing backend: `openssl` (fast, the default) or `rust` (the `rsa` crate).
    #[arg(long, env = "BANK_SIGNER", default_value = "openssl")]
    signer: bank_server::signer::SignerBackend,
    /// Do not serve the demo shop (/shop) nor keep its merchant account.
    #[arg(long)]
    no_demo_shop: bool,
}

/// Parses `serve`'s defaults (and environment) when no subcommand is given.
#[derive(Parser)]
struct ServeOnly {
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// New keysets; old ones stop signing now and stay valid for deposit until
    /// their deposit_until. Restart the server to use the new keys.
    Rotate,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Wire money in: credit an account (amount in minor units).
    Credit {
        /// Username.
        username: String,
        /// Amount in minor units (cents).
        amount: u64,
    },
    /// Give an account the merchant role: it may create orders and refund them.
    MakeMerchant {
        /// Username.
        username: String,
        /// The name its contracts show (default: the username).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the cards' pending unlock requests (owners asking to reopen a locked card).
    CardRequests,
    /// Approve a card's pending unlock request: sign UNLOCK for the number it asks
    /// for; the owner's wallet fetches it and applies it to the card.
    CardUnlock {
        /// The card id (16 hex digits).
        card_id: String,
        /// Sign for this unlock number instead (the card's GET STATUS
        /// next_unlock_seq), whether or not anyone asked.
        #[arg(long)]
        seq: Option<u32>,
    },
    /// Refuse a card's pending unlock request.
    CardRefuse {
        /// The card id (16 hex digits).
        card_id: String,
        /// Why, for the owner (shown in their wallet).
        #[arg(long)]
        note: Option<String>,
    },
}

/// Who decides at the command line, for the record.
fn cli_operator() -> String {
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(user) if !user.is_empty() => format!("operator (CLI, {user})"),
        _ => "operator (CLI)".to_owned(),
    }
}

fn card_id_arg(s: &str) -> anyhow::Result<[u8; 8]> {
    bank_server::bank::cards::parse_card_id(s).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))
}

fn admin_card_requests(storage: &dyn bank_server::storage::Storage) -> anyhow::Result<()> {
    let pending = storage.card_unlock_requests_pending()?;
    if pending.is_empty() {
        println!("no pending unlock requests");
        return Ok(());
    }
    // `locked`: why the card says it locked, from its signed lock report.
    println!(
        "card              owner             seq  requested             locked              blocked  reason"
    );
    for r in pending {
        println!(
            "{:<16}  {:<16}  {:>3}  {}  {:<18}  {:<7}  {}",
            ecash_card::CardId(r.card_id),
            r.owner,
            r.unlock_seq,
            r.requested_at,
            r.lock_reason.as_deref().unwrap_or("-"),
            if r.blocked.is_some() { "yes" } else { "no" },
            r.reason.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn base_config(g: &GlobalArgs) -> anyhow::Result<Config> {
    let currency: Currency = g
        .currency
        .parse()
        .map_err(|e| anyhow::anyhow!("--currency: {e}"))?;
    Ok(Config {
        database: Database::File(g.db.clone()),
        key_file: g.key_file.clone(),
        currency,
        max_denomination: Amount::from_minor(g.max_denomination),
        ..Config::default()
    })
}

fn random_token() -> anyhow::Result<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("random number generator: {e}"))?;
    Ok(b64_encode(&raw))
}

async fn serve(g: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind(&args.listen).with_context(|| format!("binding {}", args.listen))?;
    let (admin_token, generated) = match args.admin_token {
        Some(t) if !t.is_empty() => (t, false),
        _ => (random_token()?, true),
    };
    let config = Config {
        static_dir: Some(args.static_dir),
        admin_token: Some(admin_token.clone()),
        workers: args.workers,
        signer: args.signer,
        demo_shop: !args.no_demo_shop,
        ..base_config(g)?
    };
    let bank = actix_web::rt::task::spawn_blocking(move || bank_server::Bank::open(config))
        .await
        .context("opening the bank")??;
    let addr = listener.local_addr()?;
    let mut out = std::io::stdout().lock();
    if generated {
        // The demo's operator token: printed to the terminal once, never logged.
        writeln!(
            out,
            "bank-server: admin token (for /v1/admin/*): {admin_token}"
        )?;
    } else {
        writeln!(
            out,
            "bank-server: admin token from BANK_ADMIN_TOKEN / --admin-token"
        )?;
    }
    writeln!(out, "bank-server: listening on http://{addr}/")?;
    out.flush()?;
    drop(out);
    bank_server::serve(listener, bank)?.await?;
    Ok(())
}

#[actix_web::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_web=warn".into()),
        )
        .init();
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bank-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let g = &cli.global;
    let needs_db = matches!(
        cli.command,
        Some(Command::Keys { .. } | Command::Audit | Command::Admin { .. })
    );
    if needs_db && !g.db.is_file() {
        anyhow::bail!(
            "no database at {} (start the server once, or pass --db)",
            g.db.display()
        );
    }
    match cli.command {
        None => serve(g, ServeOnly::parse_from(["bank-server"]).serve).await?,
        Some(Command::Serve(args)) => serve(g, args).await?,
        Some(Command::Keys {
            command: KeysCommand::Rotate,
        }) => {
            let config = base_config(g)?;
            let storage = bank_server::open_storage(&config)?;
            let fresh = bank_server::keys::rotate(&config, &*storage, bank_server::now())?;
            println!("rotated: {} new keysets", fresh.len());
            for k in fresh {
                println!(
                    "  {} value {} until {}",
                    k.id,
                    k.value.minor(),
                    k.withdraw_until
                );
            }
        }
        Some(Command::Audit) => {
            let config = base_config(g)?;
            let storage = bank_server::open_storage(&config)?;
            let report = bank_server::audit::audit(&*storage)?;
            print!("{report}");
            if !report.is_clean() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Some(Command::Admin {
            command: AdminCommand::Credit { username, amount },
        }) => {
            let config = base_config(g)?;
            let storage = bank_server::open_storage(&config)?;
            let balance = bank_server::bank::accounts::credit(
                &*storage,
                &username,
                Amount::from_minor(amount),
                bank_server::now(),
            )?;
            println!("credited {username}: balance {}", balance.minor());
        }
        Some(Command::Admin {
            command: AdminCommand::MakeMerchant { username, name },
        }) => {
            let config = base_config(g)?;
            let storage = bank_server::open_storage(&config)?;
            let account =
                bank_server::merchant::make_merchant(&*storage, &username, name.as_deref())?;
            let shown = storage
                .merchant_name(account.id)?
                .unwrap_or_else(|| account.username.clone());
            println!("{username} is a merchant: contracts show {shown:?}");
        }
        Some(Command::Admin {
            command: AdminCommand::CardRequests,
        }) => {
            let storage = bank_server::open_storage(&base_config(g)?)?;
            admin_card_requests(&*storage)?;
        }
        Some(Command::Admin {
            command: AdminCommand::CardUnlock { card_id, seq },
        }) => {
            let id = card_id_arg(&card_id)?;
            let config = base_config(g)?;
            let issuer = bank_server::keys::card_issuer(&config)?;
            let storage = bank_server::open_storage(&config)?;
            let done = bank_server::bank::cards::approve_unlock(
                &*storage,
                &issuer,
                id,
                seq,
                &cli_operator(),
                bank_server::now(),
            )?;
            println!(
                "card {}: unlock {} approved; the owner's wallet applies it at its next sync",
                done.card_id, done.unlock_seq
            );
            if let Some(reason) = done.lifted_block {
                println!("lifted the bank-side block ({reason})");
            }
        }
        Some(Command::Admin {
            command: AdminCommand::CardRefuse { card_id, note },
        }) => {
            let id = card_id_arg(&card_id)?;
            let storage = bank_server::open_storage(&base_config(g)?)?;
            let r = bank_server::bank::cards::refuse_unlock(
                &*storage,
                id,
                &cli_operator(),
                note.as_deref(),
                bank_server::now(),
            )?;
            println!(
                "card {}: unlock request {} refused",
                ecash_card::CardId(r.card_id),
                r.unlock_seq
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
