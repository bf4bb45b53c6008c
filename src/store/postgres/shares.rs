//! Share histories of `vendor = "stix"` lists in PostgreSQL (migration 5): what each list's
//! TAXII 2.1 collection answers (`store/share.rs`), so followers serve the leader's objects
//! and a new leader continues the same history (same object ids, versions and `date_added`)
//! instead of starting it anew. `store/share_mirror.rs` decides what to copy which way.
//!
//! A history is stored as its JSON (the payload of the embedded `lists/<name>.share` file),
//! with its SHA-256 digest, cut into rows of at most [`CHUNK`] bytes (no 1 GB `bytea` limit on
//! a large list's history). Unlike a source snapshot the history is read and written whole in
//! memory by the pipeline anyway, so the bytes are handled as one buffer here. Every write
//! ([`PgStore::put_share`]) is one transaction that checks the writer's fence and the
//! history's version, like a source's (`sources.rs`): an ex-leader's late write is refused by
//! the fence, and a leader that never saw the database's copy cannot overwrite it.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::leader::{check_fence, Fence};
use super::sources::{next_version, snapshot};
use super::{PgError, PgStore, CHUNK};

/// What the database holds for a list's share history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbShare {
    /// Rises by one with every write of the history.
    pub version: i64,
    /// The fencing generation of the leader that wrote it last.
    pub generation: i64,
    /// SHA-256 of the history's JSON ([`share_digest`]).
    pub digest: Vec<u8>,
    /// Length of the JSON in bytes.
    pub size: i64,
    /// Rows it is cut into.
    pub chunks: i32,
}

/// The digest the database keeps of a history's JSON.
pub fn share_digest(json: &[u8]) -> Vec<u8> {
    Sha256::digest(json).to_vec()
}

impl PgStore {
    /// Every share history the database holds, without the bytes.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn shares(&self) -> Result<BTreeMap<String, DbShare>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let rows = client
            .query(
                "SELECT name, version, generation, digest, size, chunks FROM edlforge_shares",
                &[],
            )
            .await
            .map_err(PgError::query("reading the stored share histories"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    DbShare {
                        version: r.get(1),
                        generation: r.get(2),
                        digest: r.get(3),
                        size: r.get(4),
                        chunks: r.get(5),
                    },
                )
            })
            .collect())
    }

    /// Makes the database's share history of `list` exactly `json`, in one transaction that
    /// checks `fence` and that the history is still at version `base` (`None`: not in the
    /// database). Returns the new version.
    ///
    /// # Errors
    /// [`PgError::Fenced`] or [`PgError::Conflict`] (nothing written);
    /// [`PgError::Pool`], [`PgError::Query`], [`PgError::Range`].
    pub async fn put_share(
        &self,
        fence: Fence,
        list: &str,
        base: Option<i64>,
        json: &[u8],
    ) -> Result<i64, PgError> {
        let what = || format!("storing the share history of list {list:?}");
        let mut client = self.pool.get().await.map_err(PgError::Pool)?;
        let tx = client.transaction().await.map_err(PgError::query(what()))?;
        check_fence(&tx, fence).await?;
        let version = next_version(
            &tx,
            "edlforge_shares",
            list,
            base,
            format!("the share history of list {list:?}"),
        )
        .await?;
        let size = i64::try_from(json.len()).unwrap_or(i64::MAX);
        let chunks = i32::try_from(json.len().div_ceil(CHUNK)).map_err(|_| PgError::Range {
            what: "share history size",
            value: size,
        })?;
        let digest = share_digest(json);
        tx.execute(
            "INSERT INTO edlforge_shares (name, version, generation, digest, size, chunks, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (name) DO UPDATE \
             SET version = $2, generation = $3, digest = $4, size = $5, chunks = $6, \
             updated_at = now()",
            &[&list, &version, &fence.0, &digest, &size, &chunks],
        )
        .await
        .map_err(PgError::query(what()))?;
        tx.execute(
            "DELETE FROM edlforge_share_chunks WHERE name = $1",
            &[&list],
        )
        .await
        .map_err(PgError::query(what()))?;
        for (seq, bytes) in (0i32..).zip(json.chunks(CHUNK)) {
            tx.execute(
                "INSERT INTO edlforge_share_chunks (name, seq, bytes) VALUES ($1, $2, $3)",
                &[&list, &seq, &bytes],
            )
            .await
            .map_err(PgError::query(what()))?;
        }
        tx.commit().await.map_err(PgError::query(what()))?;
        Ok(version)
    }

    /// The JSON of the share history of `list`, read in one read-only snapshot and checked
    /// against `expect` (the row it was listed with) and its digest.
    ///
    /// # Errors
    /// [`PgError::Changed`] when the database holds another history now (a write came
    /// between) or the bytes do not match the digest; [`PgError::Pool`], [`PgError::Query`].
    pub async fn read_share(&self, list: &str, expect: &DbShare) -> Result<Vec<u8>, PgError> {
        let what = || format!("reading the share history of list {list:?}");
        let mut client = self.pool.get().await.map_err(PgError::Pool)?;
        let tx = snapshot(&mut client)
            .await
            .map_err(PgError::query(what()))?;
        let row = tx
            .query_opt(
                "SELECT version, generation, digest, size, chunks FROM edlforge_shares \
                 WHERE name = $1",
                &[&list],
            )
            .await
            .map_err(PgError::query(what()))?;
        let now = row.map(|r| DbShare {
            version: r.get(0),
            generation: r.get(1),
            digest: r.get(2),
            size: r.get(3),
            chunks: r.get(4),
        });
        if now.as_ref() != Some(expect) {
            return Err(PgError::Changed {
                name: format!("share history of list {list}"),
            });
        }
        let rows = tx
            .query(
                "SELECT bytes FROM edlforge_share_chunks WHERE name = $1 ORDER BY seq",
                &[&list],
            )
            .await
            .map_err(PgError::query(what()))?;
        tx.commit().await.map_err(PgError::query(what()))?;
        let mut json = Vec::with_capacity(usize::try_from(expect.size).unwrap_or(0));
        for r in &rows {
            json.extend_from_slice(r.get::<_, &[u8]>(0));
        }
        if share_digest(&json) != expect.digest {
            return Err(PgError::Changed {
                name: format!("share history of list {list}"),
            });
        }
        Ok(json)
    }
}
