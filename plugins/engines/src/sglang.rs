//! SGLang (`lmsysorg/sglang`): OpenAI-compatible server. Added as one file and one line in
//! `builtin()`, to show what adding an engine takes.

use std::borrow::Cow;

use bench_catalog::{Dtype, KvCacheDtype, Quantization};

use crate::launch::{push, weights_dtype};
use crate::{ContainerSpec, EnginePlugin, Launch, ServingPoint, Unsupported, quantized_needs_half};

pub struct SgLang;

impl EnginePlugin for SgLang {
    fn name(&self) -> &str {
        "sglang"
    }

    fn version(&self) -> u32 {
        1
    }

    fn default_image(&self) -> &str {
        "lmsysorg/sglang:v0.4.9.post2-cu126"
    }

    fn check(&self, p: &ServingPoint<'_>) -> Result<(), Unsupported> {
        if p.quantization == Quantization::Fp32 || p.dtype == Dtype::Fp32 {
            return Err(Cow::Borrowed("SGLang serves float16 and bfloat16"));
        }
        quantized_needs_half(p)?;
        if p.quantization == Quantization::Int4 {
            return Err(Cow::Borrowed(
                "SGLang's 4-bit weights are AWQ or GPTQ checkpoints",
            ));
        }
        if p.gpu.compute_capability < 80 {
            return Err(Cow::Owned(format!(
                "SGLang's attention kernels need compute capability 8.0, {} has {}",
                p.gpu.name,
                p.gpu.compute_capability_str()
            )));
        }
        match p.kv_cache {
            KvCacheDtype::Auto | KvCacheDtype::Fp8 => Ok(()),
            _ => Err(Cow::Borrowed(
                "SGLang stores the KV cache in auto or fp8_e5m2, not int8/int4",
            )),
        }
    }

    fn program(&self) -> &'static [&'static str] {
        &["python3", "-m", "sglang.launch_server"]
    }

    fn container(&self, l: &Launch<'_>) -> ContainerSpec {
        let p = &l.point;
        let mut a: Vec<String> = ["python3", "-m", "sglang.launch_server"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        push(&mut a, "--model-path", l.model);
        push(&mut a, "--served-model-name", l.served_name);
        push(&mut a, "--host", "0.0.0.0");
        let port = l.port.unwrap_or(30000);
        push(&mut a, "--port", port);
        push(&mut a, "--tp", p.gpus);
        push(&mut a, "--max-running-requests", p.batch_size);
        push(&mut a, "--context-length", p.seq_len);
        if let Some(d) = weights_dtype(p.quantization, p.dtype) {
            push(&mut a, "--dtype", d);
        }
        match p.quantization {
            Quantization::Awq => push(&mut a, "--quantization", "awq"),
            Quantization::Gptq => push(&mut a, "--quantization", "gptq"),
            Quantization::Fp8 => push(&mut a, "--quantization", "fp8"),
            Quantization::Int8 => push(&mut a, "--quantization", "w8a8_int8"),
            _ => {}
        }
        if p.kv_cache == KvCacheDtype::Fp8 {
            push(&mut a, "--kv-cache-dtype", "fp8_e5m2");
        }
        ContainerSpec::new(l, port, a)
    }
}
