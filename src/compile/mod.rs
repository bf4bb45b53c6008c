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

pub mod allowlist;
pub mod cap;
pub mod guard;
pub mod ipset;
pub mod psl;

use std::borrow::Cow;
use std::collections::BinaryHeap;

use foldhash::HashSet;

use crate::indicator::{
    domain, Domain, Hash, IpRange, Kind, Meta, Priority, Report, Skip, SkipReason, UrlValue, Value,
};

pub use self::allowlist::AllowSet;
pub use self::guard::Guard;
use self::ipset::Addr;

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
    /// How IP sets are written.
    fn ip_style(&self) -> IpStyle;
    /// How many lines a domain entry takes (PAN-OS writes `*.x.com` as two).
    fn domain_lines(&self, _d: &Domain) -> usize {
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

#[derive(Debug, Clone, Copy)]
struct In<T> {
    start: T,
    end: T,
    meta: MetaId,
}

/// IP inputs of one family. Metadata ids are kept only once some entry's metadata differs from
/// the first entry's, so the common cases (a plain feed; one source whose records share their
/// metadata) store 8 bytes per IPv4 entry.
#[derive(Debug, Clone, Default)]
struct IpInputs<T> {
    ranges: Vec<(T, T)>,
    /// Per entry, once they differ; empty while every entry has `uniform`.
    metas: Vec<MetaId>,
    /// The metadata of every entry while `metas` is empty.
    uniform: MetaId,
}

impl<T: Copy> IpInputs<T> {
    fn push(&mut self, start: T, end: T, meta: MetaId) {
        if self.metas.is_empty() {
            if self.ranges.is_empty() {
                self.uniform = meta;
            } else if meta != self.uniform {
                self.metas = vec![self.uniform; self.ranges.len()];
            }
        }
        self.ranges.push((start, end));
        if !self.metas.is_empty() {
            self.metas.push(meta);
        }
    }

    fn append(&mut self, other: IpInputs<T>, meta_offset: MetaId) {
        let remap = |m: MetaId| if m == 0 { 0 } else { m + meta_offset };
        if other.ranges.is_empty() {
            return;
        }
        let other_uniform = remap(other.uniform);
        if self.ranges.is_empty() && self.metas.is_empty() {
            self.uniform = other_uniform;
        }
        if other.metas.is_empty() && self.metas.is_empty() && other_uniform == self.uniform {
            self.ranges.extend(other.ranges);
            return;
        }
        if self.metas.is_empty() {
            self.metas = vec![self.uniform; self.ranges.len()];
        }
        self.ranges.extend(other.ranges.iter().copied());
        if other.metas.is_empty() {
            self.metas.resize(self.ranges.len(), other_uniform);
        } else {
            self.metas.extend(other.metas.iter().map(|&m| remap(m)));
        }
    }
}

/// Collects indicators for one list, then compiles it.
pub struct Compiler<'a> {
    policy: ListPolicy,
    guard: &'a Guard,
    rules: &'a dyn VendorRules,
    metas: Vec<Meta>,
    v4: IpInputs<u32>,
    v6: IpInputs<u128>,
    domains: Vec<(Domain, MetaId)>,
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
            domains: Vec::new(),
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
            Value::Domain(d) => self.domains.push((d, meta)),
            Value::Url(u) => self.urls.push((u, meta)),
            Value::Hash(h) => self.hashes.push((h, meta)),
        }
    }

    /// Takes in everything another compiler for the same list collected (used to parse one
    /// input in parallel). Order is kept: `other`'s entries and examples come after ours.
    pub fn absorb(&mut self, other: Compiler<'_>) {
        let offset = (self.metas.len() - 1) as MetaId;
        let remap = |m: MetaId| if m == 0 { 0 } else { m + offset };
        self.metas.extend(other.metas.into_iter().skip(1));
        self.v4.append(other.v4, offset);
        self.v6.append(other.v6, offset);
        self.domains
            .extend(other.domains.into_iter().map(|(d, m)| (d, remap(m))));
        self.urls
            .extend(other.urls.into_iter().map(|(u, m)| (u, remap(m))));
        self.hashes
            .extend(other.hashes.into_iter().map(|(h, m)| (h, remap(m))));
        self.report.merge(&other.report);
    }

    fn reject(&mut self, skip: Skip, origin: impl FnOnce() -> Option<String>, value: &Value) {
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
        let (domains, pd) = compile_domains(domains, allow, &metas, &prio, &mut report);
        let (urls, pu) = compile_urls(urls, rules, allow, &metas, &prio, &mut report);
        let (hashes, ph) = compile_hashes(hashes, allow, &metas, &prio, &mut report);

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

impl CompiledList {
    /// Output lines this list takes for a vendor (what `max_entries` counts).
    pub fn lines(&self, rules: &dyn VendorRules) -> u64 {
        ip_cost(self.ip_style, &self.v4)
            + ip_cost(self.ip_style, &self.v6)
            + self
                .domains
                .iter()
                .map(|d| rules.domain_lines(&d.value) as u64)
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

fn line_cost<T: Addr>(style: IpStyle, l: &IpLine<T>) -> u64 {
    match style {
        IpStyle::Hosts => (l.end.wide() - l.start.wide()).saturating_add(1) as u64,
        _ => 1,
    }
}

fn ip_cost<T: Addr>(style: IpStyle, v: &[IpLine<T>]) -> u64 {
    v.iter().map(|l| line_cost(style, l)).sum()
}

fn compile_ip<T: Addr>(
    inputs: IpInputs<T>,
    special: &[(T, T)],
    allow: &[(T, T)],
    prio: &[Priority],
    style: IpStyle,
    report: &mut Report,
    show: impl Fn(T, T) -> String,
) -> (Vec<IpLine<T>>, Prios) {
    if inputs.ranges.is_empty() {
        return (Vec::new(), Prios::Each(Vec::new()));
    }
    let mut wholly_allowed = |s: T, e: T| {
        let hit = !allow.is_empty() && ipset::covers(allow, s, e);
        if hit {
            report.skip_with(ALLOWLISTED, 1, || None, || show(s, e));
        }
        hit
    };
    // Uniform metadata (the common case): sort and merge the bare pairs in place, so the peak
    // memory is the input vector alone. Otherwise keep each input's metadata for the sweep.
    let uniform = inputs.uniform;
    let (merged, with_meta) = if inputs.metas.is_empty() {
        let mut v = inputs.ranges;
        v.retain(|&(s, e)| !wholly_allowed(s, e));
        ipset::sort_by_start(&mut v, |i| i.0, |i| i.1);
        report.duplicates += v.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        let n = merge_in_place(&mut v);
        v.truncate(n);
        v.shrink_to_fit();
        (v, Vec::new())
    } else {
        let mut v: Vec<In<T>> = inputs
            .ranges
            .iter()
            .zip(&inputs.metas)
            .filter(|(&(s, e), _)| !wholly_allowed(s, e))
            .map(|(&(start, end), &meta)| In { start, end, meta })
            .collect();
        drop(inputs);
        ipset::sort_by_start(&mut v, |i| i.start, |i| i.end);
        report.duplicates += v
            .windows(2)
            .filter(|w| w[0].start == w[1].start && w[0].end == w[1].end)
            .count() as u64;
        (ipset::merge_sorted(v.iter().map(|i| (i.start, i.end))), v)
    };
    let mut set = merged;
    ipset::subtract_in_place(&mut set, special);
    ipset::subtract_in_place(&mut set, allow);
    if with_meta.is_empty() {
        // One priority for every line: the lines are made straight from the set, with no
        // per-line priority vector and no intermediate interval vector (a 3M-line feed keeps
        // tens of MiB less at its peak).
        let p = prio[uniform as usize];
        let line = |start, end| IpLine {
            start,
            end,
            confidence: p.confidence,
        };
        let lines = match style {
            IpStyle::Cidr => ipset::into_cidr_lines(set, line),
            IpStyle::Range | IpStyle::Hosts => set.iter().map(|&(s, e)| line(s, e)).collect(),
        };
        return (lines, Prios::Uniform(p));
    }
    let intervals: Vec<(T, T)> = match style {
        IpStyle::Cidr => {
            let mut out = Vec::with_capacity(set.len());
            for &(s, e) in &set {
                ipset::for_each_cidr(s, e, |a, b| out.push((a, b)));
            }
            out
        }
        IpStyle::Range | IpStyle::Hosts => set,
    };
    let prios = line_priorities(&with_meta, &intervals, prio);
    let lines = intervals
        .iter()
        .zip(&prios)
        .map(|(&(start, end), p)| IpLine {
            start,
            end,
            confidence: p.confidence,
        })
        .collect();
    (lines, Prios::Each(prios))
}

/// Merges intervals sorted by start in place; returns how many remain.
fn merge_in_place<T: Addr>(v: &mut [(T, T)]) -> usize {
    let mut w = 0;
    for r in 0..v.len() {
        let (s, e) = v[r];
        if w > 0 {
            let last = &mut v[w - 1];
            if last.1 == T::MAX || s.wide() <= last.1.wide() + 1 {
                if e > last.1 {
                    last.1 = e;
                }
                continue;
            }
        }
        v[w] = (s, e);
        w += 1;
    }
    w
}

/// The highest priority among the inputs that overlap each line (sweep over both, sorted).
fn line_priorities<T: Addr>(
    inputs: &[In<T>],
    lines: &[(T, T)],
    prio: &[Priority],
) -> Vec<Priority> {
    let mut heap: BinaryHeap<(Priority, T)> = BinaryHeap::new();
    let mut j = 0;
    lines
        .iter()
        .map(|&(s, e)| {
            while j < inputs.len() && inputs[j].start <= e {
                heap.push((prio[inputs[j].meta as usize], inputs[j].end));
                j += 1;
            }
            while let Some(&(_, end)) = heap.peek() {
                if end < s {
                    heap.pop();
                } else {
                    break;
                }
            }
            heap.peek().map(|x| x.0).unwrap_or_default()
        })
        .collect()
}

fn compile_domains(
    input: Vec<(Domain, MetaId)>,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<Domain>>, Vec<Priority>) {
    let mut kept: Vec<(Domain, MetaId)> = input;
    if !allow.is_empty() {
        kept.retain_mut(|(d, _)| match allow.check_domain(d) {
            allowlist::DomainVerdict::Removed => {
                report.skip_with(ALLOWLISTED, 1, || None, || d.to_string());
                false
            }
            allowlist::DomainVerdict::NarrowToApex => {
                report.skip_with(NARROWED, 1, || None, || d.to_string());
                d.wildcard = false;
                true
            }
            allowlist::DomainVerdict::Keep => true,
        });
    }
    let (entries, prios) = dedupe(
        kept,
        |d| prefix16(d.name.as_bytes()),
        |a, b| a.name.cmp(&b.name).then(a.wildcard.cmp(&b.wildcard)),
        metas,
        prio,
        report,
    );
    // A name is covered when a wildcard on itself (other than this entry) or on an ancestor
    // is in the list.
    let wild: HashSet<&str> = entries
        .iter()
        .filter(|e| e.value.wildcard)
        .map(|e| e.value.name.as_str())
        .collect();
    let is_covered = |e: &Entry<Domain>| {
        let d = &e.value;
        if !d.wildcard && wild.contains(d.name.as_str()) {
            return true;
        }
        let mut p = domain::parent(&d.name);
        while let Some(a) = p {
            if wild.contains(a) {
                return true;
            }
            p = domain::parent(a);
        }
        false
    };
    let covered: Vec<bool> = if wild.is_empty() {
        vec![false; entries.len()]
    } else {
        // One set lookup per ancestor of every name: split over two threads on big lists.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads >= 2 && entries.len() >= 1 << 16 {
            let (a, b) = entries.split_at(entries.len() / 2);
            let (mut ca, cb) = std::thread::scope(|s| {
                let h = s.spawn(|| b.iter().map(is_covered).collect::<Vec<bool>>());
                let ca: Vec<bool> = a.iter().map(is_covered).collect();
                (
                    ca,
                    h.join()
                        .unwrap_or_else(|_| b.iter().map(is_covered).collect()),
                )
            });
            ca.extend(cb);
            ca
        } else {
            entries.iter().map(is_covered).collect()
        }
    };
    drop(wild);
    let mut out = Vec::with_capacity(entries.len());
    let mut out_p = Vec::with_capacity(entries.len());
    for ((e, p), c) in entries.into_iter().zip(prios).zip(covered) {
        if c {
            report.skip_with(COVERED, 1, || None, || e.value.to_string());
        } else {
            out.push(e);
            out_p.push(p);
        }
    }
    (out, out_p)
}

fn compile_urls(
    mut input: Vec<(UrlValue, MetaId)>,
    rules: &dyn VendorRules,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<UrlValue>>, Vec<Priority>) {
    if !allow.is_empty() {
        input.retain(|(u, _)| {
            let hit = allow.allows_url(u);
            if hit {
                report.skip_with(ALLOWLISTED, 1, || None, || u.to_string());
            }
            !hit
        });
    }
    // The vendor's written text is the identity (PAN-OS: `http://x/a` and `https://x/a` are one
    // line). The key is borrowed from the URL unless the vendor rewrites it.
    dedupe(
        input,
        |u| prefix16(rules.url_key(u).as_bytes()),
        |a, b| rules.url_key(a).cmp(&rules.url_key(b)),
        metas,
        prio,
        report,
    )
}

fn compile_hashes(
    input: Vec<(Hash, MetaId)>,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<Hash>>, Vec<Priority>) {
    let mut kept = input;
    if !allow.is_empty() {
        kept.retain(|(h, _)| {
            let hit = allow.allows_hash(&h.hex);
            if hit {
                report.skip_with(ALLOWLISTED, 1, || None, || h.to_string());
            }
            !hit
        });
    }
    dedupe(
        kept,
        |h| prefix16(h.hex.as_bytes()),
        |a, b| a.hex.cmp(&b.hex),
        metas,
        prio,
        report,
    )
}

/// The first 16 bytes of a key, big-endian, zero-padded: ordering by it never contradicts the
/// byte order of the whole key, and settles most comparisons without touching the heap.
fn prefix16(b: &[u8]) -> u128 {
    let mut x = [0u8; 16];
    let n = b.len().min(16);
    x[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(x)
}

/// Sorts on two threads when there are two cores and enough items, in place: the items are
/// split around a pivot of `top` (the first 16 bits of the sort key, from a histogram) so that
/// every item of the left part sorts before every item of the right part, and the two parts are
/// sorted at once. Same result as `sort_unstable_by` for an order whose first key is `top`, with
/// no merge buffer (a copy of the whole vector at the peak, before).
fn par_sort<T: Send>(
    v: &mut [T],
    top: impl Fn(&T) -> u16,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || v.len() < 1 << 16 {
        v.sort_unstable_by(&cmp);
        return;
    }
    let mut counts = vec![0u32; 1 << 16];
    for x in v.iter() {
        counts[top(x) as usize] += 1;
    }
    let half = (v.len() / 2) as u64;
    let mut seen = 0u64;
    let mut pivot = 0usize;
    while pivot < counts.len() && seen + u64::from(counts[pivot]) <= half {
        seen += u64::from(counts[pivot]);
        pivot += 1;
    }
    // items with `top` below the pivot to the left
    let mut left = 0;
    for i in 0..v.len() {
        if (top(&v[i]) as usize) < pivot {
            v.swap(i, left);
            left += 1;
        }
    }
    let (a, b) = v.split_at_mut(left);
    std::thread::scope(|s| {
        s.spawn(|| a.sort_unstable_by(&cmp));
        b.sort_unstable_by(&cmp);
    });
}

/// Sorts by `cmp` (whose first key is `prefix`), then keeps one entry per equal run: the one
/// with the highest priority (ties: the smallest comment), so the result does not depend on input
/// order. Sorts (prefix, index) pairs, which stay in cache, and moves each value once.
fn dedupe<V: Sync>(
    v: Vec<(V, MetaId)>,
    prefix: impl Fn(&V) -> u128,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<V>>, Vec<Priority>) {
    // (prefix as two words, index): 24 bytes an item where a `(u128, u32)` takes 32
    let mut order: Vec<([u64; 2], u32)> = v
        .iter()
        .enumerate()
        .map(|(i, (val, _))| {
            let p = prefix(val);
            ([(p >> 64) as u64, p as u64], i as u32)
        })
        .collect();
    let full = |&(pa, ia): &([u64; 2], u32), &(pb, ib): &([u64; 2], u32)| {
        pa.cmp(&pb).then_with(|| {
            let ((a, ma), (b, mb)) = (&v[ia as usize], &v[ib as usize]);
            cmp(a, b)
                .then_with(|| prio[*mb as usize].cmp(&prio[*ma as usize]))
                .then_with(|| {
                    metas[*ma as usize]
                        .comment
                        .cmp(&metas[*mb as usize].comment)
                })
        })
    };
    par_sort(&mut order, |(p, _)| (p[0] >> 48) as u16, full);
    // Only the indices are needed from here: 4 bytes an item instead of 24 while the entries
    // are built (the peak of a big list).
    let mut order: Vec<u32> = order.into_iter().map(|(_, i)| i).collect();
    order.shrink_to_fit(); // an in-place collect may keep the 24-byte items' allocation
    let mut slots: Vec<Option<(V, MetaId)>> = v.into_iter().map(Some).collect();
    let mut out: Vec<Entry<V>> = Vec::with_capacity(order.len());
    let mut out_p = Vec::with_capacity(order.len());
    // The prefix of the last kept entry: a different prefix means a different key, so the full
    // comparison (a pointer chase into the value) is made only for entries that may be equal.
    let mut last_prefix = None;
    for i in order {
        let Some((value, m)) = slots[i as usize].take() else {
            continue;
        };
        let pfx = prefix(&value);
        if last_prefix == Some(pfx)
            && out
                .last()
                .is_some_and(|last| cmp(&last.value, &value).is_eq())
        {
            report.duplicates += 1;
            continue;
        }
        last_prefix = Some(pfx);
        let p = prio[m as usize];
        out_p.push(p);
        out.push(Entry {
            value,
            confidence: p.confidence,
            comment: metas[m as usize].comment.clone(),
        });
    }
    (out, out_p)
}

/// The capacity priorities of one group of entries, in entry order.
#[derive(Debug, Clone)]
enum Prios {
    /// The same for every entry (a feed whose entries share their metadata).
    Uniform(Priority),
    /// One per entry.
    Each(Vec<Priority>),
}

impl Prios {
    /// The one priority every entry has, if they all have the same (`None` for no entries).
    fn common(&self) -> Option<Priority> {
        match self {
            Prios::Uniform(p) => Some(*p),
            Prios::Each(v) => v.first().copied().filter(|p| v.iter().all(|q| q == p)),
        }
    }

    fn is_empty_each(&self) -> bool {
        matches!(self, Prios::Each(v) if v.is_empty())
    }

    fn get(&self, i: usize) -> Priority {
        match self {
            Prios::Uniform(p) => *p,
            Prios::Each(v) => v[i],
        }
    }
}

/// The lines kept per item when every item has the same priority: [`cap::select`]'s order is
/// then (group, index), the order of `costs`, so the selection is a prefix taken in one pass
/// with no item vector to build and sort.
fn select_in_order(costs: [Vec<u64>; 5], divisible: [bool; 5], max: u64) -> [Vec<u64>; 5] {
    let mut budget = max;
    let mut full = false;
    let mut i = 0;
    costs.map(|mut group| {
        for k in group.iter_mut() {
            if full {
                *k = 0;
            } else if *k <= budget {
                budget -= *k;
            } else {
                *k = if divisible[i] { budget } else { 0 };
                full = true;
            }
        }
        i += 1;
        group
    })
}

fn apply_cap(list: &mut CompiledList, rules: &dyn VendorRules, max: u64, prios: [&Prios; 5]) {
    if list.lines(rules) <= max {
        return;
    }
    let style = list.ip_style;
    let hosts = style == IpStyle::Hosts;
    let costs: [Vec<u64>; 5] = [
        list.v4.iter().map(|l| line_cost(style, l)).collect(),
        list.v6.iter().map(|l| line_cost(style, l)).collect(),
        list.domains
            .iter()
            .map(|d| rules.domain_lines(&d.value) as u64)
            .collect(),
        vec![1; list.urls.len()],
        vec![1; list.hashes.len()],
    ];
    let divisible = [hosts, hosts, false, false, false];
    let mut common = prios
        .iter()
        .filter(|p| !p.is_empty_each())
        .map(|p| p.common());
    let first = common.next().flatten();
    let uniform = first.is_some() && common.all(|p| p == first);
    let groups = if uniform {
        select_in_order(costs, divisible, max)
    } else {
        let mut items = Vec::new();
        for (group, (c, p)) in costs.iter().zip(prios).enumerate() {
            for (i, &cost) in c.iter().enumerate() {
                items.push(cap::Item {
                    priority: p.get(i),
                    group: group as u8,
                    index: i as u32,
                    cost,
                    divisible: divisible[group],
                });
            }
        }
        let kept = cap::select(&items, max);
        let mut groups: [Vec<u64>; 5] = Default::default();
        for (it, k) in items.iter().zip(kept) {
            groups[it.group as usize].push(k);
        }
        groups
    };
    let report = &mut list.report;
    cut_ip(&mut list.v4, &groups[0], style, report, |s, e| {
        IpRange::V4 { start: s, end: e }.to_string()
    });
    cut_ip(&mut list.v6, &groups[1], style, report, |s, e| {
        IpRange::V6 { start: s, end: e }.to_string()
    });
    cut(
        &mut list.domains,
        &groups[2],
        |d| rules.domain_lines(d) as u64,
        report,
    );
    cut(&mut list.urls, &groups[3], |_| 1, report);
    cut(&mut list.hashes, &groups[4], |_| 1, report);
}

fn cut_ip<T: Addr>(
    v: &mut Vec<IpLine<T>>,
    kept: &[u64],
    style: IpStyle,
    report: &mut Report,
    show: impl Fn(T, T) -> String,
) {
    let mut out = Vec::with_capacity(v.len());
    for (l, &k) in v.iter().zip(kept) {
        let cost = line_cost(style, l);
        if k < cost {
            report.skip_with(OVER_LIMIT, cost - k, || None, || show(l.start, l.end));
        }
        if k == cost {
            out.push(*l);
        } else if k > 0 {
            out.push(IpLine {
                start: l.start,
                end: T::narrow(l.start.wide() + k as u128 - 1),
                confidence: l.confidence,
            });
        }
    }
    *v = out;
}

fn cut<V: std::fmt::Display>(
    v: &mut Vec<Entry<V>>,
    kept: &[u64],
    cost: impl Fn(&V) -> u64,
    report: &mut Report,
) {
    let old = std::mem::take(v);
    for (e, &k) in old.into_iter().zip(kept) {
        if k == 0 {
            // the text is made only while examples are still wanted (not once per dropped entry)
            report.skip_with(OVER_LIMIT, cost(&e.value), || None, || e.value.to_string());
        } else {
            v.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        fn domain_lines(&self, d: &Domain) -> usize {
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

    proptest::proptest! {
        // With one priority for all, the one-pass selection keeps exactly what `cap::select`
        // keeps (its order is then group, index).
        #[test]
        fn in_order_selection_is_cap_select(
            costs in proptest::collection::vec(proptest::collection::vec(1u64..5, 0..6), 5),
            divisible in proptest::array::uniform5(proptest::bool::ANY),
            max in 0u64..40,
        ) {
            let costs: [Vec<u64>; 5] = costs.try_into().expect("five groups");
            let mut items = Vec::new();
            for (g, c) in costs.iter().enumerate() {
                for (i, &cost) in c.iter().enumerate() {
                    items.push(cap::Item {
                        priority: Priority::default(),
                        group: g as u8,
                        index: i as u32,
                        cost,
                        divisible: divisible[g],
                    });
                }
            }
            let total: u64 = items.iter().map(|i| i.cost).sum();
            proptest::prop_assume!(total > max);
            let want = cap::select(&items, max);
            let got: Vec<u64> = select_in_order(costs, divisible, max).concat();
            proptest::prop_assert_eq!(got, want);
        }
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

    #[test]
    fn par_sort_is_a_full_sort() {
        // Skewed keys (a quarter share one top-16 value) and ties, above the parallel threshold.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let v: Vec<(u64, u32)> = (0..200_000u32)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = if i % 4 == 0 {
                    0x7777 << 48 | (x >> 40)
                } else {
                    x
                };
                (k, i % 1000)
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable();
        let mut got = v;
        par_sort(&mut got, |(k, _)| (k >> 48) as u16, |a, b| a.cmp(b));
        assert_eq!(got, want);
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
