//! What `serve` does not do again from one cycle to the next: parse a `path` source read again
//! unchanged ([`FileReads`]), and load a snapshot it already holds ([`KeptSets`]).
//!
//! # Files read again
//! Every cycle of the daemon reads every `path` source, and an edit of one hand-kept file made
//! the other files be parsed, sorted and merged again too: 0.35–0.47 s for a 500k-name file, the
//! largest part of the time from an edit to the new list. The merge of a snapshot a source was
//! last merged from is known without parsing it ([`crate::store::seen_again`]: every record seen
//! again now, data-given expiries applied), so a file whose bytes and settings are those of its
//! last accepted read skips the parse, gates and merge and gives the same records.
//!
//! "The same" is checked twice:
//! - the store's state of the source holds the validator of its last accepted read (written
//!   with its snapshot, in the `etag` a network source keeps its `ETag` in), so the records in
//!   the store are that read's whoever wrote them (another `compile` on the same data
//!   included);
//! - this process remembers the validator and the skip report of the reads it parsed itself, so
//!   the report (counts, examples, metrics) is that parse's too. A new process parses each file
//!   once first.
//!
//! The validator is SHA-256 over the edlforge version (a new parser parses again), the source's
//! settings but its place in `feeds.toml` and its `refresh`, and the bytes. Sources with
//! `keep_for` (records kept after they left the file depend on when each was last seen) and STIX
//! bundles (their conversion depends on the time) are always parsed.
//!
//! # Snapshots kept
//! Each cycle loaded every source's snapshot from the store (0.27 s for two 500k-name sources)
//! and dropped the records at its end. [`KeptSets`] keeps them between cycles with the
//! identity of the snapshot they are ([`Store::snapshot_id`]: generation, checksum, file), and
//! loads only those whose stored snapshot is another (written by another process, a follower's
//! copy from PostgreSQL, a store restored from a backup). The peak memory of a cycle is the same
//! (the records were loaded during it anyway); between cycles they stay held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::config::{Source, Syntax, Transport};
use crate::indicator::Report;
use crate::store::{RecordSet, SnapshotId, SourceState, Store, StoreError};

use super::SourceData;

/// An accepted read: its validator, skip report and number of distinct values.
#[derive(Debug, Clone)]
pub(super) struct Read {
    validator: String,
    /// The parse's report.
    pub(super) report: Report,
    /// The distinct values the parse gave (some may have expired since).
    pub(super) values: u64,
}

/// What `serve` remembers of the `path` sources it parsed: the validator and the skip report of
/// each one's last accepted read.
#[derive(Debug, Default)]
pub struct FileReads {
    reads: Mutex<HashMap<String, Read>>,
    unchanged: AtomicU64,
}

impl FileReads {
    /// How many reads found their file unchanged and were not parsed again.
    pub fn unchanged_reads(&self) -> u64 {
        self.unchanged.load(Ordering::Relaxed)
    }

    /// Remembers an accepted read of `source`.
    pub(super) fn remember(&self, source: &str, validator: String, report: &Report, values: u64) {
        if let Ok(mut r) = self.reads.lock() {
            r.insert(
                source.to_string(),
                Read {
                    validator,
                    report: report.clone(),
                    values,
                },
            );
        }
    }

    /// The last accepted read of `source`, when it had `validator` (in the store: `state` and
    /// `old`; and here): then its records are `old` seen again ([`crate::store::seen_again`]),
    /// its report is that read's, and of its values those not in `old` (expired) are the ones
    /// a merge would count as added (none are removed).
    pub(super) fn again(
        &self,
        source: &Source,
        validator: &str,
        state: &SourceState,
        old: Option<&RecordSet>,
    ) -> Option<Read> {
        let old = old?;
        let stored = state.etag.as_deref() == Some(validator)
            && state.last_success.is_some()
            && old.len() as u64 == state.accepted_count;
        if !stored {
            return None;
        }
        let read = match self.reads.lock() {
            Ok(r) => match r.get(&source.name) {
                Some(read) if read.validator == validator => read.clone(),
                _ => return None,
            },
            Err(_) => return None,
        };
        self.unchanged.fetch_add(1, Ordering::Relaxed);
        Some(read)
    }

    /// Forgets the sources not in `names` (removed from the config).
    pub(super) fn retain(&self, names: &[&str]) {
        if let Ok(mut r) = self.reads.lock() {
            r.retain(|k, _| names.contains(&k.as_str()));
        }
    }
}

/// The validator of `body` read from `source`; `None` for sources that are always parsed
/// (not a `path` source, `keep_for` set, a STIX bundle).
pub(super) fn validator(source: &Source, body: &[u8]) -> Option<String> {
    if !matches!(source.transport, Transport::File { .. })
        || !source.keep_for.is_zero()
        || source.extract.syntax == Syntax::Stix
    {
        return None;
    }
    // `keep_for` is zero here (checked above).
    let settings = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        source.name,
        source.transport,
        source.extract,
        source.confidence,
        source.tlp,
        source.tags,
        source.role,
        source.gates,
    );
    let mut h = Sha256::new();
    for part in [env!("CARGO_PKG_VERSION").as_bytes(), settings.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(body);
    Some(format!("file:{}", super::lists::hex128(&h.finalize())))
}

/// The records of each source as `serve` last loaded or wrote them, with the snapshot they are.
#[derive(Debug, Default)]
pub struct KeptSets {
    sets: Mutex<HashMap<String, (SnapshotId, RecordSet)>>,
    loads: AtomicU64,
}

impl KeptSets {
    /// How many snapshots were loaded from the store (not kept, or kept but written since).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// The stored records of every configured source ([`super::load_sources`]): the kept ones
    /// whose snapshot is still the stored one, the others loaded.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn load(&self, config: &Config, store: &Store) -> Result<SourceData, StoreError> {
        let mut kept = match self.sets.lock() {
            Ok(mut k) => std::mem::take(&mut *k),
            Err(_) => HashMap::new(),
        };
        let mut data = HashMap::new();
        for s in &config.sources {
            let id = store.snapshot_id(&s.name)?;
            let set = match (kept.remove(&s.name), id) {
                (Some((was, set)), Some(id)) if was == id => set,
                _ => {
                    if id.is_some() {
                        self.loads.fetch_add(1, Ordering::Relaxed);
                    }
                    store.load(&s.name)?
                }
            };
            data.insert(s.name.clone(), set);
        }
        Ok(data)
    }

    /// Keeps `data`, the records of a cycle whose snapshots are all written, each with the
    /// snapshot stored for it now (a source with none stored is not kept).
    ///
    /// # Errors
    /// The store cannot be read; nothing is kept then.
    pub fn keep(&self, store: &Store, data: SourceData) -> Result<(), StoreError> {
        let mut kept = HashMap::new();
        for (name, set) in data {
            if let Some(id) = store.snapshot_id(&name)? {
                // What is kept must be what a load gives (checked in debug builds: every test
                // of `serve` checks it).
                debug_assert!(
                    store.load(&name).is_ok_and(|stored| stored == set),
                    "kept records of {name} differ from the stored snapshot"
                );
                kept.insert(name, (id, set));
            }
        }
        if let Ok(mut k) = self.sets.lock() {
            *k = kept;
        }
        Ok(())
    }
}
