//! Feed bodies to indicators: the `text`, `csv`, `json` and `jsonl` formats of a source.
//!
//! [`parse_feed`] takes the bytes a transport fetched (already decompressed) and the source's
//! format settings ([`ParseSpec`]) and returns every indicator found with its metadata, a
//! [`Report`] of the records that held none, and how many records it examined (the gate's
//! denominator). Fetching, the per-fetch gates and storing are left to the rest of `source/`
//! and to `store/`; the safety floor is `compile/guard.rs`.
//!
//! # Rules
//! - Every value goes through [`indicator::parse_token`] with [`ParseSpec::kind`], so refanging,
//!   `ip:port`, `[v6]:port`, host bits and kind detection behave as in `edlforge convert`.
//! - A bad line or item is a counted skip (`invalid` or `wrong_type`, with up to five examples
//!   whose origin is `source:line` or `source:item N`), never an error and never a panic. For
//!   every format, `indicators.len() + report.total_skipped() == records_seen`.
//! - Only a body that cannot be read at all in the declared format is a [`ParseError`]: JSON that
//!   does not parse, a CSV column name the header lacks, an `items` path that is not an array,
//!   a UTF-16 body, or settings that cannot work ([`SpecProblem`]).
//! - Metadata that is present but unusable (a confidence of 120 or `"high"`, an expiry that is
//!   not a time) is ignored, not counted: the indicator is kept without it.
//! - A UTF-8 byte-order mark at the start of the body and `\r\n` line ends are accepted
//!   everywhere.
//!
//! # Formats
//! ```text
//! text   31.24.81.0/24 ; SBL711001            one indicator per line, the rest is its comment
//! text   ExitAddress 146.70.119.38 2026-…     + regex = '^ExitAddress (\S+) '
//! csv    "2026-10-04 07:19:04", "1912855", "kwetzal-update.top", "domain", …
//! json   {"results":[{"indicators":[{"indicator":"91.92.242.17","type":"IPv4"}]}]}
//! jsonl  {"cidr":"31.24.81.0/24","sblid":"SBL711001"}
//! ```
//! `text` and `csv` walk the body in place (no `String` per line), so a 10M-line feed costs the
//! indicators and nothing else; `json` parses the whole document with `serde_json`; `jsonl`
//! parses one line at a time. Paths into JSON items are dotted (`details.0.ip_address`) or
//! RFC 6901 pointers (`/details/0/ip_address`); see [`ParseSpec::items`] for nested arrays.
//!
//! # Limits
//! - A feed's own type field (OTX `type`, ThreatFox `ioc_type`) is not read: each value is
//!   detected as in `convert`, or checked against [`ParseSpec::kind`]. OTX `email`, `CVE` and
//!   `FilePath` indicators are therefore read as whatever they look like.
//! - Item paths start at the item: fields of an enclosing object (an OTX pulse's `TLP` and
//!   `tags`) are not reachable.
//! - With `header = true` and a column by index, the first row is the header and is not read.
//!
//! # Sources
//! Feed layouts are those recorded in the project's research notes, Part 3: Spamhaus DROP text
//! and JSON lines (metadata trailer), abuse.ch Feodo Tracker, URLhaus, ThreatFox and SSLBL CSV,
//! FireHOL netsets, Tor `exit-addresses`, PhishTank JSON and AlienVault OTX pulses.

mod csv;
mod json;
mod meta;

pub(crate) use self::meta::rfc3339;
mod text;

use std::fmt;

use crate::indicator::{self, Kind, Report, Skip, Value};

/// How a source's body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// One indicator per line (first whitespace-separated token), `#`, `;` and `//` comments;
    /// or, with [`ParseSpec::regex`], the regex's capture on each line it matches.
    Text,
    /// Delimited rows; the value is one column, by header name or 0-based index.
    Csv,
    /// One JSON document holding an array of items.
    Json,
    /// One JSON value per line (JSON lines / NDJSON).
    Jsonl,
}

impl FeedFormat {
    /// The id used in config: `text`, `csv`, `json`, `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Text => "text",
            FeedFormat::Csv => "csv",
            FeedFormat::Json => "json",
            FeedFormat::Jsonl => "jsonl",
        }
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CSV column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// By header name (`"dst_ip"`). Matched exactly, else ignoring ASCII case.
    Name(String),
    /// By 0-based position.
    Index(usize),
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Name(n) => write!(f, "{n:?}"),
            Column::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// A source's format settings: everything [`parse_feed`] needs to read its body.
///
/// Build one with [`ParseSpec::new`] (which sets the documented defaults) and fill in the
/// fields the format uses; [`ParseSpec::check`] says whether it can work.
#[derive(Debug, Clone)]
pub struct ParseSpec {
    /// The body's layout.
    pub format: FeedFormat,
    /// The kind every value must have (`None`: detected per value). A valid value of another
    /// kind is a `wrong_type` skip.
    pub kind: Option<Kind>,
    /// `text` only: a regex with exactly one capture group, applied to each non-comment line
    /// (without its line end); the capture is the token. Lines it does not match are not
    /// records (neither counted nor skipped), as `ExitNode …` lines in Tor's `exit-addresses`.
    /// Example: `^ExitAddress (\S+) `.
    pub regex: Option<regex::Regex>,
    /// `csv` (required): the value's column, by header name or 0-based index.
    pub column: Option<Column>,
    /// `csv`: the field separator. Default `b','`; `b'\t'` for TSV. Not `"`, `\r` or `\n`.
    pub delimiter: u8,
    /// Prefix of comment lines (leading spaces allowed). Default `Some("#")`. In `csv` and
    /// `jsonl` these lines are skipped; in `text` they are in addition to the built-in `#`, `;`
    /// and `//`. Not used by `json`. Must not be empty.
    pub comment: Option<String>,
    /// `csv`: the first line that is not blank or a comment is the header (skipped unread when
    /// every column is given by index). Default `true`.
    pub header: bool,
    /// `csv`: the header is the last non-empty comment line before the first data row, with its
    /// comment prefix and spaces removed (abuse.ch URLhaus, ThreatFox, SSLBL:
    /// `# id,dateadded,url,…`). Default `false`. When `true`, `header` is not consulted.
    pub header_in_comment: bool,
    /// `json`: path to the array of items (`None` or `""`: the document itself). A path is an
    /// RFC 6901 pointer (`/results`) or dotted (`results`). A `*` segment on an array takes
    /// every element, so nested arrays flatten: OTX pulses are `/results/*/indicators`. Before
    /// the first `*`, a path that does not lead to an array is a [`ParseError`]; after it, such
    /// a branch is one counted `invalid` skip. Not used by the other formats.
    pub items: Option<String>,
    /// `json`/`jsonl` (required): path from an item to its value, dotted (`ioc.value`,
    /// `details.0.ip_address`) or a pointer (`/ioc/value`); `""` is the item itself (an array
    /// of strings). `csv` reads no paths except the four below.
    pub value_path: Option<String>,
    /// Path to a confidence: a number 0–100 or a numeric string; rounded. Anything else is
    /// ignored. In `csv`, this and the three below name a column (header name, or 0-based
    /// index when all digits and not a header name).
    pub confidence_path: Option<String>,
    /// Path to an expiry: an RFC 3339 time (no offset: UTC; a date alone: midnight UTC) or
    /// Unix seconds (number or digits). `0`, negative and unreadable values are ignored, since
    /// several feeds write `0` for "never".
    pub expires_path: Option<String>,
    /// Path to tags: an array of strings (or of objects with a `name`, as MISP's `Tag`), or one
    /// comma-separated string. Empty tags are dropped.
    pub tags_path: Option<String>,
    /// Path to a free-text comment: a string (numbers and booleans are written out). Empty is
    /// none.
    pub comment_path: Option<String>,
}

impl ParseSpec {
    /// A spec for `format` with the defaults: any kind, no regex or column, `,` delimiter,
    /// `#` comments, a header line not in a comment, no paths.
    pub fn new(format: FeedFormat) -> Self {
        ParseSpec {
            format,
            kind: None,
            regex: None,
            column: None,
            delimiter: b',',
            comment: Some("#".to_string()),
            header: true,
            header_in_comment: false,
            items: None,
            value_path: None,
            confidence_path: None,
            expires_path: None,
            tags_path: None,
            comment_path: None,
        }
    }

    /// Whether these settings can work, without looking at a body. Call it when the config
    /// is loaded, so a mistake shows then and not at the first fetch; [`parse_feed`] calls it
    /// too.
    ///
    /// # Errors
    /// The first [`SpecProblem`] found.
    pub fn check(&self) -> Result<(), SpecProblem> {
        if self.comment.as_deref() == Some("") {
            return Err(SpecProblem::EmptyComment);
        }
        if let Some(re) = &self.regex {
            if self.format != FeedFormat::Text {
                return Err(SpecProblem::RegexNotText(self.format));
            }
            let groups = re.captures_len().saturating_sub(1); // group 0 is the whole match
            if groups != 1 {
                return Err(SpecProblem::RegexGroups(groups));
            }
        }
        match self.format {
            FeedFormat::Text => {}
            FeedFormat::Csv => {
                if matches!(self.delimiter, b'"' | b'\r' | b'\n') {
                    return Err(SpecProblem::BadDelimiter(self.delimiter));
                }
                if self.header_in_comment && self.comment.is_none() {
                    return Err(SpecProblem::HeaderInCommentWithoutComment);
                }
                let Some(column) = &self.column else {
                    return Err(SpecProblem::MissingColumn);
                };
                if !self.header && !self.header_in_comment {
                    if let Column::Name(n) = column {
                        return Err(SpecProblem::NameWithoutHeader(n.clone()));
                    }
                    for p in self.meta_paths().into_iter().flatten() {
                        if p.parse::<usize>().is_err() {
                            return Err(SpecProblem::NameWithoutHeader(p.to_string()));
                        }
                    }
                }
            }
            FeedFormat::Json | FeedFormat::Jsonl => {
                if self.value_path.is_none() {
                    return Err(SpecProblem::MissingValuePath(self.format));
                }
            }
        }
        Ok(())
    }

    /// confidence, expires, tags, comment paths, in that order.
    fn meta_paths(&self) -> [Option<&str>; 4] {
        [
            self.confidence_path.as_deref(),
            self.expires_path.as_deref(),
            self.tags_path.as_deref(),
            self.comment_path.as_deref(),
        ]
    }
}

/// Settings that cannot work whatever the body; found by [`ParseSpec::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecProblem {
    /// `csv` without `column`.
    #[error("format csv needs a column (a header name or a 0-based index)")]
    MissingColumn,
    /// `json`/`jsonl` without `value_path`.
    #[error("format {0} needs value_path (the path from an item to its value, \"\" for the item itself)")]
    MissingValuePath(FeedFormat),
    /// A regex with other than one capture group.
    #[error("regex must have exactly one capture group (the token), it has {0}")]
    RegexGroups(usize),
    /// A regex on a format other than `text`.
    #[error("regex applies to format text only, not {0}")]
    RegexNotText(FeedFormat),
    /// A CSV delimiter that cannot separate fields.
    #[error("delimiter {:?} cannot separate CSV fields", char::from(*.0))]
    BadDelimiter(u8),
    /// An empty comment prefix (every line would be a comment).
    #[error(
        "comment prefix is empty, which would make every line a comment (leave it unset for none)"
    )]
    EmptyComment,
    /// `header_in_comment` without a comment prefix to find the header by.
    #[error("header_in_comment needs a comment prefix (comment = \"#\")")]
    HeaderInCommentWithoutComment,
    /// A CSV column named when there is no header.
    #[error(
        "column {0:?} is a name but the CSV has no header (header = false); use a 0-based index"
    )]
    NameWithoutHeader(String),
}

/// One indicator read from a feed, with what the feed said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedIndicator {
    /// The normalized value.
    pub value: Value,
    /// 0–100, when the feed gives a usable one.
    pub confidence: Option<u8>,
    /// Unix seconds, when the feed gives a usable one.
    pub expires: Option<i64>,
    /// Labels, in feed order.
    pub tags: Vec<String>,
    /// Free text: the rest of a text line (without a leading `;`, `#` or `//`), or the
    /// `comment_path` field.
    pub comment: Option<String>,
    /// TLP the data gives (STIX markings); the feed formats here give none.
    pub tlp: Option<crate::indicator::Tlp>,
}

/// Everything one body held.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    /// The indicators, in feed order (duplicates kept; the store merges them).
    pub indicators: Vec<ParsedIndicator>,
    /// Records that held no indicator, by reason, with examples whose origin is `source:line`
    /// (text, csv, jsonl) or `source:item N` (json, 1-based; items under a `*` add their
    /// pointer: `otx:item 7 (/results/1/indicators/0)`; a branch without its array is
    /// `otx:/results/2/indicators`). `normalized` counts values rewritten to normal form.
    pub report: Report,
    /// Data lines or items examined (not blank, comment or header lines, nor lines a regex
    /// does not match): the gate's denominator. Equals indicators plus skips.
    pub records_seen: u64,
}

/// A body that cannot be read at all in the declared format. The source keeps its last good
/// set.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The settings cannot work (see [`ParseSpec::check`]).
    #[error("source {feed:?}: {problem}; fix the source's format settings")]
    Spec {
        /// Source name.
        feed: String,
        /// What is wrong.
        problem: SpecProblem,
    },
    /// The body starts with a UTF-16 byte-order mark.
    #[error("source {feed:?}: body is UTF-16 text, edlforge reads UTF-8; ask the publisher for UTF-8 or convert the file")]
    Utf16 {
        /// Source name.
        feed: String,
    },
    /// A `json` body that does not parse.
    #[error("source {feed:?}: body is not valid JSON (line {line}, column {column}); check that the URL serves JSON, and use format = \"jsonl\" for one object per line")]
    Json {
        /// Source name.
        feed: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        #[source]
        error: serde_json::Error,
    },
    /// `items` does not lead to an array.
    #[error("source {feed:?}: items {items:?} is {found}, not an array; set items to the path of the array of indicators (\"\" for a top-level array)")]
    ItemsNotArray {
        /// Source name.
        feed: String,
        /// The configured path.
        items: String,
        /// What is there instead: `missing`, `null`, `an object`, ...
        found: &'static str,
    },
    /// A CSV column name the header does not have.
    #[error("source {feed:?}: CSV column {column:?} is not in the header, which has: {}; use one of these names or a 0-based index", quoted_list(.header))]
    UnknownColumn {
        /// Source name.
        feed: String,
        /// The configured name.
        column: String,
        /// The header's names, in order.
        header: Vec<String>,
    },
    /// A CSV column named, but no header line found before the data.
    #[error("source {feed:?}: CSV column {column:?} is a name, but no header line comes before the data; set header_in_comment = true if the header is a comment line, or use a 0-based index")]
    NoHeader {
        /// Source name.
        feed: String,
        /// The configured name.
        column: String,
    },
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no names".to_string();
    }
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads `body` as `spec` says.
///
/// # Errors
/// A [`ParseError`] when the body cannot be read at all in the declared format (see the
/// module doc); bad lines and items are counted in [`ParsedFeed::report`] instead.
pub fn parse_feed(source: &str, body: &[u8], spec: &ParseSpec) -> Result<ParsedFeed, ParseError> {
    let (mut feed, parts) = parse_feed_into(source, body, spec, Vec::new)?;
    let mut parts = parts.into_iter();
    feed.indicators = parts.next().unwrap_or_default();
    for p in parts {
        feed.indicators.extend(p);
    }
    Ok(feed)
}

/// Receives the indicators of a feed as they are read, so a caller can keep them in its own
/// (compact) form instead of a `Vec` of [`ParsedIndicator`]s.
pub trait Sink {
    /// One indicator; called in feed order.
    fn indicator(&mut self, indicator: ParsedIndicator);
}

impl Sink for Vec<ParsedIndicator> {
    fn indicator(&mut self, indicator: ParsedIndicator) {
        self.push(indicator);
    }
}

/// `text` bodies at least this big are read in two parts on two threads.
const SPLIT_MIN_BYTES: usize = 8 << 20;

/// [`parse_feed`] into sinks: every indicator goes to a sink made by `new_sink` as it is read,
/// and the returned feed's `indicators` is empty. A large `text` body is read in two parts (cut
/// at a line end near its middle) on two threads when there are two cores, each part into its
/// own sink; the sinks come back in body order, and the counts, examples and line numbers are
/// those of a serial read.
///
/// # Errors
/// As [`parse_feed`].
pub fn parse_feed_into<S: Sink + Send>(
    source: &str,
    body: &[u8],
    spec: &ParseSpec,
    new_sink: impl Fn() -> S,
) -> Result<(ParsedFeed, Vec<S>), ParseError> {
    spec.check().map_err(|problem| ParseError::Spec {
        feed: source.to_string(),
        problem,
    })?;
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        return Err(ParseError::Utf16 {
            feed: source.to_string(),
        });
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if spec.format == FeedFormat::Text && body.len() >= SPLIT_MIN_BYTES && threads >= 2 {
        let mid = memchr::memchr(b'\n', &body[body.len() / 2..])
            .map_or(body.len(), |i| body.len() / 2 + i + 1);
        let (a, b) = body.split_at(mid);
        let base = memchr::memchr_iter(b'\n', a).count() as u64;
        let (mut sa, mut sb) = (new_sink(), new_sink());
        let (fa, fb) = std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let mut out = Out::new(source, spec.kind, &mut sb, base);
                text::parse(&mut out, b, spec);
                out.feed
            });
            let mut out = Out::new(source, spec.kind, &mut sa, 0);
            text::parse(&mut out, a, spec);
            (out.feed, second.join())
        });
        let mut feed = fa;
        match fb {
            Ok(fb) => {
                feed.report.merge(&fb.report);
                feed.records_seen += fb.records_seen;
            }
            // Only a bug could panic there; read the part again here rather than lose it.
            Err(_) => {
                sb = new_sink();
                let mut out = Out::new(source, spec.kind, &mut sb, base);
                text::parse(&mut out, b, spec);
                feed.report.merge(&out.feed.report);
                feed.records_seen += out.feed.records_seen;
            }
        }
        return Ok((feed, vec![sa, sb]));
    }
    let mut sink = new_sink();
    let mut out = Out::new(source, spec.kind, &mut sink, 0);
    match spec.format {
        FeedFormat::Text => text::parse(&mut out, body, spec),
        FeedFormat::Csv => csv::parse(&mut out, body, spec)?,
        FeedFormat::Json => json::parse_document(&mut out, body, spec)?,
        FeedFormat::Jsonl => json::parse_lines(&mut out, body, spec),
    }
    let feed = out.feed;
    Ok((feed, vec![sink]))
}

/// Metadata of one record besides its value.
#[derive(Debug, Default)]
struct Extra {
    confidence: Option<u8>,
    expires: Option<i64>,
    tags: Vec<String>,
    comment: Option<String>,
}

/// The feed being built, with the source name for origins.
struct Out<'s> {
    source: &'s str,
    kind: Option<Kind>,
    /// Counts and examples (its `indicators` stay empty: they go to `sink`).
    feed: ParsedFeed,
    sink: &'s mut dyn Sink,
    /// Lines before the part being read (`text` read in two parts).
    line_base: u64,
}

impl<'s> Out<'s> {
    fn new(source: &'s str, kind: Option<Kind>, sink: &'s mut dyn Sink, line_base: u64) -> Self {
        Out {
            source,
            kind,
            feed: ParsedFeed::default(),
            sink,
            line_base,
        }
    }

    /// Counts one record that holds no indicator.
    fn skip(
        &mut self,
        skip: Skip,
        origin: impl FnOnce(&str) -> String,
        example: impl FnOnce() -> String,
    ) {
        let source = self.source;
        self.feed.records_seen += 1;
        self.feed
            .report
            .skip_with(skip, 1, || Some(origin(source)), example);
    }

    /// Counts one record whose value is `token`: an indicator, or a skip.
    fn value(
        &mut self,
        token: &[u8],
        origin: impl FnOnce(&str) -> String,
        example: impl FnOnce() -> String,
        extra: impl FnOnce() -> Extra,
    ) {
        if token.is_empty() {
            return self.skip(EMPTY_VALUE, origin, example);
        }
        match indicator::parse_token(token, self.kind) {
            Ok(p) => {
                self.feed.records_seen += 1;
                if p.normalized {
                    self.feed.report.normalized += 1;
                }
                let e = extra();
                self.sink.indicator(ParsedIndicator {
                    value: p.value,
                    confidence: e.confidence,
                    expires: e.expires,
                    tags: e.tags,
                    comment: e.comment,
                    tlp: None,
                });
            }
            Err(skip) => self.skip(skip, origin, example),
        }
    }
}

const EMPTY_VALUE: Skip = Skip::invalid("empty value");

/// The lines of `body`, numbered from 1, without `\n` and a `\r` before it. A last line without
/// `\n` is included; a final `\n` does not make an empty last line.
struct Lines<'a> {
    body: &'a [u8],
    pos: usize,
    n: u64,
}

fn lines(body: &[u8]) -> Lines<'_> {
    Lines { body, pos: 0, n: 0 }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.body.get(self.pos..).filter(|r| !r.is_empty())?;
        let (line, used) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += used;
        self.n += 1;
        Some((self.n, line.strip_suffix(b"\r").unwrap_or(line)))
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !is_space(*b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_space(*b))
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

/// True for a blank line or one starting (after spaces) with the spec's comment prefix.
fn blank_or_comment(trimmed: &[u8], comment: Option<&str>) -> bool {
    trimmed.is_empty() || comment.is_some_and(|c| trimmed.starts_with(c.as_bytes()))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &[u8]) -> Vec<(u64, Vec<u8>)> {
        lines(body).map(|(n, l)| (n, l.to_vec())).collect()
    }

    #[test]
    fn lines_strip_crlf_and_keep_last() {
        assert_eq!(
            collect(b"a\r\nb\n\nc"),
            vec![
                (1, b"a".to_vec()),
                (2, b"b".to_vec()),
                (3, b"".to_vec()),
                (4, b"c".to_vec())
            ]
        );
        assert_eq!(collect(b"a\n"), vec![(1, b"a".to_vec())]);
        assert!(collect(b"").is_empty());
    }

    #[test]
    fn trim_all_space() {
        assert_eq!(trim(b"  \r\n"), b"");
        assert_eq!(trim(b" a b\t"), b"a b");
    }

    #[test]
    fn check_catches_bad_specs() {
        let mut s = ParseSpec::new(FeedFormat::Csv);
        assert_eq!(s.check(), Err(SpecProblem::MissingColumn));
        s.column = Some(Column::Name("url".into()));
        assert_eq!(s.check(), Ok(()));
        s.header = false;
        assert_eq!(s.check(), Err(SpecProblem::NameWithoutHeader("url".into())));
        s.column = Some(Column::Index(2));
        s.confidence_path = Some("confidence_level".into());
        assert!(matches!(s.check(), Err(SpecProblem::NameWithoutHeader(_))));
        s.confidence_path = Some("9".into());
        assert_eq!(s.check(), Ok(()));
        s.delimiter = b'"';
        assert_eq!(s.check(), Err(SpecProblem::BadDelimiter(b'"')));
        s.delimiter = b',';
        s.header_in_comment = true;
        s.comment = None;
        assert_eq!(s.check(), Err(SpecProblem::HeaderInCommentWithoutComment));

        let mut t = ParseSpec::new(FeedFormat::Text);
        t.comment = Some(String::new());
        assert_eq!(t.check(), Err(SpecProblem::EmptyComment));
        t.comment = None;
        t.regex = Some(regex::Regex::new(r"^(\S+) (\S+)").expect("constant regex"));
        assert_eq!(t.check(), Err(SpecProblem::RegexGroups(2)));

        let j = ParseSpec::new(FeedFormat::Jsonl);
        assert_eq!(
            j.check(),
            Err(SpecProblem::MissingValuePath(FeedFormat::Jsonl))
        );
    }
}
