//! Sorting helpers shared by the store (record sets) and the compiler (name dedupe): a 16-byte
//! big-endian prefix and a hash as the sort key of a byte string, a sort on two threads, and an
//! in-place permutation. A leaf: it knows no other module.

/// The first 16 bytes of a key, big-endian, zero-padded: ordering by it never contradicts the
/// byte order of the whole key, and settles most comparisons without touching the heap.
pub(crate) fn prefix16(b: &[u8]) -> u128 {
    let mut x = [0u8; 16];
    let n = b.len().min(16);
    x[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(x)
}

/// What a keyed sort knows of a key without touching it again: its [`prefix16`] and a tag, a
/// 32-bit hash of the whole key (equal keys, equal tags) whose low bit is [`WHOLE`] and whose
/// next bit is `flag` (a second key of the caller's order, such as a domain's wildcard).
pub(crate) fn sort_key_and(b: &[u8], flag: bool) -> (u128, u32) {
    use std::hash::BuildHasher;
    // A fixed seed: the hash only groups equal keys, it never reaches the output.
    let h = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(b);
    let whole = b.len() < 16 && !b.contains(&0);
    let tag = ((h >> 32) as u32 & !(WHOLE | FLAG)) | u32::from(whole) | (u32::from(flag) << 1);
    (prefix16(b), tag)
}

/// [`sort_key_and`] without a flag.
pub(crate) fn sort_key(b: &[u8]) -> (u128, u32) {
    sort_key_and(b, false)
}

/// The tag bit of a key shorter than 16 bytes without a 0 byte: its prefix is the whole key
/// (zero-padded), so two such keys with equal prefixes are the same bytes, and two items with
/// equal prefixes and equal tags that have this bit are equal in the caller's order (same
/// bytes, same flag) without reading either.
pub(crate) const WHOLE: u32 = 1;

/// The tag bit that carries the caller's flag.
const FLAG: u32 = 2;

/// Whether every item of a run of equal prefixes ([`for_each_run`]) has one tag, a [`WHOLE`]
/// one: then they are all one key, and only what follows the key in the order tells them apart.
pub(crate) fn one_whole_key(run: &[Keyed]) -> bool {
    run.first()
        .is_some_and(|f| f.1 & WHOLE != 0 && run.iter().all(|x| x.1 == f.1))
}

/// Sorts on two threads when there are two cores and enough items, in place: the items are
/// split around a pivot of `top` (the first 16 bits of the sort key, from a histogram) so that
/// every item of the left part sorts before every item of the right part, and the two parts are
/// sorted at once. Same result as `sort_unstable_by` for an order whose first key is `top`, with
/// no merge buffer (a copy of the whole vector at the peak, before).
pub(crate) fn par_sort<T: Send>(
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

/// One item of a keyed sort: a key's [`sort_key`] (prefix as two words, tag) and its index.
pub(crate) type Keyed = ([u64; 2], u32, u32);

/// Whether there are two cores and items enough to split work over them.
fn two_threads(n: usize) -> bool {
    n >= 1 << 16 && std::thread::available_parallelism().map_or(1, |c| c.get()) >= 2
}

/// The [`Keyed`] items of keys `0..n` (`key(i)` is [`sort_key`] of key `i`), made on two threads
/// for many keys and sorted by (prefix, hash, index) with [`par_sort`]: keys that differ in their
/// first 16 bytes are then in order without a key being read again; the runs of equal prefixes
/// (duplicates, and keys sharing 16 bytes) are left for [`for_each_run`] to order fully.
pub(crate) fn keyed_order(n: usize, key: impl Fn(usize) -> (u128, u32) + Sync) -> Vec<Keyed> {
    let mut order: Vec<Keyed> = vec![([0; 2], 0, 0); n];
    let make = |part: &mut [Keyed], from: usize| {
        for (k, slot) in part.iter_mut().enumerate() {
            let i = from + k;
            let (p, h) = key(i);
            *slot = ([(p >> 64) as u64, p as u64], h, i as u32);
        }
    };
    if two_threads(n) {
        let mid = n / 2;
        let (a, b) = order.split_at_mut(mid);
        std::thread::scope(|s| {
            s.spawn(|| make(b, mid));
            make(a, 0);
        });
    } else {
        make(&mut order, 0);
    }
    par_sort(&mut order, |(p, ..)| (p[0] >> 48) as u16, |a, b| a.cmp(b));
    order
}

/// Calls `f` on every run of two or more items of equal prefixes in `order` (sorted by
/// [`keyed_order`]), with the matching part of `aux` (one slot per item); the runs are split over
/// two threads for many items (a run never straddles the cut).
pub(crate) fn for_each_run<A: Send>(
    order: &mut [Keyed],
    aux: &mut [A],
    f: impl Fn(&mut [Keyed], &mut [A]) + Sync,
) {
    let runs = |part: &mut [Keyed], aux: &mut [A]| {
        let mut r = 0;
        while r < part.len() {
            let mut e = r + 1;
            while e < part.len() && part[e].0 == part[r].0 {
                e += 1;
            }
            if e - r > 1 {
                f(&mut part[r..e], &mut aux[r..e]);
            }
            r = e;
        }
    };
    if two_threads(order.len()) {
        let mut mid = order.len() / 2;
        while mid < order.len() && order[mid].0 == order[mid - 1].0 {
            mid += 1;
        }
        let (a, b) = order.split_at_mut(mid);
        let (xa, xb) = aux.split_at_mut(mid);
        std::thread::scope(|s| {
            s.spawn(|| runs(b, xb));
            runs(a, xa);
        });
    } else {
        runs(order, aux);
    }
}

/// Puts `v` in the order `order` gives (`v[k]` becomes the old `v[order[k]]`) in place, by
/// following each cycle of the permutation; `order` is used up as the record of what is done.
/// In place, so no second vector of values exists at any time (it did: 40 bytes an item).
pub(crate) fn permute<T>(v: &mut [T], order: &mut [u32]) {
    for start in 0..order.len() {
        let mut k = start;
        loop {
            let src = order[k] as usize;
            order[k] = k as u32;
            if src == start || src == k {
                break;
            }
            v.swap(k, src);
            k = src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        // Equal prefixes and equal tags with WHOLE set are equal keys with equal flags; a key
        // shorter than 16 bytes without a 0 byte has WHOLE, no other key does.
        #[test]
        fn whole_tags_mean_equal_keys(
            a in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b')], 0..20),
            b in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), Just(b'b')], 0..20),
            fa: bool,
            fb: bool,
        ) {
            let (ka, kb) = (sort_key_and(&a, fa), sort_key_and(&b, fb));
            prop_assert_eq!(ka.1 & WHOLE != 0, a.len() < 16 && !a.contains(&0));
            if ka == kb && ka.1 & WHOLE != 0 {
                prop_assert_eq!((&a, fa), (&b, fb));
            }
            if (&a, fa) == (&b, fb) {
                prop_assert_eq!(ka, kb);
            }
        }

        // The in-place permutation gives what gathering into a new vector gives.
        #[test]
        fn permute_is_a_gather(
            mut order in (0u32..300).prop_flat_map(|n| Just((0..n).collect::<Vec<u32>>()).prop_shuffle()),
        ) {
            let items: Vec<u64> = (0..order.len() as u64).map(|i| i * 7 + 3).collect();
            let want: Vec<u64> = order.iter().map(|&i| items[i as usize]).collect();
            let mut got = items;
            permute(&mut got, &mut order);
            prop_assert_eq!(got, want);
        }

    }
}
