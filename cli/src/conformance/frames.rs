//! Frame vectors through a testee (spec/CONFORMANCE.md sections 2.2, 2.3 and 3): the
//! testee reports what its decoder did and the runner compares it with the vector.

use serde_json::{json, Value};

use super::adapter::{Answer, Testee};
use super::report::Outcome;

/// The fields of a decoded frame that must equal the vector's `expect`.
const HEADER_FIELDS: [&str; 7] = [
    "frame_len",
    "type",
    "flags",
    "meta_len",
    "stream_id",
    "arg",
    "crc",
];

/// Runs frame vector `case` (of a group whose receiver allows `max_frame_size`).
pub(crate) fn run(testee: &mut Testee, case: &Value, max_frame_size: u64) -> Outcome {
    if !testee.supports("decode") {
        return Outcome::Unsupported("the testee does not decode frames".into());
    }
    let req = json!({"op": "decode", "input": case["input"], "max_frame_size": max_frame_size});
    let got = match testee.request(&req) {
        Answer::Ok(v) => v,
        Answer::Unsupported(why) => return Outcome::Unsupported(why),
        Answer::Failed(why) => return Outcome::Fail(why),
    };
    let verdict = match case["result"].as_str().unwrap_or("") {
        "valid" | "acceptable" => judge_frame(testee, case, &got),
        "invalid" => judge_error(case, &got),
        "incomplete" => judge_incomplete(case, &got),
        other => Err(format!("the vector has an unknown result {other:?}")),
    };
    match verdict {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

/// What the decoder said, for a failure message.
fn said(got: &Value) -> String {
    match got["result"].as_str() {
        Some("frame") => format!("a frame of type {}", got["type"]),
        Some("error") => format!("error {}", got["code"]),
        Some("incomplete") => format!("incomplete (needed {})", got["needed"]),
        _ => format!("an answer without a known result: {got}"),
    }
}

fn judge_frame(testee: &mut Testee, case: &Value, got: &Value) -> Result<(), String> {
    let want = &case["expect"];
    if got["result"] != "frame" {
        return Err(format!("expected a frame, the decoder said {}", said(got)));
    }
    for f in HEADER_FIELDS {
        if got[f] != want[f] {
            return Err(format!("{f}: expected {}, got {}", want[f], got[f]));
        }
    }
    let content: &[&str] = if want.get("payload").is_some() {
        &["payload"]
    } else {
        &["metadata", "body"]
    };
    for f in content {
        if !same_hex_fields(&got[*f], &want[*f]) {
            return Err(format!("{f}: expected {}, got {}", want[*f], got[*f]));
        }
    }
    if !testee.supports("encode") {
        return Ok(());
    }
    // There is exactly one encoding of a frame: re-encoding what was decoded must give
    // the input's first frame_len bytes back.
    let mut frame = json!({});
    for f in ["type", "flags", "meta_len", "stream_id", "arg"]
        .iter()
        .chain(content)
    {
        frame[*f] = want[*f].clone();
    }
    let bytes = match testee.request(&json!({"op": "encode", "frame": frame})) {
        Answer::Ok(v) => v["bytes"].as_str().unwrap_or("").to_lowercase(),
        Answer::Unsupported(_) => return Ok(()),
        Answer::Failed(why) => return Err(format!("re-encoding: {why}")),
    };
    let len = want["frame_len"].as_u64().unwrap_or(0) as usize;
    let input = case["input"].as_str().unwrap_or("");
    let original = input.get(..2 * len).unwrap_or(input);
    if bytes != original {
        return Err(format!(
            "re-encoding differs: expected {original}, got {bytes}"
        ));
    }
    Ok(())
}

/// Equal JSON, hex strings compared without regard to case.
fn same_hex_fields(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_hex_fields(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_hex_fields(x, y)))
        }
        _ => got == want,
    }
}

fn judge_error(case: &Value, got: &Value) -> Result<(), String> {
    let want = &case["error"]["code"];
    match got["result"].as_str() {
        Some("error") if &got["code"] == want => Ok(()),
        _ => Err(format!(
            "expected error {want}, the decoder said {}",
            said(got)
        )),
    }
}

fn judge_incomplete(case: &Value, got: &Value) -> Result<(), String> {
    if got["result"] != "incomplete" {
        return Err(format!(
            "expected incomplete, the decoder said {}",
            said(got)
        ));
    }
    match got.get("needed") {
        None | Some(Value::Null) => Ok(()),
        Some(n) if n == &case["needed"] => Ok(()),
        Some(n) => Err(format!("needed: expected {}, got {n}", case["needed"])),
    }
}
