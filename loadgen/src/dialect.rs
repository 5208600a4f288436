//! The API dialects: how a request is written and how each streamed event is read.

use serde_json::Value;

pub use bench_node::records::Dialect;

/// What one streamed event says.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed<'a> {
    /// Generated text in this event (an event carrying text is a token-carrying event),
    /// borrowed from the event where JSON needs no unescaping.
    pub text: Option<std::borrow::Cow<'a, str>>,
    /// Server-reported (prompt, completion) tokens.
    pub usage: Option<(Option<u64>, u64)>,
    /// The stream's end marker.
    pub done: bool,
    pub error: Option<String>,
}

/// An OpenAI stream chunk as the fast path reads it: borrowed text, no JSON tree (an
/// event is parsed on the hot path of every request, between two timestamps of others).
#[derive(serde::Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow, deserialize_with = "first")]
    choices: Option<Choice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    text: Option<Text<'a>>,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
}

#[derive(serde::Deserialize)]
struct Delta<'a> {
    #[serde(default, borrow)]
    content: Option<Text<'a>>,
}

/// A string borrowed from the event unless JSON escapes made a copy necessary (serde
/// borrows a `Cow` only when it is a field of its own, not inside an `Option`).
#[derive(serde::Deserialize)]
struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

#[derive(serde::Deserialize)]
struct Usage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// The fast path for OpenAI chunks; `None` (an error object, an unexpected shape) leaves
/// the event to the general reader.
/// The first element of a JSON array, the rest skipped: no vector per event.
fn first<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    struct First<T>(std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for First<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let first = seq.next_element()?;
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(first)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(First(std::marker::PhantomData))
}

fn openai_chunk(dialect: Dialect, data: &str) -> Option<Parsed<'_>> {
    let c: Chunk = serde_json::from_str(data).ok()?;
    if c.error.is_some() {
        return None;
    }
    let text = c.choices.and_then(|c| match dialect {
        Dialect::OpenaiChat => c.delta.and_then(|d| d.content),
        _ => c.text,
    });
    let text = text.map(|t| t.0);
    Some(Parsed {
        text: text.filter(|t| !t.is_empty()),
        usage: c
            .usage
            .and_then(|u| Some((u.prompt_tokens, u.completion_tokens?))),
        ..Parsed::default()
    })
}

/// Reads one server-sent event's data.
pub fn parse_event(dialect: Dialect, data: &str) -> Parsed<'_> {
    if data.trim() == "[DONE]" {
        return Parsed {
            done: true,
            ..Parsed::default()
        };
    }
    if dialect != Dialect::Tgi
        && let Some(p) = openai_chunk(dialect, data)
    {
        return p;
    }
    let v: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            return Parsed {
                error: Some(format!("malformed event ({e}): {}", truncate(data, 200))),
                ..Parsed::default()
            };
        }
    };
    if let Some(err) = v.get("error") {
        let msg = err
            .get("message")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| err.to_string());
        return Parsed {
            error: Some(msg),
            ..Parsed::default()
        };
    }
    match dialect {
        Dialect::OpenaiCompletions | Dialect::OpenaiChat => {
            let text = v.pointer("/choices/0").and_then(|c| {
                let t = if dialect == Dialect::OpenaiChat {
                    c.pointer("/delta/content")
                } else {
                    c.get("text")
                };
                t.and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| std::borrow::Cow::Owned(s.to_string()))
            });
            let usage = v.get("usage").filter(|u| !u.is_null()).and_then(|u| {
                Some((
                    u.get("prompt_tokens").and_then(Value::as_u64),
                    u.get("completion_tokens")?.as_u64()?,
                ))
            });
            Parsed {
                text,
                usage,
                ..Parsed::default()
            }
        }
        Dialect::Tgi => {
            let text = v
                .pointer("/token/text")
                .and_then(Value::as_str)
                .filter(|_| {
                    !v.pointer("/token/special")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .map(|s| std::borrow::Cow::Owned(s.to_string()));
            let usage = v
                .pointer("/details/generated_tokens")
                .and_then(Value::as_u64)
                .map(|n| (None, n));
            let done = v.get("generated_text").is_some_and(|g| !g.is_null());
            Parsed {
                text,
                usage,
                done,
                error: None,
            }
        }
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openai_chunks_usage_and_done() {
        let d = Dialect::OpenaiChat;
        let p = parse_event(
            d,
            r#"{"choices":[{"delta":{"role":"assistant","content":"Hi"}}]}"#,
        );
        assert_eq!(p.text.as_deref(), Some("Hi"));
        let p = parse_event(d, r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#);
        assert_eq!(p.text, None);
        let p = parse_event(
            d,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
        );
        assert_eq!(p.usage, Some((Some(5), 7)));
        assert!(parse_event(d, "[DONE]").done);
        // Escaped text is unescaped; an error object is read as one; a cut event is
        // malformed.
        let p = parse_event(d, r#"{"choices":[{"delta":{"content":"a\"b\u00e9"}}]}"#);
        assert_eq!(p.text.as_deref(), Some("a\"bé"));
        let p = parse_event(d, r#"{"error":{"message":"boom"}}"#);
        assert_eq!(p.error.as_deref(), Some("boom"));
        let p = parse_event(
            Dialect::OpenaiCompletions,
            r#"{"choices":[{"text":"x"}],"usage":null}"#,
        );
        assert_eq!((p.text.as_deref(), p.usage), (Some("x"), None));
        assert!(parse_event(d, "{\"choices\":").error.is_some());
        // The first choice is read, the others skipped; text without escapes is borrowed.
        let data = r#"{"choices":[{"text":"one"},{"text":"two"}]}"#;
        let p = parse_event(Dialect::OpenaiCompletions, data);
        assert!(matches!(p.text, Some(std::borrow::Cow::Borrowed("one"))));
        let p = parse_event(Dialect::OpenaiCompletions, r#"{"choices":null}"#);
        assert_eq!((p.text, p.error), (None, None));
    }

    #[test]
    fn reads_tgi_tokens_and_final_details() {
        let p = parse_event(
            Dialect::Tgi,
            r#"{"token":{"text":" a","special":false},"generated_text":null}"#,
        );
        assert_eq!(p.text.as_deref(), Some(" a"));
        assert!(!p.done);
        let p = parse_event(
            Dialect::Tgi,
            r#"{"token":{"text":" b"},"generated_text":" a b","details":{"generated_tokens":2}}"#,
        );
        assert!(p.done);
        assert_eq!(p.usage, Some((None, 2)));
        let p = parse_event(
            Dialect::Tgi,
            r#"{"token":{"text":"</s>","special":true},"generated_text":null}"#,
        );
        assert_eq!(p.text, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let p = parse_event(Dialect::OpenaiCompletions, "{not json");
        assert!(p.error.unwrap().starts_with("malformed event"));
        let p = parse_event(
            Dialect::OpenaiCompletions,
            r#"{"error":{"message":"overloaded"}}"#,
        );
        assert_eq!(p.error.as_deref(), Some("overloaded"));
    }
}
