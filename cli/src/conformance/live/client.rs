//! `muxwire conformance live --listen URL -- CMD ...`: judges a client. The runner listens,
//! starts the client command once per scenario (`{url}` in its arguments becomes the
//! listening URL), plays the server's part of the scenario on the connection the client
//! opens, and checks both the frames and the command's exit status.

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muxwire_core::wire::{ErrorCode, Flags, FrameType, Settings, StatusCode, Tag};

use super::peer::{encode, Gone, Peer};

/// What the client command's exit status must be.
#[derive(Clone, Copy)]
pub(crate) enum Exit {
    /// 0: the call succeeded.
    Success,
    /// Not 0: the call failed and the client said so.
    Failure,
    /// Either (the client may retry elsewhere or give up).
    Either,
}

/// A client scenario: the server's part, on the client's first connection.
pub(crate) struct ClientScenario {
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) run: fn(&mut Peer) -> Result<(), String>,
    pub(crate) exit: Exit,
}

/// Every client scenario, in order (ids `C<n>`, never reused).
pub(crate) const CLIENT_SCENARIOS: &[ClientScenario] = &[
    ClientScenario {
        id: 1,
        name: "a call: preface, HELLO, a valid CALL on an odd id; the reply is taken",
        run: plain,
        exit: Exit::Success,
    },
    ClientScenario {
        id: 2,
        name: "the reply as DATA, then a STATUS without MESSAGE",
        run: reply_in_data,
        exit: Exit::Success,
    },
    ClientScenario {
        id: 3,
        name: "a PING from the server is answered while the call is open",
        run: server_ping,
        exit: Exit::Success,
    },
    ClientScenario {
        id: 4,
        name: "an error STATUS fails the call",
        run: error_status,
        exit: Exit::Failure,
    },
    ClientScenario {
        id: 5,
        name: "GOAWAY then REFUSED: no new call on that connection, which the client closes",
        run: drained,
        exit: Exit::Either,
    },
    ClientScenario {
        id: 6,
        name: "an unknown extension frame is skipped",
        run: extension_frame,
        exit: Exit::Success,
    },
];

/// A listening socket.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Listens on `url` for scenario `id`: a Unix socket at the path with `-ID` appended
    /// (which must not exist yet); the URL it listens on.
    pub(crate) fn bind(url: &str, id: &str) -> Result<(Listener, String), String> {
        if let Some(addr) = url.strip_prefix("tcp://") {
            let l = TcpListener::bind(addr).map_err(|e| format!("listen on {url}: {e}"))?;
            let at = l.local_addr().map_err(|e| e.to_string())?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            return Ok((Listener::Tcp(l), format!("tcp://{at}")));
        }
        let Some(path) = url.strip_prefix("unix://") else {
            return Err(format!("{url}: use tcp://host:port or unix:///path"));
        };
        let path = format!("{path}-{id}");
        let l = UnixListener::bind(&path).map_err(|e| format!("listen on unix://{path}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok((
            Listener::Unix(l, path.clone().into()),
            format!("unix://{path}"),
        ))
    }

    /// A connection, if one is waiting.
    fn try_accept(&self, patience: Duration) -> Result<Option<Peer>, String> {
        let accepted = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Peer::accepted_tcp(s, patience)
            }),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| {
                let _ = s.set_nonblocking(false);
                Peer::accepted_unix(s, patience)
            }),
        };
        match accepted {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(format!("accept: {e}")),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs scenario `s`: starts the client, plays the server's part on its first connection,
/// serves any further connection as a plain echo server, and judges the exit status.
pub(crate) fn run_one(
    s: &ClientScenario,
    listener: &Listener,
    url: &str,
    cmd: &[String],
    patience: Duration,
) -> Result<(), String> {
    let args: Vec<String> = cmd.iter().map(|a| a.replace("{url}", url)).collect();
    let (program, rest) = args.split_first().ok_or("no client command")?;
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start client {program:?}: {e}"))?;
    let mut child = Reaped(child);
    let until = Instant::now() + patience;
    let mut peer = loop {
        if let Some(p) = listener.try_accept(patience)? {
            break p;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("the client exited ({status}) without connecting"));
        }
        if Instant::now() > until {
            return Err("the client did not connect".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (s.run)(&mut peer)?;
    drop(peer);
    let until = Instant::now() + patience;
    let status = loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            break status;
        }
        // A client that retries elsewhere finds a plain echo server.
        if let Some(mut p) = listener.try_accept(patience)? {
            serve_echo(&mut p);
        }
        if Instant::now() > until {
            return Err("the client did not exit".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    match (s.exit, status.success()) {
        (Exit::Success, false) => Err(format!(
            "the client failed ({status}) where its call should succeed"
        )),
        (Exit::Failure, true) => Err("the client exited 0 where its call should fail".into()),
        _ => Ok(()),
    }
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A call as received: its stream and the request message.
struct Request {
    stream: u32,
    body: Vec<u8>,
}

/// Handshakes (advertising the initial settings) and reads the client's first call, whole.
fn first_call(p: &mut Peer) -> Result<Request, String> {
    p.handshake_with(Settings::INITIAL)?;
    let f = loop {
        let f = p
            .next()
            .map_err(|e| format!("waiting for the client's CALL: {e}"))?;
        // A client may PING first (to see the handshake through, say): answer it.
        if f.ty == FrameType::PING && !f.flags.contains(Flags::ACK) {
            p.send(FrameType::PING, Flags::ACK, 0, f.arg, &[], &[])?;
            continue;
        }
        break f;
    };
    if f.ty != FrameType::CALL {
        return Err(format!("expected a CALL, got {}", f.show()));
    }
    if f.stream % 2 != 1 {
        return Err(format!(
            "the connecting side's CALL uses the even id {}",
            f.stream
        ));
    }
    if f.flags.contains(Flags::NO_REPLY) {
        return Err("the client's first call is one-way: make a unary call".into());
    }
    let mut body = f.body.clone();
    let mut ended = f.flags.contains(Flags::END_STREAM);
    while !ended {
        let d = p
            .next()
            .map_err(|e| format!("waiting for the rest of the request: {e}"))?;
        if d.ty != FrameType::DATA || d.stream != f.stream {
            return Err(format!(
                "expected DATA on stream {}, got {}",
                f.stream,
                d.show()
            ));
        }
        body.extend_from_slice(&d.body);
        ended = d.flags.contains(Flags::END_STREAM);
    }
    Ok(Request {
        stream: f.stream,
        body,
    })
}

fn status_ok(p: &mut Peer, r: &Request) -> Result<(), String> {
    p.send(FrameType::STATUS, Flags::MESSAGE, r.stream, 0, &[], &r.body)
}

fn plain(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    status_ok(p, &r)
}

fn reply_in_data(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    p.send(FrameType::DATA, Flags::MESSAGE, r.stream, 0, &[], &r.body)?;
    p.send(FrameType::STATUS, Flags::NONE, r.stream, 0, &[], &[])
}

fn server_ping(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    p.send(FrameType::PING, Flags::NONE, 0, 0x00c1_1e47, &[], &[])?;
    let f = p
        .next()
        .map_err(|e| format!("waiting for the PING ACK: {e}"))?;
    if f.ty != FrameType::PING || !f.flags.contains(Flags::ACK) || f.arg != 0x00c1_1e47 {
        return Err(format!("expected PING ACK 0xc11e47, got {}", f.show()));
    }
    status_ok(p, &r)
}

fn error_status(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    let reason = [(Tag::REASON, &b"conformance: an error on purpose"[..])];
    p.send(
        FrameType::STATUS,
        Flags::NONE,
        r.stream,
        StatusCode::UNAVAILABLE.0,
        &reason,
        &[],
    )
}

fn drained(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    p.send(
        FrameType::GOAWAY,
        Flags::NONE,
        0,
        ErrorCode::NO_ERROR.0,
        &[],
        &0u64.to_le_bytes(),
    )?;
    p.send(
        FrameType::STATUS,
        Flags::REFUSED,
        r.stream,
        StatusCode::UNAVAILABLE.0,
        &[],
        &[],
    )?;
    // Section 15.3: no new call here; the client closes once no stream is open.
    loop {
        match p.frame() {
            Ok(f) if f.ty == FrameType::CALL => {
                return Err(format!(
                    "a CALL after GOAWAY on the same connection: {}",
                    f.show()
                ))
            }
            Ok(_) => continue,
            Err(Gone::Eof) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "expected the client to close the drained connection: {e}"
                ))
            }
        }
    }
}

fn extension_frame(p: &mut Peer) -> Result<(), String> {
    let r = first_call(p)?;
    let mut ext = encode(FrameType::PING, Flags::NONE, 0, 0, &[], &[])?;
    // Type 0x9a, a payload of 4 bytes: an extension the client does not know.
    ext[4] = 0x9a;
    ext[..4].copy_from_slice(&4u32.to_le_bytes());
    ext.extend_from_slice(b"skip");
    p.write(&ext)?;
    status_ok(p, &r)
}

/// Serves echo calls on `p` until the client closes or goes quiet (a retry's connection).
fn serve_echo(p: &mut Peer) {
    if p.handshake().is_err() {
        return;
    }
    let mut bodies: std::collections::BTreeMap<u32, Vec<u8>> = Default::default();
    while let Ok(f) = p.next() {
        match f.ty {
            FrameType::CALL | FrameType::DATA if !f.flags.contains(Flags::NO_REPLY) => {
                let body = bodies.entry(f.stream).or_default();
                body.extend_from_slice(&f.body);
                if f.flags.contains(Flags::END_STREAM) {
                    let body = bodies.remove(&f.stream).unwrap_or_default();
                    if p.send(FrameType::STATUS, Flags::MESSAGE, f.stream, 0, &[], &body)
                        .is_err()
                    {
                        return;
                    }
                }
            }
            FrameType::PING
                if !f.flags.contains(Flags::ACK)
                    && p.send(FrameType::PING, Flags::ACK, 0, f.arg, &[], &[])
                        .is_err() =>
            {
                return
            }
            FrameType::GOAWAY => return,
            _ => {}
        }
    }
}
