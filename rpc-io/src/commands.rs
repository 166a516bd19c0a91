//! What callers and handlers ask of a connection, and the queue that carries it to the
//! driver. Pushing costs one uncontended lock; the driver takes everything queued at once
//! and is woken only when the queue turns non-empty, so a burst of commands costs one
//! wakeup. The queue also bounds one-way messages: their bytes count from the push until
//! the driver has encoded them (or dropped them), and a caller waits while the count is
//! over [`QUEUE_BUDGET`]. Under the same lock sit the reply slots where every call that
//! waits for an outcome gets it (see `replies`: a woken task or a callback), so a call
//! takes the lock once to start and once to end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use muxwire_core::wire::Codec;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::budget::{Permit, QUEUE_BUDGET};
use crate::replies::{hand_over, sort, Completion, Replies, Runs};
use crate::Status;

/// A request to the driver.
pub(crate) enum Cmd {
    /// Open a call. Its reply slot gets the final outcome; `inbound` (streaming) the
    /// messages.
    Call(Box<CallReq>),
    /// Open a unary call (the lean hot path of `Call`).
    Unary(UnaryReq),
    /// Send one-way calls to one method, in order (`Client::notify`, `notify_batch`).
    OneWay { method: Name, bodies: Bodies },
    /// Send a message (or just the caller's half-close) on a call.
    Send {
        stream: StreamKey,
        body: Option<Bytes>,
        end: bool,
        /// Released once the bytes are written; bounds what the application queues.
        permit: Option<Permit>,
    },
    /// A handler consumed `n` bytes received on its call.
    Consume { call: CallRef, n: usize },
    /// The same, for a call this side made (known by its token).
    ConsumeCall { token: u64, n: usize },
    /// Cancel a call this side made.
    Cancel { token: u64 },
    /// A handler's outcome.
    Reply {
        call: CallRef,
        result: Result<Option<Bytes>, Status>,
    },
    /// PING and report the RTT.
    Ping(oneshot::Sender<Option<std::time::Duration>>),
    /// Start a graceful drain.
    Drain,
    /// Close now.
    Close,
}

/// Which stream a `Send` is for: a call this side made (by token) or one it serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StreamKey {
    Token(u64),
    Served(CallRef),
}

/// A call this side serves: its stream id and a generation, because the peer reuses ids.
/// A handler that outlives its call (cancelled, past its deadline) must not reach the next
/// call on the same id with its reply, messages or credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallRef {
    pub(crate) stream: u32,
    pub(crate) gen: u64,
}

/// A unary call as a caller queues it: its method name is in the queue's name buffer and
/// its outcome goes to a reply slot, so it costs no allocation. `method`, `token` and
/// `slot` are filled in by [`Commands::unary`].
pub(crate) struct UnaryReq {
    pub(crate) token: u64,
    pub(crate) method: Name,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) entries: Vec<(String, Bytes)>,
    pub(crate) compress: Option<Codec>,
    pub(crate) slot: u32,
}

/// A call's method name: in the name buffer taken with the command, or owned (a call
/// kept past the commands it came with).
pub(crate) enum CallMethod {
    Queued(Name),
    Owned(String),
}

impl CallMethod {
    /// The name; `names` is the buffer taken with the command.
    pub(crate) fn of<'a>(&'a self, names: &'a str) -> &'a str {
        match self {
            CallMethod::Queued(n) => n.of(names),
            CallMethod::Owned(s) => s,
        }
    }
}

/// A call (or a one-way call that must wait for credit), as the driver opens it.
pub(crate) struct CallReq {
    pub(crate) token: u64,
    pub(crate) method: CallMethod,
    pub(crate) body: Option<Bytes>,
    pub(crate) end: bool,
    pub(crate) one_way: bool,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) entries: Vec<(String, Bytes)>,
    pub(crate) compress: Option<Codec>,
    /// The body is already in wire form (compressed with `compress`), from a retry.
    pub(crate) prepared: bool,
    /// The reply slot that gets the outcome (see `replies`); none for a one-way call
    /// nobody waits for.
    pub(crate) reply: Option<u32>,
    /// Messages of a streaming call with their wire size (credit returned when taken).
    pub(crate) inbound: Option<mpsc::UnboundedSender<Result<(Bytes, usize), Status>>>,
    /// When `timeout` runs out, on the connection's clock; set by the connection when it
    /// takes the request, so that time spent waiting to open counts (spec section 12).
    pub(crate) deadline: Option<muxwire_core::time::Instant>,
    /// The one-way bytes this request still holds in the queue's budget.
    #[allow(dead_code)]
    pub(crate) room: Option<Room>,
}

/// Tokens of calls other than unary ones (unary calls are numbered by their connection,
/// with the top bit set; this count never gets there).
static TOKENS: AtomicU64 = AtomicU64::new(1);

impl CallReq {
    /// A call to `method` with a fresh token: its body not yet in wire form, and no reply
    /// or inbound channel yet.
    pub(crate) fn new(
        method: &str,
        body: Option<Bytes>,
        end: bool,
        one_way: bool,
        timeout: Option<std::time::Duration>,
        entries: Vec<(String, Bytes)>,
        compress: Option<Codec>,
    ) -> CallReq {
        CallReq {
            token: TOKENS.fetch_add(1, Ordering::Relaxed),
            method: CallMethod::Owned(method.to_string()),
            body,
            end,
            one_way,
            timeout,
            entries,
            compress,
            prepared: false,
            reply: None,
            inbound: None,
            deadline: None,
            room: None,
        }
    }

    /// The general form of a unary call, as the driver opens it.
    pub(crate) fn unary(u: UnaryReq) -> CallReq {
        CallReq {
            token: u.token,
            method: CallMethod::Queued(u.method),
            body: Some(u.body),
            end: true,
            one_way: false,
            timeout: u.timeout,
            entries: u.entries,
            compress: u.compress,
            prepared: false,
            reply: Some(u.slot),
            inbound: None,
            deadline: None,
            room: None,
        }
    }
}

/// The bodies of one-way calls to one method: one (`notify`) or many (`notify_batch`).
pub(crate) enum Bodies {
    One(Bytes),
    Many(Vec<Bytes>),
}

/// What a one-way message costs in its connection's one-way budget besides its bytes
/// (its frame and its place in the queue), so that empty messages are bounded too.
pub(crate) const ONE_WAY_OVERHEAD: usize = 64;

/// What the one-way message `body` costs in the budget.
pub(crate) fn one_way_cost(body: &Bytes) -> usize {
    body.len() + ONE_WAY_OVERHEAD
}

impl Bodies {
    /// Bytes of all bodies.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Bodies::One(b) => b.len(),
            Bodies::Many(v) => v.iter().map(Bytes::len).sum(),
        }
    }

    /// What all bodies cost in the one-way budget (see [`one_way_cost`]).
    pub(crate) fn cost(&self) -> usize {
        match self {
            Bodies::One(b) => one_way_cost(b),
            Bodies::Many(v) => v.iter().map(one_way_cost).sum(),
        }
    }
}

impl IntoIterator for Bodies {
    type Item = Bytes;
    type IntoIter = BodiesIter;

    fn into_iter(self) -> BodiesIter {
        match self {
            Bodies::One(b) => BodiesIter::One(Some(b)),
            Bodies::Many(v) => BodiesIter::Many(v.into_iter()),
        }
    }
}

/// The bodies of a [`Bodies`], in order.
pub(crate) enum BodiesIter {
    One(Option<Bytes>),
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for BodiesIter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        match self {
            BodiesIter::One(b) => b.take(),
            BodiesIter::Many(it) => it.next(),
        }
    }
}

/// A method name kept in the queue's name buffer, so a one-way call costs no allocation
/// for its name (a run of calls to the same method stores it once).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Name {
    start: u32,
    len: u32,
}

impl Name {
    /// The name, from the buffer taken with the command.
    pub(crate) fn of<'a>(&self, names: &'a str) -> &'a str {
        &names[self.start as usize..(self.start + self.len) as usize]
    }
}

/// Why a one-way call was not queued.
pub(crate) enum OneWayRefused {
    /// The connection has ended.
    Closed,
    /// The one-way budget is spent: wait for [`Commands::room`], then try again.
    Full(Bodies),
}

/// The connection's command queue.
#[derive(Default)]
pub(crate) struct Commands {
    state: Mutex<State>,
    /// Wakes the driver when the queue turns non-empty (a permit is kept if it is busy).
    ready: Notify,
    /// Wakes callers that wait for one-way room.
    room: Notify,
}

#[derive(Default)]
struct State {
    cmds: VecDeque<Cmd>,
    names: String,
    /// The name most recently stored, reused while the same method repeats.
    last_name: Option<Name>,
    /// One-way bytes queued here or held by the driver and not yet encoded.
    one_way: usize,
    room_waiters: bool,
    closed: bool,
    /// The outcomes of calls.
    replies: Replies,
    /// Unary calls queued so far (their tokens).
    unary_tokens: u64,
}

/// The bit that sets the tokens of unary calls apart from those of other calls.
const UNARY_TOKENS: u64 = 1 << 63;

impl Commands {
    /// The queue's state. No code that can panic runs under the lock, but the close path
    /// also runs while a panic unwinds, where a second panic would abort the process, so
    /// a poisoned lock is taken as it is.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `cmd`; false if the connection has ended.
    pub(crate) fn send(&self, cmd: Cmd) -> bool {
        let mut s = self.state();
        if s.closed {
            return false;
        }
        let wake = s.cmds.is_empty();
        s.cmds.push_back(cmd);
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// Queues unary call `req` to `method` (filling in its name, token and reply slot),
    /// its outcome to go to `to`; its slot and token, or `to` back if the connection has
    /// ended.
    pub(crate) fn unary(
        &self,
        method: &str,
        mut req: UnaryReq,
        to: Completion,
    ) -> Result<(u32, u64), Completion> {
        let mut s = self.state();
        if s.closed {
            return Err(to);
        }
        req.method = s.intern(method);
        let slot = s.replies.insert(to);
        req.slot = slot;
        // Counted here, under the lock taken anyway (other calls draw from a global count
        // that never reaches the top bit).
        s.unary_tokens += 1;
        req.token = UNARY_TOKENS | s.unary_tokens;
        let token = req.token;
        let wake = s.cmds.is_empty();
        s.cmds.push_back(Cmd::Unary(req));
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok((slot, token))
    }

    /// Queues call `req` (streaming, or a one-way call whose sender waits to hear it was
    /// sent) with a reply slot whose outcome goes to `to`; the slot, or `None` if the
    /// connection has ended.
    pub(crate) fn call(&self, mut req: Box<CallReq>, to: Completion) -> Option<u32> {
        let mut s = self.state();
        if s.closed {
            return None;
        }
        let slot = s.replies.insert(to);
        req.reply = Some(slot);
        let wake = s.cmds.is_empty();
        s.cmds.push_back(Cmd::Call(req));
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Some(slot)
    }

    /// The outcome of the unary call in `slot`, once it is in.
    pub(crate) fn poll_reply(&self, slot: u32, cx: &Context<'_>) -> Poll<Result<Bytes, Status>> {
        self.state().replies.poll(slot, cx)
    }

    /// The caller of the unary call in `slot` stopped waiting: the call is cancelled if it
    /// is still under way.
    pub(crate) fn abandon(&self, slot: u32, token: u64) {
        let mut s = self.state();
        if !s.replies.abandon(slot) || s.closed {
            return;
        }
        let wake = s.cmds.is_empty();
        s.cmds.push_back(Cmd::Cancel { token });
        drop(s);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Fills reply slots of `outcomes` (all under one lock), then wakes the tasks
    /// that wait for them and runs the callbacks (see [`hand_over`]); leaves `wakers`
    /// empty.
    pub(crate) fn deliver(
        &self,
        outcomes: impl ExactSizeIterator<Item = (u32, Result<Bytes, Status>)>,
        wakers: &mut Vec<Waker>,
    ) {
        if outcomes.len() == 0 {
            return;
        }
        let mut runs = Runs::new();
        let mut s = self.state();
        for (slot, result) in outcomes {
            if let Some(ready) = s.replies.complete(slot, result) {
                sort(ready, wakers, &mut runs);
            }
        }
        drop(s);
        hand_over(wakers.drain(..), runs);
    }

    /// Ends every call still under way with `status` (the connection is gone and nothing
    /// else will answer them).
    pub(crate) fn fail_replies(&self, status: &Status) {
        let ready = self.state().replies.fail_all(status);
        let (mut wakers, mut runs) = (Vec::new(), Runs::new());
        for r in ready {
            sort(r, &mut wakers, &mut runs);
        }
        hand_over(wakers.into_iter(), runs);
    }

    /// Queues one-way calls to `method` if the budget has room for them (a batch larger
    /// than the whole budget goes alone, once nothing else is queued).
    pub(crate) fn one_way(&self, method: &str, bodies: Bodies) -> Result<(), OneWayRefused> {
        let n = bodies.cost();
        let mut s = self.state();
        if s.closed {
            return Err(OneWayRefused::Closed);
        }
        if s.one_way > 0 && s.one_way + n > QUEUE_BUDGET {
            s.room_waiters = true;
            return Err(OneWayRefused::Full(bodies));
        }
        s.one_way += n;
        let method = s.intern(method);
        let wake = s.cmds.is_empty();
        s.cmds.push_back(Cmd::OneWay { method, bodies });
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Resolves when one-way room may have been released (or the connection ended).
    /// Create it before trying, so that a release in between is not missed.
    pub(crate) fn room(&self) -> tokio::sync::futures::Notified<'_> {
        self.room.notified()
    }

    /// Resolves when commands may be waiting.
    pub(crate) fn ready(&self) -> tokio::sync::futures::Notified<'_> {
        self.ready.notified()
    }

    /// Moves every queued command into `cmds` (which must be empty) and their names into
    /// `names`.
    pub(crate) fn take(&self, cmds: &mut VecDeque<Cmd>, names: &mut String) {
        names.clear();
        let mut s = self.state();
        std::mem::swap(&mut s.cmds, cmds);
        std::mem::swap(&mut s.names, names);
        s.last_name = None;
    }

    /// The driver encoded (or dropped) `n` one-way bytes.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = self.state();
        s.one_way = s.one_way.saturating_sub(n);
        let wake = std::mem::take(&mut s.room_waiters);
        drop(s);
        if wake {
            self.room.notify_waiters();
        }
    }

    /// The connection has ended: later pushes fail. Returns what was still queued, with
    /// the buffer of its method names.
    pub(crate) fn close(&self) -> (VecDeque<Cmd>, String) {
        let mut s = self.state();
        s.closed = true;
        let rest = std::mem::take(&mut s.cmds);
        let names = std::mem::take(&mut s.names);
        s.last_name = None;
        drop(s);
        self.room.notify_waiters();
        (rest, names)
    }
}

impl State {
    fn intern(&mut self, method: &str) -> Name {
        if let Some(last) = self.last_name {
            if last.of(&self.names) == method {
                return last;
            }
        }
        let name = Name {
            start: self.names.len() as u32,
            len: method.len() as u32,
        };
        self.names.push_str(method);
        self.last_name = Some(name);
        name
    }
}

/// One-way bytes held in a connection's budget by a message waiting for credit; given
/// back when the message is sent or dropped.
pub(crate) struct Room {
    commands: std::sync::Arc<Commands>,
    n: usize,
}

impl Room {
    /// Holds `n` bytes of `commands`' one-way budget.
    pub(crate) fn new(commands: std::sync::Arc<Commands>, n: usize) -> Room {
        Room { commands, n }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.commands.release(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn one(n: usize) -> Bodies {
        Bodies::One(Bytes::from(vec![0u8; n]))
    }

    /// The method and body sizes of the one-way commands in `cmds`.
    fn one_ways(cmds: &VecDeque<Cmd>, names: &str) -> Vec<(String, usize)> {
        cmds.iter()
            .filter_map(|c| match c {
                Cmd::OneWay { method, bodies } => {
                    Some((method.of(names).to_string(), bodies.len()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn commands_keep_their_order_and_names() {
        let q = Commands::default();
        assert!(q.one_way("a.b", one(1)).is_ok());
        assert!(q.one_way("a.b", one(2)).is_ok());
        assert!(q.send(Cmd::Drain));
        assert!(q.one_way("c", one(3)).is_ok());
        assert!(q.one_way("a.b", one(4)).is_ok());
        let (mut cmds, mut names) = (VecDeque::new(), String::new());
        q.take(&mut cmds, &mut names);
        assert_eq!(cmds.len(), 5);
        assert!(matches!(cmds[2], Cmd::Drain));
        let expect = [("a.b", 1), ("a.b", 2), ("c", 3), ("a.b", 4)];
        let expect: Vec<(String, usize)> =
            expect.iter().map(|(m, n)| (m.to_string(), *n)).collect();
        assert_eq!(one_ways(&cmds, &names), expect);
        // A repeated method is stored once.
        assert_eq!(names, "a.bca.b");
        // Taken again, the buffers come back empty and reusable.
        cmds.clear();
        q.take(&mut cmds, &mut names);
        assert!(cmds.is_empty() && names.is_empty());
    }

    #[test]
    fn one_way_bytes_are_bounded_until_released() {
        let q = Commands::default();
        // Alone, even a batch larger than the budget goes.
        assert!(q.one_way("m", one(QUEUE_BUDGET + 10)).is_ok());
        assert!(matches!(
            q.one_way("m", one(1)),
            Err(OneWayRefused::Full(_))
        ));
        // Taking the commands does not give the room back: encoding them does.
        let (mut cmds, mut names) = (VecDeque::new(), String::new());
        q.take(&mut cmds, &mut names);
        assert!(matches!(
            q.one_way("m", one(1)),
            Err(OneWayRefused::Full(_))
        ));
        q.release(QUEUE_BUDGET + 10 + ONE_WAY_OVERHEAD);
        // Each message costs its bytes and ONE_WAY_OVERHEAD: these two fill it exactly.
        assert!(q
            .one_way("m", one(QUEUE_BUDGET - 2 * ONE_WAY_OVERHEAD - 1))
            .is_ok());
        assert!(q.one_way("m", one(1)).is_ok());
        assert!(matches!(
            q.one_way("m", one(1)),
            Err(OneWayRefused::Full(_))
        ));
        // A waiting message's room comes back when it is dropped.
        let q = Arc::new(Commands::default());
        assert!(q.one_way("m", one(QUEUE_BUDGET)).is_ok());
        // The driver found no credit for it: the message keeps its bytes while it waits.
        let room = Room::new(q.clone(), QUEUE_BUDGET + ONE_WAY_OVERHEAD);
        assert!(matches!(
            q.one_way("m", one(1)),
            Err(OneWayRefused::Full(_))
        ));
        drop(room);
        assert!(q.one_way("m", one(1)).is_ok());
    }

    /// Empty one-way messages cost budget too: a producer that queues them faster than
    /// the connection sends them waits, instead of growing the queue without bound
    /// (before, they cost nothing).
    #[test]
    fn empty_one_way_messages_are_bounded() {
        let q = Commands::default();
        let mut queued = 0;
        while q.one_way("m", Bodies::One(Bytes::new())).is_ok() {
            queued += 1;
            assert!(queued <= 1_000_000, "empty messages are not bounded");
        }
        assert_eq!(queued, QUEUE_BUDGET / ONE_WAY_OVERHEAD);
    }

    #[tokio::test]
    async fn waiters_wake_on_release_and_on_close() {
        let q = Arc::new(Commands::default());
        assert!(q.one_way("m", one(QUEUE_BUDGET)).is_ok());
        let waiter = |q: Arc<Commands>| {
            tokio::spawn(async move {
                loop {
                    let room = q.room();
                    tokio::pin!(room);
                    room.as_mut().enable();
                    match q.one_way("m", one(1)) {
                        Ok(()) => return true,
                        Err(OneWayRefused::Closed) => return false,
                        Err(OneWayRefused::Full(_)) => room.await,
                    }
                }
            })
        };
        let w = waiter(q.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w.is_finished(), "waited while the budget was spent");
        q.release(QUEUE_BUDGET + ONE_WAY_OVERHEAD);
        assert!(w.await.unwrap(), "queued once room came back");
        assert!(q
            .one_way("m", one(QUEUE_BUDGET - 2 * ONE_WAY_OVERHEAD - 1))
            .is_ok());
        let w = waiter(q.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w.is_finished());
        let (rest, _) = q.close();
        assert_eq!(rest.len(), 3);
        assert!(!w.await.unwrap(), "a closed connection refuses");
        assert!(!q.send(Cmd::Drain));
    }

    #[tokio::test]
    async fn the_driver_is_woken_once_per_burst() {
        let q = Arc::new(Commands::default());
        let ready = q.ready();
        tokio::pin!(ready);
        ready.as_mut().enable();
        assert!(q.send(Cmd::Drain));
        assert!(q.send(Cmd::Close));
        tokio::time::timeout(Duration::from_secs(5), ready)
            .await
            .expect("woken");
        let (mut cmds, mut names) = (VecDeque::new(), String::new());
        q.take(&mut cmds, &mut names);
        assert_eq!(cmds.len(), 2);
        // A push to the emptied queue wakes the driver again, even before it waits.
        assert!(q.send(Cmd::Drain));
        tokio::time::timeout(Duration::from_secs(5), q.ready())
            .await
            .expect("the wakeup was kept");
    }
}
