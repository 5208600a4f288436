//! Diagnostics: every problem with a sweep carries a span into its source, a label and,
//! where bench can guess, a hint.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceSpan};

/// One problem found in a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `sweep::unknown-node`.
    pub code: &'static str,
    pub message: String,
    pub span: SourceSpan,
    pub label: Option<String>,
    pub help: Option<String>,
    /// Further places worth pointing at (the first of two duplicates, say).
    pub also: Vec<(SourceSpan, String)>,
    /// Line and column (1-based) of the span's start, filled in when the diagnostic is
    /// attached to its source.
    pub line_col: (usize, usize),
    pub source: Option<Arc<NamedSource<Arc<String>>>>,
}

impl Diag {
    pub fn error(code: &'static str, span: SourceSpan, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: None,
            help: None,
            also: Vec::new(),
            line_col: (0, 0),
            source: None,
        }
    }

    pub fn warning(code: &'static str, span: SourceSpan, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn also(mut self, span: SourceSpan, label: impl Into<String>) -> Self {
        self.also.push((span, label.into()));
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The `file:line:column` this diagnostic points at.
    pub fn location(&self) -> String {
        let name = self
            .source
            .as_ref()
            .map(|s| s.name().to_string())
            .unwrap_or_default();
        format!("{name}:{}:{}", self.line_col.0, self.line_col.1)
    }

    pub(crate) fn attach(&mut self, source: &Arc<NamedSource<Arc<String>>>, text: &str) {
        self.span = trim_span(text, self.span);
        for (s, _) in &mut self.also {
            *s = trim_span(text, *s);
        }
        self.line_col = line_col(text, self.span.offset());
        self.source = Some(source.clone());
    }
}

/// Drops the whitespace some KDL spans start with, so that labels point at the value.
fn trim_span(text: &str, span: SourceSpan) -> SourceSpan {
    let (mut start, end) = (span.offset(), (span.offset() + span.len()).min(text.len()));
    if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
        return span;
    }
    let trimmed = text[start..end].trim_start();
    start = end - trimmed.len();
    SourceSpan::from(start..end)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diag {}

impl Diagnostic for Diag {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_deref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let main = LabeledSpan::new_primary_with_span(
            Some(self.label.clone().unwrap_or_else(|| "here".into())),
            self.span,
        );
        let also = self
            .also
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), *span));
        Some(Box::new(std::iter::once(main).chain(also)))
    }
}

/// A sweep that did not compile: all of its errors (and the warnings found on the way).
#[derive(Debug, thiserror::Error)]
#[error("{} in {}", count(self.errors().count(), "error"), self.file)]
pub struct SweepError {
    pub file: String,
    pub diags: Vec<Diag>,
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

impl SweepError {
    pub fn errors(&self) -> impl Iterator<Item = &Diag> {
        self.diags.iter().filter(|d| d.is_error())
    }
}

impl Diagnostic for SweepError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("sweep::invalid"))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.diags.iter().map(|d| d as &dyn Diagnostic)))
    }
}

/// Collects diagnostics while a sweep is read and compiled.
#[derive(Debug, Default)]
pub struct Diags {
    list: Vec<Diag>,
}

impl Diags {
    pub fn push(&mut self, d: Diag) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diag::is_error)
    }

    pub fn into_vec(self) -> Vec<Diag> {
        self.list
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diag>) {
        self.list.extend(other);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// "did you mean `x`?" for the candidate closest to `got`, if any is close enough.
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let got_l = got.to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&got_l, &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// A hint listing what is allowed, with a did-you-mean in front when one is close.
pub fn suggest(got: &str, candidates: &[&str], what: &str) -> String {
    let list = candidates
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(got, candidates.iter().copied()) {
        Some(dym) => format!("{dym} ({what}: {list})"),
        None => format!("{what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let t = "ab\ncé d";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        // 'd' is at byte 7 (é is two bytes) but column 4.
        assert_eq!(line_col(t, 7), (2, 4));
    }

    #[test]
    fn did_you_mean_picks_the_closest() {
        assert_eq!(
            did_you_mean("quantisation", ["quantization", "engine"]).as_deref(),
            Some("did you mean `quantization`?")
        );
        assert_eq!(did_you_mean("zzz", ["quantization"]), None);
    }
}
