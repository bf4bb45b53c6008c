//! What an on-call engineer reads from a running `edlforge serve`: `/metrics` and the status
//! page report failed cycles, refused TLS certificates and sources that never succeeded, and
//! label HTTP endpoints apart from lists (issue 12 items 11, 12, 13). The real binary on
//! 127.0.0.1; waits are bounded polls, never timed assertions.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::serve::Serve;

/// Upper bound for a condition to hold on a loaded machine (a pass returns at once).
const SETTLE: Duration = Duration::from_secs(60);

/// `edlforge serve` with the polls this file needs.
struct Server(Serve);

impl Server {
    fn start(dir: &Path) -> Server {
        Server(Serve::start(dir))
    }

    async fn get(&self, path: &str) -> String {
        edlforge::source::http::ensure_crypto_provider();
        let c = reqwest::Client::builder()
            .no_proxy()
            // The test's own self-signed certificate, on loopback.
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let r = c.get(self.0.url(path)).send().await;
        match r {
            Ok(r) => r.text().await.unwrap_or_else(|e| panic!("GET {path}: {e}")),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Polls `path` until its body satisfies `ok`; returns that body.
    async fn until(&self, path: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let body = self.get(path).await;
            if ok(&body) {
                return body;
            }
            assert!(
                t.elapsed() < SETTLE,
                "timed out waiting for {what}; last {path}:\n{body}\nlog:\n{}",
                self.0.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Writes the way editors save: a temporary file renamed over the old one.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-save");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

const CONFIG: &str = r#"[server]
tls_cert = "tls.pem"
tls_key = "tls.key"

[[source]]
name = "block"
path = "lists/block.txt"

[[source]]
name = "down"
url = "http://127.0.0.1:9/feed.txt"
retries = 0
timeout = "5s"

[[list]]
name = "pa"
vendor = "panos"
types = ["ip"]
sources = ["block"]

[[list]]
name = "status"
vendor = "plain"
sources = ["block"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_cycles_refused_certificates_and_never_succeeded_sources_are_visible() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(d.join("tls.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::create_dir(d.join("lists")).unwrap();
    std::fs::write(d.join("lists/block.txt"), "81.2.69.1\n").unwrap();
    std::fs::write(d.join("feeds.toml"), CONFIG).unwrap();
    let srv = Server::start(d);

    // Item 11: a source that never succeeded is 0 from the first cycle, not absent.
    // Item 12: the cycle and the certificate are reported as loaded.
    let m = srv
        .until("/metrics", "the first cycle", |m| {
            m.contains("edlforge_cycle_success 1\n")
        })
        .await;
    assert!(
        m.contains("edlforge_source_last_success_timestamp_seconds{source=\"down\"} 0\n"),
        "{m}"
    );
    assert!(m.contains("edlforge_tls_reload_success 1\n"), "{m}");
    // Item 13: no placeholder series; a list called "status" and the status page are apart.
    assert!(!m.contains("reason=\"none\""), "{m}");
    srv.get("/lists/status").await;
    srv.get("/status.json").await;
    let m = srv.get("/metrics").await;
    assert!(
        m.contains(
            "edlforge_http_requests_total{code=\"200\",endpoint=\"list\",list=\"status\"} 1\n"
        ),
        "{m}"
    );
    assert!(
        m.contains("edlforge_http_requests_total{code=\"200\",endpoint=\"status\",list=\"\"}"),
        "{m}"
    );
    assert!(!m.contains("list=\"metrics\""), "{m}");

    // Item 12: a cycle that cannot write its store (the store's list directory replaced by a
    // file: permissions do not stop root, this does) is counted and shown with its message.
    let lists = d.join("data/lists");
    assert!(
        lists.is_dir(),
        "the store keeps its lists in {}",
        lists.display()
    );
    std::fs::remove_dir_all(&lists).unwrap();
    std::fs::write(&lists, "not a directory").unwrap();
    save(&d.join("lists/block.txt"), "81.2.69.2\n");
    let m = srv
        .until("/metrics", "a failed cycle", |m| {
            m.contains("edlforge_cycle_success 0\n")
        })
        .await;
    assert!(
        m.contains("edlforge_cycle_failures_total{reason=\"store\"} 1\n"),
        "{m}"
    );
    let status: serde_json::Value = serde_json::from_str(&srv.get("/status.json").await).unwrap();
    let msg = status["cycle_error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("lists"), "{status:#}");
    let page = srv.get("/").await;
    assert!(
        page.contains("Cycle: <span class=\"b refused\">failed</span>"),
        "{page}"
    );
    // The list served is still the last good one.
    let pa = srv.get("/lists/pa").await;
    assert_eq!(pa, "81.2.69.1\n", "{}", srv.get("/status.json").await);

    // A refused certificate: metric 0 and the reason on the status page.
    save(
        &d.join("tls.key"),
        "-----BEGIN PRIVATE KEY-----\nnot a key\n",
    );
    let m = srv
        .until("/metrics", "a refused certificate", |m| {
            m.contains("edlforge_tls_reload_success 0\n")
        })
        .await;
    assert!(m.contains("edlforge_cycle_success 0\n"), "{m}");
    let status: serde_json::Value = serde_json::from_str(&srv.get("/status.json").await).unwrap();
    assert!(
        status["tls_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("tls.key")),
        "{status:#}"
    );
    assert!(srv.get("/").await.contains("new certificate refused"));

    // Both clear once the cause is gone.
    std::fs::remove_file(&lists).unwrap();
    save(&d.join("lists/block.txt"), "81.2.69.3\n");
    srv.until("/metrics", "a good cycle again", |m| {
        m.contains("edlforge_cycle_success 1\n")
    })
    .await;
    save(&d.join("tls.key"), &cert.signing_key.serialize_pem());
    srv.until("/metrics", "the certificate loaded again", |m| {
        m.contains("edlforge_tls_reload_success 1\n")
    })
    .await;
    let status: serde_json::Value = serde_json::from_str(&srv.get("/status.json").await).unwrap();
    assert!(status["cycle_error"].is_null(), "{status:#}");
    assert!(status["tls_error"].is_null(), "{status:#}");
    assert_eq!(srv.get("/lists/pa").await, "81.2.69.3\n");
}

/// The `edlforge_*` names in `src/metrics.rs` (`Name::as_str`).
fn names_in_metrics_rs() -> std::collections::BTreeSet<String> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"))
        .unwrap();
    src.lines()
        .filter_map(|l| l.split_once("=> \"edlforge_"))
        .map(|(_, rest)| format!("edlforge_{}", rest.split('"').next().unwrap_or_default()))
        .collect()
}

#[test]
fn every_metric_is_documented_in_the_readme_table_and_every_row_exists() {
    // See: issue 12 item 13 (the README named 2 of 24 metrics).
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n### Metrics\n")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .expect("README has a ### Metrics section");
    let mut rows = std::collections::BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Some(name) = cells
            .get(1)
            .and_then(|c| c.strip_prefix("`edlforge_"))
            .and_then(|c| c.strip_suffix('`'))
        {
            let kind = cells.get(2).copied().unwrap_or_default().to_string();
            let alert = cells.get(5).copied().unwrap_or_default();
            assert!(!alert.is_empty(), "edlforge_{name}: no 'alert on' cell");
            rows.insert(format!("edlforge_{name}"), kind);
        }
    }
    let code = names_in_metrics_rs();
    assert!(code.len() >= 27, "{code:?}");
    let documented: std::collections::BTreeSet<String> = rows.keys().cloned().collect();
    let undocumented: Vec<&String> = code.difference(&documented).collect();
    let stale: Vec<&String> = documented.difference(&code).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "README metrics table out of step with src/metrics.rs: missing rows {undocumented:?}, rows without a metric {stale:?}"
    );
    for (name, kind) in &rows {
        let want = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert_eq!(kind, want, "{name}: type");
    }
}

/// The oracle tools `build.rs` looked for: (cfg set, what is missing and how to get it).
const ORACLES: [(bool, &str); 10] = [
    (
        cfg!(has_share_python),
        "taxii2-client + stix2-validator (tests/share.rs): set EDLFORGE_SHARE_PYTHON=/path/to/venv/bin/python or run .ci/run",
    ),
    (
        cfg!(has_medallion),
        "medallion (tests/taxii.rs): set EDLFORGE_MEDALLION=/path/to/venv/bin/medallion or run .ci/run",
    ),
    (
        cfg!(has_python3),
        "python3 (tests/oracle.rs): apt-get install python3",
    ),
    (
        cfg!(has_promtool),
        "promtool (/metrics check, deploy/prometheus alert rules): apt-get install prometheus",
    ),
    (
        cfg!(has_stix_patterns),
        "stix2-patterns 2.1.2 sdist (tests/stix_patterns.rs): set EDLFORGE_STIX_PATTERNS_TESTS or run .ci/run",
    ),
    (
        cfg!(has_systemd_analyze),
        "systemd-analyze (deploy/systemd unit): apt-get install systemd",
    ),
    (
        cfg!(has_podman),
        "podman (deploy/container image): apt-get install podman",
    ),
    (
        cfg!(can_chroot),
        "root and chroot (deploy/container image started under chroot): run the tests as root",
    ),
    (
        cfg!(has_prometheus),
        "prometheus (deploy/grafana panel queries): apt-get install prometheus",
    ),
    (
        cfg!(has_kubernetes_validate),
        "kubernetes-validate (deploy/kubernetes, deploy/compose.yaml): set EDLFORGE_KUBERNETES_VALIDATE or run .ci/run",
    ),
];

#[test]
#[cfg_attr(
    not(require_oracles),
    ignore = "EDLFORGE_REQUIRE_ORACLES is not set: oracle tests whose tool is missing are ignored"
)]
fn oracles_are_present() {
    // See: issue 12 item 16. CI sets EDLFORGE_REQUIRE_ORACLES: every oracle test must run.
    let missing: Vec<&str> = ORACLES
        .iter()
        .filter(|(found, _)| !found)
        .map(|(_, what)| *what)
        .collect();
    assert!(
        missing.is_empty(),
        "EDLFORGE_REQUIRE_ORACLES is set but these oracle tools were not found when the tests were built: {missing:#?}"
    );
}

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "promtool not found: apt-get install prometheus"
)]
fn every_metric_family_passes_promtool_check_metrics() {
    use std::io::Write as _;
    // Every event once, so every family has a series.
    let m = edlforge::metrics::Metrics::new();
    m.config_loaded("feeds.toml", 100);
    m.config_refused("feeds.toml", "feeds.toml:1:1: x: y");
    m.source_ok("drop", 100, 0.5);
    m.source_bytes("drop", 10);
    m.source_failed("tor", "timeout", "timed out", 100, 1.0);
    m.source_held("tor", 3600.0, None, &[("ip", 3)]);
    m.source_skipped("tor", &[("invalid", 1)]);
    m.list_compiled("pa", 3, Some(150_000), 90, 100, 0.01, &[("guarded", 2)]);
    m.list_unavailable("waiting");
    m.list_request("pa", 200);
    m.endpoint_request("metrics", 200);
    m.polled("pa", "fw-hq", 100);
    m.auth_failed("pa", "127.0.0.1", "wrong credentials", true);
    m.connection_refused("max_connections_per_client", "127.0.0.1", true);
    m.access_refused("client_acl", "/lists/pa", "127.0.0.1", false);
    m.log_summary(Some("127.0.0.1"), "access_refused", 3, 60);
    m.cycle_failed("disk_full", "No space left on device");
    m.cycle_ok();
    m.role(true);
    m.tls_refused("bad key");
    let text = m.render();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (found by build.rs; `touch build.rs` if it was removed)");
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );
}
