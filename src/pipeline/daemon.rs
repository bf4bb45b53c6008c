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
//! editor save is one cycle) and after a config reload.
//!
//! What is never served as good: a list that compiled to nothing while one of its sources has
//! never delivered data (a fresh start without internet) keeps its previous bytes, or answers
//! 503 if it has none. A bad feeds.toml edit is refused with its errors on the status page and
//! in `edlforge_config_reload_success`; the running config stays in force and its `file`
//! sources still reload.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::compile::Guard;
use crate::config::watch::{self, Changed, Watch};
use crate::config::{Config, ConfigError, LoadError, Role, Tls, Transport};
use crate::format::Format;
use crate::metrics::Metrics;
use crate::serve::status::{ListView, Reload, SourceView};
use crate::serve::tls::{self, Certs, TlsError};
use crate::serve::{self, Limits, Published, Rules, State};
use crate::source::http::{ensure_crypto_provider, redact_url, Fetcher};
use crate::store::{Key, SourceState, Store};

use super::{
    compile_lists, list_format, load_sources, refresh_sources, save_list, FetchMode, ListOutcome,
    PipelineError, SourceOutcome, SourceStatus,
};

/// How `serve` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// feeds.toml.
    pub config: PathBuf,
    /// Listen addresses overriding `[server] listen` (empty: the config's).
    pub listen: Vec<SocketAddr>,
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

/// Loads and fully checks a config (syntax, references, vendor/type rules).
///
/// # Errors
/// [`DaemonError::Load`] or [`DaemonError::Invalid`] with every error.
pub fn load_config(path: &Path) -> Result<Config, DaemonError> {
    let c = match Config::load(path) {
        Ok(c) => c,
        Err(LoadError::Invalid(errors)) => {
            return Err(DaemonError::Invalid {
                path: path.to_path_buf(),
                errors,
            })
        }
        Err(e) => return Err(DaemonError::Load(e)),
    };
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

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
    let config = load_config(&opts.config)?;
    ensure_crypto_provider();
    let started = now();
    let metrics = Metrics::new();
    metrics.config_loaded(&opts.config.display().to_string(), started);
    for s in &config.sources {
        let url = match &s.transport {
            Transport::Http(h) => Some(&h.url),
            Transport::Taxii(t) => Some(&t.http.url),
            Transport::File { .. } => None,
        };
        if let Some(url) = url {
            if url.starts_with("http://") {
                tracing::warn!(source = %s.name, "Source uses plain http://; its data can be altered in transit.");
            }
        }
    }

    // TLS.
    let (certs, tls_desc) = match &config.server.tls {
        Tls::Off => {
            tracing::warn!("TLS is off: lists and credentials travel in clear; use tls = \"auto\" outside a lab.");
            (None, "off (plain HTTP)".to_string())
        }
        Tls::SelfSigned => {
            let (cert, key, made) = tls::self_signed(&config.data_dir)?;
            let c = Arc::new(Certs::new(cert.clone(), key)?);
            let fp = c.fingerprint();
            eprintln!(
                "edlforge: {} self-signed certificate {}\nedlforge:   SHA-256 fingerprint {fp}\nedlforge:   import it as a trusted CA in each firewall's certificate profile, or set [server] tls_cert/tls_key",
                if made { "made a" } else { "using the" },
                cert.display()
            );
            (Some(c), format!("self-signed, SHA-256 {fp}"))
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
        b.reload = Reload {
            ok: true,
            loaded_at: Some(started),
            ..Reload::default()
        };
    }
    set_board_config(&state, &config);
    for l in &config.lists {
        metrics.list_unavailable(&l.name);
    }

    // Listener settings are read once: changing them needs a restart.
    let limits = Limits {
        max_connections: config.server.max_connections,
        header_timeout: config.server.header_timeout,
        drain: Duration::from_secs(10),
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut sched = Scheduler {
        path: opts.config.clone(),
        guard: Arc::new(super::guard(&config)?),
        fetcher: Arc::new(Fetcher::new(config.per_host)),
        config: Arc::new(config),
        state: state.clone(),
        certs,
        watch: None,
        ever_ok: HashSet::new(),
    };
    // The lists kept from the last run are served from the first request on.
    sched.publish_stored().await;
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            eprintln!(
                "edlforge: listening on {}://{a}",
                if acceptor.is_some() { "https" } else { "http" }
            );
        }
    }
    let mut sched_task = tokio::spawn(sched.run(rx));

    // Signals: SIGHUP reloads; SIGTERM and SIGINT stop.
    #[cfg(unix)]
    {
        let tx = tx.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading.");
                    let _ = tx.send(Event::Hangup);
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
    drop(tx);
    tokio::select! {
        _ = &mut sched_task => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => sched_task.abort(),
    }
    Ok(())
}

/// Binds a listener with a deep accept queue: `TcpListener::bind` asks for 128, which
/// overflows when many firewalls poll at the same minute (the kernel caps the request at
/// `net.core.somaxconn`).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(4096)
}

/// What wakes the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    File(Changed),
    Hangup,
}

struct Scheduler {
    path: PathBuf,
    config: Arc<Config>,
    guard: Arc<Guard>,
    fetcher: Arc<Fetcher>,
    state: Arc<State>,
    certs: Option<Arc<Certs>>,
    watch: Option<(Watch, Vec<(PathBuf, Changed)>)>,
    /// Sources that have delivered data at least once (from the store's states).
    ever_ok: HashSet<String>,
}

/// The result of one cycle, made on a blocking thread.
struct Cycle {
    sources: Vec<SourceOutcome>,
    lists: Vec<(ListOutcome, i64, f64, Arc<Published>)>,
    states: HashMap<String, SourceState>,
    by_type: HashMap<String, BTreeMap<String, u64>>,
    finished: i64,
}

impl Scheduler {
    fn watched(&self) -> Vec<(PathBuf, Changed)> {
        let mut v = vec![(self.path.clone(), Changed::Config)];
        for s in &self.config.sources {
            if let Transport::File { path } = &s.transport {
                v.push((path.clone(), Changed::SourceFile));
            }
        }
        if let Some(c) = &self.certs {
            let (a, b) = c.paths();
            v.push((a.to_path_buf(), Changed::Tls));
            v.push((b.to_path_buf(), Changed::Tls));
        }
        v
    }

    /// (Re)starts the file watch when the set of files changed.
    fn rewatch(&mut self, tx: &tokio::sync::mpsc::UnboundedSender<Event>) {
        let want = self.watched();
        if self.watch.as_ref().is_some_and(|(_, w)| *w == want) {
            return;
        }
        match watch::watch(&want) {
            Ok((w, mut rx)) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(c) = rx.recv().await {
                        if tx.send(Event::File(c)).is_err() {
                            break;
                        }
                    }
                });
                self.watch = Some((w, want));
            }
            Err(e) => {
                tracing::error!(error = %e, cause = %std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default(), "Cannot watch files; edits apply on SIGHUP only.");
                self.watch = None;
            }
        }
    }

    async fn run(mut self, mut rx: UnboundedReceiver<Event>) {
        // Watch events and signals arrive on one channel; the watcher forwards into it.
        let (fwd_tx, mut fwd_rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        self.rewatch(&fwd_tx);
        let mut need_cycle = true;
        let mut retry_at: Option<Instant> = None;
        loop {
            if need_cycle {
                need_cycle = false;
                if !self.cycle().await {
                    retry_at = Some(Instant::now() + Duration::from_secs(30));
                } else {
                    retry_at = None;
                }
            }
            let due = self.next_due(retry_at);
            let first = tokio::select! {
                e = rx.recv() => match e { Some(e) => Some(e), None => return },
                e = fwd_rx.recv() => e,
                () = tokio::time::sleep_until(due.into()) => None,
            };
            let Some(first) = first else {
                need_cycle = true;
                continue;
            };
            // Debounce: gather the burst of events one save makes.
            let mut events = vec![first];
            loop {
                tokio::select! {
                    Some(e) = rx.recv() => events.push(e),
                    Some(e) = fwd_rx.recv() => events.push(e),
                    () = tokio::time::sleep(Duration::from_millis(250)) => break,
                }
            }
            events.sort_by_key(|e| match e {
                Event::Hangup => 0,
                Event::File(c) => 1 + *c as u8,
            });
            events.dedup();
            let reload_config = events
                .iter()
                .any(|e| matches!(e, Event::Hangup | Event::File(Changed::Config)));
            let reload_tls = events
                .iter()
                .any(|e| matches!(e, Event::Hangup | Event::File(Changed::Tls)));
            if reload_tls {
                self.reload_tls();
            }
            if reload_config {
                self.reload_config();
                self.rewatch(&fwd_tx);
            }
            if events
                .iter()
                .any(|e| !matches!(e, Event::File(Changed::Tls)))
            {
                need_cycle = true;
            }
        }
    }

    fn reload_tls(&self) {
        if let Some(c) = &self.certs {
            match c.reload() {
                Ok(fp) => {
                    tracing::info!(fingerprint = %fp, "TLS certificate reloaded.");
                    if let Ok(mut b) = self.state.board.lock() {
                        if !b.tls.starts_with("self-signed") {
                            b.tls = format!("{} (SHA-256 {fp})", c.paths().0.display());
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "New TLS certificate refused; the current one stays in use.")
                }
            }
        }
    }

    fn reload_config(&mut self) {
        let shown = self.path.display().to_string();
        let at = now();
        match load_config(&self.path).and_then(|c| Ok((super::guard(&c)?, c))) {
            Ok((guard, c)) => {
                if c.server.listen != self.config.server.listen
                    || c.server.tls != self.config.server.tls
                {
                    tracing::warn!("[server] listen/tls changed; restart edlforge to apply them.");
                }
                self.state
                    .set_rules(Rules::from_config(&c, self.certs.is_some()));
                if c.per_host != self.config.per_host {
                    self.fetcher = Arc::new(Fetcher::new(c.per_host));
                }
                self.guard = Arc::new(guard);
                self.config = Arc::new(c);
                self.state.metrics.config_loaded(&shown, at);
                if let Ok(mut b) = self.state.board.lock() {
                    b.reload = Reload {
                        ok: true,
                        loaded_at: Some(at),
                        ..Reload::default()
                    };
                }
                set_board_config(&self.state, &self.config);
                let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
                let published = self.state.published();
                for n in &names {
                    if !published.contains(n) {
                        self.state.metrics.list_unavailable(n);
                    }
                }
                self.state.publish(Vec::new(), &names);
                self.state.metrics.retain(
                    &self
                        .config
                        .sources
                        .iter()
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>(),
                    &names,
                );
            }
            Err(e) => {
                let errors: Vec<String> = match &e {
                    DaemonError::Invalid { errors, .. } => {
                        errors.iter().map(ToString::to_string).collect()
                    }
                    other => vec![error_chain(other)],
                };
                self.state
                    .metrics
                    .config_refused(&shown, &errors.join("; "));
                if let Ok(mut b) = self.state.board.lock() {
                    b.reload.ok = false;
                    b.reload.refused_at = Some(at);
                    b.reload.errors = errors;
                }
            }
        }
    }

    /// When the next source is due (at most an hour away; at least a second).
    fn next_due(&self, retry_at: Option<Instant>) -> Instant {
        let now_i = Instant::now();
        let now_s = now();
        let mut wait = Duration::from_secs(3600);
        if let Ok(b) = self.state.board.lock() {
            for s in &b.sources {
                if s.kind == "file" {
                    continue;
                }
                let due = super::next_fetch_at(
                    s.refresh_secs as i64,
                    s.last_attempt,
                    s.last_success,
                    s.last_error.is_some(),
                )
                .max(now_s);
                let w = Duration::from_secs(due.saturating_sub(now_s).max(1) as u64);
                wait = wait.min(w);
            }
        }
        let mut at = now_i + wait;
        if let Some(r) = retry_at {
            at = at.min(r);
        }
        at
    }

    /// Publishes the lists the store kept from the last run.
    async fn publish_stored(&mut self) {
        let config = self.config.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<_, PipelineError> {
            let store = Store::open(&config.data_dir, Duration::from_secs(60))?;
            let mut out = Vec::new();
            for l in &config.lists {
                if let Some((body, meta)) = store.load_list(&l.name)? {
                    let f = list_format(l);
                    let p = Published::new(
                        body,
                        &meta.etag,
                        meta.changed_at,
                        f.content_type(),
                        meta.entries,
                        f.md5_url(),
                    );
                    out.push((l.name.clone(), Arc::new(p), meta));
                }
            }
            let mut ever = HashSet::new();
            for s in &config.sources {
                if store
                    .state(&s.name)?
                    .is_some_and(|st| st.last_success.is_some())
                {
                    ever.insert(s.name.clone());
                }
            }
            Ok((out, ever))
        })
        .await;
        match r {
            Ok(Ok((lists, ever))) => {
                self.ever_ok = ever;
                let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
                for (n, p, meta) in &lists {
                    self.state
                        .metrics
                        .list_loaded(n, p.entries, meta.changed_at, meta.compiled_at);
                    if let Ok(mut b) = self.state.board.lock() {
                        if let Some(v) = b.lists.iter_mut().find(|v| &v.name == n) {
                            v.compiled_at = Some(meta.compiled_at);
                        }
                    }
                }
                let n = lists.len();
                self.state
                    .publish(lists.into_iter().map(|(n, p, _)| (n, p)).collect(), &names);
                if n > 0 {
                    tracing::info!(lists = n, "Serving the lists kept from the last run.");
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "Cannot read the stored lists; they are served after the first compile.")
            }
            Err(e) => tracing::error!(error = %e, "Reading the stored lists failed."),
        }
    }

    /// One fetch + compile + publish cycle. Returns false when it could not run.
    async fn cycle(&mut self) -> bool {
        let (config, guard, fetcher) = (
            self.config.clone(),
            self.guard.clone(),
            self.fetcher.clone(),
        );
        let handle = tokio::runtime::Handle::current();
        let r =
            tokio::task::spawn_blocking(move || run_cycle(&config, &guard, fetcher, &handle)).await;
        let cycle = match r {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::error!(error = %error_chain(&e), "Cycle failed; serving the current lists, retrying in 30 s.");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "Cycle task failed; retrying in 30 s.");
                return false;
            }
        };
        self.apply(cycle);
        true
    }

    fn apply(&mut self, c: Cycle) {
        let m = &self.state.metrics;
        // Sources.
        for (s, o) in self.config.sources.iter().zip(&c.sources) {
            let took = o.duration.as_secs_f64();
            match &o.status {
                SourceStatus::Updated { .. } | SourceStatus::NotModified => {
                    m.source_ok(&s.name, c.finished, took);
                    if matches!(o.status, SourceStatus::Updated { .. }) {
                        m.reset_source_counts(&s.name);
                        let skipped: Vec<(&str, u64)> = crate::indicator::SkipReason::ALL
                            .iter()
                            .map(|r| (r.as_str(), o.report.count(*r)))
                            .filter(|(_, n)| *n > 0)
                            .collect();
                        m.source_skipped(&s.name, &skipped);
                    }
                }
                SourceStatus::Failed { reason, message } => {
                    m.source_failed(&s.name, reason, message, c.finished, took);
                }
                SourceStatus::Skipped => {}
            }
            let st = c.states.get(&s.name);
            if st.is_some_and(|st| st.last_success.is_some()) {
                self.ever_ok.insert(s.name.clone());
            }
            let by_type = c.by_type.get(&s.name).cloned().unwrap_or_default();
            let bt: Vec<(&str, u64)> = by_type.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            m.source_held(
                &s.name,
                s.refresh.as_secs_f64(),
                st.and_then(|st| st.last_success),
                &bt,
            );
        }
        // Lists: publish those that are good to serve.
        let mut publish = Vec::new();
        let names: Vec<String> = self.config.lists.iter().map(|l| l.name.clone()).collect();
        for (o, changed_at, took, p) in &c.lists {
            let Some(l) = self.config.lists.iter().find(|l| l.name == o.name) else {
                continue;
            };
            let dropped: Vec<(&str, u64)> = crate::indicator::SkipReason::ALL
                .iter()
                .map(|r| (r.as_str(), o.report.count(*r)))
                .filter(|(_, n)| *n > 0)
                .collect();
            let blocks: Vec<&String> = l
                .sources
                .iter()
                .filter(|s| self.config.source(s).is_some_and(|c| c.role == Role::Block))
                .collect();
            let never: Vec<&str> = blocks
                .iter()
                .filter(|s| !self.ever_ok.contains(**s))
                .map(|s| s.as_str())
                .collect();
            let failing: Vec<String> = blocks
                .iter()
                .filter(|s| {
                    c.states.get(**s).is_none_or(|st| {
                        st.last_success.is_none()
                            || (st.last_error.is_some() && st.last_attempt > st.last_success)
                    })
                })
                .map(|s| s.to_string())
                .collect();
            if o.rendered.entries == 0 && !never.is_empty() {
                let why = format!(
                    "compiled empty while {} never delivered data",
                    never.join(", ")
                );
                tracing::warn!(list = %o.name, reason = %why, "List not published; firewalls keep their copy.");
                if let Ok(mut b) = self.state.board.lock() {
                    if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                        v.withheld = Some(why);
                        v.failing_sources = failing;
                    }
                }
                continue;
            }
            m.reset_list_drops(&o.name);
            m.list_compiled(
                &o.name,
                o.rendered.entries,
                l.max_entries.or(list_format(l).default_max_entries()),
                *changed_at,
                c.finished,
                *took,
                &dropped,
            );
            if let Ok(mut b) = self.state.board.lock() {
                if let Some(v) = b.lists.iter_mut().find(|v| v.name == o.name) {
                    v.compiled_at = Some(c.finished);
                    v.dropped = dropped.iter().map(|(k, n)| (k.to_string(), *n)).collect();
                    v.withheld = None;
                    v.failing_sources = failing;
                }
            }
            publish.push((o.name.clone(), p.clone()));
        }
        self.state.publish(publish, &names);
        // Board: sources.
        if let Ok(mut b) = self.state.board.lock() {
            b.last_cycle = Some(c.finished);
            for v in &mut b.sources {
                if let Some(st) = c.states.get(&v.name) {
                    v.last_attempt = st.last_attempt;
                    v.last_success = st.last_success;
                    v.last_error = st.last_error.clone();
                    v.last_error_reason = st.last_error_reason.clone();
                }
                if let Some(o) = c.sources.iter().find(|o| o.name == v.name) {
                    v.records = o.records;
                    if matches!(o.status, SourceStatus::Updated { .. }) {
                        v.skipped = crate::indicator::SkipReason::ALL
                            .iter()
                            .map(|r| (r.as_str().to_string(), o.report.count(*r)))
                            .filter(|(_, n)| *n > 0)
                            .collect();
                    }
                }
                if let Some(t) = c.by_type.get(&v.name) {
                    v.by_type = t.clone();
                }
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The status board's static part from a config (keeps runtime facts of unchanged names).
fn set_board_config(state: &State, c: &Config) {
    let Ok(mut b) = state.board.lock() else {
        return;
    };
    let old_s: HashMap<String, SourceView> =
        b.sources.drain(..).map(|s| (s.name.clone(), s)).collect();
    let old_l: HashMap<String, ListView> = b.lists.drain(..).map(|l| (l.name.clone(), l)).collect();
    for s in &c.sources {
        let mut v = old_s.get(&s.name).cloned().unwrap_or_default();
        v.name = s.name.clone();
        (v.kind, v.location) = match &s.transport {
            Transport::Http(h) => ("http".to_string(), redact_url(&h.url)),
            Transport::Taxii(t) => (
                "taxii".to_string(),
                format!("{} collection {}", redact_url(&t.http.url), t.collection),
            ),
            Transport::File { path } => ("file".to_string(), path.display().to_string()),
        };
        v.role = match s.role {
            Role::Block => "block".into(),
            Role::Allow => "allow".into(),
        };
        v.refresh_secs = s.refresh.as_secs();
        b.sources.push(v);
    }
    for l in &c.lists {
        let mut v = old_l.get(&l.name).cloned().unwrap_or_default();
        let f: Format = list_format(l);
        v.name = l.name.clone();
        v.vendor = l.vendor.id().to_string();
        v.auth = l.access.auth.as_str().to_string();
        v.path = format!("/lists/{}", l.name);
        v.max_entries = l.max_entries.or(f.default_max_entries());
        b.lists.push(v);
    }
}

/// Fetch the due sources, compile every list, save them: the blocking part of a cycle.
fn run_cycle(
    config: &Config,
    guard: &Guard,
    fetcher: Arc<Fetcher>,
    handle: &tokio::runtime::Handle,
) -> Result<Cycle, PipelineError> {
    let now = now();
    let mut store = Store::open(&config.data_dir, Duration::from_secs(60))?;
    let mut data = load_sources(config, &store)?;
    let sources = handle.block_on(refresh_sources(
        config,
        Some(&mut store),
        &mut data,
        fetcher,
        FetchMode::Due,
        now,
    ))?;
    let mut previous = HashMap::new();
    let mut prev_meta = HashMap::new();
    for l in &config.lists {
        if let Some((body, meta)) = store.load_list(&l.name)? {
            previous.insert(l.name.clone(), body);
            prev_meta.insert(l.name.clone(), meta);
        }
    }
    let mut lists = Vec::new();
    for l in &config.lists {
        let one = Config {
            lists: vec![l.clone()],
            ..config.clone()
        };
        let t = Instant::now();
        let Some(o) = compile_lists(&one, &data, &previous, guard, now).pop() else {
            continue;
        };
        let took = t.elapsed().as_secs_f64();
        save_list(&mut store, &o, now)?;
        let changed_at = match prev_meta.get(&l.name) {
            Some(m) if m.etag == o.etag => m.changed_at,
            _ => now,
        };
        let f = list_format(l);
        let p = Arc::new(Published::new(
            o.rendered.body.clone(),
            &o.etag,
            changed_at,
            f.content_type(),
            o.rendered.entries,
            f.md5_url(),
        ));
        lists.push((o, changed_at, took, p));
    }
    let mut states = HashMap::new();
    let mut by_type: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    for s in &config.sources {
        if let Some(st) = store.state(&s.name)? {
            states.insert(s.name.clone(), st);
        }
        let mut t: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(set) = data.get(&s.name) {
            for (k, _) in set.iter() {
                let kind = match k {
                    Key::V4(..) | Key::V6(..) => "ip",
                    Key::Name(v) => v.kind().as_str(),
                };
                match t.get_mut(kind) {
                    Some(n) => *n += 1,
                    None => {
                        t.insert(kind.to_string(), 1);
                    }
                }
            }
        }
        by_type.insert(s.name.clone(), t);
    }
    Ok(Cycle {
        sources,
        lists,
        states,
        by_type,
        finished: self::now(),
    })
}
