//! [`merge_snapshot`]: a source's fresh full snapshot plus its previous records gives its new
//! records. Pure, so the fetch loop, `compile` and tests call it without a store.

use crate::indicator::{Indicator, Tlp, Value};

use super::record::Record;

/// One indicator of a fresh snapshot, as a source hands it to [`merge_snapshot`]: the value and
/// the metadata the data gave (times the store keeps itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshIndicator {
    /// The normalized value.
    pub value: Value,
    /// Expiry given by the data (STIX `valid_until`, a feed's column); `None` = none.
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

impl From<Indicator> for FreshIndicator {
    /// Keeps the data-given fields of `meta`; `sources`, `first_seen` and `last_seen` are the
    /// store's to decide.
    fn from(i: Indicator) -> Self {
        FreshIndicator {
            value: i.value,
            expires: i.meta.expires,
            confidence: i.meta.confidence,
            tlp: i.meta.tlp,
            tags: i.meta.tags,
            comment: i.meta.comment,
        }
    }
}

/// Sorts both inputs by value and folds repeated fresh values into one ([`absorb`]). Stable
/// sorts: among equal values the input order decides, so a merge depends on nothing but its
/// inputs. Stored snapshots are sorted already, so `old` is usually left as it is.
fn sort_inputs(old: &mut [Record], fresh: &mut Vec<FreshIndicator>) {
    if !old.is_sorted_by(|a, b| a.value <= b.value) {
        old.sort_by(|a, b| a.value.cmp(&b.value));
    }
    fresh.sort_by(|a, b| a.value.cmp(&b.value));
    fresh.dedup_by(|later, first| {
        if later.value != first.value {
            return false;
        }
        absorb(first, later);
        true
    });
}

/// Merges a fresh full snapshot of a source into its previous records.
///
/// - a value in `fresh` keeps its old `first_seen` (or gets `now`), `last_seen = now`, and takes
///   the fresh metadata;
/// - a value only in `old` is dropped, unless `keep_for > 0` and `old.last_seen + keep_for > now`
///   (then it is kept unchanged);
/// - records whose `expires <= now` are dropped (data-given expiry is honoured);
/// - the output is sorted by value, one record per value (deterministic).
///
/// A value listed more than once in `fresh` becomes one record: the highest confidence, the most
/// restrictive TLP, the latest expiry (none if one of them has none), the tags of all in first-seen
/// order, and the first comment.
pub fn merge_snapshot(
    mut old: Vec<Record>,
    mut fresh: Vec<FreshIndicator>,
    now: i64,
    keep_for: i64,
) -> Vec<Record> {
    let expired = |e: Option<i64>| e.is_some_and(|e| e <= now);
    sort_inputs(&mut old, &mut fresh);

    let mut out = Vec::with_capacity(fresh.len() + if keep_for > 0 { old.len() } else { 0 });
    let mut old = old.into_iter().peekable();
    let keep_old = |r: &Record| {
        keep_for > 0 && r.last_seen.saturating_add(keep_for) > now && !expired(r.expires)
    };
    for f in fresh {
        let mut first_seen = now;
        while let Some(o) = old.next_if(|o| o.value <= f.value) {
            if o.value == f.value {
                first_seen = o.first_seen;
                // A repeated old value (not written by us) is dropped with its first copy.
                while old.next_if(|d| d.value == f.value).is_some() {}
            } else if keep_old(&o) && out.last().is_none_or(|l: &Record| l.value != o.value) {
                out.push(o);
            }
        }
        if !expired(f.expires) {
            out.push(Record {
                value: f.value,
                first_seen,
                last_seen: now,
                expires: f.expires,
                confidence: f.confidence,
                tlp: f.tlp,
                tags: f.tags,
                comment: f.comment,
            });
        }
    }
    for o in old {
        if keep_old(&o) && out.last().is_none_or(|l| l.value != o.value) {
            out.push(o);
        }
    }
    out
}

/// Folds a repeated fresh indicator into the first one of its value (`later` is dropped after).
fn absorb(first: &mut FreshIndicator, later: &mut FreshIndicator) {
    first.confidence = first.confidence.max(later.confidence);
    first.tlp = match (first.tlp, later.tlp) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    first.expires = match (first.expires, later.expires) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    for t in std::mem::take(&mut later.tags) {
        if !first.tags.contains(&t) {
            first.tags.push(t);
        }
    }
    if first.comment.is_none() {
        first.comment = later.comment.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::parse_token;
    use proptest::prelude::*;

    fn v(s: &str) -> Value {
        parse_token(s.as_bytes(), None).unwrap().value
    }

    fn fresh(s: &str) -> FreshIndicator {
        FreshIndicator {
            value: v(s),
            expires: None,
            confidence: None,
            tlp: None,
            tags: vec![],
            comment: None,
        }
    }

    fn old(s: &str, first_seen: i64, last_seen: i64) -> Record {
        Record {
            value: v(s),
            first_seen,
            last_seen,
            expires: None,
            confidence: Some(10),
            tlp: None,
            tags: vec!["old".into()],
            comment: Some("old".into()),
        }
    }

    fn values(rs: &[Record]) -> Vec<String> {
        rs.iter().map(|r| r.value.to_string()).collect()
    }

    #[test]
    fn first_seen_kept_metadata_fresh() {
        let mut f = fresh("1.2.3.4");
        f.confidence = Some(90);
        f.comment = Some("new".into());
        let out = merge_snapshot(
            vec![old("1.2.3.4", 100, 200)],
            vec![f, fresh("5.6.7.8")],
            1000,
            0,
        );
        assert_eq!(values(&out), ["1.2.3.4", "5.6.7.8"]);
        assert_eq!((out[0].first_seen, out[0].last_seen), (100, 1000));
        assert_eq!(out[0].confidence, Some(90));
        assert_eq!(out[0].comment.as_deref(), Some("new"));
        assert!(out[0].tags.is_empty());
        assert_eq!((out[1].first_seen, out[1].last_seen), (1000, 1000));
    }

    #[test]
    fn gone_values_dropped_without_keep_for() {
        let out = merge_snapshot(vec![old("1.2.3.4", 100, 999)], vec![], 1000, 0);
        assert!(out.is_empty());
    }

    #[test]
    fn keep_for_keeps_recent_gone_values_unchanged() {
        let o = vec![old("1.1.1.1", 1, 950), old("2.2.2.2", 1, 900)];
        let out = merge_snapshot(o.clone(), vec![fresh("3.3.3.3")], 1000, 100);
        // 950 + 100 > 1000 kept; 900 + 100 = 1000 not > 1000, dropped.
        assert_eq!(values(&out), ["1.1.1.1", "3.3.3.3"]);
        assert_eq!(out[0], o[0]);
        let out = merge_snapshot(o, vec![], i64::MAX, i64::MAX);
        assert!(out.is_empty(), "no overflow at the extremes");
    }

    #[test]
    fn expiry_is_honoured() {
        let mut gone = fresh("1.1.1.1");
        gone.expires = Some(1000);
        let mut later = fresh("2.2.2.2");
        later.expires = Some(1001);
        let mut kept_but_expired = old("3.3.3.3", 1, 999);
        kept_but_expired.expires = Some(500);
        let out = merge_snapshot(vec![kept_but_expired], vec![gone, later], 1000, 10_000);
        assert_eq!(values(&out), ["2.2.2.2"]);
    }

    #[test]
    fn duplicates_in_fresh_are_folded() {
        let mut a = fresh("evil.example");
        a.confidence = Some(40);
        a.tlp = Some(Tlp::Green);
        a.tags = vec!["x".into()];
        a.expires = Some(2000);
        let mut b = fresh("evil.example");
        b.confidence = Some(70);
        b.tlp = Some(Tlp::Red);
        b.tags = vec!["y".into(), "x".into()];
        b.comment = Some("b".into());
        b.expires = Some(3000);
        let out = merge_snapshot(vec![], vec![a, b], 1000, 0);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(r.confidence, Some(70));
        assert_eq!(r.tlp, Some(Tlp::Red));
        assert_eq!(r.tags, ["x", "y"]);
        assert_eq!(r.comment.as_deref(), Some("b"));
        assert_eq!(r.expires, Some(3000));
    }

    #[test]
    fn unsorted_and_repeated_old_is_handled() {
        let o = vec![
            old("9.9.9.9", 5, 990),
            old("1.1.1.1", 7, 990),
            old("1.1.1.1", 8, 990),
        ];
        let out = merge_snapshot(o, vec![fresh("1.1.1.1")], 1000, 100);
        assert_eq!(values(&out), ["1.1.1.1", "9.9.9.9"]);
        assert_eq!(out[0].first_seen, 7);
    }

    fn any_ip() -> impl Strategy<Value = String> {
        (0u8..4, 0u8..4).prop_map(|(a, b)| format!("10.0.{a}.{b}"))
    }

    fn any_fresh() -> impl Strategy<Value = FreshIndicator> {
        (
            any_ip(),
            prop::option::of(900i64..1100),
            prop::option::of(0u8..100),
        )
            .prop_map(|(ip, expires, confidence)| FreshIndicator {
                expires,
                confidence,
                ..fresh(&ip)
            })
    }

    fn any_old() -> impl Strategy<Value = Record> {
        (
            any_ip(),
            0i64..1000,
            800i64..1000,
            prop::option::of(900i64..1100),
        )
            .prop_map(|(ip, first, last, expires)| Record {
                expires,
                ..old(&ip, first, last)
            })
    }

    proptest! {
        // Sorted, one record per value, nothing expired, every live fresh value present with
        // the first_seen of its old record.
        #[test]
        fn merge_properties(
            o in prop::collection::vec(any_old(), 0..12),
            f in prop::collection::vec(any_fresh(), 0..12),
            keep_for in 0i64..300,
        ) {
            let now = 1000;
            let out = merge_snapshot(o.clone(), f.clone(), now, keep_for);
            prop_assert!(out.windows(2).all(|w| w[0].value < w[1].value));
            prop_assert!(out.iter().all(|r| r.expires.is_none_or(|e| e > now)));
            for x in &f {
                let live = f.iter().any(|y| y.value == x.value && y.expires.is_none_or(|e| e > now));
                let found = out.iter().find(|r| r.value == x.value);
                prop_assert_eq!(live, found.is_some());
                if let Some(r) = found {
                    prop_assert_eq!(r.last_seen, now);
                    // Among repeated old values (which the store never writes) the first counts.
                    let expect = o.iter().find(|r| r.value == x.value).map_or(now, |r| r.first_seen);
                    prop_assert_eq!(r.first_seen, expect);
                }
            }
        }

        // The order of the inputs does not matter (for distinct old values, as the store keeps
        // them, and fresh values without comments, the one field where the first one wins).
        #[test]
        fn merge_ignores_input_order(
            o in prop::collection::vec(any_old(), 0..12),
            f in prop::collection::vec(any_fresh(), 0..12),
            keep_for in 0i64..300,
        ) {
            let mut o = o;
            o.sort_by(|a, b| a.value.cmp(&b.value));
            o.dedup_by(|a, b| a.value == b.value);
            let mut o_rev = o.clone();
            o_rev.reverse();
            let mut f_rev = f.clone();
            f_rev.reverse();
            let a = merge_snapshot(o, f, 1000, keep_for);
            let mut b = merge_snapshot(o_rev, f_rev, 1000, keep_for);
            // Tags are kept in first-seen order; compare them as sets.
            let sorted_tags = |rs: &mut Vec<Record>| rs.iter_mut().for_each(|r| r.tags.sort());
            let mut a = a;
            sorted_tags(&mut a);
            sorted_tags(&mut b);
            prop_assert_eq!(a, b);
        }

        // Merging the same snapshot twice at the same time changes nothing.
        #[test]
        fn merge_is_idempotent(
            o in prop::collection::vec(any_old(), 0..12),
            f in prop::collection::vec(any_fresh(), 0..12),
            keep_for in 0i64..300,
        ) {
            let once = merge_snapshot(o, f.clone(), 1000, keep_for);
            let twice = merge_snapshot(once.clone(), f, 1000, keep_for);
            prop_assert_eq!(once, twice);
        }
    }
}
