//! The TAXII 2.1 server: every `vendor = "stix"` list as a read-only collection, so the
//! community a team shares with polls it like any ISAC feed.
//!
//! ```text
//! GET /taxii2/                                          discovery [T §4.1]
//! GET /taxii2/api/                                      the one API root [T §4.2]
//! GET /taxii2/api/collections/                          collections the credentials can read [T §5.1]
//! GET /taxii2/api/collections/{id}/                     one collection [T §5.2]
//! GET /taxii2/api/collections/{id}/objects/             objects, paged [T §5.4]
//! GET /taxii2/api/collections/{id}/manifest/            one record per object version [T §5.3]
//! GET /taxii2/api/collections/{id}/objects/{oid}/       one object [T §5.6]
//! GET /taxii2/api/collections/{id}/objects/{oid}/versions/   its versions [T §5.8]
//! ```
//! `{id}` is the collection's id (UUIDv5 of the list name, `format/stix.rs`) or its alias (the
//! list name). Filters [T §3.4]: `added_after`, `limit` (at most [`MAX_PAGE`]), `next`,
//! `match[id]`, `match[type]`, `match[version]` (`last` by default, `first`, `all` or a
//! timestamp), `match[spec_version]`; several values of one field are ORed, fields ANDed, a bad
//! value is 400. Results are in `date_added` order; `next` is the position after the last
//! object returned (its `date_added`, version and id), so a page never repeats or skips an
//! object while the collection grows. Successful object, manifest and version responses carry
//! `X-TAXII-Date-Added-First`/`-Last` [T §3.3.1]; errors are TAXII error messages [T §3.6.1].
//! Every response is `application/taxii+json;version=2.1` [T §1.6.8]; a request whose `Accept`
//! does not allow it is 406.
//!
//! Access: a collection obeys its list's `auth`, `users`, `tokens` and `clients` exactly as
//! `/lists/NAME` does (`auth.rs`); the collection list shows only what the credentials may read,
//! and an unknown collection answers like a protected one (401 without credentials), so
//! probing does not reveal which collections exist. Discovery and the API root name no list.
//!
//! Objects arrive rendered ([`Collection`], built by the pipeline from the list's share
//! history with `format/stix.rs`): a request costs a scan of the collection's index and the
//! copy of one page.
//!
//! # Sources
//! - [T] TAXII Version 2.1, OASIS Standard, 10 June 2021, <https://docs.oasis-open.org/cti/taxii/v2.1/os/taxii-v2.1-os.html>

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;

use super::auth::{self, Presented, Verdict};
use super::{Rules, State};
use crate::config::{Access, AuthMode};
use crate::format::stix::{parse_timestamp, timestamp};
use crate::indicator::unix_now as now;

type Resp = Response<Full<Bytes>>;

/// The TAXII media type [T §1.6.8].
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX media type of the objects.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// The API root's path.
pub const API_ROOT: &str = "/taxii2/api/";
/// Most objects per page (a larger `limit` is lowered to it [T §3.4.1]).
pub const MAX_PAGE: usize = 1000;

/// One version of one object, rendered.
#[derive(Debug, Clone)]
pub struct Object {
    /// STIX id.
    pub id: String,
    /// Its `modified` (or `created`) as written: the version.
    pub version: String,
    /// The version as Unix microseconds.
    pub version_us: i64,
    /// When this version was added to the collection (TAXII `date_added`), microseconds.
    pub added: i64,
    /// The object's JSON.
    pub json: Bytes,
    first: bool,
    last: bool,
}

impl Object {
    /// A rendered version.
    pub fn new(id: String, version: String, added: i64, json: Bytes) -> Object {
        Object {
            version_us: parse_timestamp(&version).unwrap_or(0),
            id,
            version,
            added,
            json,
            first: false,
            last: false,
        }
    }

    fn kind(&self) -> &str {
        self.id.split_once("--").map_or("", |(t, _)| t)
    }

    fn key(&self) -> (i64, i64, &str) {
        (self.added, self.version_us, &self.id)
    }
}

/// One collection: a shared list's objects, every version, in `date_added` order.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The collection id (a UUID).
    pub id: String,
    /// The list's name (title and alias).
    pub title: String,
    objects: Vec<Object>,
    by_id: HashMap<String, Vec<usize>>,
}

impl Collection {
    /// A collection of these object versions (any order).
    pub fn new(id: String, title: String, mut objects: Vec<Object>) -> Collection {
        objects.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, o) in objects.iter().enumerate() {
            by_id.entry(o.id.clone()).or_default().push(i);
        }
        for idx in by_id.values() {
            let version = |i: &&usize| (objects[**i].version_us, **i);
            let first = idx.iter().min_by_key(version).copied();
            let last = idx.iter().max_by_key(version).copied();
            if let (Some(f), Some(l)) = (first, last) {
                objects[f].first = true;
                objects[l].last = true;
            }
        }
        Collection {
            id,
            title,
            objects,
            by_id,
        }
    }

    /// Number of object versions.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// A `match[version]` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionSel {
    Last,
    First,
    All,
    At(i64),
}

/// The query of a request, checked.
#[derive(Debug, Clone)]
struct Filters {
    added_after: Option<i64>,
    limit: usize,
    next: Option<(i64, i64, String)>,
    ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
    versions: Vec<VersionSel>,
    spec_versions: Option<Vec<String>>,
}

fn parse_filters(query: Option<&str>) -> Result<Filters, String> {
    let mut f = Filters {
        added_after: None,
        limit: MAX_PAGE,
        next: None,
        ids: None,
        types: None,
        versions: vec![VersionSel::Last],
        spec_versions: None,
    };
    let list = |v: &str| -> Vec<String> { v.split(',').map(|s| s.trim().to_string()).collect() };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (auth::percent_decode(k), auth::percent_decode(v));
        match k.as_str() {
            "added_after" => {
                f.added_after = Some(parse_timestamp(&v).ok_or_else(|| {
                    format!("added_after {v:?} is not a timestamp like 2026-01-01T00:00:00.000000Z")
                })?)
            }
            "limit" => {
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("limit {v:?} is not a positive integer"))?;
                f.limit = n.min(MAX_PAGE);
            }
            "next" => {
                let bad = || format!("next {v:?} is not a value this server gave");
                let mut it = v.splitn(3, '.');
                let added = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let version = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                let id = it.next().filter(|s| !s.is_empty()).ok_or_else(bad)?;
                f.next = Some((added, version, id.to_string()));
            }
            "match[id]" => f.ids = Some(list(&v)),
            "match[type]" => f.types = Some(list(&v)),
            "match[spec_version]" => f.spec_versions = Some(list(&v)),
            "match[version]" => {
                f.versions = list(&v)
                    .iter()
                    .map(|s| match s.as_str() {
                        "last" => Ok(VersionSel::Last),
                        "first" => Ok(VersionSel::First),
                        "all" => Ok(VersionSel::All),
                        t => parse_timestamp(t).map(VersionSel::At).ok_or_else(|| {
                            format!("match[version] {t:?} is not last, first, all or a timestamp")
                        }),
                    })
                    .collect::<Result<_, _>>()?;
            }
            // Other parameters are not filters of this server; ignored as TAXII allows.
            _ => {}
        }
    }
    Ok(f)
}

/// One page of a selection.
struct Page<'a> {
    objects: Vec<&'a Object>,
    more: bool,
}

impl Page<'_> {
    fn next(&self) -> Option<String> {
        let o = self.objects.last()?;
        self.more
            .then(|| format!("{}.{}.{}", o.added, o.version_us, o.id))
    }
}

/// Selects a page. `versions: false` ignores `match[version]` (the versions endpoint).
fn select<'a>(c: &'a Collection, f: &Filters, id: Option<&str>, versions: bool) -> Page<'a> {
    let keep = |o: &Object| {
        id.is_none_or(|i| o.id == i)
            && f.ids.as_ref().is_none_or(|v| v.contains(&o.id))
            && f.types
                .as_ref()
                .is_none_or(|v| v.iter().any(|t| t == o.kind()))
            && f.spec_versions
                .as_ref()
                .is_none_or(|v| v.iter().any(|s| s == "2.1"))
            && f.added_after.is_none_or(|t| o.added > t)
            && (!versions
                || f.versions.iter().any(|s| match s {
                    VersionSel::Last => o.last,
                    VersionSel::First => o.first,
                    VersionSel::All => true,
                    VersionSel::At(t) => o.version_us == *t,
                }))
    };
    let mut out = Vec::new();
    let mut more = false;
    let mut visit = |o: &'a Object| -> bool {
        if !keep(o) {
            return true;
        }
        if out.len() == f.limit {
            more = true;
            return false;
        }
        out.push(o);
        true
    };
    match id {
        // One object: its few versions, through the index.
        Some(i) => {
            for &k in c.by_id.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                let o = &c.objects[k];
                if f.next
                    .as_ref()
                    .is_some_and(|(a, v, n)| o.key() <= (*a, *v, n.as_str()))
                {
                    continue;
                }
                if !visit(o) {
                    break;
                }
            }
        }
        None => {
            let start = match &f.next {
                Some((a, v, n)) => c
                    .objects
                    .partition_point(|o| o.key() <= (*a, *v, n.as_str())),
                None => match f.added_after {
                    Some(t) => c.objects.partition_point(|o| o.added <= t),
                    None => 0,
                },
            };
            for o in &c.objects[start..] {
                if !visit(o) {
                    break;
                }
            }
        }
    }
    Page { objects: out, more }
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn taxii(code: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TAXII));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A TAXII error message [T §3.6.1].
fn error(code: StatusCode, title: &str, description: &str) -> Resp {
    let mut b = Vec::new();
    b.extend_from_slice(b"{\"title\":");
    json_str(&mut b, title);
    b.extend_from_slice(b",\"description\":");
    json_str(&mut b, description);
    let _ = write!(b, ",\"http_status\":\"{}\"}}", code.as_u16());
    taxii(code, b)
}

/// 429 for an address that used up its failed-login budget (a TAXII error body), counted and
/// logged like the same refusal on `/lists/`.
fn throttled(state: &State, ip: std::net::IpAddr, what: &str, wait: std::time::Duration) -> Resp {
    state.login_throttled(ip, what);
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "too many failed logins from this address; try again later",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(auth::retry_after_secs(wait)),
    );
    r
}

fn challenge(basic: bool) -> Resp {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "Authentication required",
        "send HTTP basic credentials or a bearer token of a user of this collection's list",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(if basic {
            "Basic realm=\"edlforge\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"edlforge\""
        }),
    );
    r
}

fn not_found() -> Resp {
    error(
        StatusCode::NOT_FOUND,
        "Not found",
        "no such TAXII resource here",
    )
}

/// Whether the `Accept` header allows the TAXII 2.1 media type [T §1.6.8.1].
fn acceptable(accept: Option<&str>) -> bool {
    let Some(a) = accept else { return true };
    a.split(',').any(|r| {
        let mut parts = r.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("").to_ascii_lowercase();
        let params: Vec<String> = parts
            .filter(|p| !p.to_ascii_lowercase().starts_with("q="))
            .map(|p| p.replace(' ', "").to_ascii_lowercase())
            .collect();
        match ty.as_str() {
            "*/*" | "application/*" => true,
            "application/taxii+json" => params.iter().all(|p| p == "version=2.1"),
            _ => false,
        }
    })
}

/// The outcome of the access check of one collection.
enum Gate<'a> {
    Open(&'a str),
    Refused(Resp),
}

async fn gate<'a, B>(
    req: &Request<B>,
    peer: SocketAddr,
    state: &State,
    rules: &Rules,
    list: &str,
    access: &'a Access,
) -> Gate<'a> {
    let headers = req.headers();
    let presented = Presented::read(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        None,
    );
    let xff = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = auth::client_ip(peer.ip(), xff, &rules.trusted_proxies);
    // The same failed-login budget as `/lists/` (per address, across lists and connections):
    // while an address has none left its credentials are not checked at all.
    let client = match auth::check(access, &presented) {
        Verdict::Allowed(c) if access.auth == AuthMode::None => c,
        Verdict::Missing => {
            state.record_refusal(list, now());
            return Gate::Refused(challenge(access.auth == AuthMode::Basic));
        }
        _ => match state
            .limiter
            .attempt(ip, || match auth::check(access, &presented) {
                Verdict::Allowed(c) => Some(c),
                Verdict::Missing | Verdict::Wrong => None,
            }) {
            Ok(Some(c)) => c,
            Ok(None) => {
                state.record_refusal(list, now());
                state.login_failed(ip, list);
                return Gate::Refused(challenge(access.auth == AuthMode::Basic));
            }
            Err(wait) => return Gate::Refused(throttled(state, ip, list, wait)),
        },
    };
    if !auth::allowed(ip, &access.clients) {
        tracing::warn!(list = %list, peer = %ip, "Client address not in the list's clients.");
        return Gate::Refused(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this address may not read this collection",
        ));
    }
    Gate::Open(client)
}

/// Answers one request under `/taxii2/` (the caller has checked method and body).
pub(super) async fn route<B>(
    req: &Request<B>,
    peer: SocketAddr,
    state: &State,
    rules: &Rules,
) -> Resp {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if !acceptable(accept) {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            "this server answers application/taxii+json;version=2.1",
        );
    }
    let path = req.uri().path();
    let rest = path.strip_prefix("/taxii2").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [] => discovery(),
        ["api"] => api_root(),
        ["api", "collections"] => collections(req, peer, state, rules).await,
        ["api", "collections", cid, tail @ ..] => {
            let cols = state.taxii.load();
            let found = cols
                .iter()
                .find(|(name, c)| c.id == *cid || name.as_str() == *cid)
                .and_then(|(name, c)| rules.lists.get(name).map(|a| (name.clone(), c.clone(), a)));
            let Some((name, c, access)) = found else {
                let presented = Presented::read(
                    req.headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok()),
                    None,
                );
                let protected = rules.lists.values().any(|a| a.auth != AuthMode::None);
                return if !presented.any() && protected {
                    challenge(rules.lists.values().any(|a| a.auth == AuthMode::Basic))
                } else {
                    not_found()
                };
            };
            let client = match gate(req, peer, state, rules, &name, access).await {
                Gate::Open(c) => c,
                Gate::Refused(r) => return r,
            };
            let filters = match parse_filters(req.uri().query()) {
                Ok(f) => f,
                Err(e) => return error(StatusCode::BAD_REQUEST, "Bad filter", &e),
            };
            let r = match tail {
                [] => {
                    let mut b = Vec::new();
                    write_collection(&mut b, &c);
                    taxii(StatusCode::OK, b)
                }
                ["objects"] => objects(&c, &filters, None),
                ["manifest"] => manifest(&c, &filters),
                ["objects", oid] => {
                    if !c.by_id.contains_key(*oid) {
                        return not_found();
                    }
                    objects(&c, &filters, Some(oid))
                }
                ["objects", oid, "versions"] => {
                    if !c.by_id.contains_key(*oid) {
                        return not_found();
                    }
                    versions(&c, &filters, oid)
                }
                _ => return not_found(),
            };
            state.record_poll(&name, client, now());
            r
        }
        _ => not_found(),
    }
}

fn discovery() -> Resp {
    let body = format!(
        r#"{{"title":"edlforge","description":"Shared lists of this edlforge server, as STIX 2.1 indicators.","default":"{API_ROOT}","api_roots":["{API_ROOT}"]}}"#
    );
    taxii(StatusCode::OK, body.into_bytes())
}

fn api_root() -> Resp {
    let body = format!(
        r#"{{"title":"edlforge shared lists","versions":["{MEDIA_TAXII}"],"max_content_length":0}}"#
    );
    taxii(StatusCode::OK, body.into_bytes())
}

fn write_collection(b: &mut Vec<u8>, c: &Collection) {
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

async fn collections<B>(req: &Request<B>, peer: SocketAddr, state: &State, rules: &Rules) -> Resp {
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

fn objects(c: &Collection, f: &Filters, id: Option<&str>) -> Resp {
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

fn manifest(c: &Collection, f: &Filters) -> Resp {
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

fn versions(c: &Collection, f: &Filters, id: &str) -> Resp {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: &str, version_us: i64, added: i64) -> Object {
        Object::new(
            id.to_string(),
            timestamp(version_us),
            added,
            Bytes::from(format!("{{\"id\":\"{id}\"}}")),
        )
    }

    fn coll() -> Collection {
        Collection::new(
            "c".into(),
            "l".into(),
            vec![
                obj("indicator--b", 10, 10),
                obj("indicator--a", 10, 10),
                obj("identity--x", 1, 10),
                obj("indicator--a", 20, 20),
                obj("indicator--c", 30, 30),
            ],
        )
    }

    fn ids(p: &Page<'_>) -> Vec<(String, i64)> {
        p.objects
            .iter()
            .map(|o| (o.id.clone(), o.version_us))
            .collect()
    }

    #[test]
    fn default_is_last_version_in_date_added_order() {
        let c = coll();
        let f = parse_filters(None).unwrap();
        let p = select(&c, &f, None, true);
        assert_eq!(
            ids(&p),
            [
                ("identity--x".to_string(), 1),
                ("indicator--b".to_string(), 10),
                ("indicator--a".to_string(), 20),
                ("indicator--c".to_string(), 30)
            ]
        );
        assert!(!p.more);
    }

    #[test]
    fn paging_visits_everything_once() {
        let c = coll();
        let mut f = parse_filters(Some("limit=1&match%5Bversion%5D=all")).unwrap();
        let mut seen = Vec::new();
        loop {
            let p = select(&c, &f, None, true);
            seen.extend(ids(&p));
            match p.next() {
                Some(n) => {
                    f = parse_filters(Some(&format!("limit=1&match[version]=all&next={n}")))
                        .unwrap()
                }
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn filters() {
        let c = coll();
        let sel = |q: &str| ids(&select(&c, &parse_filters(Some(q)).unwrap(), None, true));
        let t = timestamp(10);
        assert_eq!(
            sel(&format!("added_after={t}")),
            [
                ("indicator--a".to_string(), 20),
                ("indicator--c".to_string(), 30)
            ]
        );
        assert_eq!(
            sel("match[type]=identity"),
            [("identity--x".to_string(), 1)]
        );
        assert_eq!(
            sel("match[id]=indicator--a&match[version]=first"),
            [("indicator--a".to_string(), 10)]
        );
        assert_eq!(
            sel(&format!(
                "match[id]=indicator--a&match[version]={}",
                timestamp(20)
            )),
            [("indicator--a".to_string(), 20)]
        );
        assert_eq!(sel("match[spec_version]=2.0"), []);
        let after_all = timestamp(30);
        assert_eq!(sel(&format!("added_after={after_all}")), []);
    }

    #[test]
    fn bad_filters_are_refused() {
        for q in [
            "limit=0",
            "limit=x",
            "added_after=yesterday",
            "match[version]=newest",
            "next=garbage",
        ] {
            assert!(parse_filters(Some(q)).is_err(), "{q}");
        }
    }

    #[test]
    fn accept_header() {
        assert!(acceptable(None));
        assert!(acceptable(Some("application/taxii+json;version=2.1")));
        assert!(acceptable(Some("application/taxii+json; version=2.1")));
        assert!(acceptable(Some("application/taxii+json")));
        assert!(acceptable(Some("*/*")));
        assert!(!acceptable(Some("application/taxii+json;version=2.0")));
        assert!(!acceptable(Some("text/html")));
    }
}
