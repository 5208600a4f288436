//! The sweep language: a `sweep.kdl` (KDL 2) read into a typed [`Sweep`].
//!
//! This crate knows the *shape* of a sweep — which nodes exist, their properties and types,
//! which names must be unique — and reports every mistake with a span into the source.
//! What the names *mean* (which engines exist, which GPUs, whether a configuration fits) is
//! the planner's business (`bench-plan`), which reports in the same [`Diag`] form.

pub mod ast;
pub mod diag;
pub mod metrics;
mod parse;
mod read;

use std::sync::Arc;

use miette::NamedSource;

pub use ast::*;
pub use diag::{Diag, Diags, SweepError, did_you_mean, suggest};
pub use parse::looks_secret;

/// A sweep's source text with its file name, shared by every diagnostic that points into it.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: Arc<String>,
    named: Arc<NamedSource<Arc<String>>>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let name = name.into();
        let text = Arc::new(text.into());
        let named = Arc::new(NamedSource::new(name.clone(), text.clone()).with_language("kdl"));
        Self { name, text, named }
    }

    /// Attaches the source to diagnostics so that they render with file:line:column.
    pub fn attach(&self, diags: &mut [Diag]) {
        for d in diags {
            d.attach(&self.named, &self.text);
        }
    }
}

/// A parsed sweep with the warnings found while reading it.
#[derive(Debug)]
pub struct Parsed {
    pub sweep: Sweep,
    pub warnings: Vec<Diag>,
}

/// Parses a sweep. On error, every error found (and the warnings) are returned at once.
pub fn parse(source: &Source) -> Result<Parsed, SweepError> {
    match parse_lenient(source) {
        (Some(sweep), diags) if !diags.iter().any(Diag::is_error) => Ok(Parsed {
            sweep,
            warnings: diags,
        }),
        (_, diags) => Err(SweepError {
            file: source.name.clone(),
            diags,
        }),
    }
}

/// Parses as far as the text allows: the sweep whenever its structure could be read (a
/// value in error is left out of it), and every diagnostic. For reporting every error at
/// once; a sweep with errors is never planned.
pub fn parse_lenient(source: &Source) -> (Option<Sweep>, Vec<Diag>) {
    let mut d = Diags::default();
    let sweep = parse::parse_document(&source.text, &mut d);
    let mut diags = d.into_vec();
    source.attach(&mut diags);
    (sweep, diags)
}
