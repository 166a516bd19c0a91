//! Send scheduling: messages wait per stream in a [`SendQueue`] until flow-control credit
//! lets them out, cut into chunks when credit or the frame size demands; a served call's
//! STATUS waits behind its messages. `pump` sends what credit allows, and runs again when
//! the core reports the window open. Messages and replies also wait while the connection
//! has as much encoded and unwritten as it may hold (the peer is not reading): they wait
//! in their queues, listed in `room_waiters`, until the writer has caught up.

use std::collections::VecDeque;

use bytes::Bytes;
use muxwire_core::conn::{Body, Error as CoreError, Outgoing};
use muxwire_core::wire::{Codec, StatusCode, StreamId, MIN_CHUNK};

use super::arena::{body_of, core_error_status};
use super::Driver;
use crate::budget::Permit;
use crate::compress;
use crate::stats::Stats;
use crate::status::Status;
use crate::writer::FRAME_CAP;

/// One queued message: its bytes (compressed with `codec`), whether it ends the caller's
/// side, and the permit that is released once it has been written.
pub(super) struct Item {
    body: Bytes,
    end: bool,
    codec: Codec,
    permit: Option<Permit>,
}

impl Item {
    /// A message, or (without a body) the caller's bare half-close.
    pub(super) fn send(body: Option<Bytes>, end: bool, permit: Option<Permit>) -> Item {
        let codec = Codec::Identity;
        match body {
            Some(body) => Item {
                body,
                end,
                codec,
                permit,
            },
            None => Item {
                body: Bytes::new(),
                end: true,
                codec,
                permit,
            },
        }
    }

    /// A prepared message (possibly compressed) with no permit.
    pub(super) fn new(body: Bytes, end: bool, codec: Codec) -> Item {
        Item {
            body,
            end,
            codec,
            permit: None,
        }
    }
}

/// Messages waiting for credit (or for the stream to open), in order.
#[derive(Default)]
pub(super) struct SendQueue {
    /// The messages, in order.
    pub(super) items: VecDeque<Item>,
    /// The call's outcome, once its handler has it: sent after the messages.
    pub(super) status: Option<Result<Option<Bytes>, Status>>,
    /// Listed in the driver's `room_waiters` (waiting for the writer to catch up).
    waits_for_room: bool,
}

impl Driver {
    /// Compresses a body when configured and worthwhile. `codec` may already say how a
    /// retried body was compressed.
    pub(super) fn prepare(
        &self,
        body: Option<Bytes>,
        codec: Option<Codec>,
    ) -> (Option<Bytes>, Codec) {
        let Some(b) = body else {
            return (None, Codec::Identity);
        };
        let want = codec.or(self.opts.compress_with);
        match want {
            Some(c)
                if c != Codec::Identity
                    && b.len() >= self.opts.compress_threshold
                    && self.conn.peer_settings().accepts_codec(c)
                    && self.conn.is_established() =>
            {
                match compress::compress(c, &b) {
                    Some(z) => (Some(z), c),
                    None => (Some(b), Codec::Identity),
                }
            }
            _ => (Some(b), Codec::Identity),
        }
    }

    /// Puts a message (or what is left of it) back at the front of `id`'s queue.
    /// `pump` holds the queue while it sends, so it is present.
    fn requeue(&mut self, id: u32, item: Item) {
        let q = self.queues.get_mut(&id).expect("present");
        q.items.push_front(item);
    }

    /// Lists `id`'s queue as waiting for the writer to catch up (once).
    pub(super) fn wait_for_room(&mut self, id: u32) {
        if let Some(q) = self.queues.get_mut(&id) {
            if !q.waits_for_room {
                q.waits_for_room = true;
                self.room_waiters.push_back(id);
            }
        }
    }

    /// Pumps the queues that waited for the writer, in order, while there is room.
    pub(super) fn pump_room_waiters(&mut self) {
        while !self.out.is_full() {
            let Some(id) = self.room_waiters.pop_front() else {
                return;
            };
            if let Some(q) = self.queues.get_mut(&id) {
                q.waits_for_room = false;
                self.pump(id);
            }
        }
    }

    /// RESOURCE_EXHAUSTED (counted) for a message of `len` bytes that the peer's HELLO
    /// said it refuses (its max_message_size): such a message fails here and is never
    /// written, rather than sent in chunks for the peer to reject.
    pub(super) fn over_peer_limit(&self, len: usize) -> Option<Status> {
        let max = self.conn.peer_settings().max_message_size;
        if len as u64 <= u64::from(max) {
            return None;
        }
        Stats::add(&self.stats.limit_rejections, 1);
        Some(Status::resource_exhausted(format!(
            "message of {len} bytes exceeds the peer's max_message_size {max}; not sent"
        )))
    }

    /// Sends queued messages (and a queued STATUS) for `id` while credit lasts and the
    /// connection has room for more unwritten bytes.
    pub(super) fn pump(&mut self, id: u32) {
        loop {
            if self.out.is_full() {
                self.wait_for_room(id);
                return;
            }
            let Some(q) = self.queues.get_mut(&id) else {
                return;
            };
            let Some(Item {
                body,
                end,
                codec,
                permit,
            }) = q.items.pop_front()
            else {
                if let Some(result) = q.status.take() {
                    self.queues.remove(&id);
                    self.reply(id, result);
                }
                return;
            };
            let now = self.now();
            if let Some(status) = self.over_peer_limit(body.len()) {
                if self.caller.calls.contains_key(&id) {
                    let _ = self
                        .conn
                        .cancel(now, StreamId(id), StatusCode::RESOURCE_EXHAUSTED);
                    self.finish_call(id, Err(status));
                } else {
                    self.queues.remove(&id);
                    self.reply(id, Err(status));
                }
                return;
            }
            if body.is_empty() && end && self.caller.calls.contains_key(&id) {
                // A bare half-close.
                let _ = self.write_with(
                    |conn, now, out| conn.send_message(now, StreamId(id), None, true, out),
                    now,
                    None,
                );
                continue;
            }
            let credit = self.conn.send_credit(StreamId(id)) as usize;
            let frame_room = (self.conn.peer_settings().max_frame_size as usize)
                .saturating_sub(64)
                .min(FRAME_CAP);
            let room = credit.min(frame_room);
            let (now_part, rest) = if body.len() <= room {
                (body.clone(), None)
            } else if room >= MIN_CHUNK {
                (body.slice(..room), Some(body.slice(room..)))
            } else {
                // Not enough credit for even a minimal chunk: let the core record that this
                // stream waits (it reports WindowOpened when credit arrives), then wait.
                let probe = Outgoing {
                    body: Body::External(body.len().min(frame_room)),
                    codec,
                    more: false,
                };
                let _ =
                    self.conn
                        .send_message(now, StreamId(id), Some(probe), false, &mut [0u8; 0]);
                self.requeue(
                    id,
                    Item {
                        body,
                        end,
                        codec,
                        permit,
                    },
                );
                return;
            };
            let more = rest.is_some();
            // Every chunk of a message carries the message's codec (PROTOCOL.md 8.4).
            let msg = Outgoing {
                body: body_of(&now_part),
                codec,
                more,
            };
            let is_caller = self.caller.calls.contains_key(&id);
            let half = end && !more && is_caller;
            let r = self.write_with(
                |conn, now, out| conn.send_message(now, StreamId(id), Some(msg), half, out),
                now,
                Some(&now_part),
            );
            match r {
                Ok(_) => {
                    // The permit (if any) is released when the last piece is written.
                    if let Some(rest) = rest {
                        self.requeue(
                            id,
                            Item {
                                body: rest,
                                end,
                                codec,
                                permit,
                            },
                        );
                    }
                }
                Err(CoreError::Blocked { .. }) => {
                    self.requeue(
                        id,
                        Item {
                            body,
                            end,
                            codec,
                            permit,
                        },
                    );
                    return;
                }
                Err(
                    CoreError::InvalidState
                    | CoreError::UnknownStream
                    | CoreError::WrongRole
                    | CoreError::Closed,
                ) => {
                    // The stream can take no more data (a STATUS, CANCEL or deadline got
                    // there first). A caller's call ends through the core's events; a
                    // served call whose reply waited behind this data answers now, or
                    // nothing would ever end it on this side.
                    let waiting_reply = self.queues.remove(&id).is_some_and(|q| q.status.is_some());
                    if waiting_reply && self.callee.served.contains_key(&id) {
                        self.reply(id, Err(Status::cancelled("the caller stopped the call")));
                    }
                    return;
                }
                Err(e) => {
                    // The message breaks a limit: drop what is queued and make sure the call
                    // still ends on both sides.
                    self.queues.remove(&id);
                    if self.callee.served.contains_key(&id) {
                        self.reply(id, Err(core_error_status(e)));
                    } else if let Some(token) = self.caller.calls.get(&id).map(|c| c.token) {
                        self.cancel_token(token, core_error_status(e));
                    }
                    return;
                }
            }
        }
    }
}
