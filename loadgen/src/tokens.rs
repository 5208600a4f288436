//! Counting tokens as the model does: its own tokenizer (`tokenizer.json`, the `tokenizers`
//! crate), for prompts of exact lengths and for output counts when a server sends no usage.
//! Without one, counts are estimates (words) and are said to be.

use std::path::{Path, PathBuf};

use rand::Rng;

use crate::dataset::Prompt;
pub use bench_node::records::TokenSource;

/// A model's tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The file it was read from.
    pub path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({})", self.path.display())
    }
}

impl Tokenizer {
    /// Reads `tokenizer.json`, or the one in a model directory.
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let inner = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| format!("cannot read the tokenizer {}: {e}", file.display()))?;
        Ok(Self { inner, path: file })
    }

    fn ids(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Tokens of `text`, without the special tokens a server adds around a prompt.
    pub fn count(&self, text: &str) -> u64 {
        self.ids(text).len() as u64
    }

    /// A prompt of `n` tokens drawn from `words` (as vLLM's random dataset does: text cut at
    /// `n` token ids, decoded, and checked by encoding it again). Returns the text and its
    /// count: `n`, or the nearest the tokenizer's round trip allows.
    pub fn exact(&self, words: &[&str], n: u64, rng: &mut impl Rng) -> (String, u64) {
        let mut text = String::new();
        while self.count(&text) < n {
            for _ in 0..n.max(8) {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(words[rng.random_range(0..words.len())]);
            }
        }
        let ids = self.ids(&text);
        let mut k = (n as usize).min(ids.len());
        let mut best = (text.clone(), self.count(&text));
        for _ in 0..16 {
            let t = self.inner.decode(&ids[..k], true).unwrap_or_default();
            let c = self.count(&t);
            if c.abs_diff(n) < best.1.abs_diff(n) {
                best = (t, c);
            }
            if c == n {
                break;
            }
            if c > n && k > 0 {
                k -= 1;
            } else if c < n && k < ids.len() {
                k += 1;
            } else {
                break;
            }
        }
        best
    }

    /// Counts the prompts' tokens with this tokenizer.
    pub fn recount(&self, prompts: &mut [Prompt]) {
        for p in prompts {
            p.tokens = self.count(&p.text);
            p.tokens_from = TokenSource::Tokenizer;
        }
    }
}

/// A word-level `tokenizer.json` over `words` (split on whitespace and punctuation): how
/// the simulated engine counts, for tests and rehearsals of tokenizer-counted runs.
pub fn word_level_json(words: &[&str]) -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = std::iter::once("[UNK]")
        .chain(words.iter().copied())
        .enumerate()
        .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
        .collect();
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    pub fn word_level(dir: &Path, words: &[&str]) -> PathBuf {
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, word_level_json(words)).unwrap();
        path
    }

    #[test]
    fn exact_prompts_have_the_length_asked() {
        let dir = tempfile::tempdir().unwrap();
        let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
        let t = Tokenizer::from_path(&word_level(dir.path(), &words)).unwrap();
        assert_eq!(t.count("alpha beta, gamma"), 4); // the comma is a token of its own
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for n in [1, 7, 100] {
            let (text, c) = t.exact(&words, n, &mut rng);
            assert_eq!(c, n, "{text}");
            assert_eq!(t.count(&text), n);
        }
        // A directory holding tokenizer.json is read too; a missing file says where.
        assert!(Tokenizer::from_path(dir.path()).is_ok());
        let e = Tokenizer::from_path(&dir.path().join("none.json")).unwrap_err();
        assert!(e.contains("none.json"), "{e}");
    }
}
