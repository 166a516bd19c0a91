//! Thousands of seeded random scenarios through the two-peer simulator, with the byte
//! streams split at random points. Invariants: no panic, no protocol error between two
//! correct peers, every call ends exactly once on both sides, ids never collide, credit
//! never goes negative, storage stays bounded, and everything drains at the end.

mod common;

use std::collections::BTreeMap as HashMap;

use common::*;
use muxwire_core::conn::{CallSpec, Error, FailReason};
use muxwire_core::time::{Duration, Instant};
use muxwire_core::wire::{StatusCode, StreamId};
use proptest::strategy::Strategy;

/// A call this side made that has not ended yet.
#[derive(Debug, Clone, Copy)]
struct Mine {
    /// Streaming and not yet half-closed: more may be sent.
    open: bool,
    /// The call set a deadline, so it may end with DEADLINE_EXCEEDED.
    deadline: bool,
}

/// One side's ledger: what it opened, served and how each call ended.
#[derive(Default)]
struct Book {
    /// Calls this side made that have not ended.
    mine: HashMap<u32, Mine>,
    /// Calls the peer made that this side must still answer: id -> cancelled.
    theirs: HashMap<u32, bool>,
    /// Calls opened (two-way) and one-way calls sent.
    opened: u64,
    one_way_sent: u64,
    /// `open_call` attempts turned down for a reason the scenario allows (credit, limits).
    turned_down: u64,
    /// How this side's calls ended; their sum must equal `opened`.
    ok: u64,
    deadline: u64,
    refused: u64,
    cancelled: u64,
    /// Calls the peer made that reached this side (two-way), and how many were answered.
    served: u64,
    answered: u64,
    one_way_received: u64,
}

impl Book {
    fn ended_mine(&self) -> u64 {
        self.ok + self.deadline + self.refused + self.cancelled
    }

    /// Ends one of my calls exactly once.
    fn end_mine(&mut self, stream: u32, seed: u64) -> Mine {
        self.mine
            .remove(&stream)
            .unwrap_or_else(|| panic!("seed {seed}: call {stream} ended twice or never opened"))
    }

    /// Ends a served call exactly once.
    fn answer(&mut self, stream: u32, seed: u64) {
        assert!(
            self.theirs.remove(&stream).is_some(),
            "seed {seed}: served call {stream} ended twice"
        );
        self.answered += 1;
    }
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
            Ev::Call {
                msg, one_way: true, ..
            } => {
                book.one_way_received += 1;
                let len = msg.map_or(0, |m| m.0.len());
                peer.conn.consume(StreamId(0), len);
            }
            Ev::Status {
                stream,
                code,
                refused,
                ..
            } => {
                let call = book.end_mine(stream, seed);
                match (code, refused) {
                    (StatusCode::OK, false) => book.ok += 1,
                    (StatusCode::DEADLINE_EXCEEDED, false) if call.deadline => book.deadline += 1,
                    (StatusCode::UNAVAILABLE, true) => book.refused += 1,
                    _ => panic!("seed {seed}: call {stream} {call:?} ended with {code:?}, refused {refused}"),
                }
            }
            Ev::CallFailed {
                stream,
                code,
                reason,
            } => {
                let call = book.end_mine(stream, seed);
                assert!(
                    call.deadline
                        && reason == FailReason::Deadline
                        && code == StatusCode::DEADLINE_EXCEEDED,
                    "seed {seed}: call {stream} {call:?} failed: {code:?} {reason:?}"
                );
                book.deadline += 1;
            }
            Ev::Cancelled { stream, code } => {
                assert!(
                    code == StatusCode::CANCELLED || code == StatusCode::DEADLINE_EXCEEDED,
                    "seed {seed}: call {stream} cancelled with {code:?}"
                );
                if let Some(c) = book.theirs.get_mut(&stream) {
                    *c = true;
                }
            }
            Ev::DeadlineExceeded { stream } => book.answer(stream, seed),
            Ev::CallAborted { stream, code } => {
                panic!("seed {seed}: served call {stream} aborted with {code:?}")
            }
            Ev::Message { stream, data, .. } => peer.conn.consume(StreamId(stream), data.len()),
            Ev::Closed { code, .. } => panic!("seed {seed}: connection closed with {code}"),
            _ => {}
        }
    }
}

/// The one error a command may meet in these scenarios: out of credit. (A scenario has
/// at most 80 operations, so the peer's limit of 100 concurrent calls is never reached and
/// `StreamLimit` is a failure too.) Any other error is a failure of the core: surfaced.
fn expected(e: Error) -> bool {
    matches!(e, Error::Blocked { .. })
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

/// Opens a call (or sends a one-way call) and books it; only expected errors are allowed.
fn open(peer: &mut Peer, book: &mut Book, now: Instant, spec: &CallSpec<'_>, streaming: bool) {
    match peer.call(now, spec) {
        Ok(_) if spec.one_way => book.one_way_sent += 1,
        Ok(id) => {
            let call = Mine {
                open: streaming,
                deadline: spec.deadline.is_some(),
            };
            assert!(book.mine.insert(id, call).is_none(), "id {id} reused");
            book.opened += 1;
        }
        Err(e) if expected(e) => book.turned_down += 1,
        Err(e) => panic!("{:?} open_call {:?}: {e}", peer.conn.side(), spec.method),
    }
}

fn act(peer: &mut Peer, book: &mut Book, op: &Op, now: Instant) {
    let body = vec![op.extra; usize::from(op.size) % 3000];
    let side = peer.conn.side();
    match op.kind % 9 {
        0 | 1 => {
            let mut spec = CallSpec::unary("m", &body);
            if op.extra % 4 == 0 {
                spec.deadline = Some(Duration::from_millis(1 + u64::from(op.extra % 20)));
            }
            open(peer, book, now, &spec, false);
        }
        2 => open(peer, book, now, &streaming("s"), true),
        3 => {
            let spec = CallSpec {
                one_way: true,
                ..CallSpec::unary("n", &body)
            };
            open(peer, book, now, &spec, false);
        }
        4 => {
            // Send on or half-close one of my streaming calls.
            if let Some((&id, _)) = book.mine.iter().find(|(_, c)| c.open) {
                let end = op.extra % 2 == 0;
                match peer.send(now, id, Some(&body), end) {
                    Ok(()) if end => book.mine.get_mut(&id).unwrap().open = false,
                    Ok(()) => {}
                    Err(e) if expected(e) => {}
                    Err(e) => panic!("{side:?} send on {id}: {e}"),
                }
            }
        }
        5 => {
            if let Some(&id) = book
                .mine
                .keys()
                .nth(usize::from(op.extra) % (book.mine.len() + 1))
            {
                match peer.conn.cancel(now, StreamId(id), StatusCode::CANCELLED) {
                    Ok(()) => {
                        book.mine.remove(&id);
                        book.cancelled += 1;
                    }
                    Err(e) => panic!("{side:?} cancel {id}: {e}"),
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
                    eprintln!("{side:?} reply {id} {code:?} -> {r:?}");
                }
                match r {
                    Ok(()) => book.answer(id, 0),
                    Err(e) if expected(e) => {}
                    Err(e) => panic!("{side:?} reply {id}: {e}"),
                }
            }
        }
        _ => {
            // Stream to the caller of a served call; a cancelled call takes no more.
            if let Some((&id, &cancelled)) = book.theirs.iter().next() {
                match peer.send(now, id, Some(&body[..body.len().min(100)]), false) {
                    Ok(()) => assert!(!cancelled, "{side:?} sent on cancelled call {id}"),
                    Err(Error::InvalidState) if cancelled => {}
                    Err(e) if expected(e) => {}
                    Err(e) => panic!("{side:?} send on served call {id}: {e}"),
                }
            }
        }
    }
}

fn run(seed: u64) -> Totals {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let ops: Vec<Op> = (0..60).map(|_| Op::random(&mut rng)).collect();
    run_ops(&ops, seed ^ 0xDEAD_BEEF, seed)
}

/// Counts over one or more scenarios, both sides together.
#[derive(Debug, Default)]
struct Totals {
    opened: u64,
    turned_down: u64,
    ok: u64,
    deadline: u64,
    refused: u64,
    cancelled: u64,
    served: u64,
    one_way: u64,
}

impl std::ops::AddAssign<&Book> for Totals {
    fn add_assign(&mut self, b: &Book) {
        self.opened += b.opened;
        self.turned_down += b.turned_down;
        self.ok += b.ok;
        self.deadline += b.deadline;
        self.refused += b.refused;
        self.cancelled += b.cancelled;
        self.served += b.served;
        self.one_way += b.one_way_sent;
    }
}

impl std::ops::AddAssign<Totals> for Totals {
    fn add_assign(&mut self, t: Totals) {
        self.opened += t.opened;
        self.turned_down += t.turned_down;
        self.ok += t.ok;
        self.deadline += t.deadline;
        self.refused += t.refused;
        self.cancelled += t.cancelled;
        self.served += t.served;
        self.one_way += t.one_way;
    }
}

/// Plays `ops` through a pair whose byte streams are split by a generator seeded with
/// `split`, then winds down and checks that every call ended exactly once on both sides,
/// with the counts of each side matching the other's.
fn run_ops(ops: &[Op], split: u64, seed: u64) -> Totals {
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
                .filter(|(_, c)| c.open)
                .map(|(&id, _)| id)
                .collect();
            for id in open {
                match peer.send(now, id, None, true) {
                    Ok(()) => book.mine.get_mut(&id).unwrap().open = false,
                    Err(e) => panic!("seed {seed}: half-close {id}: {e}"),
                }
            }
            let served: Vec<(u32, bool)> = book.theirs.iter().map(|(&k, &v)| (k, v)).collect();
            for (id, cancelled) in served {
                let code = if cancelled {
                    StatusCode::CANCELLED
                } else {
                    StatusCode::OK
                };
                match peer.reply(now, id, code, None) {
                    Ok(()) => book.answer(id, seed),
                    Err(e) => panic!(
                        "seed {seed}: final reply {id}: {e} ({:?})",
                        peer.conn.stream_state(StreamId(id))
                    ),
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
            && [&p.client, &p.server]
                .iter()
                .all(|peer| peer.in_flight.is_empty() && peer.inbox.is_empty())
        {
            break;
        }
        p.advance(Duration::from_millis(5));
        apply_events(&mut p.client, &mut bc, seed);
        apply_events(&mut p.server, &mut bs, seed);
    }
    if std::env::var("MUXWIRE_TRACE").is_ok() {
        for id in bs.mine.keys() {
            eprintln!(
                "server {id}: {:?}; client {:?}",
                p.server.conn.stream_state(StreamId(*id)),
                p.client.conn.stream_state(StreamId(*id))
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
    assert!(
        !p.client.conn.is_closed() && !p.server.conn.is_closed(),
        "seed {seed}: closed"
    );
    // Exactly once, with counts: every call a side opened ended once (by kind), every call
    // that was not refused reached the peer once and was answered once, every one-way
    // call arrived once.
    for (me, peer, who) in [(&bc, &bs, "client"), (&bs, &bc, "server")] {
        assert_eq!(
            me.opened,
            me.ended_mine(),
            "seed {seed}: {who}'s calls ended"
        );
        assert_eq!(
            me.opened - me.refused,
            peer.served,
            "seed {seed}: {who}'s calls served by the peer"
        );
        assert_eq!(
            peer.served, peer.answered,
            "seed {seed}: {who}'s calls answered"
        );
        assert_eq!(
            me.one_way_sent, peer.one_way_received,
            "seed {seed}: {who}'s one-way calls"
        );
    }
    let mut t = Totals::default();
    t += &bc;
    t += &bs;
    t
}

/// Asserts that the scenarios made progress: most attempts opened a call, and most calls
/// were served and completed OK. Shown to fail on broken builds (each made locally in
/// `rpc-core/src/conn/mod.rs`, run, reverted): `open_call` always returning
/// `Err(Blocked)`, the error the scenario allows, passes every seed's own checks and
/// fails here with 0 calls opened; always returning `Err(StreamLimit)` or
/// `Err(StorageFull)` fails the first seed as an unexpected error; `on_status` dropping OK statuses fails as soon as the caller
/// acts on a call the core has forgotten ("cancel 8: no such open stream").
fn assert_progress(t: &Totals) {
    eprintln!("{t:?}");
    let attempts = t.opened + t.one_way + t.turned_down;
    assert!(
        t.opened + t.one_way >= attempts * 9 / 10,
        "most calls must open: {t:?}"
    );
    assert!(
        t.served >= t.opened * 8 / 10,
        "most calls must be served: {t:?}"
    );
    assert!(t.ok >= t.opened / 2, "most calls must complete OK: {t:?}");
    assert!(
        t.one_way > 0 && t.cancelled > 0 && t.deadline > 0,
        "every outcome occurs: {t:?}"
    );
}

#[test]
fn thousands_of_random_scenarios() {
    // MUXWIRE_SEED=n reruns one scenario.
    if let Some(seed) = std::env::var("MUXWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run(seed);
        return;
    }
    let mut t = Totals::default();
    for seed in 1..=3000 {
        t += run(seed);
    }
    assert_progress(&t);
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
