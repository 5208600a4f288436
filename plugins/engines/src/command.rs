//! An engine the sweep declares by its command line, for engines bench has no plugin for
//! (an in-house build, a fork, a new server): `engine "mine" command="./serve --port
//! {port} --max-batch {batch-size}" api="openai-chat" health="/health"`.
//!
//! The template is split into words as a shell would (quotes, backslashes; nothing is
//! expanded), then each word's `{placeholder}`s are filled in two steps: the planner fills
//! the configuration's axis values ([`PLAN_PLACEHOLDERS`]) and keys the words that result;
//! the attempt fills what only it knows ([`RUN_PLACEHOLDERS`]: the port, the weights' path).
//! `{{` and `}}` are literal braces. Flags from the sweep (`arg` in the engine block,
//! `engine-arg` axes) follow the command's words, as for every engine.

use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported};

/// Placeholders the planner fills from the configuration: every axis of the matrix.
pub const PLAN_PLACEHOLDERS: &[&str] = &[
    "quantization",
    "dtype",
    "kv-cache",
    "gpu",
    "gpus",
    "batch-size",
    "seq-len",
];

/// Placeholders the attempt fills where the engine runs: the port and address to listen
/// on, the model as the engine loads it (the downloaded snapshot's path, else the hub id)
/// and the name requests use.
pub const RUN_PLACEHOLDERS: &[&str] = &["port", "host", "model", "served-model-name"];

/// The API dialects a command engine may speak (`api=`); `openai` follows the workload
/// (chat or completions).
pub const APIS: &[&str] = &["openai", "openai-chat", "openai-completions", "tgi"];

/// The port a command engine listens on inside a container.
const CONTAINER_PORT: u16 = 8000;

/// A mistake in a template: where in the template string (bytes) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte range within the template string.
    pub at: std::ops::Range<usize>,
    pub message: String,
}

/// One piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// Splits a template into words and checks every placeholder. The words keep their
/// placeholders (as written, braces escaped as `{{`/`}}`) for [`fill`].
pub fn parse_template(template: &str) -> Result<Vec<String>, TemplateError> {
    let words = shell_words::split(template).map_err(|e| TemplateError {
        at: 0..template.len(),
        message: format!("the command does not split into words: {e}"),
    })?;
    if words.is_empty() {
        return Err(TemplateError {
            at: 0..template.len(),
            message: "the command is empty".into(),
        });
    }
    // Placeholders are checked against the template's own text, so that an error points
    // at the placeholder itself (quotes do not change what is inside braces).
    pieces(template).map_err(|(at, message)| TemplateError { at, message })?;
    Ok(words)
}

/// A word's pieces; an error carries its byte range within `word`.
fn pieces(word: &str) -> Result<Vec<Piece>, (std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let b = word.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                text.push('{');
                i += 2;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                text.push('}');
                i += 2;
            }
            b'{' => {
                let Some(len) = word[i + 1..].find('}') else {
                    return Err((
                        i..word.len(),
                        "`{` opens a placeholder that no `}` closes (write `{{` for a brace)"
                            .into(),
                    ));
                };
                let name = &word[i + 1..i + 1 + len];
                let at = i..i + len + 2;
                if !PLAN_PLACEHOLDERS.contains(&name) && !RUN_PLACEHOLDERS.contains(&name) {
                    let known: Vec<&str> = PLAN_PLACEHOLDERS
                        .iter()
                        .chain(RUN_PLACEHOLDERS)
                        .copied()
                        .collect();
                    let dashed = name.replace('_', "-");
                    if known.contains(&dashed.as_str()) {
                        return Err((
                            at,
                            format!(
                                "unknown placeholder `{{{name}}}`: did you mean `{{{dashed}}}`?"
                            ),
                        ));
                    }
                    return Err((
                        at,
                        format!(
                            "unknown placeholder `{{{name}}}`; a command may use {}",
                            known
                                .iter()
                                .map(|k| format!("{{{k}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Var(name.to_string()));
                i += len + 2;
            }
            b'}' => {
                return Err((
                    i..i + 1,
                    "`}` closes no placeholder (write `}}` for a brace)".into(),
                ));
            }
            _ => {
                let ch = word[i..].chars().next().unwrap_or_default();
                text.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

fn escape(s: &str) -> String {
    s.replace('{', "{{").replace('}', "}}")
}

/// Fills the placeholders `value` knows in each word and keeps the others as placeholders
/// (escaped again, so that the result is a template of the rest).
pub fn fill(
    words: &[String],
    value: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    render(words, value, true)
}

/// The words with every placeholder filled: what runs.
fn fill_all(
    words: &[String],
    value: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    render(words, value, false)
}

/// Each word with its placeholders filled; `partial` keeps what `value` does not know (and
/// escapes braces), else such a placeholder is an error.
fn render(
    words: &[String],
    value: impl Fn(&str) -> Option<String>,
    partial: bool,
) -> Result<Vec<String>, String> {
    let text = |t: String| if partial { escape(&t) } else { t };
    words
        .iter()
        .map(|w| {
            let ps = pieces(w).map_err(|(_, m)| format!("in `{w}`: {m}"))?;
            ps.into_iter()
                .map(|p| match p {
                    Piece::Text(t) => Ok(text(t)),
                    Piece::Var(v) => match value(&v) {
                        Some(x) => Ok(text(x)),
                        None if partial => Ok(format!("{{{v}}}")),
                        None => Err(format!("nothing fills `{{{v}}}`")),
                    },
                })
                .collect()
        })
        .collect()
}

/// The values of the planner's placeholders for a configuration.
pub fn plan_value(p: &ServingPoint<'_>, name: &str) -> Option<String> {
    Some(match name {
        "quantization" => p.quantization.name().to_string(),
        "dtype" => p.dtype.name().to_string(),
        "kv-cache" => p.kv_cache.name().to_string(),
        "gpu" => p.gpu.name.to_string(),
        "gpus" => p.gpus.to_string(),
        "batch-size" => p.batch_size.to_string(),
        "seq-len" => p.seq_len.to_string(),
        _ => return None,
    })
}

/// An engine declared by a command line.
#[derive(Clone, Debug)]
pub struct Command {
    pub name: String,
    /// The command's words, with placeholders.
    pub words: Vec<String>,
    /// One of [`APIS`].
    pub api: String,
    /// `GET` path that answers 200 once the engine serves.
    pub health: String,
    /// The image to run it in on Docker hosts, if any.
    pub image: Option<String>,
}

impl Command {
    /// The words with the configuration's values filled in: what enters the bench node's
    /// key. Only the attempt's own placeholders remain.
    pub fn for_point(&self, p: &ServingPoint<'_>) -> Vec<String> {
        // The words were checked when the command was parsed: every placeholder is known.
        fill(&self.words, |v| plan_value(p, v)).unwrap_or_else(|_| self.words.clone())
    }
}

impl EnginePlugin for Command {
    fn name(&self) -> &str {
        &self.name
    }

    /// Bump when what a command engine's words mean changes.
    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
        self.image.as_deref().unwrap_or("")
    }

    fn check(&self, _p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        // Bench knows nothing of what the command supports: the sweep's rules say it.
        Ok(())
    }

    fn fingerprint(&self, image: &str) -> String {
        format!("command/{}@{}", self.version(), image)
    }

    fn program(&self) -> &'static [&'static str] {
        &[]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let port = l.port.unwrap_or(CONTAINER_PORT);
        let host = if l.port.is_some() {
            "127.0.0.1"
        } else {
            "0.0.0.0"
        };
        let words = fill(&self.words, |v| plan_value(&l.point, v)).unwrap_or_default();
        let argv = fill_all(&words, |v| {
            Some(match v {
                "port" => port.to_string(),
                "host" => host.to_string(),
                "model" => l.model.to_string(),
                "served-model-name" => l.served_name.to_string(),
                _ => return None,
            })
        })
        // A word that cannot be filled was changed after planning: run it as written, and
        // the engine says what is wrong with it.
        .unwrap_or_else(|_| self.words.clone());
        let (first, rest) = argv
            .split_first()
            .map_or((None, &[][..]), |(f, r)| (Some(f), r));
        let mut spec = ContainerSpec::new(l, port, rest.to_vec());
        spec.entrypoint = first.map(|f| vec![f.clone()]);
        spec.health_path = self.health.clone();
        spec
    }

    fn dialect(&self, chat: bool) -> &'static str {
        match self.api.as_str() {
            "openai-chat" => "openai-chat",
            "openai-completions" => "openai-completions",
            "tgi" => "tgi",
            _ if chat => "openai-chat",
            _ => "openai-completions",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::point;
    use bench_catalog::{Dtype, KvCacheDtype, Quantization};

    fn cmd(t: &str) -> Command {
        Command {
            name: "mine".into(),
            words: parse_template(t).unwrap(),
            api: "openai".into(),
            health: "/ready".into(),
            image: None,
        }
    }

    #[test]
    fn words_split_as_a_shell_would_and_keep_placeholders() {
        assert_eq!(
            parse_template("./serve --name 'my model' --port {port} --x={batch-size}k").unwrap(),
            [
                "./serve",
                "--name",
                "my model",
                "--port",
                "{port}",
                "--x={batch-size}k"
            ]
        );
    }

    #[test]
    fn an_unknown_placeholder_is_reported_where_it_is() {
        let t = "./serve --port {prot} --b {batch-size}";
        let e = parse_template(t).unwrap_err();
        assert_eq!(&t[e.at.clone()], "{prot}");
        assert!(
            e.message.contains("unknown placeholder `{prot}`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("{port}"), "{}", e.message);
        let e = parse_template("serve {port").unwrap_err();
        assert_eq!(e.at, 6..11);
        let e = parse_template("serve port}").unwrap_err();
        assert_eq!(e.at, 10..11);
        assert!(parse_template("serve 'unclosed").is_err());
        assert!(parse_template("  ").is_err());
    }

    #[test]
    fn the_planner_fills_axes_and_leaves_the_attempts_placeholders() {
        let c = cmd("serve --q {quantization} --b {batch-size} --p {port} --json '{{\"a\":1}}'");
        let p = point(
            Quantization::Awq,
            Dtype::Fp16,
            KvCacheDtype::Auto,
            "H100-80GB",
        );
        let words = c.for_point(&p);
        assert_eq!(
            words,
            [
                "serve",
                "--q",
                "awq",
                "--b",
                "8",
                "--p",
                "{port}",
                "--json",
                "{{\"a\":1}}"
            ]
        );
        // The attempt fills the rest and unescapes the braces.
        let run = Command { words, ..c };
        let spec = run.container(&Launch {
            point: p,
            image: "",
            model: "/w/snap",
            served_name: "m",
            hf_cache: None,
            args: &[("--extra".into(), Some("1".into()))],
            env: &Default::default(),
            secrets: &[],
            port: Some(4321),
        });
        assert_eq!(spec.entrypoint, Some(vec!["serve".to_string()]));
        assert_eq!(
            spec.args,
            [
                "--q",
                "awq",
                "--b",
                "8",
                "--p",
                "4321",
                "--json",
                "{\"a\":1}",
                "--extra",
                "1"
            ]
        );
        assert_eq!((spec.port, spec.health_path.as_str()), (4321, "/ready"));
    }

    #[test]
    fn a_value_with_braces_is_not_read_as_a_placeholder() {
        let filled = fill(&["--x={gpu}".to_string()], |_| Some("{port}".into())).unwrap();
        assert_eq!(filled, ["--x={{port}}"]);
        assert_eq!(
            fill_all(&filled, |_| Some("9".into())).unwrap(),
            ["--x={port}"]
        );
    }

    #[test]
    fn the_dialect_follows_the_workload_unless_fixed() {
        let mut c = cmd("serve");
        assert_eq!(
            (c.dialect(true), c.dialect(false)),
            ("openai-chat", "openai-completions")
        );
        c.api = "tgi".into();
        assert_eq!(c.dialect(true), "tgi");
    }
}
