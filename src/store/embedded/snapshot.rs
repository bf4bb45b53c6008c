//! The format-2 snapshot payload: a table of stamps, then the records, each a binary value and
//! the index of its stamp. (The container is `file.rs`, the headers `record.rs`; format 1's
//! records are `record.rs`'s, still read.)
//!
//! # Payload (format 2)
//! ```text
//! varint  S, the number of stamps
//! S ×     stamp:
//!   i64     first_seen               (zig-zag varint, as every i64 here)
//!   i64     last_seen - first_seen
//!   u8      flags: 1 expires, 2 confidence, 4 tlp, 8 comment (other bits must be 0)
//!   [i64]   expires                  if flag 1
//!   [u8]    confidence               if flag 2
//!   [u8]    tlp: 0 clear, 1 green, 2 amber, 3 amber+strict, 4 red   if flag 4
//!   varint  tag count, then each tag as str
//!   [str]   comment                  if flag 8
//! count × record (count is in the header):
//!   u8      code: 0 IPv4, 1 IPv6, 2 domain, 3 URL, 4 hash
//!   IPv4:   i64 start - the previous IPv4 record's start (0 before the first), varint end - start
//!   IPv6:   zig-zag 128-bit varint start - the previous IPv6 start, varint end - start
//!   other:  str, the canonical text
//!   varint  stamp index (< S)
//! ```
//! `str` is a varint byte length and UTF-8.
//!
//! # Why this layout
//! - Stamps: a fetch gives most records the same metadata and the same times, so format 1
//!   repeated the same 6 to 20 bytes in every record; here a record of a plain feed spends one
//!   byte on it. A source whose records all differ (per-record comments or times) still works:
//!   its table simply has a stamp per record.
//! - IP values as numbers, delta-coded: snapshots are written sorted, so consecutive starts are
//!   close (10M random IPv4 addresses are ~430 apart: two bytes), single addresses have a span of
//!   0 (one byte), and reading needs no text parsing. An IPv4 record of a plain feed takes about 5
//!   bytes against format 1's 25. Any order still encodes (the delta is signed), so
//!   [`super::Store::replace`] keeps the order it was given.
//! - Names stay text, re-read by their kind's parser, for the reasons in `record.rs` ("Why the
//!   value is stored as text"): a name a later, stricter parser refuses is skipped and counted.
//!   IP ranges have no such question: every `start <= end` pair is a valid range.

use std::io;

use super::codec::{self, Malformed, Reader};
use super::file::PayloadWriter;
use super::record::{decode_value, get_flags, get_meta, kind_code, kind_from, MetaFields};
use crate::indicator::{IpRange, Value};
use crate::store::set::{Interner, Key, RecordSet, Stamp, StampId};
use crate::store::Record;

/// Bytes gathered before a write to the payload (which checksums each write).
const BATCH: usize = 64 << 10;

/// Writes the payload of `set`.
pub(in crate::store) fn write_set(w: &mut PayloadWriter<'_>, set: &RecordSet) -> io::Result<()> {
    write_payload(w, set.stamps(), set.iter())
}

/// Writes the payload of `records`, in the order given.
pub(in crate::store) fn write_records(
    w: &mut PayloadWriter<'_>,
    records: &[Record],
) -> io::Result<()> {
    let mut stamps = Interner::default();
    let ids: Vec<StampId> = records
        .iter()
        .map(|r| stamps.intern_ref(&Stamp::of(r)))
        .collect();
    let stamps = stamps.into_list();
    let keys = records.iter().zip(ids).map(|(r, id)| {
        let k = match &r.value {
            Value::Ip(IpRange::V4 { start, end }) => Key::V4(*start, *end),
            Value::Ip(IpRange::V6 { start, end }) => Key::V6(*start, *end),
            v => Key::Name(v),
        };
        (k, id)
    });
    write_payload(w, &stamps, keys)
}

fn write_payload<'a>(
    w: &mut PayloadWriter<'_>,
    stamps: &[Stamp],
    records: impl Iterator<Item = (Key<'a>, StampId)>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(BATCH + 256);
    codec::put_u64(&mut buf, stamps.len() as u64);
    for s in stamps {
        put_stamp(&mut buf, s);
        if buf.len() >= BATCH {
            w.write(&buf)?;
            buf.clear();
        }
    }
    let mut prev = Prev::default();
    for (k, id) in records {
        put_record(&mut buf, &mut prev, k, id);
        if buf.len() >= BATCH {
            w.write(&buf)?;
            buf.clear();
        }
    }
    w.write(&buf)
}

const CODE_V4: u8 = 0;
const CODE_V6: u8 = 1;
/// Added to the format-1 kind code (1 domain, 2 URL, 3 hash) for the codes 2, 3, 4.
const CODE_TEXT: u8 = 1;

/// Appends one stamp: its times, then the metadata in format 1's layout.
pub(in crate::store) fn put_stamp(out: &mut Vec<u8>, s: &Stamp) {
    codec::put_i64(out, s.first_seen);
    codec::put_i64(out, s.last_seen.wrapping_sub(s.first_seen));
    let meta = MetaFields {
        expires: s.expires,
        confidence: s.confidence,
        tlp: s.tlp,
        tags: s.tags.as_slice(),
        comment: s.comment.as_deref(),
    };
    out.push(meta.flags());
    meta.put(out);
}

/// Reads one stamp.
pub(in crate::store) fn get_stamp(r: &mut Reader<'_>) -> Result<Stamp, Malformed> {
    let first_seen = r.i64()?;
    let last_seen = first_seen.wrapping_add(r.i64()?);
    let flags = get_flags(r)?;
    let m = get_meta(r, flags)?;
    Ok(Stamp {
        first_seen,
        last_seen,
        expires: m.expires,
        confidence: m.confidence,
        tlp: m.tlp,
        tags: m.tags,
        comment: m.comment,
    })
}

/// The previous IP starts, for the deltas.
#[derive(Debug, Clone, Copy, Default)]
pub(in crate::store) struct Prev {
    v4: u32,
    v6: u128,
}

/// Appends one record.
pub(in crate::store) fn put_record(
    out: &mut Vec<u8>,
    prev: &mut Prev,
    key: Key<'_>,
    stamp: StampId,
) {
    match key {
        Key::V4(s, e) => {
            out.push(CODE_V4);
            codec::put_i64(out, i64::from(s) - i64::from(prev.v4));
            codec::put_u64(out, u64::from(e.wrapping_sub(s)));
            prev.v4 = s;
        }
        Key::V6(s, e) => {
            out.push(CODE_V6);
            let d = s.wrapping_sub(prev.v6) as i128;
            codec::put_u128(out, ((d << 1) ^ (d >> 127)) as u128);
            codec::put_u128(out, e.wrapping_sub(s));
            prev.v6 = s;
        }
        Key::Name(v) => {
            out.push(CODE_TEXT + kind_code(v.kind()));
            let text = v.to_string();
            codec::put_str(out, &text);
        }
    }
    codec::put_u64(out, u64::from(stamp));
}

/// A decoded record's value: the value, or the stored text of one that no longer parses.
#[derive(Debug)]
pub(in crate::store) enum Decoded {
    /// An IPv4 range.
    V4(u32, u32),
    /// An IPv6 range.
    V6(u128, u128),
    /// A domain, URL or hash.
    Name(Value),
    /// A name whose text no longer parses (skipped and counted).
    Unparsable(String),
}

impl Decoded {
    /// The value, unless unparsable.
    pub(in crate::store) fn into_value(self) -> Result<Value, String> {
        match self {
            Decoded::V4(start, end) => Ok(Value::Ip(IpRange::V4 { start, end })),
            Decoded::V6(start, end) => Ok(Value::Ip(IpRange::V6 { start, end })),
            Decoded::Name(v) => Ok(v),
            Decoded::Unparsable(t) => Err(t),
        }
    }
}

/// Reads one record; `prev` is advanced only when the record is whole.
pub(in crate::store) fn get_record(
    r: &mut Reader<'_>,
    prev: &mut Prev,
    stamps: usize,
) -> Result<(Decoded, StampId), Malformed> {
    let mut p = *prev;
    let value = match r.u8()? {
        CODE_V4 => {
            let s = i64::from(p.v4) + r.i64()?;
            let s = u32::try_from(s).map_err(|_| "IPv4 start out of range")?;
            let span = u32::try_from(r.u64()?).map_err(|_| "IPv4 range too long")?;
            let e = s
                .checked_add(span)
                .ok_or("IPv4 range past the last address")?;
            p.v4 = s;
            Decoded::V4(s, e)
        }
        CODE_V6 => {
            let z = r.u128()?;
            let d = ((z >> 1) as i128) ^ -((z & 1) as i128);
            let s = p.v6.wrapping_add(d as u128);
            let e = s
                .checked_add(r.u128()?)
                .ok_or("IPv6 range past the last address")?;
            p.v6 = s;
            Decoded::V6(s, e)
        }
        code => {
            let kind = kind_from(code.checked_sub(CODE_TEXT).ok_or("unknown record code")?)?;
            let text = r.str()?;
            match decode_value(kind, text) {
                Some(Value::Ip(_)) | None => Decoded::Unparsable(text.to_owned()),
                Some(v) => Decoded::Name(v),
            }
        }
    };
    let stamp = r.u64()?;
    if stamp >= stamps as u64 {
        return Err("stamp index out of range");
    }
    *prev = p;
    Ok((value, stamp as StampId))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::{parse_token, Tlp};

    fn key_round_trip(values: &[&str]) {
        let vals: Vec<Value> = values
            .iter()
            .map(|v| parse_token(v.as_bytes(), None).unwrap().value)
            .collect();
        let mut out = Vec::new();
        let mut prev = Prev::default();
        for v in &vals {
            let k = match *v {
                Value::Ip(IpRange::V4 { start, end }) => Key::V4(start, end),
                Value::Ip(IpRange::V6 { start, end }) => Key::V6(start, end),
                ref n => Key::Name(n),
            };
            put_record(&mut out, &mut prev, k, 3);
        }
        let mut r = Reader::new(&out);
        let mut prev = Prev::default();
        for v in &vals {
            let (d, id) = get_record(&mut r, &mut prev, 4).unwrap();
            assert_eq!(d.into_value().as_ref(), Ok(v));
            assert_eq!(id, 3);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn records_round_trip_in_any_order() {
        key_round_trip(&[
            "9.9.9.9",
            "1.2.3.4",
            "0.0.0.0/0",
            "255.255.255.255",
            "10.0.0.0-10.0.3.255",
            "[2001:db8::1]",
            "::/0",
            "ffff::/16",
            "2001:db8::/32",
            "*.evil.example",
            "http://evil.example/a?b=c",
            &"ab".repeat(32),
        ]);
    }

    #[test]
    fn stamp_round_trips() {
        let s = Stamp {
            first_seen: -5,
            last_seen: i64::MAX,
            expires: Some(i64::MIN),
            confidence: Some(0),
            tlp: Some(Tlp::AmberStrict),
            tags: vec![String::new(), "ü".into()],
            comment: Some("a\0b".into()),
        };
        let mut out = Vec::new();
        put_stamp(&mut out, &s);
        let mut r = Reader::new(&out);
        assert_eq!(get_stamp(&mut r).unwrap(), s);
        assert!(r.is_empty());
    }

    #[test]
    fn a_plain_ipv4_record_is_small() {
        let mut out = Vec::new();
        let mut prev = Prev::default();
        put_record(&mut out, &mut prev, Key::V4(0x0a00_0000, 0x0a00_0000), 0);
        out.clear();
        put_record(&mut out, &mut prev, Key::V4(0x0a00_01b0, 0x0a00_01b0), 0);
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let mut out = Vec::new();
        let mut prev = Prev::default();
        put_record(&mut out, &mut prev, Key::V4(5, 9), 0);
        let mut r = Reader::new(&out);
        assert!(
            get_record(&mut r, &mut Prev::default(), 0).is_err(),
            "stamp"
        );
        for cut in 0..out.len() {
            let mut r = Reader::new(&out[..cut]);
            assert!(get_record(&mut r, &mut Prev::default(), 1).is_err());
        }
        // A span past the last address.
        let bad = [CODE_V4, 0xfe, 0xff, 0xff, 0xff, 0x1f, 0x05, 0x00];
        assert!(get_record(&mut Reader::new(&bad), &mut Prev::default(), 1).is_err());
        assert!(get_record(&mut Reader::new(&[9, 0, 0]), &mut Prev::default(), 1).is_err());
    }
}
