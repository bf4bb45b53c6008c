//! `explain`: why a value is, or is not, in each list.

use std::collections::{HashMap, HashSet};

use crate::compile::{AllowSet, Guard};
use crate::config::{Config, List, Vendor};
use crate::indicator::{SkipReason, Tlp, Value};
use crate::store::{IndicatorIndex, RecordSet};

use super::lists::compile_list;
use super::{list_format, SourceData};

/// One source's record of an explained value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sighting {
    /// Source name.
    pub source: String,
    /// The record's value (may be wider than the query: a CIDR holding the address).
    pub value: String,
    /// Unix seconds.
    pub first_seen: i64,
    /// Unix seconds.
    pub last_seen: i64,
    /// Unix seconds.
    pub expires: Option<i64>,
    /// Effective confidence (record, else the source's).
    pub confidence: u8,
    /// Effective TLP (record, else the source's).
    pub tlp: &'static str,
    /// Record comment.
    pub comment: Option<String>,
    /// For a TAXII source: the live STIX indicators asserting the value (their ids), each of
    /// which would have to be revoked or expire for the source to drop it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<String>,
}

/// What one list does with an explained value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verdict {
    /// List name.
    pub list: String,
    /// Vendor id.
    pub vendor: &'static str,
    /// True when the list publishes it.
    pub published: bool,
    /// The output line(s) that carry it, when published.
    pub lines: Vec<String>,
    /// Reason id (same ids as `convert`'s counters) when not published.
    pub reason: Option<String>,
    /// The precise rule or the allowlist entry, for people.
    pub detail: Option<String>,
    /// The ETag of the list these verdicts are about, as `serve` sends it: the compile of the
    /// stored data, which `serve` publishes (compare with `/status.json`).
    pub etag: String,
    /// Entries of that list.
    pub entries: u64,
    /// Why the list is held back by the publication rule (`serve` answers 503), if it is.
    pub withheld: Option<String>,
}

/// A STIX indicator of a TAXII source that will assert the value from its `valid_from` on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pending {
    /// Source name.
    pub source: String,
    /// The indicator's STIX id.
    pub indicator: String,
    /// Its `valid_from` (Unix seconds).
    pub valid_from: i64,
}

/// The answer to "why is this blocked / not blocked?".
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    /// The value as normalized.
    pub value: String,
    /// Who reports it.
    pub sightings: Vec<Sighting>,
    /// Indicators that assert it from a later time on (TAXII sources), by source then id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
    /// Every list's verdict.
    pub lists: Vec<Verdict>,
}

fn record_covers(record: &Value, query: &Value) -> bool {
    use crate::indicator::IpRange;
    match (record, query) {
        (Value::Ip(IpRange::V4 { start: a, end: b }), Value::Ip(IpRange::V4 { start, end })) => {
            a <= start && end <= b
        }
        (Value::Ip(IpRange::V6 { start: a, end: b }), Value::Ip(IpRange::V6 { start, end })) => {
            a <= start && end <= b
        }
        (Value::Domain(r), Value::Domain(q)) => {
            r.name == q.name && (r.wildcard || !q.wildcard)
                || (r.wildcard && q.name.ends_with(&format!(".{}", r.name)))
        }
        (a, b) => a == b,
    }
}

fn output_lines_for(body: &[u8], vendor: Vendor, query: &Value) -> Vec<String> {
    use crate::indicator::{parse_token, IpRange};
    let mut out = Vec::new();
    for line in body.split(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let field = match vendor {
            Vendor::Checkpoint => text.split(',').nth(1).unwrap_or("").to_string(),
            _ => text.to_string(),
        };
        if field.is_empty() || field.starts_with('#') {
            continue;
        }
        let Ok(p) = parse_token(field.as_bytes(), None) else {
            // URL lines without a scheme
            if let (Value::Url(u), true) = (query, !field.contains("://")) {
                if field == u.host_and_path() || field == u.without_scheme() {
                    out.push(text.to_string());
                }
            }
            continue;
        };
        let hit = match (&p.value, query) {
            (Value::Ip(IpRange::V4 { .. }), Value::Ip(IpRange::V4 { .. }))
            | (Value::Ip(IpRange::V6 { .. }), Value::Ip(IpRange::V6 { .. })) => {
                record_covers(&p.value, query)
            }
            (Value::Domain(_), Value::Domain(_)) => record_covers(&p.value, query),
            (Value::Url(a), Value::Url(b)) => a == b || a.host_and_path() == b.host_and_path(),
            (a, b) => a == b,
        };
        if hit {
            out.push(text.to_string());
        }
    }
    out
}

/// Explains one value against every list of the config.
///
/// `indexes` holds the indicator index of each TAXII source (by source name; a source without
/// one is fine), to name the STIX indicators behind its records.
pub fn explain(
    config: &Config,
    data: &SourceData,
    indexes: &HashMap<String, IndicatorIndex>,
    guard: &Guard,
    query: &Value,
    facts: &super::publish::Facts,
    now: i64,
) -> Explanation {
    let mut sightings = Vec::new();
    for s in &config.sources {
        for r in data.get(&s.name).into_iter().flat_map(RecordSet::records) {
            if record_covers(&r.value, query) {
                sightings.push(Sighting {
                    source: s.name.clone(),
                    value: r.value.to_string(),
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                    expires: r.expires,
                    confidence: r.confidence.unwrap_or(s.confidence),
                    tlp: r.tlp.unwrap_or(s.tlp).as_str(),
                    comment: r.comment.clone(),
                    indicators: indexes
                        .get(&s.name)
                        .map(|i| i.asserting(&r.value, now).map(str::to_string).collect())
                        .unwrap_or_default(),
                });
            }
        }
    }
    // Pending indicators (still in the index, not in the records): by the query's own value,
    // as a pattern names it.
    let mut pending = Vec::new();
    for s in &config.sources {
        if let Some(index) = indexes.get(&s.name) {
            for (id, from) in index.pending_for(query, i64::MIN) {
                pending.push(Pending {
                    source: s.name.clone(),
                    indicator: id.to_string(),
                    valid_from: from,
                });
            }
        }
    }
    let previous: HashMap<String, Vec<u8>> = HashMap::new();
    let mut lists = Vec::new();
    for l in &config.lists {
        let out = compile_list(config, l, data, previous.get(&l.name), guard, now);
        let lines = output_lines_for(&out.rendered.body, l.vendor, query);
        let held = facts.decide(config, l, out.rendered.entries).err();
        let (reason, detail) = match (&held, lines.is_empty()) {
            (_, false) => (None, None),
            (Some(h), true) => (Some("withheld".to_string()), Some(h.to_string())),
            (None, true) => {
                // No source lists it yet: say when a pending indicator will.
                let why = why_not(l, data, guard, query, &sightings, now);
                match why.0.as_deref() {
                    Some("not_listed") => pending_reason(l, &pending, now).unwrap_or(why),
                    _ => why,
                }
            }
        };
        lists.push(Verdict {
            list: l.name.clone(),
            vendor: l.vendor.id(),
            published: !lines.is_empty(),
            lines,
            reason,
            detail,
            etag: format!("\"{}\"", out.etag),
            entries: out.rendered.entries,
            withheld: held.map(|h| h.to_string()),
        });
    }
    Explanation {
        value: query.to_string(),
        sightings,
        pending,
        lists,
    }
}

/// `not_yet_valid` when a source of `l` has an indicator that asserts the value from a later
/// time: "valid from …".
fn pending_reason(
    l: &List,
    pending: &[Pending],
    now: i64,
) -> Option<(Option<String>, Option<String>)> {
    let p = pending
        .iter()
        .filter(|p| l.sources.contains(&p.source))
        .min_by_key(|p| p.valid_from)?;
    let from = crate::source::taxii::taxii_timestamp(p.valid_from).replace(".000000Z", "Z");
    let when = if p.valid_from <= now {
        "; listed from the next compile"
    } else {
        ""
    };
    Some((
        Some(SkipReason::NotYetValid.as_str().to_string()),
        Some(format!(
            "source {}: STIX indicator {} is valid from {from}{when}",
            p.source, p.indicator
        )),
    ))
}

fn why_not(
    l: &List,
    data: &SourceData,
    guard: &Guard,
    query: &Value,
    sightings: &[Sighting],
    now: i64,
) -> (Option<String>, Option<String>) {
    let some = |r: SkipReason, d: String| (Some(r.as_str().to_string()), Some(d));
    let format = list_format(l);
    let kinds = if l.kinds.is_empty() {
        format.kinds().to_vec()
    } else {
        l.kinds.clone()
    };
    if !kinds.contains(&query.kind()) {
        return some(
            SkipReason::WrongType,
            format!(
                "the list takes {}",
                kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // The floor and the vendor, on the value itself (as the compiler asks it, for this vendor).
    use crate::compile::VendorRules as _;
    let floor = guard.check(query, format.plain_name_covers_subdomains());
    if let Err(s) = floor {
        return some(s.reason, format!("safety floor: {}", s.detail));
    }
    if let Value::Ip(r) = query {
        if crate::compile::guard::wholly_special(r) {
            return some(
                SkipReason::Guarded,
                "safety floor: special-purpose address space".into(),
            );
        }
    }
    if let Err(s) = format.admit(query) {
        return some(s.reason, format!("{}: {}", l.vendor, s.detail));
    }
    // Allowlists: name the source and the entry.
    for a in &l.allow {
        for r in data.get(a).into_iter().flat_map(RecordSet::records) {
            let allow = AllowSet::new([r.value.clone()]);
            let hit = match query {
                Value::Ip(ip) => allow.covers_ip(ip),
                Value::Domain(d) => allow.allows_name(&d.name),
                Value::Url(u) => allow.allows_url(u),
                Value::Hash(h) => allow.allows_hash(&h.hex),
            };
            if hit {
                return some(
                    SkipReason::Allowlisted,
                    format!("allowlisted by source {a} entry {}", r.value),
                );
            }
        }
    }
    let in_list: Vec<&Sighting> = sightings
        .iter()
        .filter(|s| l.sources.contains(&s.source))
        .collect();
    if in_list.is_empty() {
        return (
            Some("not_listed".into()),
            Some(format!(
                "none of the list's sources ({}) report it",
                l.sources.join(", ")
            )),
        );
    }
    let live: Vec<&&Sighting> = in_list
        .iter()
        .filter(|s| s.expires.is_none_or(|e| e > now))
        .collect();
    if live.is_empty() {
        return some(SkipReason::Expired, "every sighting has expired".into());
    }
    let max_tlp = l.max_tlp.as_str();
    let tlp_ok: Vec<&&&Sighting> = live
        .iter()
        .filter(|s| s.tlp.parse::<Tlp>().is_ok_and(|t| t <= l.max_tlp))
        .collect();
    if tlp_ok.is_empty() {
        return some(
            SkipReason::Tlp,
            format!("every sighting is marked above max_tlp {max_tlp}"),
        );
    }
    let conf_ok: Vec<&&&&Sighting> = tlp_ok
        .iter()
        .filter(|s| s.confidence >= l.min_confidence)
        .collect();
    if conf_ok.is_empty() {
        return some(
            SkipReason::BelowMinConfidence,
            format!(
                "best confidence {} < min_confidence {}",
                tlp_ok.iter().map(|s| s.confidence).max().unwrap_or(0),
                l.min_confidence
            ),
        );
    }
    let distinct: HashSet<&str> = conf_ok.iter().map(|s| s.source.as_str()).collect();
    if distinct.len() < l.min_sources {
        return some(
            SkipReason::MinSources,
            format!(
                "{} source(s) report it; the list needs {}",
                distinct.len(),
                l.min_sources
            ),
        );
    }
    if let Value::Domain(d) = query {
        return some(
            SkipReason::Covered,
            format!(
                "covered by a wildcard of {} or an ancestor in the same list, or over the limit",
                d.name
            ),
        );
    }
    some(
        SkipReason::OverLimit,
        "the list is at max_entries; higher-priority entries were kept".into(),
    )
}
