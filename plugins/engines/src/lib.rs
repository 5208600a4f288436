//! Engine plugins. Each engine is one file implementing [`EnginePlugin`] plus one line in
//! [`builtin`]; the planner asks a plugin whether it can serve a configuration, and keys
//! carry the plugin's [`EnginePlugin::fingerprint`].

mod command;
mod launch;
mod lmdeploy;
mod sglang;
mod sim;
mod tgi;
mod vllm;

use std::borrow::Cow;

use bench_catalog::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};

pub use command::{
    APIS, Command, PLAN_PLACEHOLDERS, RUN_PLACEHOLDERS, TemplateError, parse_template,
};
pub use launch::{CONTAINER_HF_HOME, ContainerSpec, Launch, Volume};
pub use lmdeploy::LmDeploy;
pub use sglang::SgLang;
pub use sim::Sim;
pub use tgi::Tgi;
pub use vllm::Vllm;

/// A serving configuration as a plugin sees it.
#[derive(Clone, Copy, Debug)]
pub struct ServingPoint<'a> {
    pub quantization: Quantization,
    pub dtype: Dtype,
    pub kv_cache: KvCacheDtype,
    pub gpu: &'a GpuSpec,
    pub gpus: u32,
    pub batch_size: u32,
    pub seq_len: u32,
    /// Architecture facts when known.
    pub arch: Option<&'a ArchFacts>,
}

/// Why an engine cannot serve a configuration: one sentence, usually static.
pub type Unsupported = Cow<'static, str>;

/// One serving engine.
pub trait EnginePlugin: Send + Sync {
    /// The name sweeps use (`vllm`).
    fn name(&self) -> &str;

    /// The plugin's own version: bump it when the plugin changes what a configuration
    /// means (its arguments, defaults), and every key of this engine changes.
    fn version(&self) -> u32;

    /// The image used when the sweep names none.
    fn default_image(&self) -> &str;

    /// Whether this engine can serve the point, and if not, why.
    fn check(&self, p: &ServingPoint<'_>) -> Result<(), Unsupported>;

    /// What goes into keys for this plugin: name, version and image.
    fn fingerprint(&self, image: &str) -> String {
        format!("{}/{}@{}", self.name(), self.version(), image)
    }

    /// How to run the engine in a container for a configuration.
    fn container(&self, l: &Launch<'_>) -> ContainerSpec;

    /// The program that serves when the engine runs as a process on a host (what the
    /// image's entrypoint runs): the container spec's arguments follow it (after its
    /// entrypoint, where the spec sets one).
    fn program(&self) -> &'static [&'static str];

    /// The dialect requests use: `openai-completions`, `openai-chat` or `tgi`.
    fn dialect(&self, chat: bool) -> &'static str {
        if chat {
            "openai-chat"
        } else {
            "openai-completions"
        }
    }
}

/// The engines bench ships with. Adding one is a new file and one line here.
pub fn builtin() -> Vec<Box<dyn EnginePlugin>> {
    vec![
        Box::new(Vllm),
        Box::new(Tgi),
        Box::new(LmDeploy),
        Box::new(SgLang),
        Box::new(Sim),
    ]
}

/// Rejects fp32 compute, which the quantized kernels of every engine lack.
pub(crate) fn quantized_needs_half(p: &ServingPoint<'_>) -> Result<(), Unsupported> {
    if !p.quantization.is_unquantized() && p.dtype == Dtype::Fp32 {
        return Err(Cow::Owned(format!(
            "{} kernels do not compute in fp32",
            p.quantization.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn point(q: Quantization, d: Dtype, kv: KvCacheDtype, gpu: &str) -> ServingPoint<'static> {
        ServingPoint {
            quantization: q,
            dtype: d,
            kv_cache: kv,
            gpu: GpuSpec::find(gpu).unwrap(),
            gpus: 1,
            batch_size: 8,
            seq_len: 2048,
            arch: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names_are_unique() {
        let all = builtin();
        let mut names: Vec<_> = all.iter().map(|p| p.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), builtin().len());
    }

    #[test]
    fn fingerprint_changes_with_image_and_version() {
        let v = Vllm;
        assert_ne!(v.fingerprint("a:1"), v.fingerprint("a:2"));
        assert_eq!(v.fingerprint("a:1"), format!("vllm/{}@a:1", v.version()));
    }
}
