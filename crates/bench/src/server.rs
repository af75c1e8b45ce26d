//! The server under test: one we start (so we know its PID and memory), or
//! one already running at a URL. Only ever on 127.0.0.1.

use std::path::{Path, PathBuf};

use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    pub base: String,
    pub pid: Option<u32>,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// The server's abuse limits (message rates, connections per user and in
/// all): off where the generator is one process opening thousands of sockets
/// as fast as it can, as shipped where it plays ordinary users and abusers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    Off,
    Shipped,
}

pub const SECRET: &str = "soporte-bench-secret-of-at-least-32-bytes";

impl Server {
    /// Starts `bin serve` on a free loopback port with a fresh database (or
    /// `database`, when a scenario prepared one) and limits off.
    pub async fn spawn(
        bin: &Path,
        database: Option<PathBuf>,
        extra: &[String],
    ) -> Result<Server, String> {
        let url = database.map(|db| format!("sqlite://{}", db.display()));
        Server::spawn_with_url(bin, url, extra, Limits::Off).await
    }

    /// As [`Server::spawn`], on a database given by URL (SQLite or
    /// PostgreSQL), for nodes that share one.
    pub async fn spawn_with_url(
        bin: &Path,
        database_url: Option<String>,
        extra: &[String],
        limits: Limits,
    ) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
        let limits_off: &[&str] = match limits {
            Limits::Off => &[
                "--msg-rate",
                "0",
                "--max-connections-per-user",
                "0",
                "--max-connections",
                "0",
            ],
            Limits::Shipped => &[],
        };
        let mut child = Command::new(bin)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .args(limits_off)
            .arg("--database-url")
            .arg(database_url)
            .arg("--storage")
            .arg(dir.path().join("files"))
            .args(extra)
            .env("SOPORTE_JWT_SECRET", SECRET)
            .env("SOPORTE_LOG", "warn")
            // Every generated client is 127.0.0.1: the per-address limits
            // are off with the others (environment variables, so that builds
            // older than those limits start too). The request rate stays off
            // even "as shipped": it bounds one address, and here one address
            // plays every user (the soak's 40 clients send hundreds of
            // requests a second); its own test mounts that attack.
            .env(
                "SOPORTE_MAX_CONNECTIONS_PER_IP",
                if matches!(limits, Limits::Off) {
                    "0"
                } else {
                    "256"
                },
            )
            .env("SOPORTE_REQUESTS_PER_IP", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| "the server did not start within 30 s".to_string())?
            .map_err(|e| e.to_string())?
            .ok_or("the server exited at start")?;
        let base = first
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line: {first}"))?
            .to_string();
        Ok(Server {
            base,
            pid: child.id(),
            child: Some(child),
            dir: Some(dir),
        })
    }

    /// Starts the bare relay (this program's `relay-server`) the same way.
    pub async fn spawn_relay() -> Result<Server, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(me)
            .arg("relay-server")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the relay: {e}"))?;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the relay exited at start")?;
        let base = first
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line: {first}"))?
            .to_string();
        Ok(Server {
            base,
            pid: child.id(),
            child: Some(child),
            dir: None,
        })
    }

    pub fn existing(url: &str) -> Result<Server, String> {
        let host = url.split("://").nth(1).unwrap_or("");
        if !(host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]"))
        {
            return Err("the load generator only targets 127.0.0.1 / localhost".into());
        }
        Ok(Server {
            base: url.trim_end_matches('/').to_string(),
            pid: None,
            child: None,
            dir: None,
        })
    }

    /// Waits until `/readyz` answers 200 (a cluster node has subscribed).
    pub async fn wait_ready(&self) -> Result<(), String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/readyz", self.base)).await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("{} not ready within 15 s", self.base));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn ws_base(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// Size of the SQLite WAL file, when the server runs on its own SQLite
    /// database.
    pub fn wal_bytes(&self) -> Option<u64> {
        let dir = self.dir.as_ref()?;
        std::fs::metadata(dir.path().join("bench.db-wal"))
            .ok()
            .map(|m| m.len())
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.status_field("VmRSS:")
    }

    /// Threads of the server process: the runtime's workers plus its
    /// blocking pool, which grows under load and shrinks when idle.
    pub fn threads(&self) -> Option<u64> {
        self.status_field("Threads:")
    }

    /// CPU time the server process has used so far (user and system, every
    /// thread), in milliseconds.
    pub fn cpu_ms(&self) -> Option<f64> {
        process_cpu_ms(&self.pid?.to_string())
    }

    /// A number from the server's `/proc/<pid>/status`.
    fn status_field(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The server's own counters (`/metrics`), by name.
    pub async fn metrics(&self) -> std::collections::HashMap<String, f64> {
        let text = match reqwest::get(format!("{}/metrics", self.base)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.parse().ok()?))
            })
            .collect()
    }

    pub async fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait()).await;
        }
    }
}

/// CPU time a process (`"self"` or a pid) has used so far, user and system
/// of every thread, in milliseconds, from `/proc/<pid>/stat`.
pub fn process_cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: utime and stime are
    // the 12th and 13th fields after it.
    let after_name = stat.rsplit_once(')')?.1;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Clock ticks of USER_HZ, 100 per second in Linux's ABI.
    Some((utime + stime) as f64 * 10.0)
}
