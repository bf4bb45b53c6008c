//! HTTP(S) transport: one feed URL in, its body bytes (or "not modified") out.
//!
//! [`Fetcher::fetch`] sends a GET with the source's credentials, client certificate, CA bundle
//! and proxy, conditional headers from the last accepted fetch, and returns the body read
//! incrementally under a size limit. It retries transient failures (connect errors, timeouts,
//! 5xx, 429) with jittered exponential backoff. Every error is a [`FetchError`] that names the
//! source, the URL and what to do, plus a bounded [`FetchError::reason`] label for metrics.
//!
//! What it leaves to others: decompressing `.gz` / `.zip` *files* ([`super::decode::decode_body`],
//! which the caller runs on the body afterwards — `Content-Encoding: gzip` is undone here, in
//! transit), warning about `http://` URLs, keeping the last good set when a fetch fails, and
//! parsing the bytes.
//!
//! Why some of this is hand-written rather than left to reqwest:
//! - **Redirects** are followed here (reqwest's policy is off) so that an `https` → `http`
//!   downgrade is refused, and so that credentials — including custom API-key headers, which
//!   reqwest would forward — are sent only to the origin the source names (curl's rule).
//! - **Retries**: reqwest 0.13's retry policy replays only protocol-level refusals by default
//!   and has no backoff or `Retry-After`; we need status and timeout based retries, jittered
//!   backoff, `Retry-After` and a bound on every wait.
//! - **Body limit**: reqwest has no capped body read; [`reqwest::Response::chunk`] in a loop
//!   fails as soon as the limit is passed, so a huge or endless body is never held in memory.
//! - **Truncation**: a body cut short before its `Content-Length` must be an error, never a
//!   shorter list (a shorter list silently unblocks whatever was in the missing part).
//!
//! TLS is rustls with the *ring* provider, the one provider of the whole tree
//! ([`ensure_crypto_provider`]); server certificates are checked against the OS trust store
//! (rustls-platform-verifier) plus the source's `ca_file`.
//!
//! Files by role: this one is the entry ([`Fetcher`]: per-host limit, retries and backoff,
//! `Retry-After`); `request.rs` the request and answer types; `client.rs` the cached client per
//! TLS/proxy configuration (CA bundle, client certificate, proxy); `attempt.rs` one attempt
//! (headers and credentials, conditional GET, redirects, status); `body.rs` the capped body
//! read and its truncation and decode errors; `error.rs` [`FetchError`] and its hints.

mod attempt;
mod body;
mod client;
mod error;
mod request;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{self, HeaderMap};
use tokio::sync::Semaphore;
use url::Url;

use attempt::{parse_url, Failure, Prepared};
use client::{CachedClient, ClientKey};
pub use error::{FetchError, RedirectProblem};
use request::Got;
pub use request::{ApiResponse, HttpOutcome, HttpRequest};

/// Default for [`HttpRequest::timeout`]: one attempt, connect to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for [`HttpRequest::retries`].
pub const DEFAULT_RETRIES: u32 = 2;
/// Default for [`HttpRequest::max_body`]: 256 MiB.
pub const DEFAULT_MAX_BODY: u64 = 256 << 20;
/// How many redirects one attempt follows before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// The longest `Retry-After` honoured; a server asking for longer is not retried at once (the
/// next scheduled refresh will try again).
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);
/// First backoff step; attempt `n` waits between half and all of `BACKOFF_BASE × 2^n`.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// Installs rustls' *ring* crypto provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider`, so a provider must be installed before the first
/// client is built, and the whole tree (this fetcher, the server's TLS) must use the same one.
/// If another provider was installed first, that one stays (the `Err` is ignored on purpose).
/// [`Fetcher::new`] calls this; calling it again is free.
pub fn ensure_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `url` with any password and every query value replaced by `***` (API keys often ride in
/// query strings, and these URLs land in logs, errors and the status page); unparseable input
/// is returned as is.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                // Cannot fail: a URL with a password has a host.
                let _ = u.set_password(Some("***"));
            }
            if u.query().is_some_and(|q| !q.is_empty()) {
                let names: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
                let q = names
                    .iter()
                    .map(|k| format!("{k}=***"))
                    .collect::<Vec<_>>()
                    .join("&");
                u.set_query(Some(&q));
            }
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The HTTP(S) fetcher: holds one client per TLS/proxy configuration and limits concurrent
/// requests per host. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    per_host: usize,
    // std Mutexes, not Tokio's: each is held only for a map lookup or insert, never across an
    // `.await` (mini-redis's `Db` makes the same choice).
    clients: Mutex<HashMap<ClientKey, CachedClient>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// xorshift64 state for backoff jitter; a `rand` dependency is not worth it for this.
    jitter: AtomicU64,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("per_host", &self.inner.per_host)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher allowing at most `per_host` concurrent requests to one host (`host:port` of
    /// the source URL; redirect targets are not counted). `0` is taken as `1`.
    pub fn new(per_host: usize) -> Self {
        ensure_crypto_provider();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Fetcher {
            inner: Arc::new(Inner {
                per_host: per_host.max(1),
                clients: Mutex::new(HashMap::new()),
                hosts: Mutex::new(HashMap::new()),
                jitter: AtomicU64::new(seed | 1),
            }),
        }
    }

    /// GETs `req.url`.
    ///
    /// Sends `If-None-Match` / `If-Modified-Since` from `req.etag` / `req.last_modified`; a
    /// `304` then gives [`HttpOutcome::NotModified`]. Follows up to [`MAX_REDIRECTS`] redirects
    /// (credentials only to the original origin; `https` → `http` refused). Reads the body
    /// incrementally and stops with [`FetchError::TooLarge`] past `req.max_body`.
    ///
    /// Retries up to `req.retries` times on connect errors, timeouts, 5xx and 429 (never on
    /// other 4xx), waiting `500 ms × 2^n` with jitter, or the server's `Retry-After` seconds on
    /// 429/503 when that is longer; each wait is at most `req.timeout`, and a `Retry-After`
    /// beyond [`RETRY_AFTER_CAP`] or `req.timeout` ends the retries. So a fetch takes at most
    /// `(2 × retries + 1) × timeout`, plus any wait for a free per-host slot.
    ///
    /// The body of a `.gz` or `.zip` *file* is returned as served: call
    /// [`super::decode::decode_body`] on it ([`FetchError::from_decode`] maps its error).
    ///
    /// # Errors
    ///
    /// A [`FetchError`] naming the source, the URL and the fix; the last attempt's error when
    /// retries ran out.
    pub async fn fetch(&self, req: &HttpRequest) -> Result<HttpOutcome, FetchError> {
        match self.run(req, false).await? {
            Got::Feed(outcome) => Ok(outcome),
            // Not produced without `api`; mapped rather than unreachable.
            Got::Api(r) => Ok(HttpOutcome::Body {
                body: r.body,
                etag: None,
                last_modified: None,
                content_type: None,
            }),
        }
    }

    /// GETs `req.url` as an API call (TAXII): like [`Fetcher::fetch`] (credentials, redirects,
    /// retries on connect errors, timeouts, 5xx and 429, the body limit), but any other status
    /// is returned with its headers and body instead of being an error, so the caller can read
    /// the API's own error message. Put the `Accept` header the API wants in `req.headers`.
    ///
    /// # Errors
    /// A [`FetchError`] as for [`Fetcher::fetch`]; [`FetchError::Status`] only for 5xx and 429
    /// once retries ran out.
    pub async fn fetch_api(&self, req: &HttpRequest) -> Result<ApiResponse, FetchError> {
        match self.run(req, true).await? {
            Got::Api(r) => Ok(r),
            // Not produced with `api`; mapped rather than unreachable.
            Got::Feed(HttpOutcome::Body { body, .. }) => Ok(ApiResponse {
                status: 200,
                url: redact_url(&req.url),
                headers: Vec::new(),
                body,
            }),
            Got::Feed(HttpOutcome::NotModified) => Ok(ApiResponse {
                status: 304,
                url: redact_url(&req.url),
                headers: Vec::new(),
                body: Vec::new(),
            }),
        }
    }

    async fn run(&self, req: &HttpRequest, api: bool) -> Result<Got, FetchError> {
        let url = parse_url(req)?;
        let mut prepared = Prepared::new(req, url)?;
        prepared.api = api;
        let client = self.client(req).await?;
        let semaphore = self.host_semaphore(&prepared.url);
        let mut attempt: u32 = 0;
        loop {
            // A closed semaphore cannot happen (none is ever closed); go on without a permit.
            let permit = Arc::clone(&semaphore).acquire_owned().await.ok();
            let result = tokio::time::timeout(req.timeout, prepared.attempt(&client))
                .await
                .unwrap_or_else(|_elapsed| {
                    Err(Failure::from(FetchError::Timeout {
                        source_name: req.source.clone(),
                        url: redact_url(&req.url),
                        after: req.timeout,
                    }))
                });
            drop(permit);
            let failure = match result {
                Ok(outcome) => return Ok(outcome),
                Err(failure) => failure,
            };
            if attempt >= req.retries || !failure.error.is_transient() {
                return Err(failure.error);
            }
            let Some(delay) = self.backoff(attempt, failure.retry_after, req.timeout) else {
                return Err(failure.error);
            };
            // DEBUG: the final failure is logged once, at WARN, with the source's reason (metrics).
            tracing::debug!(
                source = %req.source,
                attempt = attempt + 1,
                delay_ms = delay.as_millis() as u64,
                error = %failure.error,
                "Fetch attempt failed; retrying."
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The wait before retry number `attempt + 1`, or `None` when the server asks for longer
    /// than we are willing to wait.
    fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        budget: Duration,
    ) -> Option<Duration> {
        let step = BACKOFF_BASE.saturating_mul(1u32 << attempt.min(20));
        // "Equal jitter": half fixed, half random, so retries of many sources spread out.
        let half = step / 2;
        let jittered = half + half.mul_f64(self.next_fraction());
        match retry_after {
            Some(wait) if wait > RETRY_AFTER_CAP.min(budget) => None,
            Some(wait) => Some(wait.max(jittered).min(budget)),
            None => Some(jittered.min(budget)),
        }
    }

    /// A number in `[0, 1)` from the xorshift64 state.
    fn next_fraction(&self) -> f64 {
        fn step(mut x: u64) -> u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
        let prev = self
            .inner
            .jitter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        (step(prev) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn host_semaphore(&self, url: &Url) -> Arc<Semaphore> {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let mut hosts = self
            .inner
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            hosts
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.per_host))),
        )
    }
}

/// `Retry-After` (RFC 9110 10.2.3): delay-seconds, or an HTTP-date taken relative to now (a
/// date in the past means "now").
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, std::time::SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("http://u:secret@proxy:3128"),
            "http://u:***@proxy:3128/"
        );
        assert_eq!(redact_url("https://x.test/a?b=c"), "https://x.test/a?b=***");
        assert_eq!(
            redact_url("https://x.test/a?key=s3cret&fmt=csv"),
            "https://x.test/a?key=***&fmt=***"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        let mut req = HttpRequest::new("s", "https://x.test/");
        req.headers.push(("X-Key".into(), "hunter2".into()));
        req.basic_auth = Some(("user".into(), "hunter3".into()));
        req.bearer_token = Some("hunter4".into());
        req.proxy = Some("http://p:hunter5@proxy:1".into());
        let debug = format!("{req:?}");
        for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("X-Key") && debug.contains("user"), "{debug}");
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(30)));
        // In the past: retry now (the backoff still applies).
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:00:00 GMT"),
        );
        assert_eq!(retry_after_at(&h, now), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after_at(&h, now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_respects_bounds() {
        let f = Fetcher::new(1);
        let budget = Duration::from_secs(60);
        for attempt in 0..5u32 {
            let step = BACKOFF_BASE * (1 << attempt);
            for _ in 0..50 {
                let d = f.backoff(attempt, None, budget).expect("no Retry-After");
                assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?}");
            }
        }
        // Bounded by the timeout budget.
        let d = f.backoff(10, None, Duration::from_secs(2)).expect("some");
        assert!(d <= Duration::from_secs(2));
        // Retry-After wins when longer, and ends retries beyond the cap or the budget.
        let d = f
            .backoff(0, Some(Duration::from_secs(3)), budget)
            .expect("some");
        assert_eq!(d, Duration::from_secs(3));
        assert_eq!(f.backoff(0, Some(RETRY_AFTER_CAP * 2), budget), None);
        assert_eq!(
            f.backoff(0, Some(Duration::from_secs(3)), Duration::from_secs(1)),
            None
        );
        // Not all the same: the jitter is random.
        let draws: std::collections::HashSet<Duration> = (0..20)
            .map(|_| f.backoff(3, None, budget).expect("some"))
            .collect();
        assert!(draws.len() > 1);
    }
}
