//! The replicas table (`edlforge_replicas`, migration 2): every replica writes its own row
//! (who, role, the hashes of its configuration, last seen) at each probe and reads the
//! leader's, so a replica whose feeds.toml or `lists/` files differ from the leader's can say
//! so. These rows are the only writes of a follower, and they are not fenced: a row describes
//! its replica, it is not shared state.

use std::time::{Duration, Instant};

use super::{PgError, PgStore};

/// Rows not seen for this long are deleted (a replica that went away for good).
const FORGET_AFTER_SECS: f64 = 86_400.0;

/// What a replica says about itself at a probe.
#[derive(Debug, Clone, Copy)]
pub struct CheckIn<'a> {
    /// Who it is (host:pid, as `edlforge_leader.holder`).
    pub holder: &'a str,
    /// Whether it leads now.
    pub leader: bool,
    /// Hash of its feeds.toml as parsed.
    pub config_hash: &'a str,
    /// Hash of the files its `file` sources read.
    pub files_hash: &'a str,
}

/// What a probe learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Round trip of one read (the first statement), for `edlforge_database_latency_seconds`.
    pub latency: Duration,
    /// The leader generation in the database.
    pub generation: i64,
    /// The leader's holder (`""` before any replica led).
    pub leader: String,
    /// The leader's row, when it has written one.
    pub leader_hashes: Option<(String, String)>,
}

/// A row of `edlforge_replicas`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaRow {
    /// host:pid.
    pub holder: String,
    /// `leader` or `follower`, as the replica last said.
    pub role: String,
    /// Hash of its feeds.toml.
    pub config_hash: String,
    /// Hash of its `file` sources' files.
    pub files_hash: String,
    /// Seconds since it last wrote its row (the database's clock).
    pub seen_secs_ago: f64,
}

impl PgStore {
    /// One probe: reads the leader and its hashes (timed: the latency), writes this replica's
    /// row, and forgets rows not seen for a day.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn check_in(&self, me: CheckIn<'_>) -> Result<Probe, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let t = Instant::now();
        let row = client
            .query_one(
                "SELECT l.generation, l.holder, r.config_hash, r.files_hash \
                 FROM edlforge_leader l LEFT JOIN edlforge_replicas r ON r.holder = l.holder",
                &[],
            )
            .await
            .map_err(PgError::query("reading the leader"))?;
        let latency = t.elapsed();
        let hashes = match (row.get::<_, Option<String>>(2), row.get(3)) {
            (Some(c), Some(f)) => Some((c, f)),
            _ => None,
        };
        let role = if me.leader { "leader" } else { "follower" };
        client
            .execute(
                "INSERT INTO edlforge_replicas (holder, role, config_hash, files_hash, last_seen) \
                 VALUES ($1, $2, $3, $4, now()) ON CONFLICT (holder) DO UPDATE SET role = $2, \
                 config_hash = $3, files_hash = $4, last_seen = now()",
                &[&me.holder, &role, &me.config_hash, &me.files_hash],
            )
            .await
            .map_err(PgError::query("writing this replica's row"))?;
        client
            .execute(
                "DELETE FROM edlforge_replicas WHERE last_seen < now() - make_interval(secs => $1)",
                &[&FORGET_AFTER_SECS],
            )
            .await
            .map_err(PgError::query("forgetting replicas gone for a day"))?;
        Ok(Probe {
            latency,
            generation: row.get(0),
            leader: row.get(1),
            leader_hashes: hashes,
        })
    }

    /// Every replica's row, newest first.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn replicas(&self) -> Result<Vec<ReplicaRow>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let rows = client
            .query(
                "SELECT holder, role, config_hash, files_hash, \
                 extract(epoch FROM now() - last_seen)::float8 FROM edlforge_replicas \
                 ORDER BY last_seen DESC, holder",
                &[],
            )
            .await
            .map_err(PgError::query("reading the replicas"))?;
        Ok(rows
            .iter()
            .map(|r| ReplicaRow {
                holder: r.get(0),
                role: r.get(1),
                config_hash: r.get(2),
                files_hash: r.get(3),
                seen_secs_ago: r.get(4),
            })
            .collect())
    }
}
