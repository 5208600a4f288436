//! The engine thread: continuous batching under the roofline model, or fixed latencies.
//!
//! It runs on its own OS thread and sleeps with `std::thread::sleep` (sub-millisecond
//! precision, unlike a runtime's millisecond timer wheel) against a virtual clock, so that
//! emission times are what the model says and sleep overshoot never accumulates.

use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};
use tokio::sync::mpsc::UnboundedSender;

use bench_catalog::roofline::Hardware;

/// How the engine decides when tokens come out.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Continuous batching under the roofline model.
    Roofline(Box<Hardware>),
    /// Every request on its own: first token after `ttft`, then one every `tpot`. No
    /// batching, no queueing: the truth the load generator's fidelity is checked against.
    Fixed { ttft: Duration, tpot: Duration },
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub mode: Mode,
    /// Sequences decoded together at most; more wait in a queue.
    pub max_batch: usize,
    /// Relative standard deviation of step times (0: deterministic).
    pub noise: f64,
    pub seed: u64,
    /// Multiplies every duration (0.01 runs a hundred times faster than the model says).
    pub time_scale: f64,
}

/// What a request hears back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenEvent {
    /// The n-th generated token (0-based).
    Token(u64),
    /// Generation ended after this many tokens.
    Done(u64),
}

pub struct Submit {
    pub prompt_tokens: u64,
    pub max_tokens: u64,
    pub tx: UnboundedSender<TokenEvent>,
    /// When the request reached the server: fixed-latency mode counts from here, so that the
    /// server's own parsing is inside the injected TTFT.
    pub arrived: Instant,
}

/// Counters the server reports.
#[derive(Default, Debug)]
pub struct Stats {
    pub running: AtomicU64,
    pub waiting: AtomicU64,
    pub completed: AtomicU64,
}

#[derive(Clone)]
pub struct EngineHandle {
    tx: Sender<Submit>,
    pub stats: Arc<Stats>,
}

impl EngineHandle {
    /// Queues a request; false if the engine has stopped.
    pub fn submit(&self, s: Submit) -> bool {
        self.tx.send(s).is_ok()
    }
}

pub fn spawn(cfg: EngineConfig) -> EngineHandle {
    let (tx, rx) = channel();
    let stats = Arc::new(Stats::default());
    let s2 = stats.clone();
    std::thread::Builder::new()
        .name("sim-engine".into())
        .spawn(move || match cfg.mode.clone() {
            Mode::Roofline(hw) => roofline(&cfg, &hw, rx, &s2),
            Mode::Fixed { ttft, tpot } => fixed(&cfg, ttft, tpot, rx, &s2),
        })
        .expect("the engine thread starts");
    EngineHandle { tx, stats }
}

/// Sleeps until `t`. (Spinning through the last 150 µs was tried: it shaves the timer
/// slack off single requests but, on two cores, takes a core from the load generator under
/// load — the TTFT error at 1,350 requests/s tripled.)
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

struct Seq {
    sub: Submit,
    generated: u64,
    context: u64,
}

fn roofline(cfg: &EngineConfig, hw: &Hardware, rx: Receiver<Submit>, stats: &Stats) {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let noise = LogNormal::new(0.0, cfg.noise.max(0.0)).ok();
    let mut waiting: VecDeque<Submit> = VecDeque::new();
    let mut running: Vec<Seq> = Vec::new();
    let mut clock = Instant::now();
    loop {
        if running.is_empty() && waiting.is_empty() {
            match rx.recv() {
                Ok(s) => waiting.push_back(s),
                Err(_) => return,
            }
            clock = Instant::now();
        }
        while let Ok(s) = rx.try_recv() {
            waiting.push_back(s);
        }
        let mut prefill = 0u64;
        while running.len() < cfg.max_batch.max(1) {
            let Some(s) = waiting.pop_front() else { break };
            prefill += s.prompt_tokens;
            running.push(Seq {
                context: s.prompt_tokens,
                generated: 0,
                sub: s,
            });
        }
        stats.running.store(running.len() as u64, Ordering::Relaxed);
        stats.waiting.store(waiting.len() as u64, Ordering::Relaxed);
        let context: u64 = running.iter().map(|s| s.context).sum();
        let mut step = hw.prefill_s(prefill) + hw.decode_step_s(context);
        if cfg.noise > 0.0
            && let Some(n) = &noise
        {
            step *= n.sample(&mut rng);
        }
        clock = clock.max(Instant::now() - Duration::from_millis(1))
            + Duration::from_secs_f64(step * cfg.time_scale);
        sleep_until(clock);
        running.retain_mut(|s| {
            let alive = s.sub.tx.send(TokenEvent::Token(s.generated)).is_ok();
            s.generated += 1;
            s.context += 1;
            if !alive {
                return false; // the client went away
            }
            if s.generated >= s.sub.max_tokens {
                let _ = s.sub.tx.send(TokenEvent::Done(s.generated));
                stats.completed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            true
        });
    }
}

#[derive(PartialEq, Eq)]
struct Due(Instant, usize);

impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.0.cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

fn fixed(cfg: &EngineConfig, ttft: Duration, tpot: Duration, rx: Receiver<Submit>, stats: &Stats) {
    let ttft = ttft.mul_f64(cfg.time_scale);
    let tpot = tpot.mul_f64(cfg.time_scale);
    let mut seqs: Vec<Option<Seq>> = Vec::new();
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let admit =
        |s: Submit, now: Instant, seqs: &mut Vec<Option<Seq>>, heap: &mut BinaryHeap<Due>| {
            seqs.push(Some(Seq {
                context: s.prompt_tokens,
                generated: 0,
                sub: s,
            }));
            heap.push(Due(now + ttft, seqs.len() - 1));
        };
    loop {
        let next = heap.peek().map(|d| d.0);
        let got = match next {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => {
                let now = Instant::now();
                // Wake a little early and sleep the rest precisely.
                let wait = t
                    .saturating_duration_since(now)
                    .saturating_sub(Duration::from_micros(200));
                rx.recv_timeout(wait)
            }
        };
        match got {
            Ok(s) => {
                let arrived = s.arrived.min(Instant::now());
                admit(s, arrived, &mut seqs, &mut heap);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) if heap.is_empty() => return,
            Err(_) => {}
        }
        let Some(Due(t, i)) = heap.pop() else {
            continue;
        };
        sleep_until(t);
        let Some(seq) = seqs[i].as_mut() else {
            continue;
        };
        let alive = seq.sub.tx.send(TokenEvent::Token(seq.generated)).is_ok();
        seq.generated += 1;
        if !alive || seq.generated >= seq.sub.max_tokens {
            if alive {
                let _ = seq.sub.tx.send(TokenEvent::Done(seq.generated));
                stats.completed.fetch_add(1, Ordering::Relaxed);
            }
            seqs[i] = None;
        } else {
            heap.push(Due(t + tpot, i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bench_catalog::{CatalogModel, Dtype, GpuSpec, KvCacheDtype, Quantization};

    fn hw() -> Hardware {
        Hardware {
            arch: CatalogModel::find("llama-3.1-8b").unwrap().facts,
            gpu: GpuSpec::find("H100-80GB").unwrap(),
            tp: 1,
            quantization: Quantization::Fp16,
            dtype: Dtype::Auto,
            kv_cache: KvCacheDtype::Auto,
        }
    }

    fn run(e: &EngineHandle, n: usize, prompt: u64, out: u64) -> Vec<(Instant, Vec<Instant>)> {
        let mut rxs = Vec::new();
        for _ in 0..n {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let t0 = Instant::now();
            assert!(e.submit(Submit {
                prompt_tokens: prompt,
                max_tokens: out,
                tx,
                arrived: t0
            }));
            rxs.push((t0, rx));
        }
        // One receiving thread per request, so that each token is timed when it arrives.
        let handles: Vec<_> = rxs
            .into_iter()
            .map(|(t0, mut rx)| {
                std::thread::spawn(move || {
                    let mut times = Vec::new();
                    while let Some(ev) = rx.blocking_recv() {
                        match ev {
                            TokenEvent::Token(_) => times.push(Instant::now()),
                            TokenEvent::Done(k) => {
                                assert_eq!(k, out);
                                break;
                            }
                        }
                    }
                    (t0, times)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    /// The tests that time the engine run one at a time: a test binary runs its tests in
    /// parallel, and two engines' threads on two cores delay each other.
    fn timing() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn fixed_mode_keeps_its_timings() {
        let _one = timing();
        let e = spawn(EngineConfig {
            mode: Mode::Fixed {
                ttft: Duration::from_millis(20),
                tpot: Duration::from_millis(2),
            },
            max_batch: 1,
            noise: 0.0,
            seed: 0,
            time_scale: 1.0,
        });
        // Never early, whatever the load: the first token no sooner than 20 ms after
        // arrival, the tenth no sooner than 20 + 9 × 2 ms (each is scheduled from arrival).
        let mut best = (f64::INFINITY, f64::INFINITY);
        for attempt in 0..3 {
            for (t0, times) in run(&e, 8, 10, 10) {
                let ttft = (times[0] - t0).as_secs_f64() * 1e3;
                let e2e = (times[9] - t0).as_secs_f64() * 1e3;
                assert!(ttft >= 20.0, "{ttft}");
                assert!(e2e >= 38.0, "{ttft} then {e2e}");
                best = (best.0.min(ttft), best.1.min(e2e));
            }
            // On time: contention makes a token late, never early, so the best of eight
            // requests (over up to three rounds) is held to the schedule, within 3 ms. With
            // a C++ compile on both cores, the best of eight was late by up to 2.0 ms (TTFT)
            // and 0.2 ms (E2E) over 21 rounds; one round in 21 went past 2 ms.
            if best.0 < 23.0 && best.1 < 41.0 {
                return;
            }
            eprintln!(
                "round {attempt}: best TTFT {} ms, E2E {} ms",
                best.0, best.1
            );
        }
        panic!(
            "the fixed timings are not kept: best TTFT {} ms, E2E {} ms",
            best.0, best.1
        );
    }

    #[test]
    fn batching_saturates_at_the_batch_limit() {
        let _one = timing();
        let cfg = |max_batch| EngineConfig {
            mode: Mode::Roofline(Box::new(hw())),
            max_batch,
            noise: 0.0,
            seed: 0,
            time_scale: 0.2,
        };
        // With room for all 8, they share steps; with room for 2, they queue: four times
        // the steps. Load only ever makes a run slower, so the shared run is timed as the
        // best of three and the queued one once: noise can only widen the gap asserted.
        // (Single runs of each fell to a ratio of 2.9 once in five suites on a loaded VM.)
        let wide = spawn(cfg(8));
        let wide_s = (0..3)
            .map(|_| {
                let t = Instant::now();
                run(&wide, 8, 100, 20);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let narrow = spawn(cfg(2));
        let t = Instant::now();
        run(&narrow, 8, 100, 20);
        let narrow_s = t.elapsed().as_secs_f64();
        assert!(narrow_s > 3.0 * wide_s, "{narrow_s} vs {wide_s}");
    }
}
