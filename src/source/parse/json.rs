//! The `json` and `jsonl` formats: items found by a path, each item's value and metadata by
//! paths relative to the item.
//!
//! Paths are RFC 6901 pointers when they start with `/` (`/details/0/ip_address`, with `~1` for
//! `/` and `~0` for `~` in keys) and dotted otherwise (`details.0.ip_address`; a key with a dot
//! needs a pointer). A numeric segment indexes an array. In `items`, a `*` segment on an array
//! fans out over its elements (on an object it is the key `*`).

use std::borrow::Cow;
use std::io;

use serde_json::Value as Json;

use super::{blank_or_comment, lines, lossy, meta, trim, Extra, Out, ParseError, ParseSpec};
use crate::indicator::Skip;

const NO_VALUE: Skip = Skip::invalid("no value at value_path");
const NULL_VALUE: Skip = Skip::invalid("value is null");
const NOT_STRING: Skip = Skip::invalid("value is not a string");
const NOT_JSON: Skip = Skip::invalid("line is not valid JSON");
const NO_ITEMS: Skip = Skip::invalid("no array at the items path");

type Path<'p> = Vec<Cow<'p, str>>;

fn split_path(p: &str) -> Path<'_> {
    if p.is_empty() {
        return Vec::new();
    }
    match p.strip_prefix('/') {
        Some(rest) => rest
            .split('/')
            .map(|s| {
                if s.contains('~') {
                    Cow::Owned(s.replace("~1", "/").replace("~0", "~"))
                } else {
                    Cow::Borrowed(s)
                }
            })
            .collect(),
        None => p.split('.').map(Cow::Borrowed).collect(),
    }
}

fn step<'v>(v: &'v Json, seg: &str) -> Option<&'v Json> {
    match v {
        Json::Object(o) => o.get(seg),
        Json::Array(a) if seg.bytes().all(|b| b.is_ascii_digit()) => {
            seg.parse::<usize>().ok().and_then(|i| a.get(i))
        }
        _ => None,
    }
}

fn resolve<'v>(v: &'v Json, path: &[Cow<'_, str>]) -> Option<&'v Json> {
    path.iter().try_fold(v, |v, seg| step(v, seg))
}

fn type_name(v: Option<&Json>) -> &'static str {
    match v {
        None => "missing",
        Some(Json::Null) => "null",
        Some(Json::Bool(_)) => "a boolean",
        Some(Json::Number(_)) => "a number",
        Some(Json::String(_)) => "a string",
        Some(Json::Array(_)) => "an array",
        Some(Json::Object(_)) => "an object",
    }
}

/// A JSON value written compactly, cut after a few hundred bytes: enough for a report example
/// without serializing a huge item.
fn compact(v: &Json) -> String {
    const CAP: usize = 256;
    struct Capped(Vec<u8>);
    impl io::Write for Capped {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let room = CAP.saturating_sub(self.0.len());
            if room == 0 {
                return Err(io::Error::other("example is long enough"));
            }
            let n = b.len().min(room);
            self.0.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = Capped(Vec::new());
    // Stops with an error once the cap is reached; what was written is the example.
    let _ = serde_json::to_writer(&mut w, v);
    lossy(&w.0)
}

/// The item paths of a spec, split once.
struct Fields<'p> {
    value: Path<'p>,
    confidence: Option<Path<'p>>,
    expires: Option<Path<'p>>,
    tags: Option<Path<'p>>,
    comment: Option<Path<'p>>,
}

impl<'p> Fields<'p> {
    fn new(spec: &'p ParseSpec) -> Self {
        let opt = |p: &'p Option<String>| p.as_deref().map(split_path);
        Fields {
            value: split_path(spec.value_path.as_deref().unwrap_or("")),
            confidence: opt(&spec.confidence_path),
            expires: opt(&spec.expires_path),
            tags: opt(&spec.tags_path),
            comment: opt(&spec.comment_path),
        }
    }

    /// Counts one item: its value as an indicator, or a skip.
    fn item(&self, out: &mut Out<'_>, item: &Json, origin: impl FnOnce(&str) -> String) {
        match resolve(item, &self.value) {
            Some(Json::String(s)) => {
                let token = trim(s.as_bytes());
                // An empty value's example is the item, which says more.
                let example = || {
                    if token.is_empty() {
                        compact(item)
                    } else {
                        s.clone()
                    }
                };
                out.value(token, origin, example, || self.extra(item))
            }
            None => out.skip(NO_VALUE, origin, || compact(item)),
            Some(Json::Null) => out.skip(NULL_VALUE, origin, || compact(item)),
            Some(_) => out.skip(NOT_STRING, origin, || compact(item)),
        }
    }

    fn extra(&self, item: &Json) -> Extra {
        let get = |p: &Option<Path<'_>>| p.as_ref().and_then(|p| resolve(item, p));
        Extra {
            confidence: get(&self.confidence).and_then(meta::confidence_json),
            expires: get(&self.expires).and_then(meta::expires_json),
            tags: get(&self.tags).map(meta::tags_json).unwrap_or_default(),
            comment: get(&self.comment).and_then(meta::comment_json),
        }
    }
}

/// One step of the way from the document to an item, for its pointer in reports.
#[derive(Clone, Copy)]
enum Step<'t> {
    Key(&'t str),
    Index(usize),
}

fn pointer(trail: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in trail {
        s.push('/');
        match step {
            Step::Key(k) => s.push_str(&k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => s.push_str(&i.to_string()),
        }
    }
    s
}

/// Walks the `items` path and counts every item it reaches.
struct Walker<'a, 'o, 's, 'p> {
    out: &'o mut Out<'s>,
    fields: &'a Fields<'p>,
    items: &'a str,
    ordinal: u64,
}

impl Walker<'_, '_, '_, '_> {
    fn walk<'t>(
        &mut self,
        v: &Json,
        segs: &'t [Cow<'t, str>],
        trail: &mut Vec<Step<'t>>,
        fanned: bool,
    ) -> Result<(), ParseError> {
        let Some((seg, rest)) = segs.split_first() else {
            let Json::Array(items) = v else {
                return self.not_array(Some(v), trail, fanned);
            };
            for (i, item) in items.iter().enumerate() {
                trail.push(Step::Index(i));
                self.item(item, trail, fanned);
                trail.pop();
            }
            return Ok(());
        };
        if let (Json::Array(a), "*") = (v, seg.as_ref()) {
            for (i, e) in a.iter().enumerate() {
                trail.push(Step::Index(i));
                self.walk(e, rest, trail, true)?;
                trail.pop();
            }
            return Ok(());
        }
        match step(v, seg) {
            Some(next) => {
                trail.push(Step::Key(seg));
                let r = self.walk(next, rest, trail, fanned);
                trail.pop();
                r
            }
            None => {
                trail.push(Step::Key(seg));
                let r = self.not_array(None, trail, fanned);
                trail.pop();
                r
            }
        }
    }

    /// Before any `*`, a path that leads nowhere is the body's error; after one, it is one
    /// branch (an OTX pulse without indicators) and counts as one skip.
    fn not_array(
        &mut self,
        found: Option<&Json>,
        trail: &[Step<'_>],
        fanned: bool,
    ) -> Result<(), ParseError> {
        if !fanned {
            return Err(ParseError::ItemsNotArray {
                feed: self.out.source.to_string(),
                items: self.items.to_string(),
                found: type_name(found),
            });
        }
        let at = pointer(trail);
        let found = type_name(found);
        self.out.skip(
            NO_ITEMS,
            |s| format!("{s}:{at}"),
            || format!("{found} at {at}"),
        );
        Ok(())
    }

    fn item(&mut self, item: &Json, trail: &[Step<'_>], fanned: bool) {
        self.ordinal += 1;
        let n = self.ordinal;
        let origin = |s: &str| {
            if fanned {
                format!("{s}:item {n} ({})", pointer(trail))
            } else {
                format!("{s}:item {n}")
            }
        };
        self.fields.item(self.out, item, origin);
    }
}

/// Reads a `json` body into `out`.
pub(super) fn parse_document(
    out: &mut Out<'_>,
    body: &[u8],
    spec: &ParseSpec,
) -> Result<(), ParseError> {
    let doc: Json = serde_json::from_slice(body).map_err(|error| ParseError::Json {
        feed: out.source.to_string(),
        line: error.line(),
        column: error.column(),
        error,
    })?;
    let items = spec.items.as_deref().unwrap_or("");
    let segs = split_path(items);
    let fields = Fields::new(spec);
    let mut walker = Walker {
        out,
        fields: &fields,
        items,
        ordinal: 0,
    };
    walker.walk(&doc, &segs, &mut Vec::new(), false)
}

/// Reads a `jsonl` body into `out`: every line that is not blank or a comment is one item.
pub(super) fn parse_lines(out: &mut Out<'_>, body: &[u8], spec: &ParseSpec) {
    let fields = Fields::new(spec);
    let comment = spec.comment.as_deref();
    for (n, line) in lines(body) {
        let t = trim(line);
        if blank_or_comment(t, comment) {
            continue;
        }
        let origin = move |s: &str| format!("{s}:{n}");
        match serde_json::from_slice::<Json>(t) {
            Ok(item) => fields.item(out, &item, origin),
            Err(_) => out.skip(NOT_JSON, origin, || lossy(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let v = json!({"a": {"b/c": [10, {"d~e": "x"}]}, "f.g": 1});
        assert_eq!(
            resolve(&v, &split_path("/a/b~1c/1/d~0e")),
            Some(&json!("x"))
        );
        assert_eq!(resolve(&v, &split_path("a.b/c.0")), Some(&json!(10)));
        assert_eq!(resolve(&v, &split_path("/f.g")), Some(&json!(1)));
        assert_eq!(resolve(&v, &split_path("")), Some(&v));
        assert_eq!(resolve(&v, &split_path("a.b/c.+1")), None);
        assert_eq!(resolve(&v, &split_path("a.missing")), None);
    }

    #[test]
    fn pointers_escape() {
        assert_eq!(
            pointer(&[Step::Key("a/b"), Step::Index(3), Step::Key("c~")]),
            "/a~1b/3/c~0"
        );
    }

    #[test]
    fn compact_is_capped() {
        let big = json!({"k": "x".repeat(10_000)});
        assert_eq!(compact(&big).len(), 256);
        assert_eq!(compact(&json!({"a": 1})), r#"{"a":1}"#);
    }
}
