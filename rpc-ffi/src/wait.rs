//! Waiting on the calling (C) thread for work that runs on a runtime: the blocking half
//! of the streaming objects.

use std::future::Future;
use std::time::Duration;

use muxwire::RuntimeHandle;

use crate::error::{Failure, Outcome};
use crate::result::muxwire_result;

/// One wait's slice: long waits are made of these, each re-checking nothing but the future.
const WAIT_SLICE: Duration = Duration::from_secs(3600);

/// Polls `fut` on this thread (the runtime drives its IO) until it is done.
pub(crate) fn wait<F: Future>(rt: &RuntimeHandle, fut: F) -> Outcome<F::Output> {
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Some(v) = rt.wait_for(fut.as_mut(), WAIT_SLICE)? {
            return Ok(v);
        }
    }
}

/// Polls `fut` for up to `timeout_ms` milliseconds; AGAIN if it is not done by then.
pub(crate) fn wait_at_most<F: Future>(
    rt: &RuntimeHandle,
    fut: F,
    timeout_ms: u32,
) -> Outcome<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let d = Duration::from_millis(u64::from(timeout_ms));
    rt.wait_for(fut.as_mut(), d)?.ok_or_else(|| {
        Failure::new(
            muxwire_result::Again,
            format!("nothing arrived within {timeout_ms} ms"),
        )
    })
}
