//! `muxwire conformance live URL`: plays scenarios against a running server of any
//! implementation over a socket (spec/CONFORMANCE.md section 4) and judges each reply;
//! with `--listen`, plays the server's part against a client command instead.

mod client;
mod peer;
mod scenarios;

use std::collections::BTreeSet;
use std::time::Duration;

use super::report::{Outcome, Record};
use client::{Listener, CLIENT_SCENARIOS};
use peer::Peer;
use scenarios::SCENARIOS;

/// Runs every scenario (or those in `only`) against `url`; one record each.
pub(crate) fn run(
    url: &str,
    patience: Duration,
    only: &BTreeSet<&str>,
    known: &BTreeSet<String>,
    mut note: impl FnMut(Record),
) -> Result<(), String> {
    let mut ran = 0;
    for s in SCENARIOS {
        let id = format!("L{}", s.id);
        if !only.is_empty() && !only.contains(id.as_str()) {
            continue;
        }
        ran += 1;
        let outcome = match Peer::connect(url, patience) {
            Ok(mut peer) => match (s.run)(&mut peer) {
                Ok(()) => Outcome::Pass,
                Err(why) => Outcome::Fail(why),
            },
            // Nothing can be judged without a connection: the whole run fails.
            Err(e) if ran == 1 => return Err(e),
            Err(e) => Outcome::Fail(e),
        };
        note(Record::new(id, s.name, outcome, known));
    }
    Ok(())
}

/// Runs every client scenario (or those in `only`) against `cmd`, each on a listener of
/// its own at `url` (`{url}` in `cmd` becomes its URL), so that a connection the client
/// of one scenario opens late (a reconnect as it exits) cannot reach the next; one record
/// each.
pub(crate) fn run_client(
    url: &str,
    cmd: &[String],
    patience: Duration,
    only: &BTreeSet<&str>,
    known: &BTreeSet<String>,
    mut note: impl FnMut(Record),
) -> Result<(), String> {
    for s in CLIENT_SCENARIOS {
        let id = format!("C{}", s.id);
        if !only.is_empty() && !only.contains(id.as_str()) {
            continue;
        }
        let (listener, at) = Listener::bind(url, &id)?;
        let outcome = match client::run_one(s, &listener, &at, cmd, patience) {
            Ok(()) => Outcome::Pass,
            Err(why) => Outcome::Fail(why),
        };
        note(Record::new(id, s.name, outcome, known));
    }
    Ok(())
}
