//! The GPU table: memory, dense 16-bit tensor throughput, memory bandwidth and compute
//! capability of the data-centre GPUs people benchmark on.
//!
//! Figures are the vendor's datasheet values for the SXM part unless the name says
//! otherwise; TFLOP/s are dense (no 2:4 sparsity) FP16/BF16 tensor-core rates. Memory is
//! the marketed capacity in GiB (an "80GB" H100 exposes about 79.6 GiB).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct GpuSpec {
    /// Canonical name used in sweeps, e.g. `H100-80GB`.
    pub name: &'static str,
    pub memory_gib: f64,
    /// Dense FP16/BF16 tensor TFLOP/s.
    pub fp16_tflops: f64,
    /// Dense FP8/INT8 tensor TFLOP/s (TOPS); equal to `fp16_tflops` where the part has no
    /// faster 8-bit path.
    pub int8_tflops: f64,
    pub bandwidth_gbps: f64,
    /// CUDA compute capability as major*10+minor (H100 = 90).
    pub compute_capability: u32,
    /// NVLink/NVSwitch between the GPUs of one host (tensor parallelism across PCIe is slow
    /// but still runs).
    pub nvlink: bool,
}

macro_rules! gpu {
    ($name:literal, $mem:expr, $tf:expr, $i8:expr, $bw:expr, $cc:expr, $nv:expr) => {
        GpuSpec {
            name: $name,
            memory_gib: $mem,
            fp16_tflops: $tf,
            int8_tflops: $i8,
            bandwidth_gbps: $bw,
            compute_capability: $cc,
            nvlink: $nv,
        }
    };
}

/// Every GPU bench knows by name.
pub static GPUS: &[GpuSpec] = &[
    gpu!("V100-16GB", 16.0, 125.0, 125.0, 900.0, 70, true),
    gpu!("V100-32GB", 32.0, 125.0, 125.0, 900.0, 70, true),
    gpu!("T4-16GB", 16.0, 65.0, 130.0, 320.0, 75, false),
    gpu!("A10G-24GB", 24.0, 70.0, 140.0, 600.0, 86, false),
    gpu!("L4-24GB", 24.0, 121.0, 242.0, 300.0, 89, false),
    gpu!("L40S-48GB", 48.0, 362.0, 733.0, 864.0, 89, false),
    gpu!("A100-40GB", 40.0, 312.0, 624.0, 1555.0, 80, true),
    gpu!("A100-80GB", 80.0, 312.0, 624.0, 2039.0, 80, true),
    gpu!("H100-PCIe-80GB", 80.0, 756.0, 1513.0, 2000.0, 90, false),
    gpu!("H100-80GB", 80.0, 989.0, 1979.0, 3350.0, 90, true),
    gpu!("H100-NVL-94GB", 94.0, 835.0, 1671.0, 3900.0, 90, true),
    gpu!("H200-141GB", 141.0, 989.0, 1979.0, 4800.0, 90, true),
    gpu!("B200-180GB", 180.0, 2250.0, 4500.0, 8000.0, 100, true),
];

impl GpuSpec {
    /// Looks a GPU up by its canonical name, ignoring case.
    pub fn find(name: &str) -> Option<&'static GpuSpec> {
        GPUS.iter().find(|g| g.name.eq_ignore_ascii_case(name))
    }

    pub fn memory_bytes(&self) -> f64 {
        self.memory_gib * (1u64 << 30) as f64
    }

    /// The name in the `major.minor` form NVIDIA prints.
    pub fn compute_capability_str(&self) -> String {
        format!(
            "{}.{}",
            self.compute_capability / 10,
            self.compute_capability % 10
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_case_insensitively() {
        let mut names: Vec<_> = GPUS.iter().map(|g| g.name.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), GPUS.len());
        assert_eq!(
            GpuSpec::find("h100-80gb").map(|g| g.name),
            Some("H100-80GB")
        );
        assert!(GpuSpec::find("H100").is_none());
    }

    #[test]
    fn compute_capability_prints_like_nvidia_smi() {
        assert_eq!(
            GpuSpec::find("A10G-24GB").unwrap().compute_capability_str(),
            "8.6"
        );
    }
}
