//! Codec benchmarks: header decode, whole-frame decode and encode for 64 B and 64 KiB
//! bodies, with and without CRC, beside a `memcpy` of the same bytes as the baseline.
//!
//! Run with `make bench` (or `cargo bench -p muxwire-core --bench codec`).
#![allow(missing_docs)]

use core::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use muxwire_core::wire::{self, Decoded, Flags, FrameEncoder, FrameType, Tag, MAX_MAX_FRAME_SIZE};

fn unary_call(body: &[u8], crc: bool, out: &mut [u8]) -> usize {
    let mut enc = FrameEncoder::new(out, FrameType::CALL, 1u32, 0).unwrap();
    enc.tlv(Tag::METHOD, b"bench.echo").unwrap();
    let mut flags = Flags::END_STREAM | Flags::MESSAGE;
    if crc {
        flags |= Flags::CRC;
    }
    enc.finish_with_body(flags, body).unwrap()
}

fn bench_header(c: &mut Criterion) {
    let mut buf = vec![0u8; 256];
    let n = unary_call(&[7u8; 64], false, &mut buf);
    let frame = &buf[..n];
    c.bench_function("header/decode_header", |b| {
        b.iter(|| black_box(wire::decode_header(black_box(frame))))
    });
}

/// The hot frames of a call in flight: DATA and a STATUS reply, no metadata.
fn bench_small(c: &mut Criterion) {
    let mut buf = vec![0u8; 256];
    let body = [7u8; 64];
    for (name, ty, flags) in [
        ("data", FrameType::DATA, Flags::MESSAGE),
        ("status_reply", FrameType::STATUS, Flags::MESSAGE),
    ] {
        let enc = FrameEncoder::new(&mut buf, ty, 1u32, 0).unwrap();
        let n = enc.finish_with_body(flags, &body).unwrap();
        let frame = buf[..n].to_vec();
        c.bench_function(&format!("small_64B/decode/{name}"), |b| {
            b.iter(
                || match wire::decode(black_box(&frame), MAX_MAX_FRAME_SIZE) {
                    Ok(Decoded::Frame { frame, len }) => black_box((frame.body().len(), len)),
                    _ => unreachable!(),
                },
            )
        });
    }
}

fn bench_sizes(c: &mut Criterion) {
    for (label, size) in [("64B", 64usize), ("64KiB", 65_536)] {
        let body = vec![0xA5u8; size];
        let mut group = c.benchmark_group(format!("frame_{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        for crc in [false, true] {
            let tag = if crc { "crc" } else { "plain" };
            let mut buf = vec![0u8; size + 128];
            let n = unary_call(&body, crc, &mut buf);
            let frame = buf[..n].to_vec();
            group.bench_function(format!("decode/{tag}"), |b| {
                b.iter(
                    || match wire::decode(black_box(&frame), MAX_MAX_FRAME_SIZE) {
                        Ok(Decoded::Frame { frame, len }) => black_box((frame.body().len(), len)),
                        _ => unreachable!(),
                    },
                )
            });
            let mut out = vec![0u8; size + 128];
            group.bench_function(format!("encode/{tag}"), |b| {
                b.iter(|| black_box(unary_call(black_box(&body), crc, &mut out)))
            });
            // The vectored path: header and metadata only, body left in place.
            group.bench_function(format!("encode_head/{tag}"), |b| {
                b.iter(|| {
                    let mut enc = FrameEncoder::new(&mut out, FrameType::CALL, 1u32, 0).unwrap();
                    enc.tlv(Tag::METHOD, b"bench.echo").unwrap();
                    let f = Flags::END_STREAM | Flags::MESSAGE;
                    let f = if crc { f | Flags::CRC } else { f };
                    let head = enc.finish_head(f, body.len()).unwrap();
                    let trailer = if crc {
                        wire::crc_trailer(&out[..head], black_box(&body))
                    } else {
                        [0; 4]
                    };
                    black_box((head, trailer))
                })
            });
        }
        // Baseline in the same run: copying the body once.
        let mut dst = vec![0u8; size];
        group.bench_function("baseline/memcpy", |b| {
            b.iter_batched_ref(
                || (),
                |_| {
                    dst.copy_from_slice(black_box(&body));
                    black_box(dst.as_ptr());
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function("baseline/crc32", |b| {
            b.iter(|| black_box(wire::crc32(black_box(&body))))
        });
        group.finish();
    }
}

criterion_group!(benches, bench_header, bench_small, bench_sizes);
criterion_main!(benches);
