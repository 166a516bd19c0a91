//! A raw peer: a TCP socket that writes hand-built frames and reads the server's frames
//! one at a time, with nothing of the runtime in between.

use muxwire_core::wire::{decode, Decoded, Flags, FrameEncoder, FrameType, Settings, Tag, PREFACE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::PATIENCE;

/// A frame the server sent, copied out of the read buffer.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) ty: FrameType,
    pub(crate) flags: Flags,
    pub(crate) stream: u32,
    pub(crate) arg: u32,
}

/// A connection driven by hand.
pub(crate) struct Peer {
    pub(crate) sock: TcpStream,
    buf: Vec<u8>,
    preface_seen: bool,
}

impl Peer {
    /// Connects to `addr` (host:port) without sending anything.
    pub(crate) async fn connect(addr: &str) -> Peer {
        Peer {
            sock: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
            preface_seen: false,
        }
    }

    /// A peer on a socket the test set up itself.
    pub(crate) fn from_stream(sock: TcpStream) -> Peer {
        Peer {
            sock,
            buf: Vec::new(),
            preface_seen: false,
        }
    }

    /// Connects and sends the preface and a HELLO with `settings`.
    pub(crate) async fn handshake(addr: &str, settings: Settings) -> Peer {
        let mut p = Peer::connect(addr).await;
        let opening = [&PREFACE[..], &hello(settings)].concat();
        p.send(&opening).await;
        p
    }

    /// Writes `bytes` in one write.
    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.sock
            .write_all(bytes)
            .await
            .expect("write (has the server closed the connection?)");
    }

    /// The next frame from the server; `None` once it closed the connection (or after
    /// [`PATIENCE`] without one: a hang detector).
    pub(crate) async fn next(&mut self) -> Option<Got> {
        loop {
            if !self.preface_seen && self.buf.len() >= PREFACE.len() {
                assert_eq!(self.buf[..PREFACE.len()], PREFACE, "the server's preface");
                self.buf.drain(..PREFACE.len());
                self.preface_seen = true;
            }
            if self.preface_seen {
                if let Ok(Decoded::Frame { frame, len }) = decode(&self.buf, 1 << 24) {
                    let got = Got {
                        ty: frame.ty(),
                        flags: frame.flags(),
                        stream: frame.stream_id().0,
                        arg: frame.arg(),
                    };
                    self.buf.drain(..len);
                    return Some(got);
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = match tokio::time::timeout(PATIENCE, self.sock.read(&mut chunk)).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => 0,
                Err(_) => panic!("no frame from the server within {PATIENCE:?}"),
            };
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A HELLO frame advertising `settings`.
pub(crate) fn hello(settings: Settings) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let n = settings
        .encode_hello(&mut buf, None, Flags::NONE)
        .expect("hello");
    buf.truncate(n);
    buf
}

/// A CALL on `stream` to `method` with `flags`, an optional DEADLINE and a body (sent only
/// with MESSAGE).
pub(crate) fn call(
    stream: u32,
    flags: Flags,
    method: &str,
    deadline_us: Option<u64>,
    body: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 64 + method.len() + body.len()];
    let mut e = FrameEncoder::new(&mut buf, FrameType::CALL, stream, 0).expect("buffer");
    e.tlv(Tag::METHOD, method.as_bytes()).expect("method");
    if let Some(d) = deadline_us {
        e.tlv_u64(Tag::DEADLINE, d).expect("deadline");
    }
    let n = e.finish_with_body(flags, body).expect("call");
    buf.truncate(n);
    buf
}

/// A CALL to `method` whose request `body` goes in chunks of `chunk` bytes (the CALL
/// carries the first, DATA frames the rest, the last one ending the stream).
pub(crate) fn chunked_call(stream: u32, method: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let more = Flags::MESSAGE | Flags::MORE;
    let mut parts = body.chunks(chunk);
    let mut out = call(stream, more, method, None, parts.next().unwrap_or(&[]));
    let rest: Vec<&[u8]> = parts.collect();
    for (i, part) in rest.iter().enumerate() {
        let flags = if i + 1 == rest.len() {
            Flags::MESSAGE | Flags::END_STREAM
        } else {
            more
        };
        out.extend(frame(FrameType::DATA, flags, stream, 0, part));
    }
    out
}

/// A frame without metadata: `ty` on `stream` with Argument `arg`, `flags` and `body`.
pub(crate) fn frame(ty: FrameType, flags: Flags, stream: u32, arg: u32, body: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 32 + body.len()];
    let e = FrameEncoder::new(&mut buf, ty, stream, arg).expect("buffer");
    let n = e.finish_with_body(flags, body).expect("frame");
    buf.truncate(n);
    buf
}

/// A PING with opaque value `arg`.
pub(crate) fn ping(arg: u32) -> Vec<u8> {
    frame(FrameType::PING, Flags::NONE, 0, arg, &[])
}
