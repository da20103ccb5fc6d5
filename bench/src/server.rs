//! Starting `bank-server` on a temporary database, reading its peak memory,
//! and auditing its books at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A server this tool started.
pub struct Started {
    /// Base URL.
    pub url: String,
    /// Operator token given to it.
    pub admin_token: String,
    bin: PathBuf,
    db: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The audit's verdict.
pub struct Audit {
    /// Exit status 0.
    pub clean: bool,
    /// What it printed.
    pub output: String,
}

impl Started {
    /// Starts `bin serve` on a free loopback port and waits until it answers.
    pub async fn start(bin: &Path, extra: &[String]) -> anyhow::Result<Started> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("bank.sqlite");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut token = [0u8; 24];
        getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("{e}"))?;
        let admin_token = ecash_shared::encoding::b64_encode(&token);
        let child = Command::new(bin)
            .arg("--db")
            .arg(&db)
            // Few denominations: quick key generation; the load uses small coins.
            .args(["--max-denomination", "16", "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--static-dir")
            .arg(dir.path().join("no-wallet"))
            .args(extra)
            .env("BANK_ADMIN_TOKEN", &admin_token)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut started = Started {
            url: format!("http://127.0.0.1:{port}"),
            admin_token,
            bin: bin.to_owned(),
            db,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        let http = reqwest::Client::new();
        loop {
            let health = http.get(format!("{}/v1/health", started.url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(started);
            }
            if let Some(status) = started.child.try_wait()? {
                anyhow::bail!("bank-server exited during start: {status}");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "bank-server did not answer within 180 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's peak resident set size (VmHWM), KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&self.child.id().to_string())
    }

    /// Resets the peak RSS counter (Linux `clear_refs` 5), so the peak read at
    /// the end is that of the timed phase, not of setup (argon2 password
    /// hashing for the test accounts briefly takes ~20 MB per hash).
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }

    /// Runs `bank-server audit` on the live database.
    pub fn audit(&self) -> anyhow::Result<Audit> {
        let out = Command::new(&self.bin)
            .arg("--db")
            .arg(&self.db)
            .arg("audit")
            .output()
            .context("running bank-server audit")?;
        Ok(Audit {
            clean: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }

    /// Stops the server.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Started {
    /// The server never outlives the tool, whatever ends the run.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) of a process (`"self"` or a pid), from
/// `/proc/<pid>/stat`.
pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every mainstream kernel.
    Some((utime + stime) / 100.0)
}
