//! Format versions: which formats this build reads, the `data_dir/VERSION` check, and the
//! dispatch from a file's format number to its reader.
//!
//! Two levels of version, for two different questions:
//! - `VERSION` (a decimal number and a newline) is the newest format any file in the directory
//!   may carry. [`prepare_dir`] refuses a directory whose `VERSION` is newer than [`CURRENT`], so
//!   an older edlforge never misreads or overwrites files from a newer one (and says so:
//!   "data/ was written by a newer edlforge (format 3, this one reads up to 2); ...").
//! - Every file repeats its own format in its header (see `file.rs`), so a directory in the middle
//!   of an upgrade, with files of both formats, still reads correctly file by file.
//!
//! # Formats
//! - 1: the first release. Records with their value as text and all their metadata inline
//!   (`record.rs`). Still read; no longer written.
//! - 2: snapshot payloads hold a table of shared stamps and binary, delta-coded IP values
//!   (`snapshot.rs`); the container, state files and list files are as in format 1.
//!
//! # Migration from 1 to 2
//! [`prepare_dir`] raises `VERSION` from 1 to 2 when the store is opened (with the lock held,
//! before anything is written in format 2), so an edlforge that reads format 1 only refuses the
//! directory from then on instead of misreading it. Files are not rewritten on open: each
//! carries its format, so a format-1 snapshot is read as such until its source is next replaced,
//! and a crash in the middle of an upgrade leaves nothing to repair. `fixture_v1_still_reads` in
//! `tests/store.rs` keeps a frozen format-1 store readable, and replaces a source in it.
//!
//! # Adding format 3
//! Add `Format::V3`, set [`CURRENT`] to 3, make the readers that `match` on [`Format`] handle it
//! (the compiler lists them), raise `VERSION` in [`prepare_dir`] as for 1 → 2, and freeze a
//! format-2 fixture beside the format-1 one.

use std::io;
use std::path::Path;

use super::file;
use crate::store::error::{Damage, IoAction, StoreError, VersionProblem};

/// The newest format this build reads, and the one it writes.
pub(in crate::store) const CURRENT: u32 = 2;

/// The name of the directory's format file.
pub(in crate::store) const VERSION_FILE: &str = "VERSION";

/// A format this build reads. Readers `match` on it, so a new variant cannot be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Format {
    /// The first format: container of `file.rs`, encodings of `record.rs`.
    V1,
    /// Snapshot payloads of `snapshot.rs` (stamp table, binary IP values); headers as format 1.
    V2,
}

/// The format of the file at `path` whose header says `found`.
///
/// # Errors
/// [`StoreError::NewerFile`] for a format newer than [`CURRENT`]; [`StoreError::Damaged`] for
/// format 0, which was never written.
pub(in crate::store) fn file_format(path: &Path, found: u32) -> Result<Format, StoreError> {
    match found {
        1 => Ok(Format::V1),
        2 => Ok(Format::V2),
        n if n > CURRENT => Err(StoreError::NewerFile {
            path: path.to_path_buf(),
            found: n,
            supported: CURRENT,
        }),
        n => Err(StoreError::damaged(path, Damage::Format(n))),
    }
}

/// Checks `dir/VERSION` (with the lock held), writing it for a new store.
///
/// # Errors
/// [`StoreError::NewerStore`] when it is newer than this build; [`StoreError::NotAStore`] when
/// it is unreadable, or missing from a directory that holds store data.
pub(in crate::store) fn prepare_dir(dir: &Path, data_subdirs: &[&str]) -> Result<(), StoreError> {
    let path = dir.join(VERSION_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if data_subdirs.iter().any(|d| dir.join(d).exists()) {
                return Err(StoreError::NotAStore {
                    path: dir.to_path_buf(),
                    problem: VersionProblem::NoVersion,
                });
            }
            // A new store. Written before any data directory exists, so a crash here leaves
            // either an empty directory or a complete VERSION.
            return write_version(dir);
        }
        Err(e) => return Err(StoreError::io(&path, IoAction::Read, e)),
    };
    let trimmed = text.trim();
    let found: u32 = trimmed.parse().map_err(|_| StoreError::NotAStore {
        path: path.clone(),
        problem: VersionProblem::BadVersion(trimmed.chars().take(40).collect()),
    })?;
    match found {
        CURRENT => Ok(()),
        // Format 1: every file keeps its own format number and is read as such; raising VERSION
        // before anything is written in format 2 keeps an older edlforge (which reads format 1
        // only) from opening a directory that is about to hold format-2 files. Snapshots are
        // rewritten in format 2 when their source is next replaced.
        1 => {
            write_version(dir)?;
            tracing::info!(dir = %dir.display(), from = 1, to = CURRENT, "Store format upgraded.");
            Ok(())
        }
        n if n > CURRENT => Err(StoreError::NewerStore {
            dir: dir.to_path_buf(),
            found: n,
            supported: CURRENT,
        }),
        n => Err(StoreError::NotAStore {
            path,
            problem: VersionProblem::UnknownVersion(n),
        }),
    }
}

/// Writes `dir/VERSION` as [`CURRENT`], atomically and durably.
fn write_version(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(VERSION_FILE);
    let body = format!("{CURRENT}\n");
    let tmp = dir.join(format!(".{VERSION_FILE}.tmp"));
    let w = |e| StoreError::io(&tmp, IoAction::Write, e);
    let f = file::create_private(&tmp, true).map_err(w)?;
    io::Write::write_all(&mut &f, body.as_bytes()).map_err(w)?;
    f.sync_all()
        .map_err(|e| StoreError::io(&tmp, IoAction::Sync, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, IoAction::Rename, e))?;
    file::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_dir_gets_version() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dir(dir.path(), &["sources"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("VERSION")).unwrap(),
            "2\n"
        );
        prepare_dir(dir.path(), &["sources"]).unwrap();
    }

    #[test]
    fn format_1_dir_is_raised_to_2() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("VERSION"), "1\n").unwrap();
        prepare_dir(dir.path(), &["sources"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("VERSION")).unwrap(),
            "2\n"
        );
    }

    #[test]
    fn newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VERSION"), "7\n").unwrap();
        let e = prepare_dir(dir.path(), &["sources"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}/ was written by a newer edlforge (format 7, this one reads up to 2); \
                 upgrade edlforge or use another data_dir",
                dir.path().display()
            )
        );
    }

    #[test]
    fn garbage_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("VERSION"), "banana").unwrap();
        let e = prepare_dir(dir.path(), &["sources"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("VERSION holds \"banana\""), "{e}");
        std::fs::write(dir.path().join("VERSION"), "0").unwrap();
        let e = prepare_dir(dir.path(), &["sources"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("format 0, which no edlforge ever wrote"), "{e}");
    }

    #[test]
    fn data_without_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sources")).unwrap();
        let e = prepare_dir(dir.path(), &["sources"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no VERSION file"), "{e}");
        assert!(!dir.path().join("VERSION").exists());
    }

    #[test]
    fn file_formats() {
        let p = Path::new("data/sources/x.snap");
        assert_eq!(file_format(p, 1).unwrap(), Format::V1);
        assert_eq!(file_format(p, 2).unwrap(), Format::V2);
        assert_eq!(
            file_format(p, 3).unwrap_err().to_string(),
            "data/sources/x.snap was written by a newer edlforge (format 3, this one reads up \
             to 2); upgrade edlforge or use another data_dir"
        );
        assert!(matches!(file_format(p, 0), Err(StoreError::Damaged { .. })));
    }
}
