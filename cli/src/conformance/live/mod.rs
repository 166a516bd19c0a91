//! `muxwire conformance live URL`: plays scenarios against a running server of any
//! implementation over a socket (spec/CONFORMANCE.md section 4) and judges each reply.

mod peer;
mod scenarios;

use std::collections::BTreeSet;
use std::time::Duration;

use super::report::{Outcome, Record};
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
