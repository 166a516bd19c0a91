//! The runner's end of a live connection: a blocking socket, frames written with the
//! reference encoder and read back with the reference decoder (which validates every frame
//! the implementation under test sends), each wait bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use muxwire_core::wire::{
    self, Decoded, Flags, FrameEncoder, FrameType, Settings, StreamId, Tag, PREFACE,
};

/// A frame as received: its fields, owned.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub(crate) ty: FrameType,
    pub(crate) flags: Flags,
    pub(crate) stream: u32,
    pub(crate) arg: u32,
    /// The metadata TLVs, in order.
    pub(crate) meta: Vec<(u16, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Got {
    /// A short description for failure messages.
    pub(crate) fn show(&self) -> String {
        format!(
            "{} stream {} flags {:#04x} arg {} body {} bytes",
            self.ty.name(),
            self.stream,
            self.flags.0,
            self.arg,
            self.body.len()
        )
    }

    /// The first value of metadata `tag`.
    pub(crate) fn tag(&self, tag: Tag) -> Option<&[u8]> {
        self.meta
            .iter()
            .find(|(t, _)| *t == tag.0)
            .map(|(_, v)| &v[..])
    }
}

/// What a read found instead of a frame.
#[derive(Debug)]
pub(crate) enum Gone {
    /// The peer closed the transport.
    Eof,
    /// Nothing complete arrived in time.
    Timeout,
    /// The peer sent bytes that are not a valid frame, or the socket failed.
    Broken(String),
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gone::Eof => f.write_str("the connection was closed"),
            Gone::Timeout => f.write_str("nothing arrived in time"),
            Gone::Broken(why) => f.write_str(why),
        }
    }
}

enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// One connection to the implementation under test.
pub(crate) struct Peer {
    sock: Sock,
    buf: Vec<u8>,
    /// How long one wait for the peer may take.
    pub(crate) patience: Duration,
    /// The peer's HELLO settings, once the handshake is done.
    pub(crate) settings: Settings,
}

impl Peer {
    /// The accepted end of a TCP connection.
    pub(crate) fn accepted_tcp(s: TcpStream, patience: Duration) -> Peer {
        let _ = s.set_nodelay(true);
        Peer::over(Sock::Tcp(s), patience)
    }

    /// The accepted end of a Unix socket connection.
    pub(crate) fn accepted_unix(s: UnixStream, patience: Duration) -> Peer {
        Peer::over(Sock::Unix(s), patience)
    }

    fn over(sock: Sock, patience: Duration) -> Peer {
        Peer {
            sock,
            buf: Vec::new(),
            patience,
            settings: Settings::INITIAL,
        }
    }

    /// Connects to `url` (`tcp://host:port` or `unix:///path`).
    pub(crate) fn connect(url: &str, patience: Duration) -> Result<Peer, String> {
        let sock = if let Some(addr) = url.strip_prefix("tcp://") {
            let s = TcpStream::connect(addr).map_err(|e| format!("connect {url}: {e}"))?;
            let _ = s.set_nodelay(true);
            Sock::Tcp(s)
        } else if let Some(path) = url.strip_prefix("unix://") {
            Sock::Unix(UnixStream::connect(path).map_err(|e| format!("connect {url}: {e}"))?)
        } else {
            return Err(format!("{url}: use tcp://host:port or unix:///path"));
        };
        Ok(Peer::over(sock, patience))
    }

    /// Writes raw bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let r = match &mut self.sock {
            Sock::Tcp(s) => s.write_all(bytes),
            Sock::Unix(s) => s.write_all(bytes),
        };
        r.map_err(|e| format!("writing to the implementation: {e}"))
    }

    fn read_some(&mut self, until: Instant) -> Result<(), Gone> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Gone::Timeout);
        }
        let mut chunk = [0u8; 64 * 1024];
        let r = match &mut self.sock {
            Sock::Tcp(s) => s
                .set_read_timeout(Some(left))
                .and_then(|()| s.read(&mut chunk)),
            Sock::Unix(s) => s
                .set_read_timeout(Some(left))
                .and_then(|()| s.read(&mut chunk)),
        };
        match r {
            Ok(0) => Err(Gone::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(Gone::Timeout)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(Gone::Eof),
            Err(e) => Err(Gone::Broken(format!("reading: {e}"))),
        }
    }

    /// Waits (at most `patience`) until a whole frame is at the front of the buffer.
    fn whole_frame(&mut self) -> Result<(), Gone> {
        let until = Instant::now() + self.patience;
        loop {
            match wire::decode(&self.buf, 1 << 24) {
                Ok(Decoded::Frame { .. }) => return Ok(()),
                Ok(Decoded::Incomplete { .. }) => self.read_some(until)?,
                Err(e) => {
                    return Err(Gone::Broken(format!(
                        "the implementation sent an invalid frame: {e}"
                    )))
                }
            }
        }
    }

    /// The next frame, waiting at most `patience`.
    pub(crate) fn frame(&mut self) -> Result<Got, Gone> {
        self.whole_frame()?;
        let Ok(Decoded::Frame { frame, len }) = wire::decode(&self.buf, 1 << 24) else {
            return Err(Gone::Broken("a whole frame no longer decodes".into()));
        };
        let got = Got {
            ty: frame.ty(),
            flags: frame.flags(),
            stream: frame.stream_id().0,
            arg: frame.arg(),
            meta: frame
                .metadata()
                .iter()
                .map(|t| (t.tag.0, t.value.to_vec()))
                .collect(),
            body: frame.body().to_vec(),
        };
        self.buf.drain(..len);
        Ok(got)
    }

    /// The next frame other than WINDOW (credit returns may come at any time).
    pub(crate) fn next(&mut self) -> Result<Got, Gone> {
        loop {
            let f = self.frame()?;
            if f.ty != FrameType::WINDOW {
                return Ok(f);
            }
        }
    }

    /// Sends the preface and a HELLO with the initial settings, and checks that the
    /// implementation's first bytes are its preface and a HELLO.
    pub(crate) fn handshake(&mut self) -> Result<(), String> {
        self.handshake_with(Settings::INITIAL)
    }

    /// The same, advertising `ours`.
    pub(crate) fn handshake_with(&mut self, ours: Settings) -> Result<(), String> {
        let mut hello = PREFACE.to_vec();
        let mut b = [0u8; 256];
        let n = ours
            .encode_hello(&mut b, None, Flags::NONE)
            .map_err(|e| e.to_string())?;
        hello.extend_from_slice(&b[..n]);
        self.write(&hello)?;
        let until = Instant::now() + self.patience;
        while self.buf.len() < PREFACE.len() {
            self.read_some(until)
                .map_err(|e| format!("waiting for the preface: {e}"))?;
        }
        if self.buf[..PREFACE.len()] != PREFACE {
            return Err(format!(
                "the implementation's first bytes are not the preface: {:02x?}",
                &self.buf[..PREFACE.len()]
            ));
        }
        self.buf.drain(..PREFACE.len());
        self.whole_frame()
            .map_err(|e| format!("waiting for HELLO: {e}"))?;
        let Ok(Decoded::Frame { frame, len }) = wire::decode(&self.buf, 1 << 24) else {
            return Err("a whole frame no longer decodes".into());
        };
        if frame.ty() != FrameType::HELLO {
            return Err(format!(
                "the first frame is {}, not HELLO",
                frame.ty().name()
            ));
        }
        self.settings = Settings::from_hello(frame.arg(), &frame.metadata());
        self.buf.drain(..len);
        Ok(())
    }

    /// Writes a frame of `ty` on `stream` with `meta` and `body`.
    pub(crate) fn send(
        &mut self,
        ty: FrameType,
        flags: Flags,
        stream: u32,
        arg: u32,
        meta: &[(Tag, &[u8])],
        body: &[u8],
    ) -> Result<(), String> {
        self.write(&encode(ty, flags, stream, arg, meta, body)?)
    }
}

/// One frame's bytes.
pub(crate) fn encode(
    ty: FrameType,
    flags: Flags,
    stream: u32,
    arg: u32,
    meta: &[(Tag, &[u8])],
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let room = 64 + body.len() + meta.iter().map(|(_, v)| v.len() + 4).sum::<usize>();
    let mut out = vec![0u8; room];
    let mut e =
        FrameEncoder::new(&mut out, ty, StreamId(stream), arg).map_err(|e| e.to_string())?;
    for (t, v) in meta {
        e.tlv(*t, v).map_err(|e| e.to_string())?;
    }
    let n = e.finish_with_body(flags, body).map_err(|e| e.to_string())?;
    out.truncate(n);
    Ok(out)
}
