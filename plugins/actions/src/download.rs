//! The download node: a model's weights at an exact commit (or a local directory of an
//! exact content), with a manifest of its files and the architecture facts its own
//! `config.json` and safetensors headers give.
//!
//! For a model used only by simulated configurations the plan asks for no weights
//! (`"weights": false`): the node records the model's identity and the facts the sweep
//! or the catalog gives, which drive the simulator.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use bench_models::StatCache;
use bench_models::hub::{self, HubConfig, HubError, Progress, Verified};
use bench_node::context::DownloadContext;
use bench_node::outputs::ModelInfo;
use bench_node::params::{DownloadParams as Params, ModelSourceKind};
use bench_node::{Action, Failure, FailureClass, JobSpec};

use crate::{infra, outputs, permanent, write_json};

pub struct Download;

impl Action for Download {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let p: Params = job.params()?;
        let ctx: DownloadContext = job.context()?;
        let name =
            p.id.clone()
                .or(p.path.clone())
                .unwrap_or_else(|| "model".into());
        if !p.weights {
            println!(
                "model {name} (facts only: every configuration of it is simulated or served by an endpoint)"
            );
            return write_json(
                job,
                outputs::MODEL,
                &ModelInfo {
                    source: p.source.name().to_string(),
                    id: p.id,
                    revision: p.revision,
                    path: p.path,
                    weights: false,
                    facts: p.facts,
                    ..Default::default()
                },
            );
        }
        let patterns: Vec<String> = p.files.clone().unwrap_or_else(|| {
            bench_catalog::DEFAULT_MODEL_FILES
                .iter()
                .map(|s| s.to_string())
                .collect()
        });
        let pats: Vec<&str> = patterns.iter().map(String::as_str).collect();
        let state = ctx
            .state_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("bench-models"));
        let (dir, fetch) = match p.source {
            ModelSourceKind::Hub => {
                let id =
                    p.id.clone()
                        .ok_or_else(|| permanent("a hub model without an id"))?;
                let commit = p
                    .revision
                    .clone()
                    .ok_or_else(|| permanent("a hub model without a pinned commit"))?;
                let (dir, report) =
                    fetch_hub(&id, &commit, ctx.revision.as_deref(), &pats, &state)?;
                (dir, report)
            }
            ModelSourceKind::Local => {
                let dir = ctx
                    .path
                    .clone()
                    .ok_or_else(|| permanent("a local model without its directory"))?;
                (dir, None)
            }
        };

        // The manifest: every file, its size and blake3 (unchanged files from the stat
        // cache).
        let stat_path = StatCache::path_for(&state, &dir);
        let mut stat = StatCache::load(&stat_path);
        let t0 = std::time::Instant::now();
        let manifest =
            bench_models::hash_dir(&dir, &pats, &mut stat).map_err(|e| permanent(e.to_string()))?;
        let _ = stat.save(&stat_path);
        let digest = manifest.digest();
        println!(
            "manifest: {} files, {}, digest {} ({:.2} s)",
            manifest.files.len(),
            human_bytes(manifest.total_bytes),
            &digest[..16],
            t0.elapsed().as_secs_f64()
        );
        if let Some(planned) = &p.digest
            && *planned != digest
        {
            return Err(permanent(format!(
                "{} changed since it was planned (its files' digest is {}, the plan keyed {}): build again to measure what is there now",
                dir.display(),
                &digest[..16],
                &planned[..16.min(planned.len())]
            )));
        }

        // Facts from the checkpoint itself; the plan's when it has no readable config.
        let (facts, architecture, dtype, quantization) = match bench_models::read_facts(&dir) {
            Ok(f) => {
                println!(
                    "facts: {} layers, hidden {}, {} heads ({} KV), vocab {}, {:.2} B parameters ({})",
                    f.arch.layers,
                    f.arch.hidden,
                    f.arch.heads,
                    f.arch.kv_heads,
                    f.arch.vocab,
                    f.arch.params / 1e9,
                    f.params_from
                );
                (Some(f.arch), f.architecture, f.dtype, f.quantization)
            }
            Err(e) => {
                println!("warning: no architecture facts from the files ({e}); using the plan's");
                (ctx.planned_facts.or(p.facts), None, None, None)
            }
        };
        write_json(
            job,
            outputs::MODEL,
            &ModelInfo {
                source: p.source.name().to_string(),
                id: p.id,
                revision: p.revision,
                path: Some(dir.display().to_string()),
                weights: true,
                facts,
                architecture,
                dtype,
                quantization,
                manifest: Some(manifest),
                digest: Some(digest),
                fetch,
            },
        )
    }
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

fn hub_failure(e: HubError) -> Failure {
    let class = if e.is_transient() {
        FailureClass::Transient
    } else if matches!(e, HubError::DiskFull { .. } | HubError::Io { .. }) {
        FailureClass::Infrastructure
    } else {
        FailureClass::Permanent
    };
    Failure::new(class, e.to_string())
}

/// Fetches (or finds) the files of `id` at `commit`; returns the snapshot directory.
fn fetch_hub(
    id: &str,
    commit: &str,
    revision: Option<&str>,
    patterns: &[&str],
    state: &std::path::Path,
) -> Result<(PathBuf, Option<hub::FetchReport>), Failure> {
    let cfg = HubConfig::from_env();
    // One thread for the network: hf-hub's chunk tasks then start in file order, so the
    // prefix it commits (what a killed fetch resumes from) grows steadily; on several
    // threads chunks finish out of order and a kill loses those past a gap. Checksums are
    // computed on blocking threads.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| infra(format!("cannot start the runtime: {e}")))?;
    let snap = match rt.block_on(hub::resolve(&cfg, id, commit)) {
        Ok(mut s) => {
            s.revision = revision.unwrap_or(commit).to_string();
            s
        }
        Err(e) if e.is_offline() => {
            // Offline: what an earlier fetch left is used as it is.
            let dir = cfg.snapshot_dir(id, commit);
            let have = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
            if have {
                println!(
                    "warning: {e}; using the files of {id} at {commit} already in {}",
                    dir.display()
                );
                return Ok((dir, None));
            }
            return Err(hub_failure(e));
        }
        Err(e) => return Err(hub_failure(e)),
    };
    let files = snap
        .select(patterns)
        .map_err(|e| permanent(e.to_string()))?;
    if files.is_empty() {
        return Err(permanent(format!(
            "no file of {id} at {commit} matches {} (the repository has {})",
            patterns.join(", "),
            snap.files
                .iter()
                .map(|f| f.path.as_str())
                .take(10)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let total: u64 = files.iter().map(|f| f.size).sum();
    println!(
        "{id} at {commit}: {} files, {} (into {})",
        files.len(),
        human_bytes(total),
        cfg.repo_dir(id).display()
    );
    // The byte bar: drawn on a terminal; the log gets a line every few seconds.
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_length(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(id.to_string());
    let progress = Progress::new(bar.clone());
    let ticker = {
        let bar = bar.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            let mut last = u64::MAX;
            let mut printed = std::time::Instant::now();
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let pos = bar.position();
                if pos != last && printed.elapsed() >= Duration::from_secs(2) {
                    printed = std::time::Instant::now();
                    println!(
                        "progress {}/{} ({}/s)",
                        human_bytes(pos),
                        human_bytes(total),
                        human_bytes(bar.per_sec() as u64)
                    );
                    last = pos;
                }
            }
        });
        (stop, t)
    };
    let verified_path = state.join("verified.json");
    let mut verified = Verified::load(&verified_path);
    let out = rt.block_on(hub::fetch(&cfg, &snap, &files, &mut verified, &progress));
    let _ = verified.save(&verified_path);
    ticker.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ticker.1.join();
    bar.finish_and_clear();
    let (dir, report) = out.map_err(hub_failure)?;
    println!(
        "fetched {} files ({} in {:.1} s), {} already in the cache",
        report.fetched.len(),
        human_bytes(report.bytes_received),
        report.seconds,
        report.reused.len()
    );
    Ok((dir, Some(report)))
}
