//! Dedupe of name entries: a sort of (key prefix, key hash, index) items on both cores, a sort
//! of each run of equal prefixes by the full order, then one entry per equal key, the one with
//! the best metadata.
//!
//! Measured on 1M generated domains (2026-12-07, `benches/results/2026-12-07-rust-2core/`): the
//! sort of 24-byte (prefix, index) items on both cores and the comparisons it makes are about
//! 15% of the CPU of a `convert`; putting the values in order in place and making the entries
//! from the back took 35 MiB off the peak beside the in-place coverage filter of `names.rs`.

use crate::indicator::{Meta, Priority, Report};
#[cfg(test)]
use crate::sort::sort_key;
use crate::sort::{for_each_run, for_each_run_kept, keyed_order, one_whole_key, permute, Keyed};

use super::{Entry, MetaId};

/// The items' indices in sorted order: by `cmp` (whose first key is the prefix of `key`), then
/// the best metadata first (highest priority, then the smallest comment), so the first of each
/// run of equal keys is the one to keep whatever the input order; and per sorted position,
/// whether the item is a duplicate (its key equals the last kept one's).
///
/// `key` is a [`crate::sort::sort_key_and`] of the bytes `cmp` orders first, with the flag of its
/// second key when it has one (a domain's wildcard), so that two items with equal keys whose tags
/// are [`crate::sort::WHOLE`] are equal for `cmp`.
///
/// Two steps, so that the big sort never leaves its 24-byte items: a sort by (prefix, hash of the
/// whole key), then a sort by the full order of each run of equal prefixes, which holds the
/// duplicates (equal keys have equal hashes, so they are already together) and the few keys that
/// share 16 bytes; the duplicates are found in the same pass, while the run is in cache. Sorting
/// by the full order at once compared every duplicate against each pivot by following the index
/// into the values: on 1M generated names (22% duplicates) that was a third of the sort's time,
/// in `memcmp` on the heap. The keys are made and the runs sorted on two threads.
///
/// `pass` goes over the runs with the sort of one run it is given ([`for_each_run`], or
/// [`for_each_run_kept`], which also collects the kept indices); what it returns is the third
/// part of the result.
fn sorted_keyed<V: Sync, R>(
    v: &[(V, MetaId)],
    key: impl Fn(&V) -> (u128, u32) + Sync,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    metas: &[Meta],
    prio: &[Priority],
    pass: impl FnOnce(&mut [Keyed], &mut [bool], &RunSort<'_>) -> R,
) -> (Vec<Keyed>, Vec<bool>, R) {
    let mut order = keyed_order(v.len(), |i| key(&v[i].0));
    let value = |x: &Keyed| &v[x.2 as usize];
    // The best metadata first: the highest priority, then the smallest comment.
    let by_meta = |ma: MetaId, mb: MetaId| {
        prio[mb as usize]
            .cmp(&prio[ma as usize])
            .then_with(|| metas[ma as usize].comment.cmp(&metas[mb as usize].comment))
    };
    let full = |a: &Keyed, b: &Keyed| {
        let ((x, ma), (y, mb)) = (value(a), value(b));
        cmp(x, y).then_with(|| by_meta(*ma, *mb))
    };
    // Each run of equal prefixes sorted by the full order; then every item equal to the last
    // kept one of its run is a duplicate (duplicates share their prefix, so never cross runs).
    let mut dup = vec![false; order.len()];
    let run_sort = |run: &mut [Keyed], dup: &mut [bool]| {
        // One key (`one_whole_key`: 47% of the duplicates of 1M generated names): ordered by the
        // metadata alone, every item but the first a duplicate, and no value read.
        if one_whole_key(run) {
            run.sort_unstable_by(|a, b| by_meta(value(a).1, value(b).1));
            dup[1..].fill(true);
            return;
        }
        run.sort_unstable_by(full);
        let mut last = 0;
        for k in 1..run.len() {
            if cmp(&value(&run[last]).0, &value(&run[k]).0).is_eq() {
                dup[k] = true;
            } else {
                last = k;
            }
        }
    };
    let r = pass(&mut order, &mut dup, &run_sort);
    (order, dup, r)
}

/// The sort of one run of equal prefixes that [`sorted_keyed`] gives the pass over the runs.
type RunSort<'a> = dyn Fn(&mut [Keyed], &mut [bool]) + Sync + 'a;

/// Sorts by `cmp` (whose first key is `prefix`), then keeps one entry per equal run: the one
/// with the highest priority (ties: the smallest comment), so the result does not depend on input
/// order. Puts the values in sorted order in place and drops the duplicates in place.
pub(super) fn dedupe<V: Sync>(
    v: Vec<(V, MetaId)>,
    key: impl Fn(&V) -> (u128, u32) + Sync,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> (Vec<Entry<V>>, Vec<Priority>) {
    into_entries(dedupe_values(v, key, cmp, metas, prio, report), metas, prio)
}

/// [`dedupe`] without making the entries: the kept values in sorted order, with their metadata.
pub(super) fn dedupe_values<V: Sync>(
    mut v: Vec<(V, MetaId)>,
    key: impl Fn(&V) -> (u128, u32) + Sync,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> Vec<(V, MetaId)> {
    let (order, dup, ()) =
        sorted_keyed(&v, key, &cmp, metas, prio, |o, d, f| for_each_run(o, d, f));
    let mut order: Vec<u32> = order.into_iter().map(|(.., i)| i).collect();
    order.shrink_to_fit(); // an in-place collect may keep the 24-byte items' allocation
    permute(&mut v, &mut order);
    drop(order);
    // One entry per run of equal keys: the first, which has the best metadata.
    let mut kept = 0;
    for (r, &d) in dup.iter().enumerate() {
        if d {
            report.duplicates += 1;
            continue;
        }
        v.swap(kept, r);
        kept += 1;
    }
    v.truncate(kept);
    v
}

/// [`dedupe`] without moving anything: the indices of the item to keep of each run of equal
/// keys, in sorted order, duplicates counted. For a list cut to a small part of its input
/// ([`super::cap`]), where putting every value in order and making every entry would be wasted.
pub(super) fn dedupe_indices<V: Sync>(
    v: &[(V, MetaId)],
    key: impl Fn(&V) -> (u128, u32) + Sync,
    cmp: impl Fn(&V, &V) -> std::cmp::Ordering + Sync,
    metas: &[Meta],
    prio: &[Priority],
    report: &mut Report,
) -> Vec<u32> {
    // The kept indices are found in the pass over the runs (`for_each_run_kept`).
    let (_, _, firsts) = sorted_keyed(v, key, &cmp, metas, prio, |o, d, f| {
        for_each_run_kept(o, d, f)
    });
    report.duplicates += (v.len() - firsts.len()) as u64;
    firsts
}

/// Makes the entries, taking the values from the back of `v` and giving `v`'s memory back as it
/// empties, so the values and the entries (64 bytes each for a domain, 40 bytes a value) are not
/// both held in full at the peak of a big list. Order kept.
pub(super) fn into_entries<V>(
    mut v: Vec<(V, MetaId)>,
    metas: &[Meta],
    prio: &[Priority],
) -> (Vec<Entry<V>>, Vec<Priority>) {
    const STEP: usize = 1 << 16;
    let mut out: Vec<Entry<V>> = Vec::with_capacity(v.len());
    let mut out_p = Vec::with_capacity(v.len());
    while !v.is_empty() {
        let from = v.len().saturating_sub(STEP);
        for (value, m) in v.drain(from..).rev() {
            let p = prio[m as usize];
            out_p.push(p);
            out.push(Entry {
                value,
                confidence: p.confidence,
                comment: metas[m as usize].comment.clone(),
            });
        }
        v.shrink_to_fit();
    }
    out.reverse();
    out_p.reverse();
    (out, out_p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorted_keyed_is_the_full_order_on_two_threads() {
        // Above the threshold of the two-thread run sort: long runs of equal prefixes (keys that
        // share their first 16 bytes, and duplicates with other metadata) across the middle.
        let metas: Vec<Meta> = (0..3)
            .map(|i| Meta {
                confidence: Some([40, 90, 40][i]),
                comment: Some(["b", "a", "a"][i].into()),
                ..Meta::default()
            })
            .collect();
        let prio: Vec<Priority> = metas.iter().map(Meta::priority).collect();
        let v: Vec<(String, MetaId)> = (0..90_000u32)
            .map(|i| {
                let k = (i * 7919) % 40_000;
                let key = if k % 3 == 0 {
                    format!("{k:06}")
                } else {
                    // ten prefixes of 16 bytes, each a run of thousands of items
                    format!("{:02}-same-16-bytes{:05}", k % 10, k % 2_000)
                };
                (key, i % 3)
            })
            .collect();
        let (order, dup, kept) = sorted_keyed(
            &v,
            |s| sort_key(s.as_bytes()),
            |a: &String, b: &String| a.cmp(b),
            &metas,
            &prio,
            |o, d, f| for_each_run_kept(o, d, f),
        );
        // the kept indices, found in the pass over the runs, are those of the non-duplicates
        let firsts: Vec<u32> = order
            .iter()
            .zip(&dup)
            .filter(|&(_, &d)| !d)
            .map(|(&(.., i), _)| i)
            .collect();
        assert_eq!(kept, firsts);
        let got: Vec<(&str, MetaId)> = order
            .iter()
            .map(|&(.., i)| (v[i as usize].0.as_str(), v[i as usize].1))
            .collect();
        let mut want: Vec<(&str, MetaId)> = v.iter().map(|(k, m)| (k.as_str(), *m)).collect();
        want.sort_by(|a, b| {
            a.0.cmp(b.0)
                .then_with(|| prio[b.1 as usize].cmp(&prio[a.1 as usize]))
                .then_with(|| {
                    metas[a.1 as usize]
                        .comment
                        .cmp(&metas[b.1 as usize].comment)
                })
        });
        // Items fully equal in the order (key, priority, comment) may come in any order.
        let strip = |x: &[(&str, MetaId)]| -> Vec<(String, Priority, Option<String>)> {
            x.iter()
                .map(|(k, m)| {
                    (
                        k.to_string(),
                        prio[*m as usize],
                        metas[*m as usize].comment.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(strip(&got), strip(&want));
        // a duplicate is an item whose key equals the one before it (kept or a duplicate)
        assert!(!dup[0]);
        for k in 1..got.len() {
            assert_eq!(dup[k], got[k].0 == got[k - 1].0, "{k}");
        }
    }

    proptest! {
        // Dedupe keeps, per key, the entry of the best priority (ties: smallest comment), in
        // key order, and counts the rest as duplicates, whatever the input order; also across
        // the chunks `into_entries` takes from the back.
        #[test]
        fn dedupe_keeps_the_best_of_each_key(
            items in proptest::collection::vec((0u16..400, 0usize..4), 0..2000),
        ) {
            let metas: Vec<Meta> = (0..4)
                .map(|i| Meta {
                    confidence: Some([10, 90, 90, 50][i]),
                    comment: Some(["a", "b", "c", "d"][i].into()),
                    ..Meta::default()
                })
                .collect();
            let prio: Vec<Priority> = metas.iter().map(Meta::priority).collect();
            let v: Vec<(String, MetaId)> =
                items
                .iter()
                .map(|&(k, m)| {
                    // odd keys share their first 16 bytes: equal prefixes, different keys
                    let key = if k % 2 == 0 { format!("{k:05}") } else { format!("a-shared-prefix-{k:05}") };
                    (key, m as MetaId)
                })
                .collect();
            let mut report = Report::default();
            let (out, out_p) = dedupe(
                v.clone(),
                |s| sort_key(s.as_bytes()),
                |a, b| a.cmp(b),
                &metas,
                &prio,
                &mut report,
            );
            let mut want: std::collections::BTreeMap<String, MetaId> = Default::default();
            for (k, m) in v {
                let e = want.entry(k).or_insert(m);
                let better = (std::cmp::Reverse(prio[m as usize]), &metas[m as usize].comment)
                    < (std::cmp::Reverse(prio[*e as usize]), &metas[*e as usize].comment);
                if better {
                    *e = m;
                }
            }
            let got: Vec<(String, Option<String>)> =
                out.iter().map(|e| (e.value.clone(), e.comment.clone())).collect();
            let expect: Vec<(String, Option<String>)> = want
                .iter()
                .map(|(k, &m)| (k.clone(), metas[m as usize].comment.clone()))
                .collect();
            proptest::prop_assert_eq!(got, expect);
            proptest::prop_assert_eq!(out_p.len(), out.len());
            proptest::prop_assert_eq!(report.duplicates as usize, items.len() - out.len());
        }
    }
}
