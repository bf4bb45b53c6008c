//! [`Record`], the format-1 record encoding (read, no longer written: format 2's snapshot payload
//! is `snapshot.rs`), and the encodings of source state and list metadata, the same in both
//! formats (the container around them is `file.rs`, the streaming reader `reader.rs`).
//!
//! # Record (format 1)
//! ```text
//! varint  body length
//! u8      kind: 0 ip, 1 domain, 2 url, 3 hash
//! u8      flags: 1 expires, 2 confidence, 4 tlp, 8 comment (other bits must be 0)
//! str     value, canonical text (`Value`'s Display)
//! i64     first_seen              (zig-zag varint, as every i64 here)
//! i64     last_seen - first_seen  (small, so one or two bytes)
//! [i64]   expires                 if flag 1
//! [u8]    confidence              if flag 2
//! [u8]    tlp: 0 clear, 1 green, 2 amber, 3 amber+strict, 4 red   if flag 4
//! varint  tag count, then each tag as str
//! [str]   comment                 if flag 8
//! ```
//! `str` is a varint byte length and UTF-8. An IPv4 record with today's timestamps and no other
//! metadata takes about 25 bytes. The length prefix bounds every record, so a record whose value no longer parses is
//! skipped without losing the ones after it.
//!
//! # Why the value is stored as text
//! The canonical text is the one form of a value that the indicator module promises to read
//! back, so the file format does not depend on how `Value` is laid out in memory, and a record
//! that a later, stricter parser refuses is dropped (and counted) on load instead of reaching a
//! firewall. The kind is stored beside the text and the text is re-read by that kind's own parser,
//! not by `parse_token`: `parse_token` guesses the kind and refangs, and some canonical values
//! would not survive that (a URL whose path contains `[.]` is refanged into another URL; a
//! single-label domain of 32 hex digits is taken for an MD5 hash).

#[cfg(test)]
use std::fmt::Write as _;

use super::codec::{self, Malformed, Reader};
use super::file::Opened;
use super::migrate::Format;
use crate::indicator::{domain, hash, ip, url, Kind, Tlp, Value};
use crate::store::error::{Damage, StoreError};
use crate::store::{ListMeta, Record, SourceState};

const FLAG_EXPIRES: u8 = 1;
const FLAG_CONFIDENCE: u8 = 2;
const FLAG_TLP: u8 = 4;
const FLAG_COMMENT: u8 = 8;
const FLAGS_KNOWN: u8 = FLAG_EXPIRES | FLAG_CONFIDENCE | FLAG_TLP | FLAG_COMMENT;

/// The metadata both formats carry in one layout (format 1 per record, format 2 per stamp
/// in `snapshot.rs`): a flags byte, then the optional fields it announces, the tags, the comment.
pub(in crate::store) struct MetaFields<T, C> {
    pub(in crate::store) expires: Option<i64>,
    pub(in crate::store) confidence: Option<u8>,
    pub(in crate::store) tlp: Option<Tlp>,
    pub(in crate::store) tags: T,
    pub(in crate::store) comment: Option<C>,
}

impl<T, C> MetaFields<T, C> {
    /// The flags byte announcing the optional fields.
    pub(in crate::store) fn flags(&self) -> u8 {
        let on = |b: bool, f: u8| if b { f } else { 0 };
        on(self.expires.is_some(), FLAG_EXPIRES)
            | on(self.confidence.is_some(), FLAG_CONFIDENCE)
            | on(self.tlp.is_some(), FLAG_TLP)
            | on(self.comment.is_some(), FLAG_COMMENT)
    }
}

impl MetaFields<&[String], &str> {
    /// Appends everything after the flags byte.
    pub(in crate::store) fn put(&self, out: &mut Vec<u8>) {
        if let Some(e) = self.expires {
            codec::put_i64(out, e);
        }
        if let Some(c) = self.confidence {
            out.push(c);
        }
        if let Some(t) = self.tlp {
            out.push(tlp_code(t));
        }
        codec::put_u64(out, self.tags.len() as u64);
        for t in self.tags {
            codec::put_str(out, t);
        }
        if let Some(c) = self.comment {
            codec::put_str(out, c);
        }
    }
}

/// Reads a flags byte, refusing bits this version does not know.
pub(in crate::store) fn get_flags(r: &mut Reader<'_>) -> Result<u8, Malformed> {
    let flags = r.u8()?;
    if flags & !FLAGS_KNOWN != 0 {
        return Err("unknown flag bits");
    }
    Ok(flags)
}

/// Reads everything after the flags byte.
pub(in crate::store) fn get_meta(
    r: &mut Reader<'_>,
    flags: u8,
) -> Result<MetaFields<Vec<String>, String>, Malformed> {
    let expires = if flags & FLAG_EXPIRES != 0 {
        Some(r.i64()?)
    } else {
        None
    };
    let confidence = if flags & FLAG_CONFIDENCE != 0 {
        Some(r.u8()?)
    } else {
        None
    };
    let tlp = if flags & FLAG_TLP != 0 {
        Some(tlp_from(r.u8()?)?)
    } else {
        None
    };
    let n = r.len()?;
    // Each tag takes at least one byte: a count beyond the bytes left is damage, and must not
    // reserve memory.
    if n > r.rest().len() {
        return Err("tag count runs past the end of the record");
    }
    let mut tags = Vec::with_capacity(n);
    for _ in 0..n {
        tags.push(r.str()?.to_owned());
    }
    let comment = if flags & FLAG_COMMENT != 0 {
        Some(r.str()?.to_owned())
    } else {
        None
    };
    Ok(MetaFields {
        expires,
        confidence,
        tlp,
        tags,
        comment,
    })
}

pub(in crate::store) fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Ip => 0,
        Kind::Domain => 1,
        Kind::Url => 2,
        Kind::Hash => 3,
    }
}

pub(in crate::store) fn kind_from(code: u8) -> Result<Kind, Malformed> {
    Ok(match code {
        0 => Kind::Ip,
        1 => Kind::Domain,
        2 => Kind::Url,
        3 => Kind::Hash,
        _ => return Err("unknown indicator kind"),
    })
}

pub(in crate::store) fn tlp_code(t: Tlp) -> u8 {
    match t {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

pub(in crate::store) fn tlp_from(code: u8) -> Result<Tlp, Malformed> {
    Ok(match code {
        0 => Tlp::Clear,
        1 => Tlp::Green,
        2 => Tlp::Amber,
        3 => Tlp::AmberStrict,
        4 => Tlp::Red,
        _ => return Err("unknown TLP code"),
    })
}

/// Reusable buffers for [`encode_record`], so writing a snapshot allocates nothing per record.
#[cfg(test)]
#[derive(Debug, Default)]
pub(in crate::store) struct Scratch {
    text: String,
    body: Vec<u8>,
    out: Vec<u8>,
}

/// Encodes one record, length prefix included; the bytes live in `scratch` until the next call.
/// Format 1 is no longer written; this stays to make the test data of its reader.
#[cfg(test)]
pub(in crate::store) fn encode_record<'s>(r: &Record, scratch: &'s mut Scratch) -> &'s [u8] {
    let Scratch { text, body, out } = scratch;
    text.clear();
    body.clear();
    out.clear();
    // Writing to a String cannot fail.
    let _ = write!(text, "{}", r.value);
    let meta = MetaFields {
        expires: r.expires,
        confidence: r.confidence,
        tlp: r.tlp,
        tags: r.tags.as_slice(),
        comment: r.comment.as_deref(),
    };
    body.push(kind_code(r.value.kind()));
    body.push(meta.flags());
    codec::put_str(body, text);
    codec::put_i64(body, r.first_seen);
    codec::put_i64(body, r.last_seen.wrapping_sub(r.first_seen));
    meta.put(body);
    codec::put_bytes(out, body);
    out
}

/// Reads a value back from its kind and canonical text with that kind's parser; `None` when it
/// no longer parses (or parses as another kind).
pub(in crate::store) fn decode_value(kind: Kind, text: &str) -> Option<Value> {
    let value = match kind {
        Kind::Ip => {
            let p = if text.contains(':') {
                ip::parse_v6_token(text)
            } else {
                ip::parse_v4_token(text.as_bytes())
            };
            Value::Ip(p.ok()?.range)
        }
        Kind::Domain => Value::Domain(domain::parse(text).ok()?.0),
        Kind::Url => Value::Url(url::parse(text).ok()?.0),
        Kind::Hash => Value::Hash(hash::parse(text).ok()?.0),
    };
    Some(value)
}

/// Decodes one record body (without its length prefix). `Ok(Err(text))` when the record is
/// well-formed but its value no longer parses: it is skipped and counted, not an error.
///
/// # Errors
/// What is malformed, when the bytes are not a format-1 record.
pub(in crate::store) fn decode_record(body: &[u8]) -> Result<Result<Record, String>, Malformed> {
    let mut r = Reader::new(body);
    let kind = kind_from(r.u8()?)?;
    let flags = get_flags(&mut r)?;
    let text = r.str()?;
    let first_seen = r.i64()?;
    let last_seen = first_seen.wrapping_add(r.i64()?);
    let m = get_meta(&mut r, flags)?;
    if !r.is_empty() {
        return Err("trailing bytes after the record");
    }
    let Some(value) = decode_value(kind, text) else {
        return Ok(Err(text.to_owned()));
    };
    Ok(Ok(Record {
        value,
        first_seen,
        last_seen,
        expires: m.expires,
        confidence: m.confidence,
        tlp: m.tlp,
        tags: m.tags,
        comment: m.comment,
    }))
}

fn encode_state(out: &mut Vec<u8>, s: &SourceState) {
    codec::put_opt_str(out, s.etag.as_deref());
    codec::put_opt_str(out, s.last_modified.as_deref());
    codec::put_opt_i64(out, s.last_attempt);
    codec::put_opt_i64(out, s.last_success);
    codec::put_opt_str(out, s.last_error.as_deref());
    codec::put_opt_str(out, s.last_error_reason.as_deref());
    codec::put_u64(out, s.accepted_count);
    codec::put_opt_str(out, s.cursor.as_deref());
}

fn decode_state(r: &mut Reader<'_>) -> Result<SourceState, Malformed> {
    Ok(SourceState {
        etag: r.opt_str()?,
        last_modified: r.opt_str()?,
        last_attempt: r.opt_i64()?,
        last_success: r.opt_i64()?,
        last_error: r.opt_str()?,
        last_error_reason: r.opt_str()?,
        accepted_count: r.u64()?,
        cursor: r.opt_str()?,
    })
}

/// The header fields of a snapshot file: name, generation, record count, and the state that was
/// accepted together with these records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::store) struct SnapHeader {
    /// Generation (see `mod.rs`, "Atomicity").
    pub(in crate::store) gen: u64,
    /// Number of records in the payload.
    pub(in crate::store) count: u64,
    /// The state written with the records.
    pub(in crate::store) state: SourceState,
}

/// Encodes a snapshot header.
pub(in crate::store) fn encode_snap_header(name: &str, h: &SnapHeader) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_str(&mut out, name);
    codec::put_u64(&mut out, h.gen);
    codec::put_u64(&mut out, h.count);
    encode_state(&mut out, &h.state);
    out
}

/// Encodes a state file header: name, generation, state.
pub(in crate::store) fn encode_state_header(name: &str, gen: u64, s: &SourceState) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_str(&mut out, name);
    codec::put_u64(&mut out, gen);
    encode_state(&mut out, s);
    out
}

/// Encodes a list file header: name and metadata.
pub(in crate::store) fn encode_list_header(name: &str, m: &ListMeta) -> Vec<u8> {
    let mut out = Vec::new();
    codec::put_str(&mut out, name);
    codec::put_u64(&mut out, m.entries);
    codec::put_i64(&mut out, m.compiled_at);
    codec::put_i64(&mut out, m.changed_at);
    codec::put_str(&mut out, &m.etag);
    out
}

/// Decodes a header with `fields`, checking the name it starts with and that nothing is left.
fn decode_header<T>(
    o: &Opened,
    name: &str,
    fields: impl FnOnce(&mut Reader<'_>) -> Result<T, Malformed>,
) -> Result<T, StoreError> {
    let damaged = |what| StoreError::damaged(&o.path, Damage::Header(what));
    match o.format {
        // Headers did not change in format 2 (only the snapshot payload did).
        Format::V1 | Format::V2 => {
            let mut r = Reader::new(&o.header);
            let found = r.str().map_err(damaged)?;
            if found != name {
                return Err(StoreError::damaged(
                    &o.path,
                    Damage::Name {
                        found: found.to_owned(),
                    },
                ));
            }
            let v = fields(&mut r).map_err(damaged)?;
            if !r.is_empty() {
                return Err(damaged("trailing bytes in the header"));
            }
            Ok(v)
        }
    }
}

/// Decodes the header of an opened snapshot of source `name`.
///
/// # Errors
/// [`StoreError::Damaged`] naming the file.
pub(in crate::store) fn decode_snap_header(
    o: &Opened,
    name: &str,
) -> Result<SnapHeader, StoreError> {
    decode_header(o, name, |r| {
        Ok(SnapHeader {
            gen: r.u64()?,
            count: r.u64()?,
            state: decode_state(r)?,
        })
    })
}

/// Decodes the header of an opened state file of source `name`: generation and state.
///
/// # Errors
/// [`StoreError::Damaged`] naming the file.
pub(in crate::store) fn decode_state_header(
    o: &Opened,
    name: &str,
) -> Result<(u64, SourceState), StoreError> {
    decode_header(o, name, |r| Ok((r.u64()?, decode_state(r)?)))
}

/// Decodes the header of an opened indicator index of source `name`: generation and count.
///
/// # Errors
/// [`StoreError::Damaged`] naming the file.
pub(in crate::store) fn decode_ids_header(
    o: &Opened,
    name: &str,
) -> Result<(u64, u64), StoreError> {
    decode_header(o, name, |r| Ok((r.u64()?, r.u64()?)))
}

/// Decodes the header of an opened list file of list `name`.
///
/// # Errors
/// [`StoreError::Damaged`] naming the file.
pub(in crate::store) fn decode_list_header(o: &Opened, name: &str) -> Result<ListMeta, StoreError> {
    decode_header(o, name, |r| {
        Ok(ListMeta {
            entries: r.u64()?,
            compiled_at: r.i64()?,
            changed_at: r.i64()?,
            etag: r.str()?.to_owned(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::parse_token;
    use proptest::prelude::*;

    fn value(s: &str) -> Value {
        parse_token(s.as_bytes(), None).unwrap().value
    }

    fn rec(v: &str) -> Record {
        Record {
            value: value(v),
            first_seen: 1_700_000_000,
            last_seen: 1_700_000_060,
            expires: None,
            confidence: None,
            tlp: None,
            tags: vec![],
            comment: None,
        }
    }

    fn round_trip(r: &Record) -> Record {
        let mut s = Scratch::default();
        let bytes = encode_record(r, &mut s).to_vec();
        let mut rd = Reader::new(&bytes);
        let body = rd.bytes().unwrap();
        assert!(rd.is_empty());
        decode_record(body).unwrap().unwrap()
    }

    // The exact bytes of a record: the format is a promise to every store already on disk.
    #[test]
    fn format_1_bytes_are_stable() {
        let mut r = rec("1.2.3.4");
        r.confidence = Some(80);
        r.tlp = Some(Tlp::Amber);
        r.tags = vec!["c2".into()];
        let mut s = Scratch::default();
        let bytes = encode_record(&r, &mut s);
        assert_eq!(
            bytes,
            [
                22, // body length
                0, 6, // ip; confidence + tlp
                7, b'1', b'.', b'2', b'.', b'3', b'.', b'4', // value
                0x80, 0xc4, 0x9f, 0xd5, 0x0c, // first_seen 1_700_000_000 zig-zag
                120,  // last_seen - first_seen = 60, zig-zag
                80, 2, // confidence, amber
                1, 2, b'c', b'2', // one tag
            ]
        );
        assert_eq!(round_trip(&r), r);
    }

    #[test]
    fn every_kind_round_trips() {
        for v in [
            "1.2.3.4",
            "10.0.0.0/8",
            "1.2.3.4-1.2.3.9",
            "2001:db8::/32",
            "2001:db8::1-2001:db8::5",
            "*.evil.example",
            "xn--bcher-kva.example",
            "http://evil.example/a?b=c",
            "https://[2001:db8::1]/x",
            &"ab".repeat(32),
        ] {
            let r = rec(v);
            assert_eq!(round_trip(&r), r, "{v}");
        }
    }

    // Why the kind's own parser and not `parse_token`: these canonical values do not come back
    // through the kind-guessing, refanging path.
    #[test]
    fn values_parse_token_would_not_read_back() {
        let url = Value::Url(url::parse("http://evil.example/a[.]b").unwrap().0);
        let hexname = Value::Domain(domain::parse(&"ab".repeat(16)).unwrap().0);
        for v in [url, hexname] {
            let text = v.to_string();
            let via_token = parse_token(text.as_bytes(), None).map(|p| p.value);
            assert_ne!(via_token.as_ref().ok(), Some(&v), "{text}");
            assert_eq!(decode_value(v.kind(), &text), Some(v));
        }
    }

    #[test]
    fn unparsable_value_is_skipped_not_an_error() {
        let mut s = Scratch::default();
        let mut bytes = encode_record(&rec("evil.example"), &mut s).to_vec();
        // Damage the value text in place (same length): "evil.example" -> "evil..xample".
        let i = bytes.windows(2).position(|w| w == b".e").unwrap();
        bytes[i + 1] = b'.';
        let mut rd = Reader::new(&bytes);
        assert_eq!(
            decode_record(rd.bytes().unwrap()),
            Ok(Err("evil..xample".to_string()))
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let good = {
            let mut s = Scratch::default();
            let mut r = rec("evil.example");
            r.comment = Some("x".into());
            encode_record(&r, &mut s)[1..].to_vec()
        };
        assert!(decode_record(&good).unwrap().is_ok());
        for cut in 0..good.len() {
            assert!(decode_record(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(decode_record(&extra).is_err());
        let mut flags = good.clone();
        flags[1] |= 0x40;
        assert!(decode_record(&flags).is_err());
        let mut kind = good;
        kind[0] = 9;
        assert!(decode_record(&kind).is_err());
    }

    #[test]
    fn state_round_trips() {
        let s = SourceState {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            last_attempt: Some(-5),
            last_success: Some(i64::MAX),
            last_error: Some("boom\nline two\0".into()),
            last_error_reason: None,
            accepted_count: u64::MAX,
            cursor: Some(String::new()),
        };
        let mut out = Vec::new();
        encode_state(&mut out, &s);
        let mut r = Reader::new(&out);
        assert_eq!(decode_state(&mut r).unwrap(), s);
        assert!(r.is_empty());
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u32>().prop_map(|a| value(&std::net::Ipv4Addr::from(a).to_string())),
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, l)| value(&format!("{}/{l}", std::net::Ipv4Addr::from(a)))),
            any::<u128>().prop_map(|a| value(&format!("[{}]", std::net::Ipv6Addr::from(a)))),
            "(\\*\\.)?[a-z0-9]{1,10}\\.[a-z]{2,6}".prop_map(|d| value(&d)),
            "https?://[a-z]{1,10}\\.example/[a-zA-Z0-9/?=&%.\\[\\]]{0,20}"
                .prop_map(|u| Value::Url(url::parse(&u).unwrap().0)),
            "[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}".prop_map(|h| value(&h)),
        ]
    }

    fn any_record() -> impl Strategy<Value = Record> {
        let text = "\\PC{0,12}|[\\x00\n\r\"%/\\\\]{0,4}|.{0,8}";
        (
            any_value(),
            any::<i64>(),
            any::<i64>(),
            any::<Option<i64>>(),
            any::<Option<u8>>(),
            prop::option::of(prop_oneof![
                Just(Tlp::Clear),
                Just(Tlp::Green),
                Just(Tlp::Amber),
                Just(Tlp::AmberStrict),
                Just(Tlp::Red)
            ]),
            prop::collection::vec(text, 0..4),
            prop::option::of(text),
        )
            .prop_map(
                |(value, first_seen, last_seen, expires, confidence, tlp, tags, comment)| Record {
                    value,
                    first_seen,
                    last_seen,
                    expires,
                    confidence,
                    tlp,
                    tags,
                    comment,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

        #[test]
        fn records_round_trip(r in any_record()) {
            prop_assert_eq!(round_trip(&r), r);
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_record(&body);
        }
    }
}
