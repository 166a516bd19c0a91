//! The counters of a client or server in the Prometheus text exposition format (version
//! 0.0.4), for an operator's scraper: `StatsSnapshot::prometheus`.

use std::fmt::Write as _;

use muxwire_core::wire::StatusCode;

use crate::method_stats::LATENCY_BOUNDS_US;
use crate::stats::StatsSnapshot;

impl StatsSnapshot {
    /// These counters as Prometheus text: one `muxwire_*` metric each (counters end in
    /// `_total`), failed calls labelled by status code name. Serve it with the content
    /// type `text/plain; version=0.0.4`.
    pub fn prometheus(&self) -> String {
        let counters: [(&str, &str, u64); 15] = [
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
                "keepalive_timeouts_total",
                "Connections closed because a keepalive PING went unanswered.",
                self.keepalive_timeouts,
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
        let _ = writeln!(
            out,
            "# HELP muxwire_connections_closed_total Connections closed, by connection error code and by which end."
        );
        let _ = writeln!(out, "# TYPE muxwire_connections_closed_total counter");
        for (by, counts) in [
            ("local", &self.connections_closed_local),
            ("peer", &self.connections_closed_by_peer),
        ] {
            for (code, n) in counts.iter().enumerate() {
                // NO_ERROR always (so both series exist), other codes once seen.
                if code == 0 || *n > 0 {
                    let name = if code < 13 {
                        muxwire_core::wire::ErrorCode(code as u32).name()
                    } else {
                        "UNKNOWN"
                    };
                    let _ = writeln!(
                        out,
                        "muxwire_connections_closed_total{{code=\"{name}\",by=\"{by}\"}} {n}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP muxwire_connections_refused_total Connections a server refused, or \
             closed, for a server-wide limit, by limit."
        );
        let _ = writeln!(out, "# TYPE muxwire_connections_refused_total counter");
        for (limit, n) in [
            ("max_connections", self.refused_max_connections),
            ("connection_budget", self.refused_connection_budget),
            ("server_cancel_budget", self.refused_server_cancel_budget),
        ] {
            let _ = writeln!(
                out,
                "muxwire_connections_refused_total{{limit=\"{limit}\"}} {n}"
            );
        }
        if !self.methods.is_empty() {
            self.write_methods(&mut out);
        }
        out
    }

    /// The per-method series (`Options::method_metrics`): calls started and handled, and
    /// the latency histogram, labelled by method.
    fn write_methods(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP muxwire_method_calls_started_total Calls started, by method (one-way calls too)."
        );
        let _ = writeln!(out, "# TYPE muxwire_method_calls_started_total counter");
        for m in &self.methods {
            let method = label_value(&m.method);
            let _ = writeln!(
                out,
                "muxwire_method_calls_started_total{{method=\"{method}\"}} {}",
                m.started
            );
        }
        let _ = writeln!(
            out,
            "# HELP muxwire_method_calls_handled_total Calls answered, by method and status code."
        );
        let _ = writeln!(out, "# TYPE muxwire_method_calls_handled_total counter");
        for m in &self.methods {
            let method = label_value(&m.method);
            for (code, n) in m.ended.iter().enumerate() {
                // OK always (so that every method has a series), other codes once seen.
                if code == 0 || *n > 0 {
                    let name = StatusCode(code as u32).name();
                    let _ = writeln!(
                        out,
                        "muxwire_method_calls_handled_total{{method=\"{method}\",code=\"{name}\"}} {n}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP muxwire_method_latency_seconds From a call's arrival to its status, by method."
        );
        let _ = writeln!(out, "# TYPE muxwire_method_latency_seconds histogram");
        for m in &self.methods {
            let method = label_value(&m.method);
            let mut seen = 0;
            for (i, n) in m.latency_buckets.iter().enumerate() {
                seen += n;
                let le = match LATENCY_BOUNDS_US.get(i) {
                    Some(us) => format!("{}", *us as f64 / 1e6),
                    None => "+Inf".to_string(),
                };
                let _ = writeln!(
                    out,
                    "muxwire_method_latency_seconds_bucket{{method=\"{method}\",le=\"{le}\"}} {seen}"
                );
            }
            let _ = writeln!(
                out,
                "muxwire_method_latency_seconds_sum{{method=\"{method}\"}} {}",
                m.latency_sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "muxwire_method_latency_seconds_count{{method=\"{method}\"}} {seen}"
            );
        }
    }
}

/// `v` escaped for a Prometheus label value (backslash, double quote and newline).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        s.connections_closed_local[12] = 2;
        s.refused_max_connections = 4;
        let text = s.prometheus();
        assert!(
            text.contains("muxwire_connections_closed_total{code=\"TIMEOUT\",by=\"local\"} 2\n")
        );
        assert!(
            text.contains("muxwire_connections_closed_total{code=\"NO_ERROR\",by=\"peer\"} 0\n")
        );
        assert!(text.contains("muxwire_connections_refused_total{limit=\"max_connections\"} 4\n"));
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
        assert_eq!(names.len(), 16);
        assert!(
            !text.contains("muxwire_method_"),
            "no per-method series unless kept"
        );
    }

    #[test]
    fn per_method_series_are_labelled_escaped_and_cumulative() {
        let m = crate::method_stats::MethodMetrics::default();
        m.started();
        m.started();
        m.ended(StatusCode::OK, Some(std::time::Duration::from_micros(20)));
        m.ended(
            StatusCode::UNAVAILABLE,
            Some(std::time::Duration::from_micros(300)),
        );
        let s = StatsSnapshot {
            methods: vec![m.snapshot("a\"b\\c\nd")],
            ..StatsSnapshot::default()
        };
        let text = s.prometheus();
        let label = r#"method="a\"b\\c\nd""#;
        for line in [
            format!("muxwire_method_calls_started_total{{{label}}} 2"),
            format!("muxwire_method_calls_handled_total{{{label},code=\"OK\"}} 1"),
            format!("muxwire_method_calls_handled_total{{{label},code=\"UNAVAILABLE\"}} 1"),
            format!("muxwire_method_latency_seconds_bucket{{{label},le=\"0.000025\"}} 1"),
            format!("muxwire_method_latency_seconds_bucket{{{label},le=\"0.00025\"}} 1"),
            format!("muxwire_method_latency_seconds_bucket{{{label},le=\"0.0005\"}} 2"),
            format!("muxwire_method_latency_seconds_bucket{{{label},le=\"+Inf\"}} 2"),
            format!("muxwire_method_latency_seconds_sum{{{label}}} 0.00032"),
            format!("muxwire_method_latency_seconds_count{{{label}}} 2"),
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line} in\n{text}"
            );
        }
        let unseen = format!("muxwire_method_calls_handled_total{{{label},code=\"CANCELLED\"}}");
        assert!(!text.contains(&unseen), "codes never seen stay out");
    }
}
