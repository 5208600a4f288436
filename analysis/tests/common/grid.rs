//! A synthetic serving grid whose true front is known: 2 models × 4 quantizations × 3 GPU
//! types × 4 GPU counts × 6 batch sizes × 9 concurrencies, less what does not fit in memory
//! or has no kernels — about 4,000 candidates. The "measurements" are the roofline's
//! steady state bent the way real engines bend it (a systematic bias per quantization and
//! GPU, ±10 % noise per candidate), with crashes where memory runs close to the limit and
//! 3 % at random; the prior is the plain roofline. Objectives, minimised: −log output
//! throughput, log TTFT, log cost per million tokens.

#![allow(dead_code)]

use bench_analysis::Axis;
use bench_analysis::search::Space;
use bench_catalog::memory::{MemoryInput, estimate_memory};
use bench_catalog::roofline::{Hardware, Offered};
use bench_catalog::{CatalogModel, Dtype, GpuSpec, KvCacheDtype, Quantization};

pub struct Grid {
    pub space: Space,
    /// What measuring each candidate gives (`None`: it crashes).
    pub truth: Vec<Option<Vec<f64>>>,
    /// The roofline's estimate of each candidate.
    pub prior: Vec<Vec<f64>>,
}

/// A deterministic value in [0, 1) per (candidate, salt).
fn unit(i: usize, salt: u64) -> f64 {
    let mut z =
        (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn grid() -> Grid {
    let models = ["llama-3.1-8b", "llama-3.1-70b"];
    let quants = [
        Quantization::Fp16,
        Quantization::Fp8,
        Quantization::Awq,
        Quantization::Int4,
    ];
    let gpus = [
        ("L40S-48GB", 0.90),
        ("A100-80GB", 1.29),
        ("H100-80GB", 2.49),
    ];
    let counts = [1u32, 2, 4, 8];
    let batches = [8u32, 16, 32, 64, 128, 256];
    let conc = [1u32, 2, 4, 8, 16, 32, 64, 128, 256];
    let axes = vec![
        Axis::Categorical {
            choices: models.len(),
        },
        Axis::Categorical {
            choices: quants.len(),
        },
        Axis::Categorical {
            choices: gpus.len(),
        },
        Axis::Integer {
            lo: 0,
            hi: counts.len() as i64 - 1,
        },
        Axis::Integer {
            lo: 0,
            hi: batches.len() as i64 - 1,
        },
        Axis::Integer {
            lo: 0,
            hi: conc.len() as i64 - 1,
        },
    ];
    let (mut points, mut truth, mut prior) = (Vec::new(), Vec::new(), Vec::new());
    for (mi, m) in models.iter().enumerate() {
        let arch = CatalogModel::find(m).unwrap().facts;
        for (qi, &q) in quants.iter().enumerate() {
            for (gi, &(g, price)) in gpus.iter().enumerate() {
                let gpu = GpuSpec::find(g).unwrap();
                if q == Quantization::Fp8 && gpu.compute_capability < 89 {
                    continue; // no FP8 kernels
                }
                for (ci, &tp) in counts.iter().enumerate() {
                    for (bi, &batch) in batches.iter().enumerate() {
                        let mem = estimate_memory(&MemoryInput {
                            arch: &arch,
                            quantization: q,
                            dtype: Dtype::Auto,
                            kv_cache: KvCacheDtype::Auto,
                            gpu,
                            tp,
                            batch,
                            seq_len: 4096,
                            utilization: 0.9,
                        });
                        if !mem.fits() {
                            continue;
                        }
                        let hw = Hardware {
                            arch,
                            gpu,
                            tp,
                            quantization: q,
                            dtype: Dtype::Auto,
                            kv_cache: KvCacheDtype::Auto,
                        };
                        for (ki, &c) in conc.iter().enumerate() {
                            let i = points.len();
                            let s = hw.steady_state(Offered::Concurrency(c), 1024.0, 256.0, batch);
                            let cost = |tps: f64| price * tp as f64 / 3600.0 / tps * 1e6;
                            let est = vec![
                                -s.output_tokens_per_s.ln(),
                                (s.ttft_s * 1e3).ln(),
                                cost(s.output_tokens_per_s).ln(),
                            ];
                            // Engines bend the model: quantized kernels below the roofline,
                            // PCIe GPUs' collectives slower, noise on top.
                            let bias = [0.0, 0.05, 0.25, 0.35][qi]
                                + if gi == 0 { 0.1 * tp as f64 / 2.0 } else { 0.0 };
                            let noise = |salt| 0.1 * (unit(i, salt) * 2.0 - 1.0);
                            let tps = s.output_tokens_per_s * (-bias + noise(1)).exp();
                            let ttft = s.ttft_s * 1e3 * (bias * 0.5 + noise(2)).exp();
                            let crashes = mem.total() > 0.85 * mem.usable || unit(i, 3) < 0.03;
                            points.push(vec![
                                mi as f64, qi as f64, gi as f64, ci as f64, bi as f64, ki as f64,
                            ]);
                            prior.push(est);
                            truth.push(
                                (!crashes).then(|| vec![-tps.ln(), ttft.ln(), cost(tps).ln()]),
                            );
                        }
                    }
                }
            }
        }
    }
    Grid {
        space: Space { axes, points },
        truth,
        prior,
    }
}

/// Hypervolume of the feasible measured points as a fraction of the whole grid's, with
/// objectives scaled to [0, 1] over the grid's feasible truth and the reference at 1.1.
pub fn fraction(g: &Grid, measured: &[usize]) -> f64 {
    let feasible: Vec<&Vec<f64>> = g.truth.iter().flatten().collect();
    let m = feasible[0].len();
    let lo: Vec<f64> = (0..m)
        .map(|j| feasible.iter().map(|f| f[j]).fold(f64::INFINITY, f64::min))
        .collect();
    let hi: Vec<f64> = (0..m)
        .map(|j| {
            feasible
                .iter()
                .map(|f| f[j])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let scale =
        |f: &Vec<f64>| -> Vec<f64> { (0..m).map(|j| (f[j] - lo[j]) / (hi[j] - lo[j])).collect() };
    let all: Vec<Vec<f64>> = feasible.iter().map(|f| scale(f)).collect();
    let got: Vec<Vec<f64>> = measured
        .iter()
        .filter_map(|&i| g.truth[i].as_ref())
        .map(scale)
        .collect();
    let r = vec![1.1; m];
    bench_analysis::hypervolume(&got, &r) / bench_analysis::hypervolume(&all, &r)
}
