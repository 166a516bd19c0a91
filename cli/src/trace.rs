//! `-v`: a transport that prints every frame a connection sends and receives, annotated as
//! `muxwire decode` does, on stderr (`>` sent, `<` received). It wraps the socket
//! transport, so what it shows is exactly what crossed the wire.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use muxwire::{Acceptor, Endpoint, Io, IoFuture, Tls, Transport};
use muxwire_core::wire::{self, Decoded, MAX_MAX_FRAME_SIZE, PREFACE};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Sockets (plain or TLS) whose connections print their frames (after decryption).
pub(crate) struct Traced(pub(crate) Tls);

impl Transport for Traced {
    fn connect(&self, endpoint: &Endpoint) -> IoFuture<'_, Io> {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let io = self.0.connect(&endpoint).await?;
            let mut traced = Io::new(
                Box::pin(Tee::new(io.read, '<')),
                Box::pin(Tee::new(io.write, '>')),
                io.peer,
            );
            traced.identity = io.identity;
            Ok(traced)
        })
    }

    fn listen(&self, endpoint: &Endpoint) -> IoFuture<'_, Box<dyn Acceptor>> {
        self.0.listen(endpoint)
    }
}

/// One direction's bytes, cut into frames as they pass.
struct FrameLog {
    arrow: char,
    buf: Vec<u8>,
    /// The preface was seen (or the stream did not start with one).
    past_preface: bool,
    /// The stream broke the protocol: stop annotating, say so once.
    gave_up: bool,
}

impl FrameLog {
    fn feed(&mut self, bytes: &[u8]) {
        if self.gave_up {
            return;
        }
        self.buf.extend_from_slice(bytes);
        if !self.past_preface {
            if self.buf.len() < PREFACE.len() {
                return;
            }
            if self.buf[..PREFACE.len()] == PREFACE {
                eprintln!("{} PREFACE", self.arrow);
                self.buf.drain(..PREFACE.len());
            }
            self.past_preface = true;
        }
        let mut at = 0;
        loop {
            match wire::decode(&self.buf[at..], MAX_MAX_FRAME_SIZE) {
                Ok(Decoded::Frame { frame, len }) => {
                    let mut lines = crate::decode::frame_lines(&frame).into_iter();
                    if let Some(head) = lines.next() {
                        eprintln!("{} {head}", self.arrow);
                    }
                    for l in lines {
                        eprintln!("           {l}");
                    }
                    at += len;
                }
                Ok(Decoded::Incomplete { .. }) => break,
                Err(e) => {
                    eprintln!("{} invalid bytes: {e}; no more frames shown", self.arrow);
                    self.gave_up = true;
                    break;
                }
            }
        }
        self.buf.drain(..at);
    }
}

/// A read or write half that shows its bytes to a [`FrameLog`].
struct Tee<T: ?Sized> {
    inner: Pin<Box<T>>,
    log: Arc<Mutex<FrameLog>>,
}

impl<T: ?Sized> Tee<T> {
    fn new(inner: Pin<Box<T>>, arrow: char) -> Tee<T> {
        Tee {
            inner,
            log: Arc::new(Mutex::new(FrameLog {
                arrow,
                buf: Vec::new(),
                past_preface: false,
                gave_up: false,
            })),
        }
    }

    fn show(&self, bytes: &[u8]) {
        if let Ok(mut log) = self.log.lock() {
            log.feed(bytes);
        }
    }
}

impl<T: AsyncRead + ?Sized> AsyncRead for Tee<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = self.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let new = buf.filled()[before..].to_vec();
            self.show(&new);
        }
        r
    }
}

impl<T: AsyncWrite + ?Sized> AsyncWrite for Tee<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.inner.as_mut().poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.show(&buf[..n]);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }
}
