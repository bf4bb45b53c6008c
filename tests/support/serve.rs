//! `edlforge serve` as the integration tests run it: the test binary, its stderr captured into a
//! log, the "edlforge: listening on URL" line awaited within [`SETTLE`], killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a started server gets to print its address before the test fails. Loose, for a
/// loaded 2-core CI machine: it only bounds a failure, a start returns as soon as the line comes.
pub const SETTLE: Duration = Duration::from_secs(90);

/// A running `edlforge serve`.
pub struct Serve {
    pub child: Child,
    /// `http://127.0.0.1:PORT` or `https://…`, as the server printed it (no trailing `/`).
    pub base: String,
    /// The loopback address the server listens on.
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// The command for `edlforge serve --config feeds.toml --listen LISTEN` in `dir`; add args
    /// and env to it, then [`Serve::spawn`] it.
    pub fn command(dir: &Path, listen: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edlforge"));
        cmd.current_dir(dir)
            .args(["serve", "--config", "feeds.toml", "--listen", listen]);
        cmd
    }

    /// `edlforge serve` on `dir/feeds.toml`, on a free loopback port.
    pub fn start(dir: &Path) -> Serve {
        Serve::spawn(Serve::command(dir, "127.0.0.1:0"))
    }

    /// Spawns `cmd` (any command whose stderr says `edlforge: listening on URL`) with
    /// `RUST_LOG=info` and waits, bounded by [`SETTLE`], for that line; panics with the log if it
    /// does not come.
    pub fn spawn(mut cmd: Command) -> Serve {
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("edlforge: listening on ") {
                    let _ = tx.send(rest.trim().to_string());
                }
                log2.lock().expect("log lock").push(line);
            }
        });
        let Ok(url) = rx.recv_timeout(SETTLE) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start; log:\n{}",
                log.lock().expect("log lock").join("\n")
            );
        };
        let hostport = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .unwrap_or_else(|| panic!("expected http:// or https://, got {url}"));
        let addr: SocketAddr = hostport
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("listening address {hostport}: {e}"));
        assert!(
            addr.ip().to_canonical().is_loopback(),
            "test servers listen on loopback only, not {addr}"
        );
        Serve {
            child,
            base: url.trim_end_matches('/').to_string(),
            addr,
            log,
        }
    }

    /// SIGTERM, then wait (bounded by [`SETTLE`]) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = std::time::Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait for edlforge") {
                return s;
            }
            assert!(t.elapsed() < SETTLE, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `base` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
