//! Progress: a build's as an indicatif display on a terminal, one line per event otherwise
//! (`CI=true` or not a terminal), or nothing but the summary with `--quiet`; `bench load`'s
//! requests as a bar.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use bench_exec::{BuildState, Event, Outcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Fancy,
    Lines,
    Quiet,
}

impl Mode {
    /// Quiet when asked; one line per event in CI (`--ci`, `CI=true`) or when stderr is
    /// not a terminal; the live display otherwise.
    pub fn detect(quiet: bool, ci: bool) -> Self {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !ci {
            Mode::Fancy
        } else {
            Mode::Lines
        }
    }
}

fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Built => "built",
        Outcome::CachedMeanwhile => "cached (by another build)",
        Outcome::Failed(_) => "FAILED",
        Outcome::Aborted(_) => "stopped",
    }
}

/// `bench load`'s bar: requests done of `total`, fed by the load generator's callback.
pub fn requests(total: u64) -> std::sync::Arc<dyn Fn(u64, u64) + Send + Sync> {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} requests {elapsed_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    std::sync::Arc::new(move |done, _| bar.set_position(done))
}

/// Renders a build's events until the channel closes.
pub async fn report(mode: Mode, mut rx: UnboundedReceiver<Event>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
    let mut overall: Option<ProgressBar> = None;
    let mut bars: HashMap<usize, ProgressBar> = HashMap::new();
    let mut done = 0usize;
    let mut total = 0usize;
    while let Some(ev) = rx.recv().await {
        match (&ev, mode) {
            (
                Event::Checked {
                    total: t,
                    cached,
                    to_run,
                    corrupt,
                },
                _,
            ) => {
                total = *to_run;
                if mode != Mode::Quiet {
                    let corrupt = if *corrupt > 0 {
                        format!(", {corrupt} corrupt entries set aside")
                    } else {
                        String::new()
                    };
                    let line = format!("{t} nodes: {cached} cached, {to_run} to run{corrupt}");
                    if mode == Mode::Fancy {
                        let _ = multi.println(line);
                        let bar = multi.add(ProgressBar::new(*to_run as u64));
                        bar.set_style(
                            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} nodes  {elapsed_precise} elapsed, ETA {eta}  {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        overall = Some(bar);
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
            (Event::Corrupt { key, why, .. }, m) if m != Mode::Quiet => {
                let line = format!(
                    "warning: cache entry {} is corrupt ({why}); recomputing",
                    &key[..12.min(key.len())]
                );
                if m == Mode::Fancy {
                    let _ = multi.println(line);
                } else {
                    eprintln!("{line}");
                }
            }
            (Event::State(s), m) if m != Mode::Quiet && *s != BuildState::Running => {
                let line = format!(
                    "build state: {}",
                    serde_json::to_value(s)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                );
                if m == Mode::Fancy {
                    let _ = multi.println(line);
                } else {
                    eprintln!("{line}");
                }
            }
            (
                Event::Started {
                    node,
                    label,
                    attempt,
                },
                Mode::Fancy,
            ) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                let a = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                bar.set_message(format!("{label}{a}"));
                if let Some(old) = bars.insert(*node, bar) {
                    old.finish_and_clear();
                }
            }
            (Event::Started { label, attempt, .. }, Mode::Lines) => {
                let a = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                eprintln!("start {label}{a}");
            }
            (
                Event::Retrying {
                    label,
                    attempt,
                    delay,
                    failure,
                    ..
                },
                m,
            ) if m != Mode::Quiet => {
                let line = format!(
                    "retry {label} after attempt {attempt} in {:.1}s: {failure}",
                    delay.as_secs_f64()
                );
                if m == Mode::Fancy {
                    let _ = multi.println(line);
                } else {
                    eprintln!("{line}");
                }
            }
            (
                Event::Finished {
                    node,
                    label,
                    outcome,
                    secs,
                },
                m,
            ) => {
                if let Some(b) = bars.remove(node) {
                    b.finish_and_clear();
                }
                done += 1;
                if let Some(o) = &overall {
                    o.inc(1);
                }
                let detail = match outcome {
                    Outcome::Failed(f) | Outcome::Aborted(f) => format!(": {f}"),
                    _ => String::new(),
                };
                let line = format!(
                    "[{done}/{total}] {} {label} ({secs:.2}s){detail}",
                    outcome_word(outcome)
                );
                match m {
                    Mode::Fancy if matches!(outcome, Outcome::Failed(_) | Outcome::Aborted(_)) => {
                        let _ = multi.println(line);
                    }
                    Mode::Lines => eprintln!("{line}"),
                    Mode::Quiet if matches!(outcome, Outcome::Failed(_)) => eprintln!("{line}"),
                    _ => {}
                }
            }
            (Event::Skipped { label, because, .. }, Mode::Lines) => {
                eprintln!("skip {label} (needs {because})")
            }
            _ => {}
        }
    }
    for b in bars.values() {
        b.finish_and_clear();
    }
    if let Some(o) = overall {
        o.finish_and_clear();
    }
}
