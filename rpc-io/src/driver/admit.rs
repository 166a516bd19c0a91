//! The checks a call passes before its handler runs (the connection's and the router's
//! authorization, the interceptors' `before`), and the interceptors' `after` at its end.

use bytes::Bytes;
use muxwire_core::time::Duration as CoreDuration;
use muxwire_core::wire::StatusCode;

use super::callee::Served;
use super::Driver;
use crate::authorize::{self, CallInfo, PeerInfo};
use crate::intercept::{self, CallEnd, CallStart};
use crate::route::Router;
use crate::status::Status;

impl Driver {
    /// Lets call `method` through the connection's and the router's checks and its
    /// interceptors' `before` (which may add to `entries`), or says why not. `Some` start
    /// time when interceptors wait for the call's end (see `end_intercepted`).
    pub(super) fn admit(
        &self,
        method: &[u8],
        entries: &mut Vec<(String, Bytes)>,
        deadline: Option<CoreDuration>,
        one_way: bool,
    ) -> Result<Option<std::time::Instant>, Status> {
        if let Some(r) = &self.callee.refused {
            return Err(r.clone());
        }
        let Some(router) = self.callee.router.as_ref() else {
            return Ok(None);
        };
        if router.call_check.is_none() && router.interceptors.is_empty() {
            return Ok(None);
        }
        let name = std::str::from_utf8(method).unwrap_or("");
        let peer = PeerInfo {
            address: &self.handle.peer_addr,
            identity: self.handle.identity.as_deref(),
        };
        if let Some(check) = &router.call_check {
            let call = CallInfo {
                method: name,
                metadata: entries,
                peer,
            };
            authorize::run(|| check(&call))?;
        }
        if router.interceptors.is_empty() {
            return Ok(None);
        }
        let since = std::time::Instant::now();
        let mut start = CallStart {
            method: name,
            metadata: entries,
            time_left: deadline.map(|d| std::time::Duration::from_micros(d.as_micros())),
            one_way,
            peer,
        };
        intercept::before_all(&router.interceptors, &mut start)?;
        Ok((!one_way).then_some(since))
    }

    /// Answers call `stream` to `method` with `refused`, its handler never run.
    pub(super) fn refuse(&mut self, stream: u32, method: &[u8], refused: Status) {
        let gen = self.callee.next_gen;
        self.callee.next_gen += 1;
        let cancel = self.callee.cancel_state();
        let served = Served::new(gen, Bytes::copy_from_slice(method), cancel, None, None);
        self.callee.served.insert(stream, served);
        self.reply(stream, Err(refused));
    }

    /// Tells `router`'s interceptors that the call to `method` that arrived `since` ended
    /// with `code`.
    pub(super) fn end_intercepted(
        &self,
        router: Option<&Router>,
        method: &[u8],
        code: StatusCode,
        since: std::time::Instant,
    ) {
        let Some(router) = router else { return };
        let end = CallEnd {
            method: std::str::from_utf8(method).unwrap_or(""),
            code,
            elapsed: since.elapsed(),
            peer: PeerInfo {
                address: &self.handle.peer_addr,
                identity: self.handle.identity.as_deref(),
            },
        };
        intercept::after(&router.interceptors, &end);
    }
}
