//! The validate node: gates a run must pass before its numbers count. A run that fails a
//! gate is not an error of the node: the node succeeds and records why the run is invalid,
//! and the aggregate and optimize nodes leave the run out.

use bench_loadgen::Record;
use bench_node::outputs::{RunInfo, Validation};
use bench_node::params::ValidateParams as Gates;
use bench_node::{Action, Failure, JobSpec, NodeKind};

use crate::bench::read_records;
use crate::{outputs, permanent, read_json, write_json};

pub struct Validate;

impl Action for Validate {
    fn run(&self, job: &JobSpec) -> Result<(), Failure> {
        let g: Gates = job.params()?;
        let bench = job
            .inputs_of(NodeKind::Bench)
            .next()
            .ok_or_else(|| permanent("a validate node needs its bench node"))?;
        let records = read_records(bench.output(outputs::RECORDS)?)?;
        let run: RunInfo = read_json(bench.output(outputs::RUN)?)?;
        let v = validate(&records, run.metrics.token_mismatches, &g);
        if v.passed {
            bench_node::say!(
                "passed: {} of {} requests completed",
                v.completed,
                v.requests
            );
        } else {
            bench_node::say!("invalid run: {}", v.reasons.join("; "));
        }
        write_json(job, outputs::VALIDATION, &v)
    }
}

/// Whether a request's timestamps are in the order time allows.
fn timings_ok(r: &Record) -> bool {
    if r.send_ns < r.due_ns || r.end_ns < r.send_ns {
        return false;
    }
    match (r.first_token_ns, r.last_token_ns) {
        (Some(f), Some(l)) => {
            // TTFT ≤ E2E, and both inside the request.
            r.send_ns <= f
                && f <= l
                && l <= r.end_ns
                && r.chunk_ns.windows(2).all(|w| w[0] <= w[1])
                && r.chunk_ns.first().is_none_or(|c| *c == f)
        }
        (None, None) => true,
        _ => false,
    }
}

/// `mismatched`: requests whose output length differs from what was asked or what the
/// client counted (the load generator's `token_mismatches`).
fn validate(records: &[Record], mismatched: u64, g: &Gates) -> Validation {
    let measured: Vec<&Record> = records.iter().filter(|r| !r.warmup).collect();
    let requests = measured.len() as u64;
    let completed = measured.iter().filter(|r| r.ok()).count() as u64;
    let frac = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let error_rate = frac(requests - completed, requests);
    let completed_fraction = frac(completed, requests);
    let token_mismatch_fraction = frac(mismatched, completed);
    let bad_timings = measured.iter().filter(|r| !timings_ok(r)).count() as u64;
    let mut reasons = Vec::new();
    if requests == 0 {
        reasons.push("no request was measured".to_string());
    }
    if requests > 0 && error_rate > g.max_error_rate {
        reasons.push(format!(
            "error rate {:.2} % above the {:.2} % allowed",
            error_rate * 100.0,
            g.max_error_rate * 100.0
        ));
    }
    if requests > 0 && completed_fraction < g.min_completed {
        reasons.push(format!(
            "{:.1} % of requests completed, below the {:.1} % required",
            completed_fraction * 100.0,
            g.min_completed * 100.0
        ));
    }
    if token_mismatch_fraction > g.max_token_mismatch {
        reasons.push(format!(
            "{:.1} % of requests returned another output length than asked, above the {:.1} % tolerated",
            token_mismatch_fraction * 100.0,
            g.max_token_mismatch * 100.0
        ));
    }
    if bad_timings > 0 {
        reasons.push(format!(
            "{bad_timings} requests have timestamps out of order (negative or TTFT > E2E)"
        ));
    }
    Validation {
        passed: reasons.is_empty(),
        reasons,
        requests,
        completed,
        error_rate,
        completed_fraction,
        token_mismatch_fraction,
        bad_timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(i: u64) -> Record {
        Record {
            index: i,
            due_ns: 0,
            send_ns: 10,
            first_token_ns: Some(100),
            last_token_ns: Some(200),
            end_ns: 210,
            chunk_ns: vec![100, 150, 200],
            status: 200,
            max_tokens: 3,
            server_output_tokens: Some(3),
            client_output_tokens: 3,
            ..Record::default()
        }
    }

    fn gates() -> Gates {
        Gates {
            max_error_rate: 0.01,
            min_completed: 0.98,
            max_token_mismatch: 0.05,
        }
    }

    #[test]
    fn clean_run_passes() {
        let v = validate(&(0..100).map(ok).collect::<Vec<_>>(), 0, &gates());
        assert!(v.passed, "{v:?}");
        assert_eq!((v.requests, v.completed, v.bad_timings), (100, 100, 0));
    }

    #[test]
    fn each_gate_fails_with_its_reason() {
        let mut rs: Vec<Record> = (0..100).map(ok).collect();
        rs[0].status = 500;
        rs[0].error = Some("HTTP 500".into());
        rs[1].status = 503;
        rs[1].error = Some("HTTP 503".into());
        let v = validate(&rs, 0, &gates());
        assert!(!v.passed);
        assert!(
            v.reasons[0].contains("error rate 2.00 %"),
            "{:?}",
            v.reasons
        );

        let rs: Vec<Record> = (0..100).map(ok).collect();
        let v = validate(&rs, 10, &gates());
        assert_eq!(v.reasons.len(), 1);
        assert!(v.reasons[0].contains("output length"));

        let mut rs: Vec<Record> = (0..100).map(ok).collect();
        rs[5].first_token_ns = Some(300); // TTFT > E2E
        let v = validate(&rs, 0, &gates());
        assert_eq!(v.bad_timings, 1);
        assert!(v.reasons[0].contains("out of order"));
    }

    #[test]
    fn warmup_is_not_judged_and_empty_runs_fail() {
        let mut rs: Vec<Record> = (0..10).map(ok).collect();
        for r in &mut rs {
            r.warmup = true;
            r.error = Some("x".into());
        }
        let v = validate(&rs, 0, &gates());
        assert_eq!(v.requests, 0);
        assert!(!v.passed);
        assert_eq!(v.reasons, vec!["no request was measured".to_string()]);
    }
}
