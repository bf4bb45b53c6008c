//! Dedupe of name entries: a sort of (key prefix, index) pairs on both cores, then one entry
//! per equal key, the one with the best metadata.

use crate::indicator::{Meta, Priority, Report};

use super::{Entry, MetaId};

/// The first 16 bytes of a key, big-endian, zero-padded: ordering by it never contradicts the
/// byte order of the whole key, and settles most comparisons without touching the heap.
pub(super) fn prefix16(b: &[u8]) -> u128 {
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
pub(super) fn par_sort<T: Send>(
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
pub(super) fn dedupe<V: Sync>(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
