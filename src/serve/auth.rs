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
pub fn client_ip(peer: IpAddr, xff: Option<&str>, trusted: &[ipnet::IpNet]) -> IpAddr {
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
        last = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    last
}

/// Whether `ip` may fetch (an empty rule set allows every address).
pub fn allowed(ip: IpAddr, nets: &[ipnet::IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
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

fn percent_decode(s: &str) -> String {
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

/// Failed authentications per address, for the slow-down.
#[derive(Debug, Default)]
pub struct Limiter {
    seen: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Failures allowed in a window before answers slow down.
const FREE_FAILURES: u32 = 5;
/// The window after which an address's count starts over.
const WINDOW: Duration = Duration::from_secs(600);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Addresses remembered at most (a flood of addresses cannot grow memory).
const MAX_TRACKED: usize = 65_536;

impl Limiter {
    /// Notes a failure; returns how long to wait before answering.
    pub fn fail(&self, ip: IpAddr) -> Duration {
        let Ok(mut seen) = self.seen.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, (_, t)| now.duration_since(*t) < WINDOW);
            if seen.len() >= MAX_TRACKED {
                seen.clear();
            }
        }
        let e = seen.entry(ip).or_insert((0, now));
        if now.duration_since(e.1) >= WINDOW {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
        if e.0 <= FREE_FAILURES {
            return Duration::ZERO;
        }
        let steps = (e.0 - FREE_FAILURES).min(16);
        (Duration::from_millis(100) * 2u32.pow(steps - 1)).min(MAX_DELAY)
    }

    /// Forgets an address after a success.
    pub fn succeed(&self, ip: IpAddr) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(&ip);
        }
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
    fn limiter_slows_repeated_failures() {
        let l = Limiter::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(l.fail(ip), Duration::ZERO);
        }
        assert_eq!(l.fail(ip), Duration::from_millis(100));
        assert_eq!(l.fail(ip), Duration::from_millis(200));
        for _ in 0..20 {
            l.fail(ip);
        }
        assert_eq!(l.fail(ip), MAX_DELAY);
        l.succeed(ip);
        assert_eq!(l.fail(ip), Duration::ZERO);
    }

    #[test]
    fn query_token_is_percent_decoded() {
        let p = Presented::read(None, Some("token=a%2Bb+c%zz"));
        assert_eq!(p.query_token.as_deref(), Some("a+b c%zz"));
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
