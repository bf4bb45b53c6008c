//! STIX 2.1 → indicators: the pattern language, and `indicator` objects (from TAXII envelopes
//! or a static bundle) turned into block entries with their metadata.
//!
//! # What is converted
//! Only what can be turned into block entries *honestly*, i.e. where each entry alone satisfies
//! the pattern: comparisons `=` on `ipv4-addr:value`, `ipv6-addr:value`, `domain-name:value`,
//! `url:value`, `file:hashes.'MD5'|'SHA-1'|'SHA-256'`, and `ISSUBSET '<cidr>'` on the two
//! address paths, joined by `OR` inside an observation expression or between observation
//! expressions; each comparison becomes one entry. A comparison on another path inside an `OR`
//! (`email-addr:value`, `file:name`) is left out and its siblings kept (blocking a sibling
//! alone still satisfies the pattern); a pattern with no usable comparison at all is skipped.
//! `AND`, `FOLLOWEDBY`, `NOT`, qualifiers (`WITHIN`, `REPEATS`, `START`/`STOP`), `MATCHES`,
//! `LIKE`, `IN`, `!=`, `<`, `>`, `EXISTS`, `ISSUPERSET` make the whole pattern
//! `unsupported_pattern`: never approximated. A pattern the STIX grammar refuses is `invalid`
//! (the spec says it matches nothing); [`pattern`] follows the OASIS grammar token for token
//! (`=` and `==`, comments, whitespace, escapes, parentheses), and is checked against the
//! `stix2-patterns` test suite (`tests/stix_patterns.rs`). One too long or too deeply nested to
//! read is `unsupported_pattern`. Values go through [`parse_token`] like any feed's, so a bad
//! value is an `invalid` skip with the same rules as everywhere.
//!
//! # Metadata
//! - The newest `modified` version of an id wins, within one body and (in the store's
//!   indicator index, `store::IndicatorIndex`) across TAXII polls.
//! - Every indicator is kept *by its id* ([`Converted::versions`]): `revoked: true` withdraws
//!   that indicator, and its values go only when no other live indicator asserts them (two
//!   ISAC members reporting the same C2 address, one of them revoking, must not unblock it).
//! - `valid_until` → the entry's expiry; already past → that indicator is withdrawn too,
//!   counted `expired`.
//! - `valid_from` in the future → the version is kept *pending* ([`Version::starts`]) and
//!   counted `not_yet_valid`: the store's indicator index keeps it by id with its start, and
//!   its values join the source's records at the first compile after that time, with no new
//!   poll (`store::apply_delta`); the TAXII position moves past it like past any object. A
//!   static bundle (a full snapshot, fetched whole every time) lists it once a fetch comes
//!   after its start.
//! - `confidence` (0–100) → confidence; `labels` → tags; `name` (else the id) → comment.
//! - TLP from `object_marking_refs` by the exact TLP 1.0 and 2.0 marking-definition ids (names
//!   can be spoofed, ids cannot); several → the most restrictive; none → the source's `tlp`.
//! - `pattern_type` other than `stix` (snort, yara, sigma, …) → `unsupported_pattern`.
//!
//! # Why a hand-written parser
//! No maintained Rust crate parses STIX patterns into a tree we could trust (docs.rs, checked
//! 2026-11): `stix-rs` 0.1.0 only validates pattern strings (no syntax tree); `stix2` 0.1.1 is
//! a single early release of a whole STIX object model, far more than this needs; `stix`
//! (0.3, 2021) covers STIX 2.0 and calls itself a work in progress; `rstix` is a reserved name.
//! The reference implementation is the ANTLR grammar of the Python `stix2-patterns` package.
//! The language is small (STIX 2.1 specification, section 9), and a recursive-descent parser
//! of it ([`pattern`]) is a few hundred lines that are fuzzed (`fuzz/fuzz_targets/
//! stix_pattern.rs`) and property-tested (print → parse round trip, never a panic).
//!
//! Fetching (TAXII paging, auth) is [`super`]'s job; storing and merging is `store`'s.

pub mod pattern;

#[cfg(test)]
use self::pattern::is_keyword;
pub use self::pattern::{
    parse_pattern, Comparison, Literal, ObjectPath, Op, Pattern, PatternError, Qualifier, Step,
    Test, MAX_PATTERN_LEN,
};

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::indicator::{parse_token, HashKind, Kind, Report, Skip, SkipReason, Tlp, Value};
use crate::source::parse::{rfc3339, ParsedFeed, ParsedIndicator};

// ---------------------------------------------------------------------------------------------
// Pattern → values
// ---------------------------------------------------------------------------------------------

/// One value a pattern asserts: what it should be and the text to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternValue {
    /// The kind the value must have.
    pub kind: Kind,
    /// For hashes: the algorithm the path names.
    pub hash: Option<HashKind>,
    /// The constant as written.
    pub text: String,
}

/// Why a parsed pattern cannot be converted: the rule, for the report.
pub type Unsupported = &'static str;

/// The values of a convertible pattern (one per usable comparison), or why it is not one.
///
/// # Errors
/// The [`Unsupported`] rule that makes the pattern unconvertible.
pub fn pattern_values(p: &Pattern) -> Result<Vec<PatternValue>, Unsupported> {
    let mut out = Vec::new();
    obs_values(p, &mut out)?;
    if out.is_empty() {
        return Err("no comparison on an IP, domain, URL or file hash value");
    }
    Ok(out)
}

fn obs_values(p: &Pattern, out: &mut Vec<PatternValue>) -> Result<(), Unsupported> {
    match p {
        Pattern::Observation(c) => cmp_values(c, out),
        Pattern::Or(v) => v.iter().try_for_each(|p| obs_values(p, out)),
        Pattern::And(_) => Err("AND between observation expressions"),
        Pattern::FollowedBy(_) => Err("FOLLOWEDBY"),
        Pattern::Qualified(..) => Err("a qualifier (WITHIN, REPEATS, START/STOP)"),
    }
}

fn cmp_values(c: &Comparison, out: &mut Vec<PatternValue>) -> Result<(), Unsupported> {
    match c {
        Comparison::Or(v) => v.iter().try_for_each(|c| cmp_values(c, out)),
        Comparison::And(_) => Err("AND inside an observation expression"),
        Comparison::Test(t) => {
            if t.negated {
                return Err("NOT");
            }
            let target = path_target(&t.path);
            match (t.op, &t.value, target) {
                // A comparison on a path we do not block on: left out, siblings kept.
                (Op::Eq, Some(Literal::Str(_)), None) => Ok(()),
                (Op::Eq, Some(Literal::Str(s)), Some((kind, hash))) => {
                    out.push(PatternValue {
                        kind,
                        hash,
                        text: s.clone(),
                    });
                    Ok(())
                }
                (Op::IsSubset, Some(Literal::Str(s)), Some((Kind::Ip, None))) => {
                    out.push(PatternValue {
                        kind: Kind::Ip,
                        hash: None,
                        text: s.clone(),
                    });
                    Ok(())
                }
                (Op::Eq, _, _) => Err("= with a constant that is not a string"),
                (Op::Matches, ..) => Err("MATCHES"),
                (Op::Like, ..) => Err("LIKE"),
                (Op::In, ..) => Err("IN"),
                (Op::IsSubset, ..) => Err("ISSUBSET on a path other than an IP address value"),
                (Op::IsSuperset, ..) => Err("ISSUPERSET"),
                (Op::Exists, ..) => Err("EXISTS"),
                (Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge, ..) => {
                    Err("a comparison other than = (!=, <, <=, >, >=)")
                }
            }
        }
    }
}

fn path_target(p: &ObjectPath) -> Option<(Kind, Option<HashKind>)> {
    let key = |i: usize| match p.steps.get(i) {
        Some(Step::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match (p.object_type.as_str(), p.steps.len(), key(0)) {
        ("ipv4-addr" | "ipv6-addr", 1, Some("value")) => Some((Kind::Ip, None)),
        ("domain-name", 1, Some("value")) => Some((Kind::Domain, None)),
        ("url", 1, Some("value")) => Some((Kind::Url, None)),
        ("file", 2, Some("hashes")) => {
            let alg = key(1)?.to_ascii_uppercase();
            let h = match alg.as_str() {
                "MD5" => HashKind::Md5,
                "SHA-1" | "SHA1" => HashKind::Sha1,
                "SHA-256" | "SHA256" => HashKind::Sha256,
                _ => return None,
            };
            Some((Kind::Hash, Some(h)))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Objects → indicators
// ---------------------------------------------------------------------------------------------

/// TLP 1.0 marking-definition ids (STIX 2.1 section 7.2.1.4).
const TLP1: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// TLP 2.0 marking-definition ids (OASIS cti-stix-common-objects, extension tlp-2.0).
const TLP2: [(&str, Tlp); 5] = [
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// The TLP of a marking-definition id, when it is one of the TLP 1.0 or 2.0 ids.
pub fn tlp_of_marking(id: &str) -> Option<Tlp> {
    TLP1.iter()
        .chain(TLP2.iter())
        .find(|(m, _)| *m == id)
        .map(|(_, t)| *t)
}

/// What the newest version of one indicator in a body says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Live: its values are to be blocked.
    Active,
    /// `revoked: true`: the indicator is withdrawn.
    Revoked,
    /// `valid_until` is past: the indicator is withdrawn.
    Expired,
}

/// One indicator (the newest version of its id in a body), converted: who asserts which values,
/// with what metadata. Withdrawn versions ([`Status::Revoked`], [`Status::Expired`]) carry the
/// values of their pattern too, for sources whose earlier data did not record ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The STIX id (`indicator--<uuid>`).
    pub id: String,
    /// `modified` as written (the version); `None` when absent.
    pub modified: Option<String>,
    /// Live or withdrawn.
    pub status: Status,
    /// The values its pattern asserts (those that convert), in pattern order.
    pub values: Vec<Value>,
    /// `valid_until`.
    pub expires: Option<i64>,
    /// `valid_from` when it was still in the future at conversion: live from then on
    /// (pending until); `None`: live now.
    pub starts: Option<i64>,
    /// `confidence`.
    pub confidence: Option<u8>,
    /// The most restrictive TLP of its `object_marking_refs`; `None`: the source's.
    pub tlp: Option<Tlp>,
    /// `labels`, trimmed, empty ones dropped.
    pub tags: Vec<String>,
    /// `name`, else the id.
    pub comment: Option<String>,
}

/// Orders two `modified` values as STIX versions: by time, then by the text (its fraction); an
/// absent or unreadable one is the oldest.
pub fn compare_versions(a: Option<&str>, b: Option<&str>) -> Ordering {
    version_key(a).cmp(&version_key(b))
}

/// What a set of STIX objects gave.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// Each indicator's newest version that converted, live or withdrawn, in first-seen order.
    pub versions: Vec<Version>,
    /// Skips by reason (`unsupported_pattern`, `invalid`, `expired`, `not_yet_valid`) with
    /// examples whose origin is the indicator id.
    pub report: Report,
    /// Indicator objects examined (newest version per id).
    pub indicators_seen: u64,
}

impl Version {
    /// Live, but not before [`Version::starts`].
    pub fn is_pending(&self) -> bool {
        self.status == Status::Active && self.starts.is_some()
    }
}

impl Converted {
    /// The values of the live indicators (not the pending ones).
    pub fn active(&self) -> impl Iterator<Item = &Value> + '_ {
        self.versions
            .iter()
            .filter(|v| v.status == Status::Active && !v.is_pending())
            .flat_map(|v| v.values.iter())
    }

    /// The values of the indicators whose `valid_from` is still to come.
    pub fn pending(&self) -> impl Iterator<Item = &Value> + '_ {
        self.versions
            .iter()
            .filter(|v| v.is_pending())
            .flat_map(|v| v.values.iter())
    }

    /// The values of the withdrawn (revoked or expired) indicators.
    pub fn withdrawn(&self) -> impl Iterator<Item = &Value> + '_ {
        self.versions
            .iter()
            .filter(|v| v.status != Status::Active)
            .flat_map(|v| v.values.iter())
    }
}

/// The fields of a STIX object that conversion reads; every other field is skipped unread.
///
/// Lenient: a field of an unexpected JSON type (a numeric `id`, `labels` as a string) reads
/// as absent instead of failing the page, so one odd object never blocks a whole poll.
/// Deserialize TAXII envelopes and bundles straight into it ([`Envelope`], [`convert_bundle`]):
/// no `serde_json::Value` tree per object, and strings without escapes borrow from the body
/// (a 100k-indicator poll would otherwise allocate a million small strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct StixObject<'a> {
    /// `type` (`indicator`, `identity`, ...).
    #[serde(rename = "type", borrow, deserialize_with = "lenient::string")]
    pub kind: Option<Cow<'a, str>>,
    /// `id`.
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub id: Option<Cow<'a, str>>,
    /// `modified` (the version).
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub modified: Option<Cow<'a, str>>,
    /// `pattern`.
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub pattern: Option<Cow<'a, str>>,
    /// `pattern_type` (absent: `stix`, as STIX 2.0 indicators have none).
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub pattern_type: Option<Cow<'a, str>>,
    /// `valid_from`.
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub valid_from: Option<Cow<'a, str>>,
    /// `valid_until`.
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub valid_until: Option<Cow<'a, str>>,
    /// `revoked`.
    #[serde(deserialize_with = "lenient::boolean")]
    pub revoked: Option<bool>,
    /// `confidence`, when an integer 0–100.
    #[serde(deserialize_with = "lenient::confidence")]
    pub confidence: Option<u8>,
    /// `labels` (the strings among them).
    #[serde(borrow, deserialize_with = "lenient::strings")]
    pub labels: Vec<Cow<'a, str>>,
    /// `object_marking_refs` (the strings among them).
    #[serde(borrow, deserialize_with = "lenient::strings")]
    pub object_marking_refs: Vec<Cow<'a, str>>,
    /// `name`.
    #[serde(borrow, deserialize_with = "lenient::string")]
    pub name: Option<Cow<'a, str>>,
}

impl StixObject<'_> {
    /// `valid_from` of an `indicator` that is not revoked, when it is after `now`.
    pub fn valid_from_after(&self, now: i64) -> Option<i64> {
        if self.kind.as_deref() != Some("indicator") || self.revoked == Some(true) {
            return None;
        }
        self.valid_from
            .as_deref()
            .and_then(rfc3339)
            .filter(|f| *f > now)
    }
}

/// The objects of a TAXII envelope (`objects/` response) or of a STIX bundle; the paging
/// fields are [`Paging`]'s, read before (every other field is skipped unread).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Envelope<'a> {
    /// The objects.
    #[serde(borrow)]
    pub objects: Option<Vec<StixObject<'a>>>,
}

/// The paging fields of a TAXII envelope (`more`, `next`, both optional), read without building
/// the objects (they are checked to be JSON and skipped): what the poller needs before it asks
/// for the next page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Paging {
    /// More objects follow.
    #[serde(deserialize_with = "lenient::boolean")]
    pub more: Option<bool>,
    /// The paging token (a string, or a number some servers send).
    #[serde(deserialize_with = "lenient::token")]
    pub next: Option<String>,
}

/// Field readers that take any JSON and keep only a value of the expected type; anything else
/// is skipped (read, not built) and reads as absent.
mod lenient {
    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::Deserialize;

    /// What one JSON value was, as far as these readers care (an array: its strings).
    enum Scalar<'a> {
        Str(Cow<'a, str>),
        List(Vec<Cow<'a, str>>),
        Bool(bool),
        U64(u64),
        I64(i64),
        Other,
    }

    struct ScalarVisitor;

    impl<'de> Visitor<'de> for ScalarVisitor {
        type Value = Scalar<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Str(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Str(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Str(Cow::Owned(v)))
        }
        fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Bool(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
            Ok(Scalar::U64(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
            Ok(Scalar::I64(v))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Other)
        }
        fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Other)
        }
        fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
            Ok(Scalar::Other)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<Scalar<'de>>()? {
                if let Scalar::Str(s) = item {
                    out.push(s);
                }
            }
            Ok(Scalar::List(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Scalar::Other)
        }
    }

    impl<'de> Deserialize<'de> for Scalar<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ScalarVisitor)
        }
    }

    pub fn string<'de: 'a, 'a, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Cow<'a, str>>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Str(s) => Some(s),
            _ => None,
        })
    }

    pub fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Str(s) if !s.is_empty() => Some(s.into_owned()),
            Scalar::U64(n) => Some(n.to_string()),
            Scalar::I64(n) => Some(n.to_string()),
            _ => None,
        })
    }

    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Bool(b) => Some(b),
            _ => None,
        })
    }

    pub fn confidence<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::U64(c) if c <= 100 => Some(c as u8),
            Scalar::I64(c) if (0..=100).contains(&c) => Some(c as u8),
            _ => None,
        })
    }

    pub fn strings<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Vec<Cow<'a, str>>, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::List(v) => v,
            _ => Vec::new(),
        })
    }
}

/// A STIX timestamp as (Unix seconds, the text) so versions compare by time, then by the text
/// (its fraction).
fn version_key(v: Option<&str>) -> (i64, &str) {
    let s = v.unwrap_or("");
    (rfc3339(s).unwrap_or(i64::MIN), s)
}

/// Converts the `indicator` objects among `objects` (other types are ignored) at time `now`.
pub fn convert_objects<'a, 'b: 'a>(
    objects: impl IntoIterator<Item = &'a StixObject<'b>>,
    now: i64,
) -> Converted {
    // Newest `modified` per id, first-seen order kept for determinism.
    let mut order: Vec<&str> = Vec::new();
    let mut newest: foldhash::HashMap<&str, &StixObject> = foldhash::HashMap::default();
    for o in objects {
        if o.kind.as_deref() != Some("indicator") {
            continue;
        }
        let Some(id) = o.id.as_deref() else {
            continue;
        };
        match newest.get(id) {
            Some(prev)
                if compare_versions(prev.modified.as_deref(), o.modified.as_deref()).is_ge() => {}
            Some(_) => {
                newest.insert(id, o);
            }
            None => {
                order.push(id);
                newest.insert(id, o);
            }
        }
    }
    let mut out = Converted::default();
    for id in order {
        let Some(o) = newest.get(id) else { continue };
        out.indicators_seen += 1;
        convert_one(id, o, now, &mut out);
    }
    out
}

/// The values a STIX `pattern`/`pattern_type` asserts, or the skip that says why none.
fn wanted_values(o: &StixObject) -> Result<Vec<PatternValue>, Skip> {
    if o.pattern_type.as_deref().unwrap_or("stix") != "stix" {
        return Err(Skip::new(
            SkipReason::UnsupportedPattern,
            "pattern_type is not stix (snort, yara, sigma, … are not block entries)",
        ));
    }
    let pattern = parse_pattern(o.pattern.as_deref().unwrap_or("")).map_err(|e| match e {
        PatternError::Syntax { .. } => Skip::invalid("STIX pattern does not parse"),
        PatternError::TooLarge { .. } => Skip::new(
            SkipReason::UnsupportedPattern,
            "STIX pattern longer than 64 KiB or nested deeper than 64 levels",
        ),
    })?;
    pattern_values(&pattern).map_err(|rule| Skip::new(SkipReason::UnsupportedPattern, rule))
}

fn convert_one(id: &str, o: &StixObject, now: i64, out: &mut Converted) {
    let origin = || Some(id.to_string());
    let shown = || o.pattern.as_deref().unwrap_or_default().to_string();
    let expires = o.valid_until.as_deref().and_then(rfc3339);
    // A revoked or expired indicator is withdrawn whatever its pattern: the withdrawal is of
    // the id. Its values (when they convert) only serve stores that did not record ids yet,
    // and are not counted as skips: they were never going to be blocked.
    let withdrawn = if o.revoked == Some(true) {
        Some(Status::Revoked)
    } else if expires.is_some_and(|e| e <= now) {
        Some(Status::Expired)
    } else {
        None
    };
    let version = |status, values| Version {
        id: id.to_string(),
        modified: o.modified.as_deref().map(str::to_owned),
        status,
        values,
        expires: None,
        starts: None,
        confidence: None,
        tlp: None,
        tags: Vec::new(),
        comment: None,
    };
    let wanted = match wanted_values(o) {
        Ok(w) => w,
        Err(skip) if withdrawn.is_none() => {
            out.report.skip_with(skip, 1, origin, shown);
            // The newest version asserts nothing we can block: what an older version of the
            // id asserted is no longer attributed to it.
            out.versions.push(version(Status::Active, Vec::new()));
            return;
        }
        Err(_) => Vec::new(),
    };
    let mut values = Vec::with_capacity(wanted.len());
    for w in wanted {
        match value_of(&w) {
            Ok(v) => values.push(v),
            Err(skip) if withdrawn.is_none() => {
                out.report.skip_with(skip, 1, origin, || w.text.clone())
            }
            Err(_) => {}
        }
    }
    match withdrawn {
        Some(Status::Expired) => {
            out.report.skip_with(
                Skip::new(SkipReason::Expired, "valid_until is past"),
                values.len().max(1) as u64,
                origin,
                shown,
            );
            out.versions.push(version(Status::Expired, values));
            return;
        }
        Some(status) => {
            out.versions.push(version(status, values));
            return;
        }
        None => {}
    }
    // Kept pending: counted, so the report says why these values are not listed yet.
    let starts = o.valid_from_after(now);
    if starts.is_some() {
        out.report.skip_with(
            Skip::new(
                SkipReason::NotYetValid,
                "valid_from is in the future; kept, and listed from then",
            ),
            values.len() as u64,
            origin,
            shown,
        );
    }
    let tlp = o
        .object_marking_refs
        .iter()
        .filter_map(|m| tlp_of_marking(m))
        .max();
    let tags: Vec<String> = o
        .labels
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let comment = o
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(id)
        .to_string();
    out.versions.push(Version {
        expires,
        starts,
        confidence: o.confidence,
        tlp,
        tags,
        comment: Some(comment),
        ..version(Status::Active, values)
    });
}

fn value_of(w: &PatternValue) -> Result<Value, Skip> {
    let parsed = parse_token(w.text.trim().as_bytes(), Some(w.kind))?;
    if let (Some(want), Value::Hash(h)) = (w.hash, &parsed.value) {
        if h.kind != want {
            return Err(Skip::invalid(
                "hash length does not match the algorithm the pattern names",
            ));
        }
    }
    Ok(parsed.value)
}

impl Converted {
    /// The active indicators as a parsed feed (for a static bundle, which is a full snapshot
    /// and goes through the same gates as any feed). `records_seen` counts values kept plus
    /// skips, as [`crate::source::parse::parse_feed`]'s does; withdrawals are dropped (a
    /// snapshot removes what it does not list), and so are pending indicators (counted
    /// `not_yet_valid`: a later fetch of the snapshot lists them once valid).
    pub fn into_feed(self) -> ParsedFeed {
        let indicators: Vec<ParsedIndicator> = self
            .versions
            .into_iter()
            .filter(|v| v.status == Status::Active && !v.is_pending())
            .flat_map(|v| {
                let Version {
                    values,
                    expires,
                    confidence,
                    tlp,
                    tags,
                    comment,
                    ..
                } = v;
                values.into_iter().map(move |value| ParsedIndicator {
                    value,
                    confidence,
                    expires,
                    tags: tags.clone(),
                    comment: comment.clone(),
                    tlp,
                })
            })
            .collect();
        ParsedFeed {
            records_seen: indicators.len() as u64 + self.report.total_skipped(),
            indicators,
            report: self.report,
        }
    }
}

/// Why a STIX body cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StixError {
    /// Not JSON.
    #[error("not JSON ({0}); a STIX 2.1 bundle is a JSON object {{\"type\": \"bundle\", \"objects\": [...]}}")]
    Json(#[source] serde_json::Error),
    /// JSON, but not a bundle.
    #[error("not a STIX 2.1 bundle: expected {{\"type\": \"bundle\", \"objects\": [...]}}")]
    NotABundle,
}

/// Converts a static STIX 2.1 bundle (`format = "stix"`).
///
/// # Errors
/// [`StixError`] when the body is not a JSON bundle.
pub fn convert_bundle(body: &[u8], now: i64) -> Result<Converted, StixError> {
    #[derive(serde::Deserialize)]
    struct Bundle<'a> {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default, borrow)]
        objects: Vec<StixObject<'a>>,
    }
    let bundle: Bundle = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            StixError::NotABundle
        } else {
            StixError::Json(e)
        }
    })?;
    if bundle.kind != "bundle" {
        return Err(StixError::NotABundle);
    }
    Ok(convert_objects(&bundle.objects, now))
}

#[cfg(test)]
mod tests;
