//! `edlforge serve` under a penetration tester's and an on-call engineer's eyes (issue 12): the
//! real binary on loopback only. Other client addresses are other loopback addresses
//! (127.0.0.0/8 is all loopback on Linux) or `X-Forwarded-For` from a trusted loopback proxy.
//!
//! Every load here is bounded in connections and time and stops by itself; time limits are
//! generous bounds for a failure, never a speed the test demands.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::serve::{client, eventually, start, start_on, text, Server, Site, TLS};

const OFF: &str = "[server]\ntls = \"off\"\n";

/// A plain-HTTP client whose connections come from `from` (a loopback address).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_gzip()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .local_address(from.parse::<IpAddr>().ok())
        .build()
        .unwrap()
}

/// One source and a list `pa` open to everyone, plus `extra` (lists).
fn site(server: &str, extra: &str) -> Site {
    let s = Site::new(&format!(
        "{server}\n[[source]]\nname = \"block\"\npath = \"lists/block.txt\"\n\n[[list]]\nname = \"pa\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\n{extra}"
    ));
    std::fs::write(s.path("lists/block.txt"), "81.2.69.1\n").unwrap();
    s
}

async fn ready(c: &reqwest::Client, srv: &Server) {
    eventually("first compile", || async {
        let r = c.get(srv.url("/lists/pa")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
}

const HQ: &str = "\n[[list]]\nname = \"hq\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\nauth = \"basic\"\nusers = [{ name = \"fw-hq\", password = \"${env:FW_HQ}\" }]\n";
const DC: &str = "\n[[list]]\nname = \"dc\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\nauth = \"token\"\ntokens = [{ name = \"fw-dc2\", token = \"${env:DC2_TOKEN}\" }]\n";
const LAB: &str = "\n[[list]]\nname = \"lab\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\nclients = [\"192.0.2.0/24\"]\n";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const ENV: &[(&str, &str)] = &[("FW_HQ", "hq-secret"), ("DC2_TOKEN", TOKEN)];

/// Item 4: behind a dual-stack (v4-mapped) listener, the IPv4 trusted proxy is still a proxy:
/// the forwarded client is judged, not the proxy's own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_mapped_proxy_does_not_pass_its_own_address_on() {
    let site = site(
        &format!("{OFF}trusted_proxies = [\"127.0.0.1/32\"]\nadmin_clients = [\"127.0.0.1/32\"]\n"),
        "\n[[list]]\nname = \"lab\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"block\"]\nclients = [\"127.0.0.1/32\"]\n",
    );
    let srv = start_on(site.dir.path(), &[], "[::ffff:127.0.0.1]:0");
    assert!(srv.base.contains("[::ffff:127.0.0.1]"), "{}", srv.base);
    let c = client(None);
    ready(&c, &srv).await;
    let get = |path: &'static str, xff: Option<&'static str>| {
        let (c, u) = (c.clone(), srv.url(path));
        async move {
            let mut r = c.get(u);
            if let Some(x) = xff {
                r = r.header("x-forwarded-for", x);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    // The proxy itself (127.0.0.1, seen as ::ffff:127.0.0.1) may.
    assert_eq!(get("/metrics", None).await, 200);
    assert_eq!(get("/lists/lab", None).await, 200);
    // A client behind it may not.
    assert_eq!(get("/metrics", Some("203.0.113.9")).await, 403);
    assert_eq!(get("/status.json", Some("203.0.113.9")).await, 403);
    assert_eq!(get("/lists/lab", Some("203.0.113.9")).await, 401);
    assert_eq!(get("/lists/lab", Some("::ffff:203.0.113.9")).await, 401);
}

/// Item 5: for the same credentials, an unknown name, a basic list, a token list and a list
/// whose `clients` leave the caller out answer alike; unknown names count as failed logins;
/// `/readyz` names lists to `admin_clients` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_names_cannot_be_probed() {
    let amber = "\n[[source]]\nname = \"isac\"\nurl = \"http://127.0.0.1:9/isac.txt\"\nretries = 0\ntimeout = \"2s\"\ntlp = \"amber\"\n\n[[list]]\nname = \"isac-amber\"\nvendor = \"panos\"\ntypes = [\"ip\"]\nsources = [\"isac\"]\nmax_tlp = \"amber\"\nauth = \"token\"\ntokens = [{ name = \"fw-isac\", token = \"${env:DC2_TOKEN}\" }]\n";
    let site = site(
        &format!("{OFF}admin_clients = [\"127.0.0.2/32\"]\n"),
        &format!("{HQ}{DC}{LAB}{amber}"),
    );
    let srv = start(site.dir.path(), ENV);
    let admin = client_from("127.0.0.2");
    ready(&admin, &srv).await;
    // Each set of credentials from its own address: the failed-login budget is per address.
    type Creds = (
        &'static str,
        Option<(&'static str, &'static str)>,
        Option<&'static str>,
    );
    let sets: [(Creds, &[&str]); 5] = [
        (
            ("127.0.0.11", None, None),
            &["hq", "dc", "lab", "isac-amber", "nosuch", "hq2"],
        ),
        (
            ("127.0.0.12", Some(("fw-hq", "wrong")), None),
            &["hq", "dc", "lab", "nosuch"],
        ),
        (
            ("127.0.0.13", None, Some("not-the-token-0000000000")),
            &["hq", "dc", "lab", "nosuch"],
        ),
        // Valid for hq: every other name looks alike.
        (
            ("127.0.0.14", Some(("fw-hq", "hq-secret")), None),
            &["dc", "lab", "nosuch", "isac-amber"],
        ),
        // Valid for dc and isac-amber: the others look alike.
        (("127.0.0.15", None, Some(TOKEN)), &["hq", "lab", "nosuch"]),
    ];
    let mut unknown_with_creds = 0;
    for ((from, basic, bearer), names) in sets {
        let c = client_from(from);
        let mut seen: Vec<(String, u16, Vec<String>)> = Vec::new();
        for name in names {
            let mut r = c.get(srv.url(&format!("/lists/{name}")));
            if let Some((u, p)) = basic {
                r = r.basic_auth(u, Some(p));
            }
            if let Some(t) = bearer {
                r = r.bearer_auth(t);
            }
            let r = r.send().await.unwrap();
            let challenges: Vec<String> = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            seen.push((name.to_string(), r.status().as_u16(), challenges));
            if (basic.is_some() || bearer.is_some()) && name.starts_with("nosuch") {
                unknown_with_creds += 1;
            }
        }
        let (first, rest) = seen.split_first().unwrap();
        for s in rest {
            assert_eq!(
                (s.1, &s.2),
                (first.1, &first.2),
                "from {from}: {} and {} answer differently",
                first.0,
                s.0
            );
        }
        assert_eq!(first.1, 401, "{seen:?}");
        assert!(!first.2.is_empty(), "{seen:?}");
    }
    // Unknown names with credentials are failed logins.
    let m = text(&admin, &srv.url("/metrics")).await;
    let want =
        format!("edlforge_http_auth_failures_total{{list=\"unknown\"}} {unknown_with_creds}");
    assert!(m.contains(&want), "missing {want} in\n{m}");
    // /readyz: names for admin_clients only.
    let r = client_from("127.0.0.16")
        .get(srv.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(!body.contains("isac"), "{body}");
    let body = text(&admin, &srv.url("/readyz")).await;
    assert!(body.contains("isac-amber"), "{body}");
}

/// Item 6: guessing from one address is held to the budget (10 at once, then one a second)
/// across lists and parallel connections, and a success elsewhere does not reset it. Counted,
/// not timed: guesses the server checked are the 401s; the bound allows two a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_address() {
    let site = site(OFF, &format!("{HQ}{DC}"));
    let srv = start(site.dir.path(), ENV);
    let c = client_from("127.0.0.21");
    ready(&c, &srv).await;
    let start = Instant::now();
    let window = Duration::from_secs(3);
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let (c, hq, dc) = (c.clone(), srv.url("/lists/hq"), srv.url("/lists/dc"));
        tasks.push(tokio::spawn(async move {
            let (mut checked, mut throttled, mut n) = (0u32, 0u32, 0u32);
            while start.elapsed() < window && n < 2000 {
                n += 1;
                let r = if (i + n) % 2 == 0 {
                    c.get(&hq)
                        .basic_auth("fw-hq", Some(format!("guess{i}-{n}")))
                } else {
                    c.get(&dc)
                        .bearer_auth(format!("guess-token-{i}-{n}-000000"))
                };
                // A success on the other list now and then: it must not reset the count.
                let r = if n % 7 == 0 {
                    c.get(&hq).basic_auth("fw-hq", Some("hq-secret"))
                } else {
                    r
                };
                let r = r.send().await.unwrap();
                match r.status().as_u16() {
                    401 => checked += 1,
                    429 => {
                        assert!(r.headers().contains_key("retry-after"));
                        throttled += 1;
                    }
                    _ => {}
                }
            }
            (checked, throttled)
        }));
    }
    let (mut checked, mut throttled) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        checked += a;
        throttled += b;
    }
    let secs = start.elapsed().as_secs() + 1;
    let bound = 10 + 2 * secs as u32;
    assert!(
        checked <= bound,
        "{checked} guesses checked in {secs} s from one address (bound {bound})"
    );
    eprintln!("from one address in {secs} s: {checked} guesses checked, {throttled} refused (429)");
    assert!(throttled > 0);
    // Another address has its own budget: its wrong password is checked (401), and its right
    // one opens the list.
    let other = client_from("127.0.0.22");
    let r = other
        .get(srv.url("/lists/hq"))
        .basic_auth("fw-hq", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = other
        .get(srv.url("/lists/hq"))
        .basic_auth("fw-hq", Some("hq-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Item 7: without `admin_clients`, the status page and metrics are for loopback only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_default_to_loopback() {
    let site = site(&format!("{OFF}trusted_proxies = [\"127.0.0.1/32\"]\n"), "");
    let srv = start(site.dir.path(), &[]);
    let c = client(None);
    ready(&c, &srv).await;
    for path in ["/metrics", "/status.json", "/"] {
        let r = c.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} from loopback");
        let r = c
            .get(srv.url(path))
            .header("x-forwarded-for", "203.0.113.9")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} from 203.0.113.9");
    }
    // Lists are not admin pages.
    let r = c
        .get(srv.url("/lists/pa"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Reads one HTTP/2 frame: (type, flags, payload).
async fn frame(s: &mut tokio::net::TcpStream) -> std::io::Result<(u8, u8, Vec<u8>)> {
    let mut h = [0u8; 9];
    s.read_exact(&mut h).await?;
    let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).await?;
    Ok((h[3], h[4], p))
}

/// Item 1: an HTTP/2 connection that only does SETTINGS and PING is closed with GOAWAY after
/// the idle limit (header_timeout), like an idle HTTP/1 keep-alive connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connection_gets_goaway() {
    let site = site(&format!("{OFF}header_timeout = \"2s\"\n"), "");
    let srv = start(site.dir.path(), &[]);
    let c = client(None);
    ready(&c, &srv).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    // Answer SETTINGS and PINGs, send nothing else; wait (bounded) for GOAWAY.
    let got = tokio::time::timeout(Duration::from_secs(45), async {
        loop {
            match frame(&mut s).await {
                Ok((7, _, _)) => return true,
                Ok((4, flags, _)) if flags & 1 == 0 => {
                    s.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap();
                }
                Ok((6, flags, payload)) if flags & 1 == 0 => {
                    let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                    ack.extend_from_slice(&payload);
                    s.write_all(&ack).await.unwrap();
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .expect("an idle HTTP/2 connection is closed within the bound");
    assert!(got, "closed without GOAWAY");
    // Then the connection ends.
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if frame(&mut s).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "connection still open after GOAWAY");
}

/// Item 2 and 3: one address holding connections (half a request each) gets at most
/// `max_connections_per_client`; a poller from another address is served while it floods, and
/// the refusals are one log line, counted in metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let site = site(
        &format!(
            "{OFF}max_connections = 8\nmax_connections_per_client = 4\nheader_timeout = \"60s\"\n"
        ),
        "",
    );
    let srv = start(site.dir.path(), &[]);
    let c = client(None);
    ready(&c, &srv).await;
    let addr: std::net::SocketAddr = srv.base.trim_start_matches("http://").parse().unwrap();
    let mut flood = Vec::new();
    for _ in 0..20 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.3:0".parse().unwrap()).unwrap();
        let mut s = sock.connect(addr).await.unwrap();
        let _ = s.write_all(b"GET /lists/pa HTTP/1.1\r\nHost: x\r\n").await;
        flood.push(s);
    }
    // The flood's connections over its cap are closed at once; count those that end within
    // a bound (read one after the other: the first ones had all that time too; the held ones
    // stay open for header_timeout, 60 s).
    let mut closed = 0;
    for s in &mut flood {
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await;
        closed += usize::from(matches!(r, Ok(Ok(0) | Err(_))));
    }
    assert!(
        closed >= 16,
        "only {closed} of 20 flood connections were closed"
    );
    // Another address is served while the flood holds its connections (one try, no retry).
    let fresh = client(None);
    let r = fresh.get(srv.url("/lists/pa")).send().await;
    assert!(
        matches!(&r, Ok(r) if r.status() == 200),
        "poll during the flood: {r:?}"
    );
    let m = text(&fresh, &srv.url("/metrics")).await;
    let refused: u64 = m
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "edlforge_http_connections_refused_total{reason=\"max_connections_per_client\"} ",
            )
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(refused >= 16, "{m}");
    drop(flood);
    let log = srv.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("Connection cap reached") || l.contains("Connection limit reached"))
        .count();
    assert!(lines <= 1, "{lines} refusal lines:\n{log}");
}

/// Item 3: a client refused over and over writes one line per kind, not one per request; every
/// refusal is in the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_log_lines_are_summarised_and_counted() {
    let site = site(OFF, &format!("{LAB}{HQ}"));
    let srv = start(site.dir.path(), ENV);
    let c = client(None);
    ready(&c, &srv).await;
    for _ in 0..200 {
        let r = c.get(srv.url("/lists/lab")).send().await.unwrap();
        assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    }
    for i in 0..8 {
        let r = c
            .get(srv.url("/lists/hq"))
            .basic_auth("fw-hq", Some(format!("wrong{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let log = srv.log();
    let acl = log
        .lines()
        .filter(|l| l.contains("Request refused") || l.contains("not in the list's clients"))
        .count();
    let auth = log
        .lines()
        .filter(|l| l.contains("Authentication failed"))
        .count();
    // One line per kind and minute: two if a minute ended during the test.
    assert!(
        acl <= 2 && auth <= 2,
        "acl {acl}, auth {auth} lines:\n{log}"
    );
    let m = text(&c, &srv.url("/metrics")).await;
    let value = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("missing {name} in\n{m}"))
    };
    assert_eq!(
        value("edlforge_http_access_refused_total{reason=\"client_acl\"}"),
        200
    );
    assert_eq!(value("edlforge_http_auth_failures_total{list=\"hq\"}"), 8);
    assert!(value("edlforge_log_lines_suppressed_total{event=\"access_refused\"}") >= 198);
    assert!(value("edlforge_log_lines_suppressed_total{event=\"auth_failed\"}") >= 6);
}

/// Item 15: SIGTERM with nothing in flight stops at once. The bound (3 s) is far above the
/// 1 s aimed at and far below the 5 s the scheduler used to be waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_when_idle_stops_promptly() {
    let site = site(OFF, "");
    let srv = start(site.dir.path(), &[]);
    let c = client(None);
    ready(&c, &srv).await;
    eventually("ready", || async {
        let r = c.get(srv.url("/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    drop(c);
    let t = Instant::now();
    let status = srv.terminate();
    let took = t.elapsed();
    assert!(status.success(), "{status:?}");
    eprintln!("SIGTERM to exit: {took:?}");
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
}

/// Item 9: what the server writes under data_dir is readable by its own user only.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let site = site(OFF, "");
    let srv = start(site.dir.path(), &[]);
    let c = client(None);
    ready(&c, &srv).await;
    drop(srv);
    let mut stack = vec![site.path("data")];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} is {mode:o}", p.display());
                files += 1;
            }
        }
    }
    assert!(files >= 3, "only {files} files under data/");
}

/// Item 10: `tls = "auto"` makes a local CA that firewalls import once; the serving certificate
/// it signs carries `tls_names` and the machine's addresses (loopback among them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_tls_is_a_local_ca_signing_the_serving_certificate() {
    let site = site(
        "[server]\ntls_names = [\"edl.example.net\", \"192.0.2.10\"]\n",
        "",
    );
    let srv = start(site.dir.path(), &[]);
    assert!(srv.base.starts_with("https://"), "{}", srv.base);
    let ca = std::fs::read_to_string(site.path("data/tls/ca.pem")).unwrap();
    let log = srv.log();
    assert!(
        log.contains("ca.pem") && log.contains("SHA-256 fingerprint"),
        "{log}"
    );
    // Trusting only the CA: by address (127.0.0.1 is one of the machine's) ...
    let c = client(Some(&ca));
    ready(&c, &srv).await;
    // ... and by a configured name (resolved to loopback here; no traffic leaves the machine).
    let addr: std::net::SocketAddr = srv.base.trim_start_matches("https://").parse().unwrap();
    let by_name = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .https_only(true)
        .no_proxy()
        .resolve("edl.example.net", addr)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let r = by_name
        .get(format!("https://edl.example.net:{}/lists/pa", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A restart keeps the CA (what firewalls trust).
    drop(srv);
    let srv = start(site.dir.path(), &[]);
    assert_eq!(
        std::fs::read_to_string(site.path("data/tls/ca.pem")).unwrap(),
        ca
    );
    let c = client(Some(&ca));
    ready(&c, &srv).await;
}

/// Item 10: `check` refuses tls_cert/tls_key files that do not exist, with file:line.
#[test]
fn check_refuses_missing_tls_files() {
    let site = Site::new(&format!(
        "{TLS}[[source]]\nname = \"block\"\npath = \"lists/block.txt\"\n"
    ));
    std::fs::write(site.path("lists/block.txt"), "81.2.69.1\n").unwrap();
    std::fs::remove_file(site.path("tls.key")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .current_dir(site.dir.path())
        .args(["check", "--config", "feeds.toml"])
        .output()
        .unwrap();
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("feeds.toml:3:") && err.contains("tls.key"),
        "{err}"
    );
}

/// The new `[server]` keys: defaults, and mistakes named with their line.
#[test]
fn server_keys_defaults_and_mistakes() {
    use edlforge::config::{Config, LoadError};
    let c = Config::from_text(
        "[server]\ntls = \"off\"\n",
        std::path::Path::new("feeds.toml"),
    )
    .unwrap();
    assert_eq!(c.server.max_connections_per_client, 32);
    let admin: Vec<String> = c
        .server
        .admin_clients
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(admin, ["127.0.0.0/8", "::1/128"]);
    let bad = "[server]\ntls = \"off\"\nadmin_clients = []\nmax_connections_per_client = 0\ntls_names = [\"bad name!\"]\n";
    match Config::from_text(bad, std::path::Path::new("feeds.toml")) {
        Err(LoadError::Invalid(errs)) => {
            let all: String = errs.iter().map(|e| format!("{e}\n")).collect();
            for want in [
                "feeds.toml:3:17: server.admin_clients",
                "feeds.toml:4:30: server.max_connections_per_client",
                "feeds.toml:5:14: server.tls_names",
            ] {
                assert!(all.contains(want), "missing {want} in\n{all}");
            }
        }
        other => panic!("{other:?}"),
    }
}
