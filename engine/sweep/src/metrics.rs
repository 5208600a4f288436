//! The metric names a sweep may optimize or constrain, and their natural direction.
//!
//! Latency metrics are `FAMILY-STAT` in milliseconds: families `ttft`, `tpot`, `itl`,
//! `e2e`, `queue`; stats `mean`, `std`, `min`, `max` and `pN` for each percentile the
//! `aggregate` block computes (`ttft-p95`, `e2e-p99.9`).

use crate::ast::Direction;

/// Latency families (milliseconds).
pub const LATENCY_FAMILIES: &[&str] = &["ttft", "tpot", "itl", "e2e", "queue"];

/// Metrics that are one number per configuration, with their natural direction and unit.
pub const SCALARS: &[(&str, Direction, &str)] = &[
    ("request-throughput", Direction::Maximize, "requests/s"),
    ("output-throughput", Direction::Maximize, "output tokens/s"),
    ("total-throughput", Direction::Maximize, "tokens/s"),
    (
        "goodput",
        Direction::Maximize,
        "requests/s meeting every SLO",
    ),
    (
        "cost-per-mtok",
        Direction::Minimize,
        "USD per 1M output tokens",
    ),
    (
        "energy-per-token",
        Direction::Minimize,
        "J per output token",
    ),
    (
        "accuracy",
        Direction::Maximize,
        "fraction of eval answers correct",
    ),
    (
        "gpu-memory-gb",
        Direction::Minimize,
        "estimated GiB across the GPUs",
    ),
    ("gpus", Direction::Minimize, "GPUs"),
    (
        "error-rate",
        Direction::Minimize,
        "fraction of requests failed",
    ),
];

/// Checks a metric name against the percentiles the sweep aggregates; returns the metric's
/// natural direction, or a hint listing what would be valid.
pub fn check_metric(name: &str, percentiles: &[f64]) -> Result<Direction, String> {
    if let Some((_, dir, _)) = SCALARS.iter().find(|(n, _, _)| *n == name) {
        return Ok(*dir);
    }
    let all = all_names(percentiles);
    if let Some((family, stat)) = name.split_once('-')
        && LATENCY_FAMILIES.contains(&family)
    {
        if matches!(stat, "mean" | "std" | "min" | "max") {
            return Ok(Direction::Minimize);
        }
        if let Some(p) = stat.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()) {
            if percentiles.contains(&p) {
                return Ok(Direction::Minimize);
            }
            let have = percentiles
                .iter()
                .map(|p| format!("p{p}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "percentile p{p} is not aggregated; add it to `aggregate {{ percentiles ... }}` (now: {have})"
            ));
        }
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    Err(
        match crate::diag::did_you_mean(name, refs.iter().copied()) {
            Some(d) => d,
            None => format!(
                "metrics: {}, and FAMILY-STAT latencies in ms ({}; mean, std, min, max, {})",
                SCALARS.iter().map(|s| s.0).collect::<Vec<_>>().join(", "),
                LATENCY_FAMILIES.join(", "),
                percentiles
                    .iter()
                    .map(|p| format!("p{p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    )
}

fn all_names(percentiles: &[f64]) -> Vec<String> {
    let mut v: Vec<String> = SCALARS.iter().map(|s| s.0.to_string()).collect();
    for f in LATENCY_FAMILIES {
        for s in ["mean", "std", "min", "max"] {
            v.push(format!("{f}-{s}"));
        }
        for p in percentiles {
            v.push(format!("{f}-p{p}"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &[f64] = &[50.0, 95.0, 99.9];

    #[test]
    fn known_metrics_have_directions() {
        assert_eq!(
            check_metric("output-throughput", P),
            Ok(Direction::Maximize)
        );
        assert_eq!(check_metric("ttft-p95", P), Ok(Direction::Minimize));
        assert_eq!(check_metric("e2e-p99.9", P), Ok(Direction::Minimize));
        assert_eq!(check_metric("tpot-mean", P), Ok(Direction::Minimize));
    }

    #[test]
    fn unknown_metrics_get_hints() {
        assert!(
            check_metric("ttft-p9", P)
                .unwrap_err()
                .contains("p9 is not aggregated")
        );
        assert_eq!(
            check_metric("output-througput", P).unwrap_err(),
            "did you mean `output-throughput`?"
        );
        assert!(check_metric("zzz", P).unwrap_err().starts_with("metrics: "));
    }
}
