//! One accepted connection: which HTTP version it speaks, and the I/O wrapper hyper gets.
//!
//! hyper-util's version-sniffing builder reads the first 24 bytes of every connection on
//! their own (a `recv` of 24 bytes, then another for the rest of the request) and wraps the
//! connection in a state machine that every later poll goes through. Here the version is known
//! without reading when TLS negotiated it (ALPN), and otherwise found with one read of up to
//! [`FIRST_READ`] bytes, which then feeds hyper's parser: one `recv` per request, as nginx
//! does. HTTP/1 and HTTP/2 connections are then served by hyper's own builders.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// The HTTP/2 connection preface a client sends first (RFC 9113 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Bytes asked for by the first read: a poll request (a few hundred bytes, with credentials)
/// fits, and the buffer stays in the allocator's small, per-thread cache; hyper reads any rest.
const FIRST_READ: usize = 1024;

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.x.
    H1,
    /// HTTP/2 (ALPN `h2`, or the prior-knowledge preface).
    H2,
}

/// A connection's I/O as hyper sees it: bytes already read (the sniffed start) are served
/// first, then reads go to the stream.
///
/// `shutdown: false` makes `poll_shutdown` a no-op for the raw TCP stream: the connection is
/// dropped (closed) right after hyper shuts it down, and `close()` sends the same FIN (or
/// RST, with unread input) as `shutdown(SHUT_WR)` followed by `close()`, one system call fewer
/// per closed connection. TLS keeps its `close_notify` (`shutdown: true` on the TLS layer).
#[derive(Debug)]
pub struct Io<T> {
    prefix: Bytes,
    io: T,
    shutdown: bool,
}

impl<T> Io<T> {
    /// Wraps a stream with nothing read yet.
    pub fn new(io: T, shutdown: bool) -> Io<T> {
        Io {
            prefix: Bytes::new(),
            io,
            shutdown,
        }
    }
}

impl<T: AsyncRead + Unpin> Io<T> {
    /// Reads the start of the connection (one read, more only while it could still be the
    /// HTTP/2 preface) and tells the protocol. The bytes read are kept for hyper.
    /// End of stream before any byte: HTTP/1 (hyper then sees the end and closes).
    pub async fn sniff(&mut self) -> io::Result<Proto> {
        let mut buf = BytesMut::with_capacity(FIRST_READ);
        loop {
            let n = self.io.read_buf(&mut buf).await?;
            let h2_so_far = H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())]);
            if n == 0 || !h2_so_far || buf.len() >= H2_PREFACE.len() {
                self.prefix = buf.freeze();
                return Ok(if h2_so_far && self.prefix.len() >= H2_PREFACE.len() {
                    Proto::H2
                } else {
                    Proto::H1
                });
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Io<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Io<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shutdown {
            Pin::new(&mut self.io).poll_shutdown(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    async fn sniffed(input: &'static [u8]) -> (Proto, Vec<u8>) {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::spawn(async move {
            // Byte by byte: the preface check must survive short reads.
            for c in input.chunks(1) {
                a.write_all(c).await.unwrap();
            }
        });
        let mut io = Io::new(b, true);
        let p = io.sniff().await.unwrap();
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        (p, all)
    }

    #[tokio::test]
    async fn sniffs_the_protocol_and_keeps_every_byte() {
        let h1 = b"GET /lists/pa HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(sniffed(h1).await, (Proto::H1, h1.to_vec()));
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04";
        assert_eq!(sniffed(h2).await, (Proto::H2, h2.to_vec()));
        // A preface cut short, then the end: HTTP/1 (hyper answers or closes).
        assert_eq!(
            sniffed(b"PRI * HTTP").await,
            (Proto::H1, b"PRI * HTTP".to_vec())
        );
        assert_eq!(sniffed(b"").await, (Proto::H1, Vec::new()));
    }
}
