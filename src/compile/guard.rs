//! The safety floor: entries no list may ever publish, whatever a feed says.
//!
//! - Width: an IP entry broader than /8 (IPv4) or /24 (IPv6) — for a range, more addresses than
//!   that — is refused whole, never partly published. So `0.0.0.0/0` and `::/0` never appear.
//! - Special-purpose space (IANA IPv4/IPv6 Special-Purpose Address Registries, RFC 6890 and
//!   successors) is subtracted exactly from every IP list; see [`SPECIAL_V4`] and [`SPECIAL_V6`].
//! - Public suffixes (PSL, ICANN and private sections, implicit `*` rule) and wildcards on them.
//! - Any entry that reaches every name under `N` when a rule of the PSL — plain, wildcard or
//!   exception — lies at or below `N`: `*.amazonaws.com` (S3 buckets are registered under
//!   `s3.amazonaws.com`, a public suffix), `*.sch.uk` (every UK school), `*.nom.br`. "Reaches
//!   every name under it" is a `*.N` wildcard on every vendor, and a plain `N` on a vendor whose
//!   plain entries also match subdomains (the vendor says so through
//!   [`super::VendorRules::plain_name_covers_subdomains`]; a URL naming a whole site counts as a
//!   plain entry of its host there). A plain `N` on other vendors is refused only when `N` is
//!   itself a suffix or special-use.
//! - Special-use names (RFC 6761, 6762, 8375, 9476, and ICANN's `.internal`) and all under them.
//! - URLs whose host is refused by the rules above — except a URL with a real path on a
//!   public-suffix host of two labels or more (`s3.amazonaws.com/bucket/login.html`), which blocks
//!   only that path.
//!
//! The floor can only be narrowed by explicit list config (a later issue), never by a feed.

use std::sync::{Arc, Mutex, OnceLock};

use crate::indicator::url::UrlHost;
use crate::indicator::{Domain, DomainRef, IpRange, Skip, UrlValue, Value};

use super::ipset;
use super::psl::PublicSuffixes;

/// IPv4 special-purpose space, always subtracted.
pub const SPECIAL_V4: &[&str] = &[
    "0.0.0.0/8",       // "this network", RFC 791
    "10.0.0.0/8",      // private, RFC 1918
    "100.64.0.0/10",   // shared address space (CGN), RFC 6598
    "127.0.0.0/8",     // loopback, RFC 1122
    "169.254.0.0/16",  // link-local, RFC 3927
    "172.16.0.0/12",   // private, RFC 1918
    "192.0.0.0/24",    // IETF protocol assignments, RFC 6890
    "192.0.2.0/24",    // TEST-NET-1, RFC 5737
    "192.168.0.0/16",  // private, RFC 1918
    "198.18.0.0/15",   // benchmarking, RFC 2544
    "198.51.100.0/24", // TEST-NET-2, RFC 5737
    "203.0.113.0/24",  // TEST-NET-3, RFC 5737
    "224.0.0.0/4",     // multicast, RFC 5771
    "240.0.0.0/4",     // reserved + limited broadcast, RFC 1112 / RFC 919
];

/// IPv6 special-purpose space, always subtracted.
pub const SPECIAL_V6: &[&str] = &[
    "::/128",        // unspecified, RFC 4291
    "::1/128",       // loopback, RFC 4291
    "::ffff:0:0/96", // IPv4-mapped, RFC 4291
    "64:ff9b::/96",  // IPv4/IPv6 translation, RFC 6052
    "100::/64",      // discard-only, RFC 6666
    "2001:db8::/32", // documentation, RFC 3849
    "fc00::/7",      // unique local, RFC 4193
    "fe80::/10",     // link-local, RFC 4291
    "ff00::/8",      // multicast, RFC 4291
];

/// Special-use domain names: blocking them can only break internal names.
pub const SPECIAL_USE_NAMES: &[&str] = &[
    "localhost", // RFC 6761
    "local",     // RFC 6762 (mDNS)
    "invalid",   // RFC 6761
    "test",      // RFC 6761
    "example",   // RFC 6761
    "alt",       // RFC 9476
    "internal",  // ICANN resolution 2024-07-29
    "home.arpa", // RFC 8375
];

/// Widest IPv4 entry accepted: a /8 (2^24 addresses).
pub const MAX_SPAN_V4: u128 = (1 << 24) - 1;
/// Widest IPv6 entry accepted: a /24 (2^104 addresses).
pub const MAX_SPAN_V6: u128 = (1 << 104) - 1;

/// Refused because too wide.
pub const TOO_WIDE: Skip = Skip::guarded("wider than /8 (IPv4) or /24 (IPv6)");
/// Refused because wholly in special-purpose space.
pub const SPECIAL_SPACE: Skip =
    Skip::guarded("special-purpose address space (private, loopback, documentation, ...)");
const PUBLIC_SUFFIX: Skip = Skip::guarded("a public suffix (PSL)");
const WILDCARD_PUBLIC_SUFFIX: Skip = Skip::guarded("wildcard on a public suffix (PSL)");
const SPECIAL_USE: Skip = Skip::guarded("special-use name (RFC 6761 and successors)");
const SINGLE_LABEL_HOST: Skip = Skip::guarded("URL host with a single label");
const SUFFIX_HOST: Skip = Skip::guarded("URL on a public-suffix host without a path");
const URL_SPECIAL_HOST: Skip = Skip::guarded("URL host in special-purpose address space");

const WILDCARD_OVER_SUFFIX: Skip =
    Skip::guarded("wildcard over names that are public suffixes (PSL)");
const SUBTREE_OVER_SUFFIX: Skip =
    Skip::guarded("the vendor matches subdomains too, which include public suffixes (PSL)");

/// Most distinct "names the PSL rule" messages kept for the life of the process; past it the
/// message without the rule is used (see [`over_suffix`]).
const MAX_NAMED_DETAILS: usize = 1 << 16;

/// The refusal of an entry that reaches every name under it, naming the PSL rule found below.
///
/// A [`Skip`] carries a `&'static str` (skips are counted by the million and copied freely), so a
/// message naming the rule is made once per distinct rule and kept: the set is bounded by the
/// rules of the lists ever loaded (a few thousand are ever hit), and capped all the same.
fn over_suffix(wildcard: bool, rule: &str) -> Skip {
    type Named = [foldhash::HashMap<Box<str>, &'static str>; 2];
    static NAMED: OnceLock<Mutex<Named>> = OnceLock::new();
    let fallback = if wildcard {
        WILDCARD_OVER_SUFFIX
    } else {
        SUBTREE_OVER_SUFFIX
    };
    let Ok(mut named) = NAMED.get_or_init(Mutex::default).lock() else {
        return fallback;
    };
    let named = &mut named[usize::from(wildcard)];
    if let Some(&kept) = named.get(rule) {
        return Skip::guarded(kept);
    }
    if named.len() >= MAX_NAMED_DETAILS {
        return fallback;
    }
    let text = if wildcard {
        format!("wildcard over public suffixes: PSL rule {rule} lies at or below it")
    } else {
        format!("the vendor matches subdomains too, and PSL rule {rule} lies at or below it")
    };
    let kept: &'static str = Box::leak(text.into_boxed_str());
    named.insert(rule.into(), kept);
    Skip::guarded(kept)
}

fn parse_cidrs<T: ipset::Addr>(list: &[&str], parse: impl Fn(&str) -> (T, T)) -> Vec<(T, T)> {
    ipset::merge(list.iter().map(|s| parse(s)).collect())
}

/// The special-purpose IPv4 space as merged intervals.
pub fn special_v4() -> &'static [(u32, u32)] {
    static S: OnceLock<Vec<(u32, u32)>> = OnceLock::new();
    S.get_or_init(|| {
        parse_cidrs(SPECIAL_V4, |s| {
            let n: ipnet::Ipv4Net = s.parse().expect("constant CIDR");
            (u32::from(n.network()), u32::from(n.broadcast()))
        })
    })
}

/// The special-purpose IPv6 space as merged intervals.
pub fn special_v6() -> &'static [(u128, u128)] {
    static S: OnceLock<Vec<(u128, u128)>> = OnceLock::new();
    S.get_or_init(|| {
        parse_cidrs(SPECIAL_V6, |s| {
            let n: ipnet::Ipv6Net = s.parse().expect("constant CIDR");
            (u128::from(n.network()), u128::from(n.broadcast()))
        })
    })
}

/// Width rule for one IP entry.
pub fn check_width(r: &IpRange) -> Result<(), Skip> {
    let max = match r {
        IpRange::V4 { .. } => MAX_SPAN_V4,
        IpRange::V6 { .. } => MAX_SPAN_V6,
    };
    if r.span() > max {
        Err(TOO_WIDE)
    } else {
        Ok(())
    }
}

/// True when the whole range is special-purpose space.
pub fn wholly_special(r: &IpRange) -> bool {
    match *r {
        IpRange::V4 { start, end } => ipset::covers(special_v4(), start, end),
        IpRange::V6 { start, end } => ipset::covers(special_v6(), start, end),
    }
}

/// True for a special-use name or any name under one.
pub fn is_special_use(name: &str) -> bool {
    SPECIAL_USE_NAMES.iter().any(|s| {
        name == *s
            || (name.len() > s.len()
                && name.ends_with(s)
                && name.as_bytes()[name.len() - s.len() - 1] == b'.')
    })
}

/// How far a name entry reaches once the vendor matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The name alone.
    Name,
    /// A `*.name` wildcard: every name under `name` (PAN-OS and the Check Point Network Feed
    /// also write the name itself beside it).
    Wildcard,
    /// A plain name on a vendor that matches its subdomains too.
    Subdomains,
}

impl Reach {
    /// The reach of `d` on a vendor whose plain entries do (`true`) or do not match subdomains.
    pub fn of(d: DomainRef<'_>, plain_covers_subdomains: bool) -> Reach {
        if d.wildcard {
            Reach::Wildcard
        } else if plain_covers_subdomains {
            Reach::Subdomains
        } else {
            Reach::Name
        }
    }
}

/// The name and URL rules, holding the Public Suffix List they use.
#[derive(Debug, Clone)]
pub struct Guard {
    psl: Arc<PublicSuffixes>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard::new(PublicSuffixes::embedded())
    }
}

impl Guard {
    /// A guard using `psl`.
    pub fn new(psl: Arc<PublicSuffixes>) -> Self {
        Guard { psl }
    }

    /// The list in use.
    pub fn psl(&self) -> &PublicSuffixes {
        &self.psl
    }

    /// Checks an IP entry: width, then special-purpose space (whole entries only; partial overlap
    /// is subtracted later, exactly).
    pub fn check_ip(&self, r: &IpRange) -> Result<(), Skip> {
        check_width(r)?;
        if wholly_special(r) {
            return Err(SPECIAL_SPACE);
        }
        Ok(())
    }

    /// Checks any entry for a vendor: `plain_covers_subdomains` is the vendor's
    /// [`super::VendorRules::plain_name_covers_subdomains`]. What the compiler and `explain`
    /// both ask, so they never disagree.
    pub fn check(&self, value: &Value, plain_covers_subdomains: bool) -> Result<(), Skip> {
        match value {
            Value::Ip(r) => self.check_ip(r),
            Value::Domain(d) => self.check_domain_for(d.view(), plain_covers_subdomains),
            Value::Url(u) => self.check_url_as(u, plain_covers_subdomains),
            Value::Hash(_) => Ok(()),
        }
    }

    /// [`Guard::check`] of a domain.
    pub fn check_domain_for(
        &self,
        d: DomainRef<'_>,
        plain_covers_subdomains: bool,
    ) -> Result<(), Skip> {
        self.check_name(d.name, Reach::of(d, plain_covers_subdomains))
    }

    /// Checks a domain entry as written: `*.name` reaches every name under `name`, a plain name
    /// only itself. For a vendor whose plain entries match subdomains, use [`Guard::check`].
    pub fn check_domain(&self, d: &Domain) -> Result<(), Skip> {
        self.check_domain_for(d.view(), false)
    }

    /// Checks a name entry that reaches `reach` once the vendor matches it.
    pub fn check_name(&self, name: &str, reach: Reach) -> Result<(), Skip> {
        if is_special_use(name) {
            return Err(SPECIAL_USE);
        }
        if self.psl.is_public_suffix(name) {
            return Err(match reach {
                Reach::Wildcard => WILDCARD_PUBLIC_SUFFIX,
                Reach::Name | Reach::Subdomains => PUBLIC_SUFFIX,
            });
        }
        if reach != Reach::Name {
            if let Some(rule) = self.psl.suffix_at_or_below(name) {
                return Err(over_suffix(reach == Reach::Wildcard, rule));
            }
        }
        Ok(())
    }

    /// Checks a URL entry by its host, as written (the host matched exactly).
    pub fn check_url(&self, u: &UrlValue) -> Result<(), Skip> {
        self.check_url_as(u, false)
    }

    /// Checks a URL entry by its host; `host_covers_subdomains` when the vendor matches a URL
    /// that names a whole site (no path beyond `/`) on every subdomain of its host too: such a
    /// URL is then held to the rule of a wildcard on its host.
    pub fn check_url_as(&self, u: &UrlValue, host_covers_subdomains: bool) -> Result<(), Skip> {
        match u.host() {
            UrlHost::Ip(r) => {
                if wholly_special(&r) {
                    Err(URL_SPECIAL_HOST)
                } else {
                    Ok(())
                }
            }
            UrlHost::Domain(h) => {
                if is_special_use(h) {
                    return Err(SPECIAL_USE);
                }
                if !h.contains('.') {
                    return Err(SINGLE_LABEL_HOST);
                }
                // The path first: most URLs have one, and then neither PSL question is asked
                // (a third of the guard's time on 1M generated URLs went to the PSL look-up).
                let site = !u.has_real_path();
                if site && self.psl.is_public_suffix(h) {
                    return Err(SUFFIX_HOST);
                }
                if host_covers_subdomains && site {
                    if let Some(rule) = self.psl.suffix_at_or_below(h) {
                        return Err(over_suffix(false, rule));
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{domain, ip, url, SkipReason};

    fn g() -> Guard {
        Guard::default()
    }
    fn dom(s: &str) -> Result<(), Skip> {
        g().check_domain(&domain::parse(s).unwrap().0)
    }
    fn u(s: &str) -> Result<(), Skip> {
        g().check_url(&url::parse(s).unwrap().0)
    }
    fn ipr(s: &str) -> Result<(), Skip> {
        let r = if s.contains(':') {
            ip::parse_v6_token(s).unwrap().range
        } else {
            ip::parse_v4_token(s.as_bytes()).unwrap().range
        };
        g().check_ip(&r)
    }
    macro_rules! guarded {
        ($name:ident, $f:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert_eq!($f($in).map_err(|e| e.reason), Err(SkipReason::Guarded));
            }
        };
    }
    macro_rules! allowed {
        ($name:ident, $f:ident, $in:expr) => {
            #[test]
            fn $name() {
                assert_eq!($f($in), Ok(()));
            }
        };
    }

    guarded!(slash_zero, ipr, "0.0.0.0/0");
    guarded!(v6_slash_zero, ipr, "::/0");
    guarded!(slash_7, ipr, "2.0.0.0/7");
    allowed!(slash_8, ipr, "2.0.0.0/8");
    guarded!(v6_slash_23, ipr, "2a00::/23");
    allowed!(v6_slash_24, ipr, "2a00::/24");
    guarded!(wide_range, ipr, "1.0.0.0-2.0.0.0");
    allowed!(range_exactly_slash_8, ipr, "1.0.0.0-1.255.255.255");
    guarded!(private, ipr, "10.1.2.3");
    guarded!(loopback, ipr, "127.0.0.1");
    guarded!(doc_v6, ipr, "2001:db8::1");
    guarded!(ula, ipr, "fd00::1");
    allowed!(
        partly_special_is_not_refused_whole,
        ipr,
        "9.255.255.250-10.0.0.5"
    );
    allowed!(public_v4, ipr, "8.8.8.8");

    guarded!(tld, dom, "com");
    guarded!(co_uk, dom, "co.uk");
    guarded!(wild_co_uk, dom, "*.co.uk");
    guarded!(github_io, dom, "github.io");
    guarded!(single_label, dom, "intranet");
    guarded!(ec2_host, dom, "ec2-1-2-3-4.compute-1.amazonaws.com");
    guarded!(localhost, dom, "localhost");
    guarded!(under_local, dom, "printer.local");
    guarded!(under_test, dom, "a.b.test");
    guarded!(home_arpa, dom, "nas.home.arpa");
    guarded!(internal, dom, "corp.internal");
    guarded!(example_tld, dom, "foo.example");
    allowed!(evil_github_io, dom, "evil.github.io");
    allowed!(wild_evil, dom, "*.evil.com");
    allowed!(testing_com, dom, "testing.com");
    allowed!(localhost_lookalike, dom, "mylocalhost.com");

    // Issue 11: a wildcard over names that are public suffixes.
    guarded!(wild_amazonaws, dom, "*.amazonaws.com");
    guarded!(wild_compute_1, dom, "*.compute-1.amazonaws.com");
    guarded!(wild_sch_uk, dom, "*.sch.uk");
    guarded!(wild_nom_br, dom, "*.nom.br");
    guarded!(wild_on_exception, dom, "*.city.kawasaki.jp");
    guarded!(
        wild_on_ec2_host,
        dom,
        "*.ec2-1-2-3-4.compute-1.amazonaws.com"
    );
    // The bare names are not suffixes themselves: kept where the vendor matches the name alone.
    allowed!(bare_amazonaws, dom, "amazonaws.com");
    allowed!(bare_sch_uk, dom, "sch.uk");
    allowed!(bare_exception, dom, "city.kawasaki.jp");
    allowed!(
        wild_below_wildcard_host,
        dom,
        "*.x.ec2-1-2-3-4.compute-1.amazonaws.com"
    );
    allowed!(wild_evil_github_io, dom, "*.evil.github.io");

    fn subtree(s: &str) -> Result<(), Skip> {
        g().check(
            &crate::indicator::parse_token(s.as_bytes(), None)
                .unwrap()
                .value,
            true,
        )
    }
    guarded!(subtree_bare_amazonaws, subtree, "amazonaws.com");
    guarded!(subtree_bare_sch_uk, subtree, "sch.uk");
    guarded!(subtree_suffix, subtree, "co.uk");
    guarded!(subtree_site_url, subtree, "http://amazonaws.com/");
    allowed!(subtree_path_url, subtree, "http://amazonaws.com/login.html");
    allowed!(subtree_evil, subtree, "evil.com");
    allowed!(subtree_evil_url, subtree, "http://evil.com/");

    #[test]
    fn refusals_name_the_rule_and_reuse_one_message() {
        let a = dom("*.sch.uk").unwrap_err();
        assert_eq!(
            a.detail,
            "wildcard over public suffixes: PSL rule *.sch.uk lies at or below it"
        );
        let b = dom("*.sch.uk").unwrap_err();
        assert!(std::ptr::eq(a.detail, b.detail), "one message per rule");
        let c = subtree("sch.uk").unwrap_err();
        assert_eq!(
            c.detail,
            "the vendor matches subdomains too, and PSL rule *.sch.uk lies at or below it"
        );
        // A wildcard whose own name is a suffix keeps its message.
        assert_eq!(dom("*.co.uk").unwrap_err(), WILDCARD_PUBLIC_SUFFIX);
        assert_eq!(subtree("co.uk").unwrap_err(), PUBLIC_SUFFIX);
    }

    guarded!(url_co_uk_root, u, "http://co.uk/");
    guarded!(url_github_io_root, u, "https://github.io/");
    guarded!(url_single_label, u, "http://intranet/login");
    guarded!(url_private_ip, u, "http://192.168.1.1/admin");
    guarded!(url_hex_loopback, u, "http://0x7f.1/x");
    guarded!(url_localhost_path, u, "http://localhost/x");
    allowed!(url_s3_path, u, "http://s3.amazonaws.com/bucket/login.html");
    allowed!(url_github_io_path, u, "https://github.io/evil/login");
    allowed!(url_plain, u, "http://evil.com/");
    allowed!(url_public_ip, u, "http://8.8.8.8/x");

    #[test]
    fn special_space_is_merged() {
        assert_eq!(special_v4().len(), SPECIAL_V4.len() - 1); // 224/4 and 240/4 merge
        assert!(is_special_use("localhost"));
        assert!(!is_special_use("notlocal"));
    }
}
