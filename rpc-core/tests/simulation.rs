//! Thousands of seeded random scenarios through the two-peer simulator, with the byte
//! streams split at random points. Invariants: no panic, no protocol error between two
//! correct peers, every call ends exactly once on both sides, ids never collide, credit
//! never goes negative, storage stays bounded, and everything drains at the end.

mod common;

use std::collections::BTreeMap as HashMap;

use common::*;
use muxwire_core::conn::{CallSpec, Error};
use muxwire_core::time::Duration;
use muxwire_core::wire::{StatusCode, StreamId};
use proptest::strategy::Strategy;

#[derive(Default)]
struct Book {
    /// Calls this side made that have not ended: id -> streaming (not yet half-closed).
    mine: HashMap<u32, bool>,
    /// Calls the peer made that this side must still answer: id -> cancelled.
    theirs: HashMap<u32, bool>,
    ended_mine: u64,
    ended_theirs: u64,
    opened: u64,
    served: u64,
}

fn apply_events(peer: &mut Peer, book: &mut Book, seed: u64) {
    for ev in peer.take_events() {
        if std::env::var("MUXWIRE_TRACE").is_ok() {
            eprintln!("{:?} {:.120}", peer.conn.side(), format!("{ev:?}"));
        }
        match ev {
            Ev::Call {
                stream,
                one_way: false,
                ..
            } => {
                assert!(
                    book.theirs.insert(stream, false).is_none(),
                    "seed {seed}: duplicate incoming id {stream}"
                );
                book.served += 1;
            }
            Ev::Status { stream, .. } | Ev::CallFailed { stream, .. } => {
                assert!(
                    book.mine.remove(&stream).is_some(),
                    "seed {seed}: call {stream} ended twice or never opened"
                );
                book.ended_mine += 1;
            }
            Ev::Cancelled { stream, code } => {
                if code == StatusCode::UNAVAILABLE {
                    book.theirs.remove(&stream);
                    book.ended_theirs += 1;
                } else if let Some(c) = book.theirs.get_mut(&stream) {
                    *c = true;
                }
            }
            Ev::DeadlineExceeded { stream } | Ev::CallAborted { stream, .. } => {
                assert!(
                    book.theirs.remove(&stream).is_some(),
                    "seed {seed}: served call {stream} ended twice"
                );
                book.ended_theirs += 1;
            }
            Ev::Message { stream, data, .. } => peer.conn.consume(StreamId(stream), data.len()),
            Ev::Call {
                msg: Some((data, _)),
                one_way: true,
                ..
            } => peer.conn.consume(StreamId(0), data.len()),
            Ev::Closed { code, .. } => assert_eq!(code, 0, "seed {seed}: connection failed"),
            _ => {}
        }
    }
}

/// One step of the model, chosen by the seeded generator or by proptest.
#[derive(Debug, Clone, Copy)]
struct Op {
    server: bool,
    kind: u8,
    size: u16,
    extra: u8,
    advance_ms: u8,
}

impl Op {
    fn random(rng: &mut Rng) -> Op {
        Op {
            server: rng.below(2) == 0,
            kind: rng.below(9) as u8,
            size: rng.below(3000) as u16,
            extra: rng.below(256) as u8,
            advance_ms: if rng.below(5) == 0 {
                1 + rng.below(8) as u8
            } else {
                0
            },
        }
    }
}

fn act(peer: &mut Peer, book: &mut Book, op: &Op, now: muxwire_core::time::Instant) {
    let body = vec![op.extra; usize::from(op.size) % 3000];
    match op.kind % 9 {
        0 | 1 => {
            let mut spec = CallSpec::unary("m", &body);
            if op.extra % 4 == 0 {
                spec.deadline = Some(Duration::from_millis(1 + u64::from(op.extra % 20)));
            }
            if let Ok(id) = peer.call(now, &spec) {
                book.mine.insert(id, false);
                book.opened += 1;
            }
        }
        2 => {
            if let Ok(id) = peer.call(now, &streaming("s")) {
                book.mine.insert(id, true);
                book.opened += 1;
            }
        }
        3 => {
            let spec = CallSpec {
                one_way: true,
                ..CallSpec::unary("n", &body)
            };
            let _ = peer.call(now, &spec);
        }
        4 => {
            // Send on or half-close one of my streaming calls.
            if let Some((&id, _)) = book.mine.iter().find(|(_, &open)| open) {
                let end = op.extra % 2 == 0;
                match peer.send(now, id, Some(&body), end) {
                    Ok(()) if end => {
                        book.mine.insert(id, false);
                    }
                    Ok(())
                    | Err(Error::Blocked { .. } | Error::InvalidState | Error::UnknownStream) => {}
                    Err(e) => panic!("send: {e}"),
                }
            }
        }
        5 => {
            if let Some(&id) = book
                .mine
                .keys()
                .nth(usize::from(op.extra) % (book.mine.len() + 1))
            {
                if peer
                    .conn
                    .cancel(now, StreamId(id), StatusCode::CANCELLED)
                    .is_ok()
                {
                    book.mine.remove(&id);
                    book.ended_mine += 1;
                }
            }
        }
        6 | 7 => {
            // Answer a served call (cancelled ones with CANCELLED).
            if let Some((&id, &cancelled)) = book.theirs.iter().next() {
                let code = if cancelled {
                    StatusCode::CANCELLED
                } else {
                    StatusCode::OK
                };
                let reply: &[u8] = if cancelled {
                    b""
                } else {
                    &body[..body.len().min(500)]
                };
                let r = peer.reply(now, id, code, Some(reply));
                if std::env::var("MUXWIRE_TRACE").is_ok() {
                    eprintln!("{:?} reply {id} {code:?} -> {r:?}", peer.conn.side());
                }
                match r {
                    Ok(()) => {
                        book.theirs.remove(&id);
                        book.ended_theirs += 1;
                    }
                    Err(Error::Blocked { .. } | Error::InvalidState) => {}
                    Err(e) => panic!("reply {id}: {e}"),
                }
            }
        }
        _ => {
            if let Some(&id) = book.theirs.keys().next() {
                let _ = peer.send(now, id, Some(&body[..body.len().min(100)]), false);
            }
        }
    }
}

fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let ops: Vec<Op> = (0..60).map(|_| Op::random(&mut rng)).collect();
    run_ops(&ops, seed ^ 0xDEAD_BEEF, seed);
}

/// Plays `ops` through a pair whose byte streams are split by a generator seeded with
/// `split`, then winds down and checks that every call ended exactly once on both sides.
fn run_ops(ops: &[Op], split: u64, seed: u64) {
    let mut p = Pair::default_pair();
    p.split = Some(Rng(split | 1));
    let (mut bc, mut bs) = (Book::default(), Book::default());
    for op in ops {
        let now = p.now;
        if op.server {
            act(&mut p.server, &mut bs, op, now);
        } else {
            act(&mut p.client, &mut bc, op, now);
        }
        p.step();
        apply_events(&mut p.client, &mut bc, seed);
        apply_events(&mut p.server, &mut bs, seed);
        if op.advance_ms > 0 {
            p.advance(Duration::from_millis(u64::from(op.advance_ms)));
            apply_events(&mut p.client, &mut bc, seed);
            apply_events(&mut p.server, &mut bs, seed);
        }
        p.client
            .conn
            .check_invariants()
            .unwrap_or_else(|e| panic!("seed {seed}: client {e}"));
        p.server
            .conn
            .check_invariants()
            .unwrap_or_else(|e| panic!("seed {seed}: server {e}"));
    }
    // Wind down: finish every stream, answer every call, until nothing is left.
    for _ in 0..400 {
        let now = p.now;
        for (peer, book) in [(&mut p.client, &mut bc), (&mut p.server, &mut bs)] {
            let open: Vec<u32> = book
                .mine
                .iter()
                .filter(|(_, &o)| o)
                .map(|(&id, _)| id)
                .collect();
            for id in open {
                if peer.send(now, id, None, true).is_ok() {
                    book.mine.insert(id, false);
                }
            }
            let served: Vec<(u32, bool)> = book.theirs.iter().map(|(&k, &v)| (k, v)).collect();
            for (id, cancelled) in served {
                let code = if cancelled {
                    StatusCode::CANCELLED
                } else {
                    StatusCode::OK
                };
                if peer.reply(now, id, code, None).is_ok() {
                    book.theirs.remove(&id);
                    book.ended_theirs += 1;
                }
            }
        }
        p.step();
        apply_events(&mut p.client, &mut bc, seed);
        apply_events(&mut p.server, &mut bs, seed);
        if bc.mine.is_empty()
            && bs.mine.is_empty()
            && bc.theirs.is_empty()
            && bs.theirs.is_empty()
            && p.client.conn.open_streams() == 0
            && p.server.conn.open_streams() == 0
        {
            break;
        }
        p.advance(Duration::from_millis(5));
    }
    if std::env::var("MUXWIRE_TRACE").is_ok() {
        for id in bs.mine.keys() {
            eprintln!(
                "server {id}: {:?}; client {:?}",
                p.server.conn.stream_state(StreamId(*id)),
                p.client.conn.stream_state(StreamId(*id))
            );
            eprintln!(
                "queues {:?} {:?}",
                p.server.conn.queue_depths(),
                p.client.conn.queue_depths()
            );
            eprintln!(
                "inbox {} {}; closed {:?} {:?}",
                p.server.inbox.len(),
                p.client.inbox.len(),
                p.server.conn.close_reason(),
                p.client.conn.close_reason()
            );
        }
    }
    assert!(
        bc.mine.is_empty() && bs.mine.is_empty(),
        "seed {seed}: calls never ended: {:?} {:?}",
        bc.mine,
        bs.mine
    );
    assert!(
        bc.theirs.is_empty() && bs.theirs.is_empty(),
        "seed {seed}: calls never answered"
    );
    assert_eq!(
        p.client.conn.open_streams(),
        0,
        "seed {seed}: client slots leaked"
    );
    assert_eq!(
        p.server.conn.open_streams(),
        0,
        "seed {seed}: server slots leaked"
    );
    assert_eq!(bc.opened, bc.ended_mine, "seed {seed}");
    assert_eq!(bs.opened, bs.ended_mine, "seed {seed}");
    assert!(
        !p.client.conn.is_closed() && !p.server.conn.is_closed(),
        "seed {seed}: closed"
    );
}

#[test]
fn thousands_of_random_scenarios() {
    // MUXWIRE_SEED=n reruns one scenario.
    if let Some(seed) = std::env::var("MUXWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return run(seed);
    }
    for seed in 1..=3000 {
        run(seed);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

    /// The same model, with operation lists proptest can shrink to a minimal failing case.
    #[test]
    fn model_every_call_ends_exactly_once(
        ops in proptest::collection::vec(
            (proptest::prelude::any::<bool>(), 0u8..9, 0u16..3000, proptest::prelude::any::<u8>(), 0u8..8)
                .prop_map(|(server, kind, size, extra, advance_ms)| Op { server, kind, size, extra, advance_ms }),
            1..80,
        ),
        split in proptest::prelude::any::<u64>(),
    ) {
        run_ops(&ops, split, 0);
    }
}
