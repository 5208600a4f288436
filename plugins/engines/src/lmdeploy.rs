//! LMDeploy (`openmmlab/lmdeploy`), TurboMind backend.

use std::borrow::Cow;

use bench_catalog::{Dtype, KvCacheDtype, Quantization};

use crate::launch::{push, weights_dtype};
use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported, quantized_needs_half};

pub struct LmDeploy;

impl EnginePlugin for LmDeploy {
    fn name(&self) -> &str {
        "lmdeploy"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
        "openmmlab/lmdeploy:v0.9.2-cu12"
    }

    fn check(&self, p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        if p.quantization == Quantization::Fp32 || p.dtype == Dtype::Fp32 {
            return Err(Cow::Borrowed(
                "LMDeploy serves float16 and bfloat16 only (--dtype)",
            ));
        }
        quantized_needs_half(p)?;
        if p.quantization == Quantization::Int4 {
            return Err(Cow::Borrowed(
                "LMDeploy's 4-bit weights are AWQ (--model-format awq): use quantization \"awq\"",
            ));
        }
        if p.kv_cache == KvCacheDtype::Fp8 {
            return Err(Cow::Borrowed(
                "LMDeploy quantizes the KV cache to int8 or int4 (--quant-policy 8/4), not fp8",
            ));
        }
        Ok(())
    }

    fn program(&self) -> &'static [&'static str] {
        // The image has no entrypoint: the container's command is the whole command line.
        &[]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let p = &l.point;
        let mut a: Vec<String> = ["lmdeploy", "serve", "api_server", l.model]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let port = l.port.unwrap_or(23333);
        push(&mut a, "--server-port", port);
        push(&mut a, "--model-name", l.served_name);
        push(&mut a, "--tp", p.gpus);
        push(&mut a, "--max-batch-size", p.batch_size);
        push(&mut a, "--session-len", p.seq_len);
        match p.quantization {
            Quantization::Awq => push(&mut a, "--model-format", "awq"),
            Quantization::Gptq => push(&mut a, "--model-format", "gptq"),
            Quantization::Fp8 => push(&mut a, "--model-format", "fp8"),
            _ => {
                if let Some(d) = weights_dtype(p.quantization, p.dtype) {
                    push(&mut a, "--dtype", d);
                }
            }
        }
        match p.kv_cache {
            KvCacheDtype::Int8 => push(&mut a, "--quant-policy", 8),
            KvCacheDtype::Int4 => push(&mut a, "--quant-policy", 4),
            _ => {}
        }
        ContainerSpec::new(l, port, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::point;

    #[test]
    fn serves_integer_kv_cache_and_awq_on_volta() {
        assert!(
            LmDeploy
                .check(&point(
                    Quantization::Fp16,
                    Dtype::Auto,
                    KvCacheDtype::Int4,
                    "V100-32GB"
                ))
                .is_ok()
        );
        assert!(
            LmDeploy
                .check(&point(
                    Quantization::Awq,
                    Dtype::Auto,
                    KvCacheDtype::Int8,
                    "A100-80GB"
                ))
                .is_ok()
        );
        assert!(
            LmDeploy
                .check(&point(
                    Quantization::Int4,
                    Dtype::Auto,
                    KvCacheDtype::Auto,
                    "A100-80GB"
                ))
                .is_err()
        );
    }
}
