//! `deploy/grafana/edlforge.json` and `deploy/prometheus/prometheus.yml`: a real Prometheus,
//! configured with the shipped scrape config (target and interval changed for the test), scrapes
//! a real `edlforge serve` over TLS on loopback and loads the shipped alert rules; every query
//! of every dashboard panel then runs without error, the ones that must show data do, and every
//! rule evaluates without error.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{http_get, tool, Serve, SETTLE};
use crate::support::root;

/// Panels that must show data for a running instance with a delivering source, a failing one,
/// a list withheld because of it, and a list that was polled.
const MUST_HAVE_DATA: &[&str] = &[
    "Up",
    "Config reload",
    "Cycle",
    "TLS reload",
    "Lists not served",
    "Sources failing",
    "Version",
    "Freshness per source",
    "Source up",
    "Fetch errors by reason",
    "Entries per list",
    "List available",
    "Lists withheld",
    "Last poll per list and client",
    "Requests per list",
    "Responses by status code",
    "Memory",
];

/// Percent-encodes a query-string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server on loopback, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus on a free loopback port (tried again on another port if the one picked
    /// was taken before Prometheus bound it).
    fn start(bin: &std::path::Path, dir: &std::path::Path) -> Prometheus {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut child = Command::new(bin)
                .current_dir(dir)
                .arg("--config.file=prometheus.yml")
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("prometheus runs");
            let t = Instant::now();
            loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read as _;
                        let _ = e.read_to_string(&mut err);
                    }
                    assert!(
                        err.contains("address already in use"),
                        "prometheus exited ({status}):\n{err}"
                    );
                    break;
                }
                if http_get(addr, "/-/ready").is_some_and(|(s, _)| s == 200) {
                    // Drain stderr so Prometheus never blocks on a full pipe.
                    if let Some(e) = child.stderr.take() {
                        std::thread::spawn(move || {
                            use std::io::Read as _;
                            let _ = std::io::BufReader::new(e).read_to_end(&mut Vec::new());
                        });
                    }
                    return Prometheus { child, addr };
                }
                assert!(t.elapsed() < SETTLE, "prometheus not ready");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!("no free port for prometheus after 5 tries");
    }

    /// An instant query: the parsed JSON answer.
    fn query(&self, q: &str) -> serde_json::Value {
        let path = format!("/api/v1/query?query={}", encode(q));
        let (code, body) = http_get(self.addr, &path).unwrap_or_else(|| panic!("no answer to {q}"));
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
        assert!(
            code == 200 && v["status"] == "success",
            "query {q} failed ({code}): {body}"
        );
        v
    }

    fn has_data(&self, q: &str) -> bool {
        self.query(q)["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    }
}

/// Every panel's queries, with its title, Grafana variables replaced by what they expand to.
fn panel_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/edlforge.json"))
        .expect("read the dashboard");
    let d: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(d["uid"], "edlforge");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().expect("panel title").to_string();
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".*");
            assert!(!expr.contains('$'), "unknown variable in {title}: {expr}");
            out.push((title.clone(), expr));
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(has_prometheus),
    ignore = "prometheus not found: apt-get install prometheus"
)]
fn prometheus_scrapes_edlforge_and_every_panel_query_runs() {
    let prom = tool("prometheus");
    let queries = panel_queries();
    for title in MUST_HAVE_DATA {
        assert!(queries.iter().any(|(t, _)| t == title), "no panel {title}");
    }

    // edlforge over TLS with a test CA.
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &ca).expect("certificate");
    std::fs::create_dir_all(dir.path().join("lists")).expect("mkdir");
    std::fs::write(dir.path().join("tls.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.path().join("tls.key"), key.serialize_pem()).expect("write key");
    std::fs::write(
        dir.path().join("lists/block.txt"),
        "81.2.69.0/25\n81.2.69.128/25\nmalware-c2.top\n",
    )
    .expect("write block.txt");
    let site = super::SITE.replace(
        "tls = \"off\"",
        "tls_cert = \"tls.pem\"\ntls_key = \"tls.key\"",
    );
    std::fs::write(dir.path().join("feeds.toml"), site).expect("write feeds.toml");
    let srv = Serve::start(dir.path());
    assert!(srv.base.starts_with("https://"));

    // Poll a list the way a firewall does, so the poll and request panels have data.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        edlforge::source::http::ensure_crypto_provider();
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA")])
            .build()
            .expect("client");
        let t = Instant::now();
        loop {
            let r = c.get(format!("{}/lists/pa", srv.base)).send().await;
            if r.as_ref().is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(t.elapsed() < SETTLE, "/lists/pa: {r:?}\n{}", srv.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    // Prometheus with the shipped scrape config and rules.
    let pdir = tempfile::tempdir().expect("temp dir");
    let shipped = std::fs::read_to_string(root().join("deploy/prometheus/prometheus.yml"))
        .expect("read prometheus.yml");
    assert!(shipped.contains("job_name: edlforge") && shipped.contains("edl.example.net:8443"));
    let config = shipped
        .replace("edl.example.net:8443", &srv.addr.to_string())
        .replace("scrape_interval: 30s", "scrape_interval: 1s")
        .replace("evaluation_interval: 30s", "evaluation_interval: 1s");
    std::fs::write(pdir.path().join("prometheus.yml"), config).expect("write config");
    std::fs::write(pdir.path().join("edlforge-ca.pem"), ca.pem()).expect("write CA");
    std::fs::copy(
        root().join("deploy/prometheus/alerts.yml"),
        pdir.path().join("alerts.yml"),
    )
    .expect("copy alerts.yml");
    let p = Prometheus::start(&prom, pdir.path());

    // Scraped over TLS, a few times (rate() needs two samples), with the failing source tried.
    let t = Instant::now();
    while !(p.has_data("up{job=\"edlforge\"} == 1")
        && p.has_data("count_over_time(up{job=\"edlforge\"}[1m]) >= 3")
        && p.has_data("edlforge_source_fetch_errors_total{source=\"down\", reason!=\"none\"}")
        && p.has_data("edlforge_list_last_poll_timestamp_seconds{list=\"pa\"}"))
    {
        assert!(
            t.elapsed() < SETTLE,
            "prometheus did not scrape edlforge: up = {}\nedlforge log:\n{}",
            p.query("up"),
            srv.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    for (title, expr) in &queries {
        let v = p.query(expr);
        if MUST_HAVE_DATA.contains(&title.as_str()) {
            assert!(
                v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
                "panel {title}: no data for {expr}"
            );
        }
    }

    // Every alert rule evaluated without error against the real series.
    let t = Instant::now();
    loop {
        let (_, body) = http_get(p.addr, "/api/v1/rules").expect("rules API");
        let v: serde_json::Value = serde_json::from_str(&body).expect("rules JSON");
        let rules: Vec<&serde_json::Value> = v["data"]["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().expect("rules").iter())
            .collect();
        assert!(rules.len() >= 10, "rules loaded: {body}");
        let bad: Vec<&&serde_json::Value> = rules.iter().filter(|r| r["health"] == "err").collect();
        assert!(bad.is_empty(), "rules that fail to evaluate: {bad:?}");
        if rules.iter().all(|r| r["health"] == "ok") {
            break;
        }
        assert!(t.elapsed() < SETTLE, "rules not evaluated: {body}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
