//! A canned-response HTTP(S) server for source tests: hyper 1 on `127.0.0.1:0`, on its own
//! Tokio runtime thread, so both plain `#[test]`s and `#[tokio::test]`s can use it; stopped on
//! drop.
//!
//! ```ignore
//! let server = FixtureServer::start(
//!     Routes::new()
//!         .reply("/drop.txt", Reply::ok("1.2.3.0/24\n").etag("\"v1\""))
//!         .sequence("/flaky", vec![Reply::status(500), Reply::ok("x\n")]),
//! );
//! let url = server.url("/drop.txt");
//! // ... fetch ...
//! assert_eq!(server.hits("/flaky"), 2);
//! ```
//!
//! A route maps a path (query ignored) to a [`Reply`] (status, headers, body, delay, truncation,
//! chunking, `ETag` / `Last-Modified` validators answered with 304, required headers or basic
//! auth answered with 401), to a sequence of them (the n-th request gets the n-th, the last
//! repeats) or to a closure of the request. Every request is recorded per path (method, URI as
//! sent — absolute-form when the server is used as a forward proxy —, headers, body), with a hit
//! counter and the peak number of requests in flight.
//!
//! TLS: [`TestPki::generate`] makes a CA, a server certificate (for `127.0.0.1` and
//! `localhost`) and a client certificate at test time, and [`FixtureServer::start_tls`] serves
//! the same routes over TLS, optionally requiring the client certificate. Why hand-written:
//! the crate has no certificate generator among its dependencies (rcgen would be a new one), and
//! Ed25519 certificates are a few dozen lines of DER signed with rustls' own ring signer. The
//! TLS side is a small blocking relay (rustls `StreamOwned`) in front of the plain hyper server,
//! because tokio-rustls is not a direct dependency either; it handles one request per connection.

// Shared by several test modules; not every module uses every helper.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

// ---------------------------------------------------------------------------------------------
// Replies and routes
// ---------------------------------------------------------------------------------------------

/// One canned response and the checks made before sending it.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    truncate: bool,
    chunked: bool,
    etag: Option<String>,
    last_modified: Option<String>,
    /// `(lowercase header name, exact value)` the request must carry, else 401.
    require: Vec<(String, String)>,
    /// `WWW-Authenticate` on that 401.
    challenge: Option<String>,
}

impl Reply {
    /// `200 OK`, `text/plain`, with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Reply::status(200)
            .content_type("text/plain; charset=utf-8")
            .body(body)
    }

    /// `code` with an empty body.
    pub fn status(code: u16) -> Self {
        Reply {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            truncate: false,
            chunked: false,
            etag: None,
            last_modified: None,
            require: Vec::new(),
            challenge: None,
        }
    }

    /// `code` with an HTML error page, as proxies and CDNs send.
    pub fn html_error(code: u16) -> Self {
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>{code} Error</title></head>\n\
             <body><h1>{code} Error</h1><p>The server is temporarily unable to service your request.</p></body></html>\n"
        );
        Reply::status(code)
            .content_type("text/html; charset=utf-8")
            .body(page)
    }

    /// A redirect (`301`, `302`, `307`, ...) to `location`.
    pub fn redirect(code: u16, location: &str) -> Self {
        Reply::status(code).header("Location", location)
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets `Content-Type`.
    pub fn content_type(self, value: &str) -> Self {
        let mut r = self;
        r.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        r.header("Content-Type", value)
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits `delay` before sending the response head (a slow server).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Announces a `Content-Length` 1000 bytes larger than the body, sends the body, then
    /// closes the connection.
    pub fn truncated(mut self) -> Self {
        self.truncate = true;
        self
    }

    /// Sends the body in several chunks without `Content-Length` (chunked encoding).
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Compresses the current body with gzip and sets `Content-Encoding: gzip`.
    pub fn gzip_encoded(mut self) -> Self {
        self.body = gzip(&self.body);
        self.header("Content-Encoding", "gzip")
    }

    /// Sends `ETag: tag` and answers a matching `If-None-Match` with 304.
    pub fn etag(mut self, tag: &str) -> Self {
        self.etag = Some(tag.to_owned());
        self
    }

    /// Sends `Last-Modified: date` and answers an equal `If-Modified-Since` with 304.
    pub fn last_modified(mut self, date: &str) -> Self {
        self.last_modified = Some(date.to_owned());
        self
    }

    /// Answers 401 unless the request has header `name` with exactly `value`.
    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.require
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Answers 401 (with a `Basic` challenge) unless the request carries these credentials.
    pub fn require_basic(mut self, user: &str, password: &str) -> Self {
        self.challenge = Some("Basic realm=\"fixture\"".to_owned());
        let token = base64(format!("{user}:{password}").as_bytes());
        self.require_header("authorization", &format!("Basic {token}"))
    }

    /// Answers 401 unless the request carries `Authorization: Bearer token`.
    pub fn require_bearer(mut self, token: &str) -> Self {
        self.challenge = Some("Bearer".to_owned());
        self.require_header("authorization", &format!("Bearer {token}"))
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent: origin-form (`/a?b`), or absolute-form through a proxy.
    pub uri: String,
    /// The path, without query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(&Request, usize) -> Reply + Send + Sync>;

/// Path → behaviour. Unknown paths get 404.
#[derive(Default, Clone)]
pub struct Routes {
    map: HashMap<String, Handler>,
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Self {
        Routes::default()
    }

    /// `path` always answers `reply`.
    pub fn reply(self, path: &str, reply: Reply) -> Self {
        self.dynamic(path, move |_, _| reply.clone())
    }

    /// The n-th request to `path` (from 0) gets `replies[n]`; the last one repeats.
    pub fn sequence(self, path: &str, replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a sequence needs at least one reply");
        self.dynamic(path, move |_, n| replies[n.min(replies.len() - 1)].clone())
    }

    /// `path` answers whatever `f(request, n)` returns, `n` counting requests to it from 0.
    pub fn dynamic(
        mut self,
        path: &str,
        f: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.map.insert(path.to_owned(), Arc::new(f));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct PathStats {
    requests: Vec<Request>,
    in_flight: usize,
    max_in_flight: usize,
}

struct State {
    routes: Routes,
    stats: Mutex<HashMap<String, PathStats>>,
    connections: AtomicUsize,
}

/// A running fixture server; stops when dropped.
pub struct FixtureServer {
    base: String,
    addr: SocketAddr,
    plain_addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Serves `routes` over plain HTTP on `127.0.0.1:<free port>`.
    pub fn start(routes: Routes) -> Self {
        Self::spawn(routes, None)
    }

    /// Serves `routes` over HTTPS with `pki`'s server certificate; with `require_client_cert`,
    /// the handshake fails unless the client presents a certificate signed by `pki`'s CA.
    /// The base URL is `https://127.0.0.1:<port>`.
    pub fn start_tls(routes: Routes, pki: &TestPki, require_client_cert: bool) -> Self {
        Self::spawn(routes, Some(pki.server_config(require_client_cert)))
    }

    fn spawn(routes: Routes, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let state = Arc::new(State {
            routes,
            stats: Mutex::new(HashMap::new()),
            connections: AtomicUsize::new(0),
        });
        let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        plain.set_nonblocking(true).expect("nonblocking");
        let plain_addr = plain.local_addr().expect("local addr");
        let tls_listener = tls.as_ref().map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            l.set_nonblocking(true).expect("nonblocking");
            l
        });
        let (addr, base) = match &tls_listener {
            Some(l) => {
                let a = l.local_addr().expect("local addr");
                (a, format!("https://{a}"))
            }
            None => (plain_addr, format!("http://{plain_addr}")),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("fixture-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fixture runtime");
                rt.block_on(serve(thread_state, plain, tls_listener.zip(tls), rx));
                // Connections still sleeping in a delayed reply are dropped, not awaited.
                rt.shutdown_background();
            })
            .expect("spawn fixture thread");
        FixtureServer {
            base,
            addr,
            plain_addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>` (or `https://` for [`FixtureServer::start_tls`]).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The base URL joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The listening address (of the TLS side for a TLS server).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plain-HTTP address, usable as a forward proxy: `format!("http://{}", s.plain_addr())`.
    pub fn plain_addr(&self) -> SocketAddr {
        self.plain_addr
    }

    /// Requests received for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.with_stats(path, |s| s.requests.len())
    }

    /// The requests received for `path`, in order.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.with_stats(path, |s| s.requests.clone())
    }

    /// The most requests for `path` that were being handled at the same time.
    pub fn max_in_flight(&self, path: &str) -> usize {
        self.with_stats(path, |s| s.max_in_flight)
    }

    /// TCP connections accepted so far (plain side).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    fn with_stats<T>(&self, path: &str, f: impl FnOnce(&PathStats) -> T) -> T {
        let stats = self.state.stats.lock().expect("stats lock");
        f(stats.get(path).unwrap_or(&PathStats::default()))
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    state: Arc<State>,
    plain: std::net::TcpListener,
    tls: Option<(std::net::TcpListener, Arc<rustls::ServerConfig>)>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let plain_addr = plain.local_addr().expect("local addr");
    let plain = tokio::net::TcpListener::from_std(plain).expect("tokio listener");
    let tls = tls.map(|(l, cfg)| {
        (
            tokio::net::TcpListener::from_std(l).expect("tokio listener"),
            cfg,
        )
    });
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = plain.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&state), req));
                    // Errors (client gone, truncation on purpose) just end the connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            accepted = async {
                match &tls {
                    Some((l, _)) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => {
                let Ok((stream, _)) = accepted else { continue };
                let Some((_, config)) = &tls else { continue };
                let config = Arc::clone(config);
                let Ok(stream) = stream.into_std() else { continue };
                tokio::task::spawn_blocking(move || {
                    let _ = tls_relay(stream, config, plain_addr);
                });
            }
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<FixtureBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let request = Request {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let path = request.path.clone();
    let n = {
        let mut stats = state.stats.lock().expect("stats lock");
        let s = stats.entry(path.clone()).or_default();
        s.requests.push(request.clone());
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.requests.len() - 1
    };
    let reply = match state.routes.map.get(&path) {
        Some(handler) => handler(&request, n),
        None => Reply::status(404).body(format!("no fixture route for {path}\n")),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let response = respond(reply, &request);
    if let Some(s) = state.stats.lock().expect("stats lock").get_mut(&path) {
        s.in_flight -= 1;
    }
    Ok(response)
}

fn respond(reply: Reply, req: &Request) -> hyper::Response<FixtureBody> {
    let mut builder = hyper::Response::builder();
    let unauthorized = reply
        .require
        .iter()
        .any(|(name, value)| req.header(name) != Some(value.as_str()));
    if unauthorized {
        builder = builder.status(401);
        if let Some(challenge) = &reply.challenge {
            builder = builder.header("WWW-Authenticate", challenge);
        }
        return builder
            .body(FixtureBody::full(b"unauthorized\n".to_vec()))
            .expect("valid response");
    }
    let not_modified = match (req.header("if-none-match"), req.header("if-modified-since")) {
        (Some(inm), _) => reply
            .etag
            .as_deref()
            .is_some_and(|tag| inm.trim() == "*" || inm.split(',').any(|t| t.trim() == tag)),
        (None, Some(ims)) => reply.last_modified.as_deref() == Some(ims),
        (None, None) => false,
    };
    if let Some(tag) = &reply.etag {
        builder = builder.header("ETag", tag);
    }
    if let Some(date) = &reply.last_modified {
        builder = builder.header("Last-Modified", date);
    }
    if not_modified {
        return builder
            .status(304)
            .body(FixtureBody::full(Vec::new()))
            .expect("valid response");
    }
    builder = builder.status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name, value);
    }
    let body = if reply.truncate {
        builder = builder.header("Content-Length", reply.body.len() + 1000);
        FixtureBody::truncated(reply.body)
    } else if reply.chunked {
        FixtureBody::chunked(reply.body)
    } else {
        FixtureBody::full(reply.body)
    };
    builder.body(body).expect("valid response")
}

/// A response body: whole, in chunks of unknown total length, or cut short.
struct FixtureBody {
    chunks: VecDeque<Bytes>,
    exact_len: Option<u64>,
    /// For a truncated body: wait a little once the data is out (so it is flushed), then fail,
    /// which makes hyper close the connection short of the announced length.
    fail: Option<Pin<Box<tokio::time::Sleep>>>,
    fail_pending: bool,
}

impl FixtureBody {
    fn full(body: Vec<u8>) -> Self {
        FixtureBody {
            exact_len: Some(body.len() as u64),
            chunks: if body.is_empty() {
                VecDeque::new()
            } else {
                VecDeque::from([Bytes::from(body)])
            },
            fail: None,
            fail_pending: false,
        }
    }

    fn chunked(body: Vec<u8>) -> Self {
        let size = body.len().div_ceil(3).max(1);
        FixtureBody {
            chunks: body.chunks(size).map(Bytes::copy_from_slice).collect(),
            exact_len: None,
            fail: None,
            fail_pending: false,
        }
    }

    fn truncated(body: Vec<u8>) -> Self {
        FixtureBody {
            exact_len: None,
            fail_pending: true,
            ..FixtureBody::chunked(body)
        }
    }
}

impl Body for FixtureBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if !self.fail_pending {
            return Poll::Ready(None);
        }
        let sleep = self
            .fail
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.fail_pending = false;
                Poll::Ready(Some(Err(std::io::Error::other(
                    "fixture: truncated on purpose",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && !self.fail_pending
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// One TLS connection: handshake, read one request head (and body by `Content-Length`),
/// forward it with `Connection: close` to the plain server, copy the answer back.
fn tls_relay(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    upstream: SocketAddr,
) -> std::io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
        // The handshake happens in the first read; a refused client certificate ends here
        // (rustls sends the alert first).
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut content_length = 0usize;
    let mut lines = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            lines.push(line);
        }
    }
    let mut forwarded = lines.join("\r\n");
    forwarded.push_str("\r\nConnection: close\r\n\r\n");
    let mut rest = buf[head_end..].to_vec();
    while rest.len() < content_length {
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    let mut up = std::net::TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    up.write_all(forwarded.as_bytes())?;
    up.write_all(&rest)?;
    loop {
        let n = up.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        tls.write_all(&chunk[..n])?;
        tls.flush()?;
    }
    tls.conn.send_close_notify();
    tls.flush()
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("write to Vec");
    enc.finish().expect("finish gzip")
}

/// A zip archive of `(name, data)` members, deflated; a name ending in `/` is a directory.
pub fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        if name.ends_with('/') {
            w.add_directory(*name, opts).expect("add dir");
        } else {
            w.start_file(*name, opts).expect("start file");
            w.write_all(data).expect("write member");
        }
    }
    w.finish().expect("finish zip").into_inner()
}

/// Standard base64 with padding (for PEM and basic auth).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Test PKI
// ---------------------------------------------------------------------------------------------

/// A CA, a server certificate for `127.0.0.1` / `localhost` and a client certificate, all
/// Ed25519, written as PEM files in a temporary directory (removed on drop). The keys derive
/// from fixed seeds: they protect nothing.
pub struct TestPki {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM): what a client's `ca_file` should point to.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub server_key: PathBuf,
    /// The client certificate (PEM), signed by the CA.
    pub client_cert: PathBuf,
    /// The client's private key (PEM, PKCS#8).
    pub client_key: PathBuf,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_pkcs8: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CertRole {
    Ca,
    Server,
    Client,
}

impl TestPki {
    /// Generates the certificates and writes the PEM files.
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_pkcs8 = ed25519_pkcs8([0x11; 32]);
        let server_pkcs8 = ed25519_pkcs8([0x22; 32]);
        let client_pkcs8 = ed25519_pkcs8([0x33; 32]);
        let ca_key = signing_key(&ca_pkcs8);
        let ca = certificate(
            1,
            "edlforge test CA",
            &ca_pkcs8,
            "edlforge test CA",
            &*ca_key,
            CertRole::Ca,
        );
        let server = certificate(
            2,
            "localhost",
            &server_pkcs8,
            "edlforge test CA",
            &*ca_key,
            CertRole::Server,
        );
        let client = certificate(
            3,
            "edlforge test client",
            &client_pkcs8,
            "edlforge test CA",
            &*ca_key,
            CertRole::Client,
        );
        let write = |name: &str, label: &str, der: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem(label, der)).expect("write PEM");
            path
        };
        TestPki {
            ca_cert: write("ca.pem", "CERTIFICATE", &ca),
            server_cert: write("server.pem", "CERTIFICATE", &server),
            server_key: write("server.key", "PRIVATE KEY", &server_pkcs8),
            client_cert: write("client.pem", "CERTIFICATE", &client),
            client_key: write("client.key", "PRIVATE KEY", &client_pkcs8),
            ca_der: CertificateDer::from(ca),
            server_der: CertificateDer::from(server),
            server_pkcs8,
            dir,
        }
    }

    /// The directory holding the PEM files (for writing broken variants next to them).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("CA as root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_pkcs8.clone()));
        let mut config = builder
            .with_single_cert(vec![self.server_der.clone()], key)
            .expect("server certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// PKCS#8 v1 for an Ed25519 key (RFC 8410): a fixed prefix and the 32-byte seed.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

fn signing_key(pkcs8: &[u8]) -> Arc<dyn rustls::sign::SigningKey> {
    rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8.to_vec()))
        .expect("Ed25519 key")
}

/// DER: tag, length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        assert!(n < 0x10000, "DER value too long for this helper");
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

fn name(cn: &str) -> Vec<u8> {
    let atv = seq(&[&der(0x06, OID_CN), &der(0x0c, cn.as_bytes())]);
    seq(&[&der(0x31, &atv)])
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let critical: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
    seq(&[&der(0x06, oid), critical, &der(0x04, value)])
}

/// An X.509 v3 certificate for the Ed25519 key `subject_pkcs8`, signed by `issuer_key`, valid
/// 2000-01-01 to 2099-12-31.
fn certificate(
    serial: u8,
    subject_cn: &str,
    subject_pkcs8: &[u8],
    issuer_cn: &str,
    issuer_key: &dyn rustls::sign::SigningKey,
    role: CertRole,
) -> Vec<u8> {
    let spki = signing_key(subject_pkcs8)
        .public_key()
        .expect("Ed25519 public key")
        .as_ref()
        .to_vec();
    let algorithm = seq(&[&der(0x06, OID_ED25519)]);
    let mut extensions = Vec::new();
    if role == CertRole::Ca {
        extensions.push(extension(
            OID_BASIC_CONSTRAINTS,
            true,
            &seq(&[&[0x01, 0x01, 0xff]]),
        ));
        // keyCertSign | cRLSign
        extensions.push(extension(OID_KEY_USAGE, true, &der(0x03, &[0x01, 0x06])));
    } else {
        extensions.push(extension(OID_BASIC_CONSTRAINTS, true, &seq(&[])));
        // digitalSignature
        extensions.push(extension(OID_KEY_USAGE, true, &der(0x03, &[0x07, 0x80])));
    }
    if role == CertRole::Server {
        let names = seq(&[&der(0x82, b"localhost"), &der(0x87, &[127, 0, 0, 1])]);
        extensions.push(extension(OID_SUBJECT_ALT_NAME, false, &names));
    }
    let extension_refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    let tbs = seq(&[
        &der(0xa0, &der(0x02, &[2])),
        &der(0x02, &[serial]),
        &algorithm,
        &name(issuer_cn),
        &seq(&[&der(0x17, b"000101000000Z"), &der(0x18, b"20991231235959Z")]),
        &name(subject_cn),
        &spki,
        &der(0xa3, &seq(&extension_refs)),
    ]);
    let signature = issuer_key
        .choose_scheme(&[rustls::SignatureScheme::ED25519])
        .expect("Ed25519 signer")
        .sign(&tbs)
        .expect("sign certificate");
    let mut bits = vec![0u8];
    bits.extend(signature);
    seq(&[&tbs, &algorithm, &der(0x03, &bits)])
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[test]
fn base64_matches_rfc4648_vectors() {
    for (input, want) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), want);
    }
}
