//! The body of each resource: discovery, the API root, the collections the credentials may
//! read, and the objects, manifest and versions envelopes of one collection (with their
//! `X-TAXII-Date-Added-First`/`-Last` headers [T §3.3.1]).

use std::io::Write as _;
use std::net::SocketAddr;

use http::header::{self, HeaderValue};
use http::{Request, StatusCode};

use super::access::{challenge, throttled};
use super::filter::{select, Filters, Page};
use super::{json_str, taxii, Collection, Resp, API_ROOT, MEDIA_STIX, MEDIA_TAXII};
use crate::config::AuthMode;
use crate::format::stix::timestamp;
use crate::serve::auth::{self, Presented, Verdict};
use crate::serve::{Rules, State};

pub(super) fn discovery() -> Resp {
    let body = format!(
        r#"{{"title":"edlforge","description":"Shared lists of this edlforge server, as STIX 2.1 indicators.","default":"{API_ROOT}","api_roots":["{API_ROOT}"]}}"#
    );
    taxii(StatusCode::OK, body.into_bytes())
}

pub(super) fn api_root() -> Resp {
    let body = format!(
        r#"{{"title":"edlforge shared lists","versions":["{MEDIA_TAXII}"],"max_content_length":0}}"#
    );
    taxii(StatusCode::OK, body.into_bytes())
}

pub(super) fn write_collection(b: &mut Vec<u8>, c: &Collection) {
    b.extend_from_slice(b"{\"id\":");
    json_str(b, &c.id);
    b.extend_from_slice(b",\"title\":");
    json_str(b, &c.title);
    b.extend_from_slice(b",\"alias\":");
    json_str(b, &c.title);
    let _ = write!(
        b,
        r#","can_read":true,"can_write":false,"media_types":["{MEDIA_STIX}"]}}"#
    );
}

pub(super) async fn collections<B>(
    req: &Request<B>,
    peer: SocketAddr,
    state: &State,
    rules: &Rules,
) -> Resp {
    let headers = req.headers();
    let presented = Presented::read(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        None,
    );
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = auth::client_ip(peer.ip(), xff, &rules.trusted_proxies);
    let cols = state.taxii.load();
    let mut names: Vec<&String> = cols.keys().collect();
    names.sort();
    let mut hidden_protected = false;
    let basic = rules.lists.values().any(|a| a.auth == AuthMode::Basic);
    // Which collections these credentials open, checked within the failed-login budget:
    // credentials that open none are a failed login (`None`), like a wrong password on a list.
    let verdict = state.limiter.attempt(ip, || {
        let mut shown = Vec::new();
        let mut wrong = false;
        for n in &names {
            let Some(access) = rules.lists.get(*n) else {
                continue;
            };
            match auth::check(access, &presented) {
                Verdict::Allowed(_) if auth::allowed(ip, &access.clients) => shown.push(*n),
                Verdict::Allowed(_) => {}
                Verdict::Missing => hidden_protected = true,
                Verdict::Wrong => wrong = true,
            }
        }
        (!(shown.is_empty() && wrong)).then_some(shown)
    });
    let shown = match verdict {
        Ok(Some(shown)) => shown,
        Ok(None) => {
            state.login_failed(ip, "taxii");
            return challenge(basic);
        }
        Err(wait) => return throttled(state, ip, "taxii", wait),
    };
    if shown.is_empty() && hidden_protected && !presented.any() {
        return challenge(basic);
    }
    if shown.is_empty() {
        return taxii(StatusCode::OK, b"{}".to_vec());
    }
    let mut b = b"{\"collections\":[".to_vec();
    for (i, n) in shown.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        if let Some(c) = cols.get(*n) {
            write_collection(&mut b, c);
        }
    }
    b.extend_from_slice(b"]}");
    taxii(StatusCode::OK, b)
}

/// Sets the `X-TAXII-Date-Added-First`/`-Last` headers of a non-empty page [T §3.3.1].
fn date_headers(r: &mut Resp, page: &Page<'_>) {
    let first = page.objects.iter().map(|o| o.added).min();
    let last = page.objects.iter().map(|o| o.added).max();
    if let (Some(f), Some(l)) = (first, last) {
        for (name, t) in [
            ("x-taxii-date-added-first", f),
            ("x-taxii-date-added-last", l),
        ] {
            if let Ok(v) = HeaderValue::from_str(&timestamp(t)) {
                r.headers_mut().insert(name, v);
            }
        }
    }
}

fn envelope_start(b: &mut Vec<u8>, page: &Page<'_>, key: &str) {
    let _ = write!(b, "{{\"more\":{}", page.more);
    if let Some(n) = page.next() {
        b.extend_from_slice(b",\"next\":");
        json_str(b, &n);
    }
    let _ = write!(b, ",\"{key}\":[");
}

pub(super) fn objects(c: &Collection, f: &Filters, id: Option<&str>) -> Resp {
    let page = select(c, f, id, true);
    if page.objects.is_empty() {
        // An empty envelope [T §3.7]: no objects, nothing more.
        return taxii(StatusCode::OK, b"{\"more\":false}".to_vec());
    }
    let mut b =
        Vec::with_capacity(page.objects.iter().map(|o| o.json.len() + 1).sum::<usize>() + 64);
    envelope_start(&mut b, &page, "objects");
    for (i, o) in page.objects.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(&o.json);
    }
    b.extend_from_slice(b"]}");
    let mut r = taxii(StatusCode::OK, b);
    date_headers(&mut r, &page);
    r
}

pub(super) fn manifest(c: &Collection, f: &Filters) -> Resp {
    let page = select(c, f, None, true);
    if page.objects.is_empty() {
        return taxii(StatusCode::OK, b"{\"more\":false}".to_vec());
    }
    let mut b = Vec::with_capacity(page.objects.len() * 160 + 64);
    envelope_start(&mut b, &page, "objects");
    for (i, o) in page.objects.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(b"{\"id\":");
        json_str(&mut b, &o.id);
        let _ = write!(b, ",\"date_added\":\"{}\",\"version\":", timestamp(o.added));
        json_str(&mut b, &o.version);
        let _ = write!(b, ",\"media_type\":\"{MEDIA_STIX}\"}}");
    }
    b.extend_from_slice(b"]}");
    let mut r = taxii(StatusCode::OK, b);
    date_headers(&mut r, &page);
    r
}

pub(super) fn versions(c: &Collection, f: &Filters, id: &str) -> Resp {
    let page = select(c, f, Some(id), false);
    if page.objects.is_empty() {
        return taxii(StatusCode::OK, b"{\"more\":false}".to_vec());
    }
    let mut b = Vec::new();
    envelope_start(&mut b, &page, "versions");
    for (i, o) in page.objects.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        json_str(&mut b, &o.version);
    }
    b.extend_from_slice(b"]}");
    let mut r = taxii(StatusCode::OK, b);
    date_headers(&mut r, &page);
    r
}
