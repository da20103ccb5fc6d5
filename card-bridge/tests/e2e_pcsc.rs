//! End to end through the real PC/SC stack: this test starts its own `pcscd` with a
//! private reader configuration holding two vsmartcard `vpcd` slots on free ports, puts
//! a virtual purse in each (one served by a thread here, one by the `card-bridge
//! virtual-card` binary from a state file), starts the `card-bridge` binary, and pays
//! from one purse to the other through WebSocket → bridge → libpcsclite → pcscd → vpcd
//! → purse. Everything it starts is stopped at the end; every wait is bounded.
//!
//! Needs Debian's `pcscd` and `vsmartcard-vpcd` (and `libpcsclite-dev` to build). If they
//! are missing the test says so loudly and passes without running.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use card_bridge::client::BridgeClient;
use card_bridge::vicc;
use ecash_card::cert::{CardProfile, Mode};
use ecash_card::client::{self, PurseClient};
use ecash_card::host;
use ecash_card::issuer::{Issuer, Ledger};
use ecash_card::load::LoadKind;
use ecash_card::purse::ATR;
use ecash_card::transfer::Purpose;
use ecash_card::transport::CardTransport;
use ecash_card::virtual_card::FileStore;
use ecash_card::{CardId, IssuerKey, Pin, PurseState, VirtualCard};
use ecash_shared::{Amount, Currency};

const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
const READER: &str = "Ecash Test PCD";
const ORIGIN: &str = "http://wallet.test";
/// Bound on every wait in this test.
const PATIENCE: Duration = Duration::from_secs(20);

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("blocked"),
    }
}

fn find(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Children this test started; stopped (by pid) when the test ends, even on failure.
struct Processes {
    pcscd: Option<Child>,
    others: Vec<Child>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for mut c in self.others.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut p) = self.pcscd.take() {
            // SIGTERM lets pcscd remove /run/pcscd; SIGKILL only if it does not exit.
            let _ = Command::new("kill")
                .args(["-TERM", &p.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = p.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// A running pcscd that is not ours makes this test impossible (one pcscd per machine:
/// its socket is /run/pcscd/pcscd.comm). One left by a killed run of this very test
/// (recognised by its config path) is stopped; `--auto-exit` would end it within a
/// minute anyway.
fn check_no_foreign_pcscd() {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let is_pcscd = status.lines().any(|l| l == "Name:\tpcscd");
        let zombie = status.lines().any(|l| l.starts_with("State:\tZ"));
        if !is_pcscd || zombie {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("ecash-card-e2e") {
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            wait_until("the leftover test pcscd to exit", || {
                let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                (st.is_empty() || st.lines().any(|l| l.starts_with("State:\tZ"))).then_some(())
            });
        } else {
            panic!(
                "another pcscd is running (pid {pid}: {cmdline}); this test starts its own with \
                 a private reader configuration — stop the other one (e.g. `systemctl stop \
                 pcscd.socket pcscd`) to run it"
            );
        }
    }
}

/// Two consecutive ports free on all interfaces (vpcd listens on 0.0.0.0).
fn free_port_pair() -> u16 {
    let start = 41_000 + (std::process::id() % 9_000) as u16 * 2;
    (0..500u16)
        .map(|i| start.wrapping_add(i * 2))
        .find(|&p| {
            p > 1024
                && TcpListener::bind(("0.0.0.0", p)).is_ok()
                && TcpListener::bind(("0.0.0.0", p + 1)).is_ok()
        })
        .expect("no free port pair")
}

fn issue_purses(dir: &Path) -> (String, PathBuf) {
    let mut ledger = Ledger::new(Issuer::new(IssuerKey::from_seed(&[0x11; 32])));
    let profile = CardProfile {
        mode: Mode::Personal,
        currency: Currency::EUR,
        balance_cap: Amount::from_minor(100_000),
        per_transfer_limit: Amount::from_minor(10_000),
        daily_limit: Amount::from_minor(20_000),
    };
    let pin = Pin::new("1234").unwrap();
    let puk = Pin::new_puk("12345678").unwrap();
    let mut alice = VirtualCard::new(PurseState::manufacture_with_seed(&[1; 32])).unwrap();
    let a = host::issue_card(&mut alice, &mut ledger, CardId([1; 8]), profile, &pin, &puk).unwrap();
    let auth = ledger
        .authorize_load(a.card_id, Amount::from_minor(5_000), LoadKind::Bank)
        .unwrap();
    host::load(&mut alice, &auth).unwrap();
    let bob_path = dir.join("bob.json");
    let mut bob = FileStore::new(&bob_path)
        .open_or_create(|| Ok(PurseState::manufacture_with_seed(&[2; 32])))
        .unwrap();
    host::issue_card(&mut bob, &mut ledger, CardId([2; 8]), profile, &pin, &puk).unwrap();
    (alice.state_json().to_string(), bob_path)
}

#[test]
fn purse_to_purse_through_pcscd_vpcd_and_the_bridge() {
    let (Some(pcscd), true) = (find("pcscd"), Path::new(VPCD_DRIVER).exists()) else {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED the card-bridge PC/SC end-to-end test: pcscd or the vpcd \
             driver ({VPCD_DRIVER}) is missing.\n!!!!!!!! Install: apt-get install -y pcscd \
             vsmartcard-vpcd libpcsclite-dev\n\n"
        );
        return;
    };
    // One run at a time on this machine (pcscd's socket is global).
    let lock = File::create(std::env::temp_dir().join("ecash-card-bridge-e2e.lock")).unwrap();
    lock.lock().unwrap();
    check_no_foreign_pcscd();

    let dir = tempfile::Builder::new()
        .prefix("ecash-card-e2e")
        .tempdir()
        .unwrap();
    let port = free_port_pair();
    let conf = dir.path().join("reader.conf.d");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("vpcd"),
        format!(
            "FRIENDLYNAME \"{READER}\"\nDEVICENAME /dev/null:0x{port:04X}\nLIBPATH {VPCD_DRIVER}\nCHANNELID 0x{port:04X}\n"
        ),
    )
    .unwrap();
    let (alice_json, bob_path) = issue_purses(dir.path());
    let log = File::create(dir.path().join("pcscd.log")).unwrap();
    let mut procs = Processes {
        pcscd: Some(
            Command::new(pcscd)
                .args(["--foreground", "--auto-exit", "--config"])
                .arg(&conf)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start pcscd"),
        ),
        others: Vec::new(),
    };

    // pcscd up, both vpcd slots listed.
    let pcscd_log = dir.path().join("pcscd.log");
    let names = wait_until("pcscd and its two vpcd readers", || {
        if let Some(Ok(Some(status))) = procs.pcscd.as_mut().map(Child::try_wait) {
            panic!(
                "pcscd exited ({status}): {}",
                std::fs::read_to_string(&pcscd_log).unwrap_or_default()
            );
        }
        let ctx = pcsc::Context::establish(pcsc::Scope::User).ok()?;
        let names = ctx.list_readers_owned().ok()?;
        let names: Vec<String> = names
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| n.starts_with(READER))
            .collect();
        (names.len() == 2).then_some(names)
    });

    // Alice: served from this process; Bob: by the card-bridge binary from his file.
    let stop = Arc::new(AtomicBool::new(false));
    let alice_thread = {
        let stop = stop.clone();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        std::thread::spawn(move || {
            let mut card = VirtualCard::from_json(&alice_json).unwrap();
            let stream = vicc::connect(addr, PATIENCE).unwrap();
            vicc::run(stream, &mut card, &stop)
        })
    };
    let bin = env!("CARGO_BIN_EXE_card-bridge");
    procs.others.push(
        Command::new(bin)
            .args(["virtual-card", "--once", "--vpcd"])
            .arg(format!("127.0.0.1:{}", port + 1))
            .arg("--state")
            .arg(&bob_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("both cards inserted", || {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).ok()?;
        let mut states: Vec<pcsc::ReaderState> = names
            .iter()
            .map(|n| {
                pcsc::ReaderState::new(
                    std::ffi::CString::new(n.as_str()).unwrap(),
                    pcsc::State::UNAWARE,
                )
            })
            .collect();
        ctx.get_status_change(Duration::ZERO, &mut states).ok()?;
        states
            .iter()
            .all(|s| s.event_state().contains(pcsc::State::PRESENT))
            .then_some(())
    });

    // The bridge binary, as a user would start it.
    let mut bridge = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--allow-origin", ORIGIN])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = bridge.stdout.take().unwrap();
    procs.others.push(bridge);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut addr, mut token) = (None, None);
    while addr.is_none() || token.is_none() {
        let line = rx
            .recv_timeout(PATIENCE)
            .expect("card-bridge did not start");
        if let Some(rest) = line.strip_prefix("card-bridge: listening on ws://") {
            addr = rest
                .split('/')
                .next()
                .map(|a| a.parse::<SocketAddr>().unwrap());
        }
        if let Some(rest) = line.strip_prefix("card-bridge: session token: ") {
            token = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    let (addr, token) = (addr.unwrap(), token.unwrap());

    // Defences of the real binary.
    let e = BridgeClient::open(addr, "https://evil.example", &addr.to_string()).unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    assert!(BridgeClient::connect(addr, ORIGIN, "not-the-token").is_err());

    // Readers and ATRs through the bridge.
    let mut c = BridgeClient::connect(addr, ORIGIN, &token).unwrap();
    let readers = block_on(c.list_readers()).unwrap();
    let listed: Vec<&str> = readers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(readers.iter().all(|r| r.card_present));
    let alice_reader = names.iter().find(|n| n.ends_with("00 00")).unwrap().clone();
    let bob_reader = names.iter().find(|n| n.ends_with("00 01")).unwrap().clone();
    let h = block_on(c.connect(&alice_reader)).unwrap();
    assert_eq!(h.atr, ATR, "the purse's ATR, through vpcd and pcscd");
    // A malformed APDU gets the card's status word back.
    assert_eq!(
        block_on(c.transmit(h.handle, &[0x80, 0x50, 0, 0, 5, 1])).unwrap(),
        [0x67, 0x00]
    );
    block_on(c.disconnect(h.handle)).unwrap();

    // Pay through the whole stack.
    block_on(async {
        let mut alice = PurseClient::connect(c, &alice_reader).await.unwrap();
        let bob_link = BridgeClient::connect(addr, ORIGIN, &token).unwrap();
        let mut bob = PurseClient::connect(bob_link, &bob_reader).await.unwrap();
        assert_eq!(alice.cert().unwrap().card_id, CardId([1; 8]));
        assert_eq!(bob.cert().unwrap().card_id, CardId([2; 8]));
        alice.verify_pin(&Pin::new("1234").unwrap()).await.unwrap();
        client::transfer(
            &mut alice,
            &mut bob,
            Amount::from_minor(1_250),
            Purpose::Payment,
            20_000,
        )
        .await
        .unwrap();
        assert_eq!(alice.balance().await.unwrap().0, Amount::from_minor(3_750));
        assert_eq!(bob.balance().await.unwrap().0, Amount::from_minor(1_250));
        alice.disconnect().await.unwrap();
        bob.disconnect().await.unwrap();
    });
    // Bob's purse committed the credit to its file before answering.
    let bob_state = FileStore::new(&bob_path).load().unwrap().unwrap();
    assert_eq!(bob_state.balance(), Some(Amount::from_minor(1_250)));

    drop(procs);
    stop.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + PATIENCE;
    while !alice_thread.is_finished() {
        assert!(Instant::now() < deadline, "vicc thread did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    alice_thread.join().unwrap().unwrap();
}
