//! The exit statuses of every `muxwire` subcommand: one scheme, so that a call's status can
//! never be mistaken for a usage error (after grpcurl, which also adds 64 to the code).

use muxwire::StatusCode;

/// Success.
pub(crate) const OK: i32 = 0;
/// The command could not do its job for a reason of its own: a file it cannot read or
/// write, an address it cannot listen on, a server stopped before its drain ended.
pub(crate) const FAILED: i32 = 1;
/// Bad usage: an unknown flag, a malformed URL, metadata or argument (clap's own errors
/// exit 2 too).
pub(crate) const USAGE: i32 = 2;
/// `decode`: the input is not valid muxwire (or ends inside a frame).
pub(crate) const INVALID_INPUT: i32 = 3;

/// A call that ended with status `code`: 64 + the code (65 CANCELLED, 68
/// DEADLINE_EXCEEDED, 76 UNIMPLEMENTED, 78 UNAVAILABLE, ... 80 UNAUTHENTICATED).
pub(crate) fn status(code: StatusCode) -> i32 {
    64 + code.0.min(64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_never_collide_with_the_other_codes() {
        let all: Vec<i32> = (0..=16).map(|c| status(StatusCode(c))).collect();
        assert_eq!(all.first(), Some(&64));
        assert_eq!(all.last(), Some(&80));
        for fixed in [OK, FAILED, USAGE, INVALID_INPUT] {
            assert!(!all.contains(&fixed));
        }
        assert_eq!(status(StatusCode::UNAVAILABLE), 78);
    }
}
