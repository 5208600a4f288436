//! Hugging Face Text Generation Inference (`ghcr.io/huggingface/text-generation-inference`).

use std::borrow::Cow;

use bench_catalog::{Dtype, KvCacheDtype, Quantization};

use crate::launch::{push, weights_dtype};
use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported, quantized_needs_half};

pub struct Tgi;

impl EnginePlugin for Tgi {
    fn name(&self) -> &str {
        "tgi"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
        "ghcr.io/huggingface/text-generation-inference:3.3.4"
    }

    fn check(&self, p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        if p.quantization == Quantization::Fp32 || p.dtype == Dtype::Fp32 {
            return Err(Cow::Borrowed(
                "TGI serves float16 and bfloat16 only (--dtype)",
            ));
        }
        quantized_needs_half(p)?;
        if !p.quantization.is_unquantized() && p.dtype != Dtype::Auto {
            return Err(Cow::Borrowed(
                "TGI does not take --dtype together with --quantize",
            ));
        }
        if p.gpu.compute_capability < 80 {
            return Err(Cow::Owned(format!(
                "TGI's flash-attention models need compute capability 8.0, {} has {}",
                p.gpu.name,
                p.gpu.compute_capability_str()
            )));
        }
        match p.kv_cache {
            KvCacheDtype::Auto | KvCacheDtype::Fp8 => Ok(()),
            _ => Err(Cow::Borrowed(
                "TGI stores the KV cache in auto or fp8 (--kv-cache-dtype), not int8/int4",
            )),
        }
    }

    fn program(&self) -> &'static [&'static str] {
        &["text-generation-launcher"]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let p = &l.point;
        let mut a = Vec::new();
        push(&mut a, "--model-id", l.model);
        let port = l.port.unwrap_or(80);
        push(&mut a, "--port", port);
        push(&mut a, "--num-shard", p.gpus);
        push(
            &mut a,
            "--max-input-tokens",
            p.seq_len.saturating_sub(1).max(1),
        );
        push(&mut a, "--max-total-tokens", p.seq_len);
        push(
            &mut a,
            "--max-concurrent-requests",
            (p.batch_size * 4).max(128),
        );
        push(&mut a, "--max-batch-size", p.batch_size);
        match p.quantization {
            Quantization::Awq => push(&mut a, "--quantize", "awq"),
            Quantization::Gptq => push(&mut a, "--quantize", "gptq"),
            Quantization::Fp8 => push(&mut a, "--quantize", "fp8"),
            Quantization::Int8 => push(&mut a, "--quantize", "eetq"),
            Quantization::Int4 => push(&mut a, "--quantize", "bitsandbytes-nf4"),
            _ => {
                if let Some(d) = weights_dtype(p.quantization, p.dtype) {
                    push(&mut a, "--dtype", d);
                }
            }
        }
        if p.kv_cache == KvCacheDtype::Fp8 {
            push(&mut a, "--kv-cache-dtype", "fp8_e5m2");
        }
        let mut spec = ContainerSpec::new(l, port, a);
        spec.shm_size = 1 << 30;
        spec
    }

    fn dialect(&self, chat: bool) -> &'static str {
        if chat { "openai-chat" } else { "tgi" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::point;

    #[test]
    fn rejects_fp32_and_dtype_with_quantize() {
        assert!(
            Tgi.check(&point(
                Quantization::Fp32,
                Dtype::Auto,
                KvCacheDtype::Auto,
                "A100-80GB"
            ))
            .is_err()
        );
        assert!(
            Tgi.check(&point(
                Quantization::Awq,
                Dtype::Fp16,
                KvCacheDtype::Auto,
                "A100-80GB"
            ))
            .is_err()
        );
        assert!(
            Tgi.check(&point(
                Quantization::Awq,
                Dtype::Auto,
                KvCacheDtype::Auto,
                "A100-80GB"
            ))
            .is_ok()
        );
    }

    #[test]
    fn needs_ampere() {
        let e = Tgi
            .check(&point(
                Quantization::Fp16,
                Dtype::Auto,
                KvCacheDtype::Auto,
                "V100-32GB",
            ))
            .unwrap_err();
        assert!(e.contains("7.0"), "{e}");
    }
}
