//! Pattern parser and STIX conversion tests: one line per case, plus properties.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

/// An object from JSON; the text is leaked so the object may borrow it (tests only).
fn obj(j: &Json) -> StixObject<'static> {
    serde_json::from_str(String::leak(j.to_string())).unwrap()
}

fn objs(v: Vec<Json>) -> Vec<StixObject<'static>> {
    v.iter().map(obj).collect()
}

/// The values a pattern gives, as text, or the unsupported rule.
fn values(p: &str) -> Result<Vec<String>, String> {
    let parsed = parse_pattern(p).map_err(|e| format!("parse: {e}"))?;
    let v = pattern_values(&parsed).map_err(|r| format!("unsupported: {r}"))?;
    Ok(v.into_iter()
        .map(|w| value_of(&w).map_or_else(|s| format!("skip: {}", s.reason), |v| v.to_string()))
        .collect())
}

macro_rules! ok {
    ($name:ident, $p:expr, [$($v:expr),*]) => {
        #[test]
        fn $name() {
            assert_eq!(values($p), Ok(vec![$($v.to_string()),*]));
        }
    };
}
macro_rules! unsupported {
    ($name:ident, $p:expr) => {
        #[test]
        fn $name() {
            let got = values($p);
            assert!(matches!(&got, Err(e) if e.starts_with("unsupported")), "{got:?}");
        }
    };
}
macro_rules! bad {
    ($name:ident, $p:expr) => {
        #[test]
        fn $name() {
            let got = parse_pattern($p);
            assert!(got.is_err(), "{got:?}");
        }
    };
}

/// Past our bounds (not the grammar's): `unsupported_pattern`, not `invalid`.
macro_rules! unsupported_skip {
    ($name:ident, $p:expr) => {
        #[test]
        fn $name() {
            let o = obj(&ind("indicator--x", "2026-01-02T00:00:00Z", $p));
            let c = convert_objects([&o], NOW);
            assert_eq!(c.report.count(SkipReason::UnsupportedPattern), 1);
            assert_eq!(c.report.count(SkipReason::Invalid), 0);
        }
    };
}

ok!(v4, "[ipv4-addr:value = '198.51.100.1']", ["198.51.100.1"]);
ok!(
    v4_cidr32,
    "[ipv4-addr:value = '198.51.100.1/32']",
    ["198.51.100.1"]
);
ok!(
    v4_subset,
    "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
    ["198.51.100.0/24"]
);
ok!(
    v6,
    "[ipv6-addr:value = '2001:0db8:dead:beef:dead:beef:dead:0001/128']",
    ["2001:db8:dead:beef:dead:beef:dead:1"]
);
ok!(
    domain,
    "[domain-name:value = 'Example.COM']",
    ["example.com"]
);
ok!(
    url,
    "[url:value = 'http://z4z10farb.cn/4712']",
    ["http://z4z10farb.cn/4712"]
);
ok!(
    hash_quoted,
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    ["aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"]
);
ok!(hash_or, "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']", ["aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f", "cead3f77f6cda6ec00f57d76c9a6879f"]);
ok!(
    obs_or,
    "[ipv4-addr:value = '203.0.113.1'] OR [domain-name:value = 'evil.example']",
    ["203.0.113.1", "evil.example"]
);
ok!(
    nested_parens,
    "([ipv4-addr:value = '203.0.113.1'] OR ([domain-name:value = 'evil.example']))",
    ["203.0.113.1", "evil.example"]
);
ok!(double_equals, "[ipv4-addr:value == '8.8.8.8']", ["8.8.8.8"]);
ok!(
    block_comment,
    "[ipv4-addr:value = '8.8.8.10' /* C2 */]",
    ["8.8.8.10"]
);
ok!(
    line_comment,
    "[ipv4-addr:value = '8.8.8.11'] // note",
    ["8.8.8.11"]
);
ok!(
    comments_and_unicode_whitespace,
    "(\u{3000}[/* a */ipv4-addr:value\u{00A0}== '8.8.8.12'] // b\n OR [domain-name:value = 'evil.example'])",
    ["8.8.8.12", "evil.example"]
);
ok!(
    escapes,
    r"[url:value = 'http://evil.example/a\'b\\c']",
    // WHATWG URL parsing turns the backslash into a slash, as for any feed's URLs.
    ["http://evil.example/a'b/c"]
);
ok!(
    other_path_dropped,
    "[email-addr:value = 'x@evil.example' OR domain-name:value = 'evil.example']",
    ["evil.example"]
);
ok!(
    bad_value_is_invalid,
    "[ipv4-addr:value = '999.1.1.1']",
    ["skip: invalid"]
);
ok!(
    wrong_kind_is_skipped,
    "[ipv4-addr:value = 'evil.example']",
    ["skip: wrong_type"]
);
ok!(
    hash_alg_mismatch,
    "[file:hashes.MD5 = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    ["skip: invalid"]
);
unsupported!(
    and_inside,
    "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f' AND file:size = 10]"
);
unsupported!(
    and_between,
    "[ipv4-addr:value = '198.51.100.1'] AND [domain-name:value = 'example.com']"
);
unsupported!(
    followedby,
    "[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [domain-name:value = 'example.com']"
);
unsupported!(within, "([ipv4-addr:value = '198.51.100.1/32'] FOLLOWEDBY [domain-name:value = 'example.com']) WITHIN 600 SECONDS");
unsupported!(
    repeats,
    "[ipv4-addr:value = '198.51.100.1'] REPEATS 5 TIMES"
);
unsupported!(
    start_stop,
    "[ipv4-addr:value = '198.51.100.1'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'"
);
unsupported!(not, "[ipv4-addr:value NOT = '198.51.100.1']");
unsupported!(matches, "[url:value MATCHES '^http://evil']");
unsupported!(like, "[domain-name:value LIKE '%.evil.example']");
unsupported!(
    in_set,
    "[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]"
);
unsupported!(not_equal, "[ipv4-addr:value != '198.51.100.1']");
unsupported!(exists, "[EXISTS file:hashes.MD5]");
unsupported!(superset, "[ipv4-addr:value ISSUPERSET '198.51.100.1']");
unsupported!(only_other_paths, "[email-addr:value = 'x@evil.example']");
unsupported!(network_traffic, "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']");
bad!(empty, "");
bad!(unterminated, "[ipv4-addr:value = '1.2.3.4]");
bad!(bad_escape, r"[url:value = 'a\nb']");
bad!(no_bracket, "ipv4-addr:value = '1.2.3.4'");
bad!(trailing, "[ipv4-addr:value = '1.2.3.4'] x");
// Keywords are upper case in the grammar: `or` is a name, and the pattern does not parse.
bad!(
    lowercase_or,
    "[ipv4-addr:value = '203.0.113.1' or ipv4-addr:value = '203.0.113.2']"
);
bad!(dangling_or, "[ipv4-addr:value = '1.2.3.4' OR]");
unsupported_skip!(
    deep,
    &format!(
        "{}[ipv4-addr:value = '1.2.3.4']{}",
        "(".repeat(200),
        ")".repeat(200)
    )
);

#[test]
fn escapes_are_unescaped() {
    let p = parse_pattern(r"[file:name = 'a\'b\\c']").unwrap();
    let Pattern::Observation(Comparison::Test(t)) = p else {
        panic!()
    };
    assert_eq!(t.value, Some(Literal::Str(r"a'b\c".into())));
}

#[test]
fn precedence_and_binds_tighter_than_or() {
    let p = parse_pattern("[a:x = 1 OR a:y = 2 AND a:z = 3]").unwrap();
    let Pattern::Observation(Comparison::Or(v)) = p else {
        panic!("{p:?}")
    };
    assert!(matches!(v[1], Comparison::And(_)));
}

#[test]
fn tlp_ids() {
    assert_eq!(
        tlp_of_marking("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"),
        Some(Tlp::Amber)
    );
    assert_eq!(
        tlp_of_marking("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"),
        Some(Tlp::AmberStrict)
    );
    assert_eq!(
        tlp_of_marking("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
        Some(Tlp::Clear)
    );
    assert_eq!(
        tlp_of_marking("marking-definition--00000000-0000-4000-8000-000000000000"),
        None
    );
}

fn ind(id: &str, modified: &str, pattern: &str) -> Json {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-01-01T00:00:00.000Z", "modified": modified,
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"
    })
}

const NOW: i64 = 1_790_000_000; // 2026-09-21

#[test]
fn newest_version_wins_and_metadata_is_read() {
    let id = "indicator--11111111-1111-4111-8111-111111111111";
    let mut new = ind(
        id,
        "2026-02-01T00:00:00.000Z",
        "[domain-name:value = 'new.example']",
    );
    new["confidence"] = json!(85);
    new["labels"] = json!(["c2", " "]);
    new["name"] = json!("C2 domain");
    new["valid_until"] = json!("2027-01-01T00:00:00Z");
    new["object_marking_refs"] = json!([
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    ]);
    let old = ind(
        id,
        "2026-01-15T00:00:00.000Z",
        "[domain-name:value = 'old.example']",
    );
    let c = convert_objects(&objs(vec![new, old]), NOW);
    assert_eq!(c.indicators_seen, 1);
    assert_eq!(c.versions.len(), 1);
    let f = &c.versions[0];
    assert_eq!(f.status, Status::Active);
    assert_eq!(f.modified.as_deref(), Some("2026-02-01T00:00:00.000Z"));
    assert_eq!(f.values.len(), 1);
    assert_eq!(f.values[0].to_string(), "new.example");
    assert_eq!(f.confidence, Some(85));
    assert_eq!(f.tags, ["c2"]);
    assert_eq!(f.tlp, Some(Tlp::Amber));
    assert_eq!(f.comment.as_deref(), Some("C2 domain"));
    assert_eq!(f.expires, rfc3339("2027-01-01T00:00:00Z"));
}

#[test]
fn revoked_expired_future_and_unsupported() {
    let mut revoked = ind(
        "indicator--a",
        "2026-01-02T00:00:00Z",
        "[ipv4-addr:value = '203.0.113.5']",
    );
    revoked["revoked"] = json!(true);
    let mut expired = ind(
        "indicator--b",
        "2026-01-02T00:00:00Z",
        "[ipv4-addr:value = '203.0.113.6']",
    );
    expired["valid_until"] = json!("2026-02-01T00:00:00Z");
    let mut future = ind(
        "indicator--c",
        "2026-01-02T00:00:00Z",
        "[ipv4-addr:value = '203.0.113.7']",
    );
    future["valid_from"] = json!("2030-01-01T00:00:00Z");
    let compound = ind(
        "indicator--d",
        "2026-01-02T00:00:00Z",
        "[ipv4-addr:value = '203.0.113.8'] AND [domain-name:value = 'x.example']",
    );
    let mut snort = ind(
        "indicator--e",
        "2026-01-02T00:00:00Z",
        "alert tcp any any -> any any",
    );
    snort["pattern_type"] = json!("snort");
    let garbage = ind("indicator--f", "2026-01-02T00:00:00Z", "[[[");
    let sco = json!({"type": "ipv4-addr", "id": "ipv4-addr--x", "value": "203.0.113.9"});
    let c = convert_objects(
        &objs(vec![
            revoked, expired, future, compound, snort, garbage, sco,
        ]),
        NOW,
    );
    assert_eq!(c.active().count(), 0);
    let w: Vec<String> = c.withdrawn().map(|v| v.to_string()).collect();
    assert_eq!(w, ["203.0.113.5", "203.0.113.6"]);
    let statuses: Vec<(&str, Status)> = c
        .versions
        .iter()
        .map(|v| (v.id.as_str(), v.status))
        .collect();
    // Withdrawals by id; the future one kept pending with its start; the unsupported and
    // unparsable newest versions assert nothing.
    assert_eq!(
        statuses,
        [
            ("indicator--a", Status::Revoked),
            ("indicator--b", Status::Expired),
            ("indicator--c", Status::Active),
            ("indicator--d", Status::Active),
            ("indicator--e", Status::Active),
            ("indicator--f", Status::Active),
        ]
    );
    assert_eq!(c.versions[2].starts, rfc3339("2030-01-01T00:00:00Z"));
    assert!(c.versions[2].is_pending());
    let pending: Vec<String> = c.pending().map(|v| v.to_string()).collect();
    assert_eq!(pending, ["203.0.113.7"]);
    assert!(c.versions[3..].iter().all(|v| v.values.is_empty()));
    assert!(c
        .versions
        .iter()
        .all(|v| v.starts.is_none() || v.id == "indicator--c"));
    assert_eq!(c.report.count(SkipReason::UnsupportedPattern), 2);
    assert_eq!(c.report.count(SkipReason::Expired), 1);
    assert_eq!(c.report.count(SkipReason::NotYetValid), 1);
    assert_eq!(c.report.count(SkipReason::Invalid), 1);
    assert_eq!(c.indicators_seen, 6);
    assert_eq!(
        c.report.examples(SkipReason::UnsupportedPattern)[0]
            .origin
            .as_deref(),
        Some("indicator--d")
    );
}

#[test]
fn odd_field_types_read_as_absent() {
    let o = obj(&json!({
        "type": "indicator", "id": 7, "labels": "x", "confidence": 300, "revoked": "yes",
        "object_marking_refs": [1, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
        "name": {"nested": [1, {"x": "y"}]}, "modified": null, "pattern": ["a"]
    }));
    assert_eq!((o.name, o.modified, o.pattern), (None, None, None));
    assert_eq!(o.id, None);
    assert!(o.labels.is_empty());
    assert_eq!((o.confidence, o.revoked), (None, None));
    assert_eq!(o.object_marking_refs.len(), 1);
}

#[test]
fn bundles() {
    let b = json!({"type": "bundle", "id": "bundle--1", "objects": [
        ind("indicator--a", "2026-01-02T00:00:00Z", "[url:value = 'https://evil.example/x']")
    ]});
    let c = convert_bundle(b.to_string().as_bytes(), NOW).unwrap();
    assert_eq!(
        c.active().next().unwrap().to_string(),
        "https://evil.example/x"
    );
    assert!(matches!(
        convert_bundle(b"[]", NOW),
        Err(StixError::NotABundle)
    ));
    assert!(matches!(
        convert_bundle(b"<html>", NOW),
        Err(StixError::Json(_))
    ));
    assert!(convert_bundle(br#"{"type":"bundle"}"#, NOW)
        .unwrap()
        .versions
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn any_string() -> impl Strategy<Value = String> {
    "[a-z0-9'\\\\ ./:-]{0,12}"
}

fn any_timestamp() -> impl Strategy<Value = String> {
    "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,6})?Z"
}

fn any_literal() -> impl Strategy<Value = Literal> {
    let leaf = prop_oneof![
        any_string().prop_map(Literal::Str),
        (any::<i32>()).prop_map(|n| Literal::Number(n.to_string())),
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| Literal::Number(format!("{a}.{b}"))),
        any::<bool>().prop_map(Literal::Bool),
        any_timestamp().prop_map(Literal::Timestamp),
        "([0-9a-fA-F]{2}){0,4}".prop_map(Literal::Hex),
        "([A-Za-z0-9+/]{4}){0,2}([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"
            .prop_map(Literal::Binary),
    ];
    leaf
}

fn any_path() -> impl Strategy<Value = ObjectPath> {
    let step = prop_oneof![
        "[a-z_][a-z0-9_]{0,6}".prop_map(Step::Key),
        "[A-Z0-9 '-]{1,8}".prop_map(Step::Key),
        (-9i32..99).prop_map(|n| Step::Index(n.to_string())),
        Just(Step::Any),
    ];
    (
        prop_oneof![
            Just("ipv4-addr".to_string()),
            Just("file".to_string()),
            "[a-z][a-z0-9-]{0,8}"
        ],
        "[a-z_][a-z0-9_]{0,6}",
        prop::collection::vec(step, 0..3),
    )
        .prop_filter("no keywords as names", |(t, k, _)| {
            !is_keyword(t) && !is_keyword(k)
        })
        .prop_map(|(object_type, first, rest)| {
            let mut steps = vec![Step::Key(first)];
            steps.extend(rest);
            ObjectPath { object_type, steps }
        })
}

fn any_test() -> impl Strategy<Value = Test> {
    let op = prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge),
        Just(Op::In),
        Just(Op::Like),
        Just(Op::Matches),
        Just(Op::IsSubset),
        Just(Op::IsSuperset),
        Just(Op::Exists),
    ];
    (
        any_path(),
        any::<bool>(),
        op,
        any_literal(),
        prop::collection::vec(any_literal(), 0..3),
    )
        .prop_map(|(path, negated, op, lit, set)| match op {
            Op::Exists => Test {
                path,
                negated,
                op,
                value: None,
            },
            Op::In => Test {
                path,
                negated,
                op,
                value: Some(Literal::Set(set)),
            },
            // The grammar's literal per operator: a string after LIKE, MATCHES, ISSUBSET,
            // ISSUPERSET; no boolean after an order.
            Op::Like | Op::Matches | Op::IsSubset | Op::IsSuperset => Test {
                path,
                negated,
                op,
                value: Some(Literal::Str(match lit {
                    Literal::Str(s) => s,
                    other => other.to_string(),
                })),
            },
            Op::Lt | Op::Le | Op::Gt | Op::Ge if matches!(lit, Literal::Bool(_)) => Test {
                path,
                negated,
                op,
                value: Some(Literal::Number("0".into())),
            },
            _ => Test {
                path,
                negated,
                op,
                value: Some(lit),
            },
        })
}

fn any_comparison() -> impl Strategy<Value = Comparison> {
    any_test()
        .prop_map(Comparison::Test)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Comparison::Or),
                prop::collection::vec(inner, 2..4).prop_map(Comparison::And),
            ]
        })
}

fn any_pattern() -> impl Strategy<Value = Pattern> {
    let q = prop_oneof![
        (1u32..1000).prop_map(|n| Qualifier::Within(n.to_string())),
        (0u32..100, 1u32..100).prop_map(|(a, b)| Qualifier::Within(format!("{a}.{b}"))),
        (1u32..100).prop_map(|n| Qualifier::Repeats(n.to_string())),
        (any_timestamp(), any_timestamp()).prop_map(|(a, b)| Qualifier::StartStop(a, b)),
    ];
    any_comparison()
        .prop_map(Pattern::Observation)
        .prop_recursive(3, 10, 3, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4).prop_map(Pattern::Or),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Pattern::And),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Pattern::FollowedBy),
                (inner, q.clone()).prop_map(|(p, q)| Pattern::Qualified(Box::new(p), q)),
            ]
        })
}

proptest! {
    // Printing then parsing gives the same tree (the printer parenthesises every operand, so
    // the tree survives as built, nesting included).
    #[test]
    fn print_parse_round_trip(p in any_pattern()) {
        let text = p.to_string();
        let back = parse_pattern(&text);
        prop_assert_eq!(back.as_ref(), Ok(&flatten(p.clone())), "{}", text);
    }

    // Arbitrary text never panics, and whatever parses prints to text that parses to the same.
    #[test]
    fn arbitrary_text_never_panics(s in "[\\[\\]()':=!<>a-zA-Z0-9 .,*_/+-]{0,60}") {
        if let Ok(p) = parse_pattern(&s) {
            let again = parse_pattern(&p.to_string());
            prop_assert_eq!(again.as_ref(), Ok(&p));
        }
    }

    // Conversion never panics on any pattern, and never emits anything for one with AND,
    // FOLLOWEDBY or a qualifier at the observation level.
    #[test]
    fn compound_observations_are_never_converted(p in any_pattern()) {
        if !matches!(p, Pattern::Observation(_) | Pattern::Or(_)) {
            prop_assert!(pattern_values(&p).is_err());
        }
    }
}

/// The tree the parser builds from a printed tree: parentheses do not create nodes, so a
/// parenthesised `Or` inside an `Or` stays a child (not flattened), and the printer's extra
/// parentheses around an observation change nothing.
fn flatten(p: Pattern) -> Pattern {
    p
}

#[test]
fn strings_with_json_escapes_are_read_and_plain_ones_borrowed() {
    let body = r#"{"more": true, "next": 42, "objects": [
        {"type": "indicator", "id": "indicator--e", "modified": "2026-01-02T00:00:00Z",
         "pattern": "[url:value = 'http:\/\/evil.example\/a\u0062']", "pattern_type": "stix",
         "valid_from": "2026-01-01T00:00:00Z", "labels": ["c2", 3, "\u0078"]}
    ]}"#;
    let env: Envelope = serde_json::from_str(body).unwrap();
    let o = &env.objects.as_ref().unwrap()[0];
    assert!(matches!(o.id, Some(Cow::Borrowed(_))));
    assert_eq!(o.labels, ["c2", "x"]);
    let c = convert_objects([o], NOW);
    assert_eq!(
        c.active().next().unwrap().to_string(),
        "http://evil.example/ab"
    );
    let paging: Paging = serde_json::from_str(body).unwrap();
    assert_eq!(
        (paging.more, paging.next.as_deref()),
        (Some(true), Some("42"))
    );
}
