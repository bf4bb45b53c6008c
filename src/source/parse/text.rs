//! The `text` format: one indicator per line through [`indicator::parse_line`] (the rest of the
//! line is its comment), or, with a regex, the regex's capture on each line it matches.
//!
//! Lines the regex does not match are not records: a regex selects data lines out of a record
//! layout such as Tor's `exit-addresses` (`ExitNode`, `Published`, `LastStatus`,
//! `ExitAddress 146.70.119.38 2026-10-04 07:04:18`). Comment lines are dropped before the regex
//! sees them, so a commented-out entry never matches.

use super::{blank_or_comment, lines, lossy, trim, Extra, Out, ParseSpec, ParsedIndicator};
use crate::indicator::{self, Skip};

const NOT_UTF8: Skip = Skip::invalid("not valid UTF-8");
const EMPTY_CAPTURE: Skip = Skip::invalid("regex capture is empty");

/// A text line's comment: the rest of the line without a leading `;`, `#` or `//` and spaces.
fn line_comment(rest: &[u8]) -> Option<String> {
    let mut s = rest;
    loop {
        let t = trim(s);
        let t = t
            .strip_prefix(b"//")
            .or_else(|| t.strip_prefix(b";"))
            .or_else(|| t.strip_prefix(b"#"))
            .unwrap_or(t);
        if t.len() == s.len() {
            break;
        }
        s = t;
    }
    (!s.is_empty()).then(|| lossy(s))
}

/// Reads a `text` body into `out`.
pub(super) fn parse(out: &mut Out<'_>, body: &[u8], spec: &ParseSpec) {
    let comment = spec.comment.as_deref();
    let line_origin = |n: u64| move |s: &str| format!("{s}:{n}");
    let mut regex = spec.regex.as_ref().map(|re| (re, re.capture_locations()));
    let base = out.line_base;
    for (n, line) in lines(body) {
        let n = base + n;
        let trimmed = trim(line);
        if blank_or_comment(trimmed, comment) {
            continue;
        }
        let Some((re, locs)) = regex.as_mut() else {
            match indicator::parse_line(trimmed, spec.kind) {
                Ok(None) => {}
                Ok(Some(p)) => {
                    out.feed.records_seen += 1;
                    if p.parsed.normalized {
                        out.feed.report.normalized += 1;
                    }
                    out.sink.indicator(ParsedIndicator {
                        value: p.parsed.value,
                        confidence: None,
                        expires: None,
                        tags: Vec::new(),
                        comment: line_comment(p.comment),
                        tlp: None,
                    });
                }
                Err(skip) => out.skip(skip, line_origin(n), || lossy(trimmed)),
            }
            continue;
        };
        // Built-in comment lines are comments here too: a commented-out entry must not match.
        if indicator::line::split(trimmed) == indicator::line::Line::Blank {
            continue;
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(_) => {
                if re.is_match(&String::from_utf8_lossy(line)) {
                    out.skip(NOT_UTF8, line_origin(n), || lossy(trimmed));
                }
                continue;
            }
        };
        if re.captures_read(locs, text).is_none() {
            continue;
        }
        let token = locs
            .get(1)
            .and_then(|(s, e)| text.get(s..e))
            .map_or(&b""[..], |t| trim(t.as_bytes()));
        if token.is_empty() {
            out.skip(EMPTY_CAPTURE, line_origin(n), || lossy(trimmed));
        } else {
            out.value(token, line_origin(n), || lossy(trimmed), Extra::default);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! comment {
        ($name:ident, $rest:expr, $want:expr) => {
            #[test]
            fn $name() {
                assert_eq!(line_comment($rest), $want.map(String::from));
            }
        };
    }
    comment!(comment_spamhaus, b"; SBL711001", Some("SBL711001"));
    comment!(comment_hash, b"#  botnet C2 ", Some("botnet C2"));
    comment!(comment_slashes, b"// note", Some("note"));
    comment!(comment_plain, b"phishing kit", Some("phishing kit"));
    comment!(comment_marker_only, b" ; ", None::<&str>);
    comment!(comment_empty, b"", None::<&str>);
}
