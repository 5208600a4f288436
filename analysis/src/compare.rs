//! A baseline against a candidate, one metric of one configuration at a time: the change,
//! its confidence interval where the repeats give one, a rank test on the per-request
//! samples where there are some, and a verdict that only calls a change a regression (or an
//! improvement) when it is beyond the threshold *and* beyond noise.

use serde::Serialize;
use statrs::stats_tests::Alternative;
use statrs::stats_tests::mannwhitneyu::{MannWhitneyUMethod, mannwhitneyu};

use crate::Sense;

/// One side's measurement of a metric.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub value: f64,
    /// The confidence interval of `value` over repeats, when there were several.
    pub ci: Option<(f64, f64)>,
    /// Per-request samples the metric summarises (TTFT, end-to-end latency, …), if kept.
    pub samples: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Improved,
    Unchanged,
    Regressed,
}

/// How a metric changed.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// (candidate − baseline) / |baseline|.
    pub relative: f64,
    /// The interval of `relative` from the two sides' intervals, when both have one.
    pub ci: Option<(f64, f64)>,
    /// Two-sided Mann–Whitney U p-value of the samples, when both sides have some.
    pub p_value: Option<f64>,
    /// Whether the change is beyond noise by the evidence there is (with none, a change
    /// beyond the threshold counts).
    pub significant: bool,
    pub verdict: Verdict,
}

/// Judges a change: `threshold` is relative (0.05 = 5 %), `alpha` the rank test's level.
pub fn judge(base: &Measured, cand: &Measured, sense: Sense, threshold: f64, alpha: f64) -> Change {
    let scale = base.value.abs().max(f64::MIN_POSITIVE);
    let relative = (cand.value - base.value) / scale;
    // The difference's interval: half-widths added in quadrature (independent sides).
    let ci = match (base.ci, cand.ci) {
        (Some((bl, bh)), Some((cl, ch))) => {
            let half = (((bh - bl) / 2.0).powi(2) + ((ch - cl) / 2.0).powi(2)).sqrt();
            Some((relative - half / scale, relative + half / scale))
        }
        _ => None,
    };
    let p_value = (base.samples.len() >= 2 && cand.samples.len() >= 2)
        .then(|| {
            mannwhitneyu(
                &base.samples,
                &cand.samples,
                MannWhitneyUMethod::Automatic,
                Alternative::TwoSided,
            )
            .ok()
            .map(|(_, p)| p)
        })
        .flatten();
    let beyond_ci = ci.map(|(lo, hi)| lo > 0.0 || hi < 0.0);
    let beyond_rank = p_value.map(|p| p < alpha);
    // Every test there is must agree that the change is real.
    let significant = match (beyond_ci, beyond_rank) {
        (None, None) => true,
        (a, b) => a.unwrap_or(true) && b.unwrap_or(true),
    };
    let better = match sense {
        Sense::Max => relative,
        Sense::Min => -relative,
    };
    let verdict = if significant && better < -threshold {
        Verdict::Regressed
    } else if significant && better > threshold {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    Change {
        relative,
        ci,
        p_value,
        significant,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(value: f64) -> Measured {
        Measured {
            value,
            ..Measured::default()
        }
    }

    #[test]
    fn a_change_beyond_the_threshold_in_the_bad_direction_is_a_regression() {
        let c = judge(&m(100.0), &m(80.0), Sense::Max, 0.05, 0.01);
        assert!((c.relative + 0.2).abs() < 1e-12);
        assert_eq!(c.verdict, Verdict::Regressed);
        assert_eq!(
            judge(&m(100.0), &m(80.0), Sense::Min, 0.05, 0.01).verdict,
            Verdict::Improved
        );
        assert_eq!(
            judge(&m(100.0), &m(97.0), Sense::Max, 0.05, 0.01).verdict,
            Verdict::Unchanged
        );
    }

    #[test]
    fn overlapping_intervals_are_noise_whatever_the_means_say() {
        let base = Measured {
            value: 100.0,
            ci: Some((80.0, 120.0)),
            samples: vec![],
        };
        let cand = Measured {
            value: 90.0,
            ci: Some((70.0, 110.0)),
            samples: vec![],
        };
        let c = judge(&base, &cand, Sense::Max, 0.05, 0.01);
        assert!(!c.significant);
        assert_eq!(c.verdict, Verdict::Unchanged);
        let (lo, hi) = c.ci.unwrap();
        assert!(lo < 0.0 && hi > 0.0 && lo < -0.1 && hi > -0.1, "{lo} {hi}");
    }

    #[test]
    fn the_rank_test_separates_a_shift_from_two_draws_of_one_distribution() {
        // Deterministic, interleaved samples: the same spread, shifted by 20 % or not.
        let base: Vec<f64> = (0..60).map(|i| 40.0 + (i * 7 % 11) as f64).collect();
        let same: Vec<f64> = (0..60).map(|i| 40.0 + (i * 5 % 11) as f64).collect();
        let slower: Vec<f64> = base.iter().map(|x| x * 1.2).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let side = |v: &[f64]| Measured {
            value: mean(v),
            ci: None,
            samples: v.to_vec(),
        };
        let c = judge(&side(&base), &side(&slower), Sense::Min, 0.05, 0.01);
        assert!(c.p_value.unwrap() < 1e-6, "{c:?}");
        assert_eq!(c.verdict, Verdict::Regressed);
        let c = judge(&side(&base), &side(&same), Sense::Min, 0.05, 0.01);
        assert!(c.p_value.unwrap() > 0.5, "{c:?}");
        assert_eq!(c.verdict, Verdict::Unchanged);
    }
}
