//! Fuzz the feed parser: for every format and a spread of settings, never panic, and every
//! record examined is exactly one indicator or one counted skip.
#![no_main]

use edlforge::indicator::Kind;
use edlforge::source::parse::{parse_feed, Column, FeedFormat, ParseSpec};
use libfuzzer_sys::fuzz_target;

/// Settings chosen by the first input byte.
fn spec(format: FeedFormat, flags: u8) -> ParseSpec {
    let mut s = ParseSpec::new(format);
    s.kind = [None, Some(Kind::Ip), Some(Kind::Domain), Some(Kind::Url)][usize::from(flags & 3)];
    match format {
        FeedFormat::Text => {
            if flags & 4 != 0 {
                s.regex = Some(regex::Regex::new(r"^ExitAddress\s+(\S*)").expect("constant regex"));
            }
        }
        FeedFormat::Csv => {
            s.column = Some(if flags & 4 != 0 {
                Column::Index(1)
            } else {
                Column::Name("url".into())
            });
            s.header = flags & 8 == 0;
            s.header_in_comment = flags & 16 != 0;
            s.delimiter = if flags & 32 != 0 { b'\t' } else { b',' };
            s.confidence_path = Some("2".into());
            s.tags_path = Some("3".into());
            s.comment_path = Some("4".into());
        }
        FeedFormat::Json | FeedFormat::Jsonl => {
            s.items = Some(
                if flags & 4 != 0 {
                    "/results/*/indicators"
                } else {
                    ""
                }
                .into(),
            );
            s.value_path = Some(
                if flags & 8 != 0 {
                    "details.0.ip"
                } else {
                    "/indicator"
                }
                .into(),
            );
            s.confidence_path = Some("confidence".into());
            s.expires_path = Some("expiration".into());
            s.tags_path = Some("tags".into());
            s.comment_path = Some("title".into());
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    for format in [
        FeedFormat::Text,
        FeedFormat::Csv,
        FeedFormat::Json,
        FeedFormat::Jsonl,
    ] {
        if let Ok(f) = parse_feed("fuzz", body, &spec(format, flags)) {
            assert!(f.records_seen >= f.indicators.len() as u64);
            assert_eq!(
                f.indicators.len() as u64 + f.report.total_skipped(),
                f.records_seen,
                "{format}: a record neither kept nor counted"
            );
        }
    }
});
