//! The GPU-memory estimate the planner uses to prune configurations that cannot fit.
//!
//! Per GPU of a tensor-parallel group of `tp` GPUs:
//!
//! * **weights**: linear layers at the quantization's bytes per weight, embedding and output
//!   projection at 16 bits (quantization methods leave them alone), all divided by `tp`. For
//!   unquantized checkpoints an explicit `dtype` wins, because engines cast at load time.
//! * **KV cache**: `2 · layers · ceil(kv_heads / tp) · head_dim · bytes · batch · seq_len`;
//!   KV heads are split across GPUs, and replicated when there are fewer heads than GPUs.
//! * **overhead**: 1 GiB (CUDA context, library workspaces, CUDA graphs) plus the
//!   activations of one forward pass over `min(batch · seq_len, 8192)` tokens:
//!   `tokens · (32 · hidden + 4 · vocab)` bytes, divided by `tp`.
//!
//! The sum must fit in `memory · utilization` (0.90 by default, vLLM's
//! `--gpu-memory-utilization`). This is a planning estimate, deliberately a little
//! pessimistic: a configuration it prunes would at best run with a tiny KV cache.

use crate::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};

/// Default fraction of GPU memory an engine may use.
pub const DEFAULT_UTILIZATION: f64 = 0.90;

const GIB: f64 = (1u64 << 30) as f64;

/// The estimate for one configuration, in bytes per GPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub weights: f64,
    pub kv_cache: f64,
    pub overhead: f64,
    /// What the engine may use on one GPU: memory × utilization.
    pub usable: f64,
    pub gpu_memory: f64,
}

impl MemoryEstimate {
    pub fn total(&self) -> f64 {
        self.weights + self.kv_cache + self.overhead
    }

    pub fn fits(&self) -> bool {
        self.total() <= self.usable
    }

    /// Total across the tensor-parallel group, in GiB (the `gpu-memory-gb` metric).
    pub fn total_gib(&self, tp: u32) -> f64 {
        self.total() * tp as f64 / GIB
    }

    /// One line that says why a configuration does not fit.
    pub fn explain(&self) -> String {
        format!(
            "needs {:.1} GiB per GPU (weights {:.1} + KV cache {:.1} + overhead {:.1}) but {:.1} of {:.0} GiB is usable",
            self.total() / GIB,
            self.weights / GIB,
            self.kv_cache / GIB,
            self.overhead / GIB,
            self.usable / GIB,
            self.gpu_memory / GIB,
        )
    }
}

/// Everything that decides a configuration's memory.
#[derive(Clone, Copy, Debug)]
pub struct MemoryInput<'a> {
    pub arch: &'a ArchFacts,
    pub quantization: Quantization,
    pub dtype: Dtype,
    pub kv_cache: KvCacheDtype,
    pub gpu: &'a GpuSpec,
    pub tp: u32,
    pub batch: u32,
    pub seq_len: u32,
    pub utilization: f64,
}

/// Estimates per-GPU memory; see the module documentation for the model.
pub fn estimate_memory(i: &MemoryInput<'_>) -> MemoryEstimate {
    let tp = i.tp.max(1) as f64;
    let a = i.arch;
    // The dtype the engine computes in: an unquantized checkpoint's own dtype under `auto`.
    let compute = match (i.dtype, i.quantization.as_dtype()) {
        (Dtype::Auto, Some(d)) => d,
        (d, _) => d,
    };
    let weight_bytes = if i.quantization.is_unquantized() {
        a.params * compute.bytes()
    } else {
        let emb = a.embedding_params();
        (a.params - emb) * i.quantization.bytes_per_weight() + emb * 2.0
    };
    let kv_heads_per_gpu = a.kv_heads.div_ceil(i.tp.max(1)) as f64;
    let kv = 2.0
        * a.layers as f64
        * kv_heads_per_gpu
        * a.head_dim as f64
        * i.kv_cache.bytes(compute)
        * i.batch as f64
        * i.seq_len as f64;
    let tokens = (i.batch as f64 * i.seq_len as f64).min(8192.0);
    let activations = tokens * (32.0 * a.hidden as f64 + 4.0 * a.vocab as f64) / tp;
    MemoryEstimate {
        weights: weight_bytes / tp,
        kv_cache: kv,
        overhead: GIB + activations,
        usable: i.gpu.memory_bytes() * i.utilization,
        gpu_memory: i.gpu.memory_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CatalogModel;

    fn input<'a>(
        model: &str,
        q: Quantization,
        gpu: &str,
        tp: u32,
        batch: u32,
        seq: u32,
    ) -> MemoryInput<'a> {
        MemoryInput {
            arch: &CatalogModel::find(model).unwrap().facts,
            quantization: q,
            dtype: Dtype::Auto,
            kv_cache: KvCacheDtype::Auto,
            gpu: GpuSpec::find(gpu).unwrap(),
            tp,
            batch,
            seq_len: seq,
            utilization: DEFAULT_UTILIZATION,
        }
    }

    #[test]
    fn llama_8b_fp16_fits_one_h100() {
        let e = estimate_memory(&input(
            "llama-3.1-8b",
            Quantization::Fp16,
            "H100-80GB",
            1,
            8,
            4096,
        ));
        assert!(e.fits(), "{}", e.explain());
        // 8.03e9 params · 2 bytes
        assert!((e.weights - 16.06e9).abs() < 1e6);
        // 128 KiB per token · 8 · 4096
        assert_eq!(e.kv_cache, 131072.0 * 8.0 * 4096.0);
    }

    #[test]
    fn llama_70b_fp16_does_not_fit_one_gpu_but_fits_four() {
        let one = estimate_memory(&input(
            "llama-3.1-70b",
            Quantization::Fp16,
            "A100-80GB",
            1,
            1,
            512,
        ));
        assert!(!one.fits());
        assert!(one.explain().starts_with("needs 13"), "{}", one.explain());
        let four = estimate_memory(&input(
            "llama-3.1-70b",
            Quantization::Fp16,
            "A100-80GB",
            4,
            8,
            2048,
        ));
        assert!(four.fits(), "{}", four.explain());
    }

    #[test]
    fn quantization_shrinks_weights_but_not_embeddings() {
        let fp16 = estimate_memory(&input(
            "llama-3.1-70b",
            Quantization::Fp16,
            "H100-80GB",
            1,
            1,
            512,
        ));
        let awq = estimate_memory(&input(
            "llama-3.1-70b",
            Quantization::Awq,
            "H100-80GB",
            1,
            1,
            512,
        ));
        let ratio = awq.weights / fp16.weights;
        assert!(ratio > 0.265 && ratio < 0.30, "{ratio}");
        assert!(awq.fits(), "{}", awq.explain());
    }

    #[test]
    fn kv_heads_are_replicated_beyond_their_count() {
        // Qwen2.5-7B has 4 KV heads: at tp=8 each GPU still holds one.
        let tp4 = estimate_memory(&input(
            "qwen2.5-7b",
            Quantization::Fp16,
            "H100-80GB",
            4,
            1,
            1024,
        ));
        let tp8 = estimate_memory(&input(
            "qwen2.5-7b",
            Quantization::Fp16,
            "H100-80GB",
            8,
            1,
            1024,
        ));
        assert_eq!(tp4.kv_cache, tp8.kv_cache);
    }

    #[test]
    fn explicit_dtype_casts_unquantized_weights() {
        let mut i = input("mistral-7b", Quantization::Fp16, "A100-80GB", 1, 1, 512);
        i.dtype = Dtype::Fp32;
        let e = estimate_memory(&i);
        assert!((e.weights - 7.24e9 * 4.0).abs() < 1e6);
    }
}
