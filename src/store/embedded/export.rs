//! A source's files as whole containers, for another backend to keep copies of
//! (`store/mirror.rs`): which files a source has and what identifies their content
//! ([`Store::source_files`]), and installing copies made elsewhere ([`Store::install_source`]).
//!
//! The bytes copied are the files themselves: the container already carries the magic, the
//! format, a checksummed header (the state, the generation) and a checksummed payload, so a
//! copy is checked end to end when it is installed, by the same code that reads it later.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::codec::Crc32;
use super::file::{self, Opened, MAGIC_IDS, MAGIC_SNAP, MAGIC_STATE};
use super::migrate::Format;
use super::{name, record, Store, IDS_EXT, SNAP_EXT, STATE_EXT};
use crate::store::error::{Damage, IoAction, StoreError};

/// One of the files a source is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    /// `sources/<name>.snap`: the records and the state accepted with them.
    Snap,
    /// `sources/<name>.state`: the state, when it changed after the snapshot.
    State,
    /// `sources/<name>.ids`: a TAXII source's indicators by STIX id.
    Ids,
}

impl Part {
    /// Every part, in the order [`Store::install_source`] writes them (the store's own order:
    /// an index before its snapshot, a snapshot before a state that outranks it).
    pub const ALL: [Part; 3] = [Part::Ids, Part::Snap, Part::State];

    /// Its name in other backends: `snap`, `state`, `ids`.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Snap => "snap",
            Part::State => "state",
            Part::Ids => "ids",
        }
    }

    /// The part named `s` ([`Part::as_str`]).
    pub fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn ext(self) -> &'static str {
        match self {
            Part::Snap => SNAP_EXT,
            Part::State => STATE_EXT,
            Part::Ids => IDS_EXT,
        }
    }

    fn magic(self) -> &'static [u8; 8] {
        match self {
            Part::Snap => MAGIC_SNAP,
            Part::State => MAGIC_STATE,
            Part::Ids => MAGIC_IDS,
        }
    }
}

/// A stored file of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFile {
    /// Which file.
    pub part: Part,
    /// What identifies its content: format, payload length and checksum, and the header
    /// (name, generation, state). Two files with the same fingerprint hold the same bytes
    /// (unless their payloads differ with equal CRC-32 and length).
    pub fingerprint: Vec<u8>,
    /// Its length in bytes.
    pub size: u64,
    /// Where to read it (whole, as a stream of bytes).
    pub path: PathBuf,
}

fn fingerprint(o: &Opened) -> Vec<u8> {
    let mut f = Vec::with_capacity(16 + o.header.len());
    f.push(match o.format {
        Format::V1 => 1,
        Format::V2 => 2,
    });
    f.extend_from_slice(&o.payload_len.to_le_bytes());
    f.extend_from_slice(&o.payload_crc.to_le_bytes());
    f.extend_from_slice(&o.header);
    f
}

/// Checks that the header of `o` names `source` (a copy of one source never lands as another).
fn check_name(o: &Opened, part: Part, source: &str) -> Result<(), StoreError> {
    match part {
        Part::Snap => record::decode_snap_header(o, source).map(drop),
        Part::State => record::decode_state_header(o, source).map(drop),
        Part::Ids => record::decode_ids_header(o, source).map(drop),
    }
}

/// Reads the rest of `o`'s payload and compares its checksum, 1 MiB at a time.
fn check_payload(mut o: Opened) -> Result<(), StoreError> {
    let mut crc = Crc32::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = o.payload_len;
    while left > 0 {
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        o.file
            .read_exact(&mut buf[..n])
            .map_err(|e| StoreError::io(&o.path, IoAction::Read, e))?;
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    if crc.value() == o.payload_crc {
        Ok(())
    } else {
        Err(StoreError::damaged(&o.path, Damage::DataChecksum))
    }
}

impl Store {
    /// The files stored for `source` (none when nothing is stored), with their fingerprints.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming a file whose header is damaged; [`StoreError::InvalidName`];
    /// [`StoreError::Io`].
    pub fn source_files(&self, source: &str) -> Result<Vec<PartFile>, StoreError> {
        let esc = name::escape("source", source)?;
        let mut out = Vec::new();
        for part in Part::ALL {
            let path = self.sources.join(format!("{esc}{}", part.ext()));
            if let Some(o) = file::open(&path, part.magic())? {
                check_name(&o, part, source)?;
                let size = o
                    .file
                    .metadata()
                    .map_err(|e| StoreError::io(&path, IoAction::Read, e))?
                    .len();
                out.push(PartFile {
                    part,
                    fingerprint: fingerprint(&o),
                    size,
                    path,
                });
            }
        }
        Ok(out)
    }

    /// Where a copy of `part` of `source` is written before [`Store::install_source`] checks
    /// and installs it: the temporary name the store's own writes use, so a copy left by a
    /// crash is removed by the next [`Store::open`].
    ///
    /// # Errors
    /// [`StoreError::InvalidName`].
    pub fn incoming_path(&self, source: &str, part: Part) -> Result<PathBuf, StoreError> {
        let esc = name::escape("source", source)?;
        Ok(self.sources.join(format!(".{esc}{}.tmp", part.ext())))
    }

    /// Creates (owner-only, empty) the file [`Store::incoming_path`] names.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`], [`StoreError::Io`].
    pub fn create_incoming(&self, source: &str, part: Part) -> Result<std::fs::File, StoreError> {
        let path = self.incoming_path(source, part)?;
        file::create_private(&path, true).map_err(|e| StoreError::io(&path, IoAction::Open, e))
    }

    /// Makes the stored files of `source` the copies written at [`Store::incoming_path`] for
    /// the parts in `present`, and removes the parts not in it. Every copy is checked whole
    /// (magic, format, header and payload checksums, the source's name in its header) before
    /// anything is replaced; a bad copy is an error and nothing is installed. Files are
    /// replaced one by one, each atomically, in the order of [`Part::ALL`] (a crash in between
    /// leaves files the store's generation rule reads consistently: an index ahead of its
    /// snapshot is harmless, a state older than its snapshot loses).
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the bad copy; [`StoreError::InvalidName`];
    /// [`StoreError::Io`].
    pub fn install_source(&mut self, source: &str, present: &[Part]) -> Result<(), StoreError> {
        let esc = name::escape("source", source)?;
        for &part in present {
            let tmp = self.incoming_path(source, part)?;
            let checked = sync_file(&tmp).and_then(|()| match file::open(&tmp, part.magic())? {
                None => Err(StoreError::io(
                    &tmp,
                    IoAction::Open,
                    io::Error::from(io::ErrorKind::NotFound),
                )),
                Some(o) => {
                    check_name(&o, part, source)?;
                    check_payload(o)
                }
            });
            if let Err(e) = checked {
                for p in present {
                    if let Ok(t) = self.incoming_path(source, *p) {
                        let _ = std::fs::remove_file(t);
                    }
                }
                return Err(e);
            }
        }
        for part in Part::ALL {
            let dest = format!("{esc}{}", part.ext());
            if present.contains(&part) {
                let tmp = self.incoming_path(source, part)?;
                let path = self.sources.join(&dest);
                std::fs::rename(&tmp, &path)
                    .map_err(|e| StoreError::io(&path, IoAction::Rename, e))?;
                file::sync_dir(&self.sources)?;
            } else {
                file::remove(&self.sources, &dest)?;
            }
        }
        Ok(())
    }
}

fn sync_file(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(path, IoAction::Sync, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::parse_token;
    use crate::store::{Record, SourceState};
    use std::time::Duration;

    fn rec(v: &str) -> Record {
        Record {
            value: parse_token(v.as_bytes(), None).unwrap().value,
            first_seen: 1,
            last_seen: 2,
            expires: None,
            confidence: None,
            tlp: None,
            tags: Vec::new(),
            comment: None,
        }
    }

    fn copy_part(to: &Store, source: &str, f: &PartFile) {
        let mut out = to.create_incoming(source, f.part).unwrap();
        std::io::copy(&mut std::fs::File::open(&f.path).unwrap(), &mut out).unwrap();
    }

    #[test]
    fn a_source_copied_file_by_file_reads_the_same() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut sa = Store::open(a.path(), Duration::from_secs(5)).unwrap();
        let mut sb = Store::open(b.path(), Duration::from_secs(5)).unwrap();
        let st = SourceState {
            etag: Some("\"v1\"".into()),
            cursor: Some("2026-01-01T00:00:00Z".into()),
            ..SourceState::default()
        };
        sa.replace("s", &[rec("10.0.0.1"), rec("evil.example")], &st)
            .unwrap();
        let mut later = st.clone();
        later.last_attempt = Some(9);
        sa.set_state("s", &later).unwrap();
        // b holds an older copy with a file a no longer has.
        sb.replace("s", &[], &SourceState::default()).unwrap();
        sb.save_indicators("s", &Default::default()).unwrap();
        let files = sa.source_files("s").unwrap();
        assert_eq!(
            files.iter().map(|f| f.part).collect::<Vec<_>>(),
            [Part::Snap, Part::State]
        );
        for f in &files {
            copy_part(&sb, "s", f);
        }
        let parts: Vec<Part> = files.iter().map(|f| f.part).collect();
        sb.install_source("s", &parts).unwrap();
        assert_eq!(sb.state("s").unwrap(), Some(later));
        assert_eq!(sb.records("s").unwrap(), sa.records("s").unwrap());
        let fb = sb.source_files("s").unwrap();
        assert_eq!(
            fb.iter().map(|f| &f.fingerprint).collect::<Vec<_>>(),
            files.iter().map(|f| &f.fingerprint).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_damaged_or_misnamed_copy_is_refused_and_nothing_changes() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut sa = Store::open(a.path(), Duration::from_secs(5)).unwrap();
        let mut sb = Store::open(b.path(), Duration::from_secs(5)).unwrap();
        let st = SourceState {
            etag: Some("\"a\"".into()),
            ..SourceState::default()
        };
        sa.replace("s", &[rec("10.0.0.1")], &st).unwrap();
        sb.replace("s", &[], &SourceState::default()).unwrap();
        let f = sa.source_files("s").unwrap().remove(0);
        // The copy of "s" offered as "t".
        copy_part(&sb, "t", &f);
        assert!(sb.install_source("t", &[Part::Snap]).is_err());
        // A flipped byte in the payload's last byte.
        let mut bytes = std::fs::read(&f.path).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        std::fs::write(sb.incoming_path("s", Part::Snap).unwrap(), &bytes).unwrap();
        let e = sb.install_source("s", &[Part::Snap]).unwrap_err();
        assert!(matches!(e, StoreError::Damaged { .. }), "{e}");
        assert_eq!(sb.state("s").unwrap(), Some(SourceState::default()));
        assert!(!sb.incoming_path("s", Part::Snap).unwrap().exists());
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_copy_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut sa = Store::open(a.path(), Duration::from_secs(5)).unwrap();
        let mut sb = Store::open(b.path(), Duration::from_secs(5)).unwrap();
        let st = SourceState {
            etag: Some("\"a\"".into()),
            ..SourceState::default()
        };
        sa.replace("s", &[rec("10.0.0.1"), rec("evil.example")], &st)
            .unwrap();
        let good = std::fs::read(&sa.source_files("s").unwrap()[0].path).unwrap();
        let incoming = sb.incoming_path("s", Part::Snap).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&incoming, &good[..cut]).unwrap();
            assert!(sb.install_source("s", &[Part::Snap]).is_err(), "cut {cut}");
        }
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                std::fs::write(&incoming, &bad).unwrap();
                assert!(
                    sb.install_source("s", &[Part::Snap]).is_err(),
                    "flip {bit:#x} at {i} went unnoticed"
                );
            }
        }
        assert!(sb.sources().unwrap().is_empty(), "nothing was installed");
        std::fs::write(&incoming, &good).unwrap();
        sb.install_source("s", &[Part::Snap]).unwrap();
        assert_eq!(sb.state("s").unwrap(), Some(st));
    }
}
