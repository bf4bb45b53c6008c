//! Share histories of `vendor = "stix"` lists (`store/share.rs`), kept in the shared database
//! as well as in each replica's local store (`postgres/shares.rs`), so every replica's TAXII
//! collection answers the same objects and a new leader continues the history where the last
//! one stopped (same object ids, versions and `date_added`, so `added_after` pollers see no
//! restart).
//!
//! The local `lists/<name>.share` stays the file the pipeline reads and writes; [`ShareMirror`]
//! copies it, whole, under the same rule as the sources' [`super::mirror::Mirror`]:
//! - [`ShareMirror::push`] (the leader, after a cycle, before it publishes the lists): every
//!   history whose JSON differs from the database's, fenced, naming the version this replica
//!   last saw.
//! - [`ShareMirror::pull`] (a new leader before its first cycle; a follower when it sees a new
//!   version): the database's copy replaces the local one, unless the database is still at the
//!   version this replica last saw (then the local copy is this replica's own newer write the
//!   database missed).

use std::collections::BTreeMap;

use super::mirror::{MirrorError, Seen};
use super::postgres::{share_digest, DbShare, Fence, PgError, PgStore};
use super::share::History;
use super::{Store, StoreError};

/// Copies share histories between a replica's local store and the database.
#[derive(Debug)]
pub struct ShareMirror {
    pg: PgStore,
    /// Per list, the database version this replica last read or wrote.
    known: Seen<i64>,
}

/// A history's JSON as the database keeps it (the payload of its local file); `None` when the
/// list has never been shared here. A damaged local file counts as none (logged).
fn local_json(store: &Store, list: &str) -> Result<Option<Vec<u8>>, StoreError> {
    match store.load_share(list) {
        Ok(h) if h == History::default() => Ok(None),
        // Serialising plain structs of strings and numbers cannot fail.
        Ok(h) => Ok(Some(serde_json::to_vec(&h).unwrap_or_default())),
        Err(e @ StoreError::Damaged { .. }) => {
            tracing::warn!(list = %list, error = %e, "Damaged local share history not used.");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl ShareMirror {
    /// A mirror on `pg` that has seen nothing yet.
    pub fn new(pg: PgStore) -> ShareMirror {
        ShareMirror {
            pg,
            known: Seen::new(),
        }
    }

    fn known(&self, list: &str) -> Option<i64> {
        self.known.get(list)
    }

    fn saw(&self, list: &str, version: i64) {
        self.known.saw(list, version);
    }

    /// The database's histories of `lists` whose version this replica has not seen: what a
    /// [`ShareMirror::pull`] would look at (empty: nothing to do, the local store untouched).
    ///
    /// # Errors
    /// The database failed.
    pub async fn unseen(&self, lists: &[String]) -> Result<BTreeMap<String, DbShare>, PgError> {
        let mut db = self.pg.shares().await?;
        db.retain(|name, d| lists.contains(name) && self.known(name) != Some(d.version));
        Ok(db)
    }

    /// Sends the local history of each of `lists` that differs from the database's, each in
    /// one transaction fenced by `fence`. Returns the lists sent; a history the database holds
    /// a copy of that this replica has not seen is not sent (logged).
    ///
    /// # Errors
    /// [`MirrorError::Pg`] with [`PgError::Fenced`] when another replica leads now, or when the
    /// database fails; [`MirrorError::Store`] when the local store cannot be read.
    pub async fn push(
        &self,
        fence: Fence,
        store: &Store,
        lists: &[String],
    ) -> Result<Vec<String>, MirrorError> {
        let db = self.pg.shares().await?;
        let mut sent = Vec::new();
        for list in lists {
            let Some(json) = local_json(store, list)? else {
                continue;
            };
            let d = db.get(list);
            if let Some(d) = d.filter(|d| d.digest == share_digest(&json)) {
                self.saw(list, d.version);
                continue;
            }
            match self
                .pg
                .put_share(fence, list, self.known(list), &json)
                .await
            {
                Ok(v) => {
                    self.saw(list, v);
                    sent.push(list.clone());
                }
                Err(e @ PgError::Conflict { .. }) => {
                    tracing::warn!(list = %list, error = %e, "Share history not sent to the database.");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(sent)
    }

    /// Brings the local histories of `unseen` (from [`ShareMirror::unseen`]) up to the
    /// database's: each one whose local JSON differs is replaced by the database's. Returns the
    /// lists whose local history changed; [`ShareMirror::saw_all`] then records the versions.
    /// Reading only: no fence needed.
    ///
    /// # Errors
    /// [`MirrorError::Pg`] when the database fails or the copy read is not a history;
    /// [`MirrorError::Store`] when the local store cannot be written.
    pub async fn pull(
        &self,
        store: &mut Store,
        unseen: &BTreeMap<String, DbShare>,
    ) -> Result<Vec<String>, MirrorError> {
        let mut changed = Vec::new();
        for (list, d) in unseen {
            let local = local_json(store, list)?;
            if local.as_deref().map(share_digest).as_ref() != Some(&d.digest) {
                let json = self.pg.read_share(list, d).await?;
                let history: History =
                    serde_json::from_slice(&json).map_err(|e| PgError::Local {
                        what: format!(
                            "the database's share history of list {list:?} is not a history"
                        ),
                        source: std::io::Error::other(e),
                    })?;
                store.save_share(list, &history)?;
                changed.push(list.clone());
            }
        }
        Ok(changed)
    }

    /// Records that this replica now holds (and serves) the versions of `unseen` that a
    /// [`ShareMirror::pull`] brought in. Separate from the pull so that a caller cancelled
    /// between the two (a timeout) sees the same versions as unseen again and serves them.
    pub fn saw_all(&self, unseen: &BTreeMap<String, DbShare>) {
        for (list, d) in unseen {
            self.saw(list, d.version);
        }
    }
}
