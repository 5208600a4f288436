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
//!
//! The simulated engine runs this model step by step; [`Hardware::steady_state`] evaluates
//! the same continuous-batching loop in closed form for a load point (`bench estimate`).

use crate::{ArchFacts, Dtype, GpuSpec, KvCacheDtype, Quantization};

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

/// What a load point offers the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Offered {
    /// Closed loop: this many requests in flight.
    Concurrency(u32),
    /// Open loop: requests per second, with the client's cap on requests in flight.
    Rate {
        rate: f64,
        max_concurrency: Option<u32>,
    },
}

/// The continuous-batching loop at equilibrium, in seconds and per second.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SteadyState {
    /// Time to first token: queueing, then the step that prefills the prompt.
    pub ttft_s: f64,
    /// Time per output token after the first: an engine step, with the other sequences'
    /// prefills that land in it.
    pub tpot_s: f64,
    /// Request latency as a client sees it (queueing included).
    pub e2e_s: f64,
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    /// Sequences decoded together, on average.
    pub running: f64,
    /// An open-loop rate beyond what the engine serves: the queue grows without bound, and
    /// the latencies given are those at capacity (a lower bound).
    pub saturated: bool,
}

impl Hardware {
    /// The steady state of the simulated engine's loop (one step: the admitted prompts'
    /// prefill plus one decode step over every running sequence's context) for requests of
    /// `input` prompt and `output` generated tokens, at most `max_batch` decoded together.
    ///
    /// Step time is linear in the running sequences `n`: `T(n) = c + n·k`, with `c` the
    /// weight reads and step overhead, and `k = a·I/O + b·(I + (O−1)/2)` — each sequence's
    /// share of prefill (one prompt every `O` steps) and of KV reads at its mean context.
    /// A request takes `O` steps. Closed loop at concurrency `C`: `n = min(C, B)`, the rest
    /// wait (Little's law). Open loop at rate `λ`: `n = λ·O·T(n)`, so `n = λ·O·c / (1 − λ·O·k)`,
    /// saturated when that exceeds the batch (or the client's cap). The first token comes at
    /// the end of the step that prefills its prompt, `T + a·I·(1 − 1/O)` after admission;
    /// the other `O − 1` steps carry only the other sequences' prefills: `T − a·I/O` each.
    pub fn steady_state(
        &self,
        offered: Offered,
        input: f64,
        output: f64,
        max_batch: u32,
    ) -> SteadyState {
        const X: u64 = 1 << 20;
        let a = self.prefill_s(X) / X as f64;
        let c = self.decode_step_s(0);
        let b = (self.decode_step_s(X) - c) / X as f64;
        let (i, o) = (input.max(0.0), output.max(1.0));
        let k = a * i / o + b * (i + (o - 1.0) / 2.0);
        let step = |n: f64| c + n * k;
        let first_extra = a * i * (1.0 - 1.0 / o);
        let batch = max_batch.max(1) as f64;
        let at = |n: f64, clients: f64, saturated: bool| {
            let t = step(n);
            let rate = n / (o * t);
            let e2e = clients.max(n) / rate; // Little's law over the clients
            let wait = e2e - o * t;
            SteadyState {
                ttft_s: wait + t + first_extra,
                // The other O − 1 steps: without this request's own prefill.
                tpot_s: t - a * i / o,
                e2e_s: e2e,
                requests_per_s: rate,
                output_tokens_per_s: rate * o,
                running: n,
                saturated,
            }
        };
        match offered {
            Offered::Concurrency(cc) => {
                let cc = cc.max(1) as f64;
                at(cc.min(batch), cc, false)
            }
            Offered::Rate {
                rate,
                max_concurrency,
            } => {
                let cap = max_concurrency.map_or(batch, |m| batch.min(m.max(1) as f64));
                let demand = rate.max(0.0) * o;
                let n = if demand * k < 1.0 {
                    demand * c / (1.0 - demand * k)
                } else {
                    f64::INFINITY
                };
                if n <= cap {
                    at(n, n, false)
                } else {
                    at(cap, cap, true)
                }
            }
        }
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
    use crate::CatalogModel;

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
    fn one_request_at_a_time_is_prefill_then_decode_steps() {
        let h = hw("H100-80GB", Quantization::Fp16, 1);
        let s = h.steady_state(Offered::Concurrency(1), 1000.0, 100.0, 32);
        // First step: the prompt's prefill and one decode step at about its context.
        let first = h.prefill_s(1000) + h.decode_step_s(1000);
        assert!(
            (s.ttft_s - first).abs() < first * 0.01,
            "{} vs {first}",
            s.ttft_s
        );
        assert!(
            (s.tpot_s - h.decode_step_s(1050)).abs() < 2e-4,
            "{}",
            s.tpot_s
        );
        assert!((s.e2e_s - (s.ttft_s + 99.0 * s.tpot_s)).abs() < s.e2e_s * 0.01);
        assert!((s.output_tokens_per_s - 100.0 / s.e2e_s).abs() < 1e-6 * s.output_tokens_per_s);
    }

    #[test]
    fn batching_raises_throughput_until_the_batch_is_full() {
        let h = hw("H100-80GB", Quantization::Fp16, 1);
        let at = |c| h.steady_state(Offered::Concurrency(c), 256.0, 64.0, 16);
        assert!(at(8).output_tokens_per_s > 4.0 * at(1).output_tokens_per_s);
        assert!(at(16).tpot_s > at(1).tpot_s);
        // Beyond the batch, requests queue: the same throughput, a longer wait.
        let (full, over) = (at(16), at(64));
        assert!((over.output_tokens_per_s - full.output_tokens_per_s).abs() < 1e-9);
        assert!((over.e2e_s - 4.0 * full.e2e_s).abs() < 1e-9);
        assert!(over.ttft_s > full.ttft_s + 2.0 * full.e2e_s);
    }

    #[test]
    fn an_open_loop_rate_is_served_or_saturates() {
        let h = hw("H100-80GB", Quantization::Fp16, 1);
        let cap = h
            .steady_state(Offered::Concurrency(32), 256.0, 64.0, 32)
            .requests_per_s;
        let s = h.steady_state(
            Offered::Rate {
                rate: cap * 0.5,
                max_concurrency: None,
            },
            256.0,
            64.0,
            32,
        );
        assert!(!s.saturated);
        assert!(
            (s.requests_per_s - cap * 0.5).abs() < 1e-9 * cap,
            "{} vs {}",
            s.requests_per_s,
            cap * 0.5
        );
        assert!(s.running < 32.0);
        let over = h.steady_state(
            Offered::Rate {
                rate: cap * 2.0,
                max_concurrency: None,
            },
            256.0,
            64.0,
            32,
        );
        assert!(over.saturated);
        assert!((over.requests_per_s - cap).abs() < 1e-9 * cap);
        // The client's cap saturates it earlier.
        let capped = h.steady_state(
            Offered::Rate {
                rate: cap * 0.5,
                max_concurrency: Some(2),
            },
            256.0,
            64.0,
            32,
        );
        assert!(capped.saturated && capped.running == 2.0);
    }

    #[test]
    fn accuracy_degrades_with_coarser_formats() {
        assert!(accuracy(Quantization::Fp16) > accuracy(Quantization::Int8));
        assert!(accuracy(Quantization::Awq) > accuracy(Quantization::Int4));
    }
}
