//! Byte-level building blocks of the store's files: LEB128 varints, zig-zag signed integers,
//! length-prefixed strings, a bounds-checked reader over a byte slice, and CRC-32.
//!
//! Hand-written rather than a serialization crate because the whole format is a handful of
//! integers and strings, it must stay byte-for-byte stable across releases (a crate upgrade must
//! never change what is on disk), and decoding must never panic or over-allocate on damaged input.

/// Appends `v` as an unsigned LEB128 varint (1 byte below 128, at most 10).
pub(in crate::store) fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as an unsigned LEB128 varint (at most 19 bytes).
pub(in crate::store) fn put_u128(out: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zig-zag encoded, so small negative numbers stay short too.
pub(in crate::store) fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a length-prefixed byte string.
pub(in crate::store) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a length-prefixed UTF-8 string.
pub(in crate::store) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// Appends `0` for `None`, `1` and the string for `Some`.
pub(in crate::store) fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// Appends `0` for `None`, `1` and the zig-zag number for `Some`.
pub(in crate::store) fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put_i64(out, v);
        }
    }
}

/// What was malformed, for [`super::error::Damage`].
pub(in crate::store) type Malformed = &'static str;

/// The data ended inside a value.
pub(in crate::store) const END: Malformed = "unexpected end of data";
/// A length runs past the end of the data.
pub(in crate::store) const PAST_END: Malformed = "length runs past the end of the data";

/// True for the errors that only mean "more bytes needed" when the data is a prefix of a
/// stream.
pub(in crate::store) fn is_short(m: Malformed) -> bool {
    m == END || m == PAST_END
}

/// A bounds-checked reader over a byte slice: every getter fails instead of panicking when the
/// bytes run out or make no sense.
#[derive(Debug)]
pub(in crate::store) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `buf`.
    pub(in crate::store) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// True when every byte was consumed.
    pub(in crate::store) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes not yet read.
    pub(in crate::store) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// One byte.
    pub(in crate::store) fn u8(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.buf.split_first().ok_or(END)?;
        self.buf = rest;
        Ok(b)
    }

    /// Exactly `n` bytes.
    pub(in crate::store) fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.buf.len() {
            return Err(PAST_END);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A fixed-width little-endian `u32`.
    pub(in crate::store) fn u32_le(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A fixed-width little-endian `u64`.
    pub(in crate::store) fn u64_le(&mut self) -> Result<u64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// An unsigned varint.
    pub(in crate::store) fn u64(&mut self) -> Result<u64, Malformed> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the one remaining bit.
            if shift == 63 && bits > 1 {
                return Err("varint overflows 64 bits");
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes")
    }

    /// An unsigned varint of up to 128 bits.
    pub(in crate::store) fn u128(&mut self) -> Result<u128, Malformed> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.u8()?;
            let bits = u128::from(b & 0x7f);
            // The nineteenth byte may only carry the two remaining bits.
            if shift == 126 && bits > 3 {
                return Err("varint overflows 128 bits");
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 19 bytes")
    }

    /// A varint that must fit a `usize` length.
    pub(in crate::store) fn len(&mut self) -> Result<usize, Malformed> {
        usize::try_from(self.u64()?).map_err(|_| "length does not fit in memory")
    }

    /// A zig-zag signed varint.
    pub(in crate::store) fn i64(&mut self) -> Result<i64, Malformed> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A length-prefixed byte string.
    pub(in crate::store) fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.len()?;
        self.take(n)
    }

    /// A length-prefixed UTF-8 string.
    pub(in crate::store) fn str(&mut self) -> Result<&'a str, Malformed> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "string is not valid UTF-8")
    }

    /// A `0`/`1`-tagged optional.
    fn tag(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("optional field with a tag other than 0 or 1"),
        }
    }

    /// An optional string written by [`put_opt_str`].
    pub(in crate::store) fn opt_str(&mut self) -> Result<Option<String>, Malformed> {
        Ok(if self.tag()? {
            Some(self.str()?.to_owned())
        } else {
            None
        })
    }

    /// An optional number written by [`put_opt_i64`].
    pub(in crate::store) fn opt_i64(&mut self) -> Result<Option<i64>, Malformed> {
        Ok(if self.tag()? { Some(self.i64()?) } else { None })
    }
}

/// CRC-32 (IEEE 802.3, the zlib/PNG one), slicing-by-8: about 2 GB/s, so the checksum of a
/// 10M-record snapshot costs a fraction of a second. Detects torn or bit-rotted files; it is not
/// a defence against someone who can write to `data_dir` (nothing is).
#[derive(Debug, Clone, Copy)]
pub(in crate::store) struct Crc32(u32);

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

impl Crc32 {
    /// A fresh checksum.
    pub(in crate::store) fn new() -> Self {
        Crc32(!0)
    }

    /// Feeds `data`.
    pub(in crate::store) fn update(&mut self, data: &[u8]) {
        let t = &CRC_TABLES;
        let mut c = self.0;
        let mut chunks = data.chunks_exact(8);
        for w in &mut chunks {
            let a = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ c;
            let b = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
            c = t[7][(a & 0xff) as usize]
                ^ t[6][((a >> 8) & 0xff) as usize]
                ^ t[5][((a >> 16) & 0xff) as usize]
                ^ t[4][(a >> 24) as usize]
                ^ t[3][(b & 0xff) as usize]
                ^ t[2][((b >> 8) & 0xff) as usize]
                ^ t[1][((b >> 16) & 0xff) as usize]
                ^ t[0][(b >> 24) as usize];
        }
        for &x in chunks.remainder() {
            c = t[0][((c ^ u32::from(x)) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    /// The checksum of everything fed so far.
    pub(in crate::store) fn value(&self) -> u32 {
        !self.0
    }

    /// The checksum of one slice.
    pub(in crate::store) fn of(data: &[u8]) -> u32 {
        let mut c = Crc32::new();
        c.update(data);
        c.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(Crc32::of(b"123456789"), 0xCBF4_3926);
        assert_eq!(Crc32::of(b""), 0);
    }

    #[test]
    fn crc_is_incremental() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let mut c = Crc32::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.value(), Crc32::of(&data), "split at {split}");
        }
    }

    #[test]
    fn varint_bytes() {
        let mut out = Vec::new();
        put_u64(&mut out, 0);
        put_u64(&mut out, 127);
        put_u64(&mut out, 128);
        put_i64(&mut out, -1);
        assert_eq!(out, [0x00, 0x7f, 0x80, 0x01, 0x01]);
    }

    #[test]
    fn varint_overflow_is_an_error() {
        let bad = [0xffu8; 11];
        assert!(Reader::new(&bad).u64().is_err());
        let mut max = [0xffu8; 10];
        max[9] = 0x01;
        assert_eq!(Reader::new(&max).u64(), Ok(u64::MAX));
        max[9] = 0x02;
        assert!(Reader::new(&max).u64().is_err());
    }

    #[test]
    fn short_input_is_an_error() {
        assert!(Reader::new(&[0x80]).u64().is_err());
        assert!(Reader::new(&[5, b'a']).str().is_err());
        assert!(Reader::new(&[2]).opt_str().is_err());
    }

    proptest! {
        #[test]
        fn numbers_round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut out = Vec::new();
            put_u64(&mut out, u);
            put_i64(&mut out, i);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.u64(), Ok(u));
            prop_assert_eq!(r.i64(), Ok(i));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn u128_round_trips(u in any::<u128>()) {
            let mut out = Vec::new();
            put_u128(&mut out, u);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.u128(), Ok(u));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            while r.u64().is_ok() {}
            let _ = Reader::new(&data).str();
            let _ = Reader::new(&data).opt_str();
            let _ = Reader::new(&data).opt_i64();
        }
    }
}
