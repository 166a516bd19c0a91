//! `muxwire.describe` (spec section 6.3): every method an endpoint serves, with its kind
//! and what the application said of it ([`crate::Router::describe`]), as JSON.

use std::fmt::Write as _;

/// The name of the built-in method that describes the served methods.
pub const DESCRIBE_METHOD: &str = "muxwire.describe";

/// What an application says of a method: free text, or a reference to a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodInfo {
    /// What the method does.
    pub description: String,
    /// The request's type (a type name or a schema reference).
    pub request: String,
    /// The reply's type.
    pub reply: String,
}

impl MethodInfo {
    /// A description with its request and reply types.
    pub fn new(description: &str, request: &str, reply: &str) -> MethodInfo {
        MethodInfo {
            description: description.to_string(),
            request: request.to_string(),
            reply: reply.to_string(),
        }
    }
}

/// One method's JSON object.
pub(crate) fn entry(name: &str, streaming: bool, info: Option<&MethodInfo>) -> String {
    let kind = if streaming { "streaming" } else { "unary" };
    let mut out = format!("{{\"name\":{},\"kind\":\"{kind}\"", json_string(name));
    if let Some(i) = info {
        let _ = write!(
            out,
            ",\"description\":{},\"request\":{},\"reply\":{}",
            json_string(&i.description),
            json_string(&i.request),
            json_string(&i.reply)
        );
    }
    out.push('}');
    out
}

/// The reply: `{"methods": [entries...]}`.
pub(crate) fn document<'a>(entries: impl IntoIterator<Item = &'a String>) -> String {
    let list: Vec<&str> = entries.into_iter().map(String::as_str).collect();
    format!("{{\"methods\":[{}]}}", list.join(","))
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_with_their_text_escaped() {
        let info = MethodInfo::new("says \"hi\"\n", "a\\b", "\u{1}");
        let e = entry("greet", false, Some(&info));
        assert_eq!(
            e,
            r#"{"name":"greet","kind":"unary","description":"says \"hi\"\n","request":"a\\b","reply":"\u0001"}"#
        );
        let s = entry("feed", true, None);
        assert_eq!(s, r#"{"name":"feed","kind":"streaming"}"#);
        assert_eq!(document([&e, &s]), format!("{{\"methods\":[{e},{s}]}}"));
    }
}
