//! Compile: indicators in, one [`CompiledList`] out — selection, safety floor, allowlists,
//! aggregation, dedupe and capacity. No I/O, no vendor syntax.
//!
//! The vendor's constraints reach this stage only through the [`VendorRules`] trait (which
//! entries it can take, how IP sets are written, how many lines an entry costs), implemented in
//! `format/`, so capacity is counted in the lines the firewall will really see.
//!
//! Order of the steps, per entry: type selection → safety floor ([`guard`]) → vendor admission;
//! then per list: allowlist ([`allowlist`]) → union and exact subtraction of special-purpose
//! space and allowlists ([`ipset`]) → dedupe, wildcard coverage → capacity ([`cap`]).
//!
//! Files by role: this one holds the types and the [`Compiler`] that collects entries; `ip.rs`
//! compiles the IP entries of a list, `names.rs` the domains, URLs and hashes, `dedupe.rs` sorts
//! and deduplicates name entries, [`cap`] cuts the list to `max_entries`.

pub mod allowlist;
mod arena;
pub mod cap;
mod dedupe;
pub mod guard;
mod ip;
pub mod ipset;
mod names;
pub mod psl;

use std::borrow::Cow;

use crate::indicator::{
    Domain, DomainRef, Hash, IpRange, Kind, Meta, Priority, Report, Skip, SkipReason, UrlValue,
    Value,
};

pub use self::allowlist::AllowSet;
use self::arena::Names;
use self::cap::{apply_cap, Budget, Prios};
pub use self::guard::Guard;
use self::ip::{compile_ip, ip_cost, IpInputs};
use self::names::{compile_domains, compile_hashes, compile_urls};

/// How a vendor writes a set of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpStyle {
    /// The minimal CIDR cover; single hosts bare.
    Cidr,
    /// One `start-end` line per merged interval (a single host bare, an aligned block may be
    /// written as a CIDR by the vendor).
    Range,
    /// One line per address.
    Hosts,
}

/// What the compiler needs to know about the vendor a list is written for.
pub trait VendorRules: Sync {
    /// Whether the vendor can write this entry at all (kind support, family, width, length...).
    ///
    /// # Errors
    /// A `vendor_unsupported` [`Skip`] naming the vendor rule.
    fn admit(&self, value: &Value) -> Result<(), Skip>;
    /// [`VendorRules::admit`] of a domain whose name lies elsewhere (the same answer).
    ///
    /// # Errors
    /// As [`VendorRules::admit`].
    fn admit_domain(&self, d: DomainRef<'_>) -> Result<(), Skip> {
        self.admit(&Value::Domain(d.to_domain()))
    }
    /// How IP sets are written.
    fn ip_style(&self) -> IpStyle;
    /// How many lines a domain entry takes (PAN-OS writes `*.x.com` as two).
    fn domain_lines(&self, _d: DomainRef<'_>) -> usize {
        1
    }
    /// Whether a plain domain entry `x.com` — and a URL naming a whole site, `http://x.com/` —
    /// also matches every name under `x.com` on this vendor, as a `*.x.com` wildcard does. When
    /// it does, the safety floor holds such entries to the wildcard rule ([`guard::Reach`]):
    /// refused when a public suffix lies at or below the name.
    fn plain_name_covers_subdomains(&self) -> bool {
        false
    }
    /// The text a URL is written as; URLs with equal text are one entry.
    fn url_key<'a>(&self, u: &'a UrlValue) -> Cow<'a, str> {
        Cow::Borrowed(u.as_str())
    }
}

/// What a list asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPolicy {
    /// The list's name.
    pub name: String,
    /// The kinds it takes.
    pub kinds: Vec<Kind>,
    /// Most output lines; `None` = unlimited.
    pub max_entries: Option<u64>,
}

/// One IP output line: an interval (a CIDR block, a range, or a run of hosts per [`IpStyle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpLine<T> {
    /// First address.
    pub start: T,
    /// Last address.
    pub end: T,
    /// Highest confidence among the indicators it came from.
    pub confidence: u8,
}

/// One non-IP output entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<V> {
    /// The value.
    pub value: V,
    /// Highest confidence among its duplicates.
    pub confidence: u8,
    /// The comment of its best duplicate.
    pub comment: Option<String>,
}

/// A compiled list: every entry in final order, plus the report of what was dropped and why.
#[derive(Debug, Clone)]
pub struct CompiledList {
    /// The list's name.
    pub name: String,
    /// How the IP lines are cut.
    pub ip_style: IpStyle,
    /// IPv4 lines, ascending.
    pub v4: Vec<IpLine<u32>>,
    /// IPv6 lines, ascending.
    pub v6: Vec<IpLine<u128>>,
    /// Domains, by name.
    pub domains: Vec<Entry<Domain>>,
    /// URLs, by written text.
    pub urls: Vec<Entry<UrlValue>>,
    /// Hashes, by hex.
    pub hashes: Vec<Entry<Hash>>,
    /// Drops by reason.
    pub report: Report,
}

/// Index of an indicator's metadata inside a [`Compiler`].
pub type MetaId = u32;

/// Collects indicators for one list, then compiles it.
pub struct Compiler<'a> {
    policy: ListPolicy,
    guard: &'a Guard,
    rules: &'a dyn VendorRules,
    metas: Vec<Meta>,
    v4: IpInputs<u32>,
    v6: IpInputs<u128>,
    domains: Names,
    urls: Vec<(UrlValue, MetaId)>,
    hashes: Vec<(Hash, MetaId)>,
    report: Report,
}

const NOT_IN_LIST: Skip = Skip::new(SkipReason::WrongType, "the list does not take this type");
const ALLOWLISTED: Skip = Skip::new(SkipReason::Allowlisted, "removed by an allowlist entry");
const NARROWED: Skip = Skip::new(
    SkipReason::Allowlisted,
    "wildcard covers an allowlisted name; kept the apex name alone",
);
const COVERED: Skip = Skip::new(
    SkipReason::Covered,
    "covered by a wildcard on itself or an ancestor",
);
const OVER_LIMIT: Skip = Skip::new(SkipReason::OverLimit, "list is at max_entries");
const TOO_BIG: Skip = Skip::new(
    SkipReason::Invalid,
    "a name over 65,535 bytes, or past the 1 TiB of names a list can hold (256 buffers of 4 GiB)",
);

impl<'a> Compiler<'a> {
    /// Starts a list. Metadata id 0 is the default [`Meta`].
    pub fn new(policy: ListPolicy, guard: &'a Guard, rules: &'a dyn VendorRules) -> Self {
        Compiler {
            policy,
            guard,
            rules,
            metas: vec![Meta::default()],
            v4: IpInputs::default(),
            v6: IpInputs::default(),
            domains: Names::default(),
            urls: Vec::new(),
            hashes: Vec::new(),
            report: Report::default(),
        }
    }

    /// Registers metadata shared by the entries pushed with the returned id.
    pub fn add_meta(&mut self, meta: Meta) -> MetaId {
        if meta == Meta::default() {
            return 0;
        }
        self.metas.push(meta);
        (self.metas.len() - 1) as MetaId
    }

    /// Records a line that did not parse.
    pub fn skip(&mut self, skip: Skip, origin: impl FnOnce() -> Option<String>, text: &str) {
        self.report.skip(skip, origin, text);
    }

    /// Counts one value that was rewritten to its normal form.
    pub fn note_normalized(&mut self) {
        self.report.normalized += 1;
    }

    /// Adds one indicator: type selection, safety floor and vendor admission happen here.
    pub fn push(&mut self, value: Value, meta: MetaId, origin: impl FnOnce() -> Option<String>) {
        // one path for a domain, whether its name has a string of its own or not
        if let Value::Domain(d) = &value {
            return self.push_domain(d.view(), meta, origin);
        }
        if !self.policy.kinds.contains(&value.kind()) {
            return self.reject(NOT_IN_LIST, origin, &value);
        }
        let floor = self
            .guard
            .check(&value, self.rules.plain_name_covers_subdomains());
        if let Err(s) = floor.and_then(|()| self.rules.admit(&value)) {
            return self.reject(s, origin, &value);
        }
        match value {
            Value::Ip(IpRange::V4 { start, end }) => self.v4.push(start, end, meta),
            Value::Ip(IpRange::V6 { start, end }) => self.v6.push(start, end, meta),
            Value::Domain(_) => {} // taken by `push_domain` above
            Value::Url(u) => self.urls.push((u, meta)),
            Value::Hash(h) => self.hashes.push((h, meta)),
        }
    }

    /// [`Compiler::push`] of a domain whose name lies elsewhere: it is copied into the
    /// compiler's buffer of names, with no string of its own.
    pub fn push_domain(
        &mut self,
        d: DomainRef<'_>,
        meta: MetaId,
        origin: impl FnOnce() -> Option<String>,
    ) {
        if !self.policy.kinds.contains(&Kind::Domain) {
            return self.reject(NOT_IN_LIST, origin, &d);
        }
        let floor = self
            .guard
            .check_domain_for(d, self.rules.plain_name_covers_subdomains());
        let skip = match floor.and_then(|()| self.rules.admit_domain(d)) {
            Ok(()) => match self.domains.push(d, meta) {
                Ok(()) => return,
                Err(_) => TOO_BIG,
            },
            Err(s) => s,
        };
        self.reject(skip, origin, &d);
    }

    /// Takes in everything another compiler for the same list collected (used to parse one
    /// input in parallel). Order is kept: `other`'s entries and examples come after ours.
    pub fn absorb(&mut self, other: Compiler<'_>) {
        let offset = (self.metas.len() - 1) as MetaId;
        let remap = |m: MetaId| if m == 0 { 0 } else { m + offset };
        self.metas.extend(other.metas.into_iter().skip(1));
        self.v4.append(other.v4, offset);
        self.v6.append(other.v6, offset);
        for d in self.domains.append(other.domains, remap) {
            self.reject(TOO_BIG, || None, &d);
        }
        self.urls
            .extend(other.urls.into_iter().map(|(u, m)| (u, remap(m))));
        self.hashes
            .extend(other.hashes.into_iter().map(|(h, m)| (h, remap(m))));
        self.report.merge(&other.report);
    }

    fn reject(
        &mut self,
        skip: Skip,
        origin: impl FnOnce() -> Option<String>,
        value: &impl std::fmt::Display,
    ) {
        self.report.skip_with(skip, 1, origin, || value.to_string());
    }

    /// Compiles the list against an allowlist.
    pub fn finish(self, allow: &AllowSet) -> CompiledList {
        let Compiler {
            policy,
            rules,
            metas,
            v4,
            v6,
            domains,
            urls,
            hashes,
            mut report,
            ..
        } = self;
        let prio: Vec<Priority> = metas.iter().map(Meta::priority).collect();
        let style = rules.ip_style();

        let (v4, p4) = compile_ip(
            v4,
            guard::special_v4(),
            allow.v4(),
            &prio,
            style,
            &mut report,
            |s, e| IpRange::V4 { start: s, end: e }.to_string(),
        );
        let (v6, p6) = compile_ip(
            v6,
            guard::special_v6(),
            allow.v6(),
            &prio,
            style,
            &mut report,
            |s, e| IpRange::V6 { start: s, end: e }.to_string(),
        );
        // A list cut to `max_entries` whose entries all have one priority keeps a prefix of its
        // groups in order (`cap::select_in_order`): when the IP lines fit whole, the name groups
        // are cut as they are made, and only the entries kept are made.
        let uniform = prio.iter().all(|p| *p == prio[0]);
        let mut budget = policy
            .max_entries
            .filter(|_| uniform)
            .and_then(|max| max.checked_sub(ip_cost(style, &v4) + ip_cost(style, &v6)))
            .map(Budget::new);
        let (domains, pd) = compile_domains(
            domains,
            rules,
            allow,
            &metas,
            &prio,
            &mut report,
            budget.as_mut(),
        );
        let (urls, pu) = compile_urls(
            urls,
            rules,
            allow,
            &metas,
            &prio,
            &mut report,
            budget.as_mut(),
        );
        let (hashes, ph) =
            compile_hashes(hashes, allow, &metas, &prio, &mut report, budget.as_mut());

        let mut list = CompiledList {
            name: policy.name,
            ip_style: style,
            v4,
            v6,
            domains,
            urls,
            hashes,
            report,
        };
        if let Some(max) = policy.max_entries {
            let [pd, pu, ph] = [pd, pu, ph].map(Prios::Each);
            apply_cap(&mut list, rules, max, [&p4, &p6, &pd, &pu, &ph]);
        }
        list
    }
}

/// What [`par_halves`] makes of each half, put end to end.
trait Halves: Send {
    /// Appends the result of the second half to that of the first.
    fn append_second(&mut self, second: Self);
}

impl<A: Send> Halves for Vec<A> {
    fn append_second(&mut self, second: Self) {
        self.extend(second);
    }
}

impl<A: Send, B: Send> Halves for (Vec<A>, Vec<B>) {
    fn append_second(&mut self, second: Self) {
        self.0.extend(second.0);
        self.1.extend(second.1);
    }
}

/// `f` of the two halves of `items` on two threads when there are two cores and at least `min`
/// items (of the whole on this thread otherwise), the results end to end: the same result either
/// way. A thread that fails has its half done again here.
fn par_halves<'d, T: Sync, R: Halves>(
    items: &'d [T],
    min: usize,
    f: impl Fn(&'d [T]) -> R + Sync,
) -> R {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < min.max(2) {
        return f(items);
    }
    let (a, b) = items.split_at(items.len() / 2);
    let (mut ra, rb) = crate::sort::join(|| f(a), || f(b));
    ra.append_second(rb.unwrap_or_else(|_| f(b)));
    ra
}

/// Drops a big collection on another thread: freeing a million small allocations one by one
/// (the names a cut list leaves out) takes tens of milliseconds the list need not wait for.
fn drop_later<T: Send + 'static>(x: T) {
    // On a failed spawn the closure, and `x` with it, is dropped here.
    let _ = std::thread::Builder::new()
        .name("edlforge-drop".into())
        .spawn(move || drop(x));
}

impl CompiledList {
    /// Output lines this list takes for a vendor (what `max_entries` counts).
    pub fn lines(&self, rules: &dyn VendorRules) -> u64 {
        ip_cost(self.ip_style, &self.v4)
            + ip_cost(self.ip_style, &self.v6)
            + self
                .domains
                .iter()
                .map(|d| rules.domain_lines(d.value.view()) as u64)
                .sum::<u64>()
            + self.urls.len() as u64
            + self.hashes.len() as u64
    }

    /// True when nothing is left to publish.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty()
            && self.v6.is_empty()
            && self.domains.is_empty()
            && self.urls.is_empty()
            && self.hashes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Two halves on two threads give what the whole gives on one, below and above `min`.
        #[test]
        fn par_halves_is_the_whole(items in proptest::collection::vec(0u32..1000, 0..300), min in 0usize..400) {
            let f = |p: &[u32]| -> (Vec<u32>, Vec<u64>) {
                (p.iter().map(|x| x * 3).collect(), p.iter().map(|&x| u64::from(x) + 1).collect())
            };
            proptest::prop_assert_eq!(par_halves(&items, min, f), f(&items));
        }
    }
    use crate::indicator::parse_token;

    /// A vendor that takes everything, writes CIDRs, and `*.x` as two lines (like PAN-OS).
    struct Rules;
    impl VendorRules for Rules {
        fn admit(&self, _v: &Value) -> Result<(), Skip> {
            Ok(())
        }
        fn ip_style(&self) -> IpStyle {
            IpStyle::Cidr
        }
        fn domain_lines(&self, d: DomainRef<'_>) -> usize {
            if d.wildcard {
                2
            } else {
                1
            }
        }
    }

    fn v(s: &str) -> Value {
        parse_token(s.as_bytes(), None).unwrap().value
    }

    fn compiler(max: Option<u64>) -> Compiler<'static> {
        static GUARD: std::sync::OnceLock<Guard> = std::sync::OnceLock::new();
        let guard = GUARD.get_or_init(Guard::default);
        Compiler::new(
            ListPolicy {
                name: "t".into(),
                kinds: Kind::ALL.to_vec(),
                max_entries: max,
            },
            guard,
            &Rules,
        )
    }

    fn conf(c: &mut Compiler<'_>, confidence: u8) -> MetaId {
        c.add_meta(Meta {
            confidence: Some(confidence),
            ..Meta::default()
        })
    }

    #[test]
    fn capacity_keeps_highest_confidence() {
        let mut c = compiler(Some(2));
        let low = conf(&mut c, 10);
        let high = conf(&mut c, 90);
        c.push(v("a.evil.com"), low, || None);
        c.push(v("b.evil.com"), high, || None);
        c.push(v("c.evil.com"), 0, || None); // default 50
        c.push(v("d.evil.com"), low, || None);
        let l = c.finish(&AllowSet::default());
        let names: Vec<&str> = l.domains.iter().map(|d| d.value.name.as_str()).collect();
        assert_eq!(names, ["b.evil.com", "c.evil.com"]);
        assert_eq!(l.report.count(SkipReason::OverLimit), 2);
    }

    #[test]
    fn capacity_counts_sources_then_last_seen() {
        let mut c = compiler(Some(1));
        let one = c.add_meta(Meta {
            sources: vec!["a".into()],
            last_seen: Some(100),
            ..Meta::default()
        });
        let two = c.add_meta(Meta {
            sources: vec!["a".into(), "b".into()],
            last_seen: Some(1),
            ..Meta::default()
        });
        c.push(v("x.evil.com"), one, || None);
        c.push(v("y.evil.com"), two, || None);
        let l = c.finish(&AllowSet::default());
        assert_eq!(l.domains[0].value.name, "y.evil.com");
    }

    /// A name shorter than 16 bytes and the wildcard on it have equal sort prefixes: they are
    /// still two entries (the wildcard covers the name), not one and a duplicate.
    #[test]
    fn short_name_and_its_wildcard_are_not_duplicates() {
        for max in [None, Some(3)] {
            let mut c = compiler(max);
            for _ in 0..3 {
                c.push(v("x.io"), 0, || None);
                c.push(v("*.x.io"), 0, || None);
            }
            let l = c.finish(&AllowSet::default());
            let names: Vec<String> = l.domains.iter().map(|d| d.value.to_string()).collect();
            assert_eq!(names, ["*.x.io"], "{max:?}");
            assert_eq!(l.report.duplicates, 4, "{max:?}");
            assert_eq!(l.report.count(SkipReason::Covered), 1, "{max:?}");
        }
    }

    #[test]
    fn wildcard_costs_two_lines_under_capacity() {
        let mut c = compiler(Some(2));
        c.push(v("*.a-evil.com"), 0, || None);
        c.push(v("b-evil.com"), 0, || None);
        let l = c.finish(&AllowSet::default());
        assert_eq!(l.lines(&Rules), 2);
        assert_eq!(l.domains.len(), 1);
        assert!(l.domains[0].value.wildcard);
    }

    #[test]
    fn ip_lines_take_the_best_confidence_of_their_inputs() {
        let mut c = compiler(None);
        let low = conf(&mut c, 10);
        let high = conf(&mut c, 95);
        c.push(v("5.8.8.0/25"), low, || None);
        c.push(v("5.8.8.128/25"), high, || None); // merges into 5.8.8.0/24
        c.push(v("5.9.0.1"), low, || None);
        let l = c.finish(&AllowSet::default());
        let got: Vec<(String, u8)> =
            l.v4.iter()
                .map(|x| {
                    (
                        IpRange::V4 {
                            start: x.start,
                            end: x.end,
                        }
                        .to_string(),
                        x.confidence,
                    )
                })
                .collect();
        assert_eq!(
            got,
            [("5.8.8.0/24".to_string(), 95), ("5.9.0.1".to_string(), 10)]
        );
    }

    #[test]
    fn ip_capacity_drops_lowest_priority_lines() {
        let mut c = compiler(Some(1));
        let low = conf(&mut c, 10);
        let high = conf(&mut c, 95);
        c.push(v("5.8.8.1"), low, || None);
        c.push(v("5.9.9.9"), high, || None);
        let l = c.finish(&AllowSet::default());
        assert_eq!(l.v4.len(), 1);
        assert_eq!(
            l.v4[0].start,
            u32::from(std::net::Ipv4Addr::new(5, 9, 9, 9))
        );
    }

    #[test]
    fn duplicates_keep_the_best_metadata_whatever_the_order() {
        for flip in [false, true] {
            let mut c = compiler(None);
            let a = c.add_meta(Meta {
                confidence: Some(20),
                comment: Some("weak".into()),
                ..Meta::default()
            });
            let b = c.add_meta(Meta {
                confidence: Some(80),
                comment: Some("strong".into()),
                ..Meta::default()
            });
            let (first, second) = if flip { (b, a) } else { (a, b) };
            c.push(v("evil.com"), first, || None);
            c.push(v("EVIL.com"), second, || None);
            let l = c.finish(&AllowSet::default());
            assert_eq!(l.domains.len(), 1);
            assert_eq!(l.domains[0].confidence, 80);
            assert_eq!(l.domains[0].comment.as_deref(), Some("strong"));
            assert_eq!(l.report.duplicates, 1);
        }
    }

    #[test]
    fn absorb_keeps_metadata_ids_apart() {
        let mut a = compiler(None);
        let ma = conf(&mut a, 30);
        a.push(v("a-evil.com"), ma, || None);
        let mut b = compiler(None);
        let mb = conf(&mut b, 90);
        b.push(v("b-evil.com"), mb, || None);
        b.push(v("5.8.8.8"), mb, || None);
        a.absorb(b);
        let l = a.finish(&AllowSet::default());
        let confs: Vec<u8> = l.domains.iter().map(|d| d.confidence).collect();
        assert_eq!(confs, [30, 90]);
        assert_eq!(l.v4[0].confidence, 90);
    }

    #[test]
    fn uniform_and_mixed_priorities_cap_alike_when_equal() {
        // Two metadata ids with the same priority take the general selection; one id takes the
        // in-order one: the kept entries must be the same.
        let names = [
            "a-evil.com",
            "*.b-evil.com",
            "c-evil.com",
            "5.8.8.8",
            "d-evil.com",
        ];
        let run = |mixed: bool| {
            let mut c = compiler(Some(3));
            let a = conf(&mut c, 70);
            let b = if mixed { conf(&mut c, 70) } else { a };
            for (i, n) in names.iter().enumerate() {
                c.push(v(n), if i % 2 == 0 { a } else { b }, || None);
            }
            let l = c.finish(&AllowSet::default());
            let d: Vec<String> = l.domains.iter().map(|e| e.value.to_string()).collect();
            (l.v4.len(), d, l.report.count(SkipReason::OverLimit))
        };
        assert_eq!(run(false), run(true));
        assert_eq!(run(false), (1, vec!["a-evil.com".to_string()], 4));
    }

    /// Tokens over a few labels, so that duplicates, case variants, wildcards and covered names
    /// meet often, with IPs, URLs and hashes beside them.
    fn tokens() -> impl proptest::strategy::Strategy<Value = Vec<(String, usize)>> {
        use proptest::prelude::*;
        let label = prop_oneof![Just("a"), Just("B"), Just("evil"), Just("x-y")];
        let tld = prop_oneof![Just("com"), Just("net"), Just("Org")];
        let name = (proptest::collection::vec(label, 1..3), tld)
            .prop_map(|(l, t)| format!("{}.{t}", l.join(".")));
        let token = prop_oneof![
            4 => name.clone(),
            2 => name.clone().prop_map(|n| format!("*.{n}")),
            2 => (name, 0u8..3).prop_map(|(n, p)| format!("https://{n}/p{p}")),
            1 => (0u8..4).prop_map(|i| format!("{:032x}", i)),
            1 => (0u8..6).prop_map(|i| format!("5.8.8.{}", i * 40)),
        ];
        proptest::collection::vec((token, 0usize..3), 0..60)
    }

    proptest::proptest! {
        // A capped list whose entries share one priority is cut as it is made (`cap::Budget`);
        // the same input with one more, unused, metadata of another priority takes the general
        // path (every entry made, then `apply_cap`): both give the same list and report.
        #[test]
        fn cut_while_making_matches_cut_after(items in tokens(), max in 0u64..30) {
            let run = |general: bool| {
                let mut c = compiler(Some(max));
                let metas: Vec<MetaId> = ["x", "y"]
                    .iter()
                    .map(|t| {
                        c.add_meta(Meta {
                            comment: Some((*t).into()),
                            ..Meta::default()
                        })
                    })
                    .collect();
                if general {
                    conf(&mut c, 99);
                }
                for (t, m) in &items {
                    let meta = if *m == 0 { 0 } else { metas[*m - 1] };
                    if let Ok(p) = parse_token(t.as_bytes(), None) {
                        c.push(p.value, meta, || None);
                    }
                }
                let l = c.finish(&AllowSet::default());
                let show = |v: Vec<(String, u8, Option<String>)>| v;
                (
                    show(l.domains.iter().map(|e| (e.value.to_string(), e.confidence, e.comment.clone())).collect()),
                    show(l.urls.iter().map(|e| (e.value.to_string(), e.confidence, e.comment.clone())).collect()),
                    show(l.hashes.iter().map(|e| (e.value.to_string(), e.confidence, e.comment.clone())).collect()),
                    l.v4.clone(),
                    l.report.clone(),
                )
            };
            proptest::prop_assert_eq!(run(false), run(true));
        }
    }

    #[test]
    fn allowlist_subtracts_exactly() {
        let mut c = compiler(None);
        c.push(v("45.0.0.0/8"), 0, || None);
        let allow = AllowSet::new([v("45.1.2.0/24")]);
        let l = c.finish(&allow);
        assert_eq!(l.v4.len(), 16);
        let covered: u64 = l.v4.iter().map(|x| (x.end - x.start) as u64 + 1).sum();
        assert_eq!(covered, (1 << 24) - 256);
    }
}
