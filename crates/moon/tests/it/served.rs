//! A real `moon serve` for tests that watch the binary from outside: a fresh SQLite database in
//! a directory of its own, an admin's API token made with the CLI as an operator would, and the
//! server's stdout as a channel of lines. Dropping it stops the server and removes the directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running server, stopped even when an assertion fails.
pub struct Served {
    /// Where the server listens (`host:port`).
    pub addr: String,
    /// An admin's API token.
    pub token: String,
    /// The server's stdout, a line at a time.
    pub lines: mpsc::Receiver<String>,
    child: Child,
    dir: PathBuf,
}

impl Served {
    /// Starts `moon serve` on a free port with `MOON_LOG=info` and `env` added, and waits for
    /// its "serving" line. `name` keeps concurrent tests' directories apart.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Served {
        let dir = std::env::temp_dir().join(format!("moon-{name}-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = format!("sqlite://{}/moon.db", dir.display());
        let cli = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_moon"))
                .args(args)
                .current_dir(&dir)
                .env("MOON_DATABASE_URL", &db)
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .output()
                .unwrap();
            assert!(out.status.success(), "moon {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        cli(&["user", "add", name, "--role", "admin"]);
        let token = cli(&["token", "create", name, "--name", &format!("{name}-test")]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_moon"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(&dir)
            .env_remove("MOON_CONFIG")
            .env_remove("MOON_TARGET")
            .env_remove("MOON_DATABASE_URL_FILE")
            .env_remove("RUST_LOG")
            .env("MOON_DATABASE_URL", &db)
            .env("MOON_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Served { addr: String::new(), token, lines, child, dir };
        let serving = served.next_line(|v| v["message"] == "serving");
        served.addr = serving["addr"].as_str().expect("the serving line names the bound address").to_owned();
        served
    }

    /// Waits up to 20 s for the next stdout line matching `want`; every line must be JSON.
    pub fn next_line(&self, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).expect("the expected log line within 20 s");
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if want(&value) {
                return value;
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
