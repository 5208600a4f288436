//! `bench hosts`: each host of a sweep, how its engines run, the GPUs found there.

use std::io::{Result, Write};

use crate::docker::HostReport;

pub fn hosts(reports: &[HostReport], out: &mut dyn Write) -> Result<()> {
    if reports.is_empty() {
        writeln!(
            out,
            "the sweep declares no hosts: bench runs on this machine"
        )?;
    }
    for r in reports {
        let address = r
            .address
            .as_deref()
            .map(|a| format!("  {a}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}  {}  {} × {}{address}",
            r.host, r.runtime, r.gpus, r.gpu
        )?;
        match r.runtime {
            "sim" => writeln!(out, "    simulated: no GPU needed")?,
            "endpoint" => writeln!(
                out,
                "    a server that is already running: bench drives load only"
            )?,
            _ => {}
        }
        if r.reachable == Some(true) {
            writeln!(out, "    Docker answers")?;
        }
        if let Some(d) = &r.discovery {
            for g in &d.gpus {
                let memory = if g.memory_mib > 0 {
                    format!(", {} MiB", g.memory_mib)
                } else {
                    String::new()
                };
                let uuid = if g.uuid.is_empty() {
                    String::new()
                } else {
                    format!(", {}", g.uuid)
                };
                writeln!(out, "    GPU {}: {}{memory}{uuid}", g.index, g.name)?;
            }
            if let Some(n) = &d.note {
                writeln!(out, "    {n} (via {})", d.source)?;
            }
        }
        for n in &r.nodes {
            writeln!(out, "    node {n}")?;
        }
        for p in &r.problems {
            writeln!(out, "    problem: {p}")?;
        }
    }
    Ok(())
}

/// One JSON object per host and line (`bench hosts --json`).
pub fn json_lines(reports: &[HostReport], out: &mut dyn Write) -> Result<()> {
    for r in reports {
        serde_json::to_writer(&mut *out, r)?;
        writeln!(out)?;
    }
    Ok(())
}
