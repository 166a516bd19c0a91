//! Two connections back to back in memory, no syscalls: unary 64 B echo calls, 128 in
//! flight per round. Reports calls per second on one core; the allocation count per call
//! is asserted (0) by `tests/no_alloc.rs`, which runs the same exchange.
//!
//! Run with `make bench` (or `cargo bench -p muxwire-core --bench pair`).
#![allow(missing_docs)]

use core::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use muxwire_core::conn::StreamSlot;

#[path = "../tests/support/echo_round.rs"]
mod echo_round;

use echo_round::{round, setup, Bufs, IN_FLIGHT};

fn bench_pair(c: &mut Criterion) {
    let mut cs = vec![StreamSlot::EMPTY; 512];
    let mut ss = vec![StreamSlot::EMPTY; 512];
    let mut bufs = Bufs {
        c2s: vec![0; 1 << 20],
        s2c: vec![0; 1 << 20],
    };
    let (mut client, mut server) = setup(&mut cs, &mut ss, &mut bufs);
    let body = [0x5Au8; 64];
    let mut group = c.benchmark_group("pair");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function("unary_64B_x128", |bch| {
        bch.iter(|| {
            assert_eq!(
                black_box(round(&mut client, &mut server, &mut bufs, &body)),
                IN_FLIGHT
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench_pair);
criterion_main!(benches);
