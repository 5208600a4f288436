//! Metrics, exactly as `shared/reference/benchmarking.md` defines them. Each carries its
//! definition, so reports can say which one they mean.
//!
//! Percentiles come from an HDR histogram (3 significant digits: at most 0.1 % off).

use crate::run::Record;
pub use bench_node::records::{DEFINITIONS, Dist, Metrics, Slo, TokenSource};

pub fn compute(records: &[Record], slo: &Slo, percentiles: &[f64], forced_length: bool) -> Metrics {
    let measured: Vec<&Record> = records.iter().filter(|r| !r.warmup).collect();
    let ok: Vec<&Record> = measured.iter().copied().filter(|r| r.ok()).collect();
    let mut m = Metrics {
        // The weakest source seen: no request yet, the best there is.
        input_tokens_from: TokenSource::ServerUsage,
        output_tokens_from: TokenSource::ServerUsage,
        requests: measured.len() as u64,
        completed: ok.len() as u64,
        failed: (measured.len() - ok.len()) as u64,
        ..Metrics::default()
    };
    let mut errors: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for r in &measured {
        if let Some(e) = &r.error {
            *errors.entry(e.clone()).or_default() += 1;
        }
    }
    m.errors = errors.into_iter().collect();
    if ok.is_empty() {
        (m.input_tokens_from, m.output_tokens_from) =
            (TokenSource::Estimate, TokenSource::Estimate);
    }
    let first_send = measured.iter().map(|r| r.send_ns).min().unwrap_or(0);
    let last_end = ok.iter().map(|r| r.end_ns).max().unwrap_or(first_send);
    m.duration_s = (last_end.saturating_sub(first_send)) as f64 / 1e9;

    let mut ttft = Vec::new();
    let mut e2e = Vec::new();
    let mut tpot = Vec::new();
    let mut itl_chunk = Vec::new();
    let mut itl_token = Vec::new();
    let mut queue = Vec::new();
    let mut good = 0u64;
    let mut correct = 0u64;
    let mut scored = 0u64;
    for r in &measured {
        queue.push(r.send_ns.saturating_sub(r.due_ns));
    }
    for r in &ok {
        let (Some(first), Some(last)) = (r.first_token_ns, r.last_token_ns) else {
            continue;
        };
        let t = first - r.send_ns;
        let e = last - r.send_ns;
        ttft.push(t);
        e2e.push(e);
        let out = r.output_tokens();
        let mut per_token = None;
        if out > 1 {
            let v = (e - t) / (out - 1);
            tpot.push(v);
            per_token = Some(v);
            for _ in 0..(out - 1) {
                itl_token.push(v);
            }
        }
        for w in r.chunk_ns.windows(2) {
            itl_chunk.push(w[1] - w[0]);
        }
        let (input, input_from) = r.input_count();
        let (_, output_from) = r.output_count();
        m.input_tokens += input;
        m.output_tokens += out;
        m.input_tokens_from = m.input_tokens_from.max(input_from);
        m.output_tokens_from = m.output_tokens_from.max(output_from);
        m.without_usage += u64::from(r.server_output_tokens.is_none());
        let mismatch = r
            .server_output_tokens
            .is_some_and(|s| s != r.client_output_tokens)
            || (forced_length && out != r.max_tokens);
        if mismatch {
            m.token_mismatches += 1;
        }
        let ms = |ns: u64| ns as f64 / 1e6;
        let meets = slo.ttft_ms.is_none_or(|l| ms(t) <= l)
            && slo.e2e_ms.is_none_or(|l| ms(e) <= l)
            && slo
                .tpot_ms
                .is_none_or(|l| per_token.is_none_or(|v| ms(v) <= l));
        if meets {
            good += 1;
        }
        if let Some(c) = r.correct {
            scored += 1;
            correct += c as u64;
        }
    }
    m.ttft = Dist::from_ns(&ttft, percentiles);
    m.e2e = Dist::from_ns(&e2e, percentiles);
    m.tpot = Dist::from_ns(&tpot, percentiles);
    m.itl_chunk = Dist::from_ns(&itl_chunk, percentiles);
    m.itl_token = Dist::from_ns(&itl_token, percentiles);
    m.queue = Dist::from_ns(&queue, percentiles);
    if m.duration_s > 0.0 {
        m.request_throughput = m.completed as f64 / m.duration_s;
        m.output_throughput = m.output_tokens as f64 / m.duration_s;
        m.total_throughput = (m.input_tokens + m.output_tokens) as f64 / m.duration_s;
        m.goodput = good as f64 / m.duration_s;
    }
    m.accuracy = (scored > 0).then(|| correct as f64 / scored as f64);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(send: u64, chunks: &[u64], server_out: Option<u64>) -> Record {
        Record {
            send_ns: send,
            due_ns: send,
            first_token_ns: chunks.first().copied(),
            last_token_ns: chunks.last().copied(),
            end_ns: chunks.last().copied().unwrap_or(send) + 1_000,
            chunk_ns: chunks.to_vec(),
            status: 200,
            prompt_tokens: 10,
            max_tokens: chunks.len() as u64,
            server_output_tokens: server_out,
            client_output_tokens: chunks.len() as u64,
            ..Record::default()
        }
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn definitions_on_a_known_request() {
        // Sent at 0; tokens at 100, 110, 120, 130 ms.
        let r = rec(0, &[100 * MS, 110 * MS, 120 * MS, 130 * MS], Some(4));
        let m = compute(&[r], &Slo::default(), &[50.0], true);
        assert_eq!(m.ttft.mean, 100.0);
        assert_eq!(m.e2e.mean, 130.0);
        assert_eq!(m.tpot.mean, 10.0);
        assert_eq!(m.itl_chunk.count, 3);
        assert_eq!(m.itl_token.count, 3);
        assert_eq!(m.output_tokens, 4);
        assert_eq!(m.token_mismatches, 0);
    }

    #[test]
    fn single_token_requests_have_no_tpot_and_warmup_is_excluded() {
        let mut w = rec(0, &[5 * MS, 6 * MS], Some(2));
        w.warmup = true;
        let one = rec(0, &[50 * MS], Some(1));
        let m = compute(&[w, one], &Slo::default(), &[50.0], false);
        assert_eq!(m.requests, 1);
        assert_eq!(m.tpot.count, 0);
        assert_eq!(m.ttft.mean, 50.0);
    }

    #[test]
    fn mismatches_failures_and_goodput() {
        let a = rec(0, &[10 * MS, 20 * MS, 30 * MS], Some(5)); // server says 5, client saw 3
        let b = rec(0, &[300 * MS, 310 * MS], Some(2)); // misses the TTFT SLO
        let mut c = rec(0, &[], None);
        c.error = Some("HTTP 500: boom".into());
        let m = compute(
            &[a, b, c],
            &Slo {
                ttft_ms: Some(100.0),
                ..Slo::default()
            },
            &[50.0],
            false,
        );
        assert_eq!((m.requests, m.completed, m.failed), (3, 2, 1));
        assert_eq!(m.token_mismatches, 1);
        assert_eq!(m.errors, vec![("HTTP 500: boom".to_string(), 1)]);
        assert!((m.goodput - 1.0 / m.duration_s).abs() < 1e-9);
        // Server counts are preferred: 5 + 2.
        assert_eq!(m.output_tokens, 7);
    }

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let values: Vec<u64> = (1..=10_000).map(|i| i * 1000).collect();
        let d = Dist::from_ns(&values, &[50.0, 99.0]);
        assert!((d.percentile(50.0).unwrap() - 5.0).abs() / 5.0 < 0.001);
        assert!((d.percentile(99.0).unwrap() - 9.9).abs() / 9.9 < 0.001);
    }
}
