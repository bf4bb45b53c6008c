//! Name entries of a list (domains, URLs, hashes): allowlist, dedupe, wildcard coverage.
//!
//! Memory is the constraint on big lists: on 1M generated domains (`benches/vs-sort.sh`) the
//! peak was the wildcard-coverage step's second vector of the kept entries (170 MiB in all);
//! the entries were then filtered in place, and [`super::dedupe`] never holds the values and the
//! entries at full size together: 117 MiB (2026-12-07). The domains now work on 12-byte items of a
//! buffer of names ([`super::arena`]) and make the entries of the names kept alone: 69 MiB, 0.84×
//! `sort -u`'s (2026-12-08). Coverage probes a small bit table of the wildcard names' hashes for
//! the name and each ancestor first, so most names cost no set lookup.

use foldhash::HashSet;

use crate::indicator::{Domain, DomainRef, Hash, Meta, Priority, Report, UrlValue};

use super::arena::{Name, NameText, Names};

use super::cap::{cut_indices, take_entries, Budget};
use super::dedupe::{dedupe, dedupe_indices, dedupe_values};
use super::{
    allowlist, par_halves, AllowSet, Entry, MetaId, VendorRules, ALLOWLISTED, COVERED, NARROWED,
};
use crate::sort::{sort_key, sort_key_and};

/// Compiles the domain entries of a list. With a `budget` (a list cut to `max_entries` whose
/// entries share one priority, [`Budget`]) only the entries that fit are made: dedupe and
/// coverage work on indices. On 1M generated names cut to PAN-OS's 50,000 that leaves out putting
/// 800k values in order and making 800k entries (≈ 200 ms of a 500 ms compile).
///
/// The names lie in one buffer ([`Names`]); the entries' values are made of the names kept.
#[allow(clippy::too_many_arguments)]
pub(super) fn compile_domains(
    input: Names,
    rules: &dyn VendorRules,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
    budget: Option<&mut Budget>,
) -> (Vec<Entry<Domain>>, Vec<Priority>) {
    let (text, mut kept) = input.into_parts();
    let text = &text;
    let at = |n: &Name| text.get(*n);
    if !allow.is_empty() {
        kept.retain_mut(|(n, _)| match allow.check_domain(at(n)) {
            allowlist::DomainVerdict::Removed => {
                report.skip_with(ALLOWLISTED, 1, || None, || at(n).to_string());
                false
            }
            allowlist::DomainVerdict::NarrowToApex => {
                report.skip_with(NARROWED, 1, || None, || at(n).to_string());
                n.wildcard = false;
                true
            }
            allowlist::DomainVerdict::Keep => true,
        });
    }
    let key = |n: &Name| sort_key_and(at(n).name.as_bytes(), n.wildcard);
    let cmp = |a: &Name, b: &Name| at(a).name.cmp(at(b).name).then(a.wildcard.cmp(&b.wildcard));
    // A budget that every input item fits takes the general path, which holds less at its peak.
    let lines = |n: &Name| rules.domain_lines(at(n)) as u64;
    let (budget, spend) = match budget {
        Some(b) if b.fits_all(kept.iter().map(|(n, _)| lines(n))) => (None, Some(b)),
        b => (b, None),
    };
    if let Some(budget) = budget {
        let firsts = dedupe_indices(&kept, key, cmp, metas, prio, report);
        // The wildcard names of the deduplicated list are those of the whole input.
        let wild = Wildcards::of(&kept, |(n, _)| at(n));
        // Asked of every input item in input order, where the names lie in memory in sequence,
        // rather than of the deduplicated ones in sorted order, at random: 1M lookups took
        // 100 ms against 380 ms for 800k (1M generated names, loaded machine).
        // The lines each item takes are found in the same pass (0: covered), so the cut reads
        // the values of the entries it keeps alone (reading every survivor's, at random, cost
        // 40 ms of cache misses).
        let lines = |n: &Name| u32::try_from(rules.domain_lines(at(n))).unwrap_or(u32::MAX);
        let cost: Vec<u32> = if wild.names.is_empty() {
            par_map(&kept, |(n, _)| lines(n))
        } else {
            par_map(
                &kept,
                |(n, _)| if wild.covers(at(n)) { 0 } else { lines(n) },
            )
        };
        drop(wild);
        // The covered are dropped in the pass that cuts (a second pass over the survivors, in
        // sorted order at random in `cost`, took 6 ms of 1M names).
        let left = cut_indices(
            firsts,
            |i| u64::from(cost[i]),
            budget,
            report,
            |i| at(&kept[i].0).to_string(),
        );
        drop(cost);
        let left: Vec<(Name, MetaId)> = left.iter().map(|&i| kept[i as usize]).collect();
        return domain_entries(text, &left, metas, prio);
    }
    let mut kept = dedupe_values(kept, key, cmp, metas, prio, report);
    // A name is covered when a wildcard on itself (other than this entry) or on an ancestor
    // is in the list.
    let wild = Wildcards::of(&kept, |(n, _)| at(n));
    let covered = wild.flags(&kept, |(n, _)| at(n));
    drop(wild);
    let mut next = covered.iter();
    kept.retain(|(n, _)| {
        let c = next.next().copied().unwrap_or(false);
        if c {
            report.skip_with(COVERED, 1, || None, || at(n).to_string());
        }
        !c
    });
    drop(covered);
    if let Some(b) = spend {
        b.spend(kept.iter().map(|(n, _)| lines(n)).sum());
    }
    domain_entries(text, &kept, metas, prio)
}

/// The entries of `items`, their names taken out of `text`: a string each, which took 35 ms of
/// 800k names on one thread. Made on two threads for many, a block of [`BLOCK`] items at a time:
/// the first half of a block straight into the entries, the second on another thread into a
/// block of its own, copied after it. So the copy held beside the entries is one half-block,
/// not half the list (28 MiB of 800k names).
fn domain_entries(
    text: &NameText,
    items: &[(Name, MetaId)],
    metas: &[Meta],
    prio: &[Priority],
) -> (Vec<Entry<Domain>>, Vec<Priority>) {
    let make = |part: &[(Name, MetaId)], out: &mut (Vec<Entry<Domain>>, Vec<Priority>)| {
        for &(n, m) in part {
            let p = prio[m as usize];
            out.1.push(p);
            out.0.push(Entry {
                value: text.get(n).to_domain(),
                confidence: p.confidence,
                comment: metas[m as usize].comment.clone(),
            });
        }
    };
    let with = |n| (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut out = with(items.len());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 1 << 13 {
        make(items, &mut out);
        return out;
    }
    let second = |b: &[(Name, MetaId)]| {
        let mut o = with(b.len());
        make(b, &mut o);
        o
    };
    for block in items.chunks(BLOCK) {
        let (a, b) = block.split_at(block.len() / 2);
        let (_, done) = crate::sort::join(|| make(a, &mut out), || second(b));
        let done = done.unwrap_or_else(|_| second(b));
        out.0.extend(done.0);
        out.1.extend(done.1);
    }
    out
}

/// Items per block of [`domain_entries`].
const BLOCK: usize = 1 << 17;

/// `f` of every item, on two threads for a big slice (one set lookup or more per item).
fn par_map<'d, T: Sync, R: Send>(items: &'d [T], f: impl Fn(&'d T) -> R + Sync) -> Vec<R> {
    par_halves(items, 1 << 16, |part| part.iter().map(&f).collect())
}

/// The wildcard entries of a list, for the coverage question: is a wildcard on this name (from
/// another entry) or on one of its ancestors in the list?
struct Wildcards<'a> {
    /// The names of the wildcard entries (`x.com` for `*.x.com`).
    names: HashSet<&'a str>,
    /// One bit per class of [`filter_hash`] values, set for the class of every name in `names`:
    /// a name whose bit is clear is not there, which a probe of this small table (kept in cache)
    /// answers without the set lookup, which reads a wildcard name at random on a hit of its
    /// hash tag. About 32 bits a wildcard name, so a probe of a name not there finds a set bit
    /// about once in 32.
    filter: Vec<u64>,
    /// The number of bits of a class (`filter` has `1 << bits` bits).
    bits: u32,
    /// The fewest and the most labels of a name in `names`: a name or ancestor with more or
    /// fewer is not looked up (a top-level domain, for most lists).
    labels: (usize, usize),
}

/// The labels of a name.
fn labels(name: &str) -> usize {
    name.bytes().filter(|&c| c == b'.').count() + 1
}

/// One step of the hash that picks a name's bit in [`Wildcards::filter`], which folds the bytes
/// of a name from the last to the first: so one pass over a name from its end has the hash of
/// each ancestor at its dot. Any hash serves (the set answers for every set bit); this one costs
/// a multiply a byte (foldhash of each ancestor took 70 ns a name, 1M generated names).
fn fold(h: u64, byte: u8) -> u64 {
    (h ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The seed of [`fold`].
const FOLD_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// The hash of a name for [`Wildcards::filter`]: [`fold`] of its bytes from the last.
fn filter_hash(name: &str) -> u64 {
    name.bytes().rev().fold(FOLD_SEED, fold)
}

/// The [`Wildcards::filter`] of `names` with `1 << bits` bits (`bits` from 6 to 63).
fn filter_of(names: &HashSet<&str>, bits: u32) -> Vec<u64> {
    let mut filter = vec![0u64; (1usize << bits) / 64];
    for n in names {
        let b = class(filter_hash(n), bits);
        filter[b / 64] |= 1 << (b % 64);
    }
    filter
}

/// The bit of a [`filter_hash`] in a filter of `1 << bits` bits: its top bits after a final mix
/// (the last bytes folded reach the top bits of the hash through one multiply only).
fn class(h: u64, bits: u32) -> usize {
    ((h ^ (h >> 32)).wrapping_mul(0xd6e8_feb8_6659_fd93) >> (64 - bits)) as usize
}

impl<'a> Wildcards<'a> {
    /// The wildcards among `items` (the domain of each is `domain(item)`), looked for on two
    /// threads for many items: one pass over every item, which took 16 ms of a 1M-name compile
    /// on one thread.
    fn of<T: Sync>(items: &'a [T], domain: impl Fn(&'a T) -> DomainRef<'a> + Sync) -> Self {
        let wild: Vec<&str> = par_halves(items, 1 << 16, |part| {
            part.iter()
                .map(&domain)
                .filter(|d| d.wildcard)
                .map(|d| d.name)
                .collect()
        });
        let names: HashSet<&str> = wild.into_iter().collect();
        // 32 bits a name, at least 4096 in all
        let bits = (names.len().max(128) * 32)
            .next_power_of_two()
            .trailing_zeros();
        let filter = filter_of(&names, bits);
        let labels = names.iter().fold((usize::MAX, 0), |(lo, hi), n| {
            let l = labels(n);
            (lo.min(l), hi.max(l))
        });
        Wildcards {
            names,
            filter,
            bits,
            labels,
        }
    }

    /// Whether `name`, of [`filter_hash`] `h`, is a wildcard name: its bit in `filter` first,
    /// the set only when the bit is set.
    fn has(&self, name: &str, h: u64) -> bool {
        let b = class(h, self.bits);
        self.filter[b / 64] & (1 << (b % 64)) != 0 && self.names.contains(name)
    }

    /// Whether a wildcard covers `d`: an ancestor, or the name itself when `d` is no wildcard (a
    /// wildcard entry does not cover itself). One pass over the name from its end has the hash
    /// of each ancestor at its dot ([`fold`]); an ancestor with as many labels as some wildcard
    /// name is probed in the filter, and looked up in the set only when its bit is set.
    ///
    /// On 1M generated names with 40k wildcards this takes about as long as the lookup of the
    /// last two labels it replaced (30–35 ms on two threads), though 29% of these names share
    /// their last two labels with a wildcard, which sent them on to a set lookup per ancestor;
    /// and it needs one set, not two (7 ms to build instead of 10).
    fn covers(&self, d: DomainRef<'_>) -> bool {
        let name = d.name;
        let b = name.as_bytes();
        let (fewest, most) = self.labels;
        let mut h = FOLD_SEED;
        // the labels of the ancestor after the dot at hand
        let mut n = 0;
        for i in (0..b.len()).rev() {
            if b[i] == b'.' {
                n += 1;
                if n > most {
                    return false;
                }
                if n >= fewest && self.has(&name[i + 1..], h) {
                    return true;
                }
            }
            h = fold(h, b[i]);
        }
        n += 1;
        !d.wildcard && (fewest..=most).contains(&n) && self.has(name, h)
    }

    /// Per item, whether a wildcard covers its name ([`Wildcards::covers`]).
    fn flags<'d, T: Sync>(
        &self,
        items: &'d [T],
        name: impl Fn(&'d T) -> DomainRef<'d> + Sync,
    ) -> Vec<bool> {
        if self.names.is_empty() {
            return vec![false; items.len()];
        }
        par_map(items, |x| self.covers(name(x)))
    }

    /// [`Wildcards::covers`] by looking up the name and every ancestor.
    #[cfg(test)]
    fn covers_walk(&self, d: DomainRef<'_>) -> bool {
        if !d.wildcard && self.names.contains(d.name) {
            return true;
        }
        let mut p = crate::indicator::domain::parent(d.name);
        while let Some(a) = p {
            if self.names.contains(a) {
                return true;
            }
            p = crate::indicator::domain::parent(a);
        }
        false
    }
}

/// Compiles the URL entries of a list; with a `budget`, as [`compile_domains`] does.
#[allow(clippy::too_many_arguments)]
pub(super) fn compile_urls(
    mut input: Vec<(UrlValue, MetaId)>,
    rules: &dyn VendorRules,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
    budget: Option<&mut Budget>,
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
    let key = |u: &UrlValue| sort_key(rules.url_key(u).as_bytes());
    let cmp = |a: &UrlValue, b: &UrlValue| rules.url_key(a).cmp(&rules.url_key(b));
    one_line_entries(input, key, cmp, budget, metas, prio, report)
}

/// Compiles the hash entries of a list; with a `budget`, as [`compile_domains`] does.
pub(super) fn compile_hashes(
    input: Vec<(Hash, MetaId)>,
    allow: &AllowSet,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
    budget: Option<&mut Budget>,
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
    let key = |h: &Hash| sort_key(h.hex.as_bytes());
    let cmp = |a: &Hash, b: &Hash| a.hex.cmp(&b.hex);
    one_line_entries(kept, key, cmp, budget, metas, prio, report)
}

/// Dedupe of one-line entries (URLs, hashes), cut to `budget` when there is one.
fn one_line_entries<V: Clone + std::fmt::Display + Send + Sync + 'static>(
    v: Vec<(V, MetaId)>,
    key: impl Fn(&V) -> (u128, u32) + Sync,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    budget: Option<&mut Budget>,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<V>>, Vec<Priority>) {
    match budget {
        // every item fits: the general path, which holds less at its peak
        Some(b) if b.fits(v.len() as u64) => {
            let out = dedupe(v, key, cmp, metas, prio, report);
            b.spend(out.0.len() as u64);
            out
        }
        Some(b) => {
            let firsts = dedupe_indices(&v, key, cmp, metas, prio, report);
            let kept = cut_indices(firsts, |_| 1, b, report, |i| v[i].0.to_string());
            take_entries(v, kept, metas, prio)
        }
        None => dedupe(v, key, cmp, metas, prio, report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Names over a few labels, so that wildcards, ancestors and shared tails meet often.
    fn names() -> impl Strategy<Value = Vec<(String, bool)>> {
        let label = prop_oneof![Just("a"), Just("b"), Just("com"), Just("x-y"), Just("co")];
        let name = proptest::collection::vec(label, 1..5).prop_map(|l| l.join("."));
        proptest::collection::vec((name, proptest::bool::weighted(0.3)), 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        // The filtered coverage check answers what the walk over every ancestor answers, with
        // and without single-label wildcards, and with a filter of 64 bits, where most probes
        // of names not there find a set bit (and so the set must answer).
        #[test]
        fn coverage_fast_path_matches_walk(list in names(), probes in names(), small in proptest::bool::ANY) {
            let domains: Vec<Domain> = list
                .into_iter()
                .map(|(name, wildcard)| Domain { name, wildcard })
                .collect();
            let mut w = Wildcards::of(&domains, Domain::view);
            if small {
                w.bits = 6;
                w.filter = filter_of(&w.names, 6);
            }
            for (name, wildcard) in probes {
                let d = Domain { name, wildcard };
                prop_assert_eq!(w.covers(d.view()), w.covers_walk(d.view()), "{}", d);
            }
            for d in &domains {
                prop_assert_eq!(w.covers(d.view()), w.covers_walk(d.view()), "{}", d);
            }
        }
    }
}
