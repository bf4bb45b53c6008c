//! STIX 2.1: a list shared with a community (an ISAC, a trust group) as a STIX 2.1 bundle, and,
//! through `edlforge serve`, as a TAXII 2.1 collection (`serve/taxii/`, which takes the objects
//! from the list's share history, `store/share.rs`, and writes them with [`write_indicator`]).
//!
//! # Format
//! ```text
//! {"type":"bundle","id":"bundle--…","objects":[
//! {"type":"identity","spec_version":"2.1","id":"identity--…","created":"…","modified":"…","name":"Example CERT","identity_class":"organization"},
//! {"type":"marking-definition","spec_version":"2.1","id":"marking-definition--bab4a63c-…","created":"2022-10-01T00:00:00.000Z","name":"TLP:GREEN","extensions":{…}},
//! {"type":"indicator","spec_version":"2.1","id":"indicator--…","created_by_ref":"identity--…","created":"…","modified":"…","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '192.0.2.0/24']","pattern_type":"stix","pattern_version":"2.1","valid_from":"…","confidence":80,"object_marking_refs":["marking-definition--bab4a63c-…"]}
//! ]}
//! ```
//! One object per line (so `diff` and the changed-lines count work), identity first, then the
//! TLP marking definitions used, then one indicator per entry in list order.
//!
//! Patterns [X §9]: `[ipv4-addr:value = 'a']` / `'a/len'` for an address or CIDR (`ipv6-addr`
//! likewise), `[domain-name:value = 'name']`, `[url:value = '…']`,
//! `[file:hashes.'SHA-256' = '…']` (`'MD5'`, `'SHA-1'`). A wildcard `*.example.com` is written as
//! the name `example.com`: STIX has no wildcard for `domain-name:value` and a `LIKE` pattern is
//! one many consumers (edlforge's own reader included) do not convert, so the recipient gets the
//! apex name and decides about subdomains itself. Strings escape `\` and `'` [X §9.3].
//!
//! Ids are UUIDv5 [RFC 9562 §5.5] in a fixed edlforge namespace: the identity's of the
//! organization name, an indicator's of the list name, the value's key and its generation
//! (`store/share.rs`: a value returning after a revocation is a new object). Replicas and restarts
//! therefore name the same objects the same.
//!
//! Times: the stand-alone bundle (`/lists/NAME`, `edlforge compile`) is a pure function of the
//! compiled list, so it cannot know when an entry was first seen: its indicators carry
//! `created` = `modified` = `valid_from` = [`UNKNOWN_TIME`]. The TAXII collection carries the
//! real times from the share history (first publication, and one `modified` per version).
//! TLP: the compiled list keeps no per-entry TLP, so every indicator is marked with the list's
//! `max_tlp` (never less restrictive than the entry's own TLP, since entries above it are not
//! in the list). Confidence: the entry's (the highest of its sources; `[defaults] confidence`
//! when a source gave none).
//!
//! # Sources
//! - [X] STIX Version 2.1, OASIS Standard, 10 June 2021, <https://docs.oasis-open.org/cti/stix/v2.1/os/stix-v2.1-os.html>
//!   (§3.2 timestamps, §3.6 versioning and revocation, §4.7 indicator, §7.2 markings, §9 patterning).
//! - [TLP2] OASIS cti-stix-common-objects, `extension-definition-specifications/tlp-2.0`
//!   (the TLP 2.0 marking-definition objects and ids).
//! - [RFC 9562] Universally Unique IDentifiers, §5.5 UUID version 5.

use std::borrow::Cow;
use std::io::Write as _;

use uuid::Uuid;

use crate::compile::{CompiledList, IpStyle};
use crate::indicator::time;
use crate::indicator::{HashKind, Kind, Skip, Tlp, UrlValue, Value};
use crate::store::share::Item;

use super::FormatOptions;

/// No limit.
pub const DEFAULT_MAX_ENTRIES: Option<u64> = None;
/// A `domain-name:value` indicator says nothing of subdomains, and a wildcard is written as its
/// name (module doc), so how far a consumer's block reaches is theirs to decide: the floor takes
/// the reading that reaches further and holds every shared name to the wildcard rule (no name with
/// a public suffix at or below it is shared).
pub const PLAIN_NAME_COVERS_SUBDOMAINS: bool = true;
/// Every kind has a STIX pattern.
pub const KINDS: &[Kind] = &[Kind::Ip, Kind::Domain, Kind::Url, Kind::Hash];
/// Mixed lists are fine.
pub const ONE_TYPE_PER_LIST: bool = false;

/// The time written where the real one is unknown (the stand-alone bundle's indicators).
pub const UNKNOWN_TIME: &str = "1970-01-01T00:00:00.000Z";

/// The TLP 2.0 extension-definition id [TLP2].
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The edlforge UUIDv5 namespace: UUIDv5 of the URL namespace and this name, fixed forever
/// (changing it would rename every shared object).
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:edlforge:stix")
}

/// CIDRs: `ipv4-addr:value` takes an address or a CIDR block [X §6.5], never a range.
pub fn ip_style(_o: &FormatOptions) -> IpStyle {
    IpStyle::Cidr
}

/// Everything has a pattern.
pub fn admit(_v: &Value, _o: &FormatOptions) -> Result<(), Skip> {
    Ok(())
}

/// The whole URL.
pub fn url_key(u: &UrlValue) -> Cow<'_, str> {
    Cow::Borrowed(u.as_str())
}

/// The TLP 2.0 marking-definition id of a TLP [TLP2].
pub fn marking_id(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The identity id of an organization.
pub fn identity_id(organization: &str) -> String {
    let u = Uuid::new_v5(&namespace(), format!("identity\0{organization}").as_bytes());
    format!("identity--{u}")
}

/// The indicator id of a value (its [`Item::key`]) in a list, in a generation.
pub fn indicator_id(list: &str, key: &str, generation: u32) -> String {
    let name = if generation == 0 {
        format!("indicator\0{list}\0{key}")
    } else {
        format!("indicator\0{list}\0{key}\0{generation}")
    };
    format!("indicator--{}", Uuid::new_v5(&namespace(), name.as_bytes()))
}

/// The TAXII collection id of a shared list (a bare UUID, as TAXII ids are).
pub fn collection_id(list: &str) -> String {
    Uuid::new_v5(&namespace(), format!("collection\0{list}").as_bytes()).to_string()
}

/// The bundle id of a list.
pub fn bundle_id(list: &str) -> String {
    format!(
        "bundle--{}",
        Uuid::new_v5(&namespace(), format!("bundle\0{list}").as_bytes())
    )
}

/// Appends a STIX string literal (quoted; `\` and `'` escaped [X §9.3]).
fn literal(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

fn item(key: String, path: &str, value: &str, confidence: u8, tlp: Tlp) -> Item {
    let mut pattern = String::with_capacity(path.len() + value.len() + 8);
    pattern.push('[');
    pattern.push_str(path);
    pattern.push_str(" = ");
    literal(&mut pattern, value);
    pattern.push(']');
    Item {
        key,
        pattern,
        confidence,
        tlp,
    }
}

/// The entries of a compiled list as shareable items, in list order: IPv4, IPv6, domains, URLs,
/// hashes. Two entries with the same pattern (`*.x.com` and `x.com`) are one item (the first).
pub fn items(list: &CompiledList, tlp: Tlp) -> Vec<Item> {
    let mut out = Vec::with_capacity(
        list.v4.len() + list.v6.len() + list.domains.len() + list.urls.len() + list.hashes.len(),
    );
    super::for_each_ip(list, |ip| {
        let text = String::from_utf8_lossy(ip.text);
        let path = if text.contains(':') {
            "ipv6-addr:value"
        } else {
            "ipv4-addr:value"
        };
        let key = format!("{path}:{text}");
        out.push(item(key, path, &text, ip.confidence, tlp));
    });
    let mut last_domain: Option<&str> = None;
    for d in &list.domains {
        // `*.x.com` and `x.com` sort next to each other (by name); one item for both.
        if last_domain == Some(d.value.name.as_str()) {
            continue;
        }
        last_domain = Some(&d.value.name);
        let key = format!("domain-name:value:{}", d.value.name);
        out.push(item(
            key,
            "domain-name:value",
            &d.value.name,
            d.confidence,
            tlp,
        ));
    }
    for u in &list.urls {
        let key = format!("url:value:{}", u.value.as_str());
        out.push(item(key, "url:value", u.value.as_str(), u.confidence, tlp));
    }
    for h in &list.hashes {
        let path = match h.value.kind {
            HashKind::Md5 => "file:hashes.'MD5'",
            HashKind::Sha1 => "file:hashes.'SHA-1'",
            HashKind::Sha256 => "file:hashes.'SHA-256'",
        };
        let key = format!("{path}:{}", h.value.hex);
        out.push(item(key, path, &h.value.hex, h.confidence, tlp));
    }
    out
}

/// A JSON string (quoted, escaped).
fn json(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes the identity object of the producer.
pub fn write_identity(out: &mut Vec<u8>, organization: &str) {
    out.extend_from_slice(br#"{"type":"identity","spec_version":"2.1","id":"#);
    json(out, &identity_id(organization));
    let _ = write!(
        out,
        r#","created":"{UNKNOWN_TIME}","modified":"{UNKNOWN_TIME}","name":"#
    );
    json(out, organization);
    out.extend_from_slice(br#","identity_class":"organization"}"#);
}

/// Writes the TLP 2.0 marking-definition object of a TLP, as [TLP2] defines it.
pub fn write_marking(out: &mut Vec<u8>, t: Tlp) {
    let name = match t {
        Tlp::Clear => "TLP:CLEAR",
        Tlp::Green => "TLP:GREEN",
        Tlp::Amber => "TLP:AMBER",
        Tlp::AmberStrict => "TLP:AMBER+STRICT",
        Tlp::Red => "TLP:RED",
    };
    let _ = write!(
        out,
        r#"{{"type":"marking-definition","spec_version":"2.1","id":"{}","created":"2022-10-01T00:00:00.000Z","name":"{name}","extensions":{{"{TLP2_EXTENSION}":{{"extension_type":"property-extension","tlp_2_0":"{}"}}}}}}"#,
        marking_id(t),
        t.as_str()
    );
}

/// The times and state of one indicator version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps<'a> {
    /// `created` and `valid_from`.
    pub created: &'a str,
    /// `modified`.
    pub modified: &'a str,
    /// `revoked`.
    pub revoked: bool,
}

/// Writes one indicator object.
pub fn write_indicator(
    out: &mut Vec<u8>,
    id: &str,
    identity: &str,
    it: &Item,
    confidence: u8,
    tlp: Tlp,
    s: Stamps<'_>,
) {
    out.extend_from_slice(br#"{"type":"indicator","spec_version":"2.1","id":"#);
    json(out, id);
    out.extend_from_slice(br#","created_by_ref":"#);
    json(out, identity);
    let _ = write!(
        out,
        r#","created":"{}","modified":"{}","indicator_types":["malicious-activity"],"pattern":"#,
        s.created, s.modified
    );
    json(out, &it.pattern);
    let _ = write!(
        out,
        r#","pattern_type":"stix","pattern_version":"2.1","valid_from":"{}","confidence":{confidence}"#,
        s.created
    );
    if s.revoked {
        out.extend_from_slice(br#","revoked":true"#);
    }
    let _ = write!(out, r#","object_marking_refs":["{}"]}}"#, marking_id(tlp));
}

/// Writes the bundle; returns the number of indicators.
pub fn write(list: &CompiledList, o: &FormatOptions, out: &mut Vec<u8>) -> u64 {
    let tlp = o.share.tlp;
    let items = items(list, tlp);
    let identity = identity_id(&o.share.organization);
    out.extend_from_slice(br#"{"type":"bundle","id":"#);
    json(out, &bundle_id(&list.name));
    out.extend_from_slice(b",\"objects\":[\n");
    write_identity(out, &o.share.organization);
    out.extend_from_slice(b",\n");
    write_marking(out, tlp);
    let stamps = Stamps {
        created: UNKNOWN_TIME,
        modified: UNKNOWN_TIME,
        revoked: false,
    };
    for it in &items {
        out.extend_from_slice(b",\n");
        let id = indicator_id(&list.name, &it.key, 0);
        write_indicator(out, &id, &identity, it, it.confidence, tlp, stamps);
    }
    out.extend_from_slice(b"\n]}\n");
    items.len() as u64
}

/// A TAXII/STIX timestamp with microseconds, `2026-12-07T09:00:00.123456Z`, of Unix
/// microseconds [X §3.2]. Times before 1970 are written as 1970.
pub fn timestamp(micros: i64) -> String {
    time::rfc3339_micros(micros.max(0))
}

/// Reads a TAXII/STIX timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, UTC, at most nine fraction
/// digits, as [X §3.2] and TAXII 2.1 §2.1 write them) as Unix microseconds; `None` for anything
/// else (a lower-case `t`/`z` is accepted). Digits past the sixth are dropped.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 30 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let sep = |i: usize, c: u8| b.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || d < 1
        || d > time::days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let rest = s.get(19..)?.strip_suffix(['Z', 'z'])?;
    let frac = match rest.strip_prefix('.') {
        Some(f) if !f.is_empty() && f.len() <= 9 => f,
        Some(_) => return None,
        None if rest.is_empty() => "",
        None => return None,
    };
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut micros = 0i64;
    for (i, c) in frac.bytes().take(6).enumerate() {
        micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
    }
    let days = time::days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Compiler, Guard, ListPolicy};
    use crate::config::Vendor;
    use crate::format::{Format, ShareOptions};
    use crate::indicator::{parse_token, Meta};
    use crate::source::taxii::stix::convert_bundle;
    use proptest::prelude::*;

    fn format() -> Format {
        Format::new(
            Vendor::Stix,
            FormatOptions {
                share: ShareOptions {
                    organization: "Example CERT".into(),
                    tlp: Tlp::Green,
                },
                ..FormatOptions::default()
            },
        )
    }

    fn compile(name: &str, tokens: &[&str], confidence: u8) -> CompiledList {
        let f = format();
        let guard = Guard::default();
        let policy = ListPolicy {
            name: name.into(),
            kinds: KINDS.to_vec(),
            max_entries: None,
        };
        let mut c = Compiler::new(policy, &guard, &f);
        let m = c.add_meta(Meta {
            confidence: Some(confidence),
            ..Meta::default()
        });
        for t in tokens {
            if let Ok(p) = parse_token(t.as_bytes(), None) {
                c.push(p.value, m, || None);
            }
        }
        c.finish(&crate::compile::AllowSet::default())
    }

    /// What edlforge's own STIX reader makes of a bundle: the values, as text, sorted.
    fn read_back(body: &[u8]) -> Vec<String> {
        let conv = convert_bundle(body, 0).expect("our bundle is a bundle");
        assert_eq!(conv.report.total_skipped(), 0, "{:?}", conv.report);
        let mut v: Vec<String> = conv.active().map(|v| v.to_string()).collect();
        v.sort();
        v
    }

    /// The list's entries as the values a reader should get (a wildcard becomes its name).
    fn shared_values(list: &CompiledList) -> Vec<String> {
        let mut texts: Vec<String> = Vec::new();
        crate::format::for_each_ip(list, |ip| {
            texts.push(String::from_utf8_lossy(ip.text).into_owned())
        });
        texts.extend(list.domains.iter().map(|d| d.value.name.clone()));
        texts.extend(list.urls.iter().map(|u| u.value.as_str().to_string()));
        texts.extend(list.hashes.iter().map(|h| h.value.hex.clone()));
        let mut v: Vec<String> = texts
            .iter()
            .map(|t| parse_token(t.as_bytes(), None).unwrap().value.to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn writes_every_kind_and_reads_back() {
        let l = compile(
            "share",
            &[
                "45.1.2.3",
                "45.2.0.0/16",
                "2a00:1450::/32",
                "*.evil-example.net",
                "bad-example.com",
                "http://x-example.com/a'b\\c",
                "d41d8cd98f00b204e9800998ecf8427e",
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ],
            80,
        );
        let r = format().render(&l);
        assert_eq!(r.entries, 9);
        let got = read_back(&r.body);
        assert_eq!(got, shared_values(&l));
        assert!(got.contains(&"evil-example.net".to_string()), "{got:?}");
        let conv = convert_bundle(&r.body, 0).unwrap();
        for v in &conv.versions {
            assert_eq!(v.confidence, Some(80));
            assert_eq!(v.tlp, Some(Tlp::Green));
        }
        let text = String::from_utf8(r.body).unwrap();
        assert!(
            text.contains(r#""pattern":"[url:value = 'http://x-example.com/a\\'b/c']""#),
            "{text}"
        );
        assert!(text.contains(r#""name":"Example CERT""#));
        // Every line but the first and last is one object, valid JSON on its own.
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[1..lines.len() - 1] {
            let l = l.strip_suffix(',').unwrap_or(l);
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["spec_version"], "2.1");
        }
    }

    #[test]
    fn ids_are_uuid_v5_and_stable() {
        let a = indicator_id("l", "ipv4-addr:value:192.0.2.1", 0);
        assert_eq!(a, indicator_id("l", "ipv4-addr:value:192.0.2.1", 0));
        assert_ne!(a, indicator_id("m", "ipv4-addr:value:192.0.2.1", 0));
        assert_ne!(a, indicator_id("l", "ipv4-addr:value:192.0.2.1", 1));
        let u = Uuid::parse_str(a.strip_prefix("indicator--").unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 5);
        // Fixed forever: a changed namespace would rename every shared object.
        assert_eq!(
            identity_id("Example CERT"),
            format!(
                "identity--{}",
                Uuid::new_v5(&namespace(), b"identity\0Example CERT")
            )
        );
        assert_eq!(
            namespace().to_string(),
            Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:edlforge:stix").to_string()
        );
    }

    #[test]
    fn same_list_same_bytes() {
        let a = format().render(&compile("l", &["45.1.2.3", "a-example.com"], 50));
        let b = format().render(&compile("l", &["a-example.com", "45.1.2.3"], 50));
        assert_eq!(a.body, b.body);
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            timestamp(1_796_000_000_123_456),
            "2026-11-30T00:53:20.123456Z"
        );
        assert_eq!(
            timestamp(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        for s in [0i64, 951_782_400, 1_796_000_000, 4_102_444_800] {
            let t = timestamp(s * 1_000_000);
            assert_eq!(crate::source::parse::rfc3339(&t), Some(s), "{t}");
        }
    }

    #[test]
    fn parses_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.5Z"), Some(500_000));
        assert_eq!(
            parse_timestamp("2026-11-30T00:53:20.123456789Z"),
            Some(1_796_000_000_123_456)
        );
        for bad in [
            "",
            "2026-11-30",
            "2026-11-30T00:53:20",
            "2026-11-30T00:53:20.Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-30T00:53:20+01:00",
            "2026-11-30T00:53:20.1234567890Z",
            "２０２６-11-30T00:53:20Z",
            "2026-11-30T00:53:20.1éZ",
            "2026-11-30T00:53:20.1é",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn timestamps_round_trip(us in 0i64..253_402_300_799_999_999) {
            prop_assert_eq!(parse_timestamp(&timestamp(us)), Some(us));
        }

        #[test]
        fn parse_timestamp_never_panics(s in "\\PC{0,40}") {
            let _ = parse_timestamp(&s);
        }
    }

    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
            (any::<[u8; 4]>(), 8u8..=32)
                .prop_map(|(b, l)| format!("{}.{}.{}.{}/{l}", b[0], b[1], b[2], b[3])),
            any::<u128>().prop_map(|a| std::net::Ipv6Addr::from(a).to_string()),
            ("[a-z]{1,8}", "[a-z]{2,4}", any::<bool>())
                .prop_map(|(a, b, w)| format!("{}{a}.{b}", if w { "*." } else { "" })),
            ("[a-z]{1,8}", "[a-zA-Z0-9'\\\\/._-]{0,12}")
                .prop_map(|(h, p)| format!("http://{h}.example/{p}")),
            "[0-9a-f]{64}",
        ]
    }

    proptest! {
        /// Every shared entry round-trips through edlforge's own STIX reader, exactly.
        #[test]
        fn round_trips_through_our_reader(tokens in proptest::collection::vec(token(), 0..40)) {
            let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
            let l = compile("prop", &refs, 60);
            let r = format().render(&l);
            prop_assert_eq!(read_back(&r.body), shared_values(&l));
            let again = format().render(&l);
            prop_assert_eq!(r.body, again.body);
        }
    }
}
