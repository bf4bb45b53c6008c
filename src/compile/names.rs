//! Name entries of a list (domains, URLs, hashes): allowlist, dedupe, wildcard coverage.

use foldhash::HashSet;

use crate::indicator::{domain, Domain, Hash, Meta, Priority, Report, UrlValue};

use super::dedupe::{dedupe, prefix16};
use super::{allowlist, AllowSet, Entry, MetaId, VendorRules, ALLOWLISTED, COVERED, NARROWED};

pub(super) fn compile_domains(
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

pub(super) fn compile_urls(
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

pub(super) fn compile_hashes(
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
