//! The schema, created and migrated by edlforge itself: numbered migrations applied in one
//! transaction under a transaction-level advisory lock, so replicas starting together migrate
//! once (the others wait on the lock, then find nothing left to do).
//!
//! A migration is never edited once released: a change is a new, higher-numbered entry of
//! [`MIGRATIONS`]. A database migrated by a newer edlforge is refused rather than written to.

use tokio_postgres::Client;

use super::{PgError, MIGRATE_LOCK};

/// One schema step.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "leader fencing generation, published lists, per-source fetch state",
        sql: "
CREATE TABLE edlforge_leader (
    -- One row. `generation` rises by one each time a replica becomes leader; every write
    -- carries the writer's generation and is refused when it is not this one.
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation  bigint NOT NULL,
    holder      text NOT NULL,
    since       timestamptz NOT NULL
);
INSERT INTO edlforge_leader (id, generation, holder, since) VALUES (true, 0, '', now());

CREATE TABLE edlforge_lists (
    -- A published list, one row per version (the latest two are kept).
    name           text NOT NULL,
    version        bigint NOT NULL CHECK (version > 0),
    body           bytea NOT NULL,
    body_gzip      bytea,
    etag           text NOT NULL,
    -- Unix seconds: when compiled, and when its content last changed (Last-Modified).
    compiled_at    bigint NOT NULL,
    last_modified  bigint NOT NULL,
    entries        bigint NOT NULL CHECK (entries >= 0),
    -- What compile dropped, by reason: {\"guarded\": 3, ...}.
    drops          jsonb NOT NULL DEFAULT '{}',
    generation     bigint NOT NULL,
    published_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE edlforge_source_state (
    -- What the store remembers about fetching one source (store::SourceState).
    name               text PRIMARY KEY,
    etag               text,
    last_modified      text,
    last_attempt       bigint,
    last_success       bigint,
    last_error         text,
    last_error_reason  text,
    accepted_count     bigint NOT NULL CHECK (accepted_count >= 0),
    cursor             text,
    generation         bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
",
    },
    Migration {
        version: 2,
        description:
            "leader lease (takeover after a network cut), replicas and their config hashes",
        sql: LEASE_AND_REPLICAS,
    },
    Migration {
        version: 3,
        description: "per-source files of the leader's store (records, state, TAXII index), fenced",
        sql: "
CREATE TABLE edlforge_sources (
    -- One row per source the leader's store holds (or held: `removed`). `version` rises by
    -- one with every write of the source; a writer names the version it last saw and is
    -- refused when another write came between (sources.rs).
    name        text PRIMARY KEY,
    version     bigint NOT NULL CHECK (version > 0),
    -- The fencing generation of the leader that wrote it.
    generation  bigint NOT NULL,
    removed     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE edlforge_source_files (
    -- One of a source's store files, byte for byte (the embedded store's checksummed
    -- container): 'snap' records + state, 'state' a newer state, 'ids' the TAXII index.
    name         text NOT NULL REFERENCES edlforge_sources (name) ON DELETE CASCADE,
    part         text NOT NULL CHECK (part IN ('snap', 'state', 'ids')),
    -- Format, payload length and CRC, header: equal fingerprints, equal files.
    fingerprint  bytea NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    chunks       integer NOT NULL CHECK (chunks >= 0),
    PRIMARY KEY (name, part)
);

CREATE TABLE edlforge_source_chunks (
    -- The file's bytes in order, at most 8 MiB a row (a 10M-address snapshot is ~50 MB).
    name   text NOT NULL,
    part   text NOT NULL,
    seq    integer NOT NULL CHECK (seq >= 0),
    bytes  bytea NOT NULL,
    PRIMARY KEY (name, part, seq),
    FOREIGN KEY (name, part) REFERENCES edlforge_source_files (name, part) ON DELETE CASCADE
);
",
    },
    Migration {
        version: 4,
        description: "list bodies and source chunks stored uncompressed (STORAGE EXTERNAL)",
        sql: STORE_EXTERNAL,
    },
    Migration {
        version: 5,
        description: "share histories of vendor = \"stix\" lists (TAXII collections), fenced",
        sql: SHARES,
    },
];

/// Migration 5: each `vendor = "stix"` list's share history (`store/share.rs`, what its TAXII
/// collection answers), so every replica serves the same objects and a new leader continues
/// the same history (`shares.rs`). A table of its own, not a part of `edlforge_sources`: a
/// history belongs to a list, not a source, and the two namespaces may share names.
const SHARES: &str = "
CREATE TABLE edlforge_shares (
    -- One row per shared list. `version` rises by one with every write; a writer names the
    -- version it last saw and is refused when another write came between (shares.rs).
    name        text PRIMARY KEY,
    version     bigint NOT NULL CHECK (version > 0),
    -- The fencing generation of the leader that wrote it.
    generation  bigint NOT NULL,
    -- SHA-256 of the history's JSON (equal digests, equal histories), its length, its rows.
    digest      bytea NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    chunks      integer NOT NULL CHECK (chunks >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE edlforge_share_chunks (
    -- The history's JSON in order, at most 8 MiB a row.
    name   text NOT NULL REFERENCES edlforge_shares (name) ON DELETE CASCADE,
    seq    integer NOT NULL CHECK (seq >= 0),
    bytes  bytea NOT NULL,
    PRIMARY KEY (name, seq)
);
";

/// Migration 4: PostgreSQL compresses large values with pglz by default (TOAST). A list body
/// is text that compresses, slowly: storing a 15.8 MB list (1M entries) and its gzip copy took
/// 1.6 s with pglz and 0.25 s stored as is (`benches/results/2026-12-07-rust-2core/
/// replicas-toast.txt`), which was most of a large publish's commit. The gzip copy and the
/// source chunks (delta-coded binary) do not compress anyway. `EXTERNAL` keeps them out of
/// line, uncompressed, at up to twice the table size; only new rows are affected.
const STORE_EXTERNAL: &str = "
ALTER TABLE edlforge_lists
    ALTER COLUMN body SET STORAGE EXTERNAL,
    ALTER COLUMN body_gzip SET STORAGE EXTERNAL;
ALTER TABLE edlforge_source_chunks
    ALTER COLUMN bytes SET STORAGE EXTERNAL;
";

/// Migration 2: the leader's lease (`leader.rs`) and the replicas table (`replicas.rs`).
/// The lease is a table of its own, not columns of `edlforge_leader`: every publish locks
/// that row `FOR SHARE`, which would make the lease renewal (an `UPDATE`) wait behind a long
/// publish and the leader step down for nothing.
const LEASE_AND_REPLICAS: &str = "
CREATE TABLE edlforge_lease (
    -- One row, written by the leader: its generation, the server process id of the session
    -- holding the leader lock, and when it last renewed (the database's clock). A contender
    -- that finds it older than the lease bound ends that session (pg_terminate_backend).
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation  bigint NOT NULL,
    pid         integer NOT NULL,
    renewed_at  timestamptz NOT NULL
);

CREATE TABLE edlforge_replicas (
    -- One row per replica (holder = host:pid), written by that replica every probe.
    holder       text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('leader', 'follower')),
    -- SHA-256 (hex) of feeds.toml as parsed, and of the files its `file` sources read.
    config_hash  text NOT NULL,
    files_hash   text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL
);
";

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What a migration run ([`PgStore::migrate`](super::PgStore::migrate)) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The versions this call applied (empty when the schema was current).
    pub applied: Vec<i32>,
    /// The schema version now.
    pub version: i32,
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction, holding
/// `pg_advisory_xact_lock(MIGRATE_LOCK)` (released at commit or rollback, so a replica that
/// dies mid-way leaves nothing applied and nothing locked).
///
/// # Errors
/// [`PgError::NewerSchema`] when a newer edlforge migrated the database; [`PgError::Query`]
/// (the transaction is then rolled back whole).
pub async fn migrate(client: &mut Client) -> Result<Migrated, PgError> {
    let tx = client
        .transaction()
        .await
        .map_err(PgError::query("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await
        .map_err(PgError::query("waiting for the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS edlforge_migrations (
            version      integer PRIMARY KEY,
            description  text NOT NULL,
            applied_at   timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(PgError::query("creating edlforge_migrations"))?;
    let row = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM edlforge_migrations",
            &[],
        )
        .await
        .map_err(PgError::query("reading the schema version"))?;
    let current: i32 = row.get(0);
    if current > SCHEMA_VERSION {
        return Err(PgError::NewerSchema {
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql)
            .await
            .map_err(PgError::query(format!("applying migration {}", m.version)))?;
        tx.execute(
            "INSERT INTO edlforge_migrations (version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )
        .await
        .map_err(PgError::query(format!("recording migration {}", m.version)))?;
        applied.push(m.version);
    }
    tx.commit()
        .await
        .map_err(PgError::query("committing the migration"))?;
    if !applied.is_empty() {
        tracing::info!(versions = ?applied, version = SCHEMA_VERSION, "Database schema migrated.");
    }
    Ok(Migrated {
        applied,
        version: SCHEMA_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rise_by_one_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.description);
        }
    }
}
