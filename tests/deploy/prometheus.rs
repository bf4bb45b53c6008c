//! `deploy/prometheus/`: the alert rules load (`promtool check rules`), their unit tests pass
//! (`promtool test rules`), and every metric they use is one a real `edlforge serve` exports.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{run, site, tool, Serve, SETTLE};
use crate::support::root;

/// Series Prometheus makes itself (not exported by edlforge).
const FROM_PROMETHEUS: &[&str] = &["up"];

#[test]
#[cfg_attr(
    not(has_promtool),
    ignore = "promtool not found: apt-get install prometheus"
)]
fn alert_rules_check_and_pass_their_unit_tests() {
    let promtool = tool("promtool");
    let dir = root().join("deploy/prometheus");
    let (ok, said) =
        run(Command::new(&promtool)
            .current_dir(&dir)
            .args(["check", "rules", "alerts.yml"]));
    assert!(ok, "promtool check rules:\n{said}");
    let (ok, said) =
        run(Command::new(&promtool)
            .current_dir(&dir)
            .args(["test", "rules", "alerts.test.yml"]));
    assert!(
        ok && said.contains("SUCCESS"),
        "promtool test rules:\n{said}"
    );
}

/// Metric names a rules file uses, by group: every `edlforge_*` and `process_*` token, plus the
/// Prometheus-made ones in [`FROM_PROMETHEUS`] (checked apart); (group, names in `expr:`,
/// names only mentioned in annotations).
type Used = (String, BTreeSet<String>, BTreeSet<String>);

fn names_by_group(text: &str) -> Vec<Used> {
    let token = regex::Regex::new(r"\b(edlforge_[a-z0-9_]+|process_[a-z0-9_]+|up)\b")
        .expect("constant regex");
    let mut groups: Vec<Used> = Vec::new();
    // Indentation of the `expr:` key whose value the current line continues.
    let mut expr_indent: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        let indent = line.len() - t.len();
        if expr_indent.is_some_and(|i| indent <= i) {
            expr_indent = None;
        }
        if let Some(name) = t.strip_prefix("- name:") {
            groups.push((name.trim().to_string(), BTreeSet::new(), BTreeSet::new()));
            continue;
        }
        if t.starts_with("expr:") {
            expr_indent = Some(indent);
        }
        if let Some((_, expr, mentioned)) = groups.last_mut() {
            let set = if expr_indent.is_some() {
                expr
            } else {
                mentioned
            };
            for m in token.find_iter(t) {
                set.insert(m.as_str().to_string());
            }
        }
    }
    groups
}

/// The metric names in a Prometheus text exposition (sample lines, not comments).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Per-address connection cap of the server [`every_metric_the_alerts_use_is_exported`] starts.
const PER_CLIENT: usize = 3;

/// Makes the server count one connection refused at accept: holds [`PER_CLIENT`] connections
/// open and opens one more, which the server closes at once.
fn refuse_one_connection(srv: &Serve) {
    let connect = || {
        TcpStream::connect_timeout(&srv.addr, Duration::from_secs(10)).expect("connect on loopback")
    };
    let held: Vec<TcpStream> = (0..PER_CLIENT).map(|_| connect()).collect();
    let mut over = connect();
    over.set_read_timeout(Some(SETTLE)).expect("read timeout");
    // Closed at accept: end of stream (or a reset), never a TLS answer.
    let mut buf = [0u8; 64];
    let n = over.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n, 0,
        "connection over max_connections_per_client got an answer"
    );
    drop(held);
}

/// Every metric name alerts.yml uses is on the `/metrics` of a real `edlforge serve` (over
/// TLS from the local CA of `tls = "auto"`, so the TLS reload gauge exists) once it has run a
/// cycle, withheld a list, refused a connection over `max_connections_per_client` and throttled
/// a credential guesser.
#[test]
fn every_metric_the_alerts_use_is_exported() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml"))
        .expect("read alerts.yml");
    let groups = names_by_group(&rules);
    assert!(
        groups
            .iter()
            .any(|(g, e, m)| g == "edlforge" && e.len() >= 12 && m.len() >= 3),
        "the scan found the rules: {groups:?}"
    );

    let dir = site();
    // A protected list, so that a wrong password is a failed login.
    std::fs::write(dir.path().join("fw.secret"), "right-password\n").expect("write fw.secret");
    let feeds = super::SITE.replace(
        "tls = \"off\"",
        &format!("tls = \"auto\"\nmax_connections_per_client = {PER_CLIENT}"),
    ) + "\n[[list]]\nname = \"locked\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\n\
         auth = \"basic\"\nusers = [{ name = \"fw\", password = \"${file:fw.secret}\" }]\n";
    std::fs::write(dir.path().join("feeds.toml"), feeds).expect("write feeds.toml");
    let srv = Serve::start(dir.path());
    assert!(srv.base.starts_with("https://"), "{}", srv.base);
    refuse_one_connection(&srv);

    let ca = std::fs::read(dir.path().join("data/tls/ca.pem"))
        .unwrap_or_else(|e| panic!("data/tls/ca.pem: {e}\n{}", srv.log()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = rt.block_on(async {
        edlforge::source::http::ensure_crypto_provider();
        let c = reqwest::Client::builder()
            .no_proxy()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(20))
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA certificate")])
            .build()
            .expect("client");
        // A credential guesser: wrong passwords until the failed-login budget (a burst of 10
        // failures, refilled one a second: `serve::auth::Limiter`) runs out and the answer is
        // 429 (edlforge_http_access_refused_total{reason="auth_throttled"}). Each round sends
        // 20 guesses at once over one HTTP/2 connection, so a loaded machine that answers one
        // request a second cannot refill the budget between guesses (15 guesses one after
        // another on new connections once met a refilled budget every time: all 401).
        let mut codes = Vec::new();
        let t = Instant::now();
        while !codes.contains(&Some(429)) {
            assert!(t.elapsed() < SETTLE, "never throttled: {codes:?}");
            let mut round = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let guess = c
                    .get(format!("{}/lists/locked", srv.base))
                    .basic_auth("fw", Some("wrong"));
                round.spawn(async move { guess.send().await.map(|r| r.status().as_u16()).ok() });
            }
            while let Some(code) = round.join_next().await {
                codes.push(code.ok().flatten());
            }
        }
        // Wait for one cycle: the file source delivered and the failing one was tried.
        let t = Instant::now();
        loop {
            let r = c.get(format!("{}/metrics", srv.base)).send().await;
            let body = match r {
                Ok(r) if r.status() == 200 => r.text().await.ok(),
                _ => None,
            };
            if let Some(body) = body {
                if body.contains("edlforge_source_last_success_timestamp_seconds{source=\"block\"}")
                    && body.contains("edlforge_source_fetch_errors_total{reason=")
                    && body.contains("source=\"down\"}")
                    && body.contains("edlforge_list_withheld{list=\"waiting\"")
                    && body.contains("edlforge_cycle_success ")
                {
                    return body;
                }
            }
            assert!(
                t.elapsed() < SETTLE,
                "no full /metrics; log:\n{}",
                srv.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let have = exported(&metrics);

    // A name in an expression must be on a live /metrics; one only named in a description
    // (e.g. a counter that needs a full disk to appear) must be one src/metrics.rs defines.
    let defined = include_str!("../../src/metrics.rs");
    for (group, expr, mentioned) in &groups {
        for name in expr {
            if FROM_PROMETHEUS.contains(&name.as_str()) || have.contains(name) {
                continue;
            }
            // Histograms and summaries export name_bucket/_sum/_count, never the bare name.
            let base_of_family = ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| have.contains(&format!("{name}{s}")));
            assert!(
                base_of_family,
                "alerts.yml group {group:?} uses {name}, which /metrics does not export:\n{metrics}"
            );
        }
        for name in mentioned.difference(expr) {
            assert!(
                FROM_PROMETHEUS.contains(&name.as_str())
                    || name.starts_with("process_")
                    || defined.contains(&format!("\"{name}\"")),
                "alerts.yml group {group:?} names {name}, which src/metrics.rs does not define"
            );
        }
    }
}
