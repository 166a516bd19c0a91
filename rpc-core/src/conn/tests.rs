//! Unit tests of the binding-facing API: event kinds and views, the credit query, status
//! specs with pre-encoded metadata, the inline agent and the stable error numbers.

use super::*;
use crate::time::Duration;
use crate::wire::{EntryBlock, Metadata, StatusCode};

type Conn<'a> = Connection<&'a mut [StreamSlot]>;

const NOW: Instant = Instant(1_000);

/// Moves bytes both ways until neither side has anything to send.
fn pump(a: &mut Conn<'_>, b: &mut Conn<'_>, buf: &mut [u8]) {
    for _ in 0..8 {
        let n = a.poll_transmit(NOW, buf).unwrap();
        assert_eq!(b.handle_input(NOW, &buf[..n]).unwrap(), n);
        while b.poll_event().is_some() {}
        let n = b.poll_transmit(NOW, buf).unwrap();
        assert_eq!(a.handle_input(NOW, &buf[..n]).unwrap(), n);
        while a.poll_event().is_some() {}
    }
}

fn pair<'a>(cs: &'a mut [StreamSlot], ss: &'a mut [StreamSlot]) -> (Conn<'a>, Conn<'a>) {
    let client = Connection::new(Config::new(Side::Connector), cs, NOW);
    let server = Connection::new(Config::new(Side::Acceptor), ss, NOW);
    (client, server)
}

#[test]
fn event_view_borrows_the_input() {
    let (mut cs, mut ss) = ([StreamSlot::EMPTY; 4], [StreamSlot::EMPTY; 4]);
    let (mut client, mut server) = pair(&mut cs, &mut ss);
    let mut buf = [0u8; 4096];
    pump(&mut client, &mut server, &mut buf);
    let mut meta = [0u8; 64];
    let mut block = EntryBlock::new(&mut meta);
    block.push("user", b"ada").unwrap();
    let spec = CallSpec::unary("echo", b"hi");
    let sent = client
        .open_call_with(NOW, &spec, Entries::Encoded(block.as_bytes()), &mut buf)
        .unwrap();
    let input = &buf[..sent.len];
    server.handle_input(NOW, input).unwrap();
    let ev = server.poll_event().unwrap();
    assert_eq!(ev.kind(), EventKind::Call);
    assert_eq!(ev.kind().code(), 2);
    assert_eq!(ev.kind().name(), "call");
    let v = ev.view(input);
    assert_eq!(v.stream, sent.stream);
    assert_eq!(v.method, "echo");
    assert!(v.end_stream && !v.one_way);
    assert_eq!(v.message.map(|m| m.data), Some(&b"hi"[..]));
    let entry = v.metadata.entries().next().unwrap();
    assert_eq!((entry.key, entry.value), ("user", &b"ada"[..]));
    assert!(server.poll_event().is_none());

    // The reply, described by one StatusSpec with pre-encoded entries.
    let mut out = [0u8; 256];
    let status = StatusSpec {
        code: StatusCode::NOT_FOUND,
        reason: Some("nope"),
        entries: Entries::Encoded(block.as_bytes()),
        details: Some(b"\x08\x01"),
        message: None,
    };
    let n = server
        .send_status_spec(NOW, v.stream, &status, &mut out)
        .unwrap()
        .len;
    client.handle_input(NOW, &out[..n]).unwrap();
    let ev = client.poll_event().unwrap();
    let v = ev.view(&out[..n]);
    assert_eq!(
        (v.kind, v.status),
        (EventKind::Status, StatusCode::NOT_FOUND)
    );
    assert_eq!(v.metadata.reason(), Some("nope"));
    assert_eq!(v.metadata.details(), Some(&b"\x08\x01"[..]));
    assert_eq!(v.metadata.entries().count(), 1);
}

#[test]
fn malformed_entry_block_is_refused() {
    let (mut cs, mut ss) = ([StreamSlot::EMPTY; 4], [StreamSlot::EMPTY; 4]);
    let (mut client, _server) = pair(&mut cs, &mut ss);
    let mut buf = [0u8; 512];
    let spec = CallSpec::unary("echo", b"hi");
    for bad in [&[1u8, 2, 3][..], &[0x01, 0x40, 1, 0, b'x'][..]] {
        let r = client.open_call_with(NOW, &spec, Entries::Encoded(bad), &mut buf);
        assert_eq!(r, Err(Error::InvalidArgument("metadata key")));
    }
    assert_eq!(client.open_streams(), 0);
}

#[test]
fn credit_query_registers_for_window_opened() {
    let (mut cs, mut ss) = ([StreamSlot::EMPTY; 4], [StreamSlot::EMPTY; 4]);
    let (mut client, mut server) = pair(&mut cs, &mut ss);
    let mut buf = [0u8; 1 << 16];
    pump(&mut client, &mut server, &mut buf);
    let mut spec = CallSpec::unary("up", b"");
    spec.end_stream = false;
    spec.message = None;
    let sent = client.open_call(NOW, &spec, &mut buf).unwrap();
    let id = sent.stream;
    server.handle_input(NOW, &buf[..sent.len]).unwrap();
    while server.poll_event().is_some() {}
    let window = u64::from(Config::new(Side::Acceptor).settings.initial_stream_window);
    assert_eq!(client.check_send(id, 10), Ok(window));
    // Use up the stream window in 16 KiB messages.
    let chunk = [7u8; 16_000];
    let mut sent_bytes = 0;
    while client.check_send(id, chunk.len()).is_ok() {
        let s = client
            .send_message(NOW, id, Some(Outgoing::bytes(&chunk)), false, &mut buf)
            .unwrap();
        server.handle_input(NOW, &buf[..s.len]).unwrap();
        while server.poll_event().is_some() {}
        sent_bytes += chunk.len() as u64;
    }
    let left = window - sent_bytes;
    assert_eq!(
        client.check_send(id, chunk.len()),
        Err(Error::Blocked { available: left })
    );
    assert!(client.poll_event().is_none());
    // The server consumes everything: the WINDOW it sends opens the stream again.
    server.consume(id, sent_bytes as usize);
    let n = server.poll_transmit(NOW, &mut buf).unwrap();
    client.handle_input(NOW, &buf[..n]).unwrap();
    let mut opened = false;
    while let Some(ev) = client.poll_event() {
        opened |= ev == Event::WindowOpened { stream: id };
    }
    assert!(opened);
    assert!(client.check_send(id, chunk.len()).is_ok());
    assert_eq!(
        client.check_send(StreamId(999), 1),
        Err(Error::UnknownStream)
    );
}

#[test]
fn inline_agent_is_sent_in_hello() {
    let mut slots = [StreamSlot::EMPTY; 1];
    let name = [b'p', b'y', b'/', b'3'];
    let agent = core::str::from_utf8(&name).unwrap();
    let cfg = Config::new(Side::Connector).with_agent(agent).unwrap();
    assert_eq!(cfg.agent_str(), Some("py/3"));
    let mut c = Connection::new(cfg, &mut slots[..], NOW);
    let mut buf = [0u8; 256];
    let n = c.poll_transmit(NOW, &mut buf).unwrap();
    let hello = &buf[crate::wire::PREFACE.len()..n];
    match crate::wire::decode(hello, crate::wire::MIN_MAX_FRAME_SIZE).unwrap() {
        crate::wire::Decoded::Frame { frame, .. } => {
            assert_eq!(
                frame.metadata().get(crate::wire::Tag::AGENT),
                Some(&b"py/3"[..])
            );
        }
        crate::wire::Decoded::Incomplete { .. } => panic!("incomplete HELLO"),
    }
    assert!(Agent::new(core::str::from_utf8(&[b'a'; 65]).unwrap()).is_err());
    let _ = Metadata::new(&[]);
}

#[test]
fn error_numbers_are_distinct_and_stable() {
    let errors = [
        Error::BufferTooSmall { needed: 1 },
        Error::UnknownStream,
        Error::InvalidState,
        Error::WrongRole,
        Error::Blocked { available: 0 },
        Error::StreamLimit,
        Error::StorageFull,
        Error::NotAccepting,
        Error::Closed,
        Error::EventsPending,
        Error::InvalidArgument("x"),
        Error::TooLarge,
        Error::QueueFull,
    ];
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e.code(), i as u32 + 1);
    }
    assert_eq!(Error::Blocked { available: 7 }.value(), 7);
    assert_eq!(EventKind::Closed as u32, 14);
    assert_eq!(FailReason::LimitExceeded.code(), 4);
    assert_eq!(
        crate::wire::Rule::FrameTooLarge {
            payload_len: 0,
            max_frame_size: 0
        }
        .code(),
        1
    );
    assert_eq!(crate::wire::Rule::TimedOut("x").code(), 46);
    assert_eq!(SLOT_SIZE, core::mem::size_of::<StreamSlot>());
    assert!(SLOT_ALIGN.is_power_of_two());
    assert_eq!(StreamSlot::count_in(SLOT_SIZE * 3 + 1), 3);
}

/// With `storage_max` set, a connection whose storage is three quarters full stops taking
/// input (instead of refusing calls) until larger storage is handed over; the streams
/// move with their state, and then the calls go on.
#[test]
fn storage_grows_instead_of_refusing() {
    let mut cs = [StreamSlot::EMPTY; 16];
    let mut small = [StreamSlot::EMPTY; 4];
    let mut large = [StreamSlot::EMPTY; 8];
    let client = Connection::new(Config::new(Side::Connector), &mut cs[..], NOW);
    let mut cfg = Config::new(Side::Acceptor);
    cfg.storage_max = 8;
    let server = Connection::new(cfg, &mut small[..], NOW);
    let (mut client, mut server) = (client, server);
    let mut buf = [0u8; 4096];
    pump(&mut client, &mut server, &mut buf);
    let mut input = [0u8; 4096];
    let mut len = 0;
    for _ in 0..5 {
        let spec = CallSpec {
            end_stream: false,
            ..CallSpec::unary("hold", b"")
        };
        len += client.open_call(NOW, &spec, &mut input[len..]).unwrap().len;
    }
    let took = server.handle_input(NOW, &input[..len]).unwrap();
    while server.poll_event().is_some() {}
    assert_eq!(server.open_streams(), 3, "stops at three quarters of 4");
    assert!(server.wants_storage() && server.awaits_room());
    assert_eq!(
        server.poll_transmit(NOW, &mut buf).unwrap(),
        0,
        "nothing refused"
    );
    let old = server.replace_storage(&mut large[..]).ok().unwrap();
    assert_eq!(old.len(), 4);
    assert!(!server.wants_storage());
    let rest = server.handle_input(NOW, &input[took..len]).unwrap();
    assert_eq!(took + rest, len);
    while server.poll_event().is_some() {}
    assert_eq!(server.open_streams(), 5);
    assert_eq!(server.storage_capacity(), 8);
    server.check_invariants().unwrap();
    let mut tiny = [StreamSlot::EMPTY; 2];
    assert!(
        server.replace_storage(&mut tiny[..]).is_err(),
        "too small for 5"
    );
}

/// A stream that still owes its ending when it leaves the table, while the event queue is
/// full (the caller polls late), keeps that ending: it is handed out once the queue has
/// been polled (before, the event was dropped and the call never ended).
#[test]
fn a_call_ending_is_not_lost_to_a_full_event_queue() {
    let (mut cs, mut ss) = ([StreamSlot::EMPTY; 4], [StreamSlot::EMPTY; 4]);
    let (mut client, mut server) = pair(&mut cs, &mut ss);
    let mut buf = [0u8; 4096];
    pump(&mut client, &mut server, &mut buf);
    let spec = CallSpec {
        end_stream: false,
        ..CallSpec::unary("hold", b"")
    };
    let id = client.open_call(NOW, &spec, &mut buf).unwrap().stream.0;
    let s = client.table.get_mut(id).unwrap();
    s.notice = Some(streams::Notice::Failed(
        StatusCode::UNAVAILABLE,
        FailReason::ConnectionClosed,
    ));
    client.table.push_back(Queue::Notices, id);
    while client.events.push(Event::StreamsAvailable).is_ok() {}
    client.remove_stream(id);
    let mut ended = 0;
    while let Some(ev) = client.poll_event() {
        if let Event::CallFailed { stream, .. } = ev {
            assert_eq!(stream.0, id);
            ended += 1;
        }
    }
    assert_eq!(ended, 1, "the call's ending was handed out once");
    assert_eq!(client.open_streams(), 0, "and the stream is gone");
    client.check_invariants().unwrap();
}

/// A frame that started to arrive is not timed while the caller holds input back (its
/// output is full, so it stops reading); once it reads again, the frame is timed from then.
#[test]
fn held_input_stops_the_frame_timer() {
    let (mut cs, mut ss) = ([StreamSlot::EMPTY; 4], [StreamSlot::EMPTY; 4]);
    let (mut client, mut server) = pair(&mut cs, &mut ss);
    let mut buf = [0u8; 4096];
    pump(&mut client, &mut server, &mut buf);
    let sent = client
        .open_call(NOW, &CallSpec::unary("echo", b"hello"), &mut buf)
        .unwrap();
    // Half a frame arrives.
    let half = sent.len / 2;
    assert_eq!(server.handle_input(NOW, &buf[..half]).unwrap(), 0);
    let timeout = Duration::from_secs(10);
    assert_eq!(
        server.poll_timeout(),
        Some(NOW + timeout),
        "the frame is timed"
    );
    server.hold_input(NOW, true);
    assert_eq!(server.poll_timeout(), None, "not while input is held");
    let later = NOW + Duration::from_secs(60);
    server.handle_timeout(later);
    assert!(
        !server.is_closed(),
        "no TIMEOUT for bytes the receiver holds back"
    );
    server.hold_input(later, false);
    assert_eq!(
        server.poll_timeout(),
        Some(later + timeout),
        "timed again from then"
    );
    let n = server.handle_input(later, &buf[..sent.len]).unwrap();
    assert_eq!(n, sent.len);
    assert!(matches!(server.poll_event(), Some(Event::Call { .. })));
}
