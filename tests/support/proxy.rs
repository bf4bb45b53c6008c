//! A TCP proxy on 127.0.0.1 that can "cut" the network between a client and its server the
//! way a failed link behind a proxy or a NAT does: [`Proxy::cut`] stops forwarding in both
//! directions but keeps every socket open (a black hole), so neither end sees a FIN or an RST
//! and the server's TCP keepalives are answered by this proxy's kernel. Connections made after
//! the cut are accepted and held, never forwarded.
//!
//! Plain threads (the tests that use it block on processes anyway); everything stops, and every
//! socket closes, when the proxy is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often blocked reads and the accept loop look at the cut and stop flags.
const TICK: Duration = Duration::from_millis(50);

/// A running proxy to one upstream address.
pub struct Proxy {
    /// The loopback port clients connect to.
    pub port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    cut: AtomicBool,
    stop: AtomicBool,
    /// Connections accepted so far.
    accepted: AtomicUsize,
    /// Sockets held open after the cut (accepted, never forwarded).
    held: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream` (loopback only).
    pub fn start(upstream: SocketAddr) -> Proxy {
        assert!(
            upstream.ip().is_loopback(),
            "the test proxy forwards to loopback only, not {upstream}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            held: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(&listener, upstream, &s));
        Proxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// Cuts the network: nothing is forwarded any more in either direction, and no socket is
    /// closed, until the proxy is dropped.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        let all: Vec<JoinHandle<()>> = self
            .shared
            .threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in all {
            let _ = t.join();
        }
        if let Ok(mut held) = self.shared.held.lock() {
            for s in held.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nonblocking(false);
                if shared.cut.load(Ordering::SeqCst) {
                    if let Ok(mut h) = shared.held.lock() {
                        h.push(client);
                    }
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let a = shared.clone();
                let b = shared.clone();
                let up = std::thread::spawn(move || pipe(client, server, &a));
                let down = std::thread::spawn(move || pipe(s2, c2, &b));
                if let Ok(mut t) = shared.threads.lock() {
                    t.push(up);
                    t.push(down);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK),
            Err(_) => std::thread::sleep(TICK),
        }
    }
}

/// Copies `from` to `to` until either ends, the proxy stops, or the network is cut; after a
/// cut, holds both sockets open (reading and discarding) until the proxy stops.
fn pipe(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf = vec![0u8; 16 * 1024];
    let mut ended = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let cut = shared.cut.load(Ordering::SeqCst);
        if ended {
            // Only after a cut: the peer's FIN is not passed on.
            std::thread::sleep(TICK);
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => {
                if cut || shared.cut.load(Ordering::SeqCst) {
                    ended = true;
                    continue;
                }
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if cut || shared.cut.load(Ordering::SeqCst) {
                    // Lost on the cut link.
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                if cut {
                    ended = true;
                    continue;
                }
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
        }
    }
}
