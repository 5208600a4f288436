//! Numeric formats: how weights are stored (`quantization`), what the engine computes in
//! (`dtype`) and how the KV cache is stored (`kv-cache`).

use serde::Serialize;

/// How a model's weights are stored on the GPU.
///
/// `fp32`, `fp16` and `bf16` are unquantized weights at that precision (users call "FP16" a
/// quantization level, so it is one here); the others are quantization methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantization {
    Fp32,
    Fp16,
    Bf16,
    /// FP8 weights (E4M3), per-tensor or per-channel scales.
    Fp8,
    /// 8-bit integer weights (bitsandbytes LLM.int8, EETQ, SmoothQuant W8A8).
    Int8,
    /// 4-bit integer weights without a calibrated method (bitsandbytes NF4 and the like).
    Int4,
    /// Activation-aware 4-bit weights, group size 128.
    Awq,
    /// GPTQ 4-bit weights, group size 128.
    Gptq,
}

impl Quantization {
    pub const ALL: [Quantization; 8] = [
        Self::Fp32,
        Self::Fp16,
        Self::Bf16,
        Self::Fp8,
        Self::Int8,
        Self::Int4,
        Self::Awq,
        Self::Gptq,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Fp16 => "fp16",
            Self::Bf16 => "bf16",
            Self::Fp8 => "fp8",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
            Self::Awq => "awq",
            Self::Gptq => "gptq",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
    }

    /// True for the unquantized formats (`fp32`, `fp16`, `bf16`).
    pub fn is_unquantized(self) -> bool {
        matches!(self, Self::Fp32 | Self::Fp16 | Self::Bf16)
    }

    /// The dtype unquantized weights are stored in.
    pub fn as_dtype(self) -> Option<Dtype> {
        match self {
            Self::Fp32 => Some(Dtype::Fp32),
            Self::Fp16 => Some(Dtype::Fp16),
            Self::Bf16 => Some(Dtype::Bf16),
            _ => None,
        }
    }

    /// Bytes per weight of the quantized linear layers, scales and zero points included
    /// (group size 128 with a 16-bit scale and zero point adds 1/32 byte per weight).
    pub fn bytes_per_weight(self) -> f64 {
        match self {
            Self::Fp32 => 4.0,
            Self::Fp16 | Self::Bf16 => 2.0,
            Self::Fp8 | Self::Int8 => 1.0,
            Self::Int4 | Self::Awq | Self::Gptq => 0.5 + 1.0 / 32.0,
        }
    }

    /// The lowest CUDA compute capability (major*10+minor) with kernels for this format.
    pub fn min_compute_capability(self) -> u32 {
        match self {
            Self::Bf16 => 80,
            Self::Fp8 => 89,
            Self::Awq | Self::Gptq => 75,
            _ => 70,
        }
    }
}

/// The precision activations are computed in (`--dtype` of the engines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dtype {
    /// The engine's choice: the checkpoint's dtype, fp16 for quantized checkpoints.
    Auto,
    Fp32,
    Fp16,
    Bf16,
}

impl Dtype {
    pub const ALL: [Dtype; 4] = [Self::Auto, Self::Fp32, Self::Fp16, Self::Bf16];

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fp32 => "fp32",
            Self::Fp16 => "fp16",
            Self::Bf16 => "bf16",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
    }

    /// Bytes per element; `auto` counts as 16-bit.
    pub fn bytes(self) -> f64 {
        match self {
            Self::Fp32 => 4.0,
            _ => 2.0,
        }
    }

    pub fn min_compute_capability(self) -> u32 {
        match self {
            Self::Bf16 => 80,
            _ => 70,
        }
    }
}

/// How the KV cache is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvCacheDtype {
    /// Same as the compute dtype.
    Auto,
    Fp8,
    Int8,
    Int4,
}

impl KvCacheDtype {
    pub const ALL: [KvCacheDtype; 4] = [Self::Auto, Self::Fp8, Self::Int8, Self::Int4];

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Fp8 => "fp8",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
    }

    pub fn bytes(self, compute: Dtype) -> f64 {
        match self {
            Self::Auto => compute.bytes(),
            Self::Fp8 | Self::Int8 => 1.0,
            Self::Int4 => 0.5,
        }
    }

    pub fn min_compute_capability(self) -> u32 {
        match self {
            Self::Fp8 => 89,
            _ => 70,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for q in Quantization::ALL {
            assert_eq!(Quantization::parse(q.name()), Some(q));
        }
        for d in Dtype::ALL {
            assert_eq!(Dtype::parse(d.name()), Some(d));
        }
        for k in KvCacheDtype::ALL {
            assert_eq!(KvCacheDtype::parse(k.name()), Some(k));
        }
        assert_eq!(Quantization::parse("AWQ"), Some(Quantization::Awq));
        assert_eq!(Quantization::parse("nf4"), None);
    }

    #[test]
    fn four_bit_formats_carry_their_scales() {
        assert!(Quantization::Awq.bytes_per_weight() > 0.5);
        assert!(Quantization::Awq.bytes_per_weight() < Quantization::Int8.bytes_per_weight());
    }
}
