//! [`RecordReader`]: streams the records of one snapshot file from disk, checking its checksum
//! and record count at the end, so millions of records can be folded without holding them.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::codec::{Crc32, Reader};
use super::error::{Damage, IoAction, StoreError};
use super::file::Opened;
use super::migrate::Format;
use super::record::{decode_record, Record};

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
}

impl RecordReader {
    /// A reader over the payload of `o`, a snapshot whose header said `count` records.
    pub(super) fn new(o: Opened, count: u64) -> Self {
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
        }
    }

    /// A reader with nothing to read (a source without a snapshot).
    pub(super) fn empty(path: &Path) -> Self {
        RecordReader {
            path: path.to_path_buf(),
            file: None,
            format: Format::V1,
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
        }
    }

    /// Records the header announces (skipped ones included): a capacity hint.
    pub fn announced(&self) -> u64 {
        self.expected_count
    }

    /// Bytes of records in the file: with [`RecordReader::announced`], a bound for a capacity.
    pub(super) fn payload_hint(&self) -> u64 {
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

    /// One record: `Ok(None)` at a clean end, `Ok(Some(Err(text)))` for a skipped one.
    fn step(&mut self) -> Result<Option<Result<Record, String>>, StoreError> {
        let index = self.index;
        let damaged = |path: &Path, what| StoreError::damaged(path, Damage::Record { index, what });
        self.fill(10)?;
        let avail = &self.buf[self.pos..];
        if avail.is_empty() {
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
        let decoded = match self.format {
            Format::V1 => decode_record(body),
        }
        .map_err(|w| damaged(&self.path, w))?;
        self.pos = start + len;
        self.index += 1;
        if let Err(text) = &decoded {
            self.skipped += 1;
            if self.first_skipped.is_none() {
                self.first_skipped = Some(text.clone());
            }
        }
        Ok(Some(decoded))
    }
}

impl Iterator for RecordReader {
    type Item = Result<Record, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Some(Ok(rec))) => return Some(Ok(rec)),
                Ok(Some(Err(_skipped))) => {}
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
