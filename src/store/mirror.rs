//! The leader's sources, kept in the shared database as well as in its local store: what a
//! new leader continues from (validators, TAXII cursor and indicator index, last attempt and
//! success times, the last good set), so a takeover neither refetches every source at once nor
//! loses its conditional-GET validators or its place in a TAXII collection.
//!
//! The local store (`store/embedded/`) stays the one the pipeline writes: every write lands
//! there first, whole and durable, whether or not the database answers. [`Mirror`] then
//! copies what changed, source by source, each in one fenced transaction
//! ([`crate::store::postgres::PgStore::put_source`]):
//! - [`Mirror::push`] (the leader, after each cycle's writes): every source whose local files
//!   differ from the database's is sent, naming the database version this replica last saw.
//!   A write the database did not take (it was down) stays in the local store and is sent by
//!   the next push that reaches it; nothing fetched is lost while this replica leads.
//! - [`Mirror::pull`] (on becoming leader, before the first cycle): the database's copy of
//!   every source replaces the local one when it is newer; sources removed in the database are
//!   removed locally.
//!
//! # Which copy is newer
//! Each source has a version in the database that rises with every write; [`Mirror`]
//! remembers, per source, the version it last read or wrote (in memory: a restarted replica
//! knows none). A local copy that differs from the database's is newer only when the database
//! is still at the version this replica last saw: then only this replica wrote since (a push
//! the database missed while down). In every other case, another leader wrote since, or this
//! replica never saw the source there, and the database's copy wins. The database enforces the
//! same rule when it is written (the write names the version it expects), and the fence
//! refuses any write of a replica that no longer leads: nothing stale from an ex-leader
//! overwrites a newer copy.
//!
//! # Not here
//! Published lists (`postgres/lists.rs`) and share histories of `vendor = "stix"` lists
//! (`lists/<name>.share`: `store/share_mirror.rs`, by the same rule).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::postgres::{DbSource, Fence, PgError, PgStore};
use super::{PartFile, Store, StoreError};

/// A failed [`Mirror::push`] or [`Mirror::pull`].
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed, or refused a write (fence).
    #[error(transparent)]
    Pg(#[from] PgError),
}

/// What a [`Mirror::push`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Sources sent to the database.
    pub sent: Vec<String>,
    /// Sources not sent: the database holds a copy this replica has not seen (kept).
    pub conflicts: Vec<String>,
    /// Bytes sent.
    pub bytes: u64,
}

/// What a [`Mirror::pull`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Sources whose local files were replaced by the database's.
    pub copied: Vec<String>,
    /// Sources removed locally because the database says they were removed.
    pub removed: Vec<String>,
    /// Sources whose local copy is newer (this replica's writes the database missed).
    pub ahead: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
}

/// Copies sources between a replica's local store and the database (see the module comment).
#[derive(Debug)]
pub struct Mirror {
    pg: PgStore,
    /// Per source, the database version this replica last read or wrote (`None`: it was not
    /// in the database). A source missing here was never seen.
    known: Seen<Option<i64>>,
}

/// Per name, the database version a replica last read or wrote, in memory (a restarted
/// replica has seen nothing): the "newer copy" rule of [`Mirror`] and of
/// [`crate::store::share_mirror::ShareMirror`].
#[derive(Debug)]
pub(crate) struct Seen<V>(Mutex<BTreeMap<String, V>>);

impl<V: Copy> Seen<V> {
    pub(crate) fn new() -> Self {
        Seen(Mutex::new(BTreeMap::new()))
    }

    /// The version last seen of `name`; `None` when never seen.
    pub(crate) fn get(&self, name: &str) -> Option<V> {
        self.0.lock().ok().and_then(|k| k.get(name).copied())
    }

    /// Notes that `version` of `name` was read or written.
    pub(crate) fn saw(&self, name: &str, version: V) {
        if let Ok(mut k) = self.0.lock() {
            k.insert(name.to_string(), version);
        }
    }
}

impl Mirror {
    /// A mirror on `pg` that has seen nothing yet.
    pub fn new(pg: PgStore) -> Mirror {
        Mirror {
            pg,
            known: Seen::new(),
        }
    }

    fn known(&self, source: &str) -> Option<Option<i64>> {
        self.known.get(source)
    }

    fn saw(&self, source: &str, version: Option<i64>) {
        self.known.saw(source, version);
    }

    /// Sends every source whose local files differ from the database's, each in one
    /// transaction fenced by `fence`. A source the database holds a copy of that this replica
    /// has not seen is not sent (counted in [`Pushed::conflicts`]).
    ///
    /// # Errors
    /// [`MirrorError::Pg`] with [`PgError::Fenced`] when another replica leads now, or when
    /// the database fails (what was sent before stays sent; the rest waits for the next push);
    /// [`MirrorError::Store`] when the local store cannot be read.
    pub async fn push(&self, fence: Fence, store: &Store) -> Result<Pushed, MirrorError> {
        let db = self.pg.sources().await?;
        let mut out = Pushed::default();
        let mut names = store.sources()?;
        // Sources this replica saw in the database and no longer has: removed here.
        for (name, d) in &db {
            if !d.removed && self.known(name) == Some(Some(d.version)) {
                names.push(name.clone());
            }
        }
        names.sort();
        names.dedup();
        for name in names {
            let files = match store.source_files(&name) {
                Ok(f) => f,
                Err(e @ StoreError::Damaged { .. }) => {
                    tracing::warn!(source = %name, error = %e, "Damaged source files not sent to the database.");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let d = db.get(&name);
            if in_sync(d, &files) {
                self.saw(&name, d.map(|d| d.version));
                continue;
            }
            let base = self.known(&name).unwrap_or(None);
            let state = match store.state(&name) {
                Ok(s) => s,
                Err(e @ StoreError::Damaged { .. }) => {
                    tracing::warn!(source = %name, error = %e, "Damaged source files not sent to the database.");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            match self
                .pg
                .put_source(fence, &name, base, &files, state.as_ref())
                .await
            {
                Ok(v) => {
                    self.saw(&name, Some(v));
                    out.bytes += files.iter().map(|f| f.size).sum::<u64>();
                    out.sent.push(name);
                }
                Err(e @ PgError::Conflict { .. }) => {
                    tracing::warn!(source = %name, error = %e, "Source not sent to the database.");
                    out.conflicts.push(name);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Brings the local store up to the database: each source whose database copy differs
    /// from the local one and is not older (see the module comment) is copied into the local
    /// store (each file checked whole before it replaces the local one), and sources removed
    /// in the database are removed. Reading only: no fence needed.
    ///
    /// # Errors
    /// [`MirrorError::Pg`] when the database fails; [`MirrorError::Store`] when the local
    /// store cannot be written or a copy is damaged (sources copied before stay copied).
    pub async fn pull(&self, store: &mut Store) -> Result<Pulled, MirrorError> {
        let db = self.pg.sources().await?;
        let mut out = Pulled::default();
        for (name, d) in &db {
            let files = match store.source_files(name) {
                Ok(f) => f,
                // A damaged local copy is replaced by the database's.
                Err(StoreError::Damaged { .. }) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
            if in_sync(Some(d), &files) {
                self.saw(name, Some(d.version));
                continue;
            }
            if self.known(name) == Some(Some(d.version)) {
                // Only this replica wrote since the database's version: its copy is newer.
                out.ahead.push(name.clone());
                continue;
            }
            if d.removed {
                store.remove_source(name)?;
                out.removed.push(name.clone());
            } else {
                let mut parts = Vec::new();
                for (&part, f) in &d.files {
                    let mut file = store.create_incoming(name, part)?;
                    self.pg.read_source_file(name, part, f, &mut file).await?;
                    out.bytes += u64::try_from(f.size).unwrap_or(0);
                    parts.push(part);
                }
                store.install_source(name, &parts)?;
                out.copied.push(name.clone());
            }
            self.saw(name, Some(d.version));
        }
        Ok(out)
    }
}

/// Whether the database's copy `d` is the local `files` (a removed source matches no files).
fn in_sync(d: Option<&DbSource>, files: &[PartFile]) -> bool {
    match d {
        None => files.is_empty(),
        Some(d) if d.removed => files.is_empty(),
        Some(d) => d.same_as(files),
    }
}
