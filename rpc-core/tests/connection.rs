//! Scenario tests of the connection state machine: two `Connection`s through a `Pair`.

mod common;

use common::*;
use muxwire_core::conn::{CallSpec, Config, Error, FailReason, Outgoing, Role, StreamState};
use muxwire_core::time::Duration;
use muxwire_core::wire::{ErrorCode, Side, StatusCode, StreamId};

#[test]
fn handshake_then_unary_call_is_one_frame_each_way() {
    let mut p = Pair::connected();
    // HELLO each way so far.
    let (c0, s0) = (
        p.client.conn.frames_received(),
        p.server.conn.frames_received(),
    );
    assert_eq!((c0, s0), (1, 1));
    let id = p.client.call(p.now, &unary("echo", b"hello")).unwrap();
    assert_eq!(id, 1);
    let call_bytes = p.client.wire_out.len();
    assert_eq!(call_bytes, 16 + 8 + 5, "CALL = header + METHOD tlv + body");
    p.drive();
    let evs = p.server.take_events();
    assert_eq!(evs.len(), 1);
    let Ev::Call {
        stream,
        method,
        one_way,
        end,
        msg,
        ..
    } = &evs[0]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (*stream, method.as_str(), *one_way, *end),
        (1, "echo", false, true)
    );
    assert_eq!(msg.as_ref().unwrap().0, b"hello");
    p.server
        .reply(p.now, 1, StatusCode::OK, Some(b"HELLO"))
        .unwrap();
    assert_eq!(p.server.wire_out.len(), 16 + 5, "STATUS = header + body");
    p.drive();
    let evs = p.client.take_events();
    assert!(
        matches!(&evs[..], [Ev::Status { stream: 1, code: StatusCode::OK, refused: false, msg: Some(m), .. }] if m == b"HELLO"),
        "{evs:?}"
    );
    assert_eq!(p.client.conn.open_streams(), 0);
    assert_eq!(p.server.conn.open_streams(), 0);
    assert_eq!(
        (
            p.client.conn.frames_received(),
            p.server.conn.frames_received()
        ),
        (c0 + 1, s0 + 1),
        "one frame each way counted"
    );
}

#[test]
fn ids_are_reused_after_both_terminal_frames() {
    let mut p = Pair::connected();
    for _ in 0..5 {
        let id = p.client.call(p.now, &unary("echo", b"x")).unwrap();
        p.drive();
        p.server.take_events();
        p.server.reply(p.now, id, StatusCode::OK, None).unwrap();
        p.drive();
        p.client.take_events();
    }
    // Allocation moves forward; ids stay valid and free ids are reused after wrap.
    assert_eq!(p.client.conn.open_streams(), 0);
}

#[test]
fn calls_in_both_directions() {
    let mut p = Pair::connected();
    let c = p.client.call(p.now, &unary("a", b"1")).unwrap();
    let s = p.server.call(p.now, &unary("b", b"2")).unwrap();
    assert_eq!((c % 2, s % 2), (1, 0));
    p.drive();
    assert!(matches!(
        &p.server.take_events()[..],
        [Ev::Call { stream: 1, .. }]
    ));
    assert!(matches!(
        &p.client.take_events()[..],
        [Ev::Call { stream: 2, .. }]
    ));
    p.server
        .reply(p.now, c, StatusCode::OK, Some(b"r1"))
        .unwrap();
    p.client
        .reply(p.now, s, StatusCode::OK, Some(b"r2"))
        .unwrap();
    p.drive();
    assert!(matches!(
        &p.client.take_events()[..],
        [Ev::Status { stream: 1, .. }]
    ));
    assert!(matches!(
        &p.server.take_events()[..],
        [Ev::Status { stream: 2, .. }]
    ));
}

#[test]
fn streaming_both_ways_with_half_close() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &streaming("chat")).unwrap();
    p.client.send(p.now, id, Some(b"m1"), false).unwrap();
    p.client.send(p.now, id, Some(b"m2"), true).unwrap();
    assert_eq!(
        p.client
            .conn
            .send_message(p.now, StreamId(id), None, true, &mut [0; 64]),
        Err(Error::InvalidState)
    );
    p.drive();
    let evs = p.server.take_events();
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(matches!(&evs[2], Ev::Message { end: true, .. }));
    assert_eq!(
        p.server.conn.stream_state(StreamId(id)),
        Some((Role::Callee, StreamState::HalfClosedRemote))
    );
    p.server.send(p.now, id, Some(b"r1"), false).unwrap();
    p.server.send(p.now, id, Some(b"r2"), false).unwrap();
    assert_eq!(
        p.server
            .conn
            .send_message(p.now, StreamId(id), None, true, &mut [0; 64]),
        Err(Error::WrongRole)
    );
    p.server.reply(p.now, id, StatusCode::OK, None).unwrap();
    p.drive();
    let evs = p.client.take_events();
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(matches!(&evs[2], Ev::Status { msg: None, .. }));
    assert_eq!(
        p.client.conn.open_streams() + p.server.conn.open_streams(),
        0
    );
}

#[test]
fn early_status_makes_the_caller_half_close() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &streaming("upload")).unwrap();
    p.drive();
    p.server.take_events();
    p.server
        .reply(p.now, id, StatusCode::INVALID_ARGUMENT, None)
        .unwrap();
    assert_eq!(
        p.server.conn.stream_state(StreamId(id)),
        Some((Role::Callee, StreamState::StatusSent))
    );
    p.drive();
    assert!(matches!(
        &p.client.take_events()[..],
        [Ev::Status {
            code: StatusCode::INVALID_ARGUMENT,
            ..
        }]
    ));
    assert_eq!(p.client.conn.open_streams(), 0, "auto half-close written");
    assert_eq!(
        p.server.conn.open_streams(),
        0,
        "caller's terminal frame arrived"
    );
}

#[test]
fn one_way_calls_keep_no_state() {
    let mut p = Pair::connected();
    let spec = CallSpec {
        method: "log",
        deadline: None,
        entries: &[],
        one_way: true,
        end_stream: true,
        message: Some(Outgoing::bytes(b"e1")),
    };
    let a = p.client.call(p.now, &spec).unwrap();
    let b = p.client.call(p.now, &spec).unwrap();
    assert_eq!(p.client.conn.open_streams(), 0);
    assert_ne!(a, b);
    p.drive();
    let evs = p.server.take_events();
    assert_eq!(evs.len(), 2);
    assert!(matches!(&evs[0], Ev::Call { one_way: true, .. }));
    assert_eq!(p.server.conn.open_streams(), 0);
}

#[test]
fn cancel_reaches_the_callee_which_still_answers() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &unary("slow", b"")).unwrap();
    p.drive();
    p.server.take_events();
    p.client
        .conn
        .cancel(p.now, StreamId(id), StatusCode::CANCELLED)
        .unwrap();
    assert_eq!(
        p.client.conn.stream_state(StreamId(id)),
        Some((Role::Caller, StreamState::CancelSent))
    );
    p.drive();
    assert_eq!(
        p.server.take_events(),
        vec![Ev::Cancelled {
            stream: id,
            code: StatusCode::CANCELLED
        }]
    );
    p.server
        .reply(p.now, id, StatusCode::CANCELLED, None)
        .unwrap();
    p.drive();
    assert_eq!(
        p.client.take_events(),
        vec![],
        "outcome was already known locally"
    );
    assert_eq!(
        p.client.conn.open_streams() + p.server.conn.open_streams(),
        0
    );
}

#[test]
fn cancel_crossing_a_reply_is_harmless() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &unary("x", b"")).unwrap();
    p.drive();
    p.server.take_events();
    p.server
        .reply(p.now, id, StatusCode::OK, Some(b"late"))
        .unwrap();
    p.client
        .conn
        .cancel(p.now, StreamId(id), StatusCode::CANCELLED)
        .unwrap();
    p.drive();
    assert_eq!(p.client.take_events(), vec![]);
    assert_eq!(p.server.take_events(), vec![]);
    assert_eq!(
        p.client.conn.open_streams() + p.server.conn.open_streams(),
        0
    );
    assert!(!p.client.conn.is_closed() && !p.server.conn.is_closed());
}

#[test]
fn deadline_expires_on_both_sides() {
    let mut p = Pair::connected();
    let spec = CallSpec {
        deadline: Some(Duration::from_millis(50)),
        ..unary("slow", b"")
    };
    let id = p.client.call(p.now, &spec).unwrap();
    p.drive();
    let evs = p.server.take_events();
    assert!(
        matches!(&evs[0], Ev::Call { deadline: Some(d), .. } if *d == Duration::from_millis(50))
    );
    assert!(p.client.conn.poll_timeout().is_some());
    p.advance(Duration::from_millis(50));
    p.drive();
    assert!(p.client.take_events().contains(&Ev::CallFailed {
        stream: id,
        code: StatusCode::DEADLINE_EXCEEDED,
        reason: FailReason::Deadline
    }));
    assert!(p
        .server
        .take_events()
        .contains(&Ev::DeadlineExceeded { stream: id }));
    assert_eq!(
        p.client.conn.open_streams() + p.server.conn.open_streams(),
        0
    );
    // The handler's late reply is rejected locally, not sent.
    assert_eq!(
        p.server
            .conn
            .send_status(
                p.now,
                StreamId(id),
                StatusCode::OK,
                None,
                &[],
                None,
                &mut [0; 64]
            )
            .unwrap_err(),
        Error::UnknownStream
    );
}

#[test]
fn flow_control_blocks_then_opens() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &streaming("up")).unwrap();
    p.drive();
    p.server.take_events();
    let window = p.client.conn.send_credit(StreamId(id));
    assert_eq!(window, 1 << 20, "server's advertised stream window");
    let chunk = vec![1u8; 60_000];
    let mut sent = 0u64;
    loop {
        match p.client.send(p.now, id, Some(&chunk), false) {
            Ok(()) => sent += chunk.len() as u64,
            Err(Error::Blocked { available }) => {
                assert!(available < chunk.len() as u64);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent <= window);
    p.drive();
    let received: usize = p
        .server
        .take_events()
        .iter()
        .map(|e| match e {
            Ev::Message { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(received as u64, sent);
    p.server.conn.consume(StreamId(id), received);
    p.drive();
    assert!(p
        .client
        .take_events()
        .contains(&Ev::WindowOpened { stream: id }));
    p.client.send(p.now, id, Some(&chunk), true).unwrap();
}

#[test]
fn admission_limit_refuses_pipelined_calls() {
    let mut server = Config::new(Side::Acceptor);
    server.settings.max_concurrent_streams = 2;
    let mut p = Pair::new(Config::new(Side::Connector), server);
    // Pipelined before the server's HELLO arrives: the client still assumes 100.
    for _ in 0..3 {
        p.client.call(p.now, &unary("x", b"")).unwrap();
    }
    p.drive();
    let evs = p.client.take_events();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Ev::Status {
                stream: 5,
                refused: true,
                code: StatusCode::UNAVAILABLE,
                ..
            }
        )),
        "{evs:?}"
    );
    assert_eq!(p.server.conn.open_streams(), 2);
    // Now the client knows the limit.
    assert_eq!(
        p.client.call(p.now, &unary("x", b"")),
        Err(Error::StreamLimit)
    );
    p.server.reply(p.now, 1, StatusCode::OK, None).unwrap();
    p.drive();
    assert!(p.client.take_events().contains(&Ev::StreamsAvailable));
}

#[test]
fn goaway_drains_then_closes() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &unary("x", b"")).unwrap();
    p.drive();
    p.server.take_events();
    p.server.conn.drain(p.now).unwrap();
    p.drive();
    assert!(p.client.take_events().contains(&Ev::GoAway {
        code: 0,
        accepted: 1
    }));
    assert_eq!(
        p.client.call(p.now, &unary("y", b"")),
        Err(Error::NotAccepting)
    );
    p.server.reply(p.now, id, StatusCode::OK, None).unwrap();
    p.drive();
    let evs = p.client.take_events();
    assert!(matches!(evs[0], Ev::Status { .. }), "{evs:?}");
    assert!(
        evs.contains(&Ev::Closed {
            code: 0,
            by_peer: true
        }),
        "{evs:?}"
    );
    assert!(p.server.take_events().contains(&Ev::Closed {
        code: 0,
        by_peer: false
    }));
}

#[test]
fn calls_crossing_a_goaway_fail_as_retry_safe() {
    let mut p = Pair::connected();
    p.server.conn.drain(p.now).unwrap();
    p.server.transmit(p.now);
    // The client's call crosses the GOAWAY on the wire.
    let id = p.client.call(p.now, &unary("x", b"")).unwrap();
    p.drive();
    let evs = p.client.take_events();
    assert!(
        evs.contains(&Ev::CallFailed {
            stream: id,
            code: StatusCode::UNAVAILABLE,
            reason: FailReason::NotProcessed
        }),
        "{evs:?}"
    );
    assert_eq!(
        p.server
            .take_events()
            .iter()
            .filter(|e| matches!(e, Ev::Call { .. }))
            .count(),
        0
    );
    assert!(p.client.conn.is_closed() && p.server.conn.is_closed());
}

#[test]
fn ping_measures_rtt() {
    let mut p = Pair::connected();
    p.client.conn.ping(p.now).unwrap();
    p.drive();
    assert_eq!(p.client.take_events(), vec![Ev::Pong]);
}

#[test]
fn garbage_closes_with_the_named_code() {
    let mut p = Pair::connected();
    p.server.inbox.extend_from_slice(&[0u8; 16]);
    p.server.receive(p.now, None);
    let evs = p.server.take_events();
    assert!(
        evs.contains(&Ev::Closed {
            code: ErrorCode::PROTOCOL_ERROR.0,
            by_peer: false
        }),
        "{evs:?}"
    );
    p.drive();
    assert!(p.client.take_events().contains(&Ev::GoAway {
        code: 1,
        accepted: 0
    }));
    assert!(p.client.conn.is_closed());
}

#[test]
fn bad_preface_is_a_handshake_error() {
    let mut p = Pair::default_pair();
    p.server.inbox.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    p.server.receive(p.now, None);
    assert_eq!(
        p.server.conn.close_reason().unwrap().code,
        ErrorCode::HANDSHAKE_ERROR
    );
}

#[test]
fn handshake_times_out() {
    let mut p = Pair::default_pair();
    p.advance(Duration::from_secs(10));
    assert_eq!(
        p.server.conn.close_reason().unwrap().code,
        ErrorCode::TIMEOUT
    );
}

#[test]
fn stalled_half_frame_times_out() {
    let mut p = Pair::connected();
    p.client.call(p.now, &unary("x", b"abc")).unwrap();
    let bytes = std::mem::take(&mut p.client.wire_out);
    p.server.inbox.extend_from_slice(&bytes[..10]);
    p.server.receive(p.now, None);
    p.advance(Duration::from_secs(10));
    assert_eq!(
        p.server.conn.close_reason().unwrap().code,
        ErrorCode::TIMEOUT
    );
}

#[test]
fn idle_timeout_closes_gracefully() {
    let mut server = Config::new(Side::Acceptor);
    server.settings.idle_timeout_ms = 1_000;
    let mut p = Pair::new(Config::new(Side::Connector), server);
    p.drive();
    p.advance(Duration::from_secs(1));
    p.drive();
    let r = p.server.conn.close_reason().unwrap();
    assert_eq!((r.code, r.by_peer), (ErrorCode::NO_ERROR, false));
}

#[test]
fn cancel_flood_is_enhance_your_calm() {
    let mut server = Config::new(Side::Acceptor);
    server.cancel_budget = 10;
    server.settings.max_concurrent_streams = 1000;
    let mut p = Pair::new(Config::new(Side::Connector), server);
    p.drive();
    for _ in 0..11 {
        let id = p.client.call(p.now, &streaming("x")).unwrap();
        p.client
            .conn
            .cancel(p.now, StreamId(id), StatusCode::CANCELLED)
            .unwrap();
    }
    p.drive();
    assert_eq!(
        p.server.conn.close_reason().unwrap().code,
        ErrorCode::ENHANCE_YOUR_CALM
    );
}

#[test]
fn oversized_message_is_a_stream_error_naming_the_limit() {
    let mut server = Config::new(Side::Acceptor);
    server.settings.max_message_size = 1000;
    let mut p = Pair::new(Config::new(Side::Connector), server);
    p.drive();
    p.client.take_events();
    // The client knows the limit and refuses locally...
    assert_eq!(
        p.client.call(p.now, &unary("x", &[0u8; 1001])),
        Err(Error::TooLarge)
    );
    // ...and a chunked message that grows too large is caught by the server.
    let id = p.client.call(p.now, &streaming("x")).unwrap();
    let chunk = Outgoing {
        more: true,
        ..Outgoing::bytes(&[0u8; 1024])
    };
    let mut buf = vec![0u8; 4096];
    let sent = p
        .client
        .conn
        .send_message(p.now, StreamId(id), Some(chunk), false, &mut buf)
        .unwrap();
    p.client.wire_out.extend_from_slice(&buf[..sent.len]);
    p.drive();
    assert!(p.server.take_events().contains(&Ev::CallAborted {
        stream: id,
        code: StatusCode::RESOURCE_EXHAUSTED
    }));
    let evs = p.client.take_events();
    let Some(Ev::Status { code, meta, .. }) = evs.first() else {
        panic!("{evs:?}")
    };
    assert_eq!(*code, StatusCode::RESOURCE_EXHAUSTED);
    let text = String::from_utf8_lossy(meta);
    assert!(text.contains("max_message_size 1000"), "{text}");
    assert!(!p.server.conn.is_closed());
}

#[test]
fn peer_eof_fails_open_calls() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &unary("x", b"")).unwrap();
    p.client.conn.handle_eof(p.now);
    p.client.drain_events(&[]);
    let evs = p.client.take_events();
    assert_eq!(
        evs[0],
        Ev::CallFailed {
            stream: id,
            code: StatusCode::UNAVAILABLE,
            reason: FailReason::ConnectionClosed
        }
    );
    assert!(matches!(evs[1], Ev::Closed { by_peer: true, .. }));
}

#[test]
fn storage_full_is_an_error_not_a_panic() {
    let mut p = Pair::connected();
    let mut opened = 0;
    loop {
        match p.client.call(p.now, &streaming("x")) {
            Ok(_) => opened += 1,
            Err(Error::StreamLimit | Error::StorageFull) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(opened, 100, "peer's initial max_concurrent_streams");
}

#[test]
fn external_body_is_not_copied_and_gets_a_crc_trailer() {
    use muxwire_core::conn::Body;
    let mut client = Config::new(Side::Connector);
    client.send_crc = true;
    let mut p = Pair::new(client, Config::new(Side::Acceptor));
    p.drive();
    p.client.take_events();
    p.server.take_events();
    let body = vec![0xABu8; 5000];
    let spec = CallSpec {
        message: Some(Outgoing {
            body: Body::External(body.len()),
            ..Outgoing::bytes(&[])
        }),
        ..unary("big", &[])
    };
    let mut out = vec![0u8; 256];
    let sent = p.client.conn.open_call(p.now, &spec, &mut out).unwrap();
    assert!(sent.crc);
    assert!(sent.len < 64, "only the header and metadata were written");
    let head = &out[sent.len - sent.head_len..sent.len];
    p.client.wire_out.extend_from_slice(&out[..sent.len]);
    p.client.wire_out.extend_from_slice(&body);
    p.client
        .wire_out
        .extend_from_slice(&muxwire_core::wire::crc_trailer(head, &body));
    p.drive();
    let evs = p.server.take_events();
    assert!(
        matches!(&evs[..], [Ev::Call { msg: Some((m, false)), .. }] if *m == body),
        "{evs:?}"
    );
}

#[test]
fn frames_larger_than_the_peers_limit_are_refused_locally() {
    let mut p = Pair::connected();
    let big = vec![0u8; 65_536];
    assert!(matches!(
        p.client.call(p.now, &unary("x", &big)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(p.client.conn.open_streams(), 0);
}

#[test]
fn keepalive_pings_after_silence() {
    let mut client = Config::new(Side::Connector);
    client.keepalive_interval = Some(Duration::from_secs(5));
    let mut p = Pair::new(client, Config::new(Side::Acceptor));
    p.drive();
    p.client.take_events();
    p.advance(Duration::from_secs(5));
    p.drive();
    assert_eq!(p.client.take_events(), vec![Ev::Pong]);
}

#[test]
fn memory_per_connection_is_as_documented() {
    use muxwire_core::conn::{Connection, StreamSlot};
    let conn = std::mem::size_of::<Connection<&'static mut [StreamSlot]>>();
    let slot = std::mem::size_of::<StreamSlot>();
    eprintln!("Connection: {conn} bytes, StreamSlot: {slot} bytes");
    assert!(
        conn <= 8192,
        "Connection grew to {conn} bytes; update the docs"
    );
    assert!(
        slot <= 80,
        "StreamSlot grew to {slot} bytes; update the docs"
    );
}

#[test]
fn full_stream_storage_refuses_on_the_wire() {
    let now = muxwire_core::time::Instant(1_000_000);
    let mut server = Config::new(Side::Acceptor);
    server.settings.max_concurrent_streams = 100;
    let mut p = Pair {
        client: Peer::new(Config::new(Side::Connector), 16, now),
        server: Peer::new(server, 2, now),
        now,
        split: None,
    };
    p.drive();
    for _ in 0..3 {
        p.client.call(p.now, &streaming("x")).unwrap();
    }
    p.drive();
    let evs = p.client.take_events();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Ev::Status {
                stream: 5,
                refused: true,
                ..
            }
        )),
        "{evs:?}"
    );
    assert_eq!(p.server.conn.open_streams(), 2);
}

/// A window update that finds the control queue nearly full is sent once there is room
/// again; otherwise a sender waiting for that credit would wait forever.
#[test]
fn window_updates_deferred_by_a_full_control_queue_are_sent_later() {
    let mut p = Pair::connected();
    let id = p.client.call(p.now, &streaming("up")).unwrap();
    p.drive();
    p.server.take_events();
    let chunk = vec![1u8; 60_000];
    let mut sent = 0usize;
    while p.client.send(p.now, id, Some(&chunk), false).is_ok() {
        sent += chunk.len();
    }
    p.drive();
    p.server.take_events();
    // The server opens calls of its own and cancels them without transmitting: the
    // CANCELs fill its control queue.
    let mut cancelled = 0;
    while let Ok(own) = p.server.call(p.now, &streaming("x")) {
        if p.server
            .conn
            .cancel(p.now, StreamId(own), StatusCode::CANCELLED)
            .is_err()
        {
            break;
        }
        cancelled += 1;
    }
    assert!(
        cancelled > 50,
        "the control queue filled up after {cancelled}"
    );
    // Now the application consumes everything: the updates cannot be queued yet.
    p.server.conn.consume(StreamId(id), sent);
    p.drive();
    assert!(
        p.client
            .take_events()
            .contains(&Ev::WindowOpened { stream: id }),
        "the deferred WINDOW never reached the sender"
    );
    assert!(p.client.send(p.now, id, Some(&chunk), false).is_ok());
}

/// Found by the `connection` fuzz target: a buffer too small for the preface and HELLO (or
/// for the frame after them) reported the size the HELLO or the frame needed on its own,
/// without the bytes written before it, so a caller that retried with the size it was told
/// failed again, at the same size, for ever.
#[test]
fn buffer_too_small_counts_the_bytes_before_the_frame() {
    use muxwire_core::conn::{Connection, StreamSlot};
    use muxwire_core::time::Instant;
    let fresh = || {
        let mut cfg = Config::new(Side::Connector);
        cfg.send_crc = true;
        Connection::new(cfg, vec![StreamSlot::EMPTY; 4], Instant(0))
    };
    let call = CallSpec::unary("m", b"x");
    for first in 0..200 {
        let mut conn = fresh();
        let mut size = first;
        // Each retry grows the buffer, and 200 bytes hold the preface and HELLO.
        for _ in 0..=200 {
            match conn.poll_transmit(Instant(0), &mut vec![0u8; size]) {
                Err(Error::BufferTooSmall { needed }) => {
                    assert!(needed > size, "poll_transmit: {size} bytes, told {needed}");
                    size = needed;
                }
                other => {
                    assert!(matches!(other, Ok(n) if n > 0), "{other:?}");
                    break;
                }
            }
        }
        let mut conn = fresh();
        let mut size = first;
        for _ in 0..=200 {
            match conn.open_call(Instant(0), &call, &mut vec![0u8; size]) {
                Err(Error::BufferTooSmall { needed }) => {
                    assert!(needed > size, "open_call: {size} bytes, told {needed}");
                    size = needed;
                }
                other => {
                    assert!(matches!(other, Ok(sent) if sent.len <= size), "{other:?}");
                    break;
                }
            }
        }
    }
}
