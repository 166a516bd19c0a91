//! A served call's STATUS: its reply message inline when it fits, else as DATA chunks
//! first (on stream state of its own for a call answered inline), and the REASON cut short.

use bytes::Bytes;
use muxwire_core::conn::{Entries, StatusSpec};
use muxwire_core::wire::{Codec, StatusCode, StreamId};

use super::arena::{core_error_status, outgoing};
use super::callee::Served;
use super::send::Item;
use super::Driver;
use crate::status::Status;
use crate::writer::FRAME_CAP;

impl Driver {
    /// Gives a call answered inline (`inline_sync`) the stream state it needs when its
    /// reply cannot go out at once.
    pub(super) fn serve_on_stream(
        &mut self,
        stream: u32,
        method: &Bytes,
        request_codec: Option<Codec>,
    ) {
        if !self.callee.served.contains_key(&stream) {
            let gen = self.callee.next_gen;
            self.callee.next_gen += 1;
            let cancel = self.callee.cancel_state();
            let mut s = Served::new(gen, method.clone(), cancel, None, None);
            s.request_codec = request_codec;
            if let Some(w) = self.callee.inline_watch.take() {
                s.timer = w.timer;
                s.intercepted = w.intercepted;
            }
            self.callee.served.insert(stream, s);
        }
    }

    /// Writes a call's STATUS with its reply message (compressed with `request_codec`,
    /// the request's own, when worthwhile and `Options::reply_with_request_codec`), and
    /// returns the status code sent; `None` if the message is too large for one frame or
    /// the credit left, in which case it is queued as DATA chunks and the STATUS follows
    /// them (`pump` calls `reply`). A failure's REASON, DETAILS and trailers go with it.
    pub(super) fn write_reply(
        &mut self,
        stream: u32,
        method: &Bytes,
        result: Result<Option<Bytes>, Status>,
        request_codec: Option<Codec>,
    ) -> Option<StatusCode> {
        if self.out.is_full() {
            // The peer is not reading: the reply waits for the socket, and its call stays
            // open meanwhile (so MAX_CONCURRENT_STREAMS bounds the replies waiting).
            self.serve_on_stream(stream, method, request_codec);
            self.queues.entry(stream).or_default().status = Some(result);
            self.wait_for_room(stream);
            return None;
        }
        let now = self.now();
        let (body, codec, failure) = match result {
            Ok(Some(b)) => {
                let hint = request_codec.filter(|_| self.opts.reply_with_request_codec);
                let (body, codec) = self.prepare(Some(b), hint);
                (body, codec, None)
            }
            Ok(None) => (None, Codec::Identity, None),
            Err(s) => {
                // One line per failed call at info (an operator's `MUXWIRE_LOG=info`).
                let method = String::from_utf8_lossy(method);
                tracing::info!(%method, stream, code = s.code.name(), message = %s.message, "call failed");
                (None, Codec::Identity, Some(s))
            }
        };
        let frame_room = (self.conn.peer_settings().max_frame_size as usize)
            .saturating_sub(128)
            .min(FRAME_CAP);
        let credit = self.conn.send_credit(StreamId(stream)) as usize;
        if let Some(b) = &body {
            if b.len() > frame_room.min(credit) {
                // Large reply: DATA chunks first, then a STATUS without message. A call
                // answered inline (`inline_sync`) gets its stream state for that.
                self.serve_on_stream(stream, method, request_codec);
                let q = self.queues.entry(stream).or_default();
                q.items.push_back(Item::new(b.clone(), false, codec));
                q.status = Some(Ok(None));
                self.pump(stream);
                return None;
            }
        }
        let message = body.as_ref().map(|b| outgoing(b, codec));
        // Trailers are rare: only a failure that carries them pays for the pairs.
        let trailers: Vec<(&str, &[u8])> = failure
            .as_ref()
            .map(|f| {
                f.trailers
                    .iter()
                    .map(|(k, v)| (k.as_str(), &v[..]))
                    .collect()
            })
            .unwrap_or_default();
        let spec = StatusSpec {
            code: failure.as_ref().map_or(StatusCode::OK, |f| f.code),
            reason: failure.as_ref().map(|f| short_reason(&f.message)),
            entries: Entries::Pairs(&trailers),
            details: failure.as_ref().and_then(|f| f.details.as_deref()),
            message,
        };
        let code = spec.code;
        let sent = self.write_with(
            |conn, now, out| conn.send_status_spec(now, StreamId(stream), &spec, out),
            now,
            body.as_ref(),
        );
        if let Err(e) = sent {
            // The reply could not go out (it breaks the peer's limits, or a trailer key is
            // malformed): the caller still gets a STATUS, without the rest, naming why.
            let status = core_error_status(e);
            let fallback = self.write_with(
                |conn, now, out| {
                    conn.send_status(
                        now,
                        StreamId(stream),
                        status.code,
                        Some(short_reason(&status.message)),
                        &[],
                        None,
                        out,
                    )
                },
                now,
                None,
            );
            if let Err(e) = fallback {
                tracing::debug!(stream, %e, "STATUS not sent");
            }
        }
        Some(code)
    }
}

/// The longest REASON a STATUS carries: a longer message is cut at a character boundary,
/// so that a REASON quoting what the peer sent (an 8 KiB method name) still fits the
/// peer's MAX_METADATA_SIZE and the STATUS keeps its code.
const REASON_MAX: usize = 1024;

/// `message` cut to at most [`REASON_MAX`] bytes.
fn short_reason(message: &str) -> &str {
    if message.len() <= REASON_MAX {
        return message;
    }
    let mut end = REASON_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}
