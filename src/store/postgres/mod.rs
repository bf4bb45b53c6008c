//! The PostgreSQL backend: several replicas share one database; one of them leads (fetches,
//! compiles, publishes), the others follow and serve the same bytes. `[store] backend =
//! "postgres"` selects it (the default stays the embedded files of `store/`).
//!
//! # Pieces
//! - `connect.rs`: `[store] url` (a libpq URL), TLS, keepalives, the pool, dedicated sessions.
//! - `migrate.rs`: the schema, versioned migrations under `pg_advisory_xact_lock`.
//! - `leader.rs`: leadership as a session advisory lock, the fencing generation.
//! - `lists.rs`: fenced writes of published lists and source state; reads.
//! - `sources.rs`: each source's store files, byte for byte in chunked `bytea` rows, written
//!   under the fence and the source's version (why whole files: its module comment).
//! - `shares.rs`: each `vendor = "stix"` list's share history (its TAXII collection), the
//!   same way: chunked rows, fenced, a version per list.
//! - `follow.rs`: `LISTEN`/`NOTIFY` and catching up by version number.
//! - `replicas.rs`: each replica's row (role, config hashes, last seen), read by the others.
//!
//! # Why tokio-postgres + deadpool-postgres (and not sqlx)
//! - Leadership rests on TCP keepalives: the leader's session must end within seconds of its
//!   machine vanishing, and the leader must notice a cut first. tokio-postgres exposes
//!   `keepalives_idle`/`_interval`/`_retries` and `tcp_user_timeout` on its `Config`; sqlx
//!   (0.8) sets none of them.
//! - Notifications: tokio-postgres hands every `AsyncMessage` of a connection we drive
//!   ourselves, so `LISTEN` runs on a plain dedicated connection with our own reconnect and
//!   catch-up rule; advisory locks need the same "one session, held" control.
//! - Size: tokio-postgres is the protocol and nothing else (no query macros, no offline
//!   metadata, no other databases); deadpool-postgres adds a ~1k-line pool on top. sqlx brings
//!   its macros, `sqlx-core` for every database and a larger tree for features we do not use.
//! - TLS: tokio-postgres-rustls with only its `ring` feature, so rustls keeps the one crypto
//!   provider the tree uses (`cargo tree -i aws-lc-rs` finds nothing; no OpenSSL). Roots are
//!   the URL's `sslrootcert`, else the operating system's (rustls-platform-verifier, already
//!   in the tree through reqwest).
//!
//! # Schema (migrations 1–5)
//! `edlforge_leader` (one row: the fencing generation, holder, since), `edlforge_lists` (per
//! name and version: body, gzip body, ETag, compiled and Last-Modified times, entries, drops
//! by reason, the publishing generation; the newest two versions are kept),
//! `edlforge_source_state` (a source's fetch state, as [`crate::store::SourceState`]) and
//! `edlforge_migrations`. Migration 2: `edlforge_lease` (the leader's lease, `leader.rs`) and
//! `edlforge_replicas` (`replicas.rs`). Migration 3: `edlforge_sources` (per source: a version
//! that rises with every write, the writer's generation, removed), `edlforge_source_files` (per
//! source and part `snap`/`state`/`ids`: fingerprint, size, chunk count) and
//! `edlforge_source_chunks` (the bytes, at most [`CHUNK`] a row); `edlforge_source_state` is
//! written with a source's files, for people and SQL. Migration 4: list bodies and source
//! chunks stored uncompressed (`STORAGE EXTERNAL`; see migrate.rs). Migration 5:
//! `edlforge_shares` (per list: version, writer's generation, SHA-256, size, chunk count) and
//! `edlforge_share_chunks`. Advisory lock keys:
//! [`MIGRATE_LOCK`], [`LEADER_LOCK`].
//!
//! `serve` uses it in `pipeline/daemon/replica.rs` (the local cache under `data_dir`, what a
//! replica serves while the database is down, stays the embedded store; the leader's sources
//! are mirrored by `store/mirror.rs`, share histories by `store/share_mirror.rs`).
//!
//! # Not yet here
//! `compile` and `plan` read the local files only.

mod connect;
mod error;
mod follow;
mod leader;
mod lists;
mod migrate;
mod replicas;
mod shares;
mod sources;

use std::collections::BTreeMap;

pub use self::error::PgError;
pub use self::follow::{Follower, RESYNC};
pub use self::leader::{
    Contender, Fence, Leadership, Role, CONTEND_EVERY, HEARTBEAT, HEARTBEAT_TIMEOUT, LEASE,
};
pub use self::lists::{ListVersion, Publish};
pub use self::migrate::{Migrated, SCHEMA_VERSION};
pub use self::replicas::{CheckIn, Probe, ReplicaRow};
pub use self::shares::{share_digest, DbShare};
pub use self::sources::{DbFile, DbSource, CHUNK};

use self::connect::Target;

/// The `pg_advisory_xact_lock` key held while migrating ("edlf" then 1).
pub const MIGRATE_LOCK: i64 = 0x6564_6c66_0000_0001;
/// The `pg_advisory_lock` key the leader holds ("edlf" then 2).
pub const LEADER_LOCK: i64 = 0x6564_6c66_0000_0002;
/// The `NOTIFY` channel of publishes; the payload is `<list name>:<version>`.
pub const NOTIFY_CHANNEL: &str = "edlforge_lists";

/// A handle on the shared database: a small pool for reads and writes, and the means to
/// lead ([`PgStore::try_lead`]) or follow ([`PgStore::follow`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    target: Target,
    pool: deadpool_postgres::Pool,
}

impl PgStore {
    /// Connects to `url` (see `[store] url`) and migrates the schema to [`SCHEMA_VERSION`].
    ///
    /// # Errors
    /// [`PgError::Url`], [`PgError::RootCert`], [`PgError::Tls`] for a bad URL;
    /// [`PgError::Connect`]; [`PgError::NewerSchema`]; [`PgError::Query`].
    pub async fn connect(url: &str) -> Result<(PgStore, Migrated), PgError> {
        let target = Target::parse(url)?;
        let pool = target.pool()?;
        let store = PgStore { target, pool };
        let migrated = store.migrate().await?;
        Ok((store, migrated))
    }

    /// Runs the migrations (see `migrate.rs`); safe to call from many replicas at once.
    ///
    /// # Errors
    /// [`PgError::NewerSchema`], [`PgError::Pool`], [`PgError::Connect`], [`PgError::Query`].
    pub async fn migrate(&self) -> Result<Migrated, PgError> {
        let mut client = self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(source) => PgError::Connect {
                target: self.target.describe(),
                source,
            },
            e => PgError::Pool(e),
        })?;
        migrate::migrate(&mut client).await
    }

    /// `host:port/dbname` of the database, for messages and the status page.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// Tries once to become leader as `holder` (host and pid, for people); `None` when another
    /// replica leads. Call again later to contend.
    ///
    /// # Errors
    /// [`PgError::Connect`], [`PgError::Query`].
    pub async fn try_lead(&self, holder: &str) -> Result<Option<Leadership>, PgError> {
        Leadership::try_acquire(&self.target, holder).await
    }

    /// Contends for leadership in the background (see [`Contender`]).
    pub fn contend(&self, holder: impl Into<String>) -> Contender {
        Contender::start(self.clone(), holder.into())
    }

    /// The current fencing generation and its holder.
    ///
    /// # Errors
    /// [`PgError::Pool`], [`PgError::Query`].
    pub async fn leader(&self) -> Result<(i64, String), PgError> {
        let client = self.pool.get().await.map_err(PgError::Pool)?;
        let row = client
            .query_one("SELECT generation, holder FROM edlforge_leader", &[])
            .await
            .map_err(PgError::query("reading the leader generation"))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Starts following publishes; `known` holds the versions already served.
    pub fn follow(&self, known: BTreeMap<String, i64>) -> Follower {
        Follower::start(self.clone(), known)
    }
}
