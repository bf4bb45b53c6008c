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
//!
//! Files by role: this one routes a request (content negotiation, path, then the collection's
//! access check and filters) and builds TAXII responses and error messages; `collection.rs`
//! holds the rendered objects ([`Collection`], [`Object`]); `filter.rs` parses the filters and
//! selects a page; `access.rs` checks a collection's credentials and client addresses;
//! `endpoints.rs` writes each resource's body.

mod access;
mod collection;
mod endpoints;
mod filter;

use std::io::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;

use super::auth::Presented;
use super::{Rules, State};
use crate::config::AuthMode;
use crate::indicator::unix_now as now;
use access::{challenge, gate, Gate};
pub use collection::{Collection, Object};
use endpoints::{api_root, collections, discovery, manifest, objects, versions, write_collection};
use filter::parse_filters;

type Resp = Response<Full<Bytes>>;

/// The TAXII media type [T §1.6.8].
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX media type of the objects.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// The API root's path.
pub const API_ROOT: &str = "/taxii2/api/";
/// Most objects per page (a larger `limit` is lowered to it [T §3.4.1]).
pub const MAX_PAGE: usize = 1000;

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

fn not_found() -> Resp {
    error(
        StatusCode::NOT_FOUND,
        "Not found",
        "no such TAXII resource here",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
