//! Multi-criteria analysis, as pure functions over columns of numbers:
//!
//! * [`topsis`]: closeness to the ideal solution (Hwang & Yoon), min-max or vector
//!   normalisation, benefit and cost criteria, weights;
//! * [`pareto`]: non-dominated sorting (O(N log N) for two objectives, ENS with binary
//!   search for more) and NSGA-II crowding distance;
//! * [`recommend`]: constraints first, then the Pareto fronts ordered by TOPSIS closeness;
//! * [`hypervolume`]: the volume a set of points dominates (exact in any dimension);
//! * [`nsga2`]: NSGA-II over real, integer and categorical axes, with constraints;
//! * [`search`]: which candidates to measure next (random, NSGA-II, a surrogate);
//! * [`compare`]: a baseline against a candidate — the change, its interval, a rank test,
//!   and a verdict beyond a threshold and beyond noise.
//!
//! Data is column-major (`&[&[f64]]`, one slice per criterion), the way results come out of
//! a table, so a million alternatives cost no allocation per row.

pub mod compare;
pub mod hypervolume;
pub mod nsga2;
pub mod order;
pub mod pareto;
pub mod recommend;
pub mod search;
pub mod topsis;

pub use hypervolume::hypervolume;
pub use nsga2::{Axis, Evaluation, Member, Nsga2};
pub use order::{Method, ranks};
pub use pareto::{crowding_distance, non_dominated_fronts};
pub use recommend::{Bound, Recommendation, recommend, recommend_by};
pub use topsis::{Criterion, Normalization, TopsisError, rank_descending, topsis};

/// Whether more or less of a criterion is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sense {
    /// More is better (a benefit criterion).
    Max,
    /// Less is better (a cost criterion).
    Min,
}

/// An objective of a profile: (metric, sense, weight).
pub type Objective = (&'static str, Sense, f64);

/// Named weight profiles: (profile, [(metric, sense, weight)]). A sweep's `profile` and
/// `bench recommend --profile` use these instead of explicit objectives.
pub const PROFILES: &[(&str, &[Objective])] = &[
    (
        "balanced",
        &[
            ("output-throughput", Sense::Max, 0.25),
            ("ttft-p95", Sense::Min, 0.25),
            ("tpot-p95", Sense::Min, 0.25),
            ("cost-per-mtok", Sense::Min, 0.25),
        ],
    ),
    (
        "latency",
        &[
            ("ttft-p95", Sense::Min, 0.4),
            ("tpot-p95", Sense::Min, 0.3),
            ("e2e-p95", Sense::Min, 0.2),
            ("output-throughput", Sense::Max, 0.1),
        ],
    ),
    (
        "throughput",
        &[
            ("output-throughput", Sense::Max, 0.5),
            ("goodput", Sense::Max, 0.3),
            ("ttft-p95", Sense::Min, 0.2),
        ],
    ),
    (
        "cost",
        &[
            ("cost-per-mtok", Sense::Min, 0.6),
            ("output-throughput", Sense::Max, 0.2),
            ("ttft-p95", Sense::Min, 0.2),
        ],
    ),
];

/// The objectives of a named profile.
pub fn profile(name: &str) -> Option<&'static [Objective]> {
    PROFILES.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}
