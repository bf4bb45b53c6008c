//! Wiring of every stage: fetch the due sources → publish gates → store; store → select →
//! compile → format → files. The only library module (with `cli`) that knows every stage.
//!
//! A fetch that fails anything (transport, decoding, parsing, a gate) changes nothing in the
//! store but the source's state (last attempt, error), so the source keeps its last good set.
//! Lists are written atomically (temp file + fsync + rename) and also saved in the store, so a
//! restart can serve them before any fetch.
//!
//! # Memory and speed (10M-line feeds)
//! - Sources are held as [`RecordSet`]s (sorted, one record per value, metadata interned as
//!   stamps): 12 bytes per IPv4 record, loaded from the store without parsing text.
//! - A fetch is parsed straight into a [`FreshSet`] through a [`Sink`] (large text bodies on two
//!   threads), never a `Vec` of parsed indicators; the body is dropped before the merge.
//!   [`merge_set`] sorts it once and walks it beside the old set, which gives the new set and
//!   the added/removed counts together (no hash set of values).
//! - A list decides selection (expired, TLP, confidence) once per stamp of each source, not per
//!   record, and walks its sources' sets merged in value order: every copy of a value meets its
//!   others without hashing, and a value reported by one source with a known stamp reuses its
//!   interned metadata id, so the compiler sees uniform metadata and keeps 8 bytes per IPv4
//!   entry.
//! - List diffs hash nothing on a first compile or an unchanged list.
//!
//! # Files
//! - `mod.rs`: the shared types, [`check`], [`guard`], [`load_sources`].
//! - `fetch.rs`: fetching, the publish gates, TAXII deltas, [`PendingWrites`], [`next_fetch`].
//! - `lists.rs`: selection, corroboration, [`compile_lists`], file names, hashes, diffs, writes.
//! - `explain.rs`: [`explain()`], why a value is or is not in each list.
//! - `publish.rs`: the publication rule [`publish::decide`], shared by `serve` and `compile`.
//! - `daemon/`: `edlforge serve` (start-up in `mod.rs`, the schedule and cycle in `scheduler.rs`).
//!
//! [`FreshSet`]: crate::store::FreshSet
//! [`Sink`]: crate::source::parse::Sink
//! [`merge_set`]: crate::store::merge_set

pub mod daemon;
mod explain;
mod fetch;
mod lists;
pub mod publish;
pub mod share;
mod unchanged;

pub use explain::{explain, Explanation, Sighting, Verdict};
pub use fetch::{
    accept_fetches, fetch_sources, load_indexes, next_fetch, next_fetch_at, refresh_sources,
    refresh_sources_deferred, Fetches, PendingWrites, RETRY_FAILED_AFTER,
};
pub use lists::{compile_lists, content_hash, file_name, save_list, write_atomic, Lines};
pub use unchanged::{FileReads, KeptSets};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::compile::psl::PublicSuffixes;
use crate::compile::Guard;
use crate::config::{Config, ConfigError, List, Vendor};
use crate::format::{Format, FormatOptions, RenderedList, ShareOptions};
use crate::indicator::Report;
use crate::store::{RecordSet, Store, StoreError};

/// `EDLFORGE_TIMING` set: print the time of each phase to stderr (for benchmarks).
fn timing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("EDLFORGE_TIMING").is_some())
}

/// Which sources to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchMode {
    /// Those whose `refresh` interval has passed (file sources always).
    Due,
    /// None over the network (file sources are still read).
    Offline,
    /// All of them.
    Force,
}

/// What happened to one source in a run.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    /// Source name.
    pub name: String,
    /// Result.
    pub status: SourceStatus,
    /// Records held after the run.
    pub records: u64,
    /// Parse skips of this fetch.
    pub report: Report,
    /// Time spent.
    pub duration: Duration,
    /// Bytes of the body received in this run (as sent, before decompression); 0 when nothing
    /// was received (skipped, 304, failed before a body, TAXII polls).
    pub bytes: u64,
}

/// The result of one source's fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// A new set was accepted.
    Updated {
        /// Values new to the source.
        added: u64,
        /// Values gone from the source.
        removed: u64,
    },
    /// The server said 304 Not Modified.
    NotModified,
    /// Not due (or offline).
    Skipped,
    /// Fetch or gate failed; the last good set is kept.
    Failed {
        /// Bounded reason id (`timeout`, `http_status`, `empty`, `shrink`, ...).
        reason: String,
        /// For people.
        message: String,
    },
}

/// A compiled and rendered list.
#[derive(Debug, Clone)]
pub struct ListOutcome {
    /// List name.
    pub name: String,
    /// Vendor.
    pub vendor: Vendor,
    /// The bytes.
    pub rendered: RenderedList,
    /// Drops by reason.
    pub report: Report,
    /// Lines new since the last compile, in list order.
    pub added: Lines,
    /// Lines gone since the last compile, in the last list's order.
    pub removed: Lines,
    /// Strong content hash (hex).
    pub etag: String,
    /// Output file name (`name.txt`, `name.csv`).
    pub file_name: String,
    /// A shared (`stix`) list's entries as share items (`pipeline/share.rs`); empty otherwise.
    pub shared: Vec<crate::store::share::Item>,
}

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Public Suffix List file is bad.
    #[error(transparent)]
    Psl(#[from] crate::compile::psl::PslError),
    /// Writing a list file failed.
    #[error("cannot write list file {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Checks that need the later stages: vendor/type compatibility and one-type vendors.
pub fn check(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for l in &config.lists {
        let format = list_format(l);
        let err = |message: String| ConfigError {
            file: config.path.clone(),
            location: l.vendor_location,
            key: format!("list.{}.types", l.name),
            message,
        };
        let takes = format
            .kinds()
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        for k in &l.kinds {
            if !format.kinds().contains(k) {
                errors.push(err(format!(
                    "vendor {} does not take type {k}; it takes: {takes}",
                    l.vendor
                )));
            }
        }
        let n = if l.kinds.is_empty() {
            format.kinds().len()
        } else {
            l.kinds.len()
        };
        if format.one_type_per_list() && n != 1 {
            errors.push(err(format!(
                "vendor {} lists hold one type only; set types = [\"…\"] to one of: {takes}",
                l.vendor
            )));
        }
        if l.ranges && !format.accepts_ranges() {
            errors.push(ConfigError {
                key: format!("list.{}.ranges", l.name),
                ..err(format!("vendor {} does not accept IP ranges", l.vendor))
            });
        }
    }
    errors
}

fn list_format(l: &List) -> Format {
    Format::new(
        l.vendor,
        FormatOptions {
            ranges: l.ranges,
            category: l.category.clone(),
            share: ShareOptions {
                organization: l.organization.clone(),
                tlp: l.max_tlp,
            },
        },
    )
}

/// The guard for a config (its Public Suffix List, or the built-in one).
///
/// # Errors
/// The configured PSL file cannot be read or parsed.
pub fn guard(config: &Config) -> Result<Guard, PipelineError> {
    Ok(match &config.public_suffix_list {
        Some(p) => Guard::new(Arc::new(PublicSuffixes::from_file(p)?)),
        None => Guard::default(),
    })
}

/// Source records held in memory for one run (the store's, updated by fetches), as compact
/// sorted [`RecordSet`]s: 12 bytes per IPv4 record.
pub type SourceData = HashMap<String, RecordSet>;

/// Loads the stored records of every configured source.
///
/// # Errors
/// The store cannot be read.
pub fn load_sources(config: &Config, store: &Store) -> Result<SourceData, PipelineError> {
    let mut data = HashMap::new();
    for s in &config.sources {
        data.insert(s.name.clone(), store.load(&s.name)?);
    }
    Ok(data)
}
