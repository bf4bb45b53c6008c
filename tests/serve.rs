//! `edlforge serve` end to end: the real binary on 127.0.0.1 with test certificates (rcgen),
//! a reqwest client, and files edited the way editors save them (write + rename).
//!
//! Waits are bounded polls (`eventually`), never fixed sleeps that assert a speed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A local CA and a server certificate for 127.0.0.1 / localhost signed by it.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Writes `text` to `path` the way editors do: a temporary file renamed over the old one.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-save");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub(crate) use crate::support::serve::Serve as Server;

/// Starts `edlforge serve` on `dir/feeds.toml` with `env`, listening on a free loopback port.
pub(crate) fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    start_on(dir, env, "127.0.0.1:0")
}

/// Starts `edlforge serve` on `dir/feeds.toml` with `env`, listening on `listen` (loopback).
pub(crate) fn start_on(dir: &Path, env: &[(&str, &str)], listen: &str) -> Server {
    let mut cmd = Server::command(dir, listen);
    cmd.envs(env.iter().copied());
    Server::spawn(cmd)
}

pub(crate) fn client(ca_pem: Option<&str>) -> reqwest::Client {
    edlforge::source::http::ensure_crypto_provider();
    let mut b = reqwest::Client::builder()
        .no_gzip()
        .no_proxy()
        .timeout(Duration::from_secs(20));
    if let Some(ca) = ca_pem {
        b = b
            .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
            .https_only(true);
    }
    b.build().unwrap()
}

/// GET `url`, the body as text (panics on a transport error).
pub(crate) async fn text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

/// GET `url`, the body as JSON (panics on a transport or JSON error).
async fn json(c: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = c.get(url).send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// How long [`eventually`] waits before it fails. Loose, for a loaded 2-core CI machine running
/// every test at once: it only bounds a failure, a pass returns as soon as the condition holds.
const SETTLE: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, for at most [`SETTLE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(t.elapsed() < SETTLE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A working directory with feeds.toml, lists/ and the TLS files.
pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) pki: Pki,
}

impl Site {
    pub(crate) fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki("first");
        std::fs::create_dir_all(dir.path().join("lists")).unwrap();
        std::fs::write(dir.path().join("tls.pem"), &pki.cert_pem).unwrap();
        std::fs::write(dir.path().join("tls.key"), &pki.key_pem).unwrap();
        std::fs::write(dir.path().join("feeds.toml"), config).unwrap();
        Site { dir, pki }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

pub(crate) const TLS: &str = "[server]\ntls_cert = \"tls.pem\"\ntls_key = \"tls.key\"\n\n";

fn basic_config() -> String {
    format!(
        r#"{TLS}[[source]]
name = "block"
path = "lists/block.txt"

[[source]]
name = "nets"
path = "lists/nets.txt"
type = "ip"

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
name = "fmc"
vendor = "cisco-si"
types = ["ip"]
sources = ["nets"]

[[list]]
name = "hq"
vendor = "panos"
types = ["ip"]
sources = ["block"]
auth = "basic"
users = [{{ name = "fw-hq", password = "${{env:FW_HQ}}" }}]

[[list]]
name = "dc"
vendor = "panos"
types = ["ip"]
sources = ["block"]
auth = "token"
tokens = [{{ name = "fw-dc2", token = "${{env:DC2_TOKEN}}" }}]

[[list]]
name = "lab"
vendor = "panos"
types = ["ip"]
sources = ["block"]
clients = ["192.0.2.0/24"]

[[list]]
name = "waiting"
vendor = "panos"
types = ["ip"]
sources = ["down"]
"#
    )
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("FW_HQ", "hq-secret"), ("DC2_TOKEN", TOKEN)]
}

fn basic_site() -> Site {
    let s = Site::new(&basic_config());
    std::fs::write(
        s.path("lists/block.txt"),
        "81.2.69.0/25\n81.2.69.128/25\nmalware-c2.top\n",
    )
    .unwrap();
    std::fs::write(s.path("lists/nets.txt"), "81.2.70.7\n45.9.148.0/24\n").unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_http2_conditional_gzip_head_and_503() {
    let site = basic_site();
    let srv = start(site.dir.path(), &env());
    assert!(srv.base.starts_with("https://127.0.0.1:"), "{}", srv.base);
    let c = client(Some(&site.pki.ca_pem));
    let url = srv.url("/lists/pa");
    let r = eventually("list pa", || async {
        let r = c.get(&url).send().await.ok()?;
        (r.status() == 200).then_some(r)
    })
    .await;
    // ALPN chose HTTP/2.
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["vary"], "Accept-Encoding");
    let etag = h["etag"].to_str().unwrap().to_string();
    let last_modified = h["last-modified"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[..], b"81.2.69.0/24\n");
    assert_eq!(etag, etag_of(&body), "strong ETag = content hash");

    // If-None-Match → 304 with the same validators, no body.
    let r = c
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    // A stale tag gets the body; If-Modified-Since alone → 304.
    let r = c
        .get(&url)
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(&url)
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // gzip: the precompressed copy, its own ETag.
    let r = c
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz_etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(gz_etag, etag);
    let zipped = r.bytes().await.unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut plain).unwrap();
    assert_eq!(plain, body);
    let r = c
        .get(&url)
        .header("accept-encoding", "gzip")
        .header("if-none-match", &gz_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // HEAD: the headers of a GET, no body.
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert_eq!(r.headers()["etag"], etag.as_str());

    // A recompile of the same content moves neither the ETag nor Last-Modified.
    let cycle_of = |js: &serde_json::Value| js["last_cycle"].as_i64().unwrap_or(0);
    let status = || async {
        let b = c
            .get(srv.url("/status.json"))
            .send()
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        serde_json::from_slice::<serde_json::Value>(&b).ok()
    };
    let before = cycle_of(&status().await.unwrap());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    save(
        &site.path("lists/block.txt"),
        "81.2.69.128/25\n81.2.69.0/25\nmalware-c2.top\n",
    );
    eventually("a recompile", || async {
        status().await.filter(|js| cycle_of(js) > before)
    })
    .await;
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert_eq!(r.headers()["last-modified"], last_modified.as_str());

    // Cisco FMC SI: the list and its MD5 URL.
    let r = c.get(srv.url("/lists/fmc")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let fmc = r.bytes().await.unwrap();
    let md5 = text(&c, &srv.url("/lists/fmc.md5")).await;
    use md5::Digest as _;
    let want: String = md5::Md5::digest(&fmc)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(md5, format!("{want}\n"));

    // A list whose only source never delivered: 503 with Retry-After, never an empty 200.
    let r = c.get(srv.url("/lists/waiting")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let r = c.get(srv.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("waiting"));
    assert_eq!(
        c.get(srv.url("/healthz")).send().await.unwrap().status(),
        200
    );

    // Bodies and other methods are refused.
    let r = c.post(&url).body("x").send().await.unwrap();
    assert!(r.status() == 413 || r.status() == 405, "{}", r.status());
    let r = c.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // HTTP/1.1 works too.
    let c1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(site.pki.ca_pem.as_bytes()).unwrap()])
        .http1_only()
        .no_gzip()
        .no_proxy()
        .build()
        .unwrap();
    let r = c1.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.bytes().await.unwrap(), body);

    // Metrics name every list and source; the failing source is down.
    let m = text(&c, &srv.url("/metrics")).await;
    for want in [
        "edlforge_list_entries{list=\"pa\"} 1",
        "edlforge_list_available{list=\"waiting\"} 0",
        "edlforge_source_up{source=\"down\"} 0",
        "edlforge_source_up{source=\"block\"} 1",
        "edlforge_source_last_fetch_bytes{source=\"block\"} 43",
        "edlforge_http_requests_total{code=\"304\",endpoint=\"list\",list=\"pa\"}",
        "edlforge_config_reload_success 1",
        "edlforge_list_last_poll_timestamp_seconds{client=\"anonymous\",list=\"pa\"}",
        "edlforge_source_last_success_timestamp_seconds{source=\"block\"}",
        "edlforge_source_fetch_errors_total{reason=\"connect\",source=\"down\"}",
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }
    // Without promtool, `ops::every_metric_family_passes_promtool_check_metrics` shows as
    // ignored and `ops::oracles_are_present` fails under EDLFORGE_REQUIRE_ORACLES.
    if cfg!(has_promtool) {
        promtool_check(&m);
    }

    // Status page and JSON.
    let page = c.get(srv.url("/")).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let page = page.text().await.unwrap();
    assert!(
        page.contains("edlforge status") && page.contains("waiting") && page.contains("failing")
    );
    assert!(
        page.contains("Not ready: 1 of 6 lists not served (waiting)"),
        "{page}"
    );
    let js: serde_json::Value = json(&c, &srv.url("/status.json")).await;
    assert_eq!(js["reload"]["ok"], true);
    let lists = js["lists"].as_array().unwrap();
    let waiting = lists.iter().find(|l| l["name"] == "waiting").unwrap();
    assert_eq!(
        waiting["withheld"],
        "withheld: never published, and it compiled empty because source down has never delivered data"
    );
    let pa = lists.iter().find(|l| l["name"] == "pa").unwrap();
    assert_eq!(pa["available"], true);
    assert_eq!(pa["entries"], 1);
    assert!(pa["polls"].as_u64().unwrap() >= 5);

    let status = srv.terminate();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

/// Runs `promtool check metrics` on the exposition (called when `build.rs` found promtool).
fn promtool_check(text: &str) {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("build.rs found promtool but it does not run now: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics:\n{said}");
    assert!(said.trim().is_empty(), "promtool check metrics:\n{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_control() {
    let site = basic_site();
    let srv = start(site.dir.path(), &env());
    let c = client(Some(&site.pki.ca_pem));
    eventually("list hq", || async {
        let r = c
            .get(srv.url("/lists/hq"))
            .basic_auth("fw-hq", Some("hq-secret"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    // Basic.
    let r = c.get(srv.url("/lists/hq")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    let r = c
        .get(srv.url("/lists/hq"))
        .basic_auth("fw-hq", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Token, as a header and in the URL.
    let r = c.get(srv.url("/lists/dc")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("Bearer")));
    let r = c
        .get(srv.url("/lists/dc"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(srv.url(&format!("/lists/dc?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A credential of another list does not open this one.
    let r = c
        .get(srv.url("/lists/dc"))
        .basic_auth("fw-hq", Some("hq-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Address rules: 127.0.0.1 is not in 192.0.2.0/24; answered like an unknown name.
    let r = c.get(srv.url("/lists/lab")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Unknown names: like a protected list, with or without credentials.
    let r = c.get(srv.url("/lists/secret-list")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(srv.url("/lists/secret-list"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(c.get(srv.url("/nope")).send().await.unwrap().status(), 404);
    // Who polled shows in metrics and on the status page.
    let m = text(&c, &srv.url("/metrics")).await;
    assert!(m.contains("edlforge_list_last_poll_timestamp_seconds{client=\"fw-dc2\",list=\"dc\"}"));
    assert!(m.contains("edlforge_list_last_poll_timestamp_seconds{client=\"fw-hq\",list=\"hq\"}"));
    assert!(m.contains("edlforge_http_auth_failures_total{list=\"hq\"} 1"));
    let page = text(&c, &srv.url("/")).await;
    assert!(page.contains("fw-dc2"));
    let js = json(&c, &srv.url("/status.json")).await;
    let hq = &js["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "hq")
        .unwrap()
        .clone();
    // Two refusals: one without credentials, one with a wrong password.
    assert_eq!(hq["refused"], 2, "{hq}");
    // Secrets never show.
    assert!(!page.contains("hq-secret") && !page.contains(TOKEN));
    assert!(!m.contains("hq-secret") && !srv.log().contains("hq-secret"));
}

#[test]
fn tlp_above_green_without_auth_is_refused_at_load() {
    let site = Site::new(&format!(
        "{TLS}[[source]]\nname = \"isac\"\npath = \"lists/isac.txt\"\ntlp = \"amber\"\n\n[[list]]\nname = \"isac\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nmax_tlp = \"amber\"\n"
    ));
    std::fs::write(site.path("lists/isac.txt"), "198.51.100.1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .current_dir(site.dir.path())
        .args(["serve", "--config", "feeds.toml", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("feeds.toml:14:11: list.isac.max_tlp:") && err.contains("TLP:AMBER"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_of_lists_and_config_and_certificates() {
    let site = basic_site();
    let srv = start(site.dir.path(), &env());
    let c = client(Some(&site.pki.ca_pem));
    let get = |path: &'static str| {
        let c = c.clone();
        let u = srv.url(path);
        async move {
            let r = c.get(u).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.text().await.ok()
        }
    };
    eventually("first compile", || get("/lists/pa")).await;

    // A lists/ edit is served shortly after.
    save(
        &site.path("lists/block.txt"),
        "192.0.2.200\n198.18.0.1\n81.2.71.160\n",
    );
    eventually("edited list", || async {
        get("/lists/pa").await.filter(|b| b == "81.2.71.160\n")
    })
    .await;

    // A valid feeds.toml edit: a new list appears.
    let mut cfg = basic_config();
    cfg.push_str("\n[[list]]\nname = \"fg\"\nvendor = \"fortigate\"\ntypes = [\"ip\"]\nsources = [\"block\"]\n");
    save(&site.path("feeds.toml"), &cfg);
    let fg = eventually("new list", || get("/lists/fg")).await;
    assert_eq!(fg, "81.2.71.160\n");

    // An invalid edit is refused: the old config stays, the error is shown and counted, and
    // lists/ edits still apply.
    let bad = cfg.replace("vendor = \"fortigate\"", "vendor = \"fortigatee\"");
    save(&site.path("feeds.toml"), &bad);
    let js = eventually("refusal", || async {
        let body = c
            .get(srv.url("/status.json"))
            .send()
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let js: serde_json::Value = serde_json::from_slice(&body).ok()?;
        (js["reload"]["ok"] == false).then_some(js)
    })
    .await;
    let errs = js["reload"]["errors"].to_string();
    assert!(
        errs.contains("feeds.toml:") && errs.contains("fortigatee"),
        "{errs}"
    );
    let m = text(&c, &srv.url("/metrics")).await;
    assert!(m.contains("edlforge_config_reload_success 0"), "{m}");
    assert_eq!(get("/lists/fg").await.as_deref(), Some("81.2.71.160\n"));
    save(&site.path("lists/block.txt"), "81.2.71.161\n");
    eventually("list edit under a refused config", || async {
        get("/lists/fg").await.filter(|b| b == "81.2.71.161\n")
    })
    .await;

    // Certificate rotation: a certificate from another CA replaces the first; new connections
    // see it without a restart.
    let second = pki("second");
    save(&site.path("tls.key"), &second.key_pem);
    save(&site.path("tls.pem"), &second.cert_pem);
    eventually("rotated certificate", || async {
        let c2 = client(Some(&second.ca_pem));
        let r = c2.get(srv.url("/healthz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let old = client(Some(&site.pki.ca_pem));
    assert!(old.get(srv.url("/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_lists_are_served_at_start_before_any_fetch() {
    let site = basic_site();
    {
        let srv = start(site.dir.path(), &env());
        let c = client(Some(&site.pki.ca_pem));
        eventually("first compile", || async {
            let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
        assert!(srv.terminate().success());
    }
    // The file source disappears: the list kept in the store is served from the start and
    // stays (a failed read keeps the last good set).
    std::fs::remove_file(site.path("lists/block.txt")).unwrap();
    let srv = start(site.dir.path(), &env());
    let c = client(Some(&site.pki.ca_pem));
    let r = c.get(srv.url("/lists/pa")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "81.2.69.0/24\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_torn_lists_while_recompiling() {
    let site = basic_site();
    let version = |g: u32| {
        let mut text = String::new();
        for i in 0..100u32 {
            // Every other /24, so nothing aggregates: 100 lines.
            text.push_str(&format!("81.{}.{}.0/24\n", g + 1, 2 * i));
        }
        text
    };
    std::fs::write(site.path("lists/block.txt"), version(0)).unwrap();
    let srv = start(site.dir.path(), &env());
    let c = client(Some(&site.pki.ca_pem));
    eventually("first compile", || async {
        let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pollers = Vec::new();
    for _ in 0..4 {
        let (c, url, stop) = (c.clone(), srv.url("/lists/pa"), stop.clone());
        pollers.push(tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 5000 {
                let r = c.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let etag = r.headers()["etag"].to_str().unwrap().to_string();
                let body = r.bytes().await.unwrap();
                assert_eq!(etag, etag_of(&body), "body does not match its ETag");
                let text = String::from_utf8(body.to_vec()).unwrap();
                // Every version written below is whole: 100 lines of one generation.
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), 100, "torn list:\n{text}");
                seen.insert(etag);
                n += 1;
            }
            seen.len()
        }));
    }
    // Rewrite the list 15 times (each save triggers a recompile), bigger than one write.
    let mut last = String::new();
    for g in 1..16u32 {
        let text = version(g);
        save(&site.path("lists/block.txt"), &text);
        last = text;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let want = last.clone();
    eventually("last version", || async {
        let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
        let b = r.text().await.ok()?;
        (b.lines().count() == 100 && b.contains(want.lines().next().unwrap_or(""))).then_some(())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut versions = 0;
    for p in pollers {
        versions = versions.max(p.await.unwrap());
    }
    assert!(versions >= 2, "pollers saw {versions} version(s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_floods_cannot_starve_pollers() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let site = Site::new(
        "[server]\ntls = \"off\"\nmax_connections = 4\nheader_timeout = \"3s\"\n\n[[source]]\nname = \"block\"\npath = \"lists/block.txt\"\n\n[[list]]\nname = \"pa\"\nvendor = \"panos\"\ntypes = [\"ip\"]\n",
    );
    std::fs::write(site.path("lists/block.txt"), "81.2.69.1\n").unwrap();
    let srv = start(site.dir.path(), &[]);
    assert!(srv.base.starts_with("http://"), "{}", srv.base);
    assert!(srv.log().contains("TLS is off"), "{}", srv.log());
    let addr = srv.base.trim_start_matches("http://").to_string();
    let c = client(None);
    eventually("first compile", || async {
        let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    drop(c);
    // An idle keep-alive connection is closed after header_timeout too.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let r = tokio::time::timeout(Duration::from_secs(20), idle.read(&mut buf))
        .await
        .expect("an idle keep-alive connection is closed by header_timeout");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    // Four slowloris connections fill the cap: each sends half a request line, then nothing.
    // The cap holds when a fifth connection is closed unanswered while all four are still
    // open. The client sees a closed socket a moment before the server's task gives its slot
    // back, and a starved machine can fire the header timeout early: either way one of the
    // four is closed too, and the round is tried again (a cap that lets a fifth connection be
    // served while four are held fails at once).
    let mut buf = [0u8; 64];
    let mut held = None;
    for round in 0..5 {
        let mut slow = Vec::new();
        for _ in 0..4 {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(b"GET /lists/pa HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            slow.push(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Over the cap: closed at once, without an answer.
        let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let _ = extra
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("an over-cap connection is closed, not left hanging")
            .unwrap_or(0);
        // Still open: a read that neither ends nor fails within 50 ms.
        let mut all_open = true;
        for s in &mut slow {
            let mut one = [0u8; 1];
            all_open &= tokio::time::timeout(Duration::from_millis(50), s.read(&mut one))
                .await
                .is_err();
        }
        assert!(
            n == 0 || !all_open,
            "over-cap connection got an answer while the cap was full: {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        if all_open {
            held = Some(slow);
            break;
        }
        eprintln!(
            "round {round}: a slow connection was closed early (extra answered: {}); again",
            n > 0
        );
        drop(slow);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let slow = held.expect("four slow connections held the cap in one of five rounds");
    // The header timeout closes the slow ones, which frees the slots for pollers.
    for mut s in slow {
        let r = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("a slow client is cut off by header_timeout");
        // Closed (0) or answered 408 then closed: either way not held open.
        if let Ok(n) = r {
            assert!(
                n == 0 || buf[..n].starts_with(b"HTTP/1.1 408"),
                "{:?}",
                &buf[..n]
            );
        }
    }
    let c = client(None);
    eventually("a poller after the flood", || async {
        let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
}

/// Issue 11, items 5 and 7: what `serve` publishes, and what it says when it does not.
mod publication {
    use super::*;

    fn config() -> String {
        format!(
            r#"{TLS}[[source]]
name = "local"
path = "lists/block.txt"
allow_empty = true

[[source]]
name = "down"
url = "http://127.0.0.1:9/feed.txt"
retries = 1
timeout = "2s"

[[list]]
name = "pa"
vendor = "panos"
types = ["ip"]
sources = ["local", "down"]

[[list]]
name = "waiting"
vendor = "panos"
types = ["ip"]
sources = ["down"]
"#
        )
    }

    /// The served list, its ETag and body, once it answers 200 and `ok` holds for the body.
    async fn served_when(
        c: &reqwest::Client,
        url: &str,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> (String, String) {
        eventually(what, || async {
            let r = c.get(url).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            let etag = r.headers()["etag"].to_str().ok()?.to_string();
            let body = r.text().await.ok()?;
            ok(&body).then_some((etag, body))
        })
        .await
    }

    // See: issue 11, item 5 (a removed entry stays published).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_entry_leaves_the_list_and_every_view_agrees() {
        let site = Site::new(&config());
        std::fs::write(
            site.path("lists/block.txt"),
            "45.33.32.156
",
        )
        .unwrap();
        let srv = start(site.dir.path(), &[]);
        let c = client(Some(&site.pki.ca_pem));
        let (etag, body) = served_when(&c, &srv.url("/lists/pa"), "the first entry", |b| {
            b.contains("45.33.32.156")
        })
        .await;
        assert_eq!(etag, etag_of(body.as_bytes()));
        // Staff remove it (`down` has still never delivered): the list follows, down to zero
        // entries.
        save(
            &site.path("lists/block.txt"),
            "# removed after review
",
        );
        let (etag, body) = served_when(&c, &srv.url("/lists/pa"), "the removal", |b| {
            !b.contains("45.33.32.156")
        })
        .await;
        assert_eq!(body, "");
        assert_eq!(etag, etag_of(b""));

        // Every view describes the bytes served.
        let j = json(&c, &srv.url("/status.json")).await;
        let pa = &j["lists"][0];
        assert_eq!(pa["name"], "pa");
        assert_eq!(pa["available"], true, "{pa}");
        assert_eq!(pa["entries"], 0, "{pa}");
        assert_eq!(pa["etag"], etag.as_str(), "{pa}");
        assert!(pa["withheld"].is_null(), "{pa}");
        let m = text(&c, &srv.url("/metrics")).await;
        assert!(m.contains("edlforge_list_entries{list=\"pa\"} 0"), "{m}");
        assert!(!m.contains("edlforge_list_withheld{list=\"pa\""), "{m}");
        let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
            .current_dir(site.dir.path())
            .args([
                "explain",
                "--json",
                "--config",
                "feeds.toml",
                "45.33.32.156",
            ])
            .output()
            .unwrap();
        let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let v = &e["lists"][0];
        assert_eq!(v["list"], "pa");
        assert_eq!(v["published"], false, "{v}");
        assert_eq!(v["etag"], etag.as_str(), "{v}");
        assert_eq!(v["entries"], 0, "{v}");
        // Each publish logged once at INFO, with entries and ETag (the log is read by a
        // thread: wait for the second line, then check there are no more).
        let is_pa = |l: &&str| l.contains("List published.") && l.contains("list=pa ");
        let log = eventually("the second publish in the log", || async {
            let log = srv.log();
            (log.lines().filter(is_pa).count() >= 2).then_some(log)
        })
        .await;
        let published: Vec<&str> = log.lines().filter(is_pa).collect();
        assert_eq!(published.len(), 2, "{log}");
        assert!(published[1].contains("entries=0"), "{log}");
        assert!(published[1].contains(&format!("etag={etag}")), "{log}");
    }

    // See: issue 11, item 7 (a 503 names its real reason; short start-up log).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_withheld_list_says_why_and_when() {
        let site = Site::new(&config());
        std::fs::write(
            site.path("lists/block.txt"),
            "# hand-kept entries
",
        )
        .unwrap();
        let srv = start(site.dir.path(), &[]);
        let c = client(Some(&site.pki.ca_pem));
        // Never published, empty, `down` never delivered: 503 with the real reason.
        let body = eventually("the first compile", || async {
            let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
            let status = r.status();
            let body = r.text().await.ok()?;
            (status == 503 && body.contains("withheld")).then_some(body)
        })
        .await;
        assert!(
            body.contains("because source down has never delivered data"),
            "{body}"
        );
        assert!(body.contains("the next attempt is due at "), "{body}");
        let r = c.get(srv.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let ready = r.text().await.unwrap();
        assert!(
            ready.contains("list waiting is withheld") && ready.contains("list pa is withheld"),
            "{ready}"
        );
        let j = json(&c, &srv.url("/status.json")).await;
        for l in j["lists"].as_array().unwrap() {
            assert_eq!(l["available"], false, "{l}");
            assert_eq!(l["withheld_reason"], "never_delivered", "{l}");
            assert!(l["next_attempt"].is_i64(), "{l}");
        }
        let page = text(&c, &srv.url("/")).await;
        assert!(page.contains("503: withheld"), "{page}");
        let m = text(&c, &srv.url("/metrics")).await;
        assert!(
            m.contains("edlforge_list_available{list=\"waiting\"} 0"),
            "{m}"
        );
        assert!(
            m.contains("edlforge_list_withheld{list=\"waiting\",reason=\"never_delivered\"} 1"),
            "{m}"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_edlforge"))
            .current_dir(site.dir.path())
            .args([
                "explain",
                "--json",
                "--config",
                "feeds.toml",
                "45.33.32.156",
            ])
            .output()
            .unwrap();
        let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            e["lists"][1]["withheld"]
                .as_str()
                .is_some_and(|w| w.contains("source down has never delivered data")),
            "{e}"
        );
        // Start-up log: the held-back lists in one line, not one per list per cycle; the
        // retries of a failing fetch are not logged at INFO, its failure once.
        let log = eventually("the withheld line in the log", || async {
            let log = srv.log();
            log.contains("Lists withheld").then_some(log)
        })
        .await;
        assert!(!log.contains("List not published"), "{log}");
        assert!(!log.contains("Fetch attempt failed; retrying"), "{log}");
        let held = log.lines().filter(|l| l.contains("Lists withheld")).count();
        assert_eq!(held, 1, "{log}");
        assert!(log.contains("lists=pa, waiting"), "{log}");
        let failed = log.lines().filter(|l| l.contains("Fetch failed")).count();
        assert_eq!(failed, 1, "{log}");
    }
}
