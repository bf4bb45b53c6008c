//! Who may read a collection: its list's `auth`, `users`, `tokens` and `clients`, checked
//! within the same failed-login budget as `/lists/`; refusals are TAXII error messages (401
//! with a challenge, 403, 429).

use std::net::SocketAddr;

use http::header::{self, HeaderValue};
use http::{Request, StatusCode};

use super::{error, now, Resp};
use crate::config::{Access, AuthMode};
use crate::serve::auth::{self, Presented, Verdict};
use crate::serve::{Rules, State};

/// 429 for an address that used up its failed-login budget (a TAXII error body), counted and
/// logged like the same refusal on `/lists/`.
pub(super) fn throttled(
    state: &State,
    ip: std::net::IpAddr,
    what: &str,
    wait: std::time::Duration,
) -> Resp {
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

pub(super) fn challenge(basic: bool) -> Resp {
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

/// The outcome of the access check of one collection.
pub(super) enum Gate<'a> {
    Open(&'a str),
    Refused(Resp),
}

pub(super) async fn gate<'a, B>(
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
