//! The counters of a client or server in the Prometheus text exposition format (version
//! 0.0.4), for an operator's scraper: `StatsSnapshot::prometheus`.

use std::fmt::Write as _;

use muxwire_core::wire::StatusCode;

use crate::stats::StatsSnapshot;

impl StatsSnapshot {
    /// These counters as Prometheus text: one `muxwire_*` metric each (counters end in
    /// `_total`), failed calls labelled by status code name. Serve it with the content
    /// type `text/plain; version=0.0.4`.
    pub fn prometheus(&self) -> String {
        let counters: [(&str, &str, u64); 14] = [
            (
                "calls_started_total",
                "Calls started (made by a client, or received by a server).",
                self.calls_started,
            ),
            ("calls_ok_total", "Calls that ended OK.", self.calls_ok),
            ("bytes_in_total", "Bytes read from sockets.", self.bytes_in),
            (
                "bytes_out_total",
                "Bytes written to sockets.",
                self.bytes_out,
            ),
            ("frames_in_total", "Frames received.", self.frames_in),
            ("frames_out_total", "Frames sent.", self.frames_out),
            ("write_syscalls_total", "writev calls.", self.write_syscalls),
            ("read_syscalls_total", "read calls.", self.read_syscalls),
            (
                "reconnects_total",
                "Connections re-established after a failure.",
                self.reconnects,
            ),
            (
                "limit_rejections_total",
                "Calls or frames rejected by a limit.",
                self.limit_rejections,
            ),
            ("connections_total", "Connections opened.", self.connections),
            (
                "bytes_in_place_total",
                "Message bytes read straight into their message's buffer.",
                self.bytes_in_place,
            ),
            (
                "one_way_dropped_total",
                "One-way messages received and dropped.",
                self.one_way_dropped,
            ),
            (
                "write_queue_peak_bytes",
                "The most bytes one connection has had waiting for its socket.",
                self.write_queue_peak,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(out, "# HELP muxwire_{name} {help}");
            let _ = writeln!(out, "# TYPE muxwire_{name} {kind}");
            let _ = writeln!(out, "muxwire_{name} {value}");
        }
        let _ = writeln!(out, "# HELP muxwire_in_flight Calls in flight now.");
        let _ = writeln!(out, "# TYPE muxwire_in_flight gauge");
        let _ = writeln!(out, "muxwire_in_flight {}", self.in_flight);
        let _ = writeln!(
            out,
            "# HELP muxwire_calls_failed_total Calls that failed, by status code."
        );
        let _ = writeln!(out, "# TYPE muxwire_calls_failed_total counter");
        for (code, n) in self.calls_failed.iter().enumerate().skip(1) {
            let name = StatusCode(code as u32).name();
            let _ = writeln!(out, "muxwire_calls_failed_total{{code=\"{name}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_once_with_help_and_type() {
        let mut s = StatsSnapshot {
            calls_started: 7,
            in_flight: 2,
            ..StatsSnapshot::default()
        };
        s.calls_failed[14] = 3;
        let text = s.prometheus();
        assert!(text.contains("muxwire_calls_started_total 7\n"));
        assert!(text.contains("muxwire_in_flight 2\n"));
        assert!(text.contains("muxwire_calls_failed_total{code=\"UNAVAILABLE\"} 3\n"));
        // Every sample line follows its own HELP and TYPE, and names are unique.
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            if !line.contains('{') {
                assert!(names.insert(name.to_string()), "{name} twice");
            }
        }
        assert_eq!(names.len(), 15);
    }
}
