//! What a fetch is asked and what it answers: [`HttpRequest`] (URL, credentials, TLS, proxy,
//! limits, validators of the last accepted fetch), [`HttpOutcome`] for a feed and
//! [`ApiResponse`] for an API call.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(doc)]
use super::Fetcher;
use super::{redact_url, DEFAULT_MAX_BODY, DEFAULT_RETRIES, DEFAULT_TIMEOUT};

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
        /// [`crate::source::decode::decode_body`] on it).
        body: Vec<u8>,
        /// The `ETag` header, to send back next time.
        etag: Option<String>,
        /// The `Last-Modified` header, to send back next time.
        last_modified: Option<String>,
        /// The `Content-Type` header, for [`crate::source::decode::decode_body`] and format
        /// detection.
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
pub(super) enum Got {
    Feed(HttpOutcome),
    Api(ApiResponse),
}
