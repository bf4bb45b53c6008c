//! From `[store] url` to connections: the libpq URL, TLS with rustls (ring), TCP keepalives that
//! end a dead peer's session quickly, the small pool, and dedicated connections for the leader's
//! lock and the follower's `LISTEN`.

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::PgError;

/// The TLS connector: rustls on the ring provider (the tree's only crypto provider).
pub(super) type Tls = MakeRustlsConnect;
/// The stream a connection runs on.
pub(super) type TlsStream = <Tls as MakeTlsConnect<Socket>>::Stream;

/// Client-side TCP keepalive: first probe after this much silence...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// ...then one every...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// ...and the connection is dead after this many unanswered probes (5 + 3 x 2 = 11 s).
const KEEPALIVE_RETRIES: u32 = 3;
/// Sent data unacknowledged this long ends the connection (a cut cable under a query).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The same limits asked of the server for this session, so that the server ends the session
/// of a leader whose machine vanished (no FIN, no RST) within 5 + 3 x 2 = 11 s of its last
/// packet, which releases its advisory lock: under the 15 s takeover budget.
const SESSION_KEEPALIVES: &str = "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
     SET tcp_keepalives_count = 3; SET tcp_user_timeout = 10000";

/// Connections in the pool (reads and writes; the lock and `LISTEN` have their own).
const POOL_SIZE: usize = 4;

/// A parsed `[store] url`: what to connect to, and how.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: Tls,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.describe())
    }
}

impl Target {
    /// Parses a libpq URL (`postgresql://user:password@host:5432/db?sslmode=verify-full`) or a
    /// `key=value` string. `sslmode` may be `disable`, `prefer` (the default), `require`,
    /// `verify-ca` or `verify-full`: with rustls every TLS connection checks the server's chain
    /// and host name, so the last three mean the same, full verification. `sslrootcert=PATH`
    /// (URL form) names a PEM CA bundle trusted instead of the operating system's roots.
    ///
    /// # Errors
    /// [`PgError::Url`] (without echoing the URL, which may hold a password),
    /// [`PgError::RootCert`], [`PgError::Tls`].
    pub(super) fn parse(url: &str) -> Result<Target, PgError> {
        let (rest, sslmode, rootcert) = split_tls_params(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| PgError::Url(format!("not a libpq URL or key=value string ({e})")))?;
        match sslmode.as_deref() {
            None => {}
            Some("disable") => {
                config.ssl_mode(SslMode::Disable);
            }
            Some("prefer" | "allow") => {
                config.ssl_mode(SslMode::Prefer);
            }
            Some("require" | "verify-ca" | "verify-full") => {
                config.ssl_mode(SslMode::Require);
            }
            Some(other) => {
                return Err(PgError::Url(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                )))
            }
        }
        if config.get_hosts().is_empty() {
            return Err(PgError::Url(
                "no host; write postgresql://user@host:5432/dbname".into(),
            ));
        }
        if config.get_application_name().is_none() {
            config.application_name("edlforge");
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(TCP_USER_TIMEOUT);
        Ok(Target {
            config,
            tls: tls(rootcert)?,
        })
    }

    /// `host:port/dbname`, for messages (no user, no password).
    pub(super) fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or("");
        format!("{host}:{port}/{db}")
    }

    /// The pool for ordinary reads and writes.
    ///
    /// # Errors
    /// [`PgError::Url`] when the pool cannot be built (it connects lazily).
    pub(super) fn pool(&self) -> Result<deadpool_postgres::Pool, PgError> {
        let mgr = deadpool_postgres::Manager::from_config(
            self.config.clone(),
            self.tls.clone(),
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        deadpool_postgres::Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| PgError::Url(format!("cannot build the connection pool ({e})")))
    }

    /// A connection of its own (named `application_name` in `pg_stat_activity`), with the
    /// server-side keepalives of this session set: the caller drives `Connection`.
    ///
    /// # Errors
    /// [`PgError::Connect`].
    pub(super) async fn dedicated(
        &self,
        application_name: &str,
    ) -> Result<(Client, Connection<Socket, TlsStream>), PgError> {
        let mut config = self.config.clone();
        config.application_name(application_name);
        // `connect_timeout` bounds the TCP connect only; a peer that accepts and then says
        // nothing (a proxy holding a cut session) would stall the start-up for ever.
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(self.tls.clone()));
        let (client, conn) = connect
            .await
            .map_err(|_| PgError::Timeout {
                what: "connecting",
                after: CONNECT_TIMEOUT,
            })?
            .map_err(|source| PgError::Connect {
                target: self.describe(),
                source,
            })?;
        Ok((client, conn))
    }
}

/// Sets this session's server-side keepalives (see [`SESSION_KEEPALIVES`]).
pub(super) async fn session_keepalives(client: &Client) -> Result<(), PgError> {
    client
        .batch_execute(SESSION_KEEPALIVES)
        .await
        .map_err(PgError::query("setting the session's TCP keepalives"))
}

/// Takes `sslmode` and `sslrootcert` out of a URL (tokio-postgres knows neither
/// `verify-full` nor `sslrootcert`); a `key=value` string passes unchanged.
fn split_tls_params(url: &str) -> Result<(String, Option<String>, Option<PathBuf>), PgError> {
    let t = url.trim();
    if !(t.starts_with("postgresql://") || t.starts_with("postgres://")) {
        return Ok((t.to_string(), None, None));
    }
    let mut u =
        url::Url::parse(t).map_err(|e| PgError::Url(format!("not a postgresql:// URL ({e})")))?;
    let mut sslmode = None;
    let mut rootcert = None;
    let mut kept = Vec::new();
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "sslmode" => sslmode = Some(v.into_owned()),
            "sslrootcert" => rootcert = Some(PathBuf::from(v.as_ref())),
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((u.to_string(), sslmode, rootcert))
}

/// rustls on ring: the roots of `rootcert` when given, else the operating system's.
fn tls(rootcert: Option<PathBuf>) -> Result<Tls, PgError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(PgError::Tls)?;
    let config = match rootcert {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| PgError::RootCert {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PgError::RootCert {
                    path,
                    why: "no usable PEM certificate".into(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt as _;
            builder
                .with_platform_verifier()
                .map_err(PgError::Tls)?
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_are_taken_out_of_the_url() {
        let (rest, mode, root) = split_tls_params(
            "postgresql://edl:pw@db.example:5433/edl?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgresql://edl:pw@db.example:5433/edl?connect_timeout=3"
        );
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root, Some(PathBuf::from("/ca.pem")));
        let (rest, mode, _) = split_tls_params("host=db user=edl").unwrap();
        assert_eq!((rest.as_str(), mode), ("host=db user=edl", None));
    }

    #[test]
    fn bad_urls_say_why_without_the_password() {
        let e = Target::parse("postgresql://edl:hunter2@db/edl?sslmode=sometimes").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("sslmode=sometimes"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let e = Target::parse("postgresql://edl:hunter2@db/edl?bogus_key=1").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let t = Target::parse("postgresql://edl:hunter2@db:6543/edl?sslmode=verify-full").unwrap();
        assert_eq!(t.describe(), "db:6543/edl");
        assert!(!format!("{t:?}").contains("hunter2"));
        let e =
            Target::parse("postgresql://edl@db/edl?sslrootcert=/nonexistent/ca.pem").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("[store] url: sslrootcert /nonexistent/ca.pem: "),
            "{e}"
        );
    }

    #[test]
    fn sslmode_and_keepalives_are_set() {
        let mode = |url: &str| Target::parse(url).unwrap().config.get_ssl_mode();
        assert_eq!(
            mode("postgresql://db/edl?sslmode=verify-full"),
            SslMode::Require
        );
        assert_eq!(
            mode("postgresql://db/edl?sslmode=verify-ca"),
            SslMode::Require
        );
        assert_eq!(
            mode("postgresql://db/edl?sslmode=disable"),
            SslMode::Disable
        );
        assert_eq!(mode("postgresql://db/edl"), SslMode::Prefer);
        let t = Target::parse("postgresql://db/edl").unwrap();
        assert!(t.config.get_keepalives());
        assert_eq!(t.config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(t.config.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(t.config.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(t.config.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(t.config.get_application_name(), Some("edlforge"));
        // Dead within the 15 s takeover budget on both sides.
        let client_side = KEEPALIVE_IDLE + KEEPALIVE_INTERVAL * KEEPALIVE_RETRIES;
        assert!(client_side < Duration::from_secs(15));
        assert!(SESSION_KEEPALIVES.contains("tcp_keepalives_idle = 5"));
    }
}
