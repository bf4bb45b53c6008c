//! The HTTP(S) server firewalls poll: compiled lists as immutable bytes, with conditional GET,
//! precompressed gzip, per-list access control, `/metrics`, `/healthz`, `/readyz` and a status
//! page.
//!
//! [`run`] is the whole server: it takes bound listeners, an optional TLS acceptor, the shared
//! [`State`] and a shutdown future. It never compiles or fetches anything: the caller
//! (`pipeline::daemon`) publishes rendered lists into [`State`] with [`State::publish`], which
//! swaps a whole map atomically (arc-swap), so a poller sees either the old list or the new one,
//! never a mix. Everything a request needs is precomputed at publish time (gzip copy, ETags,
//! `Last-Modified`), so a request costs a map lookup and a reference-count increment.
//!
//! Defences against slow or abusive clients: a connection cap and a cap per peer address
//! (connections over either are closed at once), a timeout for the TLS handshake and for
//! request headers that also closes idle keep-alive connections and HTTP/2 connections without
//! an open stream (GOAWAY), no request bodies, HTTP/2 stream limits, a failed-login budget per
//! client address (`auth.rs`), and refusal log lines summed up per address and minute
//! (`noise.rs`). Every address is normalised (IPv4-mapped IPv6 to IPv4) once, at accept, before
//! any rule sees it. On shutdown, listeners close, idle connections close at once, and in-flight
//! responses finish (bounded wait).
//!
//! hyper, hyper-util and rustls are used here only.

mod auth;
mod conn;
mod gzip;
mod noise;
mod peers;
mod routes;
pub mod status;
pub mod taxii;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::{Access, Config};
use crate::metrics::Metrics;

pub use self::routes::handle;
pub use self::status::Board;

/// One compiled list as served: immutable, with everything a response needs precomputed.
#[derive(Debug)]
pub struct Published {
    /// The list's bytes.
    pub body: Bytes,
    /// The same, gzip-compressed.
    pub gzip: Bytes,
    /// Strong ETag of `body`, quoted.
    pub etag: String,
    /// Strong ETag of `gzip`, quoted (RFC 9110 8.8.3: one per representation).
    pub gzip_etag: String,
    /// When the content last changed (Unix seconds).
    pub changed_at: i64,
    /// `Last-Modified` value.
    pub last_modified: String,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Lines in the list.
    pub entries: u64,
    /// For Cisco FMC Security Intelligence: the MD5 checksum file (hex and a newline).
    pub md5: Option<Bytes>,
    /// The validators as header values, made once.
    pub headers: Validators,
}

/// A list's validators as ready header values.
#[derive(Debug, Clone)]
pub struct Validators {
    /// `ETag` of the identity body.
    pub etag: http::HeaderValue,
    /// `ETag` of the gzip body.
    pub gzip_etag: http::HeaderValue,
    /// `ETag` of the MD5 file.
    pub md5_etag: http::HeaderValue,
    /// `Last-Modified`.
    pub last_modified: http::HeaderValue,
}

/// Where the gzip copy of a list being published comes from ([`Published::with_gzip`]).
#[derive(Debug)]
pub enum Gzip {
    /// Made from the body now.
    Make,
    /// Received with the body (a follower gets the leader's): checked before use.
    Received(Vec<u8>),
    /// Made from this very body by [`gzip_body`] already.
    Made(Vec<u8>),
}

/// `body` gzipped at level 6 (what every list is served with), on every core (`gzip.rs`).
pub fn gzip_body(body: &[u8]) -> Vec<u8> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(g) = gzip::gzip(body, threads) {
        return g;
    }
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    gz.write_all(body)
        .and_then(|()| gz.finish())
        .unwrap_or_default()
}

/// Whether `gzip` is exactly one gzip member, with nothing after it, that decompresses to
/// exactly `body`; read in pieces and stopped at the first difference (never more than 64 KiB
/// past `body`'s length decompressed).
fn gunzips_to(gzip: &[u8], body: &[u8]) -> bool {
    use std::io::Read as _;
    let mut d = flate2::bufread::GzDecoder::new(gzip);
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0usize;
    loop {
        match d.read(&mut buf) {
            Ok(0) => return at == body.len() && d.into_inner().is_empty(),
            Ok(n) => {
                if body.get(at..at + n) != Some(&buf[..n]) {
                    return false;
                }
                at += n;
            }
            Err(_) => return false,
        }
    }
}

impl Published {
    /// Prepares a list for serving. `hash` is the content hash (hex) the store keeps;
    /// `changed_at` is when the content last changed.
    pub fn new(
        body: Vec<u8>,
        hash: &str,
        changed_at: i64,
        content_type: &'static str,
        entries: u64,
        with_md5: bool,
    ) -> Published {
        Published::with_gzip(
            body,
            Gzip::Make,
            hash,
            changed_at,
            content_type,
            entries,
            with_md5,
        )
    }

    /// [`Published::new`] with the gzip copy as `gzip` says: made here, received (a follower
    /// gets the leader's: used when it decompresses to exactly `body`, checked because
    /// decompressing costs a fraction of compressing, ~0.1 s against ~2 s for 15.8 MB; else the
    /// body is gzipped here, so a damaged or mismatched copy never reaches a client), or made
    /// here already (by [`gzip_body`] of this very body, while the list was saved).
    #[allow(clippy::too_many_arguments)]
    pub fn with_gzip(
        body: Vec<u8>,
        gzip: Gzip,
        hash: &str,
        changed_at: i64,
        content_type: &'static str,
        entries: u64,
        with_md5: bool,
    ) -> Published {
        let gzip = match gzip {
            Gzip::Made(g) => g,
            Gzip::Received(g) if gunzips_to(&g, &body) => g,
            Gzip::Received(_) | Gzip::Make => gzip_body(&body),
        };
        let md5 = with_md5.then(|| {
            use md5::Digest as _;
            let d = md5::Md5::digest(&body);
            let mut s = String::with_capacity(33);
            for b in d {
                s.push_str(&format!("{b:02x}"));
            }
            s.push('\n');
            Bytes::from(s)
        });
        let when = std::time::UNIX_EPOCH + Duration::from_secs(changed_at.max(0) as u64);
        // The hash is hex from our own content hash; a value a header cannot carry would be a
        // bug, and then the header is left empty rather than the list unserved.
        let hv = |s: &str| {
            http::HeaderValue::from_str(s).unwrap_or_else(|_| http::HeaderValue::from_static(""))
        };
        let last_modified = httpdate::fmt_http_date(when);
        let headers = Validators {
            etag: hv(&format!("\"{hash}\"")),
            gzip_etag: hv(&format!("\"{hash}-gzip\"")),
            md5_etag: hv(&format!("\"{hash}-md5\"")),
            last_modified: hv(&last_modified),
        };
        Published {
            headers,
            body: Bytes::from(body),
            gzip: Bytes::from(gzip),
            etag: format!("\"{hash}\""),
            gzip_etag: format!("\"{hash}-gzip\""),
            changed_at,
            last_modified,
            content_type,
            entries,
            md5,
        }
    }
}

/// Access rules in force: per list, plus server-wide settings. Swapped whole on reload.
#[derive(Debug, Default)]
pub struct Rules {
    /// Configured lists by name.
    pub lists: HashMap<String, Access>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Who may read status, metrics and `/readyz` names (empty: anyone; the config's default is
    /// loopback).
    pub admin_clients: Vec<ipnet::IpNet>,
    /// Whether TLS is on (adds HSTS; warns on `?token=` over plain HTTP).
    pub tls: bool,
}

impl Rules {
    /// The rules of a checked config.
    pub fn from_config(c: &Config, tls: bool) -> Rules {
        Rules {
            lists: c
                .lists
                .iter()
                .map(|l| (l.name.clone(), l.access.clone()))
                .collect(),
            trusted_proxies: c.server.trusted_proxies.clone(),
            admin_clients: c.server.admin_clients.clone(),
            tls,
        }
    }

    /// Whether any list is closed to someone (credentials or `clients`): then unknown names
    /// answer like those lists, so probing cannot tell them apart.
    fn any_restricted(&self) -> bool {
        self.lists
            .values()
            .any(|a| a.auth != crate::config::AuthMode::None || !a.clients.is_empty())
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// Who fetched a list and when.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Polls {
    /// Successful fetches (200 and 304) since start.
    pub count: u64,
    /// Last fetch per client name (`anonymous` without auth).
    pub last: HashMap<String, i64>,
    /// Requests refused for missing or wrong credentials since start.
    pub refused: u64,
    /// When the last such refusal happened.
    pub last_refused: Option<i64>,
}

/// Everything the server shares between connections and with its owner.
#[derive(Debug)]
pub struct State {
    lists: ArcSwap<HashMap<String, Arc<Published>>>,
    rules: ArcSwap<Rules>,
    /// The status page's data (sources, lists, reload state), set by the owner.
    pub board: Mutex<Board>,
    polls: Mutex<HashMap<String, Polls>>,
    limiter: auth::Limiter,
    noise: noise::Noise,
    peers: peers::Peers,
    /// The process's metrics.
    pub metrics: Metrics,
    /// TAXII collections of the shared (`stix`) lists, by list name (`taxii.rs`).
    taxii: ArcSwap<HashMap<String, Arc<taxii::Collection>>>,
}

impl State {
    /// A server state with no list published yet.
    pub fn new(rules: Rules, metrics: Metrics) -> State {
        State {
            lists: ArcSwap::from_pointee(HashMap::new()),
            rules: ArcSwap::from_pointee(rules),
            board: Mutex::new(Board::default()),
            polls: Mutex::new(HashMap::new()),
            limiter: auth::Limiter::default(),
            noise: noise::Noise::default(),
            peers: peers::Peers::default(),
            metrics,
            taxii: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Publishes lists (replacing those of the same names) and drops lists not in `keep`.
    /// One atomic swap: requests see the whole old map or the whole new one.
    pub fn publish(&self, lists: Vec<(String, Arc<Published>)>, keep: &[String]) {
        let mut next: HashMap<String, Arc<Published>> = (**self.lists.load()).clone();
        for (name, p) in lists {
            next.insert(name, p);
        }
        next.retain(|k, _| keep.iter().any(|n| n == k));
        self.lists.store(Arc::new(next));
    }

    /// Publishes TAXII collections by list name (replacing those of the same names) and drops
    /// those of lists not in `keep`; one atomic swap, like [`State::publish`].
    pub fn publish_collections(
        &self,
        cols: Vec<(String, Arc<taxii::Collection>)>,
        keep: &[String],
    ) {
        let mut next: HashMap<String, Arc<taxii::Collection>> = (**self.taxii.load()).clone();
        for (name, c) in cols {
            next.insert(name, c);
        }
        next.retain(|k, _| keep.iter().any(|n| n == k));
        self.taxii.store(Arc::new(next));
    }

    /// The published list of this name.
    pub fn list(&self, name: &str) -> Option<Arc<Published>> {
        self.lists.load().get(name).cloned()
    }

    /// Names of the published lists.
    pub fn published(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lists.load().keys().cloned().collect();
        v.sort();
        v
    }

    /// Replaces the access rules (after a config reload).
    pub fn set_rules(&self, rules: Rules) {
        self.rules.store(Arc::new(rules));
    }

    /// Poll counts per list.
    pub fn polls(&self) -> HashMap<String, Polls> {
        self.polls.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Wrong credentials from `ip` for `what` (a list name, `unknown` or `taxii`): counted, and
    /// logged once per address and minute (then summed up).
    pub(crate) fn login_failed(&self, ip: IpAddr, what: &str) {
        let log = self.noise.first(ip, noise::Event::AuthFailed);
        self.metrics
            .auth_failed(what, &ip.to_string(), "wrong credentials", log);
    }

    /// A request from an address with no failed-login budget left, refused unchecked: counted,
    /// and logged once per address and minute (then summed up).
    pub(crate) fn login_throttled(&self, ip: IpAddr, what: &str) {
        let log = self.noise.first(ip, noise::Event::AuthThrottled);
        self.metrics
            .access_refused("auth_throttled", what, &ip.to_string(), log);
    }

    fn record_refusal(&self, list: &str, now: i64) {
        if let Ok(mut p) = self.polls.lock() {
            let e = match p.get_mut(list) {
                Some(e) => e,
                None => p.entry(list.to_string()).or_default(),
            };
            e.refused += 1;
            e.last_refused = Some(now);
        }
    }

    fn record_poll(&self, list: &str, client: &str, now: i64) {
        self.metrics.polled(list, client, now);
        if let Ok(mut p) = self.polls.lock() {
            // No allocation on the common path: the list and client are already known.
            let e = match p.get_mut(list) {
                Some(e) => e,
                None => p.entry(list.to_string()).or_default(),
            };
            e.count += 1;
            match e.last.get_mut(client) {
                Some(t) => *t = now,
                None => {
                    e.last.insert(client.to_string(), now);
                }
            }
        }
    }
}

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most concurrent connections.
    pub max_connections: usize,
    /// Most concurrent connections per peer address (trusted proxies exempt).
    pub max_connections_per_client: usize,
    /// TLS handshake and request-header timeout; also the idle limit of a keep-alive
    /// connection and of an HTTP/2 connection without an open stream.
    pub header_timeout: Duration,
    /// How long shutdown waits for in-flight responses.
    pub drain: Duration,
    /// Server threads (each a single-threaded runtime accepting on every listener).
    pub threads: usize,
}

/// Serves until `shutdown` completes, then stops accepting and lets in-flight responses finish
/// (at most `limits.drain`).
///
/// Connections are served by `limits.threads` OS threads, each running its own single-threaded
/// tokio runtime and accepting on every listener (nginx's worker model). A connection stays on
/// the thread that accepted it, so a request never wakes another thread; with many small
/// responses (304s) this beats a work-stealing runtime, whose cross-thread wake-ups cost more
/// than the request itself.
pub async fn run(
    listeners: Vec<TcpListener>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut std_listeners = Vec::new();
    for l in listeners {
        match l.into_std() {
            Ok(l) => std_listeners.push(l),
            Err(e) => tracing::error!(error = %e, "Cannot use a listener."),
        }
    }
    let mut workers = Vec::new();
    for i in 0..limits.threads.max(1) {
        let mut mine = Vec::new();
        for l in &std_listeners {
            match l.try_clone() {
                Ok(c) => mine.push(c),
                Err(e) => tracing::error!(error = %e, "Cannot share a listener with a worker."),
            }
        }
        let (state, tls, slots, graceful) =
            (state.clone(), tls.clone(), slots.clone(), graceful.clone());
        let (stop, mut done, ended) = (stop_rx.clone(), done_rx.clone(), ended_tx.clone());
        let w = std::thread::Builder::new()
            .name(format!("edlforge-http-{i}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "Cannot start a server thread.");
                        let _ = ended.send(());
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut accepts = tokio::task::JoinSet::new();
                    for l in mine {
                        match TcpListener::from_std(l) {
                            Ok(l) => {
                                accepts.spawn(accept_loop(
                                    l,
                                    tls.clone(),
                                    state.clone(),
                                    limits,
                                    slots.clone(),
                                    graceful.clone(),
                                    stop.clone(),
                                ));
                            }
                            Err(e) => tracing::error!(error = %e, "Cannot register a listener."),
                        }
                    }
                    while accepts.join_next().await.is_some() {}
                    drop(graceful);
                    let _ = ended.send(());
                    // Keep serving the connections this thread holds until they are drained.
                    while !*done.borrow() {
                        if done.changed().await.is_err() {
                            break;
                        }
                    }
                });
            });
        match w {
            Ok(h) => workers.push(h),
            Err(e) => tracing::error!(error = %e, "Cannot start a server thread."),
        }
    }
    drop(ended_tx);
    drop(std_listeners);
    // Refusals not logged one by one are summed up once per interval.
    let summaries = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(noise::INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                flush_noise(&state);
            }
        })
    };
    shutdown.await;
    summaries.abort();
    flush_noise(&state);
    let _ = stop_tx.send(true);
    // Every worker has stopped accepting (and dropped its handle on `graceful`).
    for _ in 0..workers.len() {
        if ended_rx.recv().await.is_none() {
            break;
        }
    }
    if let Ok(graceful) = Arc::try_unwrap(graceful) {
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(limits.drain) => {
                tracing::warn!("Shutdown: some connections did not finish in time.");
            }
        }
    }
    let _ = done_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || {
        for w in workers {
            let _ = w.join();
        }
    })
    .await;
}

async fn accept_loop(
    l: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    limits: Limits,
    slots: Arc<Semaphore>,
    graceful: Arc<hyper_util::server::graceful::GracefulShutdown>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    // Accepted sockets inherit TCP_NODELAY from a listener that has it (the daemon binds so):
    // checked on the first connection, then no `setsockopt` per connection.
    let mut inherits_nodelay = None;
    loop {
        let (stream, peer) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Normalised once, here: every rule after this sees `192.0.2.1`, never
        // `::ffff:192.0.2.1` (a dual-stack listener's view of an IPv4 peer).
        let peer = SocketAddr::new(auth::canonical(peer.ip()), peer.port());
        let peer_slot = if state.rules.load().is_trusted_proxy(peer.ip()) {
            None
        } else {
            match state
                .peers
                .take(peer.ip(), limits.max_connections_per_client)
            {
                Some(s) => Some(s),
                None => {
                    refuse_connection(&state, peer.ip(), "max_connections_per_client");
                    drop(stream);
                    continue;
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refuse_connection(&state, peer.ip(), "max_connections");
            drop(stream);
            continue;
        };
        match inherits_nodelay {
            Some(true) => {}
            Some(false) => {
                let _ = stream.set_nodelay(true);
            }
            None => {
                let on = stream.nodelay().unwrap_or(false);
                inherits_nodelay = Some(on);
                if !on {
                    let _ = stream.set_nodelay(true);
                }
            }
        }
        let ctx = ConnCtx {
            peer,
            state: state.clone(),
            limits,
            watcher: graceful.watcher(),
            _permit: permit,
            _peer_slot: peer_slot,
            stop: stop.clone(),
        };
        let tcp = conn::Io::new(stream, false);
        // Plain and TLS connections are separate tasks: a plain connection's task does not
        // carry (allocate, move) the TLS state.
        match tls.clone() {
            None => {
                tokio::spawn(serve_conn(tcp, None, ctx));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let hs =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await;
                    match hs {
                        Ok(Ok(s)) => {
                            // ALPN names the protocol; without it, the first bytes tell.
                            let proto = match s.get_ref().1.alpn_protocol() {
                                Some(b"h2") => Some(conn::Proto::H2),
                                Some(_) => Some(conn::Proto::H1),
                                None => None,
                            };
                            let io = conn::Io::new(s, true);
                            serve_conn(io, proto, ctx).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed.")
                        }
                        Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out."),
                    }
                });
            }
        }
    }
}

/// Closes a new connection over a cap: counted, and logged once per address and minute.
fn refuse_connection(state: &State, ip: IpAddr, reason: &str) {
    let log = state.noise.first(ip, noise::Event::ConnectionRefused);
    state
        .metrics
        .connection_refused(reason, &ip.to_string(), log);
}

/// Writes the summary lines of the refusals not logged one by one in the last interval.
fn flush_noise(state: &State) {
    for (ip, ev, n) in state.noise.flush() {
        let ip = ip.map(|i| i.to_string());
        state
            .metrics
            .log_summary(ip.as_deref(), ev.as_str(), n, noise::INTERVAL.as_secs());
    }
}

/// What a connection's task holds besides its I/O.
struct ConnCtx {
    peer: SocketAddr,
    state: Arc<State>,
    limits: Limits,
    /// Keeps a graceful stop waiting while the connection is served.
    watcher: hyper_util::server::graceful::Watcher,
    /// The connection's place under `max_connections`, given back when the task ends.
    _permit: tokio::sync::OwnedSemaphorePermit,
    /// Its place under `max_connections_per_client` (none for a trusted proxy).
    _peer_slot: Option<peers::Slot>,
    /// Turns true when the server stops.
    stop: tokio::sync::watch::Receiver<bool>,
}

/// Serves one connection with hyper's HTTP/1 or HTTP/2 connection, as `proto` says (`None`:
/// found from the first bytes, read within the header timeout).
async fn serve_conn<I>(mut io: conn::Io<I>, proto: Option<conn::Proto>, ctx: ConnCtx)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ConnCtx {
        peer,
        state,
        limits,
        watcher,
        _permit,
        _peer_slot,
        mut stop,
    } = ctx;
    let proto = match proto {
        Some(p) => p,
        // A connection that has sent nothing yet is idle: a graceful stop closes it at once
        // rather than waiting out the header timeout.
        None => match tokio::select! {
            r = tokio::time::timeout(limits.header_timeout, io.sniff()) => Some(r),
            _ = stop.wait_for(|s| *s) => None,
        } {
            Some(Ok(Ok(p))) => p,
            Some(Ok(Err(e))) => {
                tracing::debug!(peer = %peer, error = %e, "Connection ended with an error.");
                return;
            }
            Some(Err(_)) => {
                tracing::debug!(peer = %peer, "No request within the header timeout.");
                return;
            }
            None => return,
        },
    };
    let io = TokioIo::new(io);
    if proto == conn::Proto::H2 {
        // Boxed: HTTP/2 is rare here (firewalls poll with HTTP/1.1), and inline its state
        // would size (allocate, move) every connection's task.
        Box::pin(serve_h2(io, peer, state, limits, stop)).await;
        drop(watcher);
        return;
    }
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(routes::handle(req, peer, &state).await) }
    });
    // The builders are dropped before the connection is awaited: they stay out of the task.
    let r = match proto {
        conn::Proto::H1 => {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(64 * 1024)
                .keep_alive(true)
                .serve_connection(io, svc);
            watcher.watch(conn).await
        }
        // Served above.
        conn::Proto::H2 => return,
    };
    if let Err(e) = r {
        tracing::debug!(peer = %peer, error = %e, "Connection ended with an error.");
    }
}

/// Open streams and the last time one ended, of one HTTP/2 connection.
#[derive(Debug)]
struct Activity {
    since: std::time::Instant,
    open: std::sync::atomic::AtomicUsize,
    /// Milliseconds after `since` when the last stream ended.
    last: std::sync::atomic::AtomicU64,
}

/// A stream in progress; its end is noted when dropped.
struct Stream(Arc<Activity>);

impl Activity {
    fn begin(self: &Arc<Self>) -> Stream {
        self.open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Stream(self.clone())
    }

    /// How long the connection has had no open stream (zero while one is open).
    fn idle_for(&self) -> Duration {
        if self.open.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last.load(std::sync::atomic::Ordering::Relaxed));
        self.since.elapsed().saturating_sub(last)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last.store(ms, std::sync::atomic::Ordering::Relaxed);
        self.0
            .open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Serves an HTTP/2 connection. A connection without an open stream for `header_timeout` (the
/// idle limit of an HTTP/1 keep-alive connection) is closed with GOAWAY: PINGs and SETTINGS
/// alone do not keep it. A graceful stop sends GOAWAY at once; in-flight streams finish either
/// way, and a peer that keeps the connection after GOAWAY is cut off one more
/// `header_timeout` later.
async fn serve_h2<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    state: Arc<State>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        since: std::time::Instant::now(),
        open: std::sync::atomic::AtomicUsize::new(0),
        last: std::sync::atomic::AtomicU64::new(0),
    });
    let act = activity.clone();
    let svc = service_fn(move |req| {
        let state = state.clone();
        let stream = act.begin();
        async move {
            let r = routes::handle(req, peer, &state).await;
            drop(stream);
            Ok::<_, std::convert::Infallible>(r)
        }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(64 * 1024)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    let idle = limits.header_timeout;
    let mut closing: Option<tokio::time::Instant> = None;
    let r = loop {
        let wake = match closing {
            Some(at) => at,
            None => tokio::time::Instant::now() + idle.saturating_sub(activity.idle_for()),
        };
        tokio::select! {
            r = conn.as_mut() => break r,
            () = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    tracing::debug!(peer = %peer, "HTTP/2 connection kept open after GOAWAY; closing it.");
                    return;
                }
                if activity.idle_for() >= idle {
                    tracing::debug!(peer = %peer, "Idle HTTP/2 connection; sending GOAWAY.");
                    conn.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + idle);
                }
            }
            _ = stop.wait_for(|s| *s), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(tokio::time::Instant::now() + limits.drain);
            }
        }
    };
    if let Err(e) = r {
        tracing::debug!(peer = %peer, error = %e, "Connection ended with an error.");
    }
}

#[cfg(test)]
mod tests {
    use super::{gzip_body, Gzip, Published};

    fn with(body: &[u8], gzip: Option<Vec<u8>>) -> Published {
        let gzip = gzip.map_or(Gzip::Make, Gzip::Received);
        Published::with_gzip(body.to_vec(), gzip, "ab12", 0, "text/plain", 1, false)
    }

    #[test]
    fn a_matching_gzip_copy_is_served_as_given() {
        let body = b"192.0.2.1\n198.51.100.0/24\n".repeat(1000);
        // A copy made at another level: different bytes, same content.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
        std::io::Write::write_all(&mut gz, &body).unwrap();
        let given = gz.finish().unwrap();
        assert_ne!(given, gzip_body(&body));
        assert_eq!(with(&body, Some(given.clone())).gzip.as_ref(), &given[..]);
        assert_eq!(with(&body, None).gzip.as_ref(), &gzip_body(&body)[..]);
    }

    #[test]
    fn a_copy_that_does_not_match_the_body_is_replaced() {
        let body = b"192.0.2.1\n".repeat(100);
        let good = gzip_body(&body);
        let other = gzip_body(b"192.0.2.2\n");
        let longer = gzip_body(&[&body[..], b"x"].concat());
        let shorter = gzip_body(&body[..body.len() - 1]);
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        let truncated = good[..good.len() - 4].to_vec();
        for bad in [
            other,
            longer,
            shorter,
            trailing,
            flipped,
            truncated,
            Vec::new(),
        ] {
            assert_eq!(with(&body, Some(bad)).gzip.as_ref(), &good[..]);
        }
    }
}
