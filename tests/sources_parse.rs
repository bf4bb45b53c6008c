//! `source::parse`: one fixture per real feed family (written for these tests in the documented
//! layouts, no real feed data), the whole-body errors, skip counts with origins, CRLF and BOM,
//! and never-panic properties for every format.

use edlforge::indicator::{Kind, SkipReason};
use edlforge::source::parse::{
    parse_feed, Column, FeedFormat, ParseError, ParseSpec, ParsedFeed, SpecProblem,
};
use proptest::prelude::*;

use crate::support::fixture;

fn feed(name: &str) -> Vec<u8> {
    let path = fixture(&format!("feeds/{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(source: &str, body: &[u8], spec: &ParseSpec) -> ParsedFeed {
    let f = parse_feed(source, body, spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        f.indicators.len() as u64 + f.report.total_skipped(),
        f.records_seen,
        "every record is an indicator or a skip"
    );
    f
}

fn values(f: &ParsedFeed) -> Vec<String> {
    f.indicators.iter().map(|i| i.value.to_string()).collect()
}

fn comments(f: &ParsedFeed) -> Vec<Option<&str>> {
    f.indicators.iter().map(|i| i.comment.as_deref()).collect()
}

/// `(origin, value)` of the examples kept for `reason`.
fn examples(f: &ParsedFeed, reason: SkipReason) -> Vec<(String, String)> {
    f.report
        .examples(reason)
        .iter()
        .map(|e| (e.origin.clone().unwrap_or_default(), e.value.clone()))
        .collect()
}

fn spec(format: FeedFormat) -> ParseSpec {
    ParseSpec::new(format)
}

fn csv_spec(column: &str) -> ParseSpec {
    ParseSpec {
        column: Some(Column::Name(column.into())),
        ..spec(FeedFormat::Csv)
    }
}

fn json_spec(format: FeedFormat, value: &str) -> ParseSpec {
    ParseSpec {
        value_path: Some(value.into()),
        ..spec(format)
    }
}

// ---- one test per feed family ----

#[test]
fn spamhaus_drop_text() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        ..spec(FeedFormat::Text)
    };
    let f = parse("spamhaus-drop", &feed("spamhaus_drop.txt"), &s);
    assert_eq!(
        values(&f),
        [
            "31.24.81.0/24",
            "45.134.26.0/24",
            "62.122.184.0/22",
            "91.243.80.0/23",
            "103.77.240.0/21",
            "185.254.120.0/22", // host bits masked
            "2a07:dd40::/29",
        ]
    );
    assert_eq!(comments(&f)[0], Some("SBL711001"));
    assert_eq!(comments(&f)[6], Some("SBL711007"));
    assert_eq!(
        f.records_seen, 7,
        "the four `;` header lines are not records"
    );
    assert_eq!(f.report.total_skipped(), 0);
    assert_eq!(f.report.normalized, 1);
}

#[test]
fn spamhaus_drop_jsonl_with_metadata_trailer() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        comment_path: Some("sblid".into()),
        tags_path: Some("rir".into()),
        ..json_spec(FeedFormat::Jsonl, "cidr")
    };
    let f = parse("spamhaus-drop-v4", &feed("spamhaus_drop_v4.jsonl"), &s);
    assert_eq!(
        values(&f),
        [
            "31.24.81.0/24",
            "45.134.26.0/24",
            "62.122.184.0/22",
            "103.77.240.0/21",
            "152.89.196.0/24"
        ]
    );
    assert_eq!(f.indicators[3].comment.as_deref(), Some("SBL711005"));
    assert_eq!(f.indicators[3].tags, ["apnic"]);
    // The trailer is a counted record without the value field, not an error.
    assert_eq!(f.records_seen, 6);
    assert_eq!(f.report.count(SkipReason::Invalid), 1);
    let ex = examples(&f, SkipReason::Invalid);
    assert_eq!(ex[0].0, "spamhaus-drop-v4:6");
    assert!(ex[0].1.starts_with(r#"{"copyright":"#), "{ex:?}");
    assert_eq!(
        f.report.examples(SkipReason::Invalid)[0].detail,
        "no value at value_path"
    );
}

#[test]
fn feodo_csv_header_not_commented() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        comment_path: Some("malware".into()),
        tags_path: Some("c2_status".into()),
        ..csv_spec("dst_ip")
    };
    let f = parse("feodo", &feed("feodo_ipblocklist.csv"), &s);
    assert_eq!(
        values(&f),
        [
            "94.158.245.81",
            "45.61.136.7",
            "162.243.103.246",
            "185.117.73.10"
        ]
    );
    assert_eq!(
        comments(&f),
        [
            Some("QakBot"),
            Some("Pikabot"),
            Some("QakBot"),
            Some("Emotet")
        ]
    );
    assert_eq!(f.indicators[2].tags, ["offline"]);
    assert_eq!(f.records_seen, 4, "header and `#` lines are not records");
}

#[test]
fn urlhaus_csv_commented_header_and_commas_in_tags() {
    let s = ParseSpec {
        kind: Some(Kind::Url),
        header_in_comment: true,
        tags_path: Some("tags".into()),
        comment_path: Some("threat".into()),
        ..csv_spec("url")
    };
    let f = parse("urlhaus", &feed("urlhaus_csv_recent.csv"), &s);
    assert_eq!(
        values(&f),
        [
            "http://117.222.54.19:41823/i",
            "https://kwetzal-update.top/dl/invoice_0410.zip",
            "http://[2a01:7c8:aac1:5a::7]:8080/bins/x86",
            "http://lorvenhaus-cdn.xyz/wp-content/plugins/a.php?id=%227%22",
        ]
    );
    assert_eq!(f.indicators[0].tags, ["32-bit", "elf", "mips", "Mozi"]);
    assert_eq!(f.indicators[1].tags, ["zip", "AsyncRAT"]);
    assert!(f.indicators[3].tags.is_empty());
    assert_eq!(f.indicators[0].comment.as_deref(), Some("malware_download"));
    assert_eq!(f.records_seen, 4);
}

#[test]
fn threatfox_csv_comma_space_separators_crlf() {
    let body = feed("threatfox_recent.csv");
    assert!(body.windows(2).any(|w| w == b"\r\n"), "fixture has CRLF");
    let s = ParseSpec {
        header_in_comment: true,
        confidence_path: Some("confidence_level".into()),
        tags_path: Some("tags".into()),
        comment_path: Some("malware_printable".into()),
        ..csv_spec("ioc_value")
    };
    let f = parse("threatfox", &body, &s);
    assert_eq!(
        values(&f),
        [
            "kwetzal-update.top",
            "91.92.242.17", // ip:port, port dropped
            "2a0e:97c0:3e3:2ba::1",
            "https://paypa1-secure-login.xyz/verify/",
            "5f3c0e1ad9b27a41e8c6d4b0f29a7e15c3d8b6a04f1e92c7d5b3a6e8f0c1d2b4",
        ]
    );
    let conf: Vec<Option<u8>> = f.indicators.iter().map(|i| i.confidence).collect();
    // "high" is not a number: ignored, the indicator kept.
    assert_eq!(conf, [Some(100), Some(75), Some(50), None, Some(100)]);
    assert_eq!(f.indicators[0].tags, ["ClearFake", "win-0x4679", "windows"]);
    assert_eq!(f.indicators[1].comment.as_deref(), Some("Cobalt Strike"));
    assert_eq!(f.records_seen, 5);

    // The same feed with a fixed kind: the others are `wrong_type`, with line origins.
    let ip_only = ParseSpec {
        kind: Some(Kind::Ip),
        ..s
    };
    let f = parse("threatfox", &body, &ip_only);
    assert_eq!(values(&f), ["91.92.242.17", "2a0e:97c0:3e3:2ba::1"]);
    assert_eq!(f.report.count(SkipReason::WrongType), 3);
    let ex = examples(&f, SkipReason::WrongType);
    assert_eq!(ex[0], ("threatfox:9".into(), "kwetzal-update.top".into()));
    assert_eq!(ex[1].0, "threatfox:12");
}

#[test]
fn sslbl_csv_header_in_comment_unquoted() {
    let s = ParseSpec {
        kind: Some(Kind::Hash),
        header_in_comment: true,
        comment_path: Some("Listingreason".into()),
        ..csv_spec("SHA1")
    };
    let f = parse("sslbl", &feed("sslbl_blacklist.csv"), &s);
    assert_eq!(
        values(&f),
        [
            "7a3c5e19d2b84f06a1c9e3d5b7f20846c1a9e3d2",
            "e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e",
        ]
    );
    // A reason with a comma spills into a fourth field; the comment column keeps its first part.
    assert_eq!(comments(&f), [Some("AsyncRAT C&C"), Some("Vidar C&C")]);
    assert_eq!(f.report.count(SkipReason::Invalid), 1);
    assert_eq!(
        examples(&f, SkipReason::Invalid),
        [(
            "sslbl:11".to_string(),
            "2026-09-29 10:44:09,,Truncated row".to_string()
        )]
    );
}

#[test]
fn firehol_netset_metadata_comments() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        ..spec(FeedFormat::Text)
    };
    let f = parse("firehol-level1", &feed("firehol_level1.netset"), &s);
    assert_eq!(
        values(&f),
        [
            "5.188.10.0/23",
            "31.24.81.0/24",
            "45.134.26.0/24",
            "62.122.184.0/22",
            "91.92.242.17",
            "185.254.120.0/22"
        ]
    );
    assert_eq!(f.records_seen, 6);
    assert!(f.indicators.iter().all(|i| i.comment.is_none()));
}

#[test]
fn tor_exit_addresses_regex() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        regex: Some(regex::Regex::new(r"^ExitAddress\s+(\S+)\s").expect("constant regex")),
        ..spec(FeedFormat::Text)
    };
    let f = parse("tor-exits", &feed("tor_exit_addresses.txt"), &s);
    assert_eq!(
        values(&f),
        [
            "146.70.119.38",
            "94.102.61.203",
            "2a0c:b9c1:5:1::33",
            "178.17.171.102"
        ]
    );
    // ExitNode, Published and LastStatus lines do not match: not records, not skips.
    assert_eq!(f.records_seen, 4);
}

#[test]
fn regex_capture_that_is_not_an_indicator_is_counted() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        regex: Some(regex::Regex::new(r"^ExitAddress\s+(\S*)").expect("constant regex")),
        ..spec(FeedFormat::Text)
    };
    let body = b"ExitNode AB\nExitAddress 1.2.3.999 x\nExitAddress \n# ExitAddress 9.9.9.9 x\n";
    let f = parse("tor", body, &s);
    assert!(
        f.indicators.is_empty(),
        "a commented-out line never matches"
    );
    assert_eq!(f.records_seen, 2);
    assert_eq!(
        examples(&f, SkipReason::Invalid)
            .into_iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        ["tor:2", "tor:3"]
    );
}

#[test]
fn phishtank_json_array() {
    let s = ParseSpec {
        kind: Some(Kind::Url),
        comment_path: Some("target".into()),
        expires_path: Some("no_such_field".into()),
        ..json_spec(FeedFormat::Json, "url")
    };
    let body = feed("phishtank_online_valid.json");
    let f = parse("phishtank", &body, &s);
    assert_eq!(
        values(&f),
        [
            "https://paypa1-secure-login.xyz/signin/",
            "http://secure-kwetzalbank.com.login-verify.top/acc/?session=9f2e",
            "https://lorvenhaus-docs.web.app/share/view",
        ]
    );
    assert_eq!(
        comments(&f),
        [Some("PayPal"), Some("Other"), Some("Microsoft")]
    );
    assert!(f.indicators.iter().all(|i| i.expires.is_none()));
    assert_eq!(f.records_seen, 4);
    assert_eq!(
        f.report.examples(SkipReason::Invalid)[0].origin.as_deref(),
        Some("phishtank:item 4")
    );
    assert_eq!(
        f.report.examples(SkipReason::Invalid)[0].detail,
        "value is null"
    );

    // The hosting IP, by pointer and by dotted path: items without one are counted.
    for path in ["/details/0/ip_address", "details.0.ip_address"] {
        let s = ParseSpec {
            kind: Some(Kind::Ip),
            ..json_spec(FeedFormat::Json, path)
        };
        let f = parse("phishtank", &body, &s);
        assert_eq!(values(&f), ["91.92.242.17", "172.67.181.44"], "{path}");
        assert_eq!(f.report.count(SkipReason::Invalid), 2);
    }
}

#[test]
fn otx_nested_items() {
    let s = ParseSpec {
        items: Some("/results/*/indicators".into()),
        expires_path: Some("expiration".into()),
        comment_path: Some("title".into()),
        ..json_spec(FeedFormat::Json, "indicator")
    };
    let body = feed("otx_pulses_subscribed.json");
    let f = parse("otx", &body, &s);
    assert_eq!(
        values(&f),
        [
            "91.92.242.17",
            "kwetzal-update.top",
            "https://kwetzal-update.top/dl/invoice_0410.zip",
            "5f3c0e1ad9b27a41e8c6d4b0f29a7e15c3d8b6a04f1e92c7d5b3a6e8f0c1d2b4",
            "login-verify.top",
            "paypa1-secure-login.xyz", // refanged
        ]
    );
    let expires: Vec<Option<i64>> = f.indicators.iter().map(|i| i.expires).collect();
    // 2026-11-02T18:00:00 and 2026-10-16T09:40:00, no offset: UTC (GNU date -u).
    assert_eq!(
        expires,
        [
            Some(1_793_642_400),
            None,
            None,
            None,
            Some(1_792_143_600),
            None
        ]
    );
    assert_eq!(
        comments(&f),
        [
            Some("C2 server"),
            None,
            None,
            Some("loader"),
            None,
            Some("defanged in source")
        ]
    );
    assert_eq!(f.report.normalized, 1);
    // The pulse without indicators is one counted skip at its pointer.
    assert_eq!(f.records_seen, 7);
    assert_eq!(
        examples(&f, SkipReason::Invalid),
        [(
            "otx:/results/2/indicators".to_string(),
            "missing at /results/2/indicators".to_string()
        )]
    );

    // With a fixed kind, nested origins name the item's pointer.
    let domains = ParseSpec {
        kind: Some(Kind::Domain),
        ..s
    };
    let f = parse("otx", &body, &domains);
    assert_eq!(f.report.count(SkipReason::WrongType), 3);
    assert_eq!(
        examples(&f, SkipReason::WrongType)[0].0,
        "otx:item 1 (/results/0/indicators/0)"
    );
}

#[test]
fn otx_dotted_items_path() {
    let s = ParseSpec {
        items: Some("results.*.indicators".into()),
        ..json_spec(FeedFormat::Json, "indicator")
    };
    let f = parse("otx", &feed("otx_pulses_subscribed.json"), &s);
    assert_eq!(f.indicators.len(), 6);
}

// ---- whole-body errors ----

#[test]
fn bad_json_names_line_and_column() {
    let body = b"{\n  \"results\": [\n    {\"indicator\": \"1.2.3.4\"},\n  ]\n}\n";
    let s = ParseSpec {
        items: Some("/results".into()),
        ..json_spec(FeedFormat::Json, "indicator")
    };
    let e = parse_feed("otx", body, &s).unwrap_err();
    assert!(matches!(e, ParseError::Json { line: 4, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "source \"otx\": body is not valid JSON (line 4, column 3); check that the URL serves \
         JSON, and use format = \"jsonl\" for one object per line"
    );
    assert!(
        std::error::Error::source(&e).is_some(),
        "serde's message is the cause"
    );
}

#[test]
fn html_body_for_json_is_an_error() {
    let s = json_spec(FeedFormat::Json, "url");
    let e = parse_feed("phishtank", b"<!DOCTYPE html><html>", &s).unwrap_err();
    assert!(e.to_string().contains("line 1, column 1"), "{e}");
}

#[test]
fn csv_unknown_column_lists_the_header() {
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        ..csv_spec("ip_address")
    };
    let e = parse_feed("feodo", &feed("feodo_ipblocklist.csv"), &s).unwrap_err();
    assert_eq!(
        e.to_string(),
        "source \"feodo\": CSV column \"ip_address\" is not in the header, which has: \
         \"first_seen_utc\", \"dst_ip\", \"dst_port\", \"c2_status\", \"last_online\", \
         \"malware\"; use one of these names or a 0-based index"
    );
    // A metadata column is checked the same way.
    let s = ParseSpec {
        confidence_path: Some("confidence".into()),
        ..csv_spec("dst_ip")
    };
    let e = parse_feed("feodo", &feed("feodo_ipblocklist.csv"), &s).unwrap_err();
    assert!(
        matches!(&e, ParseError::UnknownColumn { column, .. } if column == "confidence"),
        "{e:?}"
    );
}

#[test]
fn csv_header_in_comment_missing() {
    let s = ParseSpec {
        header_in_comment: true,
        ..csv_spec("url")
    };
    let e = parse_feed("urlhaus", b"\"1\",\"http://a.kwetzal.top/\"\n", &s).unwrap_err();
    assert!(matches!(e, ParseError::NoHeader { .. }), "{e:?}");
    assert!(e.to_string().contains("header_in_comment"), "{e}");
    // Without data there is nothing to read and nothing wrong.
    let f = parse("urlhaus", b"# only a banner\n", &s);
    assert_eq!(f.records_seen, 0);
}

#[test]
fn csv_header_from_a_format_change_is_caught() {
    // The header moved out of the comment: the last comment line is read as the header and
    // does not name the column, so the fetch fails instead of reading rows wrongly.
    let s = ParseSpec {
        header_in_comment: true,
        ..csv_spec("url")
    };
    let body = b"# URLhaus dump\n\"id\",\"url\"\n\"1\",\"http://a.kwetzal.top/\"\n";
    let e = parse_feed("urlhaus", body, &s).unwrap_err();
    assert!(
        matches!(&e, ParseError::UnknownColumn { header, .. } if header == &["URLhaus dump"]),
        "{e:?}"
    );
}

#[test]
fn items_not_an_array() {
    let body = br#"{"count": 0, "results": {"indicator": "1.2.3.4"}}"#;
    for (items, found) in [
        ("/results", "an object"),
        ("/missing", "missing"),
        ("", "an object"),
    ] {
        let s = ParseSpec {
            items: Some(items.into()),
            ..json_spec(FeedFormat::Json, "indicator")
        };
        let e = parse_feed("otx", body, &s).unwrap_err();
        assert!(
            matches!(&e, ParseError::ItemsNotArray { found: f, .. } if *f == found),
            "{items}: {e:?}"
        );
    }
    let s = ParseSpec {
        items: Some("/results".into()),
        ..json_spec(FeedFormat::Json, "indicator")
    };
    let e = parse_feed("otx", br#"{"results": null}"#, &s).unwrap_err();
    assert_eq!(
        e.to_string(),
        "source \"otx\": items \"/results\" is null, not an array; set items to the path of \
         the array of indicators (\"\" for a top-level array)"
    );
}

#[test]
fn utf16_body_is_an_error() {
    let body = b"\xFF\xFE1\x00.\x002\x00";
    for format in [FeedFormat::Text, FeedFormat::Csv, FeedFormat::Json] {
        let s = ParseSpec {
            column: Some(Column::Index(0)),
            value_path: Some(String::new()),
            ..spec(format)
        };
        let e = parse_feed("x", body, &s).unwrap_err();
        assert!(matches!(e, ParseError::Utf16 { .. }), "{format}: {e:?}");
    }
}

#[test]
fn spec_problems_are_errors() {
    let e = parse_feed("feodo", b"1.2.3.4\n", &spec(FeedFormat::Csv)).unwrap_err();
    assert!(
        matches!(
            e,
            ParseError::Spec {
                problem: SpecProblem::MissingColumn,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "source \"feodo\": format csv needs a column (a header name or a 0-based index); fix \
         the source's format settings"
    );
    let s = ParseSpec {
        regex: Some(regex::Regex::new(r"\S+").expect("constant regex")),
        ..spec(FeedFormat::Text)
    };
    let e = parse_feed("tor", b"1.2.3.4\n", &s).unwrap_err();
    assert!(e.to_string().contains("exactly one capture group"), "{e}");
}

// ---- skips, origins, CRLF, BOM ----

#[test]
fn text_skips_are_counted_with_origins() {
    let body = b"# list\n1.2.3.4\nevil-kwetzal.top\n1.2.3.999 ; typo\n\n5.6.7.8/33\n<html>\n";
    let s = ParseSpec {
        kind: Some(Kind::Ip),
        ..spec(FeedFormat::Text)
    };
    let f = parse("mixed", body, &s);
    assert_eq!(values(&f), ["1.2.3.4"]);
    assert_eq!(f.records_seen, 5);
    assert_eq!(f.report.count(SkipReason::WrongType), 1);
    assert_eq!(f.report.count(SkipReason::Invalid), 3);
    assert_eq!(
        examples(&f, SkipReason::WrongType),
        [("mixed:3".to_string(), "evil-kwetzal.top".to_string())]
    );
    let invalid: Vec<String> = examples(&f, SkipReason::Invalid)
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(invalid, ["mixed:4", "mixed:6", "mixed:7"]);
    assert_eq!(
        examples(&f, SkipReason::Invalid)[0].1,
        "1.2.3.999 ; typo",
        "text examples are the line"
    );
}

#[test]
fn text_custom_comment_prefix() {
    let s = ParseSpec {
        comment: Some("!".into()),
        ..spec(FeedFormat::Text)
    };
    let f = parse(
        "adblockish",
        b"! Title: x\n  ! note\nkwetzal-update.top\n",
        &s,
    );
    assert_eq!(values(&f), ["kwetzal-update.top"]);
    assert_eq!(f.records_seen, 1);
}

#[test]
fn crlf_and_bom_in_every_format() {
    let text = b"\xEF\xBB\xBF1.2.3.4 ; SBL1\r\n5.6.7.0/24\r\n";
    let f = parse("t", text, &spec(FeedFormat::Text));
    assert_eq!(values(&f), ["1.2.3.4", "5.6.7.0/24"]);
    assert_eq!(comments(&f), [Some("SBL1"), None]);

    let csv = b"\xEF\xBB\xBFip,note\r\n1.2.3.4,a\r\n\"5.6.7.8\",\"b\"\r\n";
    let s = ParseSpec {
        comment_path: Some("note".into()),
        ..csv_spec("ip")
    };
    let f = parse("c", csv, &s);
    assert_eq!(values(&f), ["1.2.3.4", "5.6.7.8"]);
    assert_eq!(comments(&f), [Some("a"), Some("b")]);

    let jsonl = b"\xEF\xBB\xBF{\"v\":\"1.2.3.4\"}\r\n\r\n{\"v\":\"5.6.7.8\"}\r\n";
    let f = parse("j", jsonl, &json_spec(FeedFormat::Jsonl, "v"));
    assert_eq!(values(&f), ["1.2.3.4", "5.6.7.8"]);
    assert_eq!(f.records_seen, 2);

    let json = b"\xEF\xBB\xBF[\r\n\"1.2.3.4\",\r\n\"5.6.7.8\"\r\n]\r\n";
    let f = parse("d", json, &json_spec(FeedFormat::Json, ""));
    assert_eq!(values(&f), ["1.2.3.4", "5.6.7.8"]);
}

#[test]
fn csv_without_header_by_index() {
    let s = ParseSpec {
        column: Some(Column::Index(1)),
        header: false,
        confidence_path: Some("2".into()),
        ..spec(FeedFormat::Csv)
    };
    let f = parse("idx", b"x,1.2.3.4,90\ny,kwetzal-update.top,\nz\n", &s);
    assert_eq!(values(&f), ["1.2.3.4", "kwetzal-update.top"]);
    assert_eq!(f.indicators[0].confidence, Some(90));
    assert_eq!(f.indicators[1].confidence, None);
    assert_eq!(
        examples(&f, SkipReason::Invalid),
        [("idx:3".to_string(), "z".to_string())]
    );
}

#[test]
fn csv_tab_delimiter_and_custom_comment() {
    let s = ParseSpec {
        delimiter: b'\t',
        comment: Some("//".into()),
        ..csv_spec("indicator")
    };
    let f = parse(
        "tsv",
        b"// banner\nid\tindicator\n1\tkwetzal-update.top\n",
        &s,
    );
    assert_eq!(values(&f), ["kwetzal-update.top"]);
}

#[test]
fn csv_unclosed_quote_costs_one_line() {
    let s = ParseSpec {
        column: Some(Column::Index(0)),
        header: false,
        ..spec(FeedFormat::Csv)
    };
    let body = b"1.2.3.4\n\"5.6.7.8,x\n9.9.9.9\n8.8.4.4\n";
    let f = parse("q", body, &s);
    assert_eq!(values(&f), ["1.2.3.4", "9.9.9.9", "8.8.4.4"]);
    assert_eq!(
        examples(&f, SkipReason::Invalid),
        [("q:2".to_string(), "\"5.6.7.8,x".to_string())]
    );
    assert_eq!(
        f.report.examples(SkipReason::Invalid)[0].detail,
        "quoted CSV field not closed"
    );
}

#[test]
fn csv_multiline_field_keeps_line_numbers() {
    let s = ParseSpec {
        comment_path: Some("note".into()),
        ..csv_spec("ip")
    };
    let body = b"ip,note\n1.2.3.4,\"two\nlines\"\n1.2.3.999,x\n";
    let f = parse("m", body, &s);
    assert_eq!(comments(&f), [Some("two\nlines")]);
    assert_eq!(examples(&f, SkipReason::Invalid)[0].0, "m:4");
}

#[test]
fn json_metadata_fields() {
    let body = br#"{"data": [
        {"ioc": {"value": "kwetzal-update.top"}, "score": "87", "valid_until": 1793750400,
         "labels": ["loader", " c2 "], "note": "seen in campaign 7"},
        {"ioc": {"value": "paypa1-secure-login.xyz"}, "score": 250, "valid_until": 0,
         "labels": "phishing,paypal", "note": ""},
        {"ioc": {"value": "lorvenhaus-cdn.xyz"}, "score": 12.4, "valid_until": "2026-11-04T12:30:00+02:00",
         "labels": [{"name": "tlp:green"}], "note": 42},
        {"ioc": {"value": 12345}},
        "not an object"
    ]}"#;
    let s = ParseSpec {
        items: Some("data".into()),
        confidence_path: Some("score".into()),
        expires_path: Some("/valid_until".into()),
        tags_path: Some("labels".into()),
        comment_path: Some("note".into()),
        ..json_spec(FeedFormat::Json, "ioc.value")
    };
    let f = parse("vendor", body, &s);
    assert_eq!(
        values(&f),
        [
            "kwetzal-update.top",
            "paypa1-secure-login.xyz",
            "lorvenhaus-cdn.xyz"
        ]
    );
    let i = &f.indicators;
    assert_eq!(
        (i[0].confidence, i[1].confidence, i[2].confidence),
        (Some(87), None, Some(12))
    );
    assert_eq!(
        (i[0].expires, i[1].expires, i[2].expires),
        (Some(1_793_750_400), None, Some(1_793_788_200))
    );
    assert_eq!(i[0].tags, ["loader", "c2"]);
    assert_eq!(i[1].tags, ["phishing", "paypal"]);
    assert_eq!(i[2].tags, ["tlp:green"]);
    assert_eq!(comments(&f), [Some("seen in campaign 7"), None, Some("42")]);
    assert_eq!(f.records_seen, 5);
    let details: Vec<&str> = f
        .report
        .examples(SkipReason::Invalid)
        .iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(details, ["value is not a string", "no value at value_path"]);
}

#[test]
fn jsonl_bad_lines_are_counted() {
    let body = b"{\"v\":\"1.2.3.4\"}\n{\"v\":\n[1,2]\n# comment\n\"5.6.7.8\"\n";
    let f = parse("j", body, &json_spec(FeedFormat::Jsonl, "v"));
    assert_eq!(values(&f), ["1.2.3.4"]);
    assert_eq!(f.records_seen, 4);
    let ex: Vec<(String, &str)> = f
        .report
        .examples(SkipReason::Invalid)
        .iter()
        .map(|e| (e.origin.clone().unwrap_or_default(), e.detail))
        .collect();
    assert_eq!(
        ex,
        [
            ("j:2".to_string(), "line is not valid JSON"),
            ("j:3".to_string(), "no value at value_path"),
            ("j:5".to_string(), "no value at value_path"),
        ]
    );
}

#[test]
fn empty_bodies() {
    for format in [FeedFormat::Text, FeedFormat::Csv, FeedFormat::Jsonl] {
        let s = ParseSpec {
            column: Some(Column::Index(0)),
            value_path: Some(String::new()),
            ..spec(format)
        };
        let f = parse("e", b"", &s);
        assert_eq!((f.records_seen, f.indicators.len()), (0, 0), "{format}");
    }
    let f = parse("e", b"[]", &json_spec(FeedFormat::Json, "url"));
    assert_eq!(f.records_seen, 0);
    assert!(parse_feed("e", b"", &json_spec(FeedFormat::Json, "url")).is_err());
}

#[test]
fn big_text_feed_streams() {
    // 200k lines through the text path: counts stay exact.
    let mut body = Vec::new();
    for i in 0..200_000u32 {
        let [_, b, c, d] = i.to_be_bytes();
        body.extend_from_slice(format!("45.{b}.{c}.{d}\n").as_bytes());
    }
    let f = parse("big", &body, &spec(FeedFormat::Text));
    assert_eq!(f.records_seen, 200_000);
    assert_eq!(f.indicators.len(), 200_000);
}

// ---- never panic ----

fn any_spec(format: FeedFormat, flags: u8) -> ParseSpec {
    let mut s = ParseSpec::new(format);
    s.kind = [None, Some(Kind::Ip), Some(Kind::Domain), Some(Kind::Url)][usize::from(flags & 3)];
    match format {
        FeedFormat::Text => {
            if flags & 4 != 0 {
                s.regex = Some(regex::Regex::new(r"^\w+\s+(\S*)").expect("constant regex"));
            }
        }
        FeedFormat::Csv => {
            s.column = Some(if flags & 4 != 0 {
                Column::Index(1)
            } else {
                Column::Name("a".into())
            });
            s.header = flags & 8 == 0;
            s.header_in_comment = flags & 16 != 0;
            s.delimiter = if flags & 32 != 0 { b'\t' } else { b',' };
            s.confidence_path = Some("2".into());
            s.tags_path = Some("3".into());
        }
        FeedFormat::Json | FeedFormat::Jsonl => {
            s.items = Some(if flags & 4 != 0 { "/r/*/i" } else { "" }.into());
            s.value_path = Some(if flags & 8 != 0 { "a.0" } else { "/a" }.into());
            s.confidence_path = Some("c".into());
            s.expires_path = Some("e".into());
            s.tags_path = Some("t".into());
            s.comment_path = Some("m".into());
        }
    }
    s
}

/// Bodies made of feed-like pieces, to get past the first byte more often than random bytes.
fn feedish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b","[..]),
        Just(&b", "[..]),
        Just(&b"\""[..]),
        Just(&b"\"\""[..]),
        Just(&b"# a,b,c\n"[..]),
        Just(&b"; x"[..]),
        Just(&b"1.2.3.4"[..]),
        Just(&b"[2a01::1]:443"[..]),
        Just(&b"kwetzal.top"[..]),
        Just(&b"http://x.top/a"[..]),
        Just(&b"{\"a\":\"1.2.3.4\",\"c\":50,\"t\":[\"x\"]}"[..]),
        Just(&b"{\"r\":[{\"i\":[{\"a\":\"5.6.7.8\"}]}]}"[..]),
        Just(&b"[\"a\",{"[..]),
        Just(&b"}]"[..]),
        Just(&b"\xEF\xBB\xBF"[..]),
        Just(&b"\xFF"[..]),
        Just(&b"\t"[..]),
        Just(&b"ExitAddress "[..]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn check_any(body: &[u8], flags: u8) -> Result<(), TestCaseError> {
    for format in [
        FeedFormat::Text,
        FeedFormat::Csv,
        FeedFormat::Json,
        FeedFormat::Jsonl,
    ] {
        if let Ok(f) = parse_feed("p", body, &any_spec(format, flags)) {
            prop_assert!(f.records_seen >= f.indicators.len() as u64);
            prop_assert_eq!(
                f.indicators.len() as u64 + f.report.total_skipped(),
                f.records_seen
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..300),
        flags in any::<u8>(),
    ) {
        check_any(&body, flags)?;
    }

    #[test]
    fn feedlike_bodies_never_panic(body in feedish(), flags in any::<u8>()) {
        check_any(&body, flags)?;
    }
}
