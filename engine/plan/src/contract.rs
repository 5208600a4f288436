//! From the sweep's terms to the node contract's: the typed params each node kind is keyed
//! by (see [`bench_node::params`]). Pure conversions; the sweep keeps its spans and names,
//! the contract keeps what a node's work depends on.

use bench_node::params::{
    Api, ConstraintSpec, DatasetSpec, Direction, FileRef, LoadSpec, Method, Normalization,
    ObjectiveSpec, Scoring, SloSpec, StopSpec, ValidateParams, WorkloadSpec,
};
use bench_sweep::ast;
use bench_sweep::{LoadPoint, Stop};

use crate::resolve::RWorkload;

pub fn load(l: &LoadPoint) -> LoadSpec {
    match *l {
        LoadPoint::Concurrency { concurrency } => LoadSpec::Concurrency { concurrency },
        LoadPoint::Rate {
            rate,
            burstiness,
            max_concurrency,
        } => LoadSpec::Rate {
            rate,
            burstiness,
            max_concurrency,
        },
    }
}

pub fn api(a: ast::Api) -> Api {
    match a {
        ast::Api::Completions => Api::Completions,
        ast::Api::Chat => Api::Chat,
    }
}

fn scoring(s: ast::Scoring) -> Scoring {
    match s {
        ast::Scoring::ExactMatch => Scoring::ExactMatch,
        ast::Scoring::Contains => Scoring::Contains,
        ast::Scoring::Choice => Scoring::Choice,
    }
}

/// A dataset file is keyed by its content digest once read, never by its path.
fn file(path: &str, digest: Option<&String>) -> FileRef {
    match digest {
        Some(d) => FileRef {
            digest: Some(d.clone()),
            path: None,
        },
        None => FileRef {
            digest: None,
            path: Some(path.to_string()),
        },
    }
}

pub fn dataset(d: &ast::Dataset, digest: Option<&String>) -> DatasetSpec {
    match d {
        ast::Dataset::Random {
            input_len,
            output_len,
            spread,
        } => DatasetSpec::Random {
            input_len: *input_len,
            output_len: *output_len,
            spread: *spread,
        },
        ast::Dataset::Jsonl { path, output_len } => DatasetSpec::Jsonl {
            file: file(path, digest),
            output_len: *output_len,
        },
        ast::Dataset::Sharegpt { path, output_len } => DatasetSpec::Sharegpt {
            file: file(path, digest),
            output_len: *output_len,
        },
        ast::Dataset::Eval {
            path,
            scoring: s,
            output_len,
        } => DatasetSpec::Eval {
            file: file(path, digest),
            scoring: scoring(*s),
            output_len: *output_len,
        },
    }
}

/// A workload as it enters keys: no name (a label), no path, no SLOs.
pub fn workload(w: &RWorkload<'_>) -> WorkloadSpec {
    let d = w.decl;
    WorkloadSpec {
        api: api(d.api),
        dataset: dataset(&d.dataset, w.dataset_digest.as_ref()),
        seed: d.seed,
        stop: match d.stop {
            Stop::Requests(n) => StopSpec::Requests(n as u64),
            Stop::DurationSecs(s) => StopSpec::DurationSecs(s),
        },
        warmup: d.warmup,
    }
}

pub fn slo(s: &ast::Slo) -> SloSpec {
    SloSpec {
        ttft_ms: s.ttft_ms,
        tpot_ms: s.tpot_ms,
        e2e_ms: s.e2e_ms,
    }
}

pub fn validate(v: &ast::Validate) -> ValidateParams {
    ValidateParams {
        max_error_rate: v.max_error_rate,
        min_completed: v.min_completed,
        max_token_mismatch: v.max_token_mismatch,
    }
}

pub fn objective(o: &ast::Objective) -> ObjectiveSpec {
    ObjectiveSpec {
        metric: o.metric.value.clone(),
        direction: match o.direction {
            ast::Direction::Maximize => Direction::Maximize,
            ast::Direction::Minimize => Direction::Minimize,
        },
        weight: o.weight,
    }
}

pub fn constraint(c: &ast::Constraint) -> ConstraintSpec {
    ConstraintSpec {
        metric: c.metric.value.clone(),
        min: c.min,
        max: c.max,
    }
}

pub fn method(m: ast::Method) -> Method {
    match m {
        ast::Method::Combined => Method::Combined,
        ast::Method::Topsis => Method::Topsis,
        ast::Method::Pareto => Method::Pareto,
    }
}

pub fn normalization(n: ast::Normalization) -> Normalization {
    match n {
        ast::Normalization::Minmax => Normalization::Minmax,
        ast::Normalization::Vector => Normalization::Vector,
    }
}
