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

/// `a` here and `b` on another thread, at once: `a`'s result, and `b`'s or the panic that ended
/// it (each caller says what a failed half means: done again here, or the panic passed on).
pub(crate) fn join<A, B: Send>(
    a: impl FnOnce() -> A,
    b: impl FnOnce() -> B + Send,
) -> (A, std::thread::Result<B>) {
    std::thread::scope(|s| {
        let h = s.spawn(b);
        (a(), h.join())
    })
}

/// Sorts `v` on two threads, in place, given `counts`, how many items have each value of `top`:
/// the items are split around a pivot of `top` (the first 16 bits of the sort key) so that every
/// item of the left part sorts before every item of the right part, and the two parts are sorted
/// at once. Same result as `sort_unstable_by` for an order whose first key is `top`, with no merge
/// buffer (a copy of the whole vector at the peak, before).
fn sort_split<T: Send>(
    v: &mut [T],
    counts: &[u32],
    top: impl Fn(&T) -> u16 + Sync,
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Sync,
) {
    let half = (v.len() / 2) as u64;
    let mut seen = 0u64;
    let mut pivot = 0usize;
    while pivot < counts.len() && seen + u64::from(counts[pivot]) <= half {
        seen += u64::from(counts[pivot]);
        pivot += 1;
    }
    let left = partition(v, |x| (top(x) as usize) < pivot);
    let (a, b) = v.split_at_mut(left);
    let (_, done) = join(|| b.sort_unstable_by(&cmp), || a.sort_unstable_by(&cmp));
    if done.is_err() {
        // its swaps left a permutation of the part: sorted again here
        a.sort_unstable_by(&cmp);
    }
}

/// Moves the items for which `is_left` holds before the others, on two threads (one half of `v`
/// each); returns how many there are. The order within each part is not kept.
fn partition<T: Send>(v: &mut [T], is_left: impl Fn(&T) -> bool + Sync) -> usize {
    let split = |part: &mut [T]| {
        let mut left = 0;
        for i in 0..part.len() {
            if is_left(&part[i]) {
                part.swap(i, left);
                left += 1;
            }
        }
        left
    };
    let mid = v.len() / 2;
    let (p, q) = v.split_at_mut(mid);
    let (x, y) = join(|| split(p), || split(q));
    // A thread that failed has its half done again here (its swaps left a permutation of it).
    let y = y.unwrap_or_else(|_| split(&mut v[mid..]));
    // [a_lo a_hi b_lo b_hi]: the first items of a_hi trade places with as many of the last of
    // b_lo (all of the shorter of the two), and every left item is then before every other.
    let m = (mid - x).min(y);
    let (p, q) = v.split_at_mut(mid);
    p[x..x + m].swap_with_slice(&mut q[y - m..y]);
    x + y
}

/// One item of a keyed sort: a key's [`sort_key`] (prefix as two words, tag) and its index.
pub(crate) type Keyed = ([u64; 2], u32, u32);

/// Whether there are two cores and items enough to split work over them.
fn two_threads(n: usize) -> bool {
    n >= 1 << 16 && std::thread::available_parallelism().map_or(1, |c| c.get()) >= 2
}

/// The [`Keyed`] items of keys `0..n` (`key(i)` is [`sort_key`] of key `i`), made on two threads
/// for many keys and sorted by (prefix, hash, index) on two threads ([`sort_split`]): keys that differ in their
/// first 16 bytes are then in order without a key being read again; the runs of equal prefixes
/// (duplicates, and keys sharing 16 bytes) are left for [`for_each_run`] to order fully.
pub(crate) fn keyed_order(n: usize, key: impl Fn(usize) -> (u128, u32) + Sync) -> Vec<Keyed> {
    let mut order: Vec<Keyed> = vec![([0; 2], 0, 0); n];
    let top = |x: &Keyed| (x.0[0] >> 48) as u16;
    let cmp = |a: &Keyed, b: &Keyed| a.cmp(b);
    // Each thread counts the `top` of the items it makes, for the split of `sort_split` (a pass
    // over the 24 MB of 1M items the less).
    let make = |part: &mut [Keyed], from: usize, mut counts: Option<&mut [u32]>| {
        for (k, slot) in part.iter_mut().enumerate() {
            let i = from + k;
            let (p, h) = key(i);
            *slot = ([(p >> 64) as u64, p as u64], h, i as u32);
            if let Some(c) = counts.as_deref_mut() {
                c[top(slot) as usize] += 1;
            }
        }
    };
    if two_threads(n) {
        let mid = n / 2;
        let (a, b) = order.split_at_mut(mid);
        let mut counts = vec![0u32; 1 << 16];
        let (_, second) = join(
            || make(a, 0, Some(&mut counts)),
            || {
                let mut c = vec![0u32; 1 << 16];
                make(b, mid, Some(&mut c));
                c
            },
        );
        match second {
            Ok(c) => counts.iter_mut().zip(c).for_each(|(x, y)| *x += y),
            // the other half's keys again, here, and its counts with them
            Err(_) => make(&mut order[mid..], mid, Some(&mut counts)),
        }
        sort_split(&mut order, &counts, top, cmp);
    } else {
        make(&mut order, 0, None);
        order.sort_unstable_by(cmp);
    }
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
    by_halves(order, aux, |part, aux| stretches(part, aux, &f, |_, _| {}));
}

/// [`for_each_run`] with a flag per item that `f` sets for the items to leave out (duplicates);
/// returns the indices of the others, in order, found in the same pass, while each run is in
/// cache (a second pass over the 24 MB of 1M items took 7 ms).
pub(crate) fn for_each_run_kept(
    order: &mut [Keyed],
    out: &mut [bool],
    f: impl Fn(&mut [Keyed], &mut [bool]) + Sync,
) -> Vec<u32> {
    let halves = by_halves(order, out, |part, out| {
        let mut kept = Vec::with_capacity(part.len());
        stretches(part, out, &f, |s, o| {
            kept.extend(s.iter().zip(o).filter(|&(_, &o)| !o).map(|(&(.., i), _)| i));
        });
        kept
    });
    let mut halves = halves.into_iter();
    let mut kept = halves.next().unwrap_or_default();
    kept.extend(halves.flatten());
    kept
}

/// Calls `f` on every run of two or more items of equal prefixes in `part`, and then `then` on
/// every stretch of equal prefixes (runs, and single items), in order.
fn stretches<A>(
    part: &mut [Keyed],
    aux: &mut [A],
    f: &impl Fn(&mut [Keyed], &mut [A]),
    mut then: impl FnMut(&[Keyed], &[A]),
) {
    let mut r = 0;
    while r < part.len() {
        let mut e = r + 1;
        while e < part.len() && part[e].0 == part[r].0 {
            e += 1;
        }
        if e - r > 1 {
            f(&mut part[r..e], &mut aux[r..e]);
        }
        then(&part[r..e], &aux[r..e]);
        r = e;
    }
}

/// `half` of `order` and `aux` cut in two at a run boundary near the middle, on two threads, for
/// many items (of the whole, here, otherwise); the results in order.
fn by_halves<A: Send, R: Send>(
    order: &mut [Keyed],
    aux: &mut [A],
    half: impl Fn(&mut [Keyed], &mut [A]) -> R + Sync,
) -> Vec<R> {
    if !two_threads(order.len()) {
        return vec![half(order, aux)];
    }
    let mut mid = order.len() / 2;
    while mid < order.len() && order[mid].0 == order[mid - 1].0 {
        mid += 1;
    }
    let (a, b) = order.split_at_mut(mid);
    let (xa, xb) = aux.split_at_mut(mid);
    let (ra, rb) = join(|| half(a, xa), || half(b, xb));
    match rb {
        Ok(rb) => vec![ra, rb],
        // as the scope would have (a panic in `f` is a bug, not bad input)
        Err(e) => std::panic::resume_unwind(e),
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
    fn split_sort_is_a_full_sort() {
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
        let top = |(k, _): &(u64, u32)| (k >> 48) as u16;
        let mut counts = vec![0u32; 1 << 16];
        for x in &got {
            counts[top(x) as usize] += 1;
        }
        sort_split(&mut got, &counts, top, |a, b| a.cmp(b));
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

        // The two-thread partition puts exactly the left items first, the same items in all.
        #[test]
        fn partition_puts_the_left_first(
            v in proptest::collection::vec(0u8..10, 0..200),
            t in 0u8..11,
        ) {
            let mut got = v.clone();
            let left = partition(&mut got, |&x| x < t);
            prop_assert_eq!(left, v.iter().filter(|&&x| x < t).count());
            prop_assert!(got[..left].iter().all(|&x| x < t));
            prop_assert!(got[left..].iter().all(|&x| x >= t));
            let (mut a, mut b) = (got, v);
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
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
