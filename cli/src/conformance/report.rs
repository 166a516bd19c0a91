//! What a conformance run found: one result per vector, the failure list that turns known
//! failures into expected ones (and catches a list gone stale), and the reports: a line
//! per vector that did not pass, JUnit XML and JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

/// How one vector went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Fail(String),
    Unsupported(String),
}

/// A vector's result, after the failure list is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail,
    Unsupported,
    /// Failed, and listed as a known failure.
    ExpectedFail,
    /// Passed, but listed as a known failure: the list is stale.
    UnexpectedPass,
}

impl Verdict {
    /// The name reports use.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unsupported => "unsupported",
            Verdict::ExpectedFail => "expected-fail",
            Verdict::UnexpectedPass => "unexpected-pass",
        }
    }

    /// Whether this result makes the run fail.
    pub(crate) fn is_unexpected(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::UnexpectedPass)
    }
}

/// One vector's record.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// `F<tcId>` or `S<sId>`.
    pub(crate) id: String,
    /// The vector's comment.
    pub(crate) comment: String,
    pub(crate) verdict: Verdict,
    /// Why it failed or was unsupported (empty when it passed).
    pub(crate) reason: String,
}

impl Record {
    /// The record of `outcome` for vector `id`, given the known failures.
    pub(crate) fn new(
        id: String,
        comment: &str,
        outcome: Outcome,
        known: &BTreeSet<String>,
    ) -> Record {
        let listed = known.contains(&id);
        let (verdict, reason) = match outcome {
            Outcome::Pass if listed => (
                Verdict::UnexpectedPass,
                "listed as a known failure but passed: remove it from the list".to_string(),
            ),
            Outcome::Pass => (Verdict::Pass, String::new()),
            Outcome::Fail(why) if listed => (Verdict::ExpectedFail, why),
            Outcome::Fail(why) => (Verdict::Fail, why),
            Outcome::Unsupported(why) => (Verdict::Unsupported, why),
        };
        Record {
            id,
            comment: comment.to_string(),
            verdict,
            reason,
        }
    }
}

/// Parses a failure list: one vector or live scenario id per line; `#` starts a comment.
pub(crate) fn parse_failure_list(text: &str) -> Result<BTreeSet<String>, String> {
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or("").trim();
        if id.is_empty() {
            continue;
        }
        let valid = id.starts_with(['F', 'S', 'L', 'C'])
            && id.len() > 1
            && id[1..].bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(format!(
                "line {}: {id:?} is not a vector or scenario id (F<tcId>, S<sId>, L<n>, C<n>)",
                i + 1
            ));
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

/// Counts of each verdict, in `Verdict` order.
pub(crate) fn counts(records: &[Record]) -> [usize; 5] {
    let all = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Unsupported,
        Verdict::ExpectedFail,
        Verdict::UnexpectedPass,
    ];
    all.map(|v| records.iter().filter(|r| r.verdict == v).count())
}

/// The one-line summary.
pub(crate) fn summary(records: &[Record]) -> String {
    let [pass, fail, unsupported, expected, stale] = counts(records);
    format!(
        "{} tests: {pass} passed, {fail} failed, {unsupported} unsupported, \
         {expected} failed as listed, {stale} passed though listed",
        records.len()
    )
}

/// The JSON report.
pub(crate) fn json_report(testee: &str, records: &[Record]) -> Value {
    let [pass, fail, unsupported, expected, stale] = counts(records);
    json!({
        "testee": testee,
        "summary": {"pass": pass, "fail": fail, "unsupported": unsupported,
                    "expected_fail": expected, "unexpected_pass": stale},
        "results": records.iter().map(|r| json!({
            "id": r.id, "comment": r.comment, "result": r.verdict.name(), "reason": r.reason,
        })).collect::<Vec<_>>(),
    })
}

/// The JUnit XML report: one test suite per kind of vector (frames, sessions) or for the
/// live scenarios, each present only if it ran.
pub(crate) fn junit_report(testee: &str, records: &[Record]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"muxwire conformance: {}\">",
        xml(testee)
    );
    for (suite, prefix) in [("frames", 'F'), ("sessions", 'S')] {
        let rs: Vec<&Record> = records
            .iter()
            .filter(|r| r.id.starts_with(prefix))
            .collect();
        let failures = rs.iter().filter(|r| r.verdict.is_unexpected()).count();
        let skipped = rs
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Unsupported | Verdict::ExpectedFail))
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            rs.len()
        );
        for r in rs {
            let _ = write!(
                out,
                "    <testcase classname=\"{suite}\" name=\"{} {}\"",
                r.id,
                xml(&r.comment)
            );
            match r.verdict {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Fail | Verdict::UnexpectedPass => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure type=\"{}\" message=\"{}\"/>\n    </testcase>",
                        r.verdict.name(),
                        xml(&r.reason)
                    );
                }
                Verdict::Unsupported | Verdict::ExpectedFail => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}: {}\"/>\n    </testcase>",
                        r.verdict.name(),
                        xml(&r.reason)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `s` escaped for an XML attribute (control characters dropped: XML 1.0 forbids them).
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_failure_list_turns_known_failures_expected_and_catches_stale_entries() {
        let list = parse_failure_list("# known\nF3\n  S20  # flaky\n\n").unwrap();
        assert_eq!(list, known(&["F3", "S20"]));
        assert!(parse_failure_list("X1").unwrap_err().contains("line 1"));
        assert!(parse_failure_list("S").is_err());
        let r = |id: &str, o| Record::new(id.to_string(), "c", o, &list).verdict;
        let failed = || Outcome::Fail("why".into());
        assert_eq!(r("F3", failed()), Verdict::ExpectedFail);
        assert_eq!(r("F4", failed()), Verdict::Fail);
        assert_eq!(r("S20", Outcome::Pass), Verdict::UnexpectedPass);
        assert_eq!(r("S21", Outcome::Pass), Verdict::Pass);
        assert_eq!(
            r("S20", Outcome::Unsupported("no".into())),
            Verdict::Unsupported
        );
        assert!(Verdict::UnexpectedPass.is_unexpected() && Verdict::Fail.is_unexpected());
        assert!(!Verdict::ExpectedFail.is_unexpected());
    }

    #[test]
    fn reports_count_and_escape() {
        let none = BTreeSet::new();
        let records = vec![
            Record::new("F1".into(), "a <frame>", Outcome::Pass, &none),
            Record::new("F2".into(), "b", Outcome::Fail("x \"y\" & z".into()), &none),
            Record::new("S1".into(), "c", Outcome::Unsupported("no".into()), &none),
        ];
        let xml = junit_report("t", &records);
        assert!(xml.contains("name=\"F1 a &lt;frame&gt;\"/>"), "{xml}");
        assert!(xml.contains("message=\"x &quot;y&quot; &amp; z\""), "{xml}");
        assert!(
            xml.contains("<testsuite name=\"frames\" tests=\"2\" failures=\"1\" skipped=\"0\">")
        );
        assert!(
            xml.contains("<testsuite name=\"sessions\" tests=\"1\" failures=\"0\" skipped=\"1\">")
        );
        let j = json_report("t", &records);
        assert_eq!(j["summary"]["fail"], 1);
        assert_eq!(j["results"][1]["result"], "fail");
        assert!(summary(&records).starts_with("3 tests: 1 passed, 1 failed, 1 unsupported"));
    }
}
