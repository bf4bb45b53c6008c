//! The response body: read chunk by chunk under `max_body` (never held whole past the limit),
//! checked against `Content-Length` (a cut body is an error, never a shorter list), and a
//! failed read classified as timeout, TLS, corrupt `Content-Encoding` or truncation.

use reqwest::header;
use url::Url;

use super::attempt::Prepared;
use super::error::{find_rustls, has_io_kind};
use super::{FetchError, HttpOutcome};

impl Prepared<'_> {
    pub(super) async fn read_body(
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
    pub(super) fn body_error(
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
