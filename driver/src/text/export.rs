//! `bench export argo|k8s`: what was written, for standard error.

use std::io::{Result, Write};
use std::path::Path;

use crate::workflows::{Target, Written};

/// Where the objects went and how many nodes they run; for a split Argo export, how many
/// workflows and that the optimize node was left out.
pub fn written(
    w: &Written,
    target: Target,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let to = match output {
        Some(path) => format!("wrote {}", path.display()),
        None => "wrote them to standard output".into(),
    };
    match target {
        Target::Argo { max_tasks } if w.objects > 1 => writeln!(
            out,
            "{to} ({} nodes to run, in {} workflows of at most {max_tasks} tasks: submit them all)",
            w.nodes, w.objects
        )?,
        _ if output.is_some() => writeln!(out, "{to} ({} nodes to run)", w.nodes)?,
        _ => {}
    }
    if w.optimize_left_out {
        writeln!(
            out,
            "note: the optimize node waits for every workflow, so it is left out: it runs at the next `bench build` here, which ingests the results from the shared cache"
        )?;
    }
    Ok(())
}
