//! [`FreshSet`] and [`merge_set`]: a fetched full snapshot, compact, merged into a source's old
//! [`RecordSet`]. Pure, like [`super::merge_snapshot`], whose rule it applies.
//!
//! The fresh set is sorted once (IPs by an in-place radix pass and per-bucket sorts on two
//! threads, [`crate::compile::ipset::sort_by_start`]); then one linear walk over the old and the
//! fresh sorted sequences decides every record *and* counts the values added and removed, so no
//! value is hashed and no record is copied twice. While every value of a fetch has the same
//! metadata (a plain feed) no per-value metadata id is stored at all.

use crate::compile::ipset;
use crate::indicator::{IpRange, Tlp, Value};

use super::set::{FastMap, Interner, RecordSet, Stamp, StampId};

/// The metadata a fetch gave one indicator (times are the store's to decide): what a
/// [`FreshSet`] interns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FreshMeta {
    /// Expiry given by the data.
    pub expires: Option<i64>,
    /// Confidence given by the data.
    pub confidence: Option<u8>,
    /// TLP given by the data.
    pub tlp: Option<Tlp>,
    /// Labels given by the data.
    pub tags: Vec<String>,
    /// Free text given by the data.
    pub comment: Option<String>,
}

impl FreshMeta {
    /// Folds the metadata of a later copy of the same value into this one: the highest
    /// confidence, the most restrictive TLP, the latest expiry (none if one has none), the tags
    /// of both in first-seen order, the first comment (as [`super::merge_snapshot`]).
    pub(super) fn absorb(&mut self, later: FreshMeta) {
        self.confidence = self.confidence.max(later.confidence);
        self.tlp = match (self.tlp, later.tlp) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.expires = match (self.expires, later.expires) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        for t in later.tags {
            if !self.tags.contains(&t) {
                self.tags.push(t);
            }
        }
        if self.comment.is_none() {
            self.comment = later.comment;
        }
    }
}

/// Values of one family with the id of their metadata. While every value pushed has the same
/// metadata the ids are not stored.
#[derive(Debug, Clone, Default)]
struct Part<T> {
    items: Vec<T>,
    metas: Vec<u32>,
    uniform: Option<u32>,
}

impl<T> Part<T> {
    fn push(&mut self, item: T, meta: u32) {
        if self.metas.is_empty() && self.uniform.is_none_or(|u| u == meta) {
            self.uniform = Some(meta);
        } else {
            if self.metas.is_empty() {
                self.metas = vec![self.uniform.unwrap_or(0); self.items.len()];
            }
            self.metas.push(meta);
        }
        self.items.push(item);
    }

    fn meta(&self, i: usize) -> u32 {
        match self.metas.get(i) {
            Some(&m) => m,
            None => self.uniform.unwrap_or(0),
        }
    }

    fn append(&mut self, mut other: Part<T>, remap: &[u32]) {
        let uniform = |u: Option<u32>| u.map(|m| remap.get(m as usize).copied().unwrap_or(0));
        if other.metas.is_empty()
            && self.metas.is_empty()
            && (self.items.is_empty() || uniform(other.uniform) == self.uniform)
        {
            if self.items.is_empty() {
                self.uniform = uniform(other.uniform);
            }
            self.items.append(&mut other.items);
            return;
        }
        self.items.reserve(other.items.len());
        for (i, item) in other.items.into_iter().enumerate() {
            let m = match other.metas.get(i) {
                Some(&m) => m,
                None => other.uniform.unwrap_or(0),
            };
            self.push(item, remap.get(m as usize).copied().unwrap_or(0));
        }
    }
}

/// What a value moved out of a sorted run leaves behind (never read again).
const PLACEHOLDER: Value = Value::Ip(IpRange::V4 { start: 0, end: 0 });

/// A fetched full snapshot of one source, compact: values by family, metadata interned. Fill it
/// with [`FreshSet::push`] in feed order (the order decides how repeated values fold), then hand
/// it to [`merge_set`].
#[derive(Debug, Clone, Default)]
pub struct FreshSet {
    metas: Vec<FreshMeta>,
    map: FastMap<FreshMeta, u32>,
    last: Option<u32>,
    v4: Part<(u32, u32)>,
    v6: Part<(u128, u128)>,
    names: Vec<(Value, u32)>,
    deduped: bool,
}

impl FreshSet {
    /// Values pushed; after [`FreshSet::dedup`], distinct values.
    pub fn len(&self) -> usize {
        self.v4.items.len() + self.v6.items.len() + self.names.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn intern(&mut self, meta: FreshMeta) -> u32 {
        if let Some(id) = self.last.filter(|&id| self.metas[id as usize] == meta) {
            return id;
        }
        let id = match self.map.get(&meta) {
            Some(&id) => id,
            None => {
                let id = self.metas.len() as u32;
                self.map.insert(meta.clone(), id);
                self.metas.push(meta);
                id
            }
        };
        self.last = Some(id);
        id
    }

    /// Adds one indicator of the feed, after those already pushed.
    pub fn push(&mut self, value: Value, meta: FreshMeta) {
        let id = self.intern(meta);
        self.deduped = false;
        match value {
            Value::Ip(IpRange::V4 { start, end }) => self.v4.push((start, end), id),
            Value::Ip(IpRange::V6 { start, end }) => self.v6.push((start, end), id),
            v => self.names.push((v, id)),
        }
    }

    /// Adds everything `other` holds after what this one holds (the second half of a feed
    /// parsed in two parts).
    pub fn append(&mut self, other: FreshSet) {
        let remap: Vec<u32> = other.metas.into_iter().map(|m| self.intern(m)).collect();
        self.v4.append(other.v4, &remap);
        self.v6.append(other.v6, &remap);
        self.names.reserve(other.names.len());
        for (v, m) in other.names {
            self.names
                .push((v, remap.get(m as usize).copied().unwrap_or(0)));
        }
        self.deduped = false;
    }

    /// Sorts by value and folds repeated values into one (see [`super::merge_snapshot`] for the
    /// rule). [`merge_set`] calls it when needed; call it first for the count of distinct
    /// values.
    pub fn dedup(&mut self) {
        if self.deduped {
            return;
        }
        self.deduped = true;
        let v4 = std::mem::take(&mut self.v4);
        self.v4 = self.dedup_ips(v4);
        let v6 = std::mem::take(&mut self.v6);
        self.v6 = self.dedup_ips(v6);
        let mut names = std::mem::take(&mut self.names);
        // Stable: among equal values feed order decides.
        super::set::sort_names(&mut names);
        let mut out: Vec<(Value, u32)> = Vec::with_capacity(names.len());
        let mut i = 0;
        while i < names.len() {
            let mut j = i + 1;
            while j < names.len() && names[j].0 == names[i].0 {
                j += 1;
            }
            let id = self.fold(names[i..j].iter().map(|x| x.1));
            // moved out, not cloned (a copy of every name was an allocation per record)
            let value = std::mem::replace(&mut names[i].0, PLACEHOLDER);
            out.push((value, id));
            i = j;
        }
        self.names = out;
    }

    /// The metadata id of a run of copies of one value, in feed order.
    fn fold(&mut self, mut ids: impl Iterator<Item = u32>) -> u32 {
        let Some(first) = ids.next() else {
            return 0;
        };
        let mut acc: Option<FreshMeta> = None;
        for m in ids {
            if m != first || acc.is_some() {
                let a = acc.get_or_insert_with(|| self.metas[first as usize].clone());
                a.absorb(self.metas[m as usize].clone());
            }
        }
        match acc {
            Some(a) => self.intern(a),
            None => first,
        }
    }

    fn dedup_ips<T: ipset::Addr>(&mut self, mut part: Part<(T, T)>) -> Part<(T, T)> {
        if part.metas.is_empty() {
            // One metadata for all: equal values are interchangeable.
            ipset::sort_by_start(&mut part.items, |i| i.0, |i| i.1);
            part.items.dedup();
            part.items.shrink_to_fit();
            return part;
        }
        // Sort by (value, feed position) so repeated values fold in feed order.
        let mut v: Vec<((T, T), u32, u32)> = part
            .items
            .iter()
            .zip(&part.metas)
            .enumerate()
            .map(|(i, (&r, &m))| (r, m, i as u32))
            .collect();
        drop(part);
        ipset::sort_by_start_then(&mut v, |x| x.0 .0, |x| (x.0, x.2));
        let mut out = Part::default();
        let mut i = 0;
        while i < v.len() {
            let mut j = i + 1;
            while j < v.len() && v[j].0 == v[i].0 {
                j += 1;
            }
            let id = self.fold(v[i..j].iter().map(|x| x.1));
            out.push(v[i].0, id);
            i = j;
        }
        out
    }
}

/// Collects [`FreshIndicator`](super::FreshIndicator)s in order (for sources that build their
/// indicators themselves rather than through a parser's sink).
impl FromIterator<super::FreshIndicator> for FreshSet {
    fn from_iter<I: IntoIterator<Item = super::FreshIndicator>>(iter: I) -> Self {
        let mut set = FreshSet::default();
        for i in iter {
            set.push(
                i.value,
                FreshMeta {
                    expires: i.expires,
                    confidence: i.confidence,
                    tlp: i.tlp,
                    tags: i.tags,
                    comment: i.comment,
                },
            );
        }
        set
    }
}

/// Values added to and removed from a source: what [`merge_set`] found (distinct fresh values
/// not among the old records, and old values not in the fresh snapshot, whether or not
/// `keep_for` keeps them), and what a TAXII poll did ([`super::apply_delta`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeCounts {
    /// Values new to the source.
    pub added: u64,
    /// Values the source no longer lists.
    pub removed: u64,
}

/// Decides stamps during the walk: a fresh record gets `(first_seen, now, its metadata)`, a kept
/// old record its old stamp; both interned into the new set's table and cached by their inputs.
struct Walk<'a> {
    old: &'a [Stamp],
    fresh: &'a [FreshMeta],
    now: i64,
    keep_for: i64,
    out: Interner,
    kept: Vec<Option<Option<StampId>>>,
    fresh_ids: FastMap<(i64, u32), Option<StampId>>,
    last_fresh: Option<((i64, u32), Option<StampId>)>,
    counts: MergeCounts,
}

impl Walk<'_> {
    /// The new stamp of a fresh record; `None` when its data-given expiry has passed.
    fn fresh(&mut self, first_seen: i64, meta: u32) -> Option<StampId> {
        let key = (first_seen, meta);
        if let Some((k, id)) = self.last_fresh {
            if k == key {
                return id;
            }
        }
        let id = match self.fresh_ids.get(&key) {
            Some(id) => *id,
            None => {
                let m = &self.fresh[meta as usize];
                let id = if m.expires.is_some_and(|e| e <= self.now) {
                    None
                } else {
                    Some(self.out.intern(Stamp {
                        first_seen,
                        last_seen: self.now,
                        expires: m.expires,
                        confidence: m.confidence,
                        tlp: m.tlp,
                        tags: m.tags.clone(),
                        comment: m.comment.clone(),
                    }))
                };
                self.fresh_ids.insert(key, id);
                id
            }
        };
        self.last_fresh = Some((key, id));
        id
    }

    /// The new stamp of an old record the fresh snapshot lacks; `None` when it is not kept.
    fn kept(&mut self, old: StampId) -> Option<StampId> {
        let i = old as usize;
        if let Some(Some(id)) = self.kept.get(i) {
            return *id;
        }
        let s = &self.old[i];
        let keep = self.keep_for > 0
            && s.last_seen.saturating_add(self.keep_for) > self.now
            && s.expires.is_none_or(|e| e > self.now);
        let id = keep.then(|| self.out.intern_ref(s));
        if let Some(slot) = self.kept.get_mut(i) {
            *slot = Some(id);
        }
        id
    }

    /// Walks one family: `old` and `fresh` sorted and distinct; `emit` gets the new records in
    /// order.
    fn family<K: Ord>(
        &mut self,
        old: impl Iterator<Item = (K, StampId)>,
        fresh: impl Iterator<Item = (K, u32)>,
        mut emit: impl FnMut(K, StampId),
    ) {
        let mut old = old.peekable();
        for (k, m) in fresh {
            let mut first_seen = None;
            while let Some((o, oid)) = old.next_if(|(o, _)| *o <= k) {
                if o == k {
                    first_seen = Some(self.old[oid as usize].first_seen);
                } else {
                    self.counts.removed += 1;
                    if let Some(id) = self.kept(oid) {
                        emit(o, id);
                    }
                }
            }
            if first_seen.is_none() {
                self.counts.added += 1;
            }
            if let Some(id) = self.fresh(first_seen.unwrap_or(self.now), m) {
                emit(k, id);
            }
        }
        for (o, oid) in old {
            self.counts.removed += 1;
            if let Some(id) = self.kept(oid) {
                emit(o, id);
            }
        }
    }
}

/// Merges a fetched full snapshot into a source's old records by the rule of
/// [`super::merge_snapshot`], and counts the values added and removed. `old` is left as it is;
/// the result has its own stamp table (stamps no record uses any more are gone).
pub fn merge_set(
    old: &RecordSet,
    mut fresh: FreshSet,
    now: i64,
    keep_for: i64,
) -> (RecordSet, MergeCounts) {
    fresh.dedup();
    let mut w = Walk {
        old: &old.stamps,
        fresh: &fresh.metas,
        now,
        keep_for,
        out: Interner::default(),
        kept: vec![None; old.stamps.len()],
        fresh_ids: FastMap::default(),
        last_fresh: None,
        counts: MergeCounts::default(),
    };
    let mut set = RecordSet::default();
    let cap4 = fresh.v4.items.len() + if keep_for > 0 { old.v4.len() } else { 0 };
    set.v4.reserve_exact(cap4);
    set.v4_stamps.reserve_exact(cap4);
    w.family(
        old.v4.iter().copied().zip(old.v4_stamps.iter().copied()),
        fresh
            .v4
            .items
            .iter()
            .enumerate()
            .map(|(i, &r)| (r, fresh.v4.meta(i))),
        |k, id| {
            set.v4.push(k);
            set.v4_stamps.push(id);
        },
    );
    w.family(
        old.v6.iter().copied().zip(old.v6_stamps.iter().copied()),
        fresh
            .v6
            .items
            .iter()
            .enumerate()
            .map(|(i, &r)| (r, fresh.v6.meta(i))),
        |k, id| {
            set.v6.push(k);
            set.v6_stamps.push(id);
        },
    );
    let names = &mut set.names;
    w.family(
        old.names.iter().map(|(v, id)| (v, *id)),
        fresh.names.iter().map(|(v, m)| (v, *m)),
        |k, id| names.push((k.clone(), id)),
    );
    let counts = w.counts;
    set.stamps = w.out.into_list();
    (set, counts)
}

/// What [`merge_set`] makes of `old` with the very snapshot `old` was last merged from, at `now`
/// and with `keep_for` 0, without that snapshot: every record seen again at `now` (its
/// `first_seen` and data-given fields kept), those whose data-given expiry has passed dropped,
/// the stamps in the order the merge would intern them. For a `path` source read again unchanged
/// (`pipeline/unchanged.rs`). The merge's counts are not made: no value is new or gone (the
/// merge would count a value of the snapshot that had expired before `old` as new again).
pub fn seen_again(mut set: RecordSet, now: i64) -> RecordSet {
    let old = std::mem::take(&mut set.stamps);
    let mut out = Interner::default();
    let mut ids: Vec<Option<Option<StampId>>> = vec![None; old.len()];
    let mut id = |oid: StampId| -> Option<StampId> {
        let i = oid as usize;
        if let Some(Some(id)) = ids.get(i) {
            return *id;
        }
        let s = old.get(i)?;
        let id = s.expires.is_none_or(|e| e > now).then(|| {
            out.intern(Stamp {
                last_seen: now,
                ..s.clone()
            })
        });
        if let Some(slot) = ids.get_mut(i) {
            *slot = Some(id);
        }
        id
    };
    // In place: each record is kept (with its new stamp) or dropped, in order.
    restamp(&mut set.v4, &mut set.v4_stamps, &mut id);
    restamp(&mut set.v6, &mut set.v6_stamps, &mut id);
    set.names.retain_mut(|(_, sid)| match id(*sid) {
        Some(new) => {
            *sid = new;
            true
        }
        None => false,
    });
    set.stamps = out.into_list();
    set
}

/// Keeps the values whose stamp `id` maps to a new one (with it), in order, in place.
fn restamp<T: Copy>(
    values: &mut Vec<T>,
    stamps: &mut Vec<StampId>,
    id: &mut impl FnMut(StampId) -> Option<StampId>,
) {
    let mut kept = 0;
    for i in 0..values.len().min(stamps.len()) {
        if let Some(new) = id(stamps[i]) {
            values[kept] = values[i];
            stamps[kept] = new;
            kept += 1;
        }
    }
    values.truncate(kept);
    stamps.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::super::merge::{merge_snapshot, FreshIndicator};
    use super::super::record::Record;
    use super::*;
    use crate::indicator::parse_token;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn v(s: &str) -> Value {
        parse_token(s.as_bytes(), None).unwrap().value
    }

    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u8..4, 0u8..4).prop_map(|(a, b)| format!("10.0.{a}.{b}")),
            (0u8..3).prop_map(|a| format!("10.0.{a}.0/31")),
            (0u8..3).prop_map(|a| format!("2001:db8::{a}")),
            (0u8..3).prop_map(|a| format!("h{a}.example")),
            (0u8..2).prop_map(|a| format!("http://u.example/{a}")),
        ]
    }

    fn any_fresh() -> impl Strategy<Value = FreshIndicator> {
        (
            any_value(),
            prop::option::of(900i64..1100),
            prop::option::of(0u8..100),
            prop::collection::vec(prop_oneof![Just("a"), Just("b")], 0..2),
            prop::option::of(prop_oneof![Just("x"), Just("y")]),
        )
            .prop_map(|(s, expires, confidence, tags, comment)| FreshIndicator {
                value: v(&s),
                expires,
                confidence,
                tlp: None,
                tags: tags.into_iter().map(String::from).collect(),
                comment: comment.map(String::from),
            })
    }

    fn any_old() -> impl Strategy<Value = Record> {
        (
            any_value(),
            0i64..1000,
            800i64..1000,
            prop::option::of(900i64..1100),
        )
            .prop_map(|(s, first_seen, last_seen, expires)| Record {
                value: v(&s),
                first_seen,
                last_seen,
                expires,
                confidence: Some(10),
                tlp: None,
                tags: vec!["old".into()],
                comment: None,
            })
    }

    /// Old records as a store holds them: sorted, one per value.
    fn one_per_value(mut o: Vec<Record>) -> Vec<Record> {
        o.sort_by(|a, b| a.value.cmp(&b.value));
        o.dedup_by(|a, b| a.value == b.value);
        o
    }

    fn fresh_set(f: &[FreshIndicator], split: usize) -> FreshSet {
        let split = split.min(f.len());
        let mut a: FreshSet = f[..split].iter().cloned().collect();
        a.append(f[split..].iter().cloned().collect());
        a
    }

    proptest! {
        // The set merge is the Vec merge, and its counts are those of hash sets.
        #[test]
        fn merge_set_is_merge_snapshot(
            o in prop::collection::vec(any_old(), 0..12),
            f in prop::collection::vec(any_fresh(), 0..16),
            keep_for in 0i64..300,
            split in 0usize..16,
        ) {
            let o = one_per_value(o);
            let expect = merge_snapshot(o.clone(), f.clone(), 1000, keep_for);
            let old = RecordSet::from_records(o.clone());
            let (got, counts) = merge_set(&old, fresh_set(&f, split), 1000, keep_for);
            prop_assert_eq!(got.to_records(), expect);
            let fv: HashSet<&Value> = f.iter().map(|x| &x.value).collect();
            let ov: HashSet<&Value> = o.iter().map(|x| &x.value).collect();
            prop_assert_eq!(counts.added, fv.difference(&ov).count() as u64);
            prop_assert_eq!(counts.removed, ov.difference(&fv).count() as u64);
        }
    }

    proptest! {
        /// Seeing a set again is merging it with the snapshot it was merged from: the same
        /// records and stamps (in the same order), with expiries passing between the merges.
        #[test]
        fn seen_again_is_the_same_snapshot_merged_again(
            o in prop::collection::vec(any_old(), 0..12),
            f in prop::collection::vec(any_fresh(), 0..16),
            split in 0usize..16,
            later in 0i64..150,
        ) {
            let o = one_per_value(o);
            let (old, _) = merge_set(&RecordSet::from_records(o), fresh_set(&f, split), 950, 0);
            let (again, _) = merge_set(&old, fresh_set(&f, split), 950 + later, 0);
            prop_assert_eq!(seen_again(old, 950 + later), again);
        }
    }

    #[test]
    fn many_uniform_ipv4_sort_and_fold() {
        let mut f = FreshSet::default();
        for i in (0..200_000u32).rev() {
            f.push(
                Value::Ip(IpRange::V4 {
                    start: i / 2,
                    end: i / 2,
                }),
                FreshMeta::default(),
            );
        }
        f.dedup();
        assert_eq!(f.len(), 100_000);
        let (set, counts) = merge_set(&RecordSet::default(), f, 5, 0);
        assert_eq!(counts.added, 100_000);
        assert_eq!(set.stamps().len(), 1);
        assert!(set.v4.windows(2).all(|w| w[0] < w[1]));
    }
}
