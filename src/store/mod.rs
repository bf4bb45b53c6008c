//! The persistent indicator store: each source's last accepted records and fetch state, and the
//! last compiled lists, kept under `data_dir` so a restart serves and compiles before any fetch.
//! The only module that knows the backend: everything else sees [`Store`]'s methods and plain
//! data ([`RecordSet`], [`Record`], [`SourceState`], [`ListMeta`]); merging a fresh snapshot
//! into the old records is the pure [`merge_set`] (and [`merge_snapshot`] on plain `Vec`s).
//!
//! # Code layout
//! ```text
//! store/
//!   mod.rs record.rs set.rs fresh.rs merge.rs indicators.rs share.rs error.rs
//!                 backend-neutral: Record, RecordSet, merge, SourceState, ListMeta, the TAXII
//!                 indicator index, share histories, StoreError
//!   embedded/     the files under data_dir: Store (mod.rs), the container (file.rs), the
//!                 snapshot payload (snapshot.rs), headers (record.rs), streaming reader
//!                 (reader.rs), names (name.rs), lock.rs, migrate.rs, codec.rs, share.rs
//!   postgres/     the shared database of several replicas (postgres/mod.rs)
//! ```
//!
//! # Layout
//! ```text
//! data_dir/
//!   VERSION                  store format, "2\n" (embedded/migrate.rs)
//!   lock                     held by the open Store (embedded/lock.rs)
//!   sources/<name>.snap      header + state + all records of one source (embedded/snapshot.rs)
//!   sources/<name>.state     the source's state, when it changed after its last snapshot
//!   sources/<name>.ids       a TAXII source's indicators by STIX id (indicators.rs)
//!   lists/<name>.list        header + metadata + the compiled list's bytes
//!   lists/<name>.share       a `vendor = "stix"` list's published versions (share.rs)
//! ```
//! `<name>` is the source or list name escaped reversibly for the file system (name.rs). Every
//! file shares one container (embedded/file.rs): magic, format number, a checksummed header, a
//! checksummed payload, and an exact length, so a damaged or truncated file is a clear error
//! naming it, never a panic nor a silently short list, and it does not affect any other source.
//!
//! # Atomicity
//! Every file is written as a temporary file, fsynced, renamed over the old one, and the directory
//! fsynced (`file::write_atomic`): after `kill -9` or a power cut each file is wholly old or
//! wholly new. What must change together lives in one file:
//! - [`Store::replace`] writes one `.snap` holding the records *and* the state accepted with them,
//!   stamped with a generation one above anything stored for the source. One rename, so a crash
//!   leaves the old pair or the new pair. (It then deletes the `.state`, which is already
//!   outranked; that only keeps things tidy.)
//! - [`Store::set_state`] (every fetch attempt, including 304s and failures) writes only the small
//!   `.state`, stamped with the snapshot's generation; rewriting millions of records to note a
//!   failed attempt would be absurd.
//! - The state read back is the `.state` when its generation is at least the snapshot's, else the
//!   snapshot's own: a `.state` older than the last `replace` loses, whether or not a crash came
//!   between.
//! - [`Store::remove_source`] deletes the `.state`, then the `.snap`. A crash between leaves the
//!   source as its last `replace` left it (records and the state accepted with them), never a
//!   state without its records; the caller's next reconcile removes it again.
//!
//! # Locking
//! [`Store::open`] takes an exclusive OS lock on `data_dir/lock` (lock.rs) and holds it until the
//! `Store` is dropped, so a `compile` run while `serve` runs waits (up to the given time) and
//! then fails with a message naming the `data_dir`, instead of two writers interleaving. The
//! kernel releases it when the holder dies, so a killed process never blocks the next.
//!
//! # Why files and not an embedded database (redb, sled, SQLite)
//! The access pattern is whole-snapshot: a fetch replaces all records of one source, and compile
//! reads all records of the sources of a list. Nothing ever looks up or updates one record. A file
//! per source written by rename is exactly that unit of atomicity, needs no dependency, no
//! compaction and no database file that can grow or be damaged as a whole (a bad sector costs one
//! source, which the next fetch rewrites). Loading is one sequential read. A B-tree database would
//! add write amplification for 10M-record replaces, its own format-compatibility story, and
//! transactions we would not use.
//!
//! # Size and speed
//! The pipeline holds each source as a [`RecordSet`] (set.rs): values by family, sorted, one
//! record per value, and everything else interned as a shared [`Stamp`] (times, expiry,
//! confidence, TLP, tags, comment), since a fetch gives most records the same. An IPv4 record
//! costs 12 bytes in memory (10M: 120 MB), where a [`Record`] costs 176 (10M: 1.7 GiB).
//! On disk (format 2, snapshot.rs) the stamps are a table and each record is a code, a
//! delta-coded binary value and a stamp index: about 5 bytes for an IPv4 address of a plain feed
//! (format 1 took 25), so 10M addresses are ~50 MB. [`Store::load`] streams a snapshot through a
//! 1 MiB buffer straight into a `RecordSet` (no per-record allocation for IPs, no text parsing),
//! and [`Store::replace_set`] streams one out. `benches/ingest.sh` (results in
//! `benches/results/2026-12-07-rust-2core/ingest-s3.txt`), a 10M-line IPv4 feed through fetch,
//! gates, merge, store and compile on 2 shared, loaded cores: 2.40 s and 238 MiB into an empty
//! store (1.58× the bare `convert`), 2.73 s and 378 MiB merged with a stored 10M (1.80×), against
//! 1.52 s for `convert` (format 1 with `Vec<Record>`s: 39.5 s and 5.4 GiB); a 1M-name list of two
//! feeds recompiled after one changed (`KIND=domain`, `ingest-names-s3.txt`): 1.09× `convert`.
//! [`Store::records`] and [`Store::read_records`] still give [`Record`]s, for tests, tools and
//! small sources.
//!
//! # Not here
//! What to keep is [`merge_snapshot`]'s rule with the caller's `keep_for`; when to fetch, which
//! sources exist (the caller removes those no longer configured) and what a list contains are
//! decided upstream and downstream. The store never reads the configuration.
//!
//! # The shared backend
//! Several replicas share a PostgreSQL database: [`postgres`] (`store/postgres/`) holds the
//! schema and its migrations, leadership with a fencing generation, the published lists, every
//! source's store files (records with their state, a newer state, a TAXII source's index), and
//! the follower. [`mirror`] keeps a leader's sources there: the pipeline always writes the
//! local [`Store`] (durable at once, whether or not the database answers), and the replica
//! sends what changed after each cycle ([`mirror::Mirror::push`], fenced) and, on taking the
//! lead, brings its local store up to the database's copies first ([`mirror::Mirror::pull`]).
//! So the seam is the store module itself: `pipeline/fetch.rs` and the scheduler call the same
//! [`Store`] methods on either backend and never learn which one runs; only the daemon's
//! replica (`pipeline/daemon/replica.rs`, `sources_db.rs`) calls the mirror when it leads.
//! The methods of [`Store`] speak names, records and states, never paths or bytes, and promise
//! only what a database transaction also gives (a `replace` is atomic with its state; reads
//! see whole snapshots). `config::Backend` selects the backend.

mod embedded;
mod error;
mod fresh;
mod indicators;
mod merge;
pub mod mirror;
pub mod postgres;
mod record;
mod set;
pub mod share;
pub mod share_mirror;

pub use self::embedded::{Part, PartFile, RecordReader, SnapshotId, Store};
pub use self::error::{Damage, IoAction, NameProblem, StoreError, VersionProblem};
pub use self::fresh::{merge_set, seen_again, FreshMeta, FreshSet, MergeCounts};
pub use self::indicators::{
    apply_delta, Assertion, DeltaOutcome, IndicatorEntry, IndicatorIndex, TOMBSTONE_KEEP,
};
pub use self::merge::{merge_snapshot, FreshIndicator};
pub use self::record::Record;
pub use self::set::{Key, RecordSet, Stamp, StampId};

/// What the store remembers about fetching one source. Times are Unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    /// The `ETag` of the last accepted response, for `If-None-Match`.
    pub etag: Option<String>,
    /// The `Last-Modified` of the last accepted response, for `If-Modified-Since`.
    pub last_modified: Option<String>,
    /// When a fetch was last tried.
    pub last_attempt: Option<i64>,
    /// When a fetch last succeeded (its snapshot accepted, or the data unchanged).
    pub last_success: Option<i64>,
    /// The last failure, for people: `body is HTML, not a list`.
    pub last_error: Option<String>,
    /// The last failure's reason id, for metrics (a short, bounded id such as `html`).
    pub last_error_reason: Option<String>,
    /// Records in the last accepted snapshot.
    pub accepted_count: u64,
    /// Opaque position for incremental sources (TAXII `added_after`).
    pub cursor: Option<String>,
}

/// What the store keeps about a compiled list beside its bytes. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMeta {
    /// Entries in the list.
    pub entries: u64,
    /// When it was compiled.
    pub compiled_at: i64,
    /// When its content last changed.
    pub changed_at: i64,
    /// The HTTP `ETag` it is served with.
    pub etag: String,
}
