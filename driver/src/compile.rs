//! From a sweep file to a plan: read, parse (with `--docker`, every host becomes the local
//! Docker Engine), resolve engine images to digests, pin models, and plan — keys computed
//! from exactly what will be measured.

use std::path::{Path, PathBuf};

use bench_engines::EnginePlugin;
use bench_plan::{Plan, PlanOptions};
use bench_sweep::ast::RuntimeKind;
use bench_sweep::{Diag, Parsed, Source};

use crate::error::{Error, Result};

/// How hosts run engines, from the global flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    /// `--simulate`: everything on the simulated engine.
    pub simulate: bool,
    /// `--docker`: every host is the local Docker Engine.
    pub docker: bool,
    /// `--offline` (or `HF_HUB_OFFLINE=1`): no hub or registry is asked; remembered
    /// answers stand in.
    pub offline: bool,
}

/// Reads a sweep file into a [`Source`], naming the file in the error.
pub fn read_source(path: &Path) -> Result<Source> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("cannot read sweep {}: {e}", path.display())))?;
    Ok(Source::new(path.display().to_string(), text))
}

/// Parses a sweep; with `--docker`, every host becomes a host of the local Docker Engine
/// (cluster pools stay what they are).
pub fn parse(source: &Source, m: Mode) -> Result<Parsed> {
    let mut parsed = bench_sweep::parse(source)?;
    if m.docker {
        for h in &mut parsed.sweep.hosts {
            if h.runtime != RuntimeKind::Docker && h.cluster.is_none() {
                h.runtime = RuntimeKind::Docker;
                h.address = None;
                h.tls_dir = None;
            }
        }
    }
    Ok(parsed)
}

fn options(path: &Path, m: Mode) -> PlanOptions {
    PlanOptions {
        simulate: m.simulate,
        base_dir: path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".").to_path_buf()
            } else {
                p.to_path_buf()
            }
        }),
        ..PlanOptions::default()
    }
}

/// A sweep read and parsed: what a plan borrows.
pub struct Loaded {
    pub path: PathBuf,
    pub source: Source,
    pub parsed: Parsed,
    pub registry: Vec<Box<dyn EnginePlugin>>,
    pub mode: Mode,
}

/// What compiling said besides the plan: the planner's warnings (the parser's are
/// [`Loaded::parsed`]'s), and notes (hosts that could not be asked about images).
#[derive(Default)]
pub struct Said {
    pub warnings: Vec<Diag>,
    pub notes: Vec<String>,
}

impl Loaded {
    pub fn read(path: &Path, mode: Mode) -> Result<Self> {
        let source = read_source(path)?;
        let registry = bench_engines::builtin();
        // A sweep in error is reported whole: the planner's errors in names too.
        let parsed = parse(&source, mode).map_err(|e| match e {
            Error::Sweep(e) => {
                bench_plan::all_errors(e, &source, &registry, &options(path, mode)).into()
            }
            e => e,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            source,
            parsed,
            registry,
            mode,
        })
    }

    /// The plan as the sweep alone says it: no host asked about images, no model pinned
    /// (what `bench check` validates, offline).
    pub fn plan_offline(&self) -> Result<Plan<'_, '_>> {
        Ok(bench_plan::plan(
            &self.parsed.sweep,
            &self.source,
            &self.registry,
            &options(&self.path, self.mode),
        )?)
    }

    /// The plan. `strict` (a build) makes a model that cannot be pinned an error.
    pub fn plan(&self, cache_dir: &Path, strict: bool) -> Result<(Plan<'_, '_>, Said)> {
        compile(self, cache_dir, strict)
    }
}

fn compile<'a>(l: &'a Loaded, cache_dir: &Path, strict: bool) -> Result<(Plan<'a, 'a>, Said)> {
    let (parsed, source, registry) = (&l.parsed, &l.source, &l.registry[..]);
    let mut said = Said::default();
    let mut opts = options(&l.path, l.mode);
    let offline = l.mode.offline || bench_models::hub::HubConfig::from_env().offline;
    if !l.mode.simulate {
        opts.image_digests = crate::docker::resolve_images(
            &parsed.sweep,
            registry,
            offline,
            &crate::paths::answers_dir(cache_dir).join("images.json"),
            &mut said.notes,
        );
    }
    let mut plan = bench_plan::plan(&parsed.sweep, source, registry, &opts)?;
    // Models whose weights are fetched are keyed by what they are exactly: pin them and
    // plan again (planning is milliseconds; the hub is asked once per model).
    let weights = crate::pin::needing_weights(&plan);
    if !weights.is_empty() {
        let base = opts.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        opts.model_pins = crate::pin::pin(
            &weights,
            &base,
            cache_dir,
            source,
            strict,
            offline,
            &mut said.warnings,
        )?;
        plan = bench_plan::plan(&parsed.sweep, source, registry, &opts)?;
        // Facts read by committed downloads replace the catalog's for memory fit.
        if let Some(cache) = crate::paths::cache_if_any(cache_dir) {
            let facts = crate::pin::known_facts(&plan, &cache);
            if !facts.is_empty() {
                opts.model_facts = facts;
                plan = bench_plan::plan(&parsed.sweep, source, registry, &opts)?;
            }
        }
    }
    said.warnings.extend(plan.warnings.iter().cloned());
    Ok((plan, said))
}
