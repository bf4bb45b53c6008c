//! One attempt of a fetch: the URL check, the headers every hop sends (user agent, conditional
//! GET validators) and those only the source's origin gets (credentials), redirects (no
//! `https` → `http`), and what the status means. The body is read in `body.rs`.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::error::{find_rustls, BoxError};
use super::request::Got;
#[cfg(doc)]
use super::Fetcher;
use super::{
    redact_url, retry_after, ApiResponse, FetchError, HttpOutcome, HttpRequest, RedirectProblem,
    MAX_REDIRECTS,
};

pub(super) fn parse_url(req: &HttpRequest) -> Result<Url, FetchError> {
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

/// One failed attempt: the error and the server's `Retry-After`, if any.
pub(super) struct Failure {
    pub(super) error: FetchError,
    pub(super) retry_after: Option<Duration>,
}

impl From<FetchError> for Failure {
    fn from(error: FetchError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// What every attempt of one fetch sends, checked once.
pub(super) struct Prepared<'r> {
    pub(super) req: &'r HttpRequest,
    pub(super) url: Url,
    /// User-Agent and conditional headers: sent on every hop.
    common: HeaderMap,
    /// Extra headers and bearer token: only to the original origin.
    secret: HeaderMap,
    conditional: bool,
    /// API mode ([`Fetcher::fetch_api`]): non-transient statuses are answers, not errors.
    pub(super) api: bool,
}

impl<'r> Prepared<'r> {
    pub(super) fn new(req: &'r HttpRequest, url: Url) -> Result<Self, FetchError> {
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

    pub(super) fn url_error(&self, url: &Url) -> (String, String) {
        (self.req.source.clone(), redact_url(url.as_str()))
    }

    /// One attempt: the request, its redirects and the body.
    pub(super) async fn attempt(&self, client: &reqwest::Client) -> Result<Got, Failure> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
