//! `deploy/` and `docs/` checked by the real tools that consume them: systemd-analyze for the
//! unit, promtool for the alert rules (against a real `edlforge serve`), podman and chroot for
//! the container image, kubernetes-validate for the manifests, and the config reference
//! regenerated from `src/config/raw.rs`.
//!
//! A test whose tool `build.rs` did not find is *ignored* with the reason (the project's oracle
//! convention, see `build.rs`); under `EDLFORGE_REQUIRE_ORACLES` (CI, which installs them in
//! `.ci/run`) `ops::oracles_are_present` fails instead.
//! Every server these tests start listens on 127.0.0.1 only, and every wait is bounded.

mod cli;
mod compose;
mod container;
mod docs;
mod grafana;
mod kubernetes;
mod prometheus;
mod systemd;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::serve::Serve;

/// How long a started server or tool gets before the test fails (loose: a loaded CI machine).
const SETTLE: Duration = Duration::from_secs(90);

/// `name` on `PATH` (or in `/usr/sbin`). Each test that calls this is
/// `#[cfg_attr(not(has_…), ignore = "…")]` on the cfg `build.rs` sets when it finds the tool,
/// so a missing tool shows as *ignored* in the summary (and `ops::oracles_are_present` fails
/// under `EDLFORGE_REQUIRE_ORACLES`); finding it then and not now is a stale build.
fn tool(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("build.rs found {name} but it is not on PATH now: `touch build.rs` and rebuild")
        })
}

/// Runs `cmd`, returns (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A plain HTTP/1.0 GET on loopback: (status, body), or `None` on a transport error.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    assert!(addr.ip().is_loopback());
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A config served over plain HTTP with one `file` source that delivers, one network source
/// that cannot (connection refused on loopback port 9), and lists that use them.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("lists")).expect("mkdir lists");
    std::fs::write(
        dir.path().join("lists/block.txt"),
        "81.2.69.0/25\n81.2.69.128/25\nmalware-c2.top\n",
    )
    .expect("write block.txt");
    std::fs::write(dir.path().join("feeds.toml"), SITE).expect("write feeds.toml");
    dir
}

pub(super) const SITE: &str = r#"[server]
tls = "off"

[[source]]
name = "block"
path = "lists/block.txt"

[[source]]
name = "down"
url = "http://127.0.0.1:9/feed.txt"
retries = 0
timeout = "2s"

[[list]]
name = "pa"
vendor = "panos"
types = ["ip"]
sources = ["block"]

[[list]]
name = "waiting"
vendor = "panos"
types = ["ip"]
sources = ["down"]
"#;
