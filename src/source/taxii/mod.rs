//! TAXII 2.1 client: one poll of one collection, from the source's URL to converted indicators.
//!
//! [`poll`] walks discovery → API root when the URL is a discovery URL (the `default` API root,
//! else the first), checks the collection (by id with `collections/{id}/`; by title or alias,
//! or an unknown id, through the `collections/` list), then GETs
//! `{api-root}/collections/{id}/objects/` with `added_after` (the stored position, else now
//! minus `initial_lookback`, else nothing: the whole collection), `limit` and
//! `match[type]=indicator`, following `more`/`next` and repeating the whole query on every
//! follow-up page (medallion answers 400 otherwise). Every request sends
//! `Accept: application/taxii+json;version=2.1`. The objects are converted by [`stix`].
//!
//! The new position is the last page's `X-TAXII-Date-Added-Last`, returned in [`Poll::cursor`]
//! for the caller to persist only when the whole poll was accepted. An indicator whose
//! `valid_from` is still in the future does not hold the position back: it comes back as a
//! pending version ([`stix::Version::starts`]), which the store keeps by id and activates at
//! the first compile after its start, with no new poll. Any failure (transport, a TAXII error status, a body that is not a TAXII envelope) is
//! a [`TaxiiError`] naming the source, the URL (redacted), the status, the server's error
//! `title`/`description`, and what to do; nothing of a failed poll is returned.
//!
//! Left to others: HTTP, TLS, auth, retries and the body limit ([`super::http::Fetcher`]);
//! merging the delta into the store and the cursor's persistence (`pipeline`, `store`).

pub mod stix;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde_json::Value as Json;
use url::Url;

use self::stix::{Converted, Envelope, Paging};
use super::http::{redact_url, ApiResponse, FetchError, Fetcher, HttpRequest};

/// The media type every TAXII 2.1 request accepts.
pub const TAXII_ACCEPT: &str = "application/taxii+json;version=2.1";
/// Most pages one poll follows (a server that never ends its `more` is stopped here).
pub const MAX_PAGES: u32 = 100_000;

/// One poll of one collection.
#[derive(Debug, Clone)]
pub struct TaxiiRequest {
    /// The API root or discovery URL in `url`, with the source's name, auth, TLS, proxy,
    /// timeout, retries and body limit (per page).
    pub http: HttpRequest,
    /// Collection id, alias or title.
    pub collection: String,
    /// TAXII `limit` per page.
    pub page_size: u32,
    /// How far back a poll without a stored position reaches; `None`: everything.
    pub initial_lookback: Option<Duration>,
}

/// What one successful poll gave.
#[derive(Debug, Clone, Default)]
pub struct Poll {
    /// The indicators, withdrawals and skips of every page.
    pub converted: Converted,
    /// The position to store for the next poll (see [`Cursor`]); `None` = keep the stored one
    /// (nothing new, or the server sent no `X-TAXII-Date-Added-Last`).
    pub cursor: Option<String>,
    /// Pages fetched.
    pub pages: u32,
    /// Objects received (all types).
    pub objects: u64,
    /// The objects URL polled (redacted).
    pub objects_url: String,
}

/// Why a poll failed. `Display` names the source, the URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    /// The transport failed (connect, TLS, timeout, 5xx after retries, too large, ...).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The server answered with an error status.
    #[error("source {source_name:?}: {url}: TAXII server answered HTTP {status}{}; {}", detail(.title, .description), status_hint(*.status))]
    Status {
        /// The source's name.
        source_name: String,
        /// The URL that answered (redacted).
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error message's `title`, when the body is a TAXII error message.
        title: Option<String>,
        /// The error message's `description`.
        description: Option<String>,
    },
    /// The body is not the TAXII resource expected.
    #[error("source {source_name:?}: {url}: not a TAXII 2.1 {expected} ({problem}); check that url is a TAXII 2.1 API root or discovery URL")]
    Body {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The resource expected: `discovery or API root`, `collections list`, `envelope`.
        expected: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// No collection has that id, alias or title.
    #[error("source {source_name:?}: {url}: no readable collection with id, alias or title {collection:?}; the server offers: {}", available_list(.available))]
    NoCollection {
        /// The source's name.
        source_name: String,
        /// The collections URL (redacted).
        url: String,
        /// What the config asked for.
        collection: String,
        /// `title (id)` of each collection offered.
        available: Vec<String>,
    },
    /// The collection exists but the credentials may not read it.
    #[error("source {source_name:?}: {url}: collection {collection:?} is not readable with these credentials (can_read is false); ask the provider for read access")]
    NotReadable {
        /// The source's name.
        source_name: String,
        /// The collections URL (redacted).
        url: String,
        /// The collection.
        collection: String,
    },
    /// The server keeps saying `more` without a way to get it.
    #[error("source {source_name:?}: {url}: the server says more objects follow but gives neither next nor X-TAXII-Date-Added-Last (or over {MAX_PAGES} pages); report it to the provider")]
    Paging {
        /// The source's name.
        source_name: String,
        /// The objects URL (redacted).
        url: String,
    },
}

impl TaxiiError {
    /// A bounded label for metrics: the transport's reason, or `taxii_status`, `taxii_body`,
    /// `taxii_collection`, `taxii_paging`.
    pub fn reason(&self) -> &'static str {
        match self {
            TaxiiError::Fetch(e) => e.reason(),
            TaxiiError::Status { .. } => "taxii_status",
            TaxiiError::Body { .. } => "taxii_body",
            TaxiiError::NoCollection { .. } | TaxiiError::NotReadable { .. } => "taxii_collection",
            TaxiiError::Paging { .. } => "taxii_paging",
        }
    }
}

fn detail(title: &Option<String>, description: &Option<String>) -> String {
    match (title, description) {
        (Some(t), Some(d)) => format!(" ({t}: {d})"),
        (Some(x), None) | (None, Some(x)) => format!(" ({x})"),
        (None, None) => String::new(),
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 => "the server refused the credentials: check username/password, bearer_token or headers",
        403 => "these credentials may not read this resource: ask the provider for access to the collection",
        404 => "check url (API root or discovery URL) and collection; some servers also answer 404 to bad credentials",
        406 => "the server does not serve TAXII 2.1 (Accept: application/taxii+json;version=2.1); it may be a TAXII 2.0 or 1.x server",
        416 => "the server refused the requested range; check page_size",
        400 => "the server did not understand the query; check page_size and the stored position (delete the source's state to start over)",
        _ => "check url and the source settings",
    }
}

fn available_list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

struct Client<'a> {
    fetcher: &'a Fetcher,
    base: &'a TaxiiRequest,
}

impl Client<'_> {
    fn source(&self) -> String {
        self.base.http.source.clone()
    }

    async fn get(&self, url: &str) -> Result<ApiResponse, TaxiiError> {
        let mut req = self.base.http.clone();
        req.url = url.to_string();
        req.headers.push(("Accept".into(), TAXII_ACCEPT.into()));
        let r = self.fetcher.fetch_api(&req).await?;
        if !(200..=299).contains(&r.status) {
            let body: Option<Json> = serde_json::from_slice(&r.body).ok();
            let field = |k: &str| {
                body.as_ref()
                    .and_then(|b| b.get(k))
                    .and_then(Json::as_str)
                    .map(|s| s.chars().take(300).collect::<String>())
            };
            return Err(TaxiiError::Status {
                source_name: self.source(),
                url: r.url.clone(),
                status: r.status,
                title: field("title"),
                description: field("description"),
            });
        }
        Ok(r)
    }

    /// GETs a page of objects and reads only its paging fields (`more`, `next`): the objects
    /// are checked to be JSON and skipped, to be converted by [`convert_page`] on a blocking
    /// thread while the next page downloads.
    async fn get_page(&self, url: &str) -> Result<(Paging, ApiResponse), TaxiiError> {
        let r = self.get(url).await?;
        let paging: Paging =
            serde_json::from_slice(&r.body).map_err(|e| envelope_error(self.source(), &r, &e))?;
        Ok((paging, r))
    }

    async fn get_json(
        &self,
        url: &str,
        expected: &'static str,
    ) -> Result<(Json, ApiResponse), TaxiiError> {
        let r = self.get(url).await?;
        let bad = |problem: String| TaxiiError::Body {
            source_name: self.source(),
            url: r.url.clone(),
            expected,
            problem,
        };
        let json: Json = serde_json::from_slice(&r.body).map_err(|e| {
            let ct = r.header("content-type").unwrap_or("no Content-Type");
            bad(format!("{ct}, not JSON: {e}"))
        })?;
        if !json.is_object() {
            return Err(bad("a JSON value that is not an object".into()));
        }
        Ok((json, r))
    }

    /// The API root URL (with a trailing `/`).
    async fn api_root(&self) -> Result<Url, TaxiiError> {
        let url = with_slash(&self.base.http.url);
        let (doc, r) = self.get_json(&url, "discovery or API root").await?;
        let bad = |problem: &str| TaxiiError::Body {
            source_name: self.source(),
            url: r.url.clone(),
            expected: "discovery or API root",
            problem: problem.to_string(),
        };
        let here = Url::parse(&url).map_err(|_| bad("the URL does not parse"))?;
        let Some(roots) = doc.get("api_roots") else {
            // Not a discovery resource: the URL is the API root itself.
            return Ok(here);
        };
        let roots: Vec<&str> = roots
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let chosen = doc
            .get("default")
            .and_then(Json::as_str)
            .or_else(|| roots.first().copied())
            .ok_or_else(|| bad("the discovery resource lists no api_roots"))?;
        let root = here
            .join(chosen)
            .map_err(|_| bad("an api_roots entry is not a URL"))?;
        Ok(Url::parse(&with_slash(root.as_str())).unwrap_or(root))
    }

    /// The id of the configured collection. An id is checked with the one collection's
    /// resource (`collections/{id}/`); a title or alias, or an id that answers 404, by the list.
    async fn collection_id(&self, root: &Url) -> Result<String, TaxiiError> {
        let want = self.base.collection.as_str();
        if looks_like_uuid(want) {
            let url = format!("{}collections/{want}/", with_slash(root.as_str()));
            match self.get_json(&url, "collection").await {
                Ok((c, r)) => {
                    if c.get("can_read").and_then(Json::as_bool) == Some(false) {
                        return Err(TaxiiError::NotReadable {
                            source_name: self.source(),
                            url: r.url.clone(),
                            collection: want.to_string(),
                        });
                    }
                    return Ok(want.to_string());
                }
                Err(TaxiiError::Status { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let url = format!("{}collections/", with_slash(root.as_str()));
        let (doc, r) = self.get_json(&url, "collections list").await?;
        let list = doc
            .get("collections")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let text = |c: &Json, k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
        let hit = list
            .iter()
            .find(|c| {
                text(c, "id").as_deref() == Some(want) || text(c, "alias").as_deref() == Some(want)
            })
            .or_else(|| {
                list.iter()
                    .find(|c| text(c, "title").as_deref() == Some(want))
            });
        let Some(c) = hit else {
            return Err(TaxiiError::NoCollection {
                source_name: self.source(),
                url: r.url.clone(),
                collection: want.to_string(),
                available: list
                    .iter()
                    .map(|c| {
                        format!(
                            "{:?} ({})",
                            text(c, "title").unwrap_or_default(),
                            text(c, "id").unwrap_or_default()
                        )
                    })
                    .collect(),
            });
        };
        if c.get("can_read").and_then(Json::as_bool) == Some(false) {
            return Err(TaxiiError::NotReadable {
                source_name: self.source(),
                url: r.url.clone(),
                collection: want.to_string(),
            });
        }
        text(c, "id").ok_or_else(|| TaxiiError::Body {
            source_name: self.source(),
            url: r.url.clone(),
            expected: "collections list",
            problem: "a collection without an id".into(),
        })
    }
}

/// A stored position: the `added_after` timestamp and the objects URL it belongs to, written as
/// `<timestamp> <objects URL>`, so a position is never used for another collection or server
/// (after `url` or `collection` changed in the config, the next poll starts over, bounded by
/// `initial_lookback`). A bare timestamp is taken for the current collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The TAXII timestamp for `added_after`, as the server wrote it.
    pub added_after: String,
    /// The objects URL, when known.
    pub objects_url: Option<String>,
}

impl Cursor {
    /// Reads a stored position.
    pub fn parse(stored: &str) -> Cursor {
        match stored.split_once(' ') {
            Some((ts, url)) => Cursor {
                added_after: ts.to_string(),
                objects_url: Some(url.to_string()),
            },
            None => Cursor {
                added_after: stored.to_string(),
                objects_url: None,
            },
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.objects_url {
            Some(u) => write!(f, "{} {u}", self.added_after),
            None => f.write_str(&self.added_after),
        }
    }
}

/// Polls the collection once: every page of objects added after `cursor` (a position a
/// previous poll returned, see [`Cursor`]), converted at time `now` (Unix seconds).
///
/// # Errors
/// A [`TaxiiError`]; nothing of a failed poll is returned, so the caller keeps its data and
/// its position.
pub async fn poll(
    fetcher: &Fetcher,
    req: &TaxiiRequest,
    cursor: Option<&str>,
    now: i64,
) -> Result<Poll, TaxiiError> {
    if req.http.url.starts_with("http://") && first_warning(&req.http.source, &req.http.url) {
        tracing::warn!(
            source = %req.http.source,
            url = %redact_url(&req.http.url),
            "TAXII source over plain http://: credentials and indicators travel in clear; use https:// outside test setups."
        );
    }
    let client = Client { fetcher, base: req };
    let root = client.api_root().await?;
    let id = client.collection_id(&root).await?;
    let objects_url = format!(
        "{}collections/{}/objects/",
        with_slash(root.as_str()),
        url_segment(&id)
    );
    let cursor = cursor.map(Cursor::parse).filter(|c| {
        let same = c.objects_url.as_deref().is_none_or(|u| u == objects_url);
        if !same {
            tracing::info!(
                source = %req.http.source,
                "The stored TAXII position belongs to another collection URL; starting over."
            );
        }
        same
    });
    let start: Option<String> = match (cursor, req.initial_lookback) {
        (Some(c), _) => Some(c.added_after),
        (None, Some(back)) => Some(taxii_timestamp(
            now.saturating_sub(i64::try_from(back.as_secs()).unwrap_or(i64::MAX)),
        )),
        (None, None) => None,
    };
    let mut added_after = start.clone();
    let mut next: Option<String> = None;
    let mut out = Poll {
        objects_url: redact_url(&objects_url),
        ..Poll::default()
    };
    // Pages being converted, in order.
    let mut converting: VecDeque<tokio::task::JoinHandle<PageResult>> = VecDeque::new();
    let mut merged = Merged::default();
    let mut position = start.clone();
    loop {
        if out.pages >= MAX_PAGES {
            return Err(TaxiiError::Paging {
                source_name: req.http.source.clone(),
                url: out.objects_url.clone(),
            });
        }
        let mut url = Url::parse(&objects_url).map_err(|_| TaxiiError::Body {
            source_name: req.http.source.clone(),
            url: out.objects_url.clone(),
            expected: "envelope",
            problem: "the objects URL does not parse".into(),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(a) = &added_after {
                q.append_pair("added_after", a);
            }
            q.append_pair("limit", &req.page_size.to_string());
            q.append_pair("match[type]", "indicator");
            if let Some(n) = &next {
                q.append_pair("next", n);
            }
        }
        let (paging, r) = client.get_page(url.as_str()).await?;
        out.pages += 1;
        let last = r.header("x-taxii-date-added-last").map(str::to_string);
        // Converted on a blocking thread while the next page downloads; at most a few pages
        // wait, so memory stays bounded by a few bodies.
        let source = client.source();
        converting.push_back(tokio::task::spawn_blocking(move || {
            convert_page(source, r, now)
        }));
        if converting.len() > MAX_PAGES_CONVERTING {
            if let Some(task) = converting.pop_front() {
                merged
                    .join(task, &req.http.source, &out.objects_url)
                    .await?;
            }
        }
        if last.is_some() {
            position = last.clone();
        }
        match (paging.more.unwrap_or(false), paging.next, last) {
            (false, ..) => break,
            (true, Some(n), _) => next = Some(n),
            (true, None, Some(last)) => {
                next = None;
                added_after = Some(last);
            }
            (true, None, None) => {
                return Err(TaxiiError::Paging {
                    source_name: req.http.source.clone(),
                    url: out.objects_url.clone(),
                })
            }
        }
    }
    while let Some(task) = converting.pop_front() {
        merged
            .join(task, &req.http.source, &out.objects_url)
            .await?;
    }
    out.objects = merged.objects;
    out.converted = merged.converted;
    out.cursor = match position {
        Some(ts) if Some(&ts) != start.as_ref() => Some(
            Cursor {
                added_after: ts,
                objects_url: Some(objects_url),
            }
            .to_string(),
        ),
        _ => None,
    };
    Ok(out)
}

/// Pages converted at once while the next one downloads (each holds one page's body).
const MAX_PAGES_CONVERTING: usize = 4;

/// One page converted, or why its body is not an envelope.
type PageResult = Result<(Converted, u64), TaxiiError>;

/// Reads a page's objects and converts its indicators at time `now` (on a blocking thread).
fn convert_page(source: String, r: ApiResponse, now: i64) -> PageResult {
    let env: Envelope =
        serde_json::from_slice(&r.body).map_err(|e| envelope_error(source, &r, &e))?;
    let objects = env.objects.unwrap_or_default();
    let count = objects.len() as u64;
    // Only indicators are converted; the rest is dropped as soon as it is read.
    Ok((stix::convert_objects(&objects, now), count))
}

/// Why a body is not a TAXII envelope, for people.
fn envelope_error(source_name: String, r: &ApiResponse, e: &serde_json::Error) -> TaxiiError {
    let ct = r.header("content-type").unwrap_or("no Content-Type");
    TaxiiError::Body {
        source_name,
        url: r.url.clone(),
        expected: "envelope",
        problem: if e.is_data() {
            format!("JSON that is not an envelope of objects: {e}")
        } else {
            format!("{ct}, not JSON: {e}")
        },
    }
}

/// The pages of one poll, added in page order. An id on several pages keeps each version: the
/// store's indicator index applies them in order and keeps the newest (`store::apply_delta`).
#[derive(Default)]
struct Merged {
    converted: Converted,
    /// Objects received (all types).
    objects: u64,
}

impl Merged {
    /// Waits for a page's conversion and adds it.
    async fn join(
        &mut self,
        task: tokio::task::JoinHandle<PageResult>,
        source_name: &str,
        url: &str,
    ) -> Result<(), TaxiiError> {
        let (page, objects) = task.await.map_err(|e| TaxiiError::Body {
            source_name: source_name.to_string(),
            url: url.to_string(),
            expected: "envelope",
            problem: format!("converting a page failed: {e}"),
        })??;
        self.objects += objects;
        let c = &mut self.converted;
        c.report.merge(&page.report);
        c.indicators_seen += page.indicators_seen;
        c.versions.extend(page.versions);
        Ok(())
    }
}

/// True the first time this process sees `(source, url)`: the plain-`http://` warning is said
/// once per source and URL, not on every poll (a server polls every few minutes for months).
fn first_warning(source: &str, url: &str) -> bool {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let mut seen = match SEEN.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if seen.iter().any(|(s, u)| s == source && u == url) {
        return false;
    }
    seen.push((source.to_string(), url.to_string()));
    true
}

/// `8-4-4-4-12` hex digits: a TAXII collection id (UUID), never a title.
fn looks_like_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_string()
    } else {
        format!("{u}/")
    }
}

/// A collection id as one path segment (ids are UUIDs; anything else is percent-encoded).
fn url_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Unix seconds as a TAXII timestamp: `YYYY-MM-DDTHH:MM:SS.000000Z` (UTC, microseconds).
pub fn taxii_timestamp(secs: i64) -> String {
    crate::indicator::time::rfc3339_micros(secs.saturating_mul(1_000_000))
}

impl fmt::Display for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} page(s), {} object(s), {} indicator value(s), {} withdrawn",
            self.pages,
            self.objects,
            self.converted.active().count(),
            self.converted.withdrawn().count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(taxii_timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            taxii_timestamp(1_795_000_000),
            "2026-11-18T11:06:40.000000Z"
        );
        let t = taxii_timestamp(1_795_000_000);
        assert_eq!(crate::source::parse::rfc3339(&t), Some(1_795_000_000));
    }

    #[test]
    fn error_messages_name_source_url_status_and_fix() {
        let e = TaxiiError::Status {
            source_name: "isac".into(),
            url: "http://127.0.0.1:5000/taxii2/".into(),
            status: 401,
            title: Some("Unauthorized".into()),
            description: None,
        };
        assert_eq!(
            e.to_string(),
            "source \"isac\": http://127.0.0.1:5000/taxii2/: TAXII server answered HTTP 401 (Unauthorized); the server refused the credentials: check username/password, bearer_token or headers"
        );
        assert_eq!(e.reason(), "taxii_status");
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor::parse("2026-01-10T08:14:00.000000Z http://h/api1/collections/x/objects/");
        assert_eq!(c.added_after, "2026-01-10T08:14:00.000000Z");
        assert_eq!(Cursor::parse(&c.to_string()), c);
        assert_eq!(Cursor::parse("2026-01-10T08:14:00Z").objects_url, None);
    }

    #[test]
    fn the_plain_http_warning_is_said_once_per_source_and_url() {
        assert!(first_warning("w-test", "http://a/"));
        assert!(!first_warning("w-test", "http://a/"));
        assert!(first_warning("w-test", "http://b/"));
        assert!(first_warning("w-test2", "http://a/"));
    }

    #[test]
    fn uuids() {
        assert!(looks_like_uuid("91a7b528-80eb-42ed-a74d-c6fbd5a26116"));
        assert!(!looks_like_uuid("High Value Indicators"));
        assert!(!looks_like_uuid("91a7b528-80eb-42ed-a74d-c6fbd5a2611"));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(
            url_segment("91a7b528-80eb-42ed-a74d-c6fbd5a26116"),
            "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
        );
        assert_eq!(url_segment("a b/c"), "a%20b%2Fc");
    }
}
