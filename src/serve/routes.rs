//! One function per route, dispatched by a flat `match` on method and path.
//!
//! Lists: `GET`/`HEAD /lists/{name}` (and `/lists/{name}.md5` for Cisco FMC Security
//! Intelligence lists). Conditional requests follow RFC 9110: `If-None-Match` (weak comparison,
//! 13.1.2) wins over `If-Modified-Since` (13.1.3); each representation (identity, gzip) has its
//! own strong ETag and responses say `Vary: Accept-Encoding` (8.8.3). A configured list that is
//! not served (not compiled yet, or withheld by the publication rule) answers 503 with
//! `Retry-After` and the reason ([`status::unavailable`]): a firewall keeps its last copy on a
//! failure, while a 200 with an empty body would replace it.
//!
//! Access: probing must not tell which lists exist. When any list is closed to someone
//! (credentials or `clients`), a name that is not a list, a list with credentials, and a list
//! whose `clients` leave out the caller all answer the same for the same credentials: 401 with
//! the same `WWW-Authenticate` challenges without credentials, 401 (counted as a failed login)
//! with credentials that do not open that list, and 429 while the caller's address has used up
//! its failed-login budget (`auth.rs`; credentials are then not checked at all). Only a caller
//! that proved itself to a list learns more (403 outside its `clients`, 503 before its first
//! compile). `/readyz` names never-compiled lists only to `admin_clients`.

use std::borrow::Cow;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

use super::auth::{self, Presented, Verdict};
use super::{noise, status, Published, State};
use crate::config::AuthMode;
use crate::indicator::unix_now as now;

type Resp = Response<Full<Bytes>>;

/// Answers one request (the whole of the server's request handling; public for the fuzz target).
pub async fn handle<B: hyper::body::Body>(
    req: Request<B>,
    peer: SocketAddr,
    state: &State,
) -> Resp {
    let (code_label, resp) = route(&req, peer, state).await;
    let code = resp.status().as_u16();
    // Lists and endpoints are labelled apart: a list may be called "status".
    if req.uri().path().starts_with("/lists/") {
        if state.rules.load().lists.contains_key(code_label.as_ref()) {
            state.metrics.list_request(&code_label, code);
        } else {
            state.metrics.endpoint_request("unknown_list", code);
        }
    } else {
        state.metrics.endpoint_request(&code_label, code);
    }
    resp
}

async fn route<'r, B: hyper::body::Body>(
    req: &'r Request<B>,
    peer: SocketAddr,
    state: &State,
) -> (Cow<'r, str>, Resp) {
    let path = req.uri().path();
    let label = |s: &'static str| Cow::Borrowed(s);
    // No endpoint takes a body; refuse one instead of reading it.
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING)
        || req.body().size_hint().lower() > 0;
    if has_body {
        let mut r = text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not accepted\n",
        );
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return (label("other"), r);
    }
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (label("other"), r);
    }
    let rules = state.rules.load();
    let is_admin = || {
        let xff = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = auth::client_ip(peer.ip(), xff, &rules.trusted_proxies);
        (auth::allowed(ip, &rules.admin_clients), ip)
    };
    let admin = |id: &'static str| -> Option<(Cow<'r, str>, Resp)> {
        let (ok, ip) = is_admin();
        (!ok).then(|| {
            let log = state.noise.first(ip, noise::Event::AccessRefused);
            state
                .metrics
                .access_refused("admin_acl", path, &ip.to_string(), log);
            (
                Cow::Borrowed(id),
                text(StatusCode::FORBIDDEN, "forbidden\n"),
            )
        })
    };
    let (l, mut resp) = match path {
        "/healthz" => (label("healthz"), text(StatusCode::OK, "ok\n")),
        "/readyz" => (label("readyz"), readyz(state, is_admin().0)),
        "/metrics" => match admin("metrics") {
            Some(x) => x,
            None => (label("metrics"), metrics(state)),
        },
        "/" | "/index.html" => match admin("status") {
            Some(x) => x,
            None => (label("status"), status_page(state)),
        },
        "/status.json" => match admin("status") {
            Some(x) => x,
            None => (label("status"), status_json(state)),
        },
        p if p == "/taxii2" || p.starts_with("/taxii2/") => (
            label("taxii"),
            super::taxii::route(req, peer, state, &rules).await,
        ),
        p => match p.strip_prefix("/lists/") {
            Some(name) if !name.is_empty() && !name.contains('/') => {
                list(req, peer, state, &rules, name).await
            }
            _ => (label("other"), text(StatusCode::NOT_FOUND, "not found\n")),
        },
    };
    if rules.tls {
        resp.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if head {
        // HEAD: the same headers, no body (hyper keeps our Content-Length).
        let (parts, body) = resp.into_parts();
        let n = hyper::body::Body::size_hint(&body).exact().unwrap_or(0);
        let mut r = Response::from_parts(parts, Full::new(Bytes::new()));
        if r.status() != StatusCode::NOT_MODIFIED
            && !r.headers().contains_key(header::CONTENT_LENGTH)
        {
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        return (l, r);
    }
    (l, resp)
}

fn text(code: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Ready when every configured list has been served once. The names of the lists that have
/// not are shown to `admin_clients` only: a list's name can itself be sensitive.
fn readyz(state: &State, admin: bool) -> Resp {
    let rules = state.rules.load();
    let published = state.published();
    let mut missing: Vec<&String> = rules
        .lists
        .keys()
        .filter(|n| !published.contains(n))
        .collect();
    missing.sort();
    if missing.is_empty() {
        return text(StatusCode::OK, "ready\n");
    }
    let body = if admin {
        let now = now();
        missing.iter().fold("not ready:\n".to_string(), |b, n| {
            b + "  " + &status::unavailable(state, n, now) + "\n"
        })
    } else {
        format!("not ready: {} list(s) not served yet\n", missing.len())
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn metrics(state: &State) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(state.metrics.render())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn page_headers(r: &mut Resp, content_type: &'static str) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn status_page(state: &State) -> Resp {
    let view = status::View::gather(state, now());
    let mut r = Response::new(Full::new(Bytes::from(status::html(&view))));
    page_headers(&mut r, "text/html; charset=utf-8");
    r
}

fn status_json(state: &State) -> Resp {
    let view = status::View::gather(state, now());
    let body = serde_json::to_vec_pretty(&view).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(body)));
    page_headers(&mut r, "application/json");
    r
}

/// The 401 of every restricted or unknown name: the same challenges whatever the name, so the
/// scheme does not tell a token list from a basic one or from no list.
fn challenge(rules: &super::Rules) -> Resp {
    let mut r = text(StatusCode::UNAUTHORIZED, "authentication required\n");
    let bearer = rules.lists.values().any(|a| a.auth == AuthMode::Token);
    let basic = !bearer || rules.lists.values().any(|a| a.auth == AuthMode::Basic);
    if basic {
        r.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"edlforge\", charset=\"UTF-8\""),
        );
    }
    if bearer {
        r.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"edlforge\""),
        );
    }
    r
}

/// 429 for an address that used up its failed-login budget.
fn throttled(wait: std::time::Duration) -> Resp {
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed logins from this address; try again later\n",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(auth::retry_after_secs(wait)),
    );
    r
}

async fn list<'r, B>(
    req: &Request<B>,
    peer: SocketAddr,
    state: &State,
    rules: &super::Rules,
    name: &'r str,
) -> (Cow<'r, str>, Resp) {
    let (base, md5) = match name.strip_suffix(".md5") {
        Some(b) if rules.lists.contains_key(b) => (b, true),
        _ => (name, false),
    };
    let headers = req.headers();
    let presented = Presented::read(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        req.uri().query(),
    );
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = auth::client_ip(peer.ip(), xff, &rules.trusted_proxies);
    let access = rules.lists.get(base);
    let (label, client) = match access {
        // An open list: anyone in its `clients` (or anyone without `clients`).
        Some(a) if a.auth == AuthMode::None && auth::allowed(ip, &a.clients) => {
            (Cow::Borrowed(base), "anonymous")
        }
        // With nothing restricted anywhere, an unknown name is simply not found.
        None if !rules.any_restricted() => {
            return (
                Cow::Borrowed("unknown"),
                text(StatusCode::NOT_FOUND, "not found\n"),
            )
        }
        // A name that is not a list, a list with credentials, or an open list whose `clients`
        // leave this address out: the same answers for the same credentials.
        _ => {
            let label = Cow::Borrowed(if access.is_some() { base } else { "unknown" });
            if access.is_some_and(|a| a.auth == AuthMode::None) {
                let log = state.noise.first(ip, noise::Event::AccessRefused);
                state
                    .metrics
                    .access_refused("client_acl", base, &ip.to_string(), log);
            }
            if !presented.any() {
                if access.is_some() {
                    state.record_refusal(base, now());
                }
                return (label, challenge(rules));
            }
            let verdict = state.limiter.attempt(ip, || match access {
                Some(a) if a.auth != AuthMode::None => match auth::check(a, &presented) {
                    Verdict::Allowed(c) => Some(c),
                    Verdict::Missing | Verdict::Wrong => None,
                },
                _ => None,
            });
            match verdict {
                Ok(Some(c)) => (label, c),
                Ok(None) => {
                    if access.is_some() {
                        state.record_refusal(base, now());
                    }
                    state.login_failed(ip, &label);
                    return (label, challenge(rules));
                }
                Err(wait) => {
                    state.login_throttled(ip, base);
                    return (label, throttled(wait));
                }
            }
        }
    };
    let Some(access) = access else {
        // Unreachable: an unknown name has no credential that opens it.
        return (label, challenge(rules));
    };
    if presented.query_token.is_some() && access.auth == AuthMode::Token {
        tracing::debug!(list = %base, client = %client, "Token given in the URL; it may be written to proxy and access logs.");
    }
    if !auth::allowed(ip, &access.clients) {
        // Only a caller with this list's credentials gets here: it knows the list exists.
        let log = state.noise.first(ip, noise::Event::AccessRefused);
        state
            .metrics
            .access_refused("client_acl", base, &ip.to_string(), log);
        return (label, text(StatusCode::FORBIDDEN, "forbidden\n"));
    }
    let Some(p) = state.list(base) else {
        // The real reason (withheld, or not compiled yet) and when the next attempt is due.
        let why = format!("{}\n", status::unavailable(state, base, now()));
        let mut r = text(StatusCode::SERVICE_UNAVAILABLE, "");
        *r.body_mut() = Full::new(Bytes::from(why));
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return (label, r);
    };
    let r = if md5 {
        match &p.md5 {
            Some(m) => representation(
                headers,
                &p,
                m.clone(),
                &p.headers.md5_etag,
                "text/plain; charset=utf-8",
                None,
            ),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    } else if accepts_gzip(headers) {
        representation(
            headers,
            &p,
            p.gzip.clone(),
            &p.headers.gzip_etag,
            p.content_type,
            Some("gzip"),
        )
    } else {
        representation(
            headers,
            &p,
            p.body.clone(),
            &p.headers.etag,
            p.content_type,
            None,
        )
    };
    if r.status() == StatusCode::OK || r.status() == StatusCode::NOT_MODIFIED {
        state.record_poll(base, client, now());
    }
    (label, r)
}

fn representation(
    headers: &HeaderMap,
    p: &Published,
    body: Bytes,
    etag: &HeaderValue,
    content_type: &'static str,
    encoding: Option<&'static str>,
) -> Resp {
    let not_modified = match headers.get(header::IF_NONE_MATCH) {
        Some(inm) => inm
            .to_str()
            .is_ok_and(|v| etag_matches(v, etag.to_str().unwrap_or(""))),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .is_some_and(|since| p.changed_at <= since.as_secs() as i64),
    };
    let mut r = if not_modified {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let n = body.len();
        let mut r = Response::new(Full::new(body));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        if let Some(e) = encoding {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        r
    };
    let h = r.headers_mut();
    // Precomputed at publish time: a header value is a reference-count increment.
    h.insert(header::ETAG, etag.clone());
    h.insert(header::LAST_MODIFIED, p.headers.last_modified.clone());
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// RFC 9110 13.1.2: `*`, or any listed tag equal to ours by weak comparison.
fn etag_matches(header: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    header.trim() == "*"
        || header
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == ours)
}

/// Whether `Accept-Encoding` admits gzip (RFC 9110 12.5.3: `q=0` means "not acceptable").
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for v in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q_ok = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next_back()
                .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q_ok),
                "*" => star = Some(q_ok),
                _ => {}
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abc-gzip\"", "\"abc\""));
    }

    #[test]
    fn gzip_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.5")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("*, gzip;q=0")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..Default::default() })]

        /// Any header values: no panic; our own tag always matches itself.
        #[test]
        fn header_parsers_never_panic(v in "[ -~]{0,80}") {
            let _ = etag_matches(&v, "\"abc\"");
            let listed = format!("{}, \"abc\"", v);
            proptest::prop_assert!(etag_matches(&listed, "\"abc\""));
            let mut m = HeaderMap::new();
            if let Ok(h) = HeaderValue::from_str(&v) {
                m.insert(header::ACCEPT_ENCODING, h);
                let _ = accepts_gzip(&m);
            }
        }
    }
}
