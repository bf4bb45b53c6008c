//! Why a fetch failed: [`FetchError`] (one variant per kind of failure, each naming the source,
//! the URL and the fix), its bounded metric label, and the hints its messages give (status,
//! TLS, proxy); plus the error-chain probes the attempt uses to classify a client error.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

#[cfg(doc)]
use super::MAX_REDIRECTS;
use super::{redact_url, HttpRequest};
use crate::source::decode::DecodeError;

pub(super) type BoxError = Box<dyn StdError + Send + Sync>;

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

    /// Wraps an error of [`crate::source::decode::decode_body`] run on `req`'s body, so a
    /// caller reports fetch and decode failures alike: a decompression bomb becomes
    /// [`FetchError::TooLarge`], anything else [`FetchError::Decode`].
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
    pub(super) fn is_transient(&self) -> bool {
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
pub(super) fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
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
pub(super) fn has_io_kind(err: &(dyn StdError + 'static), kinds: &[std::io::ErrorKind]) -> bool {
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
}
