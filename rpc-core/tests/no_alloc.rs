//! The proof of "no alloc": a global allocator that counts every allocation made while
//! the codec runs, over every frame vector: decode, metadata walk, settings, re-encode.
//! This file holds a single test so that no other test thread allocates concurrently.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use muxwire_core::wire::{self, Decoded, FrameEncoder, FrameType, Settings};

struct CountingAlloc;

static ARMED_ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every method forwards to `System` with the same arguments; counting is a side
// effect on an atomic and a thread-local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ARMED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            ARMED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn inputs() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/vectors/frames.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["testGroups"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| hex::decode(t["input"].as_str().unwrap()).unwrap())
        .collect()
}

/// Everything the codec offers, on one input; returns a value so nothing is optimised out.
fn exercise(input: &[u8], out: &mut [u8]) -> usize {
    let mut acc = 0usize;
    match wire::decode(input, 16_384) {
        Ok(Decoded::Frame { frame, len }) => {
            acc += len;
            let meta = frame.metadata();
            acc += meta.iter().map(|t| t.value.len()).sum::<usize>();
            acc += meta.entries().count();
            acc += meta.method().map_or(0, str::len);
            acc += meta.reason().map_or(0, str::len);
            acc += meta.deadline_us().unwrap_or(0) as usize & 1;
            if frame.ty() == FrameType::HELLO {
                let s = Settings::from_hello(frame.arg(), &meta);
                acc += s.max_frame_size as usize;
                acc += s
                    .encode_hello(out, Some("agent"), wire::Flags::CRC)
                    .unwrap();
            }
            if !frame.is_extension() {
                let mut enc =
                    FrameEncoder::new(out, frame.ty(), frame.stream_id(), frame.arg()).unwrap();
                for t in meta.iter() {
                    enc.tlv(t.tag, t.value).unwrap();
                }
                acc += enc.finish_with_body(frame.flags(), frame.body()).unwrap();
            }
        }
        Ok(Decoded::Incomplete { needed }) => acc += needed,
        Err(e) => {
            // Formatting the error into a fixed buffer must not allocate either.
            use core::fmt::Write;
            let mut w = FixedWriter {
                buf: [0; 256],
                len: 0,
            };
            let _ = write!(w, "{e}");
            acc += w.len + e.code.0 as usize;
        }
    }
    acc
}

struct FixedWriter {
    buf: [u8; 256],
    len: usize,
}

impl core::fmt::Write for FixedWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[test]
fn codec_and_connection_never_allocate() {
    let inputs = inputs();
    let mut out = vec![0u8; 1 << 16];
    // Sanity: the counter works.
    ARMED.with(|a| a.set(true));
    let probe = std::hint::black_box(Box::new(1u8));
    ARMED.with(|a| a.set(false));
    drop(probe);
    assert_eq!(
        ARMED_ALLOCS.swap(0, Ordering::SeqCst),
        1,
        "allocation counter is broken"
    );

    ARMED.with(|a| a.set(true));
    let mut acc = 0usize;
    for input in &inputs {
        acc = acc.wrapping_add(exercise(input, &mut out));
    }
    ARMED.with(|a| a.set(false));
    let allocs = ARMED_ALLOCS.swap(0, Ordering::SeqCst);
    assert_eq!(allocs, 0, "the codec allocated {allocs} times");
    assert!(acc > 0 && inputs.len() >= 80);

    let (allocs, calls) = connection_allocations_per_call();
    assert_eq!(calls, 100 * echo_round::IN_FLIGHT);
    assert_eq!(
        allocs, 0,
        "the connection allocated {allocs} times over {calls} calls"
    );
}

#[path = "support/echo_round.rs"]
mod echo_round;

/// The state machine: after warm-up, unary calls between two connections allocate nothing.
fn connection_allocations_per_call() -> (usize, usize) {
    use muxwire_core::conn::StreamSlot;
    let mut cs = vec![StreamSlot::EMPTY; 512];
    let mut ss = vec![StreamSlot::EMPTY; 512];
    let mut bufs = echo_round::Bufs::new();
    let (mut client, mut server) = echo_round::setup(&mut cs, &mut ss, &mut bufs);
    let body = [7u8; 64];
    let mut calls = 0;
    ARMED.with(|a| a.set(true));
    for _ in 0..100 {
        calls += echo_round::round(&mut client, &mut server, &mut bufs, &body);
    }
    ARMED.with(|a| a.set(false));
    (ARMED_ALLOCS.swap(0, Ordering::SeqCst), calls)
}
