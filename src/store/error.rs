//! [`StoreError`]: every way the store can fail, each naming the file or directory involved and
//! what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An error of the store. `Display` prints one level (the `#[source]`, when there is one, is
/// printed by the edge); every message names the file or `data_dir` and the way out.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: IoAction,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds `data_dir/lock` and did not let go within the wait.
    #[error(
        "data_dir {} is held by another edlforge{} (waited {}); stop that process \
         (or wait for it to finish) or give this one another data_dir",
        .dir.display(),
        holder_text(*.holder),
        humanize(*.waited)
    )]
    Locked {
        /// The `data_dir`.
        dir: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// The holder's process id, as it wrote it into the lock file, when readable.
        holder: Option<u32>,
    },
    /// `data_dir/VERSION` is newer than this build can read.
    #[error(
        "{} was written by a newer edlforge (format {found}, this one reads up to {supported}); \
         upgrade edlforge or use another data_dir",
        dir_slash(.dir)
    )]
    NewerStore {
        /// The `data_dir`.
        dir: PathBuf,
        /// The format in `VERSION`.
        found: u32,
        /// The newest format this build reads.
        supported: u32,
    },
    /// One file carries a format newer than this build can read.
    #[error(
        "{} was written by a newer edlforge (format {found}, this one reads up to {supported}); \
         upgrade edlforge or use another data_dir",
        .path.display()
    )]
    NewerFile {
        /// The file.
        path: PathBuf,
        /// The format in its header.
        found: u32,
        /// The newest format this build reads.
        supported: u32,
    },
    /// The directory does not look like a store this program wrote.
    #[error(
        "{}: {problem}; restore it from a backup or use another data_dir",
        .path.display()
    )]
    NotAStore {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        problem: VersionProblem,
    },
    /// A store file is damaged: truncated, checksum mismatch, or bytes that do not decode.
    #[error(
        "{}: damaged store file ({damage}); restore it from a backup, or delete it and let \
         edlforge rebuild it (a source is refetched, a list recompiled)",
        .path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        damage: Damage,
    },
    /// A source or list name that cannot be a file name even escaped.
    #[error("{what} name {name:?} cannot be stored: {problem}")]
    InvalidName {
        /// `"source"` or `"list"`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why.
        problem: NameProblem,
    },
}

/// The file-system operation behind a [`StoreError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoAction {
    /// `mkdir`.
    CreateDir,
    /// Open or create a file.
    Open,
    /// Read a file.
    Read,
    /// Write a file.
    Write,
    /// `fsync` a file or directory.
    Sync,
    /// Rename a finished temporary file over the real one.
    Rename,
    /// Delete a file.
    Remove,
    /// List a directory.
    List,
    /// Take the `data_dir` lock.
    Lock,
}

impl fmt::Display for IoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoAction::CreateDir => "create directory",
            IoAction::Open => "open",
            IoAction::Read => "read",
            IoAction::Write => "write",
            IoAction::Sync => "sync to disk",
            IoAction::Rename => "rename into place",
            IoAction::Remove => "remove",
            IoAction::List => "list directory",
            IoAction::Lock => "lock",
        })
    }
}

/// What is wrong with `VERSION`, for [`StoreError::NotAStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionProblem {
    /// `VERSION` does not hold a format number.
    BadVersion(String),
    /// `VERSION` holds a format no edlforge ever wrote.
    UnknownVersion(u32),
    /// `sources/` or `lists/` exist but `VERSION` does not.
    NoVersion,
}

impl fmt::Display for VersionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionProblem::BadVersion(text) => {
                write!(
                    f,
                    "VERSION holds {text:?}, not an edlforge store format number"
                )
            }
            VersionProblem::UnknownVersion(n) => {
                write!(f, "VERSION holds format {n}, which no edlforge ever wrote")
            }
            VersionProblem::NoVersion => f.write_str(
                "holds sources/ or lists/ but no VERSION file, so it is not a store edlforge \
                 wrote (or VERSION was deleted)",
            ),
        }
    }
}

/// What is wrong with a damaged file, for [`StoreError::Damaged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The first bytes are not the magic of the expected file type.
    BadMagic,
    /// The file is shorter or longer than its header says.
    Length {
        /// Bytes the header accounts for.
        expected: u64,
        /// Bytes on disk.
        found: u64,
    },
    /// The header's checksum does not match.
    HeaderChecksum,
    /// The data's checksum does not match.
    DataChecksum,
    /// A header field does not decode.
    Header(&'static str),
    /// A record does not decode.
    Record {
        /// 0-based position in the file.
        index: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The number of records differs from the header's.
    Count {
        /// The header's count.
        expected: u64,
        /// Records found.
        found: u64,
    },
    /// The header names another source or list than the file name does.
    Name {
        /// The name in the header.
        found: String,
    },
    /// The header carries a format number no edlforge ever wrote.
    Format(u32),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::BadMagic => f.write_str("not an edlforge store file: wrong magic bytes"),
            Damage::Length { expected, found } if found < expected => write!(
                f,
                "truncated: {found} bytes on disk, the header accounts for {expected}"
            ),
            Damage::Length { expected, found } => write!(
                f,
                "{found} bytes on disk, the header accounts for only {expected}"
            ),
            Damage::HeaderChecksum => f.write_str("header checksum mismatch"),
            Damage::DataChecksum => f.write_str("data checksum mismatch"),
            Damage::Header(what) => write!(f, "header: {what}"),
            Damage::Record { index, what } => write!(f, "record {index}: {what}"),
            Damage::Count { expected, found } => {
                write!(f, "{found} records, the header says {expected}")
            }
            Damage::Name { found } => write!(
                f,
                "the header names {found:?}, which does not match the file name"
            ),
            Damage::Format(n) => write!(f, "format {n}, which no edlforge ever wrote"),
        }
    }
}

/// Why a name cannot be stored, for [`StoreError::InvalidName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The empty string.
    Empty,
    /// Escaped, it is longer than a file name may be.
    TooLong {
        /// Escaped length in bytes.
        escaped: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("the name is empty"),
            NameProblem::TooLong { escaped, max } => write!(
                f,
                "escaped for the file system it is {escaped} bytes, more than {max}; \
                 choose a shorter name"
            ),
        }
    }
}

impl StoreError {
    /// Shorthand for [`StoreError::Io`].
    pub(super) fn io(path: &Path, action: IoAction, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }

    /// Shorthand for [`StoreError::Damaged`].
    pub(super) fn damaged(path: &Path, damage: Damage) -> Self {
        StoreError::Damaged {
            path: path.to_path_buf(),
            damage,
        }
    }
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

fn humanize(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `data/` for `data` and for `data/`.
fn dir_slash(dir: &Path) -> String {
    let s = dir.display().to_string();
    if s.ends_with('/') {
        s
    } else {
        s + "/"
    }
}
