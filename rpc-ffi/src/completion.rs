//! Where an asynchronous call's outcome goes: a C callback or a completion queue, exactly
//! once, even if the runtime stops before the call ends.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use bytes::Bytes;
use muxwire::Status;

use crate::args::UserData;
use crate::error::{c_string, set_last_error, set_last_failure};
use crate::outcome::split;
use crate::queue::QueueShared;
use crate::result::muxwire_result;

/// Receives the outcome of an asynchronous call, once, on a library thread. `status` is
/// `MUXWIRE_RESULT_OK` with the reply in `body`/`body_len`, or the call's status code
/// with `message` saying why (body NULL); for a failure, `muxwire_last_error_details` and
/// `muxwire_last_error_trailers` give the status's DETAILS and trailers during the
/// callback. All of these are valid only until the callback returns.
/// It must return quickly and must not make blocking muxwire calls (they fail with
/// FAILED_PRECONDITION there); it may start other asynchronous calls.
#[allow(non_camel_case_types)]
pub type muxwire_call_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        status: muxwire_result,
        body: *const u8,
        body_len: usize,
        message: *const c_char,
    ),
>;

/// The callback, without the Option.
type CallFn = unsafe extern "C" fn(*mut c_void, muxwire_result, *const u8, usize, *const c_char);

/// One destination for one call's outcome.
pub(crate) enum Sink {
    /// A C callback and its userdata.
    Callback(CallFn, UserData),
    /// A completion queue and the tag the completion carries.
    Queue(Arc<QueueShared>, u64),
}

/// Delivers to its sink exactly once: with the outcome, or, if dropped before (the
/// runtime stopped and dropped the call), with UNAVAILABLE.
pub(crate) struct Delivery(Option<Sink>);

impl Delivery {
    /// A delivery to `sink`.
    pub(crate) fn new(sink: Sink) -> Delivery {
        Delivery(Some(sink))
    }

    /// Hands `outcome` to the sink.
    pub(crate) fn deliver(mut self, outcome: Result<Bytes, Status>) {
        if let Some(sink) = self.0.take() {
            send(sink, outcome);
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            send(
                sink,
                Err(Status::unavailable(
                    "the runtime stopped before the call finished",
                )),
            );
        }
    }
}

fn send(sink: Sink, outcome: Result<Bytes, Status>) {
    match sink {
        Sink::Callback(f, userdata) => {
            let s = split(outcome);
            let message = c_string(&s.message);
            let failed = s.status != muxwire_result::Ok;
            let ptr = if failed {
                std::ptr::null()
            } else {
                s.body.as_ptr()
            };
            if failed {
                // The callback reads them with muxwire_last_error_details / _trailers.
                set_last_failure(&s.message, s.details, s.trailers);
            }
            // SAFETY: the C caller gave `f` for this call; the body and message live
            // across it, as its documentation promises.
            unsafe {
                f(
                    userdata.get(),
                    s.status,
                    ptr,
                    s.body.len(),
                    message.as_ptr(),
                )
            };
            if failed {
                // Nothing of this call outlives its callback on this library thread.
                set_last_error("");
            }
        }
        Sink::Queue(queue, tag) => queue.push(tag, outcome),
    }
}
