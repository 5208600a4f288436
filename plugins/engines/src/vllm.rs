//! vLLM (`vllm/vllm-openai`): OpenAI-compatible server.

use std::borrow::Cow;

use bench_catalog::{Dtype, KvCacheDtype, Quantization};

use crate::{EnginePlugin, ServingPoint, Unsupported, quantized_needs_half};

pub struct Vllm;

impl EnginePlugin for Vllm {
    fn name(&self) -> &'static str {
        "vllm"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &'static str {
        "vllm/vllm-openai:v0.9.2"
    }

    fn check(&self, p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        quantized_needs_half(p)?;
        if p.quantization == Quantization::Awq && p.dtype != Dtype::Auto && p.dtype != Dtype::Fp16 {
            return Err(Cow::Borrowed("vLLM's AWQ kernels compute in fp16 only"));
        }
        match p.kv_cache {
            KvCacheDtype::Auto | KvCacheDtype::Fp8 => {}
            KvCacheDtype::Int8 | KvCacheDtype::Int4 => {
                return Err(Cow::Borrowed(
                    "vLLM stores the KV cache in auto or fp8 (--kv-cache-dtype), not int8/int4",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::point;

    #[test]
    fn serves_awq_in_fp16_but_not_bf16() {
        assert!(
            Vllm.check(&point(
                Quantization::Awq,
                Dtype::Fp16,
                KvCacheDtype::Auto,
                "A100-80GB"
            ))
            .is_ok()
        );
        assert!(
            Vllm.check(&point(
                Quantization::Awq,
                Dtype::Bf16,
                KvCacheDtype::Auto,
                "A100-80GB"
            ))
            .is_err()
        );
    }

    #[test]
    fn rejects_integer_kv_cache() {
        assert!(
            Vllm.check(&point(
                Quantization::Fp16,
                Dtype::Auto,
                KvCacheDtype::Int8,
                "H100-80GB"
            ))
            .is_err()
        );
        assert!(
            Vllm.check(&point(
                Quantization::Fp16,
                Dtype::Auto,
                KvCacheDtype::Fp8,
                "H100-80GB"
            ))
            .is_ok()
        );
    }
}
