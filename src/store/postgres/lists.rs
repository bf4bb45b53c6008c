//! Published lists and per-source state in PostgreSQL: fenced writes, plain reads.

use std::collections::BTreeMap;

use tokio_postgres::Row;

use super::leader::{check_fence, Fence};
use super::{PgError, PgStore, NOTIFY_CHANNEL};
use crate::store::{ListMeta, SourceState};

/// Versions of a list kept in the database: the newest and the one before (a follower that
/// loads by name always gets the newest; the one before is what replicas may still serve
/// during the few seconds a change takes to reach them all).
const KEEP_VERSIONS: i64 = 2;

/// A list to publish.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    /// The list's name.
    pub name: &'a str,
    /// The bytes served.
    pub body: &'a [u8],
    /// The same bytes gzipped, when the server serves a gzip copy.
    pub gzip: Option<&'a [u8]>,
    /// Entries, times and ETag.
    pub meta: &'a ListMeta,
    /// What compile dropped, by reason.
    pub drops: &'a BTreeMap<String, u64>,
}

/// One stored version of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersion {
    /// The list's name.
    pub name: String,
    /// Its version: 1 for the first publish, then one more each time.
    pub version: i64,
    /// The bytes served.
    pub body: Vec<u8>,
    /// The gzip copy, if one was published.
    pub gzip: Option<Vec<u8>>,
    /// Entries, times and ETag.
    pub meta: ListMeta,
    /// What compile dropped, by reason.
    pub drops: BTreeMap<String, u64>,
    /// The leader generation that published it.
    pub generation: i64,
    /// When it was published (Unix seconds, the database's clock).
    pub published_at: i64,
}

const LIST_COLUMNS: &str = "name, version, body, body_gzip, etag, compiled_at, last_modified, \
                            entries, drops::text, generation, \
                            extract(epoch FROM published_at)::bigint";

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(what: &'static str, v: i64) -> Result<u64, PgError> {
    u64::try_from(v).map_err(|_| PgError::Range { what, value: v })
}

fn list_from_row(row: &Row) -> Result<ListVersion, PgError> {
    let drops_text: String = row.get(8);
    // Written by `publish` from a BTreeMap; anything else is a hand-edited row, shown as empty.
    let drops = serde_json::from_str(&drops_text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "Stored drops of a list are not a JSON object of counts; ignored.");
        BTreeMap::new()
    });
    Ok(ListVersion {
        name: row.get(0),
        version: row.get(1),
        body: row.get(2),
        gzip: row.get(3),
        meta: ListMeta {
            etag: row.get(4),
            compiled_at: row.get(5),
            changed_at: row.get(6),
            entries: to_u64("entries", row.get(7))?,
        },
        drops,
        generation: row.get(9),
        published_at: row.get(10),
    })
}

impl PgStore {
    /// Publishes a new version of a list: one transaction that checks `fence`, writes the
    /// version (one above the newest stored), trims old versions and queues
    /// `NOTIFY edlforge_lists, '<name>:<version>'`, which PostgreSQL delivers to every
    /// listener only when (and if) the transaction commits. Returns the new version.
    ///
    /// # Errors
    /// [`PgError::Fenced`] when another replica leads now (nothing is written);
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn publish(&self, fence: Fence, list: Publish<'_>) -> Result<i64, PgError> {
        let what = || format!("publishing list {:?}", list.name);
        let mut client = self.pool.get().await.map_err(PgError::Pool)?;
        let tx = client.transaction().await.map_err(PgError::query(what()))?;
        check_fence(&tx, fence).await?;
        let row = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) + 1 FROM edlforge_lists WHERE name = $1",
                &[&list.name],
            )
            .await
            .map_err(PgError::query(what()))?;
        let version: i64 = row.get(0);
        let drops = serde_json::to_string(list.drops).unwrap_or_else(|_| "{}".into());
        tx.execute(
            "INSERT INTO edlforge_lists (name, version, body, body_gzip, etag, compiled_at, \
             last_modified, entries, drops, generation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10)",
            &[
                &list.name,
                &version,
                &list.body,
                &list.gzip,
                &list.meta.etag,
                &list.meta.compiled_at,
                &list.meta.changed_at,
                &to_i64(list.meta.entries),
                &drops,
                &fence.0,
            ],
        )
        .await
        .map_err(PgError::query(what()))?;
        tx.execute(
            "DELETE FROM edlforge_lists WHERE name = $1 AND version <= $2",
            &[&list.name, &(version - KEEP_VERSIONS)],
        )
        .await
        .map_err(PgError::query(what()))?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&NOTIFY_CHANNEL, &format!("{}:{version}", list.name)],
        )
        .await
        .map_err(PgError::query(what()))?;
        tx.commit().await.map_err(PgError::query(what()))?;
        Ok(version)
    }

    /// The newest version of list `name`; `None` when it was never published.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`], [`PgError::Range`].
    pub async fn list(&self, name: &str) -> Result<Option<ListVersion>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {LIST_COLUMNS} FROM edlforge_lists WHERE name = $1 \
                     ORDER BY version DESC LIMIT 1"
                ),
                &[&name],
            )
            .await
            .map_err(PgError::query(format!("reading list {name:?}")))?;
        row.as_ref().map(list_from_row).transpose()
    }

    /// The newest version of every published list, by name.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn list_versions(&self) -> Result<BTreeMap<String, i64>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let rows = client
            .query(
                "SELECT name, max(version) FROM edlforge_lists GROUP BY name",
                &[],
            )
            .await
            .map_err(PgError::query("reading list versions"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The newest version of every list newer than `known` has (lists `known` lacks count
    /// as version 0): how a follower catches up after a reconnect.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`], [`PgError::Range`].
    pub async fn lists_newer(
        &self,
        known: &BTreeMap<String, i64>,
    ) -> Result<Vec<ListVersion>, PgError> {
        let mut out = Vec::new();
        for (name, version) in self.list_versions().await? {
            if known.get(&name).copied().unwrap_or(0) < version {
                if let Some(l) = self.list(&name).await? {
                    out.push(l);
                }
            }
        }
        Ok(out)
    }

    /// Stores `state` for `source` (fenced like [`PgStore::publish`]).
    ///
    /// # Errors
    /// [`PgError::Fenced`] (nothing written), [`PgError::Pool`], [`PgError::Query`].
    pub async fn set_state(
        &self,
        fence: Fence,
        source: &str,
        state: &SourceState,
    ) -> Result<(), PgError> {
        let what = || format!("storing the state of source {source:?}");
        let mut client = self.pool.get().await.map_err(PgError::Pool)?;
        let tx = client.transaction().await.map_err(PgError::query(what()))?;
        check_fence(&tx, fence).await?;
        upsert_state(&tx, fence, source, state).await?;
        tx.commit().await.map_err(PgError::query(what()))?;
        Ok(())
    }

    /// The state of `source`; `None` when nothing is stored for it.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`], [`PgError::Range`].
    pub async fn state(&self, source: &str) -> Result<Option<SourceState>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let row = client
            .query_opt(
                "SELECT etag, last_modified, last_attempt, last_success, last_error, \
                 last_error_reason, accepted_count, cursor FROM edlforge_source_state \
                 WHERE name = $1",
                &[&source],
            )
            .await
            .map_err(PgError::query(format!(
                "reading the state of source {source:?}"
            )))?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SourceState {
            etag: r.get(0),
            last_modified: r.get(1),
            last_attempt: r.get(2),
            last_success: r.get(3),
            last_error: r.get(4),
            last_error_reason: r.get(5),
            accepted_count: to_u64("accepted_count", r.get(6))?,
            cursor: r.get(7),
        }))
    }
}

/// Writes `state` as the row of `source` in `edlforge_source_state`, in the caller's (fenced)
/// transaction: the decoded state, for people and SQL (a replica reads the store files).
///
/// # Errors
/// [`PgError::Query`].
pub(super) async fn upsert_state(
    tx: &tokio_postgres::Transaction<'_>,
    fence: Fence,
    source: &str,
    state: &SourceState,
) -> Result<(), PgError> {
    let what = || format!("storing the state of source {source:?}");
    tx.execute(
        "INSERT INTO edlforge_source_state (name, etag, last_modified, last_attempt, \
             last_success, last_error, last_error_reason, accepted_count, cursor, generation, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) \
             ON CONFLICT (name) DO UPDATE SET etag = $2, last_modified = $3, last_attempt = $4, \
             last_success = $5, last_error = $6, last_error_reason = $7, accepted_count = $8, \
             cursor = $9, generation = $10, updated_at = now()",
        &[
            &source,
            &state.etag,
            &state.last_modified,
            &state.last_attempt,
            &state.last_success,
            &state.last_error,
            &state.last_error_reason,
            &to_i64(state.accepted_count),
            &state.cursor,
            &fence.0,
        ],
    )
    .await
    .map_err(PgError::query(what()))?;
    Ok(())
}
