//! Prompts: synthetic (`random`), JSONL prompt files, ShareGPT conversations, and eval sets.
//!
//! Without a tokenizer, prompt lengths are counted in words drawn from common English words
//! that are single tokens (with a leading space) in the Llama 3, Qwen2 and GPT-2
//! vocabularies: exact on the sim engine (one token per word), close on real tokenizers. The
//! server's reported prompt tokens are recorded beside the requested count.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

pub use bench_node::params::Scoring;

use crate::tokens::{TokenSource, Tokenizer};

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub text: String,
    /// Prompt tokens: by the model's tokenizer, or words (see the module documentation).
    pub tokens: u64,
    pub tokens_from: TokenSource,
    pub max_tokens: u64,
    /// For eval items: the expected answer and how to score it.
    pub expected: Option<(String, Scoring)>,
}

const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on", "be",
    "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
    "one", "you", "were", "all", "we", "her", "she", "there", "would", "their", "will", "when",
    "who", "him", "been", "has", "more", "if", "no", "out", "so", "what", "up", "can", "about",
    "into", "them", "some", "time", "could", "only", "other", "new", "these", "two", "may",
    "first", "then", "do", "any", "like", "my", "now", "over", "such", "our", "man", "me", "even",
    "most", "made", "after", "also", "did", "many", "before", "must", "through", "back", "years",
    "where", "much", "your", "way", "well", "down", "should", "because", "each", "just", "those",
    "people", "how", "too",
];

/// `count` synthetic prompts: lengths uniform in `len · (1 ± spread)`, seeded; counted in
/// words (see the module documentation).
pub fn random(
    count: usize,
    input_len: u32,
    output_len: u32,
    spread: f64,
    seed: u64,
) -> Vec<Prompt> {
    random_with(None, count, input_len, output_len, spread, seed)
}

/// [`random`], with prompts of exactly their length in the tokens of `tokenizer` when given.
pub fn random_with(
    tokenizer: Option<&Tokenizer>,
    count: usize,
    input_len: u32,
    output_len: u32,
    spread: f64,
    seed: u64,
) -> Vec<Prompt> {
    let mut rng = StdRng::seed_from_u64(seed);
    let draw = |rng: &mut StdRng, len: u32| -> u64 {
        // ± 1e-9 keeps 100 · 1.1 from rounding up to 111.
        let lo = (len as f64 * (1.0 - spread) + 1e-9).floor().max(1.0) as u64;
        let hi = (len as f64 * (1.0 + spread) - 1e-9).ceil().max(lo as f64) as u64;
        rng.random_range(lo..=hi)
    };
    (0..count)
        .map(|_| {
            let n = draw(&mut rng, input_len);
            let out = draw(&mut rng, output_len);
            let (text, tokens, tokens_from) = match tokenizer {
                Some(t) => {
                    let (text, tokens) = t.exact(WORDS, n, &mut rng);
                    (text, tokens, TokenSource::Tokenizer)
                }
                None => {
                    let text = (0..n)
                        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                        .collect::<Vec<_>>()
                        .join(" ");
                    (text, n, TokenSource::Estimate)
                }
            };
            Prompt {
                text,
                tokens,
                tokens_from,
                max_tokens: out,
                expected: None,
            }
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Line {
        path: String,
        line: usize,
        why: String,
    },
    #[error("{path}: no usable prompts")]
    Empty { path: String },
}

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Objects of a JSONL file, with their line numbers.
fn jsonl(path: &Path) -> Result<Vec<(usize, Value)>, DatasetError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| DatasetError::Line {
            path: path.display().to_string(),
            line: i + 1,
            why: e.to_string(),
        })?;
        out.push((i + 1, v));
    }
    Ok(out)
}

/// A JSONL file of `{"prompt": "...", "output_len": N?}`.
pub fn prompts_file(path: &Path, output_len: u32) -> Result<Vec<Prompt>, DatasetError> {
    let mut out = Vec::new();
    for (line, v) in jsonl(path)? {
        let text = v
            .get("prompt")
            .and_then(Value::as_str)
            .ok_or_else(|| DatasetError::Line {
                path: path.display().to_string(),
                line,
                why: "no \"prompt\" string".into(),
            })?;
        let max = v
            .get("output_len")
            .and_then(Value::as_u64)
            .unwrap_or(output_len as u64);
        out.push(Prompt {
            tokens: words(text),
            tokens_from: TokenSource::Estimate,
            text: text.to_string(),
            max_tokens: max,
            expected: None,
        });
    }
    non_empty(out, path)
}

/// ShareGPT conversations (a JSON array or JSONL): the first human turn is the prompt; the
/// first reply's length (in words) is the output length unless one is given.
pub fn sharegpt(path: &Path, output_len: Option<u32>) -> Result<Vec<Prompt>, DatasetError> {
    let text = read(path)?;
    let items: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(a)) => a,
        _ => jsonl(path)?.into_iter().map(|(_, v)| v).collect(),
    };
    let mut out = Vec::new();
    for item in items {
        let Some(turns) = item.get("conversations").and_then(Value::as_array) else {
            continue;
        };
        let role = |t: &Value| {
            t.get("from")
                .or_else(|| t.get("role"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let value = |t: &Value| {
            t.get("value")
                .or_else(|| t.get("content"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let Some(h) = turns
            .iter()
            .position(|t| matches!(role(t).as_str(), "human" | "user"))
        else {
            continue;
        };
        let prompt = value(&turns[h]);
        if prompt.trim().is_empty() {
            continue;
        }
        let reply = turns.get(h + 1).map(value).unwrap_or_default();
        let max = output_len
            .map(u64::from)
            .unwrap_or_else(|| words(&reply).max(1));
        out.push(Prompt {
            tokens: words(&prompt),
            tokens_from: TokenSource::Estimate,
            text: prompt,
            max_tokens: max,
            expected: None,
        });
    }
    non_empty(out, path)
}

/// An eval set: JSONL of `{"prompt": "...", "answer": "..."}`.
pub fn eval(path: &Path, scoring: Scoring, output_len: u32) -> Result<Vec<Prompt>, DatasetError> {
    let mut out = Vec::new();
    for (line, v) in jsonl(path)? {
        let bad = |why: &str| DatasetError::Line {
            path: path.display().to_string(),
            line,
            why: why.into(),
        };
        let text = v
            .get("prompt")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"prompt\" string"))?;
        let answer = match v.get("answer") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(bad("no \"answer\"")),
        };
        out.push(Prompt {
            tokens: words(text),
            tokens_from: TokenSource::Estimate,
            text: text.to_string(),
            max_tokens: output_len as u64,
            expected: Some((answer, scoring)),
        });
    }
    non_empty(out, path)
}

fn non_empty(v: Vec<Prompt>, path: &Path) -> Result<Vec<Prompt>, DatasetError> {
    if v.is_empty() {
        Err(DatasetError::Empty {
            path: path.display().to_string(),
        })
    } else {
        Ok(v)
    }
}

/// Prompts from a command-line dataset spec: `jsonl:PATH`, `sharegpt:PATH`,
/// `eval:PATH[:exact-match|contains|choice]`; without one, `count` random prompts. With a
/// tokenizer, random prompts have exact lengths and every prompt is counted by it.
pub fn from_spec(
    spec: Option<&str>,
    tokenizer: Option<&Tokenizer>,
    count: usize,
    input_len: u32,
    output_len: u32,
    spread: f64,
    seed: u64,
) -> Result<Vec<Prompt>, String> {
    let Some(spec) = spec else {
        let random = random_with(tokenizer, count, input_len, output_len, spread, seed);
        return Ok(random);
    };
    let mut prompts = from_file(spec, output_len)?;
    if let Some(t) = tokenizer {
        t.recount(&mut prompts);
    }
    Ok(prompts)
}

fn from_file(spec: &str, output_len: u32) -> Result<Vec<Prompt>, String> {
    let err = |e: DatasetError| e.to_string();
    let (kind, rest) = spec
        .split_once(':')
        .ok_or_else(|| format!("--dataset {spec}: write KIND:PATH (jsonl, sharegpt, eval)"))?;
    match kind {
        "jsonl" => prompts_file(Path::new(rest), output_len).map_err(err),
        "sharegpt" => sharegpt(Path::new(rest), Some(output_len)).map_err(err),
        "eval" => {
            let (path, scoring) = match rest.rsplit_once(':') {
                Some((p, "exact-match")) => (p, Scoring::ExactMatch),
                Some((p, "contains")) => (p, Scoring::Contains),
                Some((p, "choice")) => (p, Scoring::Choice),
                _ => (rest, Scoring::ExactMatch),
            };
            eval(Path::new(path), scoring, output_len).map_err(err)
        }
        other => Err(format!(
            "--dataset: unknown kind `{other}` (jsonl, sharegpt, eval)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_prompts_are_seeded_and_within_spread() {
        let a = random(50, 100, 20, 0.1, 7);
        assert_eq!(a, random(50, 100, 20, 0.1, 7));
        assert_ne!(a, random(50, 100, 20, 0.1, 8));
        for p in &a {
            assert!((90..=110).contains(&p.tokens));
            assert_eq!(p.tokens, words(&p.text));
            assert!((18..=22).contains(&p.max_tokens));
        }
        let exact = random(5, 64, 8, 0.0, 1);
        assert!(exact.iter().all(|p| p.tokens == 64 && p.max_tokens == 8));
    }

    #[test]
    fn reads_files_and_reports_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.jsonl");
        std::fs::write(
            &p,
            "{\"prompt\": \"hello world\"}\n\n{\"prompt\": \"x\", \"output_len\": 3}\n",
        )
        .unwrap();
        let v = prompts_file(&p, 16).unwrap();
        assert_eq!(
            v.iter()
                .map(|x| (x.tokens, x.max_tokens))
                .collect::<Vec<_>>(),
            vec![(2, 16), (1, 3)]
        );
        std::fs::write(&p, "{\"prompt\": \"ok\"}\n{\"text\": 1}\n").unwrap();
        assert_eq!(
            prompts_file(&p, 16).unwrap_err().to_string(),
            format!("{}:2: no \"prompt\" string", p.display())
        );
        let s = dir.path().join("s.json");
        std::fs::write(&s, r#"[{"conversations":[{"from":"system","value":"sys"},{"from":"human","value":"a b c"},{"from":"gpt","value":"d e"}]}]"#).unwrap();
        let v = sharegpt(&s, None).unwrap();
        assert_eq!(
            (v[0].text.as_str(), v[0].tokens, v[0].max_tokens),
            ("a b c", 3, 2)
        );
    }

    #[test]
    fn scoring_rules() {
        assert!(Scoring::ExactMatch.score(" Paris \n", "paris"));
        assert!(!Scoring::ExactMatch.score("Paris, France", "Paris"));
        assert!(Scoring::Contains.score("It is Paris, France", "paris"));
        assert!(Scoring::Choice.score("The answer is (B).", "B"));
        assert!(!Scoring::Choice.score("The answer is C", "B"));
        assert!(Scoring::Choice.score("I think a good pick is D", "d"));
    }
}
