//! A client's connection state and the handle that observes it.

use tokio::sync::watch;

use crate::Status;

/// The state of a client's connections, for observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Trying to connect.
    Connecting,
    /// Connected and usable.
    Ready,
    /// The last attempt failed or the connection broke; retrying after a backoff.
    TransientFailure,
    /// The client was closed.
    Shutdown,
    /// Not connected, and not trying: the connection closed for its idle timeout. The
    /// next call reconnects (and waits for that, even without `wait_for_ready`).
    Idle,
}

/// Publishes the state; the value is stored even while nobody watches, so a watcher made
/// later sees the current state.
pub(crate) struct StatePublisher(watch::Sender<ConnState>);

impl StatePublisher {
    pub(crate) fn new(initial: ConnState) -> StatePublisher {
        StatePublisher(watch::Sender::new(initial))
    }

    /// Sets the state; watchers are woken only if it changed.
    pub(crate) fn set(&self, state: ConnState) {
        self.0.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
    }

    pub(crate) fn get(&self) -> ConnState {
        *self.0.borrow()
    }

    pub(crate) fn watch(&self) -> StateWatch {
        StateWatch(self.0.subscribe())
    }
}

/// Observes a client's connection state (see [`crate::Client::state`]). Cloning it makes
/// another observer; each sees every change after its last look.
#[derive(Clone)]
pub struct StateWatch(watch::Receiver<ConnState>);

impl StateWatch {
    /// The current state (and marks it seen).
    pub fn get(&mut self) -> ConnState {
        *self.0.borrow_and_update()
    }

    /// Waits until the state differs from the last one seen, and returns it. Fails with
    /// UNAVAILABLE once the client is gone (no change can come any more).
    pub async fn changed(&mut self) -> Result<ConnState, Status> {
        self.0
            .changed()
            .await
            .map_err(|_| Status::unavailable("the client is gone"))?;
        Ok(*self.0.borrow_and_update())
    }

    /// Waits until `pred` holds for the state (returning at once if it holds now), and
    /// returns that state. Fails with UNAVAILABLE once the client is gone.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(ConnState) -> bool,
    ) -> Result<ConnState, Status> {
        self.0
            .wait_for(|s| pred(*s))
            .await
            .map(|s| *s)
            .map_err(|_| Status::unavailable("the client is gone"))
    }
}

impl std::fmt::Debug for StateWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StateWatch")
            .field(&*self.0.borrow())
            .finish()
    }
}
