//! GPUs: what a host has, and telemetry sampled while a bench node runs.
//!
//! On this machine, NVML (through `nvml-wrapper`, which loads the driver's library at run
//! time, so bench runs on machines without one), else `nvidia-smi --query-gpu`. For a
//! remote Docker host, what its daemon reports (whether it has the NVIDIA runtime).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use serde::{Deserialize, Serialize};

use crate::DockerHost;

/// One GPU of a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    pub memory_mib: u64,
    pub uuid: String,
}

/// What a host has, and how bench knows.
#[derive(Clone, Debug, Serialize)]
pub struct Discovery {
    /// `nvml`, `nvidia-smi`, `docker` or `none`.
    pub source: &'static str,
    pub gpus: Vec<Gpu>,
    /// Said plainly when no GPU was found, or when the source knows less than a list.
    pub note: Option<String>,
}

/// This machine's GPUs.
pub fn local() -> Discovery {
    let nvml_err = match Nvml::init() {
        Ok(nvml) => match nvml_gpus(&nvml) {
            Ok(gpus) => {
                return Discovery {
                    source: "nvml",
                    note: gpus
                        .is_empty()
                        .then(|| "the NVIDIA driver reports no GPU".into()),
                    gpus,
                };
            }
            Err(e) => e,
        },
        Err(e) => e.to_string(),
    };
    match nvidia_smi() {
        Ok(gpus) => Discovery {
            source: "nvidia-smi",
            note: gpus.is_empty().then(|| "nvidia-smi lists no GPU".into()),
            gpus,
        },
        Err(smi) => Discovery {
            source: "none",
            gpus: Vec::new(),
            note: Some(format!(
                "no NVIDIA GPU found on this machine (NVML: {nvml_err}; nvidia-smi: {smi})"
            )),
        },
    }
}

fn nvml_gpus(nvml: &Nvml) -> Result<Vec<Gpu>, String> {
    let n = nvml.device_count().map_err(|e| e.to_string())?;
    (0..n)
        .map(|i| {
            let d = nvml.device_by_index(i).map_err(|e| e.to_string())?;
            Ok(Gpu {
                index: i,
                name: d.name().map_err(|e| e.to_string())?,
                memory_mib: d.memory_info().map_err(|e| e.to_string())?.total >> 20,
                uuid: d.uuid().unwrap_or_default(),
            })
        })
        .collect()
}

fn nvidia_smi() -> Result<Vec<Gpu>, String> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,memory.total,uuid",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(parse_smi(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `nvidia-smi --query-gpu=index,name,memory.total,uuid --format=csv,noheader,nounits`.
pub fn parse_smi(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Some(Gpu {
                index: f.first()?.parse().ok()?,
                name: f.get(1)?.to_string(),
                memory_mib: f.get(2)?.parse().ok()?,
                uuid: f.get(3).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

impl DockerHost {
    /// The GPUs of this Docker host: this machine's when the daemon is local, else what
    /// the daemon reports.
    pub fn gpus(&self) -> Discovery {
        if self.endpoint.is_local() {
            return local();
        }
        match self.block(self.docker.info()) {
            Ok(info) => {
                let nvidia = info
                    .runtimes
                    .as_ref()
                    .is_some_and(|r| r.keys().any(|k| k.contains("nvidia")));
                Discovery {
                    source: "docker",
                    note: Some(if nvidia {
                        "the daemon has the NVIDIA runtime; it does not list GPUs remotely".into()
                    } else {
                        "the daemon reports no NVIDIA runtime: no GPU containers there".into()
                    }),
                    gpus: Vec::new(),
                }
            }
            Err(e) => Discovery {
                source: "none",
                gpus: Vec::new(),
                note: Some(format!("cannot ask the daemon: {e}")),
            },
        }
    }
}

/// One sample of one GPU.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sample {
    /// Milliseconds since sampling started.
    pub t_ms: u64,
    pub gpu: u32,
    pub memory_used_mib: u64,
    pub utilization_pct: u32,
    pub power_w: f64,
    pub temperature_c: Option<u32>,
}

/// A GPU's telemetry over a bench node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuTelemetry {
    pub gpu: u32,
    pub name: String,
    pub samples: usize,
    pub memory_used_mib_max: u64,
    pub utilization_pct_mean: f64,
    pub power_w_mean: f64,
    pub power_w_max: f64,
    /// From the driver's energy counter where the GPU has one, else power integrated
    /// over the samples.
    pub energy_j: f64,
}

/// `telemetry.json`: what the GPUs did while the node ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Telemetry {
    pub source: String,
    pub period_ms: u64,
    pub seconds: f64,
    pub gpus: Vec<GpuTelemetry>,
    /// Energy of all the node's GPUs together, joules.
    pub energy_j: f64,
    pub samples: Vec<Sample>,
}

/// Samples GPUs in a thread until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Option<Telemetry>>,
}

impl Sampler {
    /// Starts sampling the GPUs `ids` of this machine every `period`; `None` when NVML is
    /// not available here (no driver): telemetry is then simply absent.
    pub fn start(ids: &[u32], period: Duration) -> Option<Self> {
        let nvml = Nvml::init().ok()?;
        let ids = ids.to_vec();
        // Check the devices exist before promising telemetry.
        for &i in &ids {
            nvml.device_by_index(i).ok()?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::spawn(move || sample(&nvml, &ids, period, &stop2));
        Some(Self { stop, handle })
    }

    pub fn finish(self) -> Option<Telemetry> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

fn sample(nvml: &Nvml, ids: &[u32], period: Duration, stop: &AtomicBool) -> Option<Telemetry> {
    let start = Instant::now();
    let devices: Vec<_> = ids
        .iter()
        .filter_map(|&i| nvml.device_by_index(i).ok().map(|d| (i, d)))
        .collect();
    let energy0: Vec<Option<u64>> = devices
        .iter()
        .map(|(_, d)| d.total_energy_consumption().ok())
        .collect();
    let mut samples = Vec::new();
    loop {
        let t_ms = start.elapsed().as_millis() as u64;
        for (i, d) in &devices {
            samples.push(Sample {
                t_ms,
                gpu: *i,
                memory_used_mib: d.memory_info().map(|m| m.used >> 20).unwrap_or(0),
                utilization_pct: d.utilization_rates().map(|u| u.gpu).unwrap_or(0),
                power_w: d
                    .power_usage()
                    .map(|mw| mw as f64 / 1e3)
                    .unwrap_or(f64::NAN),
                temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
            });
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let next = start + period * (samples.len() / devices.len().max(1)) as u32;
        while Instant::now() < next && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(period));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let gpus: Vec<GpuTelemetry> = devices
        .iter()
        .zip(&energy0)
        .map(|((i, d), e0)| {
            let mine: Vec<&Sample> = samples.iter().filter(|s| s.gpu == *i).collect();
            let n = mine.len().max(1) as f64;
            let powers: Vec<f64> = mine
                .iter()
                .map(|s| s.power_w)
                .filter(|p| p.is_finite())
                .collect();
            let counter = e0.and_then(|e0| {
                d.total_energy_consumption()
                    .ok()
                    .map(|e1| e1.saturating_sub(e0) as f64 / 1e3)
            });
            let integrated = integrate(&mine);
            GpuTelemetry {
                gpu: *i,
                name: d.name().unwrap_or_default(),
                samples: mine.len(),
                memory_used_mib_max: mine.iter().map(|s| s.memory_used_mib).max().unwrap_or(0),
                utilization_pct_mean: mine.iter().map(|s| s.utilization_pct as f64).sum::<f64>()
                    / n,
                power_w_mean: powers.iter().sum::<f64>() / powers.len().max(1) as f64,
                power_w_max: powers.iter().copied().fold(0.0, f64::max),
                energy_j: counter.unwrap_or(integrated),
            }
        })
        .collect();
    Some(Telemetry {
        source: "nvml".into(),
        period_ms: period.as_millis() as u64,
        seconds,
        energy_j: gpus.iter().map(|g| g.energy_j).sum(),
        gpus,
        samples,
    })
}

/// Power integrated over time (trapezoids), joules.
fn integrate(samples: &[&Sample]) -> f64 {
    samples
        .windows(2)
        .filter(|w| w[0].power_w.is_finite() && w[1].power_w.is_finite())
        .map(|w| (w[0].power_w + w[1].power_w) / 2.0 * (w[1].t_ms - w[0].t_ms) as f64 / 1e3)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_rows() {
        let text = "0, NVIDIA H100 80GB HBM3, 81559, GPU-5f0e\n1, NVIDIA H100 80GB HBM3, 81559, GPU-77aa\n";
        let gpus = parse_smi(text);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1].index, 1);
        assert_eq!(gpus[1].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(gpus[1].memory_mib, 81559);
        assert_eq!(gpus[0].uuid, "GPU-5f0e");
        assert!(parse_smi("garbage\n").is_empty());
    }

    #[test]
    fn energy_integrates_power_over_time() {
        let s = |t_ms, power_w| Sample {
            t_ms,
            gpu: 0,
            memory_used_mib: 0,
            utilization_pct: 0,
            power_w,
            temperature_c: None,
        };
        let v = [s(0, 100.0), s(1000, 300.0), s(2000, 300.0)];
        let refs: Vec<&Sample> = v.iter().collect();
        assert!((integrate(&refs) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn a_machine_without_gpus_is_reported_plainly() {
        // Whatever this machine has, discovery answers rather than failing.
        let d = local();
        if d.gpus.is_empty() {
            assert!(d.note.is_some());
        } else {
            assert!(d.gpus.iter().all(|g| !g.name.is_empty()));
        }
    }
}
