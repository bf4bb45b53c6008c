//! Allowlists: what a list must never block, subtracted exactly.
//!
//! - IP entries are subtracted as address sets (`10.0.0.0/8` minus `10.1.2.0/24` keeps the rest).
//! - A domain entry removes that domain and URLs on it; `*.x.com` also removes its subdomains.
//!   A blocked wildcard that would cover an allowed subdomain is narrowed to its apex, because a
//!   firewall list cannot express "all of `*.x.com` except `mail.x.com`".
//! - A URL entry removes that exact (normalized) URL. A hash entry removes that hash.
//!
//! Allow entries are not guarded: allowing `10.0.0.0/8` or `co.uk` is the operator's call.

use foldhash::HashSet;

use crate::indicator::url::UrlHost;
use crate::indicator::{domain, DomainRef, IpRange, UrlValue, Value};

use super::ipset;

/// A compiled allowlist.
#[derive(Debug, Clone, Default)]
pub struct AllowSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    exact: HashSet<String>,
    wild: HashSet<String>,
    /// Strict ancestors of every allowed domain, so a blocked `*.x.com` knows it covers one.
    ancestors: HashSet<String>,
    urls: HashSet<String>,
    hashes: HashSet<String>,
    len: usize,
}

impl AllowSet {
    /// Builds an allowlist from values.
    pub fn new(values: impl IntoIterator<Item = Value>) -> Self {
        let mut s = AllowSet::default();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for v in values {
            s.len += 1;
            match v {
                Value::Ip(IpRange::V4 { start, end }) => v4.push((start, end)),
                Value::Ip(IpRange::V6 { start, end }) => v6.push((start, end)),
                Value::Domain(d) => {
                    let mut p = domain::parent(&d.name);
                    while let Some(a) = p {
                        s.ancestors.insert(a.to_string());
                        p = domain::parent(a);
                    }
                    if d.wildcard {
                        s.wild.insert(d.name);
                    } else {
                        s.exact.insert(d.name);
                    }
                }
                Value::Url(u) => {
                    s.urls.insert(u.as_str().to_string());
                }
                Value::Hash(h) => {
                    s.hashes.insert(h.hex);
                }
            }
        }
        s.v4 = ipset::merge(v4);
        s.v6 = ipset::merge(v6);
        s
    }

    /// Number of allow entries it was built from.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when built from no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The allowed IPv4 space, merged.
    pub fn v4(&self) -> &[(u32, u32)] {
        &self.v4
    }

    /// The allowed IPv6 space, merged.
    pub fn v6(&self) -> &[(u128, u128)] {
        &self.v6
    }

    /// True when the whole range is allowed.
    pub fn covers_ip(&self, r: &IpRange) -> bool {
        match *r {
            IpRange::V4 { start, end } => ipset::covers(&self.v4, start, end),
            IpRange::V6 { start, end } => ipset::covers(&self.v6, start, end),
        }
    }

    /// True when this name is allowed (exactly, or under an allowed wildcard).
    pub fn allows_name(&self, name: &str) -> bool {
        if self.exact.contains(name) || self.wild.contains(name) {
            return true;
        }
        let mut p = domain::parent(name);
        while let Some(a) = p {
            if self.wild.contains(a) {
                return true;
            }
            p = domain::parent(a);
        }
        false
    }

    /// What the allowlist does to a blocked domain.
    pub fn check_domain(&self, d: DomainRef<'_>) -> DomainVerdict {
        if self.allows_name(d.name) {
            return DomainVerdict::Removed;
        }
        if d.wildcard && self.ancestors.contains(d.name) {
            return DomainVerdict::NarrowToApex;
        }
        DomainVerdict::Keep
    }

    /// True when the allowlist removes this URL (by exact URL or by its host).
    pub fn allows_url(&self, u: &UrlValue) -> bool {
        if self.urls.contains(u.as_str()) {
            return true;
        }
        match u.host() {
            UrlHost::Domain(h) => self.allows_name(h),
            UrlHost::Ip(r) => self.covers_ip(&r),
        }
    }

    /// True when the allowlist removes this hash.
    pub fn allows_hash(&self, hex: &str) -> bool {
        self.hashes.contains(hex)
    }
}

/// The allowlist's verdict on a blocked domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainVerdict {
    /// Not affected.
    Keep,
    /// Removed whole.
    Removed,
    /// A wildcard over an allowed subdomain: keep only the apex name.
    NarrowToApex,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{parse_token, Domain};

    fn set(lines: &[&str]) -> AllowSet {
        AllowSet::new(
            lines
                .iter()
                .map(|l| parse_token(l.as_bytes(), None).unwrap().value),
        )
    }
    fn d(s: &str) -> Domain {
        crate::indicator::domain::parse(s).unwrap().0
    }
    fn u(s: &str) -> UrlValue {
        crate::indicator::url::parse(s).unwrap().0
    }

    #[test]
    fn domains() {
        let a = set(&["good.com", "*.corp.com", "mail.partner.com"]);
        assert_eq!(a.check_domain(d("good.com").view()), DomainVerdict::Removed);
        assert_eq!(a.check_domain(d("x.good.com").view()), DomainVerdict::Keep);
        assert_eq!(a.check_domain(d("corp.com").view()), DomainVerdict::Removed);
        assert_eq!(
            a.check_domain(d("a.b.corp.com").view()),
            DomainVerdict::Removed
        );
        assert_eq!(
            a.check_domain(d("*.corp.com").view()),
            DomainVerdict::Removed
        );
        assert_eq!(
            a.check_domain(d("*.partner.com").view()),
            DomainVerdict::NarrowToApex
        );
        assert_eq!(a.check_domain(d("partner.com").view()), DomainVerdict::Keep);
    }

    #[test]
    fn urls() {
        let a = set(&["http://evil.com/ok", "good.com", "8.8.8.0/24"]);
        assert!(a.allows_url(&u("http://evil.com/ok")));
        assert!(!a.allows_url(&u("http://evil.com/bad")));
        assert!(a.allows_url(&u("https://good.com/anything")));
        assert!(a.allows_url(&u("http://8.8.8.8/x")));
    }
}
