//! The HTTP(S) fetcher against the loopback fixture server: bodies, conditional GET, retries,
//! timeouts, truncation, size limits, compression, credentials, redirects, proxy, TLS and mTLS.

use std::time::{Duration, Instant};

use edlforge::source::decode::decode_body;
use edlforge::source::http::{FetchError, Fetcher, HttpOutcome, HttpRequest, RedirectProblem};

use crate::support::fixture::{gzip, zip, FixtureServer, Reply, Routes, TestPki};

const SOURCE: &str = "test-feed";

/// A request for `url` with test-sized defaults: 5 s timeout, no retries, 1 MiB limit.
fn request(url: String) -> HttpRequest {
    let mut r = HttpRequest::new(SOURCE, url);
    r.timeout = Duration::from_secs(5);
    r.retries = 0;
    r.max_body = 1 << 20;
    r
}

fn body(outcome: HttpOutcome) -> Vec<u8> {
    match outcome {
        HttpOutcome::Body { body, .. } => body,
        HttpOutcome::NotModified => panic!("expected a body, got 304"),
    }
}

async fn fetch(req: &HttpRequest) -> Result<HttpOutcome, FetchError> {
    Fetcher::new(4).fetch(req).await
}

/// The error of a fetch that must fail, with its message checked to name source and URL.
async fn fetch_err(req: &HttpRequest) -> FetchError {
    let err = fetch(req).await.expect_err("fetch should fail");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("source \"{SOURCE}\": ")), "{msg}");
    assert_eq!(err.source_name(), SOURCE);
    err
}

/// The full error chain, as `main` prints it.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

// ----- bodies and validators -----

#[tokio::test]
async fn ok_returns_body_validators_and_content_type() {
    let server = FixtureServer::start(
        Routes::new().reply(
            "/drop.txt",
            Reply::ok("1.2.3.0/24\n")
                .etag("\"v1\"")
                .last_modified("Wed, 21 Oct 2026 07:28:00 GMT"),
        ),
    );
    let mut req = request(server.url("/drop.txt"));
    req.user_agent = "edlforge-test/1".into();
    match fetch(&req).await.expect("fetch") {
        HttpOutcome::Body {
            body,
            etag,
            last_modified,
            content_type,
        } => {
            assert_eq!(body, b"1.2.3.0/24\n");
            assert_eq!(etag.as_deref(), Some("\"v1\""));
            assert_eq!(
                last_modified.as_deref(),
                Some("Wed, 21 Oct 2026 07:28:00 GMT")
            );
            assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
        }
        HttpOutcome::NotModified => panic!("unexpected 304"),
    }
    let sent = &server.requests("/drop.txt")[0];
    assert_eq!(sent.header("user-agent"), Some("edlforge-test/1"));
    assert_eq!(sent.header("if-none-match"), None);
}

#[tokio::test]
async fn etag_gives_304_not_modified() {
    let server = FixtureServer::start(
        Routes::new().reply("/list", Reply::ok("a.example\n").etag("W/\"abc\"")),
    );
    let fetcher = Fetcher::new(4);
    let mut req = request(server.url("/list"));
    let etag = match fetcher.fetch(&req).await.expect("first fetch") {
        HttpOutcome::Body { etag, .. } => etag,
        HttpOutcome::NotModified => panic!("first fetch cannot be 304"),
    };
    req.etag = etag;
    assert_eq!(
        fetcher.fetch(&req).await.expect("second"),
        HttpOutcome::NotModified
    );
    assert_eq!(server.hits("/list"), 2);
    assert_eq!(
        server.requests("/list")[1].header("if-none-match"),
        Some("W/\"abc\"")
    );
    // A changed ETag means a new body.
    req.etag = Some("\"old\"".into());
    assert_eq!(
        body(fetcher.fetch(&req).await.expect("third")),
        b"a.example\n"
    );
}

#[tokio::test]
async fn last_modified_gives_304_not_modified() {
    let date = "Mon, 02 Nov 2026 10:00:00 GMT";
    let server =
        FixtureServer::start(Routes::new().reply("/list", Reply::ok("x\n").last_modified(date)));
    let mut req = request(server.url("/list"));
    req.last_modified = Some(date.into());
    assert_eq!(fetch(&req).await.expect("fetch"), HttpOutcome::NotModified);
    assert_eq!(
        server.requests("/list")[0].header("if-modified-since"),
        Some(date)
    );
}

#[tokio::test]
async fn unsolicited_304_is_an_error() {
    let server = FixtureServer::start(Routes::new().reply("/x", Reply::status(304)));
    let err = fetch_err(&request(server.url("/x"))).await;
    assert_eq!(err.status(), Some(304));
}

#[tokio::test]
async fn empty_200_is_an_empty_body() {
    // Deciding whether an empty list is plausible is the gate's job, not the transport's.
    let server = FixtureServer::start(Routes::new().reply("/empty", Reply::ok("")));
    assert_eq!(
        body(fetch(&request(server.url("/empty"))).await.expect("fetch")),
        b""
    );
}

// ----- retries -----

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let server = FixtureServer::start(Routes::new().sequence(
        "/flaky",
        vec![Reply::html_error(500), Reply::ok("1.1.1.1\n")],
    ));
    let mut req = request(server.url("/flaky"));
    req.retries = 2;
    assert_eq!(body(fetch(&req).await.expect("retried")), b"1.1.1.1\n");
    assert_eq!(server.hits("/flaky"), 2);
}

#[tokio::test]
async fn server_error_always_fails_after_all_attempts() {
    let server = FixtureServer::start(Routes::new().reply("/down", Reply::html_error(503)));
    let mut req = request(server.url("/down"));
    req.retries = 2;
    let started = Instant::now();
    let err = fetch_err(&req).await;
    assert_eq!(server.hits("/down"), 3, "one attempt and two retries");
    assert_eq!(err.reason(), "http_status");
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        err.to_string(),
        format!(
            "source \"{SOURCE}\": {}: HTTP 503 Service Unavailable; the server failed; the next refresh will try again",
            server.url("/down")
        )
    );
    // Backoff: 250-500 ms, then 500-1000 ms.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // Bounded loosely: a loaded machine is slow, and the point is that no backoff runs away.
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FixtureServer::start(
        Routes::new()
            .reply("/gone", Reply::html_error(404))
            .reply("/denied", Reply::status(403)),
    );
    let mut req = request(server.url("/gone"));
    req.retries = 3;
    let err = fetch_err(&req).await;
    assert_eq!(server.hits("/gone"), 1);
    assert!(
        err.to_string()
            .ends_with("HTTP 404 Not Found; check the URL; the feed may have moved"),
        "{err}"
    );

    req.url = server.url("/denied");
    let err = fetch_err(&req).await;
    assert_eq!(server.hits("/denied"), 1);
    assert!(
        err.to_string()
            .ends_with("HTTP 403 Forbidden; check the API key or credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = FixtureServer::start(Routes::new().sequence(
        "/limited",
        vec![
            Reply::status(429).header("Retry-After", "1"),
            Reply::ok("ok\n"),
        ],
    ));
    let mut req = request(server.url("/limited"));
    req.retries = 1;
    let started = Instant::now();
    assert_eq!(body(fetch(&req).await.expect("after waiting")), b"ok\n");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits("/limited"), 2);
}

#[tokio::test]
async fn retry_after_beyond_the_cap_is_not_waited_for() {
    let server = FixtureServer::start(
        Routes::new().reply("/limited", Reply::status(429).header("Retry-After", "3600")),
    );
    let mut req = request(server.url("/limited"));
    req.retries = 3;
    let started = Instant::now();
    let err = fetch_err(&req).await;
    assert_eq!(err.status(), Some(429));
    assert_eq!(server.hits("/limited"), 1);
    // Far below the hour asked for; loose, as a loaded machine is slow.
    assert!(started.elapsed() < Duration::from_secs(60));
}

// ----- timeouts, truncation, size -----

#[tokio::test]
async fn slow_server_times_out() {
    let server = FixtureServer::start(
        Routes::new().reply("/slow", Reply::ok("late\n").delay(Duration::from_secs(60))),
    );
    let mut req = request(server.url("/slow"));
    req.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = fetch_err(&req).await;
    assert!(matches!(err, FetchError::Timeout { after, .. } if after == req.timeout));
    assert_eq!(err.reason(), "timeout");
    assert!(
        err.to_string()
            .contains("no complete response within 300ms"),
        "{err}"
    );
    // Well before the server's 60 s answer; loose, as a loaded machine is slow.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn timeout_is_retried() {
    let server = FixtureServer::start(Routes::new().sequence(
        "/slow-once",
        vec![
            Reply::ok("late\n").delay(Duration::from_secs(10)),
            Reply::ok("fast\n"),
        ],
    ));
    let mut req = request(server.url("/slow-once"));
    req.timeout = Duration::from_millis(400);
    req.retries = 1;
    assert_eq!(body(fetch(&req).await.expect("second attempt")), b"fast\n");
    assert_eq!(server.hits("/slow-once"), 2);
}

#[tokio::test]
async fn cut_connection_is_truncated_not_a_short_list() {
    let data = "10.0.0.1\n".repeat(200);
    let server =
        FixtureServer::start(Routes::new().reply("/cut", Reply::ok(data.clone()).truncated()));
    let err = fetch_err(&request(server.url("/cut"))).await;
    match &err {
        FetchError::Truncated { expected, got, .. } => {
            assert_eq!(*expected, Some(data.len() as u64 + 1000));
            assert!(*got <= data.len() as u64);
        }
        other => panic!("expected Truncated, got {other:?}: {}", chain(other)),
    }
    assert_eq!(err.reason(), "truncated");
}

#[tokio::test]
async fn body_over_max_body_is_an_error() {
    let data = vec![b'a'; 4096];
    let server = FixtureServer::start(
        Routes::new()
            .reply("/big", Reply::ok(data.clone()))
            .reply("/big-chunked", Reply::ok(data.clone()).chunked())
            .reply("/big-gzip", Reply::ok(vec![b'b'; 64 * 1024]).gzip_encoded()),
    );
    for path in ["/big", "/big-chunked", "/big-gzip"] {
        let mut req = request(server.url(path));
        req.max_body = 1000;
        let err = fetch_err(&req).await;
        assert!(
            matches!(err, FetchError::TooLarge { limit: 1000, .. }),
            "{path}: {err:?}"
        );
        assert_eq!(err.reason(), "too_large");
        assert!(err.to_string().contains("raise max_body"), "{err}");
    }
    // At the limit exactly is fine.
    let mut req = request(server.url("/big-chunked"));
    req.max_body = 4096;
    assert_eq!(body(fetch(&req).await.expect("at limit")), data);
}

// ----- compression -----

#[tokio::test]
async fn content_encoding_gzip_is_undone_in_transit() {
    let server = FixtureServer::start(
        Routes::new()
            .reply("/enc", Reply::ok("1.2.3.4\n").gzip_encoded())
            .reply(
                "/enc-broken",
                Reply::ok("not gzip at all").header("Content-Encoding", "gzip"),
            ),
    );
    assert_eq!(
        body(fetch(&request(server.url("/enc"))).await.expect("fetch")),
        b"1.2.3.4\n"
    );
    let sent = &server.requests("/enc")[0];
    assert!(sent
        .header("accept-encoding")
        .is_some_and(|v| v.contains("gzip")));
    let err = fetch_err(&request(server.url("/enc-broken"))).await;
    assert_eq!(err.reason(), "decode", "{err:?}: {}", chain(&err));
}

#[tokio::test]
async fn gz_and_zip_files_decode_by_magic() {
    let archive = zip(&[
        ("README/", b""),
        ("ips.txt", b"1.1.1.1\n2.2.2.2"),
        ("more.txt", b"3.3.3.3\n"),
    ]);
    let server = FixtureServer::start(
        Routes::new()
            .reply(
                "/feed.txt.gz",
                Reply::ok(gzip(b"4.4.4.4\n")).content_type("application/gzip"),
            )
            .reply(
                "/download",
                Reply::ok(archive).content_type("application/octet-stream"),
            ),
    );
    for (path, want) in [
        ("/feed.txt.gz", &b"4.4.4.4\n"[..]),
        ("/download", &b"1.1.1.1\n2.2.2.2\n3.3.3.3\n"[..]),
    ] {
        let req = request(server.url(path));
        let HttpOutcome::Body {
            body, content_type, ..
        } = fetch(&req).await.expect("fetch")
        else {
            panic!("304")
        };
        let decoded =
            decode_body(body, content_type.as_deref(), &req.url, req.max_body).expect("decode");
        assert_eq!(decoded, want, "{path}");
    }
}

#[tokio::test]
async fn zip_bomb_is_bounded() {
    let bomb = zip(&[("bomb.txt", &vec![b'0'; 16 << 20])]);
    assert!(bomb.len() < 100 * 1024);
    let server = FixtureServer::start(Routes::new().reply("/bomb.zip", Reply::ok(bomb)));
    let req = request(server.url("/bomb.zip"));
    let HttpOutcome::Body {
        body, content_type, ..
    } = fetch(&req).await.expect("the archive itself is small")
    else {
        panic!("304")
    };
    let err = decode_body(body, content_type.as_deref(), &req.url, req.max_body)
        .map_err(|e| FetchError::from_decode(&req, e))
        .expect_err("bomb");
    assert!(matches!(err, FetchError::TooLarge { limit, .. } if limit == req.max_body));
}

// ----- credentials -----

#[tokio::test]
async fn basic_auth_ok_and_401() {
    let server = FixtureServer::start(Routes::new().reply(
        "/private",
        Reply::ok("secret\n").require_basic("alice", "s3cret"),
    ));
    let mut req = request(server.url("/private"));
    req.basic_auth = Some(("alice".into(), "s3cret".into()));
    assert_eq!(body(fetch(&req).await.expect("authorised")), b"secret\n");

    req.basic_auth = Some(("alice".into(), "wrong".into()));
    let err = fetch_err(&req).await;
    assert_eq!(err.status(), Some(401));
    assert!(
        err.to_string().contains("check the API key or credentials"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong"));
}

#[tokio::test]
async fn bearer_token_is_sent() {
    let server = FixtureServer::start(
        Routes::new().reply("/api", Reply::ok("ok\n").require_bearer("tok-123")),
    );
    let mut req = request(server.url("/api"));
    req.bearer_token = Some("tok-123".into());
    assert_eq!(body(fetch(&req).await.expect("authorised")), b"ok\n");
    req.bearer_token = None;
    assert_eq!(fetch_err(&req).await.status(), Some(401));
}

#[tokio::test]
async fn custom_api_key_header_is_sent() {
    let server = FixtureServer::start(Routes::new().reply(
        "/otx",
        Reply::ok("ok\n").require_header("X-OTX-API-KEY", "k1"),
    ));
    let mut req = request(server.url("/otx"));
    req.headers = vec![("X-OTX-API-KEY".into(), "k1".into())];
    assert_eq!(body(fetch(&req).await.expect("authorised")), b"ok\n");
    req.headers = vec![("X-OTX-API-KEY".into(), "k2".into())];
    assert_eq!(fetch_err(&req).await.status(), Some(401));
}

// ----- redirects -----

#[tokio::test]
async fn same_origin_redirect_keeps_credentials() {
    let server = FixtureServer::start(
        Routes::new()
            .reply("/old", Reply::redirect(301, "/new"))
            .reply("/new", Reply::ok("moved\n").require_header("auth-key", "k")),
    );
    let mut req = request(server.url("/old"));
    req.headers = vec![("Auth-Key".into(), "k".into())];
    assert_eq!(body(fetch(&req).await.expect("followed")), b"moved\n");
}

#[tokio::test]
async fn cross_origin_redirect_drops_credentials() {
    let cdn = FixtureServer::start(Routes::new().reply("/blob", Reply::ok("from cdn\n")));
    let origin =
        FixtureServer::start(Routes::new().reply("/feed", Reply::redirect(302, &cdn.url("/blob"))));
    let mut req = request(origin.url("/feed"));
    req.headers = vec![("Auth-Key".into(), "secret-key".into())];
    req.bearer_token = Some("secret-token".into());
    assert_eq!(body(fetch(&req).await.expect("followed")), b"from cdn\n");
    let at_origin = &origin.requests("/feed")[0];
    assert_eq!(at_origin.header("auth-key"), Some("secret-key"));
    let at_cdn = &cdn.requests("/blob")[0];
    assert_eq!(at_cdn.header("auth-key"), None);
    assert_eq!(at_cdn.header("authorization"), None);
}

#[tokio::test]
async fn redirect_loop_stops() {
    let server = FixtureServer::start(Routes::new().reply("/loop", Reply::redirect(302, "/loop")));
    let err = fetch_err(&request(server.url("/loop"))).await;
    assert!(matches!(
        err,
        FetchError::Redirect {
            problem: RedirectProblem::TooMany,
            ..
        }
    ));
    assert_eq!(server.hits("/loop"), 11);
}

// ----- connections and proxies -----

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let mut req = request(format!("http://127.0.0.1:{}/x", closed_port()));
    req.retries = 1;
    let err = fetch_err(&req).await;
    assert_eq!(err.reason(), "connect", "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot connect; check the host name"),
        "{err}"
    );
}

#[tokio::test]
async fn explicit_proxy_carries_the_request() {
    // The fixture answers absolute-form requests too, so it doubles as a forward proxy; the
    // target host does not resolve, so only the proxy can have answered.
    let proxy = FixtureServer::start(Routes::new().reply("/list.txt", Reply::ok("via proxy\n")));
    let mut req = request("http://feed.invalid/list.txt".into());
    req.proxy = Some(format!("http://{}", proxy.plain_addr()));
    assert_eq!(
        body(fetch(&req).await.expect("through proxy")),
        b"via proxy\n"
    );
    let seen = &proxy.requests("/list.txt")[0];
    assert_eq!(seen.uri, "http://feed.invalid/list.txt");
    assert_eq!(seen.header("host"), Some("feed.invalid"));
}

#[tokio::test]
async fn unreachable_proxy_is_named_without_its_password() {
    let mut req = request("http://feed.invalid/list.txt".into());
    req.proxy = Some(format!("http://user:pw-secret@127.0.0.1:{}", closed_port()));
    let err = fetch_err(&req).await;
    assert_eq!(err.reason(), "connect", "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("via proxy http://user:***@127.0.0.1:"),
        "{msg}"
    );
    assert!(!chain(&err).contains("pw-secret"), "{}", chain(&err));
}

#[tokio::test]
async fn bad_proxy_url_is_a_config_error() {
    let mut req = request("http://feed.invalid/".into());
    req.proxy = Some("socks9://proxy:1".into());
    let err = fetch_err(&req).await;
    assert!(
        matches!(
            err,
            FetchError::Config {
                setting: "proxy",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn per_host_limit_serialises_requests() {
    let server = FixtureServer::start(
        Routes::new().reply("/slow", Reply::ok("x\n").delay(Duration::from_millis(150))),
    );
    let fetcher = Fetcher::new(1);
    let req = request(server.url("/slow"));
    let (a, b, c) = tokio::join!(
        fetcher.fetch(&req),
        fetcher.fetch(&req),
        fetcher.fetch(&req)
    );
    for r in [a, b, c] {
        r.expect("fetch");
    }
    assert_eq!(server.hits("/slow"), 3);
    assert_eq!(server.max_in_flight("/slow"), 1);

    let wide = FixtureServer::start(
        Routes::new().reply("/slow", Reply::ok("x\n").delay(Duration::from_millis(1000))),
    );
    let fetcher = Fetcher::new(3);
    let req = request(wide.url("/slow"));
    let (a, b, c) = tokio::join!(
        fetcher.fetch(&req),
        fetcher.fetch(&req),
        fetcher.fetch(&req)
    );
    for r in [a, b, c] {
        r.expect("fetch");
    }
    assert!(wide.max_in_flight("/slow") > 1);
}

// ----- TLS -----

#[tokio::test]
async fn tls_with_ca_file() {
    let pki = TestPki::generate();
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::ok("tls\n")),
        &pki,
        false,
    );
    let mut req = request(server.url("/feed"));
    req.ca_file = Some(pki.ca_cert.clone());
    assert_eq!(
        body(fetch(&req).await.expect("trusted via ca_file")),
        b"tls\n"
    );
}

#[tokio::test]
async fn tls_without_the_private_ca_is_refused() {
    let pki = TestPki::generate();
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::ok("tls\n")),
        &pki,
        false,
    );
    let mut req = request(server.url("/feed"));
    req.retries = 2;
    let err = fetch_err(&req).await;
    assert_eq!(err.reason(), "tls", "{err:?}: {}", chain(&err));
    assert!(err.to_string().contains("set ca_file"), "{err}");
    assert_eq!(server.hits("/feed"), 0);
}

#[tokio::test]
async fn https_to_http_redirect_is_refused() {
    let pki = TestPki::generate();
    let plain = FixtureServer::start(Routes::new().reply("/feed", Reply::ok("plain\n")));
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::redirect(302, &plain.url("/feed"))),
        &pki,
        false,
    );
    let mut req = request(server.url("/feed"));
    req.ca_file = Some(pki.ca_cert.clone());
    let err = fetch_err(&req).await;
    assert!(
        matches!(
            err,
            FetchError::Redirect {
                problem: RedirectProblem::Downgrade,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(plain.hits("/feed"), 0);
}

#[tokio::test]
async fn mtls_with_client_certificate() {
    let pki = TestPki::generate();
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::ok("mtls\n")),
        &pki,
        true,
    );
    let mut req = request(server.url("/feed"));
    req.ca_file = Some(pki.ca_cert.clone());
    req.client_cert = Some(pki.client_cert.clone());
    req.client_key = Some(pki.client_key.clone());
    assert_eq!(
        body(fetch(&req).await.expect("client cert accepted")),
        b"mtls\n"
    );

    // Certificate and key in one file work too.
    let both = pki.dir().join("client-both.pem");
    let mut pem = std::fs::read(&pki.client_cert).expect("cert");
    pem.extend(std::fs::read(&pki.client_key).expect("key"));
    std::fs::write(&both, pem).expect("write");
    req.client_cert = Some(both);
    req.client_key = None;
    assert_eq!(body(fetch(&req).await.expect("combined PEM")), b"mtls\n");
}

#[tokio::test]
async fn mtls_without_client_certificate_is_refused() {
    let pki = TestPki::generate();
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::ok("mtls\n")),
        &pki,
        true,
    );
    let mut req = request(server.url("/feed"));
    req.ca_file = Some(pki.ca_cert.clone());
    let err = fetch_err(&req).await;
    assert_eq!(err.reason(), "tls", "{err:?}: {}", chain(&err));
    assert!(err.to_string().contains("client_cert"), "{err}");
    assert_eq!(server.hits("/feed"), 0);
}

#[tokio::test]
async fn bad_tls_files_are_config_errors_naming_the_file() {
    let pki = TestPki::generate();
    let garbled = pki.dir().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let not_pem = pki.dir().join("not-pem.txt");
    std::fs::write(&not_pem, "hello\n").expect("write");
    let missing = pki.dir().join("missing.pem");

    let base = request("https://127.0.0.1:1/feed".into());
    let cases: Vec<(&str, HttpRequest, &std::path::Path, &str)> = vec![
        (
            "ca_file",
            HttpRequest {
                ca_file: Some(missing.clone()),
                ..base.clone()
            },
            &missing,
            "cannot read the file",
        ),
        (
            "ca_file",
            HttpRequest {
                ca_file: Some(garbled.clone()),
                ..base.clone()
            },
            &garbled,
            "not a valid PEM",
        ),
        (
            "ca_file",
            HttpRequest {
                ca_file: Some(not_pem.clone()),
                ..base.clone()
            },
            &not_pem,
            "no PEM certificate",
        ),
        (
            "client_cert",
            HttpRequest {
                client_cert: Some(missing.clone()),
                client_key: Some(pki.client_key.clone()),
                ..base.clone()
            },
            &missing,
            "cannot read the file",
        ),
        (
            "client_cert",
            HttpRequest {
                client_cert: Some(garbled.clone()),
                client_key: Some(pki.client_key.clone()),
                ..base.clone()
            },
            &garbled,
            "not a valid PEM certificate chain",
        ),
        (
            "client_key",
            HttpRequest {
                client_cert: Some(pki.client_cert.clone()),
                client_key: Some(not_pem.clone()),
                ..base.clone()
            },
            &not_pem,
            "no usable private key",
        ),
        (
            "client_key",
            HttpRequest {
                client_cert: Some(pki.client_cert.clone()),
                client_key: Some(pki.server_key.clone()),
                ..base.clone()
            },
            &pki.server_key,
            "does not belong to the client certificate",
        ),
        (
            "client_key",
            HttpRequest {
                client_key: Some(pki.client_key.clone()),
                ..base.clone()
            },
            &pki.client_key,
            "needs client_cert",
        ),
    ];
    for (setting, req, file, hint) in cases {
        let err = fetch_err(&req).await;
        let msg = err.to_string();
        assert!(
            matches!(&err, FetchError::Config { setting: s, .. } if *s == setting),
            "{setting}: {err:?}"
        );
        assert_eq!(err.reason(), "config");
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.contains(hint), "{msg}");
    }
}

#[tokio::test]
async fn rotated_client_key_is_picked_up() {
    // Same paths, new contents: the fetcher must not keep using its cached client.
    let pki = TestPki::generate();
    let server = FixtureServer::start_tls(
        Routes::new().reply("/feed", Reply::ok("mtls\n")),
        &pki,
        true,
    );
    let key = pki.dir().join("rotating.key");
    std::fs::write(&key, std::fs::read(&pki.client_key).expect("read")).expect("write");
    let fetcher = Fetcher::new(2);
    let mut req = request(server.url("/feed"));
    req.ca_file = Some(pki.ca_cert.clone());
    req.client_cert = Some(pki.client_cert.clone());
    req.client_key = Some(key.clone());
    assert_eq!(
        body(fetcher.fetch(&req).await.expect("right key")),
        b"mtls\n"
    );
    // A different length, so the change shows even where timestamps are coarse.
    let mut wrong = std::fs::read(&pki.server_key).expect("read");
    wrong.extend(b"\n\n");
    std::fs::write(&key, wrong).expect("write");
    let err = fetcher.fetch(&req).await.expect_err("wrong key now");
    assert_eq!(err.reason(), "config", "{err}");
}

/// `edlforge compile` with the usual proxy variables in its environment: a source goes through
/// `HTTP_PROXY` unless `NO_PROXY` names its host.
#[test]
fn environment_proxy_variables_are_honoured() {
    let proxy = FixtureServer::start(Routes::new().reply("/list.txt", Reply::ok("81.2.69.1\n")));
    let direct = FixtureServer::start(Routes::new().reply("/direct.txt", Reply::ok("81.2.69.2\n")));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        format!(
            "[[source]]\nname = \"via-proxy\"\nurl = \"http://feed.invalid/list.txt\"\n\n[[source]]\nname = \"direct\"\nurl = \"{}\"\n\n[[list]]\nname = \"all\"\nvendor = \"plain\"\n",
            direct.url("/direct.txt")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edlforge"))
        .current_dir(dir.path())
        .args(["compile", "--config", "feeds.toml", "--force"])
        .env("HTTP_PROXY", format!("http://{}", proxy.plain_addr()))
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = std::fs::read_to_string(dir.path().join("out/all.txt")).unwrap();
    assert!(list.ends_with("\n81.2.69.1\n81.2.69.2\n"), "{list}");
    assert_eq!(
        proxy.requests("/list.txt")[0].uri,
        "http://feed.invalid/list.txt"
    );
    assert_eq!(direct.hits("/direct.txt"), 1);
}
