//! `edlforge serve`: one process that schedules source fetches, compiles the lists, publishes
//! them to the server, and reloads feeds.toml, `file` sources and TLS files when they change.
//!
//! Order of start-up, so firewalls are served as early as possible: check the config (a bad one
//! stops here, with every error), bind the listeners and announce them, publish the lists the
//! store kept from the last run (before any fetch), then run the first cycle.
//!
//! A cycle (on a blocking thread, holding the store's lock only for its duration, so an
//! `edlforge compile` beside the server waits its turn instead of failing): fetch the sources
//! that are due, compile every list, save them, then publish the new bytes in one swap. A cycle
//! runs when a source is due, when a watched file changed (after a 250 ms quiet period, so one
//! editor save is one cycle) and after a config reload. A cycle woken by edits of `file`
//! sources alone reads those files and fetches nothing over the network, so a slow source that
//! happens to be due cannot hold an edit of `lists/` back.
//!
//! What is published is decided by one rule, `pipeline::publish` (shared with `compile`): a
//! list never published that compiled empty while one of its sources has never delivered data
//! (a fresh start without internet) answers 503 with that reason; once published, every
//! compile is published, down to zero entries. A bad feeds.toml edit is refused with its errors
//! on the status page and in `edlforge_config_reload_success`; the running config stays in
//! force and its `file` sources still reload.

mod cycle;
mod fingerprint;
mod replica;
mod scheduler;
mod shares_db;
mod sources_db;

use crate::indicator::unix_now as now;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::{Backend, Config, ConfigError, LoadError, Tls};
use crate::metrics::Metrics;
use crate::serve::status::Reload;
use crate::serve::tls::{self, Certs, TlsError};
use crate::serve::{self, Limits, Rules, State};
use crate::source::http::{ensure_crypto_provider, Fetcher};

use super::PipelineError;
use scheduler::{set_board_config, Event, Scheduler};

/// How `serve` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// feeds.toml.
    pub config: PathBuf,
    /// Listen addresses overriding `[server] listen` (empty: the config's).
    pub listen: Vec<SocketAddr>,
    /// A store directory overriding `[store] data_dir` (`--data-dir`), kept across reloads, so
    /// replicas on one machine can share one feeds.toml.
    pub data_dir: Option<PathBuf>,
}

/// What stops `serve` from starting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// feeds.toml cannot be read.
    #[error(transparent)]
    Load(LoadError),
    /// feeds.toml has errors (each printed by the caller).
    #[error("{} error(s) in {}", .errors.len(), .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The errors.
        errors: Vec<ConfigError>,
    },
    /// A listen address cannot be bound.
    #[error(
        "cannot listen on {addr} (in use, or a privileged port?); set [server] listen or --listen"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// rustls refused its configuration.
    #[error("TLS set-up failed")]
    Rustls(#[source] rustls::Error),
    /// The PSL file is bad.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Loads and fully checks a config (syntax, references, vendor/type rules); `data_dir`, when
/// given, replaces `[store] data_dir`.
///
/// # Errors
/// [`DaemonError::Load`] or [`DaemonError::Invalid`] with every error.
pub fn load_config(path: &Path, data_dir: Option<&Path>) -> Result<Config, DaemonError> {
    let mut c = match Config::load(path) {
        Ok(c) => c,
        Err(LoadError::Invalid(errors)) => {
            return Err(DaemonError::Invalid {
                path: path.to_path_buf(),
                errors,
            })
        }
        Err(e) => return Err(DaemonError::Load(e)),
    };
    if let Some(d) = data_dir {
        c.data_dir = d.to_path_buf();
    }
    let mut errors = super::check(&c);
    errors.extend(c.serve_errors.iter().cloned());
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(DaemonError::Invalid {
            path: path.to_path_buf(),
            errors,
        })
    }
}

/// Runs the server until SIGTERM or SIGINT (or `stop` completes).
///
/// # Errors
/// Start-up failures only: config, bind, TLS. Once serving, failures are logged, shown on the
/// status page and counted, and the server goes on.
pub async fn run(
    opts: Options,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<(), DaemonError> {
    let config = load_config(&opts.config, opts.data_dir.as_deref())?;
    ensure_crypto_provider();
    let started = now();
    let metrics = Metrics::new();
    metrics.config_loaded(&opts.config.display().to_string(), started);
    for s in config.sources.iter().filter(|s| s.is_plain_http()) {
        tracing::warn!(source = %s.name, "Source uses plain http://; its data can be altered in transit.");
    }

    // TLS.
    let mut auto_ca = None;
    let (certs, tls_desc) = match &config.server.tls {
        Tls::Off => {
            tracing::warn!("TLS is off: lists and credentials travel in clear; use tls = \"auto\" outside a lab.");
            (None, "off (plain HTTP)".to_string())
        }
        Tls::SelfSigned => {
            let (ca, made) = tls::local_ca(&config.data_dir)?;
            let names = tls::serving_names(&config.server.tls_names);
            let (cert, key) = ca.issue(&names)?;
            let c = Arc::new(Certs::new(cert, key)?);
            let fp = ca.fingerprint();
            say(format_args!(
                "edlforge: {} local CA {}\nedlforge:   SHA-256 fingerprint {fp}\nedlforge:   import {} once as a trusted CA (root) in each firewall's certificate profile; the serving certificate it signs is renewed automatically\nedlforge:   serving certificate names: {}\nedlforge:   (add the names firewalls connect by to [server] tls_names, or set tls_cert/tls_key)",
                if made { "made a" } else { "using the" },
                ca.cert.display(),
                ca.cert.display(),
                names.join(", "),
            ));
            let desc = format!("local CA {}, SHA-256 {fp}", ca.cert.display());
            auto_ca = Some((ca, names));
            (Some(c), desc)
        }
        Tls::Files { cert, key } => {
            let c = Arc::new(Certs::new(cert.clone(), key.clone())?);
            let fp = c.fingerprint();
            (Some(c), format!("{} (SHA-256 {fp})", cert.display()))
        }
    };
    let acceptor = match &certs {
        Some(c) => Some(tls::acceptor(c.clone()).map_err(DaemonError::Rustls)?),
        None => None,
    };

    // Listeners.
    let addrs = if opts.listen.is_empty() {
        config.server.listen.clone()
    } else {
        opts.listen.clone()
    };
    let mut listeners = Vec::new();
    for addr in addrs {
        let l = bind(addr).map_err(|source| DaemonError::Bind { addr, source })?;
        listeners.push(l);
    }

    let state = Arc::new(State::new(
        Rules::from_config(&config, acceptor.is_some()),
        metrics.clone(),
    ));
    if let Ok(mut b) = state.board.lock() {
        b.started_at = started;
        b.config = opts.config.display().to_string();
        b.tls = tls_desc;
        // The embedded store has one process: it leads. With PostgreSQL a replica follows
        // until its Contender takes the lead (`replica.rs`).
        b.role = match config.backend {
            Backend::Embedded => crate::serve::status::Role::Leader,
            Backend::Postgres { .. } => crate::serve::status::Role::Follower,
        };
        b.reload = Reload {
            ok: true,
            loaded_at: Some(started),
            ..Reload::default()
        };
    }
    set_board_config(&state, &config);
    let replica = match &config.backend {
        Backend::Embedded => {
            metrics.role(true);
            metrics.database_up(true);
            metrics.config_matches_leader(true);
            None
        }
        Backend::Postgres { url } => {
            Some((replica::Replica::new(Arc::new(config.clone())), url.clone()))
        }
    };
    for l in &config.lists {
        metrics.list_unavailable(&l.name);
    }

    // Listener settings are read once: changing them needs a restart.
    let limits = Limits {
        max_connections: config.server.max_connections,
        max_connections_per_client: config.server.max_connections_per_client,
        header_timeout: config.server.header_timeout,
        drain: Duration::from_secs(10),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut sched = Scheduler {
        path: opts.config.clone(),
        data_dir: opts.data_dir.clone(),
        guard: Arc::new(super::guard(&config)?),
        fetcher: Arc::new(Fetcher::new(config.per_host)),
        config: Arc::new(config),
        state: state.clone(),
        certs,
        watch: None,
        held_logged: String::new(),
        replica: replica.as_ref().map(|(r, _)| r.clone()),
        files: Arc::default(),
        kept: Arc::default(),
    };
    // The lists kept from the last run are served from the first request on.
    sched.publish_stored().await;
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            say(format_args!(
                "edlforge: listening on {}://{a}",
                if acceptor.is_some() { "https" } else { "http" }
            ));
        }
    }
    let renewal = match (auto_ca, &sched.certs) {
        (Some((ca, names)), Some(certs)) => {
            Some(tokio::spawn(renew_serving(ca, names, certs.clone())))
        }
        _ => None,
    };
    // With PostgreSQL: connect, contend and follow beside the server (the cache is served
    // meanwhile, and while the database is unreachable).
    let replica_task =
        replica.map(|(r, url)| tokio::spawn(replica::run(r, url, state.clone(), tx.downgrade())));
    let mut sched_task = tokio::spawn(sched.run(rx));

    // Signals: SIGHUP reloads; SIGTERM and SIGINT stop. The SIGHUP task holds a weak sender:
    // dropping `tx` below then closes the scheduler's channel, and an idle scheduler returns at
    // once instead of being waited for (and aborted) at stop.
    #[cfg(unix)]
    {
        let tx = tx.downgrade();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading.");
                    match tx.upgrade() {
                        Some(tx) => {
                            let _ = tx.send(Event::Hangup);
                        }
                        None => break,
                    }
                }
            });
        }
    }
    let shutdown = async move {
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = term => {}
            _ = tokio::signal::ctrl_c() => {}
            () = stop => {}
        }
        tracing::info!("Stopping: finishing in-flight responses.");
    };
    serve::run(listeners, acceptor, state, limits, shutdown).await;
    if let Some(r) = renewal {
        r.abort();
    }
    if let Some(r) = replica_task {
        r.abort();
    }
    // The scheduler returns when its channel closes: at once when idle, after its cycle when
    // one is running (bounded below).
    drop(tx);
    tokio::select! {
        _ = &mut sched_task => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => sched_task.abort(),
    }
    Ok(())
}

/// Renews the `tls = "auto"` serving certificate [`tls::RENEW_AFTER`] after it was issued
/// (30 days before it expires), with the same local CA, and swaps it in without a restart.
/// A failure is logged and tried again an hour later; the current certificate stays in use.
async fn renew_serving(ca: tls::LocalCa, names: Vec<String>, certs: Arc<Certs>) {
    let age = |t: std::time::SystemTime| {
        std::time::SystemTime::now()
            .duration_since(t)
            .unwrap_or(Duration::ZERO)
    };
    let mut issued = std::time::SystemTime::now();
    loop {
        let due = tls::RENEW_AFTER.saturating_sub(age(issued));
        // Checked against the wall clock at least twice a day: time the machine spent
        // suspended counts toward the certificate's age.
        tokio::time::sleep(due.min(Duration::from_secs(12 * 3600))).await;
        if age(issued) < tls::RENEW_AFTER {
            continue;
        }
        match ca.issue(&names).and_then(|_| certs.reload()) {
            Ok(fp) => {
                tracing::info!(fingerprint = %fp, "Serving certificate renewed by the local CA.");
                issued = std::time::SystemTime::now();
            }
            Err(e) => {
                tracing::error!(error = %e, "Cannot renew the serving certificate; the current one stays in use.");
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
    }
}

/// Binds a listener with a deep accept queue: `TcpListener::bind` asks for 128, which
/// overflows when many firewalls poll at the same minute (the kernel caps the request at
/// `net.core.somaxconn`). TCP_NODELAY is set here for the connections to inherit.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    // Inherited by every accepted connection (the server then skips a `setsockopt` per
    // connection): small responses (304) go out at once.
    s.set_nodelay(true)?;
    s.bind(addr)?;
    s.listen(4096)
}

/// One line to stderr for the person starting `serve`, ignoring a write error: a reader that
/// has gone (`serve 2>&1 | head -1`, a log shipper that died) must not take the server down
/// with it, as `eprintln!` would by panicking.
fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}
