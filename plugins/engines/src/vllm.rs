//! vLLM (`vllm/vllm-openai`): OpenAI-compatible server.

use std::borrow::Cow;

use bench_catalog::{Dtype, KvCacheDtype, Quantization};

use crate::launch::{push, weights_dtype};
use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported, quantized_needs_half};

pub struct Vllm;

impl EnginePlugin for Vllm {
    fn name(&self) -> &str {
        "vllm"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
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

    fn program(&self) -> &'static [&'static str] {
        &["vllm", "serve"]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let p = &l.point;
        let mut a = Vec::new();
        push(&mut a, "--model", l.model);
        push(&mut a, "--served-model-name", l.served_name);
        let port = l.port.unwrap_or(8000);
        push(&mut a, "--port", port);
        push(&mut a, "--tensor-parallel-size", p.gpus);
        push(&mut a, "--max-num-seqs", p.batch_size);
        push(&mut a, "--max-model-len", p.seq_len);
        if let Some(d) = weights_dtype(p.quantization, p.dtype) {
            push(&mut a, "--dtype", d);
        }
        match p.quantization {
            Quantization::Awq => push(&mut a, "--quantization", "awq"),
            Quantization::Gptq => push(&mut a, "--quantization", "gptq"),
            Quantization::Fp8 => push(&mut a, "--quantization", "fp8"),
            Quantization::Int8 | Quantization::Int4 => {
                push(&mut a, "--quantization", "bitsandbytes");
                push(&mut a, "--load-format", "bitsandbytes");
            }
            _ => {}
        }
        if p.kv_cache == KvCacheDtype::Fp8 {
            push(&mut a, "--kv-cache-dtype", "fp8");
        }
        ContainerSpec::new(l, port, a)
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
