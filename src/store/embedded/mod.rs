//! The embedded backend: every source and list as checksummed files under `data_dir` (the
//! layout, atomicity and locking rules are the store module's comment, `store/mod.rs`).

pub(in crate::store) mod codec;
mod export;
pub(in crate::store) mod file;
mod lock;
pub(in crate::store) mod migrate;
pub(in crate::store) mod name;
mod reader;
pub(in crate::store) mod record;
mod share;
pub(in crate::store) mod snapshot;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use self::export::{Part, PartFile};
pub use self::reader::RecordReader;

/// What identifies one stored snapshot of a source ([`Store::snapshot_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotId {
    gen: u64,
    count: u64,
    payload_len: u64,
    payload_crc: u32,
    ino: u64,
    mtime_ns: i64,
}

use self::file::{MAGIC_IDS, MAGIC_LIST, MAGIC_SNAP, MAGIC_STATE};
use self::record::SnapHeader;
use super::indicators::{self, IndicatorIndex};
use super::{ListMeta, Record, RecordSet, SourceState};
use crate::store::error::{Damage, StoreError};

const SOURCES: &str = "sources";
const LISTS: &str = "lists";
const SNAP_EXT: &str = ".snap";
const STATE_EXT: &str = ".state";
const LIST_EXT: &str = ".list";
const IDS_EXT: &str = ".ids";

/// An open store under one `data_dir`, held exclusively by this process until dropped.
///
/// Readers take `&self`, writers `&mut self`: share it behind a `RwLock` (or give each stage
/// plain data read from it). All calls block on file I/O; call them from a blocking thread in
/// async code.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    sources: PathBuf,
    lists: PathBuf,
    /// Held for the life of the store; closing the file releases the lock.
    _lock: File,
}

impl Store {
    /// Opens (creating it if needed) the store under `data_dir`, waiting up to `wait` for another
    /// edlforge process that holds it. Leftover temporary files of a crashed writer are removed.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process still holds it after `wait`;
    /// [`StoreError::NewerStore`] when a newer edlforge wrote it; [`StoreError::NotAStore`] when
    /// its `VERSION` is unreadable or missing beside store data; [`StoreError::Io`].
    pub fn open(data_dir: &Path, wait: Duration) -> Result<Store, StoreError> {
        file::create_dir(data_dir)?;
        let lock = lock::acquire(data_dir, wait)?;
        migrate::prepare_dir(data_dir, &[SOURCES, LISTS])?;
        let store = Store {
            dir: data_dir.to_path_buf(),
            sources: data_dir.join(SOURCES),
            lists: data_dir.join(LISTS),
            _lock: lock,
        };
        for d in [&store.sources, &store.lists] {
            file::create_dir(d)?;
            let removed = file::remove_temp_files(d)?;
            if removed > 0 {
                tracing::info!(
                    dir = %d.display(),
                    removed,
                    "Removed temporary files left by an interrupted write."
                );
            }
        }
        // The one temporary file of data_dir itself (other files there are not ours to remove).
        file::remove(&store.dir, &format!(".{}.tmp", migrate::VERSION_FILE))?;
        Ok(store)
    }

    /// The `data_dir` it was opened with.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Names of the sources with stored records or state, sorted.
    ///
    /// # Errors
    /// [`StoreError::Io`] when `sources/` cannot be listed.
    pub fn sources(&self) -> Result<Vec<String>, StoreError> {
        names(&self.sources, &[SNAP_EXT, STATE_EXT, IDS_EXT])
    }

    /// The state of `source`; `None` when nothing is stored for it.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its `.state` or the header of its `.snap` is
    /// damaged; [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn state(&self, source: &str) -> Result<Option<SourceState>, StoreError> {
        let esc = name::escape("source", source)?;
        let state = self.read_state_file(&esc, source)?;
        let snap = self.read_snap_header(&esc, source)?;
        Ok(match (state, snap) {
            (Some((gen, s)), Some(h)) if gen >= h.gen => Some(s),
            (_, Some(h)) => Some(h.state),
            (Some((_, s)), None) => Some(s),
            (None, None) => None,
        })
    }

    /// Stores `state` for `source`, leaving its records untouched.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file (the previous state is
    /// then still in place).
    pub fn set_state(&mut self, source: &str, state: &SourceState) -> Result<(), StoreError> {
        let esc = name::escape("source", source)?;
        let gen = self.current_gen(&esc, source)?;
        let header = record::encode_state_header(source, gen, state);
        file::write_atomic(
            &self.sources,
            &format!("{esc}{STATE_EXT}"),
            MAGIC_STATE,
            &header,
            |_| Ok(()),
        )
    }

    /// All records of `source` (empty when none are stored). Records whose value no longer
    /// parses are left out, counted and logged; see [`Store::read_records`] to stream instead.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its snapshot is damaged (nothing partial is
    /// returned; the next [`Store::replace`] of the source overwrites it);
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn records(&self, source: &str) -> Result<Vec<Record>, StoreError> {
        let mut reader = self.read_records(source)?;
        // Bounded by the file's size (a record takes at least 5 bytes), not the header alone.
        let cap = reader.announced().min(reader.payload_hint() / 5);
        let mut out = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
        for r in reader.by_ref() {
            out.push(r?);
        }
        warn_skipped(source, &reader);
        Ok(out)
    }

    /// Streams the records of `source` without loading them all: for callers that fold millions
    /// of records. **Discard everything read if an item is an error** (the checksum is checked
    /// at the end); records whose value no longer parses are skipped and counted in
    /// [`RecordReader::skipped`].
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its header is damaged;
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn read_records(&self, source: &str) -> Result<RecordReader, StoreError> {
        let esc = name::escape("source", source)?;
        match self.open_snap(&esc, source)? {
            None => Ok(RecordReader::empty(
                &self.sources.join(format!("{esc}{SNAP_EXT}")),
            )),
            Some((o, h)) => Ok(RecordReader::new(o, h.count)),
        }
    }

    /// Replaces the records and the state of `source` together: after a crash either the old
    /// pair or the new pair is read, never a mix. Records are stored in the order given
    /// ([`merge_snapshot`](crate::store::merge_snapshot) gives them sorted); [`Store::load`]
    /// sorts them if they were not.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file (the old pair is then
    /// still in place).
    pub fn replace(
        &mut self,
        source: &str,
        records: &[Record],
        state: &SourceState,
    ) -> Result<(), StoreError> {
        self.write_snapshot(source, records.len() as u64, state, |w| {
            snapshot::write_records(w, records)
        })
    }

    /// [`Store::replace`] for a [`RecordSet`] (what the pipeline holds): the records and the
    /// state of `source` together, atomically.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file (the old pair is then
    /// still in place).
    pub fn replace_set(
        &mut self,
        source: &str,
        records: &RecordSet,
        state: &SourceState,
    ) -> Result<(), StoreError> {
        self.write_snapshot(source, records.len() as u64, state, |w| {
            snapshot::write_set(w, records)
        })
    }

    /// Writes the snapshot of `source` (`count` records streamed by `payload`) with `state`,
    /// one generation above anything stored for it.
    fn write_snapshot(
        &mut self,
        source: &str,
        count: u64,
        state: &SourceState,
        payload: impl FnOnce(&mut file::PayloadWriter<'_>) -> std::io::Result<()>,
    ) -> Result<(), StoreError> {
        let esc = name::escape("source", source)?;
        let gen = self.current_gen(&esc, source)? + 1;
        let header = record::encode_snap_header(
            source,
            &SnapHeader {
                gen,
                count,
                state: state.clone(),
            },
        );
        file::write_atomic(
            &self.sources,
            &format!("{esc}{SNAP_EXT}"),
            MAGIC_SNAP,
            &header,
            payload,
        )?;
        // The `.state` now has a lower generation and loses anyway; removing it keeps a damaged
        // one from hiding the new state, and the layout simple (a `.state` exists only when it is
        // newer than the snapshot). A crash before this line changes nothing that is read.
        file::remove(&self.sources, &format!("{esc}{STATE_EXT}"))
    }

    /// All records of `source` as a [`RecordSet`] (empty when none are stored): the compact,
    /// sorted form the pipeline keeps. Records whose value no longer parses are left out,
    /// counted and logged.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its snapshot is damaged (nothing partial is
    /// returned); [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn load(&self, source: &str) -> Result<RecordSet, StoreError> {
        let (set, reader) = self.read_records(source)?.into_set()?;
        warn_skipped(source, &reader);
        Ok(set)
    }

    /// What identifies the snapshot of `source` stored now, read from its header and the file's
    /// metadata without reading the records (`None` when none is stored). Every write of a
    /// snapshot gives a new one (a higher generation, a new file), so a process that kept the
    /// records it last loaded or wrote knows from this whether they are still the stored ones
    /// (`pipeline/unchanged.rs`).
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its header is damaged;
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn snapshot_id(&self, source: &str) -> Result<Option<SnapshotId>, StoreError> {
        let esc = name::escape("source", source)?;
        let Some((o, h)) = self.open_snap(&esc, source)? else {
            return Ok(None);
        };
        let meta = &o.metadata;
        #[cfg(unix)]
        let (ino, mtime_ns) = {
            use std::os::unix::fs::MetadataExt as _;
            (
                meta.ino(),
                meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            )
        };
        #[cfg(not(unix))]
        let (ino, mtime_ns) = (
            0,
            meta.modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64),
        );
        Ok(Some(SnapshotId {
            gen: h.gen,
            count: h.count,
            payload_len: o.payload_len,
            payload_crc: o.payload_crc,
            ino,
            mtime_ns,
        }))
    }

    /// Removes everything stored for `source`; nothing stored is not an error.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file.
    pub fn remove_source(&mut self, source: &str) -> Result<(), StoreError> {
        let esc = name::escape("source", source)?;
        // State first: a crash in between leaves the last replace's pair, never state alone;
        // the index before the snapshot, so an index never outlives its records (a source of
        // the same name added later would take it up).
        file::remove(&self.sources, &format!("{esc}{STATE_EXT}"))?;
        file::remove(&self.sources, &format!("{esc}{IDS_EXT}"))?;
        file::remove(&self.sources, &format!("{esc}{SNAP_EXT}"))
    }

    /// Stores the indicator index of a delta source, stamped one generation above its stored
    /// snapshot: write it *before* that snapshot ([`Store::replace_set`]), so the index is
    /// never behind the records it explains (see `indicators.rs`).
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file (the previous index is
    /// then still in place).
    pub fn save_indicators(
        &mut self,
        source: &str,
        index: &IndicatorIndex,
    ) -> Result<(), StoreError> {
        let esc = name::escape("source", source)?;
        let gen = self.current_gen(&esc, source)? + 1;
        let mut header = Vec::new();
        codec::put_str(&mut header, source);
        codec::put_u64(&mut header, gen);
        codec::put_u64(&mut header, index.len() as u64);
        file::write_atomic(
            &self.sources,
            &format!("{esc}{IDS_EXT}"),
            MAGIC_IDS,
            &header,
            |w| indicators::encode(index, |b| w.write(b)),
        )
    }

    /// The indicator index of a delta source; empty when none is stored, when the stored one
    /// is older than the source's snapshot (written by a binary that kept none, or before the
    /// source was a TAXII source), or when it is damaged (logged; the next accepted poll
    /// rewrites it): the source's records then count as unattributed.
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn load_indicators(&self, source: &str) -> Result<IndicatorIndex, StoreError> {
        match self.read_indicators(source) {
            Err(e @ StoreError::Damaged { .. }) => {
                tracing::warn!(
                    source = %source,
                    error = %e,
                    "Damaged indicator index not used: the source's stored values count as unattributed until the next poll rewrites it."
                );
                Ok(IndicatorIndex::default())
            }
            r => r,
        }
    }

    /// Whether a pending indicator of the stored index of `source` has reached its
    /// `valid_from` at `now` (see [`IndicatorIndex::starts_due`]), read without building the
    /// index: what a run that does not poll the source asks every time, so it costs a scan of
    /// the file, not the parsing of every value. `false` when no usable index is stored
    /// (missing, older than the snapshot, damaged).
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn indicators_start_due(&self, source: &str, now: i64) -> Result<bool, StoreError> {
        let Some((path, payload, count)) = self.read_indicators_payload(source)? else {
            return Ok(false);
        };
        Ok(
            indicators::starts_due(&payload, count, now).unwrap_or_else(|(index, what)| {
                let e = StoreError::damaged(&path, Damage::Record { index, what });
                tracing::warn!(source = %source, error = %e, "Damaged indicator index not used.");
                false
            }),
        )
    }

    /// The payload of the stored index of `source`, its path and entry count; `None` when
    /// none is stored or the stored one is older than the source's snapshot.
    fn read_indicators_payload(
        &self,
        source: &str,
    ) -> Result<Option<(PathBuf, Vec<u8>, u64)>, StoreError> {
        let esc = name::escape("source", source)?;
        let path = self.sources.join(format!("{esc}{IDS_EXT}"));
        let Some(o) = file::open(&path, MAGIC_IDS)? else {
            return Ok(None);
        };
        let (gen, count) = record::decode_ids_header(&o, source)?;
        let snap_gen = self.read_snap_header(&esc, source)?.map_or(0, |h| h.gen);
        if gen < snap_gen {
            tracing::info!(
                source = %source,
                file = %path.display(),
                "The stored indicator index is older than the source's records; not used."
            );
            return Ok(None);
        }
        let path = o.path.clone();
        Ok(Some((path, o.read_payload()?, count)))
    }

    fn read_indicators(&self, source: &str) -> Result<IndicatorIndex, StoreError> {
        let Some((path, payload, count)) = self.read_indicators_payload(source)? else {
            return Ok(IndicatorIndex::default());
        };
        let (index, skipped) = indicators::decode(&payload, count)
            .map_err(|(index, what)| StoreError::damaged(&path, Damage::Record { index, what }))?;
        if skipped > 0 {
            tracing::warn!(
                source = %source,
                file = %path.display(),
                skipped,
                "Stored indicator values that no longer parse were dropped."
            );
        }
        Ok(index)
    }

    /// Stores the compiled list `name` (its bytes and metadata, atomically together).
    ///
    /// # Errors
    /// [`StoreError::InvalidName`]; [`StoreError::Io`] naming the file (the previous list is then
    /// still in place).
    pub fn save_list(
        &mut self,
        name: &str,
        body: &[u8],
        meta: &ListMeta,
    ) -> Result<(), StoreError> {
        let esc = name::escape("list", name)?;
        let header = record::encode_list_header(name, meta);
        file::write_atomic(
            &self.lists,
            &format!("{esc}{LIST_EXT}"),
            MAGIC_LIST,
            &header,
            |w| w.write(body),
        )
    }

    /// The stored bytes and metadata of list `name`; `None` when none is stored.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file; [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn load_list(&self, name: &str) -> Result<Option<(Vec<u8>, ListMeta)>, StoreError> {
        match self.open_list(name)? {
            None => Ok(None),
            Some((o, meta)) => Ok(Some((o.read_payload()?, meta))),
        }
    }

    /// The metadata of the stored list `name` (`None` when none is stored), read from its
    /// header without reading the body.
    ///
    /// # Errors
    /// [`StoreError::Damaged`] naming the file when its header is damaged;
    /// [`StoreError::InvalidName`]; [`StoreError::Io`].
    pub fn list_meta(&self, name: &str) -> Result<Option<ListMeta>, StoreError> {
        Ok(self.open_list(name)?.map(|(_, meta)| meta))
    }

    /// Names of the stored lists, sorted.
    ///
    /// # Errors
    /// [`StoreError::Io`] when `lists/` cannot be listed.
    pub fn lists(&self) -> Result<Vec<String>, StoreError> {
        names(&self.lists, &[LIST_EXT])
    }

    fn read_state_file(
        &self,
        esc: &str,
        source: &str,
    ) -> Result<Option<(u64, SourceState)>, StoreError> {
        let path = self.sources.join(format!("{esc}{STATE_EXT}"));
        match file::open(&path, MAGIC_STATE)? {
            None => Ok(None),
            Some(o) => record::decode_state_header(&o, source).map(Some),
        }
    }

    fn read_snap_header(&self, esc: &str, source: &str) -> Result<Option<SnapHeader>, StoreError> {
        Ok(self.open_snap(esc, source)?.map(|(_, h)| h))
    }

    /// The snapshot file of `source` (`esc`: its escaped name) opened, with its header.
    fn open_snap(
        &self,
        esc: &str,
        source: &str,
    ) -> Result<Option<(file::Opened, SnapHeader)>, StoreError> {
        let path = self.sources.join(format!("{esc}{SNAP_EXT}"));
        let Some(o) = file::open(&path, MAGIC_SNAP)? else {
            return Ok(None);
        };
        let h = record::decode_snap_header(&o, source)?;
        Ok(Some((o, h)))
    }

    /// The file of list `name` opened, with its metadata.
    fn open_list(&self, name: &str) -> Result<Option<(file::Opened, ListMeta)>, StoreError> {
        let esc = name::escape("list", name)?;
        let path = self.lists.join(format!("{esc}{LIST_EXT}"));
        let Some(o) = file::open(&path, MAGIC_LIST)? else {
            return Ok(None);
        };
        let meta = record::decode_list_header(&o, name)?;
        Ok(Some((o, meta)))
    }

    /// The highest generation stored for a source (0 when none). A damaged file counts as 0:
    /// writing over it is how a source recovers, and the new file must then win.
    fn current_gen(&self, esc: &str, source: &str) -> Result<u64, StoreError> {
        let lenient = |r: Result<Option<u64>, StoreError>| match r {
            Ok(g) => Ok(g.unwrap_or(0)),
            Err(e @ StoreError::Damaged { .. }) => {
                tracing::warn!(source = %source, error = %e, "Overwriting a damaged store file.");
                Ok(0)
            }
            Err(e) => Err(e),
        };
        let snap = lenient(self.read_snap_header(esc, source).map(|h| h.map(|h| h.gen)))?;
        let state = lenient(self.read_state_file(esc, source).map(|s| s.map(|s| s.0)))?;
        Ok(snap.max(state))
    }
}

/// The sorted, de-duplicated names of the files in `dir` with one of `exts`.
fn names(dir: &Path, exts: &[&str]) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = file::list(dir)?
        .iter()
        .filter_map(|f| {
            let stem = exts.iter().find_map(|e| f.strip_suffix(e))?;
            name::unescape(stem)
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Logs the stored records a read dropped because their value no longer parses (a stricter
/// parser than the one that stored them).
fn warn_skipped(source: &str, reader: &RecordReader) {
    if reader.skipped() > 0 {
        tracing::warn!(
            source = %source,
            file = %reader.path().display(),
            skipped = reader.skipped(),
            example = reader.first_skipped().unwrap_or(""),
            "Stored records whose value no longer parses were dropped."
        );
    }
}

#[cfg(test)]
mod tests;
