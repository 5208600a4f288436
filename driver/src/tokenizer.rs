//! A model's tokenizer for `bench load --tokenizer`: a `tokenizer.json`, a model directory,
//! or a hub id whose snapshot is in the Hugging Face cache (`refs/main` first, else the
//! newest snapshot holding one). Never fetched here: `bench build` downloads models.

use std::path::{Path, PathBuf};

use bench_loadgen::Tokenizer;
use bench_models::hub::HubConfig;

use crate::error::{Error, Result};

pub fn tokenizer(spec: &str) -> Result<Tokenizer> {
    let path = Path::new(spec);
    let file = if path.exists() {
        path.to_path_buf()
    } else {
        cached(&HubConfig::from_env(), spec).ok_or_else(|| {
            Error::Other(format!(
                "--tokenizer {spec}: no such file, and no snapshot of `{spec}` with a \
                 tokenizer.json in the Hugging Face cache (HF_HOME, HF_HUB_CACHE)"
            ))
        })?
    };
    Tokenizer::from_path(&file).map_err(Error::Other)
}

/// The cached `tokenizer.json` of a hub id.
fn cached(cfg: &HubConfig, id: &str) -> Option<PathBuf> {
    let repo = cfg.repo_dir(id);
    let main = std::fs::read_to_string(repo.join("refs").join("main")).ok();
    if let Some(f) = main
        .map(|c| cfg.snapshot_dir(id, c.trim()).join("tokenizer.json"))
        .filter(|f| f.is_file())
    {
        return Some(f);
    }
    let mut found: Vec<(std::time::SystemTime, PathBuf)> =
        std::fs::read_dir(repo.join("snapshots"))
            .ok()?
            .flatten()
            .map(|d| d.path().join("tokenizer.json"))
            .filter(|f| f.is_file())
            .filter_map(|f| Some((f.metadata().ok()?.modified().ok()?, f)))
            .collect();
    found.sort();
    found.pop().map(|(_, f)| f)
}
