//! The performance model: a roofline per engine step.
//!
//! * **Prefill** is compute-bound: `2 · active_params · tokens / (tp · FLOP/s · 0.5)`, with
//!   FP8/INT8 weights on the GPU's 8-bit tensor rate and everything else on its 16-bit rate.
//! * **Decode** is memory-bound: each step reads the weights once and every running
//!   sequence's KV cache: `(weight_bytes / tp + kv_bytes) / (bandwidth · 0.7)`.
//! * **Tensor parallelism** adds 5 % per extra GPU over NVLink, 15 % over PCIe.
//! * **Quantization** changes the bytes read (the catalog's bytes per weight) and, through
//!   [`accuracy`], the quality of answers.
//!
//! Efficiencies (0.5 of peak FLOP/s, 0.7 of peak bandwidth) are typical of serving engines.

use bench_catalog::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};

pub const PREFILL_EFFICIENCY: f64 = 0.5;
pub const DECODE_EFFICIENCY: f64 = 0.7;
/// Kernel launches and scheduling per step.
pub const STEP_OVERHEAD_S: f64 = 0.000_2;

#[derive(Clone, Debug)]
pub struct Hardware {
    pub arch: ArchFacts,
    pub gpu: &'static GpuSpec,
    pub tp: u32,
    pub quantization: Quantization,
    pub dtype: Dtype,
    pub kv_cache: KvCacheDtype,
}

impl Hardware {
    fn tp_factor(&self) -> f64 {
        let per = if self.gpu.nvlink { 0.05 } else { 0.15 };
        1.0 + per * (self.tp.saturating_sub(1)) as f64
    }

    fn compute_dtype(&self) -> Dtype {
        match (self.dtype, self.quantization.as_dtype()) {
            (Dtype::Auto, Some(d)) => d,
            (Dtype::Auto, None) => Dtype::Fp16,
            (d, _) => d,
        }
    }

    /// Seconds to prefill `tokens` prompt tokens.
    pub fn prefill_s(&self, tokens: u64) -> f64 {
        if tokens == 0 {
            return 0.0;
        }
        let tflops = match self.quantization {
            Quantization::Fp8 | Quantization::Int8 => self.gpu.int8_tflops,
            _ if self.compute_dtype() == Dtype::Fp32 => self.gpu.fp16_tflops / 8.0,
            _ => self.gpu.fp16_tflops,
        };
        2.0 * self.arch.active_params * tokens as f64
            / (self.tp as f64 * tflops * 1e12 * PREFILL_EFFICIENCY)
            * self.tp_factor()
    }

    /// Bytes of weights read per decode step (all experts' weights are resident; a step
    /// reads the active ones).
    pub fn weight_bytes_per_step(&self) -> f64 {
        let q = self.quantization;
        let bytes = if q.is_unquantized() {
            self.compute_dtype().bytes()
        } else {
            q.bytes_per_weight()
        };
        self.arch.active_params * bytes
    }

    /// Seconds of one decode step for sequences holding `context_tokens` in all.
    pub fn decode_step_s(&self, context_tokens: u64) -> f64 {
        let kv = self
            .arch
            .kv_bytes_per_token(self.kv_cache.bytes(self.compute_dtype()))
            * context_tokens as f64;
        let bytes = self.weight_bytes_per_step() / self.tp as f64 + kv / self.tp as f64;
        bytes / (self.gpu.bandwidth_gbps * 1e9 * DECODE_EFFICIENCY) * self.tp_factor()
            + STEP_OVERHEAD_S
    }
}

/// Fraction of eval answers the simulated model gets right: 0.80 for unquantized weights,
/// minus the typical loss of each method (FP8 0.5, INT8 1, AWQ 2, GPTQ 2.5, INT4 4 points).
pub fn accuracy(q: Quantization) -> f64 {
    0.80 - match q {
        Quantization::Fp32 | Quantization::Fp16 | Quantization::Bf16 => 0.0,
        Quantization::Fp8 => 0.005,
        Quantization::Int8 => 0.01,
        Quantization::Awq => 0.02,
        Quantization::Gptq => 0.025,
        Quantization::Int4 => 0.04,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bench_catalog::CatalogModel;

    fn hw(gpu: &str, q: Quantization, tp: u32) -> Hardware {
        Hardware {
            arch: CatalogModel::find("llama-3.1-8b").unwrap().facts,
            gpu: GpuSpec::find(gpu).unwrap(),
            tp,
            quantization: q,
            dtype: Dtype::Auto,
            kv_cache: KvCacheDtype::Auto,
        }
    }

    #[test]
    fn decode_is_memory_bound_and_faster_on_faster_memory() {
        let h100 = hw("H100-80GB", Quantization::Fp16, 1);
        let a100 = hw("A100-80GB", Quantization::Fp16, 1);
        // 16 GB of weights at 3.35 TB/s · 0.7 ≈ 6.85 ms.
        let step = h100.decode_step_s(0);
        assert!((step - 0.00705).abs() < 0.0003, "{step}");
        assert!(a100.decode_step_s(0) > step);
        // KV cache traffic grows the step.
        assert!(h100.decode_step_s(32 * 2048) > step * 1.3);
    }

    #[test]
    fn quantization_and_tensor_parallelism_speed_up_decode() {
        let fp16 = hw("H100-80GB", Quantization::Fp16, 1).decode_step_s(1000);
        let awq = hw("H100-80GB", Quantization::Awq, 1).decode_step_s(1000);
        let tp2 = hw("H100-80GB", Quantization::Fp16, 2).decode_step_s(1000);
        assert!(awq < fp16 * 0.4, "{awq} vs {fp16}");
        assert!(tp2 < fp16 * 0.6 && tp2 > fp16 * 0.5, "{tp2} vs {fp16}");
    }

    #[test]
    fn prefill_is_compute_bound() {
        let h = hw("H100-80GB", Quantization::Fp16, 1);
        // 2 · 8.03e9 · 1000 / (989e12 · 0.5) ≈ 32.5 ms
        assert!(
            (h.prefill_s(1000) - 0.0325).abs() < 0.001,
            "{}",
            h.prefill_s(1000)
        );
        assert!(hw("H100-80GB", Quantization::Fp8, 1).prefill_s(1000) < h.prefill_s(1000) * 0.6);
    }

    #[test]
    fn accuracy_degrades_with_coarser_formats() {
        assert!(accuracy(Quantization::Fp16) > accuracy(Quantization::Int8));
        assert!(accuracy(Quantization::Awq) > accuracy(Quantization::Int4));
    }
}
