//! The one container every store file uses, and the one way every file is written.
//!
//! # Layout
//! ```text
//! offset      size  field
//! 0           8     magic: EDLFSNAP (snapshot), EDLFSTAT (state), EDLFLIST (list)
//! 8           4     format, u32 little-endian (see migrate.rs)
//! 12          4     H = header length, u32 little-endian
//! 16          H     header: payload length (u64 LE), payload CRC-32 (u32 LE), then the
//!                   file type's own fields (record.rs)
//! 16+H        4     CRC-32 of bytes 0..16+H (magic, format and header)
//! 20+H        P     payload: records (snapshot), list body (list), nothing (state)
//! ```
//! The file's length must be exactly `20 + H + P`: a truncated or extended file is refused by a
//! clear error before anything is decoded. The header has its own checksum so that reading a
//! source's state, which lives in the header, never has to read its records.
//!
//! # Writing
//! [`write_atomic`] writes `.<name>.tmp` in the same directory, fsyncs it, renames it over
//! `<name>` and fsyncs the directory. A reader (or a restart after `kill -9` or power loss) sees
//! the old file or the new one, never a part of either. Temporary files left by a crash are
//! removed by the next [`super::Store::open`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::codec::{Crc32, Reader};
use super::migrate::{self, Format};
use crate::store::error::{Damage, IoAction, StoreError};

/// Magic of a snapshot file (`sources/<name>.snap`).
pub(in crate::store) const MAGIC_SNAP: &[u8; 8] = b"EDLFSNAP";
/// Magic of a state file (`sources/<name>.state`).
pub(in crate::store) const MAGIC_STATE: &[u8; 8] = b"EDLFSTAT";
/// Magic of a compiled list file (`lists/<name>.list`).
pub(in crate::store) const MAGIC_LIST: &[u8; 8] = b"EDLFLIST";
/// Magic of a delta source's indicator index (`sources/<name>.ids`).
pub(in crate::store) const MAGIC_IDS: &[u8; 8] = b"EDLFIDS1";

/// Largest header accepted on read: a header is a state (a few short strings) or list metadata,
/// so anything bigger is damage, and the bound keeps a damaged length from allocating gigabytes.
const MAX_HEADER: u32 = 16 << 20;
/// Fixed part of the header: payload length and CRC.
const HEADER_FIXED: usize = 12;
/// Bytes before the header.
const PREFIX: u64 = 16;

/// Streams a payload into the file, counting its length and checksum.
pub(in crate::store) struct PayloadWriter<'a> {
    out: BufWriter<&'a File>,
    len: u64,
    crc: Crc32,
}

impl PayloadWriter<'_> {
    /// Appends `bytes` to the payload.
    pub(in crate::store) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        self.out.write_all(bytes)
    }
}

/// The temporary name `<dir>/.<name>.tmp` of a file being written.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp"))
}

/// Writes `<dir>/<name>` atomically and durably: temporary file, fsync, rename, fsync(dir).
///
/// `header` is the file type's own header fields; `payload` streams the payload.
///
/// # Errors
/// [`StoreError::Io`] naming the file when any step fails; the old file is then untouched and the
/// temporary file removed (or left for the next `open` to remove).
pub(in crate::store) fn write_atomic(
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
    header: &[u8],
    payload: impl FnOnce(&mut PayloadWriter<'_>) -> io::Result<()>,
) -> Result<(), StoreError> {
    write_atomic_as(dir, name, magic, migrate::CURRENT, header, payload)
}

/// [`write_atomic`] stamped with another format number: for tests that make older files.
pub(in crate::store) fn write_atomic_as(
    dir: &Path,
    name: &str,
    magic: &[u8; 8],
    format: u32,
    header: &[u8],
    payload: impl FnOnce(&mut PayloadWriter<'_>) -> io::Result<()>,
) -> Result<(), StoreError> {
    let tmp = temp_path(dir, name);
    let path = dir.join(name);
    let result = write_temp(&tmp, magic, format, header, payload).and_then(|()| {
        std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, IoAction::Rename, e))?;
        sync_dir(dir)
    });
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless and removed by the next `open`.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_temp(
    tmp: &Path,
    magic: &[u8; 8],
    format: u32,
    header: &[u8],
    payload: impl FnOnce(&mut PayloadWriter<'_>) -> io::Result<()>,
) -> Result<(), StoreError> {
    let w = |e| StoreError::io(tmp, IoAction::Write, e);
    let header_len = HEADER_FIXED + header.len();
    let header_len32 = u32::try_from(header_len)
        .ok()
        .filter(|n| *n <= MAX_HEADER)
        .ok_or_else(|| {
            w(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("header of {header_len} bytes exceeds the {MAX_HEADER}-byte limit"),
            ))
        })?;
    let file = create_private(tmp, true).map_err(|e| StoreError::io(tmp, IoAction::Open, e))?;
    let prefix_len = PREFIX as usize + header_len + 4;
    // The prefix holds the payload's length and checksum, known only at the end: write a
    // placeholder, stream the payload, then come back.
    let mut pw = PayloadWriter {
        out: BufWriter::with_capacity(1 << 20, &file),
        len: 0,
        crc: Crc32::new(),
    };
    pw.out.write_all(&vec![0u8; prefix_len]).map_err(w)?;
    payload(&mut pw).map_err(w)?;
    let (len, crc) = (pw.len, pw.crc.value());
    pw.out.flush().map_err(w)?;
    drop(pw);

    let mut prefix = Vec::with_capacity(prefix_len);
    prefix.extend_from_slice(magic);
    prefix.extend_from_slice(&format.to_le_bytes());
    prefix.extend_from_slice(&header_len32.to_le_bytes());
    prefix.extend_from_slice(&len.to_le_bytes());
    prefix.extend_from_slice(&crc.to_le_bytes());
    prefix.extend_from_slice(header);
    let header_crc = Crc32::of(&prefix);
    prefix.extend_from_slice(&header_crc.to_le_bytes());
    let mut f = &file;
    f.seek(SeekFrom::Start(0)).map_err(w)?;
    f.write_all(&prefix).map_err(w)?;
    file.sync_all()
        .map_err(|e| StoreError::io(tmp, IoAction::Sync, e))
}

/// An opened store file whose prefix and header were checked; positioned at the payload.
#[derive(Debug)]
pub(in crate::store) struct Opened {
    /// Its path, for errors.
    pub(in crate::store) path: PathBuf,
    /// The open file, positioned at the start of the payload.
    pub(in crate::store) file: File,
    /// The format it was written in.
    pub(in crate::store) format: Format,
    /// The file type's own header fields (after the payload length and CRC).
    pub(in crate::store) header: Vec<u8>,
    /// Payload length; the file is exactly this much longer than its header.
    pub(in crate::store) payload_len: u64,
    /// Payload CRC-32.
    pub(in crate::store) payload_crc: u32,
    /// The file's metadata when it was opened (its identity and modification time).
    pub(in crate::store) metadata: std::fs::Metadata,
}

/// Opens `path` and checks magic, format, header checksum and length. `Ok(None)` when the file
/// does not exist.
///
/// # Errors
/// [`StoreError::Damaged`] or [`StoreError::NewerFile`] naming the file; [`StoreError::Io`].
pub(in crate::store) fn open(path: &Path, magic: &[u8; 8]) -> Result<Option<Opened>, StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, IoAction::Open, e)),
    };
    let r = |e| StoreError::io(path, IoAction::Read, e);
    let damaged = |d| StoreError::damaged(path, d);
    let metadata = file.metadata().map_err(r)?;
    let file_len = metadata.len();
    let min = PREFIX + HEADER_FIXED as u64 + 4;
    if file_len < min {
        return Err(damaged(Damage::Length {
            expected: min,
            found: file_len,
        }));
    }
    let mut prefix = [0u8; PREFIX as usize];
    file.read_exact(&mut prefix).map_err(r)?;
    if &prefix[..8] != magic {
        return Err(damaged(Damage::BadMagic));
    }
    let mut pr = Reader::new(&prefix[8..]);
    let (Ok(format), Ok(header_len)) = (pr.u32_le(), pr.u32_le()) else {
        return Err(damaged(Damage::Header("short prefix")));
    };
    let format = migrate::file_format(path, format)?;
    if !(HEADER_FIXED as u32..=MAX_HEADER).contains(&header_len) {
        return Err(damaged(Damage::Header("header length out of range")));
    }
    let header_end = PREFIX + u64::from(header_len) + 4;
    if file_len < header_end {
        return Err(damaged(Damage::Length {
            expected: header_end,
            found: file_len,
        }));
    }
    let mut header = vec![0u8; header_len as usize + 4];
    file.read_exact(&mut header).map_err(r)?;
    let stored_crc = header.split_off(header_len as usize);
    let mut crc = Crc32::new();
    crc.update(&prefix);
    crc.update(&header);
    if stored_crc != crc.value().to_le_bytes() {
        return Err(damaged(Damage::HeaderChecksum));
    }
    let mut hr = Reader::new(&header);
    let (Ok(payload_len), Ok(payload_crc)) = (hr.u64_le(), hr.u32_le()) else {
        return Err(damaged(Damage::Header("short header")));
    };
    let expected = header_end.saturating_add(payload_len);
    if expected != file_len {
        return Err(damaged(Damage::Length {
            expected,
            found: file_len,
        }));
    }
    header.drain(..HEADER_FIXED);
    Ok(Some(Opened {
        path: path.to_path_buf(),
        file,
        format,
        header,
        payload_len,
        payload_crc,
        metadata,
    }))
}

impl Opened {
    /// Reads the whole payload and checks its checksum (used for list bodies; snapshots are
    /// streamed by `record::RecordReader`).
    ///
    /// # Errors
    /// [`StoreError::Damaged`] on a checksum mismatch; [`StoreError::Io`].
    pub(in crate::store) fn read_payload(mut self) -> Result<Vec<u8>, StoreError> {
        // The length was checked against the file's size, so this allocation is bounded by it.
        let len = usize::try_from(self.payload_len)
            .map_err(|_| StoreError::damaged(&self.path, Damage::Header("payload too large")))?;
        let mut body = vec![0u8; len];
        self.file
            .read_exact(&mut body)
            .map_err(|e| StoreError::io(&self.path, IoAction::Read, e))?;
        if Crc32::of(&body) != self.payload_crc {
            return Err(StoreError::damaged(&self.path, Damage::DataChecksum));
        }
        Ok(body)
    }
}

/// Makes the directory's entries (a rename, a new or removed file) durable.
///
/// # Errors
/// [`StoreError::Io`] naming the directory.
pub(in crate::store) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io(dir, IoAction::Sync, e))
    }
    // Windows cannot open a directory as a file; NTFS journals renames itself.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Removes `<dir>/<name>` durably; a missing file is not an error.
///
/// # Errors
/// [`StoreError::Io`] naming the file or directory.
pub(in crate::store) fn remove(dir: &Path, name: &str) -> Result<(), StoreError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(&path, IoAction::Remove, e)),
    }
}

/// Creates `dir` (and missing parents) when missing, owner-only (0700 on Unix: a list may be
/// TLP:AMBER), and makes its entry in the parent durable. An existing directory keeps its mode.
///
/// # Errors
/// [`StoreError::Io`] naming the directory.
pub(in crate::store) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| StoreError::io(dir, IoAction::CreateDir, e))?;
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Names of the regular files in `dir` that are not temporary files.
///
/// # Errors
/// [`StoreError::Io`] naming the directory.
pub(in crate::store) fn list(dir: &Path) -> Result<Vec<String>, StoreError> {
    let e = |e| StoreError::io(dir, IoAction::List, e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(e)? {
        let entry = entry.map_err(e)?;
        if let Ok(name) = entry.file_name().into_string() {
            if !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// Removes temporary files a crash left in `dir`. Only called with the lock held, so none of them
/// is being written.
///
/// # Errors
/// [`StoreError::Io`] naming the directory or file.
pub(in crate::store) fn remove_temp_files(dir: &Path) -> Result<usize, StoreError> {
    let e = |e| StoreError::io(dir, IoAction::List, e);
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(e)? {
        let entry = entry.map_err(e)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, IoAction::Remove, e))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Opens `path` read-write, creating it but never truncating it (the lock file).
///
/// # Errors
/// [`StoreError::Io`] naming the file.
pub(in crate::store) fn open_rw(path: &Path) -> Result<File, StoreError> {
    create_private(path, false).map_err(|e| StoreError::io(path, IoAction::Open, e))
}

/// Opens `path` read-write, creating it owner-only (0600 on Unix: a list may be TLP:AMBER).
/// Every file of the store is created here. `truncate`: empty an existing file.
///
/// # Errors
/// The open's I/O error.
pub(in crate::store) fn create_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, header: &[u8], payload: &[u8]) {
        write_atomic(dir, "f", MAGIC_LIST, header, |w| w.write(payload)).unwrap();
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), b"hdr", b"payload");
        let o = open(&dir.path().join("f"), MAGIC_LIST).unwrap().unwrap();
        assert_eq!(o.header, b"hdr");
        assert_eq!(o.read_payload().unwrap(), b"payload");
        assert!(open(&dir.path().join("missing"), MAGIC_LIST)
            .unwrap()
            .is_none());
        assert!(!temp_path(dir.path(), "f").exists());
    }

    #[test]
    fn wrong_magic_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), b"", b"");
        let e = open(&dir.path().join("f"), MAGIC_SNAP).unwrap_err();
        assert!(matches!(
            e,
            StoreError::Damaged {
                damage: Damage::BadMagic,
                ..
            }
        ));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), b"some header", b"some payload bytes");
        let path = dir.path().join("f");
        let good = std::fs::read(&path).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            let e = open(&path, MAGIC_LIST).unwrap_err().to_string();
            assert!(e.contains("truncated"), "cut {cut}: {e}");
            assert!(e.contains(&path.display().to_string()), "{e}");
        }
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                std::fs::write(&path, &bad).unwrap();
                let r = open(&path, MAGIC_LIST).and_then(|o| match o {
                    Some(o) => o.read_payload(),
                    None => Ok(Vec::new()),
                });
                assert!(r.is_err(), "flip {bit:#x} at {i} went unnoticed");
            }
        }
    }

    #[test]
    fn temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".x.snap.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("x.snap"), b"kept").unwrap();
        assert_eq!(remove_temp_files(dir.path()).unwrap(), 1);
        assert_eq!(list(dir.path()).unwrap(), ["x.snap"]);
    }
}
