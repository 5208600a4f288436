//! Answers from the network remembered in the cache: what a hub revision named, what digest
//! an engine image had. Planning asks again when it can (a branch moves, an image is
//! rebuilt) and falls back to the last answer, with its age, when it cannot: offline,
//! unreachable, or slower than [`LOOKUP_TIMEOUT`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How long planning waits for the hub or a registry before it goes on without them.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The answers of one kind (a JSON file), by question.
#[derive(Default, Serialize, Deserialize)]
pub struct Answers {
    refs: BTreeMap<String, Answer>,
    #[serde(skip)]
    changed: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Answer {
    /// The answer (a commit, a digest).
    #[serde(alias = "commit")]
    pub value: String,
    /// Unix seconds.
    pub at: u64,
}

impl Answer {
    /// How long ago it was given, for people (`3days 2h`).
    pub fn age(&self) -> String {
        let secs = now().saturating_sub(self.at);
        // Whole minutes: seconds are noise in "named 2h 3m ago".
        humantime::format_duration(Duration::from_secs(secs - secs % 60)).to_string()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Answers {
    /// The answers in `file`; none when it is missing or unreadable.
    pub fn load(file: &Path) -> Self {
        std::fs::read(file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn get(&self, question: &str) -> Option<&Answer> {
        self.refs.get(question)
    }

    /// Records an answer given now.
    pub fn put(&mut self, question: String, value: String) {
        if self.refs.get(&question).is_none_or(|a| a.value != value) {
            self.changed = true;
        }
        let at = now();
        self.refs.insert(question, Answer { value, at });
    }

    /// Writes the answers back when any changed (atomically: a temporary file renamed).
    pub fn save(&self, file: &Path) {
        if !self.changed {
            return;
        }
        let tmp: PathBuf = file.with_extension(format!("tmp{}", std::process::id()));
        let ok = file
            .parent()
            .is_none_or(|d| std::fs::create_dir_all(d).is_ok())
            && serde_json::to_vec_pretty(self)
                .ok()
                .is_some_and(|b| std::fs::write(&tmp, b).is_ok())
            && std::fs::rename(&tmp, file).is_ok();
        if !ok {
            tracing::warn!("cannot record answers in {}", file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_a_round_trip_and_read_the_old_commit_field() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("refs.json");
        std::fs::write(&f, r#"{"refs":{"org/m@main":{"commit":"abc","at":1}}}"#).unwrap();
        let mut a = Answers::load(&f);
        assert_eq!(a.get("org/m@main").unwrap().value, "abc");
        a.put("img".into(), "sha256:1".into());
        a.save(&f);
        let b = Answers::load(&f);
        assert_eq!(b.get("img").unwrap().value, "sha256:1");
        assert_eq!(b.get("org/m@main").unwrap().value, "abc");
        assert!(
            Answers::load(&dir.path().join("none.json"))
                .get("img")
                .is_none()
        );
    }
}
