//! Pinning models before keys are computed: a hub revision becomes the commit it names
//! now (remembered in the cache, used with a warning when the hub cannot be reached), a
//! local directory becomes the digest of its files (with a stat cache, so a second look at
//! a large model is a few `stat` calls); and facts read by committed downloads replace the
//! catalog's for memory fit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bench_catalog::ArchFacts;
use bench_models::hub::{self, HubConfig};
use bench_plan::{ModelPin, Plan, Subject};
use bench_sweep::ast::{Model, ModelSource};
use bench_sweep::{Diag, Source, SweepError};

use bench_cache::CacheBackend;
use bench_node::outputs::{ModelInfo, names};

use crate::error::{Error, Result};
use crate::paths::models_dir;
use crate::remember::{Answers, LOOKUP_TIMEOUT};

/// The models of a plan whose downloads fetch weights (the rest need no pin).
pub fn needing_weights<'s>(plan: &Plan<'s, '_>) -> Vec<&'s Model> {
    let mut out: Vec<&Model> = Vec::new();
    for n in plan.graph.node_weights() {
        if let Subject::Download { model } = n.subject
            && plan.expansion.facts_only_models.get(model as usize) != Some(&true)
        {
            out.push(plan.resolved.models[model as usize].decl);
        }
    }
    out
}

/// What a revision names now, or `Unreachable` when the hub does not answer within
/// [`LOOKUP_TIMEOUT`]: a plan does not wait on a network that drops packets.
async fn resolve(
    cfg: &HubConfig,
    id: &str,
    rev: &str,
) -> std::result::Result<hub::Snapshot, hub::HubError> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, hub::resolve(cfg, id, rev)).await {
        Ok(answer) => answer,
        Err(_) => Err(hub::HubError::Unreachable {
            endpoint: cfg.endpoint.clone(),
            message: format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs()),
        }),
    }
}

/// Pins every model in `models`. Hub lookups run together (none with `offline`, each
/// bounded by [`LOOKUP_TIMEOUT`]); an unknown model, revision or
/// a gated one without a token is an error at the model's line in the sweep. When the hub
/// cannot be reached, the last resolution in the cache is used (with a warning); with none,
/// `strict` (a build) makes it an error, otherwise (a look at the plan) the model stays
/// unpinned, keyed by its revision's name, and a warning says so.
pub fn pin(
    models: &[&Model],
    base_dir: &Path,
    cache_dir: &Path,
    source: &Source,
    strict: bool,
    offline: bool,
    warnings: &mut Vec<Diag>,
) -> Result<BTreeMap<String, ModelPin>> {
    let state = models_dir(cache_dir);
    let mut pins = BTreeMap::new();
    let mut diags = Vec::new();
    let mut lookups: Vec<(&Model, String, String)> = Vec::new();
    for m in models {
        match &m.source {
            ModelSource::Hub { id, revision } => {
                let rev = revision.clone().unwrap_or_else(|| "main".into());
                if hub::is_commit(&rev) {
                    pins.insert(m.name.value.clone(), ModelPin::Commit(rev.to_lowercase()));
                } else {
                    lookups.push((m, id.clone(), rev));
                }
            }
            ModelSource::Local { path } => {
                let dir = if Path::new(path).is_absolute() {
                    PathBuf::from(path)
                } else {
                    base_dir.join(path)
                };
                match local_digest(&dir, m, &state) {
                    Ok(digest) => {
                        pins.insert(
                            m.name.value.clone(),
                            ModelPin::Digest {
                                digest,
                                path: std::fs::canonicalize(&dir).unwrap_or(dir),
                            },
                        );
                    }
                    Err(why) => diags.push(
                        Diag::error("model::local", m.name.span, why)
                            .label("this model")
                            .help("`path=` names a directory holding config.json and the weights (relative to the sweep file)"),
                    ),
                }
            }
        }
    }
    if !lookups.is_empty() {
        let mut cfg = HubConfig::from_env();
        cfg.offline |= offline;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Other(format!("cannot start the runtime: {e}")))?;
        let answers = rt.block_on(futures::future::join_all(
            lookups.iter().map(|(_, id, rev)| resolve(&cfg, id, rev)),
        ));
        // A name lookup that timed out still holds a blocking thread (getaddrinfo waits out
        // the resolver's own timeouts): leave it behind rather than wait for it.
        rt.shutdown_background();
        let refs_file = state.join("refs.json");
        let mut refs = Answers::load(&refs_file);
        let mut from_cache: Vec<String> = Vec::new();
        let mut unpinned: Vec<String> = Vec::new();
        let mut offline_why: Option<(String, miette::SourceSpan)> = None;
        for ((m, id, rev), answer) in lookups.iter().zip(answers) {
            let k = format!("{id}@{rev}");
            match answer {
                Ok(snap) => {
                    refs.put(k, snap.commit.clone());
                    pins.insert(m.name.value.clone(), ModelPin::Commit(snap.commit));
                }
                Err(e) if e.is_offline() => match refs.get(&k) {
                    Some(r) => {
                        offline_why.get_or_insert((e.to_string(), m.name.span));
                        from_cache.push(format!(
                            "using commit {} that `{rev}` of {id} named {} ago",
                            r.value,
                            r.age()
                        ));
                        pins.insert(m.name.value.clone(), ModelPin::Commit(r.value.clone()));
                    }
                    None if !strict => {
                        offline_why.get_or_insert((e.to_string(), m.name.span));
                        unpinned.push(format!("{id}@{rev}"));
                    }
                    None => diags.push(
                        Diag::error(
                            "model::unresolved",
                            m.name.span,
                            format!("cannot tell which commit `{rev}` of {id} names: {e}"),
                        )
                        .label("revision not pinned")
                        .help("connect to the hub (HF_ENDPOINT) once, give revision=\"<40-hex commit>\", or rehearse offline on simulated engines with `bench build --simulate`"),
                    ),
                },
                Err(e) => diags.push(
                    Diag::error("model::hub", m.name.span, e.to_string()).label("this model"),
                ),
            }
        }
        refs.save(&refs_file);
        if let Some((why, span)) = offline_why {
            let mut lines = from_cache;
            if !unpinned.is_empty() {
                lines.push(format!(
                    "not pinned (keyed by the revision's name; `bench build` needs the hub or an earlier resolution): {}",
                    unpinned.join(", ")
                ));
            }
            let shown = lines.len().min(6);
            let more = if lines.len() > shown {
                format!("\n… and {} more", lines.len() - shown)
            } else {
                String::new()
            };
            let mut w = [Diag::warning(
                "model::offline",
                span,
                format!("{why}:\n{}{more}", lines[..shown].join("\n")),
            )
            .label("revision resolved without the hub")];
            source.attach(&mut w);
            warnings.extend(w);
        }
    }
    if diags.is_empty() {
        Ok(pins)
    } else {
        source.attach(&mut diags);
        Err(Error::Sweep(SweepError {
            file: source.name.clone(),
            diags,
        }))
    }
}

/// The digest of a local model directory's files (those the model's patterns select).
fn local_digest(dir: &Path, m: &Model, state: &Path) -> std::result::Result<String, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let pats = bench_plan::dag::model_files(m);
    let pats: Vec<&str> = pats.iter().map(String::as_str).collect();
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let stat_path = bench_models::StatCache::path_for(state, &abs);
    let mut cache = bench_models::StatCache::load(&stat_path);
    let manifest = bench_models::hash_dir(&abs, &pats, &mut cache).map_err(|e| e.to_string())?;
    if state.parent().is_some_and(Path::exists) {
        let _ = cache.save(&stat_path);
    }
    Ok(manifest.digest())
}

/// Facts the committed downloads of a plan read from their models' files, by model name.
pub fn known_facts(plan: &Plan<'_, '_>, cache: &dyn CacheBackend) -> BTreeMap<String, ArchFacts> {
    let mut out = BTreeMap::new();
    for n in plan.graph.node_weights() {
        if let Subject::Download { model } = n.subject
            && plan.expansion.facts_only_models.get(model as usize) != Some(&true)
            && let Some(info) =
                crate::outputs::read_output::<ModelInfo>(cache, &n.key.hex(), names::MODEL)
            && info.weights
            && let Some(f) = info.facts
        {
            out.insert(
                plan.resolved.models[model as usize].decl.name.value.clone(),
                f,
            );
        }
    }
    out
}
