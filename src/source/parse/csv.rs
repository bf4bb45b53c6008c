//! The `csv` format: a hand-written reader that walks the body in place.
//!
//! Why not the `csv` crate: threat feeds are not quite RFC 4180. ThreatFox separates quoted
//! fields with `", "` (a space before the opening quote, which the crate reads as an unquoted
//! field holding quote characters, and then splits its tags at their commas); abuse.ch puts the
//! header in a comment line; comment prefixes may be longer than one byte; and a report needs
//! the line each record started on. The reader below does all of that without allocating per
//! line: a field is a slice of the body unless it holds a doubled quote.
//!
//! Rules: fields are separated by [`ParseSpec::delimiter`]; spaces and tabs around a field are
//! dropped; a field whose first non-space byte is `"` is quoted, `""` inside it is one `"`, it
//! may span lines (RFC 4180), and text after its closing quote is kept; a record ends at a line
//! end outside quotes. A quoted field not closed by the end of the body, or spanning more than
//! [`MAX_QUOTED_LINES`] line ends, makes its first line one `invalid` skip and reading resumes on
//! the next line, so one stray quote cannot swallow the rest of a feed.

use std::borrow::Cow;

use super::{lossy, meta, trim, Column, Extra, Out, ParseError, ParseSpec};
use crate::indicator::Skip;

/// Most line ends a quoted field may hold (real feeds have none; MISP comments a few).
pub(super) const MAX_QUOTED_LINES: u64 = 100;

const UNCLOSED: Skip = Skip::invalid("quoted CSV field not closed");
const SHORT_ROW: Skip = Skip::invalid("CSV row has no field at the value column");

/// The result of reading one record.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// A record; `next` is where the following one starts, `newlines` how many line ends it
    /// spanned (its own included).
    Record { next: usize, newlines: u64 },
    /// A quoted field that does not close.
    Unclosed,
}

fn is_pad(b: u8, delim: u8) -> bool {
    matches!(b, b' ' | b'\t') && b != delim
}

/// Position of the next `delim` or `\n` at or after `from`, or the body's length.
fn field_end(body: &[u8], from: usize, delim: u8) -> usize {
    body.get(from..)
        .and_then(|r| memchr::memchr2(delim, b'\n', r))
        .map_or(body.len(), |i| from + i)
}

/// Reads the record starting at `start` into `fields`.
fn read_record<'a>(
    body: &'a [u8],
    start: usize,
    delim: u8,
    fields: &mut Vec<Cow<'a, [u8]>>,
) -> Read {
    fields.clear();
    let len = body.len();
    let mut pos = start;
    let mut newlines = 0u64;
    loop {
        while pos < len && is_pad(body[pos], delim) {
            pos += 1;
        }
        if body.get(pos) == Some(&b'"') {
            pos += 1;
            let content = pos;
            let mut owned: Option<Vec<u8>> = None;
            let mut seg = pos;
            let mut spanned = 0u64;
            let close = loop {
                let Some(i) = body
                    .get(pos..)
                    .and_then(|r| memchr::memchr2(b'"', b'\n', r))
                else {
                    return Read::Unclosed;
                };
                let at = pos + i;
                if body[at] == b'\n' {
                    spanned += 1;
                    if spanned > MAX_QUOTED_LINES {
                        return Read::Unclosed;
                    }
                    pos = at + 1;
                } else if body.get(at + 1) == Some(&b'"') {
                    // `""`: keep one quote
                    owned
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&body[seg..=at]);
                    pos = at + 2;
                    seg = pos;
                } else {
                    break at;
                }
            };
            newlines += spanned;
            let mut field = match owned {
                None => Cow::Borrowed(&body[content..close]),
                Some(mut v) => {
                    v.extend_from_slice(&body[seg..close]);
                    Cow::Owned(v)
                }
            };
            pos = close + 1;
            let end = field_end(body, pos, delim);
            let tail = trim(&body[pos..end]);
            if !tail.is_empty() {
                field.to_mut().extend_from_slice(tail);
            }
            fields.push(field);
            pos = end;
        } else {
            let end = field_end(body, pos, delim);
            fields.push(Cow::Borrowed(trim(&body[pos..end])));
            pos = end;
        }
        match body.get(pos) {
            None => {
                return Read::Record {
                    next: len,
                    newlines,
                }
            }
            Some(b'\n') => {
                return Read::Record {
                    next: pos + 1,
                    newlines: newlines + 1,
                }
            }
            Some(_) => pos += 1, // the delimiter
        }
    }
}

/// Column positions, resolved against the header once.
#[derive(Debug)]
struct Cols {
    value: usize,
    confidence: Option<usize>,
    expires: Option<usize>,
    tags: Option<usize>,
    comment: Option<usize>,
}

fn find(column: &Column, header: Option<&[String]>, source: &str) -> Result<usize, ParseError> {
    let name = match column {
        Column::Index(i) => return Ok(*i),
        Column::Name(n) => n,
    };
    let Some(header) = header else {
        return Err(ParseError::NoHeader {
            feed: source.to_string(),
            column: name.clone(),
        });
    };
    header
        .iter()
        .position(|h| h == name)
        .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name)))
        .ok_or_else(|| ParseError::UnknownColumn {
            feed: source.to_string(),
            column: name.clone(),
            header: header.to_vec(),
        })
}

/// A metadata path in CSV names a column; all digits and not a header name is an index.
fn path_column(path: &str, header: Option<&[String]>) -> Column {
    let named = header.is_some_and(|h| h.iter().any(|n| n.eq_ignore_ascii_case(path)));
    match path.parse::<usize>() {
        Ok(i) if !named && path.bytes().all(|b| b.is_ascii_digit()) => Column::Index(i),
        _ => Column::Name(path.to_string()),
    }
}

impl Cols {
    fn resolve(
        spec: &ParseSpec,
        header: Option<&[String]>,
        source: &str,
    ) -> Result<Cols, ParseError> {
        let value = match &spec.column {
            Some(c) => find(c, header, source)?,
            // `check` refuses csv without a column; index 0 keeps this total.
            None => 0,
        };
        let meta = |p: &Option<String>| -> Result<Option<usize>, ParseError> {
            p.as_deref()
                .map(|p| find(&path_column(p, header), header, source))
                .transpose()
        };
        Ok(Cols {
            value,
            confidence: meta(&spec.confidence_path)?,
            expires: meta(&spec.expires_path)?,
            tags: meta(&spec.tags_path)?,
            comment: meta(&spec.comment_path)?,
        })
    }

    fn extra(&self, fields: &[Cow<'_, [u8]>]) -> Extra {
        let get = |i: Option<usize>| {
            i.and_then(|i| fields.get(i))
                .map(|f| String::from_utf8_lossy(f))
        };
        Extra {
            confidence: get(self.confidence).and_then(|s| meta::confidence_str(&s)),
            expires: get(self.expires).and_then(|s| meta::expires_str(&s)),
            tags: get(self.tags)
                .map(|s| meta::tags_str(&s))
                .unwrap_or_default(),
            comment: get(self.comment).and_then(|s| meta::comment_str(&s)),
        }
    }
}

/// The names of a header line.
fn header_names(line: &[u8], delim: u8) -> Vec<String> {
    let mut fields = Vec::new();
    // A header that does not close its quotes still names what it can.
    let _ = read_record(line, 0, delim, &mut fields);
    fields.iter().map(|f| lossy(f)).collect()
}

/// Reads a `csv` body into `out`.
pub(super) fn parse(out: &mut Out<'_>, body: &[u8], spec: &ParseSpec) -> Result<(), ParseError> {
    let delim = spec.delimiter;
    let comment = spec.comment.as_deref().map(str::as_bytes);
    let mut cols = if spec.header || spec.header_in_comment {
        None
    } else {
        Some(Cols::resolve(spec, None, out.source)?)
    };
    let mut last_comment: Option<&[u8]> = None;
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut pos = 0;
    let mut line = 1u64;
    while pos < body.len() {
        let rest = &body[pos..];
        let first_len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let first = trim(&rest[..first_len]);
        if first.is_empty() {
            pos += first_len;
            line += 1;
            continue;
        }
        if let Some(text) = comment.and_then(|c| first.strip_prefix(c)) {
            let text = trim(text);
            if !text.is_empty() {
                last_comment = Some(text);
            }
            pos += first_len;
            line += 1;
            continue;
        }
        let n = line;
        let origin = move |s: &str| format!("{s}:{n}");
        match read_record(body, pos, delim, &mut fields) {
            Read::Unclosed => {
                out.skip(UNCLOSED, origin, || lossy(first));
                pos += first_len;
                line += 1;
                continue;
            }
            Read::Record { next, newlines } => {
                pos = next;
                line += newlines;
            }
        }
        let cols = match &cols {
            Some(c) => c,
            None if spec.header_in_comment => {
                let names = last_comment.map(|h| header_names(h, delim));
                cols.insert(Cols::resolve(spec, names.as_deref(), out.source)?)
            }
            None => {
                let names: Vec<String> = fields.iter().map(|f| lossy(f)).collect();
                cols = Some(Cols::resolve(spec, Some(&names), out.source)?);
                continue;
            }
        };
        match fields.get(cols.value) {
            None => out.skip(SHORT_ROW, origin, || lossy(first)),
            Some(v) => {
                // An empty value's example is the row, which says more.
                let example = || lossy(if v.is_empty() { first } else { v });
                out.value(v, origin, example, || cols.extra(&fields))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(input: &str, delim: u8) -> Option<Vec<String>> {
        let mut f = Vec::new();
        match read_record(input.as_bytes(), 0, delim, &mut f) {
            Read::Record { .. } => Some(f.iter().map(|x| lossy(x)).collect()),
            Read::Unclosed => None,
        }
    }

    macro_rules! rec {
        ($name:ident, $in:expr, [$($f:expr),*]) => {
            #[test]
            fn $name() {
                assert_eq!(record($in, b','), Some(vec![$($f.to_string()),*]));
            }
        };
    }
    rec!(plain, "a,b,c", ["a", "b", "c"]);
    rec!(spaces, " a , b ,c ", ["a", "b", "c"]);
    rec!(quoted, r#""a","b,c","d""#, ["a", "b,c", "d"]);
    rec!(threatfox, r#""a", "b,c", "d""#, ["a", "b,c", "d"]);
    rec!(doubled, r#""say ""hi""",x"#, [r#"say "hi""#, "x"]);
    rec!(tail_kept, r#""ab"cd ,x"#, ["abcd", "x"]);
    rec!(inner_quote_unquoted, r#"a"b,c"#, [r#"a"b"#, "c"]);
    rec!(empty_fields, ",,", ["", "", ""]);
    rec!(crlf, "a,\"b\"\r\nnext", ["a", "b"]);
    rec!(multiline, "\"a\nb\",c\nnext", ["a\nb", "c"]);
    rec!(empty, "", [""]);

    #[test]
    fn unclosed() {
        assert_eq!(record("\"abc,d\ne,f", b','), None);
        let long = format!("\"{}\"", "x\n".repeat(MAX_QUOTED_LINES as usize + 1));
        assert_eq!(record(&long, b','), None);
    }

    #[test]
    fn record_positions() {
        let mut f = Vec::new();
        let body = b"\"a\nb\",c\r\nd\n";
        assert_eq!(
            read_record(body, 0, b',', &mut f),
            Read::Record {
                next: 9,
                newlines: 2
            }
        );
        assert_eq!(
            read_record(body, 9, b',', &mut f),
            Read::Record {
                next: 11,
                newlines: 1
            }
        );
    }

    #[test]
    fn tab_delimiter_keeps_empty_fields() {
        assert_eq!(
            record("a\t\tc", b'\t'),
            Some(vec!["a".into(), "".into(), "c".into()])
        );
    }

    #[test]
    fn header_names_from_comment() {
        assert_eq!(
            header_names(br#""first_seen_utc","ioc_id", "ioc_value""#, b','),
            vec!["first_seen_utc", "ioc_id", "ioc_value"]
        );
    }

    proptest! {
        // Any fields written quoted, with `,` or `", "` between them, read back unchanged.
        #[test]
        fn quoted_fields_round_trip(
            fields in prop::collection::vec("[ -~\n]{0,12}", 1..6),
            spaced in any::<bool>(),
        ) {
            let sep = if spaced { ", " } else { "," };
            let line = fields
                .iter()
                .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(sep);
            let got = record(&line, b',');
            prop_assert_eq!(got, Some(fields));
        }
    }
}
