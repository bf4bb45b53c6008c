//! Every subcommand that writes to stdout, run with a stdout whose reader has gone
//! (`edlforge explain 45.9.148.7 | head -1`): no panic and no error message, the exit status
//! the command has without the pipe (0, or 1 for a bad config), and the work done all the same.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::write;

const CONFIG: &str = r#"
[[source]]
name = "a"
path = "a.txt"

[[list]]
name = "ip"
vendor = "panos"
types = ["ip"]
"#;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    write(d.path(), "feeds.toml", CONFIG);
    let ips: String = (1..=200).map(|i| format!("45.9.{i}.7\n")).collect();
    write(d.path(), "a.txt", &ips);
    d
}

/// Runs edlforge with `args` in `dir`, stdout a pipe whose read end is already closed (so the
/// first write fails with EPIPE, whatever the timing), stdin `input`.
fn run_closed(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("edlforge binary runs");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write as _;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("edlforge finishes");
    let _ = feeder.join();
    out
}

/// What is wrong with a run that should have ended quietly with `code`, if anything.
fn loud(args: &[&str], out: &Output, code: i32) -> Option<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    let quiet =
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("stdout");
    (!quiet || out.status.code() != Some(code))
        .then(|| format!("{args:?}: exit {:?}, stderr:\n{err}", out.status.code()))
}

#[test]
fn every_stdout_writer_ends_quietly_when_the_reader_is_gone() {
    let d = setup();
    let cases: &[&[&str]] = &[
        &["check", "--config", "feeds.toml"],
        &["plan", "--config", "feeds.toml"],
        &["compile", "--config", "feeds.toml"],
        &["explain", "--config", "feeds.toml", "45.9.1.7"],
        &["explain", "--config", "feeds.toml", "--json", "45.9.1.7"],
        &["convert", "--vendor", "plain", "--type", "ip"],
        &["completions", "bash"],
        &["man"],
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|args| {
            loud(
                args,
                &run_closed(d.path(), args, b"45.9.1.7\n45.9.2.7\n"),
                0,
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The work is done even though nobody read the summary.
    let ip = std::fs::read_to_string(d.path().join("out/ip.txt")).expect("list written");
    assert_eq!(ip.lines().count(), 200, "{ip}");
}

#[test]
fn a_closed_reader_does_not_hide_a_failure() {
    let d = setup();
    write(
        d.path(),
        "feeds.toml",
        &CONFIG.replace("vendor = \"panos\"", "vendor = \"paloalto\""),
    );
    let args = ["check", "--config", "feeds.toml"];
    let out = run_closed(d.path(), &args, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("paloalto"),
        "the config error is still reported: {err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
}

/// `serve` whose stderr reader has gone (`edlforge serve 2>&1 | head -1`, a log shipper that
/// died): it keeps serving instead of dying on its start-up lines.
#[test]
fn serve_keeps_serving_when_its_stderr_reader_is_gone() {
    use std::io::{Read as _, Write as _};
    use std::time::{Duration, Instant};
    let d = setup();
    write(
        d.path(),
        "feeds.toml",
        &format!("[server]\ntls = \"off\"\n{CONFIG}"),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        l.local_addr().expect("local addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .args(["serve", "--config", "feeds.toml", "--listen", &addr])
        .current_dir(d.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .expect("edlforge binary runs");
    let healthz = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let t = Instant::now();
    let mut answered = false;
    while t.elapsed() < Duration::from_secs(30) {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("serve exited ({status}) with its stderr reader gone");
        }
        if healthz().is_some_and(|r| r.starts_with("HTTP/1.0 200")) {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answered, "serve never answered /healthz");
    // The start-up lines come around the first answers: still alive a moment later.
    std::thread::sleep(Duration::from_secs(1));
    let alive = child.try_wait().expect("wait").is_none();
    let still = healthz().is_some_and(|r| r.starts_with("HTTP/1.0 200"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        alive && still,
        "serve died after its stderr reader went away"
    );
}
