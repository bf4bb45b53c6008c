//! [`IndicatorIndex`] and [`apply_delta`]: the STIX indicators behind a delta source's records
//! (a TAXII collection), kept by id, so that a value leaves the source only when no live
//! indicator asserts it any more.
//!
//! A TAXII poll is a delta: it brings new versions of some indicators, and a version may revoke
//! its indicator or have expired. Several indicators often assert one value (two members of an
//! ISAC report the same C2 address; an IP and its domain in two patterns). Removing a value
//! because *one* of them was revoked would unblock an address that another live indicator still
//! names. So the source keeps, per indicator id, its newest version (`modified`), whether it is
//! live, the values it asserts with its metadata, and when a poll last brought it; the records
//! are rebuilt from that after every poll:
//! - a value is in the source while at least one live indicator asserts it;
//! - its metadata folds those indicators' (highest confidence, most restrictive TLP, latest
//!   expiry or none, every label, the first comment by id), as repeated values of a feed do;
//! - an indicator leaves when it is revoked, when its `valid_until` passes, or (with
//!   `keep_for`) when no poll brought it for that long;
//! - an indicator whose `valid_from` was still to come when it was polled is kept *pending*
//!   ([`Assertion::starts`]): it asserts nothing until then, and the first [`apply_delta`] at or
//!   after that time activates it, with or without new versions (the pipeline applies an empty
//!   delta when [`IndicatorIndex::starts_due`] says one is due, so the list picks it up at the
//!   next compile without a poll), the way `valid_until` retires one;
//! - a version older than the one kept (by `modified`) is ignored, so an out-of-order copy
//!   never brings back what a revocation removed; withdrawn ids are remembered for
//!   [`TOMBSTONE_KEEP`] seconds for that.
//!
//! Values stored before the index existed (or whose index was lost or damaged) have no known
//! indicator: they stay as they were ("unattributed"), leave by their own expiry or
//! `keep_for`, and go when a withdrawn indicator names them — the only by-value removal left.
//! Once a live indicator asserts such a value, the indicator owns it. Which values are
//! unattributed is decided once, when the index starts, and kept in the index itself
//! ([`IndicatorIndex::unattributed`]): never re-derived from the stored records, which may be
//! older than the index.
//!
//! Persistence: `Store::save_indicators` writes `sources/<name>.ids` *before* the source's
//! snapshot (the pipeline's pending writes keep that order). An index one generation ahead of
//! the snapshot (a crash between the two writes) is harmless: the records are rebuilt from the
//! index alone (the old records only give `first_seen` and the metadata of unattributed
//! values), the cursor stayed behind too, so the next poll brings the same versions again, and
//! applying a version twice changes nothing. An index behind the snapshot (one written by a
//! binary without it) is not used.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::indicator::{Tlp, Value};
use crate::source::taxii::stix::{compare_versions, Status, Version};

use super::embedded::codec::{self, Malformed, Reader};
use super::embedded::record::{self, MetaFields};
use super::fresh::{FreshMeta, MergeCounts};
use super::record::Record;

/// How long a withdrawn indicator's id (and version) is remembered, in seconds: 90 days.
pub const TOMBSTONE_KEEP: i64 = 90 * 86_400;

/// What a delta source knows of one indicator id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorEntry {
    /// Its newest version's `modified`.
    pub modified: Option<String>,
    /// When a poll last brought a version of it (Unix seconds).
    pub seen: i64,
    /// What it asserts while live; `None` once withdrawn (revoked, expired).
    pub live: Option<Assertion>,
}

/// The values a live indicator asserts and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The values, in pattern order.
    pub values: Vec<Value>,
    /// Expiry (`valid_until`), confidence, TLP, labels, comment.
    pub meta: FreshMeta,
    /// `valid_from` while still to come: pending, the values are asserted from then on.
    /// Cleared by the [`apply_delta`] that activates it.
    pub starts: Option<i64>,
}

impl Assertion {
    /// Whether it asserts its values at `now` (not pending, not expired).
    pub fn in_force(&self, now: i64) -> bool {
        self.starts.is_none_or(|s| s <= now) && self.meta.expires.is_none_or(|x| x > now)
    }
}

/// Every indicator id a delta source has seen (recently, for withdrawn ones), by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorIndex {
    /// By id; a `BTreeMap` so the records rebuilt from it, and its file, are deterministic.
    pub entries: BTreeMap<String, IndicatorEntry>,
    /// Values kept from before the index existed that no indicator is known to assert, sorted.
    /// `None` for an index that has not started yet: the first [`apply_delta`] takes every old
    /// record no live indicator asserts.
    pub unattributed: Option<Vec<Value>>,
}

impl IndicatorIndex {
    /// Number of ids known (live and withdrawn).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no id is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of live indicators.
    pub fn live(&self) -> usize {
        self.entries.values().filter(|e| e.live.is_some()).count()
    }

    /// Ids of the indicators asserting `value` at `now` (not expired, not pending), in id
    /// order: for `explain`.
    pub fn asserting<'a>(
        &'a self,
        value: &'a Value,
        now: i64,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter_map(move |(id, e)| {
            e.live
                .as_ref()
                .is_some_and(|a| a.values.contains(value) && a.in_force(now))
                .then_some(id.as_str())
        })
    }

    /// The pending indicators that will assert `value` after `now`: (id, `valid_from`), in id
    /// order: for `explain`.
    pub fn pending_for<'a>(
        &'a self,
        value: &'a Value,
        now: i64,
    ) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.entries.iter().filter_map(move |(id, e)| {
            let a = e.live.as_ref()?;
            let s = a.starts.filter(|s| *s > now)?;
            (a.values.contains(value) && a.meta.expires.is_none_or(|x| x > s))
                .then_some((id.as_str(), s))
        })
    }

    /// Whether a pending indicator's `valid_from` has come at `now`: an [`apply_delta`] (even
    /// with no versions) would add its values to the records.
    pub fn starts_due(&self, now: i64) -> bool {
        self.entries.values().any(|e| {
            e.live
                .as_ref()
                .and_then(|a| a.starts)
                .is_some_and(|s| s <= now)
        })
    }
}

/// What [`apply_delta`] did, besides the records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaOutcome {
    /// Values added to and removed from the source.
    pub counts: MergeCounts,
    /// Versions ignored because a newer version of their id is kept.
    pub stale: u64,
    /// Indicators withdrawn by this poll (revoked or expired versions applied).
    pub withdrawn: u64,
    /// Pending indicators whose `valid_from` came: their values are asserted from now on.
    pub activated: u64,
    /// Whether the index changed (a version applied, an indicator expired or aged out, a
    /// remembered withdrawal forgotten, the unattributed values changed): it must be written.
    pub index_changed: bool,
}

/// Applies one poll's `versions` (from [`crate::source::taxii::stix::convert_objects`], in
/// page order; an id may come more than once, and a version older than the one kept is
/// ignored and counted `stale`) to `index`, prunes what expired at `now`
/// (and with `keep_for > 0`, what no poll brought for `keep_for` seconds), and rebuilds the
/// source's records from the live indicators plus the unattributed `old` records (see the
/// module doc). `old` is the source's previous records; they also give each value its
/// `first_seen`. Returns the new records, sorted by value, one per value.
///
/// `source_tlp` is the TLP an indicator without a marking has (the source's): when such an
/// indicator and a marked one assert the same value, the value takes the more restrictive of
/// the two, never the marking alone (an unmarked indicator of an AMBER source and a CLEAR one
/// do not make the value CLEAR). A value only unmarked indicators assert keeps no TLP, so the
/// source's TLP applies to it at compile time as to any record.
pub fn apply_delta(
    index: &mut IndicatorIndex,
    old: Vec<Record>,
    versions: Vec<Version>,
    now: i64,
    keep_for: i64,
    source_tlp: Option<Tlp>,
) -> (Vec<Record>, DeltaOutcome) {
    let mut outcome = DeltaOutcome::default();
    let mut old = old;
    if !old.is_sorted_by(|a, b| a.value <= b.value) {
        old.sort_by(|a, b| a.value.cmp(&b.value));
    }
    // Which old records are unattributed (true = still kept): those the index lists, or, for
    // an index that has not started, every old value no live indicator asserts.
    let known = index.unattributed.take();
    let mut unattributed: Vec<bool> = match &known {
        Some(k) => old
            .iter()
            .map(|r| k.binary_search(&r.value).is_ok())
            .collect(),
        None => {
            let mut asserted: Vec<&Value> = index
                .entries
                .values()
                .filter_map(|e| e.live.as_ref())
                .flat_map(|a| a.values.iter())
                .collect();
            asserted.sort_unstable();
            old.iter()
                .map(|r| asserted.binary_search(&&r.value).is_err())
                .collect()
        }
    };
    fn drop_unattributed(values: &[Value], old: &[Record], keep: &mut [bool]) {
        for v in values {
            if let Ok(i) = old.binary_search_by(|r| r.value.cmp(v)) {
                keep[i] = false;
            }
        }
    }

    for v in versions {
        if let Some(e) = index.entries.get(&v.id) {
            if compare_versions(e.modified.as_deref(), v.modified.as_deref()).is_gt() {
                outcome.stale += 1;
                continue;
            }
        }
        outcome.index_changed = true;
        // A withdrawal names its values for unattributed records; a live version takes its
        // values over from them.
        drop_unattributed(&v.values, &old, &mut unattributed);
        let live = match v.status {
            Status::Active => Some(Assertion {
                values: v.values,
                meta: FreshMeta {
                    expires: v.expires,
                    confidence: v.confidence,
                    tlp: v.tlp,
                    tags: v.tags,
                    comment: v.comment,
                },
                starts: v.starts.filter(|s| *s > now),
            }),
            Status::Revoked | Status::Expired => {
                outcome.withdrawn += 1;
                None
            }
        };
        index.entries.insert(
            v.id,
            IndicatorEntry {
                modified: v.modified,
                seen: now,
                live,
            },
        );
    }

    // Expiry, keep_for, old tombstones, and pending indicators whose time has come (the
    // mirror of expiry: `valid_from` reached turns the indicator on, as `valid_until` turns
    // it off).
    let expired = |e: Option<i64>| e.is_some_and(|e| e <= now);
    let aged = |seen: i64| keep_for > 0 && seen.saturating_add(keep_for) <= now;
    let mut pruned = false;
    let mut activated = 0;
    index.entries.retain(|_, e| {
        let keep = match &mut e.live {
            Some(_) if aged(e.seen) => false,
            Some(a) if expired(a.meta.expires) => {
                e.live = None;
                pruned = true;
                true
            }
            Some(a) => {
                if a.starts.is_some_and(|s| s <= now) {
                    a.starts = None;
                    activated += 1;
                    pruned = true;
                }
                true
            }
            None => e.seen.saturating_add(TOMBSTONE_KEEP) > now,
        };
        pruned |= !keep;
        keep
    });
    outcome.index_changed |= pruned;
    outcome.activated = activated;

    // The live indicators' values, folded per value (id order decides ties); pending ones
    // assert nothing yet.
    let mut fresh: Vec<(&Value, &FreshMeta, i64)> = index
        .entries
        .values()
        .filter_map(|e| {
            e.live
                .as_ref()
                .filter(|a| a.starts.is_none())
                .map(|a| (a, e.seen))
        })
        .flat_map(|(a, seen)| a.values.iter().map(move |v| (v, &a.meta, seen)))
        .collect();
    fresh.sort_by(|a, b| a.0.cmp(b.0));

    let mut out: Vec<Record> = Vec::with_capacity(fresh.len() + old.len());
    let first_seen = |v: &Value| {
        old.binary_search_by(|r| r.value.cmp(v))
            .map_or(now, |i| old[i].first_seen)
    };
    let mut fresh = fresh.into_iter().peekable();
    while let Some((value, meta, seen)) = fresh.next() {
        let mut meta = meta.clone();
        let mut last_seen = seen;
        let mut unmarked = meta.tlp.is_none();
        while let Some((_, m, s)) = fresh.next_if(|n| n.0 == value) {
            unmarked |= m.tlp.is_none();
            meta.absorb(m.clone());
            last_seen = last_seen.max(s);
        }
        if unmarked {
            if let (Some(t), Some(src)) = (meta.tlp, source_tlp) {
                meta.tlp = Some(t.max(src));
            }
        }
        out.push(Record {
            value: value.clone(),
            first_seen: first_seen(value),
            last_seen,
            expires: meta.expires,
            confidence: meta.confidence,
            tlp: meta.tlp,
            tags: meta.tags,
            comment: meta.comment,
        });
    }
    // Unattributed old records, under their own expiry and keep_for.
    let attributed = out.len();
    let mut still: Vec<Value> = Vec::new();
    for (r, keep) in old.iter().zip(&unattributed) {
        if *keep && !expired(r.expires) && !aged(r.last_seen) {
            out.push(r.clone());
            still.push(r.value.clone());
        }
    }
    // `old` is sorted, so `still` is too.
    outcome.index_changed |= known.as_ref() != Some(&still);
    index.unattributed = Some(still);
    if out.len() > attributed {
        out.sort_by(|a, b| a.value.cmp(&b.value));
    }
    out.dedup_by(|later, first| later.value == first.value);

    // Counts: one walk over the old and the new values.
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < out.len() {
        match (old.get(i), out.get(j)) {
            (Some(o), Some(n)) if o.value == n.value => {
                i += 1;
                j += 1;
            }
            (Some(o), Some(n)) if o.value < n.value => {
                outcome.counts.removed += 1;
                i += 1;
            }
            (Some(_), None) => {
                outcome.counts.removed += 1;
                i += 1;
            }
            _ => {
                outcome.counts.added += 1;
                j += 1;
            }
        }
    }
    (out, outcome)
}

/// Flag bits of an encoded entry.
const HAS_MODIFIED: u8 = 1;
const LIVE: u8 = 2;
/// A live entry that is pending: its `valid_from` follows its metadata. Added after the first
/// release of the file; files written before never set it, so they read unchanged (no
/// migration), and a binary from before refuses a file that sets it as damaged (logged; it
/// then counts the source's values as unattributed) rather than misreading it.
const PENDING: u8 = 4;

/// Encodes the index (the payload of `sources/<name>.ids`): per id its text, a flags byte,
/// `modified`, `seen`, and for a live one its values (kind code and canonical text), its
/// metadata in the layout of the snapshot stamps, and when pending its `valid_from`; then the
/// unattributed values.
pub(super) fn encode(
    index: &IndicatorIndex,
    mut emit: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    // Streamed in chunks of about this size: no second copy of a large index in memory.
    const CHUNK: usize = 64 << 10;
    let mut text = String::new();
    let mut buf = Vec::with_capacity(CHUNK + 1024);
    let out = &mut buf;
    for (id, e) in &index.entries {
        if out.len() >= CHUNK {
            emit(out)?;
            out.clear();
        }
        codec::put_str(out, id);
        let flags = if e.modified.is_some() {
            HAS_MODIFIED
        } else {
            0
        } | match &e.live {
            Some(a) if a.starts.is_some() => LIVE | PENDING,
            Some(_) => LIVE,
            None => 0,
        };
        out.push(flags);
        if let Some(m) = &e.modified {
            codec::put_str(out, m);
        }
        codec::put_i64(out, e.seen);
        if let Some(a) = &e.live {
            codec::put_u64(out, a.values.len() as u64);
            for v in &a.values {
                put_value(out, v, &mut text);
            }
            let meta = MetaFields {
                expires: a.meta.expires,
                confidence: a.meta.confidence,
                tlp: a.meta.tlp,
                tags: a.meta.tags.as_slice(),
                comment: a.meta.comment.as_deref(),
            };
            out.push(meta.flags());
            meta.put(out);
            if let Some(s) = a.starts {
                codec::put_i64(out, s);
            }
        }
    }
    let un = index.unattributed.as_deref().unwrap_or_default();
    codec::put_u64(out, un.len() as u64);
    for v in un {
        if out.len() >= CHUNK {
            emit(out)?;
            out.clear();
        }
        put_value(out, v, &mut text);
    }
    emit(out)
}

fn put_value(out: &mut Vec<u8>, v: &Value, text: &mut String) {
    text.clear();
    // Writing to a String cannot fail.
    let _ = write!(text, "{v}");
    out.push(record::kind_code(v.kind()));
    codec::put_str(out, text);
}

/// Reads a value written by [`put_value`]; `None` when it no longer parses.
fn get_value(r: &mut Reader<'_>) -> Result<Option<Value>, Malformed> {
    let kind = record::kind_from(r.u8()?)?;
    let text = r.str()?;
    Ok(record::decode_value(kind, text))
}

/// Decodes `count` entries written by [`encode`]. Values that no longer parse (a stricter
/// parser than the one that wrote them) are left out and counted in the second result.
///
/// # Errors
/// The position of the first malformed entry and what is wrong with it.
pub(super) fn decode(
    payload: &[u8],
    count: u64,
) -> Result<(IndicatorIndex, u64), (u64, Malformed)> {
    let mut r = Reader::new(payload);
    let mut index = IndicatorIndex::default();
    let mut skipped = 0;
    for i in 0..count {
        let (id, entry) = decode_entry(&mut r, &mut skipped).map_err(|m| (i, m))?;
        index.entries.insert(id, entry);
    }
    let bad = |m| (count, m);
    let n = r.len().map_err(bad)?;
    if n > r.rest().len() {
        return Err(bad("unattributed count runs past the end of the data"));
    }
    let mut un = Vec::with_capacity(n);
    for _ in 0..n {
        match get_value(&mut r).map_err(bad)? {
            Some(v) => un.push(v),
            None => skipped += 1,
        }
    }
    un.sort();
    un.dedup();
    index.unattributed = Some(un);
    if !r.is_empty() {
        return Err((count, "trailing bytes after the last entry"));
    }
    Ok((index, skipped))
}

/// Whether an entry of the `count` written by [`encode`] is pending with a `valid_from` at or
/// before `now`: a scan that builds no index (no id is copied, no value parsed).
///
/// # Errors
/// The position of the first malformed entry and what is wrong with it.
pub(super) fn starts_due(payload: &[u8], count: u64, now: i64) -> Result<bool, (u64, Malformed)> {
    let mut r = Reader::new(payload);
    for i in 0..count {
        let at = |m| (i, m);
        r.str().map_err(at)?;
        let flags = r.u8().map_err(at)?;
        if flags & !(HAS_MODIFIED | LIVE | PENDING) != 0 || flags & (LIVE | PENDING) == PENDING {
            return Err(at("unknown flag bits"));
        }
        if flags & HAS_MODIFIED != 0 {
            r.str().map_err(at)?;
        }
        r.i64().map_err(at)?;
        if flags & LIVE == 0 {
            continue;
        }
        for _ in 0..r.len().map_err(at)? {
            r.u8().map_err(at)?;
            r.str().map_err(at)?;
        }
        let mflags = record::get_flags(&mut r).map_err(at)?;
        // Tags and comment are copied here; values, the bulk of an entry, are not parsed.
        record::get_meta(&mut r, mflags).map_err(at)?;
        if flags & PENDING != 0 && r.i64().map_err(at)? <= now {
            return Ok(true);
        }
    }
    Ok(false)
}

fn decode_entry(
    r: &mut Reader<'_>,
    skipped: &mut u64,
) -> Result<(String, IndicatorEntry), Malformed> {
    let id = r.str()?.to_owned();
    let flags = r.u8()?;
    if flags & !(HAS_MODIFIED | LIVE | PENDING) != 0 || flags & (LIVE | PENDING) == PENDING {
        return Err("unknown flag bits");
    }
    let modified = if flags & HAS_MODIFIED != 0 {
        Some(r.str()?.to_owned())
    } else {
        None
    };
    let seen = r.i64()?;
    let live = if flags & LIVE != 0 {
        let n = r.len()?;
        if n > r.rest().len() {
            return Err("value count runs past the end of the data");
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            match get_value(r)? {
                Some(v) => values.push(v),
                None => *skipped += 1,
            }
        }
        let mflags = record::get_flags(r)?;
        let m = record::get_meta(r, mflags)?;
        let starts = if flags & PENDING != 0 {
            Some(r.i64()?)
        } else {
            None
        };
        Some(Assertion {
            values,
            meta: FreshMeta {
                expires: m.expires,
                confidence: m.confidence,
                tlp: m.tlp,
                tags: m.tags,
                comment: m.comment,
            },
            starts,
        })
    } else {
        None
    };
    Ok((
        id,
        IndicatorEntry {
            modified,
            seen,
            live,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::parse_token;
    use proptest::prelude::*;

    const T0: i64 = 1_800_000_000;

    /// [`apply_delta`] for a source without a TLP of its own.
    fn apply(
        index: &mut IndicatorIndex,
        old: Vec<Record>,
        versions: Vec<Version>,
        now: i64,
        keep_for: i64,
    ) -> (Vec<Record>, DeltaOutcome) {
        apply_delta(index, old, versions, now, keep_for, None)
    }

    fn v(s: &str) -> Value {
        parse_token(s.as_bytes(), None).unwrap().value
    }

    fn ver(id: &str, modified: &str, status: Status, values: &[&str]) -> Version {
        Version {
            id: id.into(),
            modified: Some(modified.into()),
            status,
            values: values.iter().map(|s| v(s)).collect(),
            expires: None,
            starts: None,
            confidence: Some(50),
            tlp: None,
            tags: vec![id.into()],
            comment: Some(id.into()),
        }
    }

    fn live(id: &str, modified: &str, values: &[&str]) -> Version {
        ver(id, modified, Status::Active, values)
    }

    fn values(rs: &[Record]) -> Vec<String> {
        rs.iter().map(|r| r.value.to_string()).collect()
    }

    const M1: &str = "2026-01-01T00:00:00.000Z";
    const M2: &str = "2026-02-01T00:00:00.000Z";

    #[test]
    fn revoking_one_indicator_keeps_a_value_another_live_one_asserts() {
        let mut idx = IndicatorIndex::default();
        let (recs, o) = apply(
            &mut idx,
            vec![],
            vec![
                live("indicator--a", M1, &["203.0.113.5", "evil.example"]),
                live("indicator--b", M1, &["203.0.113.5"]),
            ],
            T0,
            0,
        );
        assert_eq!(values(&recs), ["203.0.113.5", "evil.example"]);
        assert_eq!(o.counts.added, 2);
        // The shared value folds both indicators' labels.
        assert_eq!(recs[0].tags, ["indicator--a", "indicator--b"]);

        // A later poll revokes a: its own value goes, the shared one stays (b still asserts it).
        let (recs, o) = apply(
            &mut idx,
            recs,
            vec![ver(
                "indicator--a",
                M2,
                Status::Revoked,
                &["203.0.113.5", "evil.example"],
            )],
            T0 + 60,
            0,
        );
        assert_eq!(values(&recs), ["203.0.113.5"]);
        assert_eq!((o.counts.added, o.counts.removed, o.withdrawn), (0, 1, 1));
        assert_eq!(recs[0].tags, ["indicator--b"]);
        assert_eq!(recs[0].first_seen, T0);

        // Revoking b as well removes it.
        let (recs, o) = apply(
            &mut idx,
            recs,
            vec![ver("indicator--b", M2, Status::Revoked, &[])],
            T0 + 120,
            0,
        );
        assert!(recs.is_empty());
        assert_eq!(o.counts.removed, 1);
        assert_eq!(idx.live(), 0);
        assert_eq!(idx.len(), 2, "withdrawn ids are remembered");
    }

    #[test]
    fn an_older_version_never_undoes_a_newer_one() {
        let mut idx = IndicatorIndex::default();
        let (recs, _) = apply(
            &mut idx,
            vec![],
            vec![ver("indicator--a", M2, Status::Revoked, &["203.0.113.5"])],
            T0,
            0,
        );
        let (recs, o) = apply(
            &mut idx,
            recs,
            vec![live("indicator--a", M1, &["203.0.113.5"])],
            T0 + 1,
            0,
        );
        assert!(recs.is_empty());
        assert_eq!(o.stale, 1);
        // The same version again is applied (a re-poll after a crash is harmless).
        let (recs, o) = apply(
            &mut idx,
            recs,
            vec![ver("indicator--a", M2, Status::Revoked, &["203.0.113.5"])],
            T0 + 2,
            0,
        );
        assert!(recs.is_empty());
        assert_eq!(o.stale, 0);
    }

    #[test]
    fn a_new_version_replaces_what_the_id_asserted() {
        let mut idx = IndicatorIndex::default();
        let (recs, _) = apply(
            &mut idx,
            vec![],
            vec![live("indicator--a", M1, &["old.example"])],
            T0,
            0,
        );
        let (recs, o) = apply(
            &mut idx,
            recs,
            vec![live("indicator--a", M2, &["new.example"])],
            T0 + 1,
            0,
        );
        assert_eq!(values(&recs), ["new.example"]);
        assert_eq!((o.counts.added, o.counts.removed), (1, 1));
    }

    #[test]
    fn expiry_is_per_indicator() {
        let mut idx = IndicatorIndex::default();
        let mut a = live("indicator--a", M1, &["203.0.113.5"]);
        a.expires = Some(T0 + 100);
        let b = live("indicator--b", M1, &["203.0.113.5"]);
        // b (no expiry) first, a (expiring) in a later poll: the record must not take a's
        // expiry, since b still asserts the value without one.
        let (recs, _) = apply(&mut idx, vec![], vec![b], T0, 0);
        let (recs, _) = apply(&mut idx, recs, vec![a], T0 + 10, 0);
        assert_eq!(recs[0].expires, None);
        let (recs, _) = apply(&mut idx, recs, vec![], T0 + 200, 0);
        assert_eq!(values(&recs), ["203.0.113.5"]);
        assert!(idx.entries["indicator--a"].live.is_none());
        assert_eq!(recs[0].tags, ["indicator--b"]);

        // Alone, an expiring indicator's value goes when it expires.
        let mut c = live("indicator--c", M1, &["198.51.100.7"]);
        c.expires = Some(T0 + 300);
        let (recs, _) = apply(&mut idx, recs, vec![c], T0 + 210, 0);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].expires, Some(T0 + 300));
        let (recs, o) = apply(&mut idx, recs, vec![], T0 + 300, 0);
        assert_eq!(values(&recs), ["203.0.113.5"]);
        assert_eq!(o.counts.removed, 1);
    }

    #[test]
    fn keep_for_ages_indicators_not_resent() {
        let mut idx = IndicatorIndex::default();
        let (recs, _) = apply(
            &mut idx,
            vec![],
            vec![
                live("indicator--a", M1, &["203.0.113.5"]),
                live("indicator--b", M1, &["198.51.100.7"]),
            ],
            T0,
            0,
        );
        let (recs, _) = apply(
            &mut idx,
            recs,
            vec![live("indicator--b", M2, &["198.51.100.7"])],
            T0 + 500,
            1000,
        );
        assert_eq!(recs.len(), 2);
        let (recs, _) = apply(&mut idx, recs, vec![], T0 + 1000, 1000);
        assert_eq!(values(&recs), ["198.51.100.7"]);
        assert_eq!(recs[0].last_seen, T0 + 500);
        assert!(!idx.entries.contains_key("indicator--a"));
    }

    #[test]
    fn an_index_ahead_of_its_records_never_keeps_a_withdrawn_value() {
        // A poll changes a's pattern from X to Y and revokes b (Z); the index is written, the
        // snapshot is not (a crash): the next run has the new index and the old records.
        let mut idx = IndicatorIndex::default();
        let (before, _) = apply(
            &mut idx,
            vec![],
            vec![
                live("indicator--a", M1, &["203.0.113.5"]),
                live("indicator--b", M1, &["198.51.100.7"]),
            ],
            T0,
            0,
        );
        let poll = vec![
            live("indicator--a", M2, &["192.0.2.9"]),
            ver("indicator--b", M2, Status::Revoked, &[]),
        ];
        let (after, o) = apply(&mut idx, before.clone(), poll.clone(), T0 + 1, 0);
        assert!(o.index_changed);
        assert_eq!(values(&after), ["192.0.2.9"]);
        // The crash: `before` is what is stored. Neither the stored index alone nor the re-poll
        // of the same versions brings back X or Z.
        let mut crashed = idx.clone();
        let (recs, _) = apply(&mut crashed, before.clone(), vec![], T0 + 2, 0);
        assert_eq!(values(&recs), ["192.0.2.9"]);
        let mut crashed = idx.clone();
        let (recs, o) = apply(&mut crashed, before, poll, T0 + 2, 0);
        assert_eq!(values(&recs), ["192.0.2.9"]);
        assert_eq!(o.stale, 0);
    }

    #[test]
    fn an_unmarked_indicator_keeps_the_source_tlp_against_a_marked_one() {
        let mut a = live("indicator--a", M1, &["203.0.113.5", "198.51.100.7"]);
        a.tlp = None; // the source's TLP: AMBER
        let mut b = live("indicator--b", M1, &["203.0.113.5"]);
        b.tlp = Some(Tlp::Clear);
        let mut c = live("indicator--c", M1, &["192.0.2.1"]);
        c.tlp = Some(Tlp::Red);
        let mut idx = IndicatorIndex::default();
        let (recs, _) = apply_delta(&mut idx, vec![], vec![a, b, c], T0, 0, Some(Tlp::Amber));
        let tlp = |v: &str| recs.iter().find(|r| r.value.to_string() == v).unwrap().tlp;
        assert_eq!(tlp("203.0.113.5"), Some(Tlp::Amber));
        // One unmarked indicator alone: the source's TLP applies at compile time, as ever.
        assert_eq!(tlp("198.51.100.7"), None);
        assert_eq!(tlp("192.0.2.1"), Some(Tlp::Red));
    }

    #[test]
    fn a_pending_indicator_joins_at_its_valid_from_without_new_versions() {
        // See: issue 11, item 3.
        let mut idx = IndicatorIndex::default();
        let mut p = live("indicator--p", M1, &["203.0.113.5", "198.51.100.7"]);
        p.starts = Some(T0 + 100);
        let (recs, o) = apply(
            &mut idx,
            vec![],
            vec![p, live("indicator--q", M1, &["198.51.100.7"])],
            T0,
            0,
        );
        // Kept, pending: only q's value is asserted.
        assert_eq!(values(&recs), ["198.51.100.7"]);
        assert_eq!(recs[0].tags, ["indicator--q"]);
        assert_eq!(
            idx.entries["indicator--p"].live.as_ref().unwrap().starts,
            Some(T0 + 100)
        );
        assert_eq!(
            idx.pending_for(&v("203.0.113.5"), T0).collect::<Vec<_>>(),
            [("indicator--p", T0 + 100)]
        );
        assert_eq!(idx.asserting(&v("203.0.113.5"), T0).count(), 0);
        assert!(!idx.starts_due(T0 + 99));
        assert!(idx.starts_due(T0 + 100));
        let (recs, o2) = apply(&mut idx, recs, vec![], T0 + 99, 0);
        assert_eq!((recs.len(), o2.activated, o2.index_changed), (1, 0, false));
        // Its time comes: an empty delta activates it, once.
        let (recs, o2) = apply(&mut idx, recs, vec![], T0 + 100, 0);
        assert_eq!(values(&recs), ["198.51.100.7", "203.0.113.5"]);
        assert_eq!(
            (o2.activated, o2.counts.added, o2.index_changed),
            (1, 1, true)
        );
        assert_eq!(recs[1].first_seen, T0 + 100);
        assert_eq!(recs[0].tags, ["indicator--p", "indicator--q"]);
        assert!(!idx.starts_due(T0 + 200));
        let (_, o3) = apply(&mut idx, recs, vec![], T0 + 200, 0);
        assert_eq!((o3.activated, o3.index_changed), (0, false));
        assert!(o.index_changed);
    }

    #[test]
    fn a_pending_indicator_that_expires_before_it_starts_never_asserts() {
        let mut idx = IndicatorIndex::default();
        let mut p = live("indicator--p", M1, &["203.0.113.5"]);
        p.starts = Some(T0 + 100);
        p.expires = Some(T0 + 50);
        let (recs, _) = apply(&mut idx, vec![], vec![p], T0, 0);
        assert_eq!(idx.pending_for(&v("203.0.113.5"), T0).count(), 0);
        let (recs, _) = apply(&mut idx, recs, vec![], T0 + 100, 0);
        assert!(recs.is_empty());
        // A version that is already valid when polled is not pending.
        let mut now_valid = live("indicator--n", M1, &["192.0.2.1"]);
        now_valid.starts = Some(T0 + 100);
        let (recs, _) = apply(&mut idx, recs, vec![now_valid], T0 + 100, 0);
        assert_eq!(values(&recs), ["192.0.2.1"]);
        assert_eq!(
            idx.entries["indicator--n"].live.as_ref().unwrap().starts,
            None
        );
    }

    #[test]
    fn nothing_to_do_changes_nothing() {
        let mut idx = IndicatorIndex::default();
        let (recs, o) = apply(
            &mut idx,
            vec![],
            vec![live("indicator--a", M1, &["203.0.113.5"])],
            T0,
            0,
        );
        assert!(o.index_changed);
        let (again, o) = apply(&mut idx, recs.clone(), vec![], T0 + 1, 0);
        assert_eq!((again, o.index_changed), (recs, false));
    }

    #[test]
    fn tombstones_are_forgotten_after_a_while() {
        let mut idx = IndicatorIndex::default();
        let (recs, _) = apply(
            &mut idx,
            vec![],
            vec![ver("indicator--a", M1, Status::Revoked, &[])],
            T0,
            0,
        );
        apply(&mut idx, recs, vec![], T0 + TOMBSTONE_KEEP, 0);
        assert!(idx.is_empty());
    }

    #[test]
    fn unattributed_records_stay_until_named_by_a_withdrawal() {
        let old = |s: &str| Record {
            value: v(s),
            first_seen: T0 - 1000,
            last_seen: T0 - 10,
            expires: None,
            confidence: Some(10),
            tlp: Some(Tlp::Amber),
            tags: vec![],
            comment: Some("legacy".into()),
        };
        let mut idx = IndicatorIndex::default();
        let stored = vec![
            old("203.0.113.5"),
            old("198.51.100.7"),
            old("legacy.example"),
        ];
        // Nothing known: everything stays, untouched.
        let (recs, o) = apply(&mut idx, stored.clone(), vec![], T0, 0);
        assert_eq!(recs, {
            let mut s = stored.clone();
            s.sort_by(|a, b| a.value.cmp(&b.value));
            s
        });
        assert_eq!(o.counts, MergeCounts::default());
        // A revocation of an unknown indicator names 203.0.113.5: that value goes (by value,
        // as nobody is known to assert it); a live indicator takes over 198.51.100.7.
        let (recs, _) = apply(
            &mut idx,
            recs,
            vec![
                ver("indicator--x", M1, Status::Revoked, &["203.0.113.5"]),
                live("indicator--y", M1, &["198.51.100.7"]),
            ],
            T0 + 1,
            0,
        );
        assert_eq!(values(&recs), ["198.51.100.7", "legacy.example"]);
        assert_eq!(recs[0].comment.as_deref(), Some("indicator--y"));
        assert_eq!(recs[0].first_seen, T0 - 1000);
        // Now y's revocation removes it even though it was stored before.
        let (recs, _) = apply(
            &mut idx,
            recs,
            vec![ver("indicator--y", M2, Status::Revoked, &[])],
            T0 + 2,
            0,
        );
        assert_eq!(values(&recs), ["legacy.example"]);
        // Unattributed records age out under keep_for.
        let (recs, _) = apply(&mut idx, recs, vec![], T0 + 100, 50);
        assert!(recs.is_empty());
    }

    fn arb_version() -> impl Strategy<Value = Version> {
        (
            0u8..6,
            0u8..4,
            0u8..3,
            proptest::collection::vec(0u8..8, 0..3),
            proptest::option::of(0i64..6),
        )
            .prop_map(|(id, m, st, vals, starts)| {
                let status = match st {
                    0 => Status::Revoked,
                    1 => Status::Expired,
                    _ => Status::Active,
                };
                let values: Vec<String> = vals.iter().map(|x| format!("192.0.2.{x}")).collect();
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                let mut v = ver(
                    &format!("indicator--{id}"),
                    &format!("2026-01-0{}T00:00:00Z", m + 1),
                    status,
                    &refs,
                );
                v.starts = starts.map(|s| T0 + s);
                v
            })
    }

    #[test]
    fn encoding_round_trips() {
        let mut idx = IndicatorIndex::default();
        let mut a = live(
            "indicator--a",
            M1,
            &["203.0.113.0/24", "evil.example", "https://x.example/p?q=1"],
        );
        a.expires = Some(T0 + 5);
        a.tlp = Some(Tlp::Amber);
        let mut b = ver("indicator--b", M2, Status::Revoked, &[]);
        b.modified = None;
        let mut c = live("indicator--c", M2, &["192.0.2.7"]);
        c.starts = Some(T0 + 86_400);
        apply(&mut idx, vec![], vec![a, b, c], T0, 0);
        assert!(idx.entries["indicator--c"]
            .live
            .as_ref()
            .unwrap()
            .starts
            .is_some());
        let mut buf = Vec::new();
        encode(&idx, |b| {
            buf.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        let (back, skipped) = decode(&buf, idx.len() as u64).unwrap();
        assert_eq!((back, skipped), (idx.clone(), 0));
        // The scan agrees with the index it does not build.
        for t in [T0, T0 + 86_399, T0 + 86_400, T0 + 90_000] {
            assert_eq!(
                starts_due(&buf, idx.len() as u64, t),
                Ok(idx.starts_due(t)),
                "{t}"
            );
        }
        assert!(starts_due(&buf[..buf.len() / 2], idx.len() as u64, T0).is_err());
        assert!(decode(&buf, idx.len() as u64 + 1).is_err());
        assert!(decode(&buf[..buf.len() - 1], idx.len() as u64).is_err());
        // Any truncation is an error, never a panic.
        for n in 0..buf.len() {
            let _ = decode(&buf[..n], idx.len() as u64);
        }
    }

    #[test]
    fn an_index_written_before_pending_entries_still_reads() {
        // The layout of the first release, byte by byte (no PENDING bit anywhere).
        let mut old = vec![12];
        old.extend_from_slice(b"indicator--a");
        old.extend_from_slice(&[HAS_MODIFIED | LIVE, 4]);
        old.extend_from_slice(b"2026");
        old.extend_from_slice(&[2, 1, 0, 9]); // seen 1 (zig-zag), one value: IP, 9 bytes
        old.extend_from_slice(b"192.0.2.1");
        old.extend_from_slice(&[0, 0, 0]); // no metadata, no tags; no unattributed values
        let (idx, skipped) = decode(&old, 1).unwrap();
        assert_eq!(skipped, 0);
        let e = &idx.entries["indicator--a"];
        let a = e.live.as_ref().unwrap();
        assert_eq!((e.modified.as_deref(), e.seen), (Some("2026"), 1));
        assert_eq!((a.values.clone(), a.starts), (vec![v("192.0.2.1")], None));
        // Written again unchanged, byte for byte.
        let mut back = Vec::new();
        encode(&idx, |b| {
            back.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, old);
        // PENDING without LIVE is damage, not a guess.
        let mut bad = old.clone();
        bad[13] = HAS_MODIFIED | PENDING;
        assert!(decode(&bad, 1).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

        /// After any sequence of polls, the records hold exactly the values some live indicator
        /// of the index asserts: never a value only a withdrawn or pending one named, never one
        /// dropped while a live one asserts it; and no pending indicator is left whose start
        /// has come.
        #[test]
        fn records_are_the_live_assertions(
            polls in proptest::collection::vec(proptest::collection::vec(arb_version(), 0..5), 1..6)
        ) {
            let mut idx = IndicatorIndex::default();
            let mut recs = Vec::new();
            for (i, poll) in polls.into_iter().enumerate() {
                let (r, _) = apply(&mut idx, recs, poll, T0 + i as i64, 0);
                recs = r;
                prop_assert!(!idx.starts_due(T0 + i as i64));
                let mut live: Vec<String> = idx
                    .entries
                    .values()
                    .filter_map(|e| e.live.as_ref())
                    .filter(|a| a.starts.is_none())
                    .flat_map(|a| a.values.iter().map(|v| v.to_string()))
                    .collect();
                live.sort_by_key(|s| v(s));
                live.dedup();
                prop_assert_eq!(values(&recs), live);
            }
        }
    }
}
