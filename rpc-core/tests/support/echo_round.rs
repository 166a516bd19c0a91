//! A unary echo exchange between two in-memory connections, shared by the pair
//! benchmark and the no-alloc test.
#![allow(dead_code, unreachable_pub)]

use muxwire_core::conn::{CallSpec, Config, Connection, Event, Outgoing, StreamSlot};
use muxwire_core::time::Instant;
use muxwire_core::wire::{Side, StatusCode};

/// Calls in flight per round.
pub const IN_FLIGHT: usize = 128;

/// The two directions' byte buffers, allocated once.
pub struct Bufs {
    pub c2s: Vec<u8>,
    pub s2c: Vec<u8>,
}

impl Bufs {
    pub fn new() -> Bufs {
        Bufs {
            c2s: vec![0; 1 << 20],
            s2c: vec![0; 1 << 20],
        }
    }
}

/// One round: the client pipelines `IN_FLIGHT` calls, the server answers each, the client
/// collects every reply. Returns the number of replies.
pub fn round(
    client: &mut Connection<&mut [StreamSlot]>,
    server: &mut Connection<&mut [StreamSlot]>,
    b: &mut Bufs,
    body: &[u8],
) -> usize {
    let now = Instant(1);
    let mut len = 0;
    for _ in 0..IN_FLIGHT {
        len += client
            .open_call(now, &CallSpec::unary("echo", body), &mut b.c2s[len..])
            .unwrap()
            .len;
    }
    len += client.poll_transmit(now, &mut b.c2s[len..]).unwrap();
    let mut pos = 0;
    let mut out = 0;
    while pos < len {
        let input = &b.c2s[pos..len];
        let n = server.handle_input(now, input).unwrap();
        while let Some(ev) = server.poll_event() {
            if let Event::Call {
                stream,
                message: Some(m),
                ..
            } = ev
            {
                let req = m.data.get(input);
                out += server
                    .send_status(
                        now,
                        stream,
                        StatusCode::OK,
                        None,
                        &[],
                        Some(Outgoing::bytes(req)),
                        &mut b.s2c[out..],
                    )
                    .unwrap()
                    .len;
                server.consume(stream, req.len());
            }
        }
        pos += n;
    }
    out += server.poll_transmit(now, &mut b.s2c[out..]).unwrap();
    let mut pos = 0;
    let mut replies = 0;
    while pos < out {
        let input = &b.s2c[pos..out];
        let n = client.handle_input(now, input).unwrap();
        while let Some(ev) = client.poll_event() {
            if let Event::Status {
                stream,
                message: Some(m),
                ..
            } = ev
            {
                client.consume(stream, m.data.len as usize);
                replies += 1;
            }
        }
        pos += n;
    }
    replies
}

pub fn setup<'a>(
    cs: &'a mut [StreamSlot],
    ss: &'a mut [StreamSlot],
    b: &mut Bufs,
) -> (
    Connection<&'a mut [StreamSlot]>,
    Connection<&'a mut [StreamSlot]>,
) {
    let now = Instant(1);
    let mut client = Connection::new(Config::new(Side::Connector), cs, now);
    let mut cfg = Config::new(Side::Acceptor);
    cfg.settings.max_concurrent_streams = 256;
    let mut server = Connection::new(cfg, ss, now);
    let n = client.poll_transmit(now, &mut b.c2s).unwrap();
    let m = server.poll_transmit(now, &mut b.s2c).unwrap();
    server.handle_input(now, &b.c2s[..n]).unwrap();
    client.handle_input(now, &b.s2c[..m]).unwrap();
    while client.poll_event().is_some() || server.poll_event().is_some() {}
    (client, server)
}
