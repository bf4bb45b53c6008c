//! Who is asking: the client address (peer, or `X-Forwarded-For` from a trusted proxy), the
//! credentials of a request against a list's users or tokens, and the slow-down of repeated
//! failures from one address.
//!
//! Credentials are compared in constant time: both sides are hashed (SHA-256) first, so neither
//! the content nor the length of a configured secret shows in response times, and every
//! configured credential is compared (no early exit on a match).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Access, AuthMode, Credential};

/// The address a request comes from. The peer, unless the peer is a trusted proxy: then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
///
/// Every address is normalised first ([`canonical`]): a dual-stack socket reports an IPv4 peer
/// as `::ffff:a.b.c.d`, which an IPv4 rule would otherwise not match.
pub fn client_ip(peer: IpAddr, xff: Option<&str>, trusted: &[ipnet::IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(xff) = xff else {
        return peer;
    };
    let mut last = peer;
    for part in xff.rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            // A malformed hop: stop believing anything further left.
            return last;
        };
        let ip = canonical(ip);
        last = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    last
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it is; any other
/// address unchanged. Applied to the peer once at accept time and to every forwarded address,
/// before any rule (`trusted_proxies`, `admin_clients`, `clients`, limits) sees it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether `ip` may fetch (an empty rule set allows every address).
pub fn allowed(ip: IpAddr, nets: &[ipnet::IpNet]) -> bool {
    let ip = canonical(ip);
    nets.is_empty() || nets.iter().any(|n| n.contains(&ip))
}

/// The credentials a request carries.
#[derive(Debug, Default)]
pub struct Presented<'a> {
    /// `Authorization: Basic` user and password.
    pub basic: Option<(String, String)>,
    /// `Authorization: Bearer` token.
    pub bearer: Option<&'a str>,
    /// `?token=` in the query string.
    pub query_token: Option<String>,
}

impl<'a> Presented<'a> {
    /// Reads the `Authorization` header and the query string.
    pub fn read(authorization: Option<&'a str>, query: Option<&str>) -> Presented<'a> {
        let mut p = Presented::default();
        if let Some(h) = authorization {
            let h = h.trim();
            if let Some((scheme, rest)) = h.split_once(' ') {
                if scheme.eq_ignore_ascii_case("basic") {
                    p.basic = base64::engine::general_purpose::STANDARD
                        .decode(rest.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .and_then(|s| {
                            s.split_once(':')
                                .map(|(u, pw)| (u.to_string(), pw.to_string()))
                        });
                } else if scheme.eq_ignore_ascii_case("bearer") {
                    p.bearer = Some(rest.trim());
                }
            }
        }
        if let Some(q) = query {
            for pair in q.split('&') {
                if let Some(v) = pair.strip_prefix("token=") {
                    p.query_token = Some(percent_decode(v));
                }
            }
        }
        p
    }

    /// Whether any credential was sent at all.
    pub fn any(&self) -> bool {
        self.basic.is_some() || self.bearer.is_some() || self.query_token.is_some()
    }
}

/// `application/x-www-form-urlencoded` decoding of one query key or value (`%XX`, `+`); a bad
/// escape is kept as written.
pub(super) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Compares against every credential without stopping at a match; returns the matching name.
fn find<'c>(creds: &'c [Credential], user: Option<&str>, secret: &str) -> Option<&'c str> {
    let want = digest(secret);
    let mut found: Option<&str> = None;
    for c in creds {
        let ok_secret = digest(&c.secret).ct_eq(&want);
        let ok_user = match user {
            Some(u) => digest(&c.name).ct_eq(&digest(u)),
            None => subtle::Choice::from(1),
        };
        if bool::from(ok_secret & ok_user) && found.is_none() {
            found = Some(&c.name);
        }
    }
    found
}

/// The result of checking a request against a list.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Allowed; the client's name (`anonymous` without auth).
    Allowed(&'a str),
    /// No credentials where some are needed.
    Missing,
    /// Wrong credentials.
    Wrong,
}

/// Checks the credentials of a request against one list.
pub fn check<'a>(access: &'a Access, p: &Presented<'_>) -> Verdict<'a> {
    match access.auth {
        AuthMode::None => Verdict::Allowed("anonymous"),
        AuthMode::Basic => match &p.basic {
            None => Verdict::Missing,
            Some((u, pw)) => match find(&access.users, Some(u), pw) {
                Some(n) => Verdict::Allowed(n),
                None => Verdict::Wrong,
            },
        },
        AuthMode::Token => {
            let t = p
                .bearer
                .map(str::to_string)
                .or_else(|| p.query_token.clone());
            match t {
                None => Verdict::Missing,
                Some(t) => match find(&access.tokens, None, &t) {
                    Some(n) => Verdict::Allowed(n),
                    None => Verdict::Wrong,
                },
            }
        }
    }
}

/// Failed logins per client address, across lists and connections: a budget of [`BURST`]
/// failures that refills at one per [`INTERVAL`] (GCRA). While an address has no budget left,
/// its credentials are not checked at all (the request is refused with 429), so parallel
/// connections gain nothing: sustained guessing from one address stays at one per second.
/// A success does not refund earlier failures.
///
/// The check and the bookkeeping happen under one lock, so requests arriving together cannot
/// all pass a budget that only one of them may use.
#[derive(Debug, Default)]
pub struct Limiter {
    /// Per address: the theoretical arrival time of its next failure (GCRA).
    seen: Mutex<HashMap<IpAddr, Instant>>,
}

/// Whole seconds for `Retry-After` from a throttle's wait (rounded up, at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// Sustained failed logins allowed per address: one per this interval.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Failed logins an address may make at once before the interval applies.
pub const BURST: u32 = 10;
/// Addresses remembered at most (a flood of addresses cannot grow memory).
const MAX_TRACKED: usize = 65_536;

impl Limiter {
    /// Checks credentials with `check` (`None`: wrong) unless `ip` has no failures left;
    /// then `Err(wait)`, how long until it may try again, and `check` is not called.
    pub fn attempt<T>(
        &self,
        ip: IpAddr,
        check: impl FnOnce() -> Option<T>,
    ) -> Result<Option<T>, Duration> {
        self.attempt_at(ip, Instant::now(), check)
    }

    fn attempt_at<T>(
        &self,
        ip: IpAddr,
        now: Instant,
        check: impl FnOnce() -> Option<T>,
    ) -> Result<Option<T>, Duration> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tolerance = INTERVAL * (BURST - 1);
        let tat = seen.get(&ip).copied().filter(|t| *t > now).unwrap_or(now);
        if tat > now + tolerance {
            return Err(tat - tolerance - now);
        }
        let r = check();
        if r.is_none() {
            if seen.len() >= MAX_TRACKED && !seen.contains_key(&ip) {
                seen.retain(|_, t| *t > now);
                if seen.len() >= MAX_TRACKED {
                    seen.clear();
                }
            }
            seen.insert(ip, tat + INTERVAL);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<ipnet::IpNet> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(ip("192.0.2.1"), Some("198.51.100.7"), &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // A client cannot forge the left part: the right-most untrusted hop counts.
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                Some("1.2.3.4, 198.51.100.7, 10.0.0.2"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("junk"), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn acl_and_mapped_addresses() {
        let n = nets(&["192.0.2.0/24"]);
        assert!(allowed("192.0.2.9".parse().unwrap(), &n));
        assert!(allowed("::ffff:192.0.2.9".parse().unwrap(), &n));
        assert!(!allowed("192.0.3.9".parse().unwrap(), &n));
        assert!(allowed("192.0.3.9".parse().unwrap(), &[]));
    }

    fn access(auth: AuthMode) -> Access {
        let c = |n: &str, s: &str| Credential {
            name: n.into(),
            secret: s.into(),
        };
        Access {
            auth,
            users: vec![c("fw-hq", "pw1"), c("fw-dc", "pw2")],
            tokens: vec![c("fw-dc2", "0123456789abcdef0123")],
            clients: vec![],
        }
    }

    #[test]
    fn basic_and_token() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let basic = access(AuthMode::Basic);
        let h = format!("Basic {}", b64("fw-dc:pw2"));
        assert_eq!(
            check(&basic, &Presented::read(Some(&h), None)),
            Verdict::Allowed("fw-dc")
        );
        let h = format!("Basic {}", b64("fw-dc:pw1"));
        assert_eq!(
            check(&basic, &Presented::read(Some(&h), None)),
            Verdict::Wrong
        );
        assert_eq!(
            check(&basic, &Presented::read(None, None)),
            Verdict::Missing
        );
        let tok = access(AuthMode::Token);
        assert_eq!(
            check(
                &tok,
                &Presented::read(Some("Bearer 0123456789abcdef0123"), None)
            ),
            Verdict::Allowed("fw-dc2")
        );
        assert_eq!(
            check(
                &tok,
                &Presented::read(None, Some("a=1&token=0123456789abcdef0123"))
            ),
            Verdict::Allowed("fw-dc2")
        );
        assert_eq!(
            check(&tok, &Presented::read(Some("Bearer nope"), None)),
            Verdict::Wrong
        );
        assert_eq!(
            check(&access(AuthMode::None), &Presented::read(None, None)),
            Verdict::Allowed("anonymous")
        );
    }

    #[test]
    fn limiter_budget_is_per_address_and_not_reset_by_a_success() {
        let l = Limiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(l.attempt_at(ip, t0, || None::<()>), Ok(None));
        }
        // A success (on any list) does not refund the failures.
        let mut called = false;
        assert!(l
            .attempt_at(ip, t0, || {
                called = true;
                Some(())
            })
            .is_err());
        assert!(!called, "credentials are not checked without budget");
        // Another address has its own budget.
        assert_eq!(l.attempt_at(other, t0, || Some(())), Ok(Some(())));
        // One more failure per interval, not more.
        let t1 = t0 + INTERVAL;
        assert_eq!(l.attempt_at(ip, t1, || None::<()>), Ok(None));
        assert!(l.attempt_at(ip, t1, || None::<()>).is_err());
        // Over 60 s of steady trying, at most one failure per second gets checked.
        let mut checked = 0;
        for ms in (0..60_000).step_by(50) {
            let t = t1 + Duration::from_millis(ms);
            if l.attempt_at(ip, t, || None::<()>).is_ok() {
                checked += 1;
            }
        }
        assert!(checked <= 60, "{checked} guesses checked in 60 s");
        // A successful login while within budget leaves the budget as it was.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!(l.attempt_at(ip, t2, || Some(1)), Ok(Some(1)));
        for _ in 0..BURST {
            assert_eq!(l.attempt_at(ip, t2, || None::<()>), Ok(None));
        }
        assert!(l.attempt_at(ip, t2, || None::<()>).is_err());
    }

    #[test]
    fn mapped_addresses_are_normalised_before_proxy_rules() {
        let trusted = nets(&["127.0.0.1/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A dual-stack socket reports the IPv4 proxy as ::ffff:127.0.0.1.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), Some("203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), None, &trusted),
            ip("127.0.0.1")
        );
        // A forwarded mapped address is the IPv4 one too.
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("::ffff:203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn query_token_is_percent_decoded() {
        let p = Presented::read(None, Some("token=a%2Bb+c%zz"));
        assert_eq!(p.query_token.as_deref(), Some("a+b c%zz"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("match%5Bid%5D"), "match[id]");
        assert_eq!(percent_decode("a%3"), "a%3");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(
            percent_decode("2026-01-01T00%3A00%3A00Z"),
            "2026-01-01T00:00:00Z"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, rng_seed: proptest::test_runner::RngSeed::Fixed(6), ..Default::default() })]

        /// Any header text: no panic; the client is the peer or an address from the header.
        #[test]
        fn forwarded_for_never_panics(xff in ".{0,80}", a in 0u8..=255, trusted in proptest::bool::ANY) {
            let peer: IpAddr = format!("10.0.0.{a}").parse().unwrap();
            let nets = if trusted { nets(&["10.0.0.0/8"]) } else { vec![] };
            let ip = client_ip(peer, Some(&xff), &nets);
            proptest::prop_assert!(ip == peer || xff.contains(&ip.to_string()) || xff.to_ascii_lowercase().contains(&ip.to_string()));
            if !trusted {
                proptest::prop_assert_eq!(ip, peer);
            }
        }

        /// Any Authorization header and query: no panic, and never allowed without the secret.
        #[test]
        fn credentials_never_panic(h in ".{0,64}", q in ".{0,64}") {
            let p = Presented::read(Some(&h), Some(&q));
            for mode in [AuthMode::Basic, AuthMode::Token] {
                let a = access(mode);
                let v = check(&a, &p);
                if let Verdict::Allowed(_) = v {
                    proptest::prop_assert!(h.contains("Basic") || h.to_ascii_lowercase().contains("bearer") || q.contains("token="));
                }
            }
        }
    }
}
