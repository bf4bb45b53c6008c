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

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Semaphore;
use url::Url;

use super::decode::DecodeError;

type BoxError = Box<dyn StdError + Send + Sync>;

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

/// One HTTP(S) GET for one source, with everything the transport needs.
///
/// Secrets (headers, basic auth, token) arrive resolved; [`fmt::Debug`] hides them.
#[derive(Clone)]
pub struct HttpRequest {
    /// The source's name, for errors and logs.
    pub source: String,
    /// Absolute `http://` or `https://` URL. Userinfo in it is used as basic auth and hidden in
    /// messages.
    pub url: String,
    /// Extra headers, e.g. `("X-OTX-API-KEY", key)`; values are secrets. Sent only to the
    /// URL's origin, not to another host a redirect points to.
    pub headers: Vec<(String, String)>,
    /// HTTP basic auth `(user, password)`; same origin rule as `headers`.
    pub basic_auth: Option<(String, String)>,
    /// `Authorization: Bearer <token>`; same origin rule as `headers`. Not together with
    /// `basic_auth`.
    pub bearer_token: Option<String>,
    /// PEM client certificate chain for mutual TLS. May also hold the key when `client_key` is
    /// `None`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted) for `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Extra PEM CA bundle, trusted in addition to the OS roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Explicit proxy URL (`http://host:port`, credentials allowed), used for every request of
    /// this source (`NO_PROXY` does not apply to it). `None` honours `HTTPS_PROXY` /
    /// `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` as they were when this TLS/proxy configuration
    /// was first used.
    pub proxy: Option<String>,
    /// Bound on one attempt, from connecting to the last body byte.
    pub timeout: Duration,
    /// Extra attempts after the first, only on connect errors, timeouts, 5xx and 429.
    pub retries: u32,
    /// Largest body accepted, in bytes, after `Content-Encoding` decompression; larger is an
    /// error, never a truncated body.
    pub max_body: u64,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// `ETag` of the last accepted fetch, sent as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified` of the last accepted fetch, sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

impl HttpRequest {
    /// A plain GET of `url` for source `source` with the defaults: [`DEFAULT_TIMEOUT`],
    /// [`DEFAULT_RETRIES`], [`DEFAULT_MAX_BODY`], `edlforge/<version>` as user agent, no
    /// credentials, proxy from the environment.
    pub fn new(source: impl Into<String>, url: impl Into<String>) -> Self {
        HttpRequest {
            source: source.into(),
            url: url.into(),
            headers: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            client_cert: None,
            client_key: None,
            ca_file: None,
            proxy: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            max_body: DEFAULT_MAX_BODY,
            user_agent: concat!("edlforge/", env!("CARGO_PKG_VERSION")).to_owned(),
            etag: None,
            last_modified: None,
        }
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("source", &self.source)
            .field("url", &redact_url(&self.url))
            .field("headers", &header_names)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(u, _)| (u, "***")),
            )
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "***"))
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("ca_file", &self.ca_file)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_body", &self.max_body)
            .field("user_agent", &self.user_agent)
            .field("etag", &self.etag)
            .field("last_modified", &self.last_modified)
            .finish()
    }
}

/// What a successful fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// `304 Not Modified`: the last accepted body is still current.
    NotModified,
    /// A 2xx response and its complete body.
    Body {
        /// The body, `Content-Encoding` undone; `.gz` / `.zip` files still compressed (run
        /// [`super::decode::decode_body`] on it).
        body: Vec<u8>,
        /// The `ETag` header, to send back next time.
        etag: Option<String>,
        /// The `Last-Modified` header, to send back next time.
        last_modified: Option<String>,
        /// The `Content-Type` header, for [`super::decode::decode_body`] and format detection.
        content_type: Option<String>,
    },
}

/// The answer of an API endpoint ([`Fetcher::fetch_api`]): any status but 5xx and 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The URL that answered, after redirects (redacted).
    pub url: String,
    /// Response headers, names in lowercase (values that are not visible ASCII left out).
    pub headers: Vec<(String, String)>,
    /// The body, `Content-Encoding` undone, at most `max_body` bytes.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The first value of header `name` (give it in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What one attempt produced: a feed outcome, or an API answer.
enum Got {
    Feed(HttpOutcome),
    Api(ApiResponse),
}

/// What went wrong with a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectProblem {
    /// From `https` to `http`: refused, it would drop transport security.
    Downgrade,
    /// More than [`MAX_REDIRECTS`] hops.
    TooMany,
    /// A `Location` that is not an `http(s)` URL.
    BadLocation,
}

impl fmt::Display for RedirectProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectProblem::Downgrade => {
                "redirect from https to http refused; use the final https URL if the publisher has one"
            }
            RedirectProblem::TooMany => "too many redirects; use the final URL",
            RedirectProblem::BadLocation => {
                "redirect to a location that is not an http(s) URL; check the URL"
            }
        })
    }
}

/// Why a fetch failed. Every variant names the source; [`FetchError::reason`] gives a bounded
/// label for metrics. `Display` prints one level; the cause, where there is one, is the
/// `source()` chain.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that is not a success (after any retries).
    #[error("source {source_name:?}: {url}: HTTP {}; {}", status_text(*.status), status_hint(*.status))]
    Status {
        /// The source's name.
        source_name: String,
        /// The URL that answered (redacted).
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// No complete response within the timeout (after any retries).
    #[error("source {source_name:?}: {url}: no complete response within {}; the server is slow or unreachable: check the network or raise timeout", humantime::format_duration(*.after))]
    Timeout {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection could not be made (DNS, refused, unreachable, proxy down).
    #[error("source {source_name:?}: {url}: cannot connect{}; check the host name, the network and the proxy settings", proxy_note(.proxy))]
    Connect {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The explicit proxy in use (redacted), if any.
        proxy: Option<String>,
        /// What the HTTP client said.
        #[source]
        cause: BoxError,
    },
    /// The body is larger than `max_body` (nothing of it is returned).
    #[error("source {source_name:?}: {url}: body is larger than the limit of {limit} bytes; raise max_body if the feed really is this large")]
    TooLarge {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body ended before it was complete (connection cut); nothing of it is returned.
    #[error("source {source_name:?}: {url}: body cut short after {got}{} bytes; the connection was interrupted, the next refresh will try again", expected_note(*.expected))]
    Truncated {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The announced `Content-Length`, when there was one.
        expected: Option<u64>,
        /// Bytes received before the cut.
        got: u64,
    },
    /// The TLS handshake or session failed (certificate not trusted, client certificate
    /// refused, ...).
    #[error("source {source_name:?}: {url}: TLS failed: {}", tls_hint(.cause.as_ref()))]
    Tls {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The TLS error, in the HTTP client's error chain.
        #[source]
        cause: BoxError,
    },
    /// The body could not be decoded (`Content-Encoding`, or a gzip / zip file).
    #[error("source {source_name:?}: {url}: body cannot be decoded; the download is damaged or not in the announced format: check the URL")]
    Decode {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// The decoder's error.
        #[source]
        cause: BoxError,
    },
    /// A setting of the source cannot be used: a certificate, key or CA file, the proxy, the
    /// URL or a header.
    #[error("source {source_name:?}: {setting} {value:?}: {hint}")]
    Config {
        /// The source's name.
        source_name: String,
        /// The setting: `client_cert`, `client_key`, `ca_file`, `proxy`, `url`, `headers`, ...
        setting: &'static str,
        /// Its value: the file, the redacted proxy or URL, the header name (never a secret).
        value: String,
        /// What is wrong and what to do.
        hint: &'static str,
        /// The underlying error.
        #[source]
        cause: BoxError,
    },
    /// A redirect could not be followed.
    #[error("source {source_name:?}: {url}: {problem}")]
    Redirect {
        /// The source's name.
        source_name: String,
        /// The URL that redirected (redacted).
        url: String,
        /// Where it pointed (redacted), when there was a location.
        location: Option<String>,
        /// What is wrong with it.
        problem: RedirectProblem,
    },
    /// The request failed for another reason (malformed response, connection closed before the
    /// response started).
    #[error("source {source_name:?}: {url}: the request failed before a response arrived; check that the URL points to an HTTP server")]
    Protocol {
        /// The source's name.
        source_name: String,
        /// The URL (redacted).
        url: String,
        /// What the HTTP client said.
        #[source]
        cause: BoxError,
    },
}

impl FetchError {
    /// A bounded label for metrics: `http_status`, `timeout`, `connect`, `too_large`,
    /// `truncated`, `tls`, `decode`, `config`, `redirect` or `protocol`.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Status { .. } => "http_status",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Connect { .. } => "connect",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Truncated { .. } => "truncated",
            FetchError::Tls { .. } => "tls",
            FetchError::Decode { .. } => "decode",
            FetchError::Config { .. } => "config",
            FetchError::Redirect { .. } => "redirect",
            FetchError::Protocol { .. } => "protocol",
        }
    }

    /// The HTTP status, for [`FetchError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The name of the source that failed.
    pub fn source_name(&self) -> &str {
        match self {
            FetchError::Status { source_name, .. }
            | FetchError::Timeout { source_name, .. }
            | FetchError::Connect { source_name, .. }
            | FetchError::TooLarge { source_name, .. }
            | FetchError::Truncated { source_name, .. }
            | FetchError::Tls { source_name, .. }
            | FetchError::Decode { source_name, .. }
            | FetchError::Config { source_name, .. }
            | FetchError::Redirect { source_name, .. }
            | FetchError::Protocol { source_name, .. } => source_name,
        }
    }

    /// Wraps an error of [`super::decode::decode_body`] run on `req`'s body, so a caller reports
    /// fetch and decode failures alike: a decompression bomb becomes [`FetchError::TooLarge`],
    /// anything else [`FetchError::Decode`].
    pub fn from_decode(req: &HttpRequest, err: DecodeError) -> Self {
        let source_name = req.source.clone();
        let url = redact_url(&req.url);
        match err {
            DecodeError::TooLarge { limit } => FetchError::TooLarge {
                source_name,
                url,
                limit,
            },
            other => FetchError::Decode {
                source_name,
                url,
                cause: Box::new(other),
            },
        }
    }

    /// Whether another attempt may succeed: connect errors, timeouts, 5xx and 429.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Connect { .. } | FetchError::Timeout { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || (500..=599).contains(status),
            _ => false,
        }
    }
}

fn status_text(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(r) => format!("{status} {r}"),
        None => status.to_string(),
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "check the API key or credentials",
        407 => "the proxy wants credentials; check the proxy URL",
        404 | 410 => "check the URL; the feed may have moved",
        429 => "the server is rate limiting this client; refresh less often",
        304 => "the request had no validators, so the server should have sent the list",
        300..=399 => "a redirect without a usable Location; check the URL",
        500..=599 => "the server failed; the next refresh will try again",
        _ => "check the URL and the request settings",
    }
}

fn proxy_note(proxy: &Option<String>) -> String {
    match proxy {
        Some(p) => format!(" via proxy {p}"),
        None => String::new(),
    }
}

fn expected_note(expected: Option<u64>) -> String {
    match expected {
        Some(n) => format!(" of {n}"),
        None => String::new(),
    }
}

fn tls_hint(cause: &(dyn StdError + Send + Sync + 'static)) -> &'static str {
    use rustls::{AlertDescription as A, CertificateError as C};
    match find_rustls(cause) {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::UnknownIssuer => {
                "the server's certificate is not signed by a trusted CA; if the feed uses a private CA, set ca_file"
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for this host name; check the URL"
            }
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is outside its validity period (or this machine's clock is wrong)"
            }
            _ => "the server's certificate was rejected; check the URL and ca_file",
        },
        Some(rustls::Error::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::AccessDenied
            | A::HandshakeFailure,
        )) => {
            "the server refused the handshake; it may require a client certificate (client_cert, client_key) or not trust the one sent"
        }
        _ => "check the server's TLS setup, ca_file and the client certificate",
    }
}

/// The rustls error in an error chain. `io::Error::source()` skips the error it wraps, so each
/// `io::Error` link is looked into as well.
fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = find_rustls(inner) {
                return Some(r);
            }
        }
        link = e.source();
    }
    None
}

/// Whether an `io::Error` of one of `kinds` is in the chain (looking into `io::Error`s too).
fn has_io_kind(err: &(dyn StdError + 'static), kinds: &[std::io::ErrorKind]) -> bool {
    let mut link = Some(err);
    while let Some(e) = link {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if kinds.contains(&io.kind()) {
                return true;
            }
            if let Some(inner) = io.get_ref() {
                if has_io_kind(inner, kinds) {
                    return true;
                }
            }
        }
        link = e.source();
    }
    false
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

/// The TLS and proxy settings a client is built from: one client per distinct set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
}

/// Modification time and length of each file of a [`ClientKey`], so a rotated certificate is
/// picked up without a restart.
type Stamp = [Option<(Option<SystemTime>, u64)>; 3];

struct CachedClient {
    stamp: Stamp,
    client: reqwest::Client,
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

/// One failed attempt: the error and the server's `Retry-After`, if any.
struct Failure {
    error: FetchError,
    retry_after: Option<Duration>,
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
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

    /// The client for `req`'s TLS/proxy settings, built on first use and rebuilt when one of
    /// its files changed.
    async fn client(&self, req: &HttpRequest) -> Result<reqwest::Client, FetchError> {
        let key = ClientKey {
            client_cert: req.client_cert.clone(),
            client_key: req.client_key.clone(),
            ca_file: req.ca_file.clone(),
            proxy: req.proxy.clone(),
        };
        let stamp = [
            file_stamp(key.client_cert.as_deref()).await,
            file_stamp(key.client_key.as_deref()).await,
            file_stamp(key.ca_file.as_deref()).await,
        ];
        {
            let clients = self
                .inner
                .clients
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = clients.get(&key).filter(|c| c.stamp == stamp) {
                return Ok(cached.client.clone());
            }
        }
        let client = build_client(req).await?;
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        clients.insert(
            key,
            CachedClient {
                stamp,
                client: client.clone(),
            },
        );
        Ok(client)
    }
}

async fn file_stamp(path: Option<&Path>) -> Option<(Option<SystemTime>, u64)> {
    let meta = tokio::fs::metadata(path?).await.ok()?;
    Some((meta.modified().ok(), meta.len()))
}

fn parse_url(req: &HttpRequest) -> Result<Url, FetchError> {
    let bad = |cause: BoxError| FetchError::Config {
        source_name: req.source.clone(),
        setting: "url",
        value: redact_url(&req.url),
        hint: "not an absolute http:// or https:// URL",
        cause,
    };
    let url = Url::parse(&req.url).map_err(|e| bad(Box::new(e)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            format!("unsupported URL scheme {:?}", url.scheme()).into()
        ));
    }
    Ok(url)
}

/// Builds the client for `req`'s TLS and proxy settings, checking each file first so an error
/// names the file and says what is wrong with it.
async fn build_client(req: &HttpRequest) -> Result<reqwest::Client, FetchError> {
    ensure_crypto_provider();
    let config = |setting: &'static str, value: String, hint: &'static str| {
        let source_name = req.source.clone();
        move |cause: BoxError| FetchError::Config {
            source_name,
            setting,
            value,
            hint,
            cause,
        }
    };
    let read = |setting: &'static str, path: &Path| {
        let path = path.to_path_buf();
        let on_err = config(
            setting,
            path.display().to_string(),
            "cannot read the file; check the path and its permissions",
        );
        async move {
            tokio::fs::read(&path)
                .await
                .map_err(|e| on_err(Box::new(e)))
        }
    };

    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false);

    if let Some(ca) = &req.ca_file {
        let shown = ca.display().to_string();
        let pem = read("ca_file", ca).await?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            config(
                "ca_file",
                shown.clone(),
                "not a valid PEM certificate bundle",
            )(Box::new(e))
        })?;
        let parsed = CertificateDer::pem_slice_iter(&pem).count();
        if certs.is_empty() || parsed == 0 {
            return Err(config(
                "ca_file",
                shown,
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            )("no certificate found".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }

    match (&req.client_cert, &req.client_key) {
        (None, None) => {}
        (None, Some(key)) => {
            return Err(config(
                "client_key",
                key.display().to_string(),
                "a client key needs client_cert as well",
            )("client_cert is not set".into()));
        }
        (Some(cert), key) => {
            let cert_pem = read("client_cert", cert).await?;
            let (key_setting, key_path, key_pem) = match key {
                Some(k) => ("client_key", k, read("client_key", k).await?),
                None => ("client_cert", cert, cert_pem.clone()),
            };
            let cert_shown = cert.display().to_string();
            let key_shown = key_path.display().to_string();
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    config(
                        "client_cert",
                        cert_shown.clone(),
                        "not a valid PEM certificate chain",
                    )(Box::new(e))
                })?;
            if chain.is_empty() {
                return Err(config(
                    "client_cert",
                    cert_shown,
                    "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
                )("no certificate found".into()));
            }
            let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                config(
                    key_setting,
                    key_shown.clone(),
                    "no usable private key; it must be an unencrypted PEM key (PKCS#8, PKCS#1 or SEC1)",
                )(Box::new(e))
            })?;
            let provider = rustls::crypto::ring::default_provider();
            rustls::sign::CertifiedKey::from_der(chain, private_key, &provider).map_err(|e| {
                config(
                    key_setting,
                    key_shown.clone(),
                    "the private key is unsupported or does not belong to the client certificate",
                )(Box::new(e))
            })?;
            let mut both = cert_pem;
            if key.is_some() {
                both.push(b'\n');
                both.extend_from_slice(&key_pem);
            }
            let identity = reqwest::Identity::from_pem(&both).map_err(|e| {
                config(
                    "client_cert",
                    cert_shown.clone(),
                    "the files must hold only PEM certificates and one private key",
                )(Box::new(e))
            })?;
            builder = builder.identity(identity);
        }
    }

    if let Some(proxy) = &req.proxy {
        let shown = redact_url(proxy);
        let on_err = |hint| config("proxy", shown.clone(), hint);
        let parsed = Url::parse(proxy)
            .map_err(|e| on_err("not a proxy URL; use http://host:port")(Box::new(e)))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(on_err(
                "unsupported proxy; use http://host:port or https://host:port",
            )(
                format!("proxy scheme {:?}", parsed.scheme()).into()
            ));
        }
        let proxy = reqwest::Proxy::all(proxy.as_str())
            .map_err(|e| on_err("not a proxy URL; use http://host:port")(Box::new(e)))?;
        builder = builder.proxy(proxy);
    }

    builder.build().map_err(|e| {
        let files: Vec<String> = [&req.client_cert, &req.client_key, &req.ca_file]
            .into_iter()
            .flatten()
            .map(|p| p.display().to_string())
            .collect();
        config(
            "TLS settings",
            files.join(", "),
            "cannot set up TLS; check client_cert/client_key and that this system has CA certificates (or set ca_file)",
        )(Box::new(e))
    })
}

/// What every attempt of one fetch sends, checked once.
struct Prepared<'r> {
    req: &'r HttpRequest,
    url: Url,
    /// User-Agent and conditional headers: sent on every hop.
    common: HeaderMap,
    /// Extra headers and bearer token: only to the original origin.
    secret: HeaderMap,
    conditional: bool,
    /// API mode ([`Fetcher::fetch_api`]): non-transient statuses are answers, not errors.
    api: bool,
}

impl<'r> Prepared<'r> {
    fn new(req: &'r HttpRequest, url: Url) -> Result<Self, FetchError> {
        let bad = |setting: &'static str, value: &str, hint: &'static str| {
            let value = value.to_owned();
            let source_name = req.source.clone();
            move |cause: BoxError| FetchError::Config {
                source_name,
                setting,
                value,
                hint,
                cause,
            }
        };
        let mut common = HeaderMap::new();
        let ua = HeaderValue::from_str(&req.user_agent).map_err(|e| {
            bad(
                "user_agent",
                &req.user_agent,
                "not a valid header value (printable ASCII only)",
            )(Box::new(e))
        })?;
        common.insert(header::USER_AGENT, ua);
        // Validators come from a previous response's headers, so they are valid header values;
        // if one is not, the request simply goes out unconditional.
        let mut conditional = false;
        if let Some(v) = req
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            common.insert(header::IF_NONE_MATCH, v);
            conditional = true;
        }
        if let Some(v) = req
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            common.insert(header::IF_MODIFIED_SINCE, v);
            conditional = true;
        }

        let mut secret = HeaderMap::new();
        for (name, value) in &req.headers {
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| bad("headers", name, "not a valid header name")(Box::new(e)))?;
            // The value is a secret: the error names the header only.
            let mut header_value = HeaderValue::from_str(value).map_err(|e| {
                bad(
                    "headers",
                    name,
                    "the value is not a valid header value (printable ASCII only; check the secret)",
                )(Box::new(e))
            })?;
            header_value.set_sensitive(true);
            secret.append(header_name, header_value);
        }
        if let Some(token) = &req.bearer_token {
            if req.basic_auth.is_some() {
                return Err(bad(
                    "bearer_token",
                    "***",
                    "set either basic_auth or bearer_token, not both",
                )("both set".into()));
            }
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| {
                bad(
                    "bearer_token",
                    "***",
                    "not a valid header value (printable ASCII only; check the secret)",
                )(Box::new(e))
            })?;
            value.set_sensitive(true);
            secret.insert(header::AUTHORIZATION, value);
        }
        Ok(Prepared {
            req,
            url,
            common,
            secret,
            conditional,
            api: false,
        })
    }

    fn same_origin(&self, other: &Url) -> bool {
        self.url.scheme() == other.scheme()
            && self.url.host_str() == other.host_str()
            && self.url.port_or_known_default() == other.port_or_known_default()
    }

    fn url_error(&self, url: &Url) -> (String, String) {
        (self.req.source.clone(), redact_url(url.as_str()))
    }

    /// One attempt: the request, its redirects and the body.
    async fn attempt(&self, client: &reqwest::Client) -> Result<Got, Failure> {
        let mut current = self.url.clone();
        for _hop in 0..=MAX_REDIRECTS {
            let mut request = client.get(current.clone()).headers(self.common.clone());
            if self.same_origin(&current) {
                request = request.headers(self.secret.clone());
                if let Some((user, password)) = &self.req.basic_auth {
                    request = request.basic_auth(user, Some(password));
                }
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.request_error(&current, e))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                if let Some(location) = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                {
                    current = self.follow(&current, location)?;
                    continue;
                }
            }
            if self.api && status != 429 && !(500..=599).contains(&status) {
                let headers = response
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                let body = match self.read_body(&current, response).await? {
                    HttpOutcome::Body { body, .. } => body,
                    HttpOutcome::NotModified => Vec::new(),
                };
                return Ok(Got::Api(ApiResponse {
                    status,
                    url: redact_url(current.as_str()),
                    headers,
                    body,
                }));
            }
            if status == 304 && self.conditional {
                return Ok(Got::Feed(HttpOutcome::NotModified));
            }
            if !(200..=299).contains(&status) || status == 206 {
                let retry_after = match status {
                    429 | 503 => retry_after(response.headers()),
                    _ => None,
                };
                let (source_name, url) = self.url_error(&current);
                return Err(Failure {
                    error: FetchError::Status {
                        source_name,
                        url,
                        status,
                    },
                    retry_after,
                });
            }
            return self
                .read_body(&current, response)
                .await
                .map(Got::Feed)
                .map_err(Failure::from);
        }
        let (source_name, url) = self.url_error(&current);
        Err(Failure::from(FetchError::Redirect {
            source_name,
            url,
            location: None,
            problem: RedirectProblem::TooMany,
        }))
    }

    fn follow(&self, current: &Url, location: &str) -> Result<Url, Failure> {
        let (source_name, url) = self.url_error(current);
        let refuse = |problem, location: Option<String>| {
            Failure::from(FetchError::Redirect {
                source_name: source_name.clone(),
                url: url.clone(),
                location,
                problem,
            })
        };
        let next = current
            .join(location)
            .map_err(|_| refuse(RedirectProblem::BadLocation, Some(location.to_owned())))?;
        let shown = Some(redact_url(next.as_str()));
        if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none() {
            return Err(refuse(RedirectProblem::BadLocation, shown));
        }
        if current.scheme() == "https" && next.scheme() == "http" {
            return Err(refuse(RedirectProblem::Downgrade, shown));
        }
        Ok(next)
    }

    async fn read_body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<HttpOutcome, FetchError> {
        let (source_name, shown) = self.url_error(url);
        let max = self.req.max_body;
        let too_large = || FetchError::TooLarge {
            source_name: source_name.clone(),
            url: shown.clone(),
            limit: max,
        };
        let text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = text(header::ETAG);
        let last_modified = text(header::LAST_MODIFIED);
        let content_type = text(header::CONTENT_TYPE);
        // Known only when the body is not decompressed in transit.
        let expected = response.content_length();
        if expected.is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let initial = expected.unwrap_or(0).min(max).min(16 << 20);
        let mut body = Vec::with_capacity(usize::try_from(initial).unwrap_or(0));
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() as u64 + chunk.len() as u64 > max {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.body_error(url, e, expected, body.len() as u64)),
            }
        }
        if let Some(n) = expected.filter(|&n| (body.len() as u64) < n) {
            return Err(FetchError::Truncated {
                source_name,
                url: shown,
                expected: Some(n),
                got: body.len() as u64,
            });
        }
        Ok(HttpOutcome::Body {
            body,
            etag,
            last_modified,
            content_type,
        })
    }

    fn request_error(&self, url: &Url, err: reqwest::Error) -> Failure {
        let (source_name, url) = self.url_error(url);
        let error = if err.is_timeout() {
            FetchError::Timeout {
                source_name,
                url,
                after: self.req.timeout,
            }
        } else if find_rustls(&err).is_some() {
            FetchError::Tls {
                source_name,
                url,
                cause: Box::new(err),
            }
        } else if err.is_connect() {
            FetchError::Connect {
                source_name,
                url,
                proxy: self.req.proxy.as_deref().map(redact_url),
                cause: Box::new(err),
            }
        } else {
            FetchError::Protocol {
                source_name,
                url,
                cause: Box::new(err),
            }
        };
        Failure::from(error)
    }

    fn body_error(
        &self,
        url: &Url,
        err: reqwest::Error,
        expected: Option<u64>,
        got: u64,
    ) -> FetchError {
        use std::io::ErrorKind;
        let (source_name, url) = self.url_error(url);
        if err.is_timeout() {
            FetchError::Timeout {
                source_name,
                url,
                after: self.req.timeout,
            }
        } else if find_rustls(&err).is_some() {
            FetchError::Tls {
                source_name,
                url,
                cause: Box::new(err),
            }
        } else if expected.is_none()
            && has_io_kind(&err, &[ErrorKind::InvalidData, ErrorKind::InvalidInput])
        {
            // A corrupt `Content-Encoding` stream (the decoder's error), not a cut connection.
            FetchError::Decode {
                source_name,
                url,
                cause: Box::new(err),
            }
        } else {
            FetchError::Truncated {
                source_name,
                url,
                expected,
                got,
            }
        }
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

    fn status(code: u16) -> FetchError {
        FetchError::Status {
            source_name: "feodo".into(),
            url: "https://feodotracker.abuse.ch/downloads/ipblocklist.txt".into(),
            status: code,
        }
    }

    #[test]
    fn status_messages_name_source_url_and_fix() {
        assert_eq!(
            status(403).to_string(),
            "source \"feodo\": https://feodotracker.abuse.ch/downloads/ipblocklist.txt: HTTP 403 Forbidden; check the API key or credentials"
        );
        assert!(status(404)
            .to_string()
            .ends_with("HTTP 404 Not Found; check the URL; the feed may have moved"));
        assert!(status(599)
            .to_string()
            .contains("HTTP 599; the server failed"));
    }

    #[test]
    fn reasons_are_bounded_labels() {
        assert_eq!(status(500).reason(), "http_status");
        assert_eq!(status(500).status(), Some(500));
        let e = FetchError::Truncated {
            source_name: "s".into(),
            url: "u".into(),
            expected: Some(10),
            got: 3,
        };
        assert_eq!(e.reason(), "truncated");
        assert_eq!(e.status(), None);
        assert_eq!(e.source_name(), "s");
        assert_eq!(
            e.to_string(),
            "source \"s\": u: body cut short after 3 of 10 bytes; the connection was interrupted, the next refresh will try again"
        );
    }

    #[test]
    fn transient_errors_are_connect_timeout_5xx_429() {
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!status(401).is_transient());
        assert!(!status(408).is_transient());
        let timeout = FetchError::Timeout {
            source_name: "s".into(),
            url: "u".into(),
            after: Duration::from_secs(1),
        };
        assert!(timeout.is_transient());
        assert!(timeout.to_string().contains("within 1s;"), "{timeout}");
    }

    #[test]
    fn decode_errors_map_to_fetch_errors() {
        let req = HttpRequest::new("s", "https://u:p@x.test/a.zip");
        let e = FetchError::from_decode(&req, DecodeError::TooLarge { limit: 9 });
        assert_eq!(e.reason(), "too_large");
        assert!(e.to_string().contains("https://u:***@x.test/a.zip"), "{e}");
        let gz = DecodeError::Gzip(std::io::Error::other("bad"));
        assert_eq!(FetchError::from_decode(&req, gz).reason(), "decode");
    }

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

    #[test]
    fn urls_must_be_absolute_http() {
        for bad in [
            "ftp://x.test/a",
            "/relative",
            "file:///etc/passwd",
            "https://",
        ] {
            let req = HttpRequest::new("s", bad);
            let e = parse_url(&req).expect_err(bad);
            assert_eq!(e.reason(), "config", "{bad}");
            assert!(e.to_string().contains("url"), "{e}");
        }
        assert!(parse_url(&HttpRequest::new("s", "http://x.test/a")).is_ok());
    }

    #[test]
    fn bad_headers_are_config_errors_that_hide_the_value() {
        let mut req = HttpRequest::new("s", "https://x.test/");
        req.headers
            .push(("X-Key".into(), "line\nbreak-secret".into()));
        let url = parse_url(&req).expect("url");
        let e = Prepared::new(&req, url.clone()).err().expect("bad value");
        assert_eq!(e.reason(), "config");
        assert!(!e.to_string().contains("break-secret"), "{e}");
        assert!(e.to_string().contains("\"X-Key\""), "{e}");

        let mut req = HttpRequest::new("s", "https://x.test/");
        req.basic_auth = Some(("u".into(), "p".into()));
        req.bearer_token = Some("t".into());
        let e = Prepared::new(&req, url).err().expect("both");
        assert!(e.to_string().contains("not both"), "{e}");
    }
}
