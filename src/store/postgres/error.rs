//! What can go wrong with the PostgreSQL backend.

use std::path::PathBuf;

/// An error of the PostgreSQL backend. Messages never include the URL's password.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// `[store] url` cannot be used.
    #[error("[store] url: {0}")]
    Url(String),
    /// `sslrootcert` cannot be read or holds no certificate.
    #[error("[store] url: sslrootcert {path}: {why}")]
    RootCert {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// rustls refused the TLS set-up.
    #[error("TLS set-up for PostgreSQL failed")]
    Tls(#[source] rustls::Error),
    /// A connection could not be made.
    #[error(
        "cannot connect to PostgreSQL at {target} (is it running and reachable? check [store] url)"
    )]
    Connect {
        /// host:port/dbname, without credentials.
        target: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("PostgreSQL: {what}")]
    Query {
        /// What was being done, e.g. `publishing list "pa"`.
        what: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A dedicated connection ended (the server went away, or ended the session).
    #[error("PostgreSQL: the {0} connection closed")]
    Closed(&'static str),
    /// The database did not answer in time (a cut network, or a proxy holding a dead
    /// session).
    #[error("PostgreSQL: no answer within {after:?} while {what}")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The bound.
        after: std::time::Duration,
    },
    /// No pooled connection could be had.
    #[error("PostgreSQL connection pool")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// The schema was migrated by a newer edlforge.
    #[error("the database schema is at version {found}, newer than this edlforge knows ({known}); run the newer edlforge or restore the database")]
    NewerSchema {
        /// Version in the database.
        found: i32,
        /// The newest this binary knows.
        known: i32,
    },
    /// A write by a leader that has been superseded.
    #[error("write refused: this replica led with generation {mine}, the database is at generation {current} (another replica took over); it stops writing")]
    Fenced {
        /// The writer's generation.
        mine: i64,
        /// The database's.
        current: i64,
    },
    /// A versioned write (a source, `sources.rs`; a share history, `shares.rs`) named a version
    /// the database no longer holds: another write came between (this replica's copy is not
    /// the newest), so nothing was written.
    #[error("{what} not stored: expected version {expected:?} in the database, found {found:?} (another leader wrote it; the database's copy is kept)")]
    Conflict {
        /// What was to be stored: `source "name"` or `the share history of list "name"`.
        what: String,
        /// The version the writer last saw (`None`: not in the database).
        expected: Option<i64>,
        /// The version the database holds.
        found: Option<i64>,
    },
    /// A source file changed in the database while it was being read (read it again).
    #[error("source {name:?} changed in the database while it was read")]
    Changed {
        /// The source.
        name: String,
    },
    /// A local file being copied to or from the database failed.
    #[error("{what}")]
    Local {
        /// What was being done, naming the file.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A stored value does not fit (a corrupt or hand-edited row).
    #[error("PostgreSQL: stored {what} is out of range ({value})")]
    Range {
        /// The column.
        what: &'static str,
        /// Its value.
        value: i64,
    },
}

impl PgError {
    /// Wraps a failed statement with what it was for.
    pub(super) fn query(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> PgError {
        let what = what.into();
        move |source| PgError::Query { what, source }
    }
}
