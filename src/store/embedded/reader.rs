//! [`RecordReader`]: streams the records of one snapshot file from disk (format 1 or 2), checking
//! its checksum and record count at the end, so millions of records can be folded without
//! holding them. [`super::Store::load`] uses the same reader without making a [`Record`] of
//! each: format-2 records go straight into a [`RecordSet`] with their stamp ids.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::codec::{self, Crc32, Malformed, Reader};
use super::file::Opened;
use super::migrate::Format;
use super::record::decode_record;
use super::snapshot::{self, Decoded, Prev};
use crate::store::error::{Damage, IoAction, StoreError};
use crate::store::set::{Builder, RecordSet, Stamp, StampId};
use crate::store::Record;

/// Bytes read from disk at a time.
const CHUNK: usize = 1 << 20;

/// Streams the records of one snapshot, so a caller that folds them (the compiler) never holds
/// the file or a `Vec<Record>` in memory; [`super::Store::read_records`] makes one.
///
/// The checksum and the record count are checked when the last record has been read: the final
/// item is then an error if the file was damaged. **Use the records only once the iterator has
/// ended without an error** ([`super::Store::records`] does this for you). A record whose value no
/// longer parses is skipped, not yielded, and counted in [`RecordReader::skipped`].
#[derive(Debug)]
pub struct RecordReader {
    path: PathBuf,
    /// `None` for a source without a snapshot.
    file: Option<File>,
    format: Format,
    buf: Vec<u8>,
    pos: usize,
    remaining: u64,
    crc: Crc32,
    expected_crc: u32,
    expected_count: u64,
    index: u64,
    skipped: u64,
    first_skipped: Option<String>,
    done: bool,
    /// Format 2: the stamp table, read before the first record.
    stamps: Option<Vec<Stamp>>,
    prev: Prev,
}

/// One record as read: format 1 gives whole records, format 2 a value and a stamp id.
enum Item {
    Whole(Record),
    Stamped(Decoded, StampId),
}

impl RecordReader {
    /// A reader over the payload of `o`, a snapshot whose header said `count` records.
    pub(in crate::store) fn new(o: Opened, count: u64) -> Self {
        RecordReader {
            path: o.path,
            file: Some(o.file),
            format: o.format,
            buf: Vec::new(),
            pos: 0,
            remaining: o.payload_len,
            crc: Crc32::new(),
            expected_crc: o.payload_crc,
            expected_count: count,
            index: 0,
            skipped: 0,
            first_skipped: None,
            done: false,
            stamps: None,
            prev: Prev::default(),
        }
    }

    /// A reader with nothing to read (a source without a snapshot).
    pub(in crate::store) fn empty(path: &Path) -> Self {
        RecordReader {
            path: path.to_path_buf(),
            file: None,
            format: Format::V2,
            buf: Vec::new(),
            pos: 0,
            remaining: 0,
            crc: Crc32::new(),
            expected_crc: Crc32::new().value(),
            expected_count: 0,
            index: 0,
            skipped: 0,
            first_skipped: None,
            done: false,
            stamps: Some(Vec::new()),
            prev: Prev::default(),
        }
    }

    /// Records the header announces (skipped ones included): a capacity hint.
    pub fn announced(&self) -> u64 {
        self.expected_count
    }

    /// Bytes of records in the file: with [`RecordReader::announced`], a bound for a capacity.
    pub(in crate::store) fn payload_hint(&self) -> u64 {
        self.remaining + (self.buf.len() - self.pos) as u64
    }

    /// Records skipped so far because their value no longer parses.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The stored text of the first skipped record, for the log line.
    pub fn first_skipped(&self) -> Option<&str> {
        self.first_skipped.as_deref()
    }

    /// The snapshot file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes at least `need` unread bytes available, or all that are left.
    fn fill(&mut self, need: usize) -> Result<(), StoreError> {
        if self.buf.len() - self.pos >= need {
            return Ok(());
        }
        self.buf.drain(..self.pos);
        self.pos = 0;
        while self.buf.len() < need && self.remaining > 0 {
            let Some(file) = self.file.as_mut() else {
                break;
            };
            let want = CHUNK.max(need) - self.buf.len();
            let n = usize::try_from(self.remaining).map_or(want, |r| r.min(want));
            let start = self.buf.len();
            self.buf.resize(start + n, 0);
            file.read_exact(&mut self.buf[start..])
                .map_err(|e| StoreError::io(&self.path, IoAction::Read, e))?;
            self.crc.update(&self.buf[start..]);
            self.remaining -= n as u64;
        }
        Ok(())
    }

    /// Decodes one item with `f` from the unread bytes, reading more from the file while `f`
    /// runs out of bytes and the file has more.
    fn decode<T>(
        &mut self,
        f: impl Fn(&mut Reader<'_>) -> Result<T, Malformed>,
    ) -> Result<T, StoreError> {
        let mut want = 64;
        loop {
            self.fill(want)?;
            let avail = &self.buf[self.pos..];
            let mut r = Reader::new(avail);
            match f(&mut r) {
                Ok(v) => {
                    self.pos += avail.len() - r.rest().len();
                    return Ok(v);
                }
                Err(m) if codec::is_short(m) && self.remaining > 0 => {
                    want = avail.len().saturating_mul(2).max(want);
                }
                Err(m) => {
                    let index = self.index;
                    return Err(StoreError::damaged(
                        &self.path,
                        Damage::Record { index, what: m },
                    ));
                }
            }
        }
    }

    /// Format 2: reads the stamp table when not yet read.
    fn read_stamps(&mut self) -> Result<(), StoreError> {
        if self.stamps.is_some() {
            return Ok(());
        }
        let n = self.decode(|r| r.u64())?;
        // A stamp takes at least 4 bytes: a count beyond that is damage, and must not reserve
        // memory.
        let bound = self.payload_hint() / 4;
        if n > bound {
            return Err(StoreError::damaged(
                &self.path,
                Damage::Record {
                    index: 0,
                    what: "stamp count runs past the end of the file",
                },
            ));
        }
        let mut stamps = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for _ in 0..n {
            stamps.push(self.decode(snapshot::get_stamp)?);
        }
        self.stamps = Some(stamps);
        Ok(())
    }

    /// Checks the end of the payload: checksum and count.
    fn check_end(&self) -> Result<(), StoreError> {
        if self.crc.value() != self.expected_crc {
            return Err(StoreError::damaged(&self.path, Damage::DataChecksum));
        }
        if self.index != self.expected_count {
            return Err(StoreError::damaged(
                &self.path,
                Damage::Count {
                    expected: self.expected_count,
                    found: self.index,
                },
            ));
        }
        Ok(())
    }

    /// One record: `Ok(None)` at a clean end.
    fn step(&mut self) -> Result<Option<Item>, StoreError> {
        match self.format {
            Format::V1 => self.step_v1(),
            Format::V2 => {
                self.read_stamps()?;
                self.fill(1)?;
                if self.pos == self.buf.len() {
                    self.check_end()?;
                    return Ok(None);
                }
                let stamps = self.stamps.as_ref().map_or(0, Vec::len);
                let prev = self.prev;
                let ((d, id), prev) = self.decode(|r| {
                    let mut p = prev;
                    let out = snapshot::get_record(r, &mut p, stamps)?;
                    Ok((out, p))
                })?;
                self.prev = prev;
                self.index += 1;
                Ok(Some(Item::Stamped(d, id)))
            }
        }
    }

    /// One format-1 record.
    fn step_v1(&mut self) -> Result<Option<Item>, StoreError> {
        let index = self.index;
        let damaged = |path: &Path, what| StoreError::damaged(path, Damage::Record { index, what });
        self.fill(10)?;
        let avail = &self.buf[self.pos..];
        if avail.is_empty() {
            self.check_end()?;
            return Ok(None);
        }
        let mut r = Reader::new(avail);
        let len = r.len().map_err(|w| damaged(&self.path, w))?;
        let prefix = avail.len() - r.rest().len();
        let left = (avail.len() - prefix) as u64 + self.remaining;
        if len as u64 > left {
            return Err(damaged(&self.path, "length runs past the end of the file"));
        }
        self.fill(prefix + len)?;
        let start = self.pos + prefix;
        let body = &self.buf[start..start + len];
        let decoded = decode_record(body).map_err(|w| damaged(&self.path, w))?;
        self.pos = start + len;
        self.index += 1;
        Ok(Some(match decoded {
            Ok(r) => Item::Whole(r),
            Err(text) => Item::Stamped(Decoded::Unparsable(text), 0),
        }))
    }

    /// Format 2, for [`RecordReader::into_set`]: decodes every record straight from the buffer
    /// into `b`, refilling only when a record runs past the bytes read so far.
    fn read_v2_into(&mut self, b: &mut Builder) -> Result<(), StoreError> {
        self.read_stamps()?;
        let stamps = self.stamps.as_ref().map_or(0, Vec::len);
        let mut want = 64;
        loop {
            self.fill(want)?;
            let avail = &self.buf[self.pos..];
            if avail.is_empty() {
                return Ok(());
            }
            let mut r = Reader::new(avail);
            let mut used = 0;
            let mut short = false;
            let mut skipped = Vec::new();
            let mut prev = self.prev;
            let mut index = self.index;
            loop {
                match snapshot::get_record(&mut r, &mut prev, stamps) {
                    Ok((d, id)) => {
                        index += 1;
                        used = avail.len() - r.rest().len();
                        match d {
                            Decoded::V4(s, e) => b.push_v4(s, e, id),
                            Decoded::V6(s, e) => b.push_v6(s, e, id),
                            Decoded::Name(v) => b.push_name(v, id),
                            Decoded::Unparsable(text) => skipped.push(text),
                        }
                        if r.is_empty() {
                            break;
                        }
                    }
                    Err(m) if codec::is_short(m) && self.remaining > 0 => {
                        short = true;
                        break;
                    }
                    Err(m) => {
                        return Err(StoreError::damaged(
                            &self.path,
                            Damage::Record { index, what: m },
                        ))
                    }
                }
            }
            self.pos += used;
            self.prev = prev;
            self.index = index;
            for text in skipped {
                self.note_skipped(text);
            }
            // A record cut by the end of the buffer: read more (at least twice what is left).
            want = if short {
                (self.buf.len() - self.pos).saturating_mul(2).max(64)
            } else {
                64
            };
        }
    }

    fn note_skipped(&mut self, text: String) {
        self.skipped += 1;
        if self.first_skipped.is_none() {
            self.first_skipped = Some(text);
        }
    }

    /// Reads every record into a [`RecordSet`] (format 2 without making a [`Record`] of each).
    pub(in crate::store) fn into_set(mut self) -> Result<(RecordSet, Self), StoreError> {
        let mut b = Builder::default();
        if self.format == Format::V2 {
            self.read_v2_into(&mut b)?;
        }
        while let Some(item) = self.step()? {
            match item {
                Item::Whole(r) => b.push_record(r),
                Item::Stamped(Decoded::V4(s, e), id) => b.push_v4(s, e, id),
                Item::Stamped(Decoded::V6(s, e), id) => b.push_v6(s, e, id),
                Item::Stamped(Decoded::Name(v), id) => b.push_name(v, id),
                Item::Stamped(Decoded::Unparsable(text), _) => self.note_skipped(text),
            }
        }
        if self.format == Format::V2 {
            // Format 2's ids index the table as read.
            b.use_stamps(self.stamps.take().unwrap_or_default());
        }
        Ok((b.finish(), self))
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Some(Item::Whole(rec))) => return Some(Ok(rec)),
                Ok(Some(Item::Stamped(d, id))) => match d.into_value() {
                    Ok(v) => {
                        // The id was checked against the table when decoded.
                        let stamps = self.stamps.as_deref().unwrap_or_default();
                        let r = match stamps.get(id as usize) {
                            Some(s) => s.record(v),
                            None => Stamp::default().record(v),
                        };
                        return Some(Ok(r));
                    }
                    Err(text) => self.note_skipped(text),
                },
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
