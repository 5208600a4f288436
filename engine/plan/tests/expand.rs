//! Matrix expansion, include/exclude, pruning with reasons, and the shape of the DAG.

mod common;

use bench_plan::NodeKind;
use common::{errors, reference_key, snapshot};

fn sweep(matrix: &str, extra: &str) -> String {
    format!(
        r#"sweep "t" {{
    model "meta-llama/Llama-3.1-8B-Instruct" revision="main"
    model "meta-llama/Llama-3.1-70B-Instruct" revision="main"
    matrix {{
{matrix}
    }}
    workload "chat" {{
        dataset "random" input-len=256 output-len=64
        concurrency 1 8
        requests 100
        repeats 2
    }}
{extra}
}}
"#
    )
}

#[test]
fn cartesian_product_and_dag_shape() {
    let s = snapshot(&sweep(
        r#"engine "vllm" "sim"
        quantization "fp16" "awq"
        gpu "H100-80GB"
        gpus 4
        batch-size 8 16
        seq-len 2048"#,
        "",
    ));
    // 2 models × 2 engines × 2 quantizations × 2 batch sizes.
    assert_eq!(s.matrix_points, 16);
    assert_eq!(s.valid.len(), 16, "{:#?}", s.pruned);
    assert_eq!(s.count(NodeKind::Download), 2);
    assert_eq!(s.count(NodeKind::Setup), 2);
    // configs × 2 load points × 2 repeats
    assert_eq!(s.count(NodeKind::Bench), 64);
    assert_eq!(s.count(NodeKind::Validate), 64);
    assert_eq!(s.count(NodeKind::Aggregate), 32);
    assert_eq!(s.count(NodeKind::Optimize), 1);
    let agg = s
        .nodes
        .values()
        .find(|n| n.kind == NodeKind::Aggregate)
        .unwrap();
    assert_eq!(
        agg.inputs.len(),
        4,
        "two repeats, each a bench and its validation"
    );
    let opt = &s.nodes["optimize"];
    assert_eq!(opt.inputs.len(), 32);
    let bench = &s.nodes["bench/meta-llama/Llama-3.1-8B-Instruct/vllm/awq/auto/auto/H100-80GBx4/b16/s2048/chat/c8/r1"];
    assert_eq!(
        bench.inputs,
        vec![
            "download/meta-llama/Llama-3.1-8B-Instruct".to_string(),
            "setup/vllm/H100-80GB".to_string()
        ]
    );
    assert_eq!(bench.params["run"]["repeat"], 1);
    assert_eq!(bench.params["config"]["quantization"], "awq");
}

#[test]
fn fast_keys_equal_reference_keys() {
    let text = sweep(
        r#"engine "vllm" "tgi"
        quantization "fp16" "awq"
        gpu "H100-80GB" "A100-80GB"
        gpus 1 4
        batch-size 8
        seq-len 2048
        engine-arg "--enable-prefix-caching" #true #false engine="vllm"
        engine-arg "--max-num-batched-tokens" 2048 8192 engine="vllm""#,
        r#"    engine "vllm" image="vllm/vllm-openai:v0.10.0" {
        arg "--gpu-memory-utilization" 0.85
        env "VLLM_ATTENTION_BACKEND" "FLASHINFER"
        secret "HF_TOKEN"
    }
    include engine="tgi" quantization="fp8" gpu="H100-80GB" priority=5
    cache-version 3"#,
    );
    let s = snapshot(&text);
    assert!(s.count(NodeKind::Bench) > 50);
    for l in s.nodes.keys() {
        assert_eq!(s.nodes[l].key, reference_key(&s, l), "{l}");
    }
}

#[test]
fn exclude_removes_and_include_adds_beyond_the_matrix() {
    let s = snapshot(&sweep(
        r#"engine "vllm" "tgi"
        quantization "fp16" "int8"
        gpu "H100-80GB"
        gpus 4
        batch-size 8
        seq-len 2048"#,
        r#"    exclude engine="tgi" quantization="int8"
    include engine="vllm" quantization="fp8" priority=7"#,
    ));
    // 2 models × 2 engines × 2 quantizations = 8, minus 2 (tgi int8), plus 2 (vllm fp8).
    assert_eq!(s.matrix_points, 8);
    assert_eq!(s.excluded, 2);
    assert_eq!(s.included, 2);
    assert_eq!(s.valid.len(), 8);
    assert!(!s.valid.iter().any(|l| l.contains("/tgi/int8/")));
    let fp8: Vec<_> = s
        .valid
        .iter()
        .filter(|l| l.contains("/vllm/fp8/"))
        .collect();
    assert_eq!(fp8.len(), 2);
    let b = s
        .nodes
        .iter()
        .find(|(l, _)| l.starts_with("bench/") && l.contains("/vllm/fp8/"))
        .unwrap()
        .1;
    assert_eq!(b.priority, 7);
    assert!(s.warnings.is_empty(), "{:#?}", s.warnings);
}

#[test]
fn include_can_bring_back_an_excluded_point() {
    let s = snapshot(&sweep(
        r#"engine "vllm"
        gpu "H100-80GB"
        gpus 4
        batch-size 8 16
        seq-len 2048"#,
        r#"    exclude batch-size=16
    include batch-size=16 model="meta-llama/Llama-3.1-8B-Instruct""#,
    ));
    assert_eq!(s.excluded, 1);
    assert_eq!(s.valid.len(), 3);
}

#[test]
fn rules_with_no_effect_are_warnings() {
    let s = snapshot(&sweep(
        r#"engine "vllm"
        gpu "H100-80GB"
        gpus 4
        batch-size 8"#,
        r#"    exclude quantization="int4"
    include batch-size=8"#,
    ));
    let codes: Vec<&str> = s.warnings.iter().map(|w| w.code).collect();
    assert_eq!(
        codes,
        vec![
            "plan::exclude-matches-nothing",
            "plan::include-adds-nothing"
        ]
    );
    assert_eq!(s.warnings[0].line_col.0, 16);
}

#[test]
fn engine_arg_axes_multiply_only_their_engine() {
    let s = snapshot(&sweep(
        r#"engine "vllm" "tgi"
        gpu "H100-80GB"
        gpus 4
        batch-size 8
        seq-len 2048
        engine-arg "--enable-chunked-prefill" #true #false engine="vllm""#,
        "",
    ));
    // vllm: 2 models × 2 values; tgi: 2 models × 1.
    assert_eq!(s.valid.len(), 6);
    assert!(
        s.valid
            .iter()
            .any(|l| l.contains("/vllm/") && l.contains("enable-chunked-prefill=false"))
    );
    assert!(
        !s.valid
            .iter()
            .any(|l| l.contains("/tgi/") && l.contains("chunked"))
    );
    let b = s
        .nodes
        .iter()
        .find(|(l, _)| l.starts_with("bench/") && l.contains("chunked-prefill=true"))
        .unwrap()
        .1;
    assert_eq!(
        b.params["config"]["engine-args"]["--enable-chunked-prefill"],
        true
    );
}

#[test]
fn pruned_configurations_carry_their_reasons() {
    let s = snapshot(&sweep(
        r#"engine "vllm" "tgi" "lmdeploy"
        quantization "fp16" "bf16" "awq"
        kv-cache "auto" "int8"
        gpu "V100-32GB" "A100-40GB"
        gpus 1 3
        batch-size 8
        seq-len 2048 4096 65536"#,
        "",
    ));
    let reason = |prefix: &str| {
        s.reason_of(prefix)
            .map(|r| (r.1, r.2.clone()))
            .unwrap_or_else(|| panic!("{prefix} not pruned"))
    };
    assert_eq!(
        reason("meta-llama/Llama-3.1-8B-Instruct/vllm/bf16/auto/auto/V100-32GBx1/"),
        (
            "hardware",
            "quantization bf16 needs compute capability 8.0 (V100-32GB has 7.0)".into()
        )
    );
    assert_eq!(
        reason("meta-llama/Llama-3.1-8B-Instruct/tgi/fp16/auto/auto/V100-32GBx1/").0,
        "engine"
    );
    assert_eq!(
        reason("meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/int8/A100-40GBx1/"),
        (
            "engine",
            "vllm: vLLM stores the KV cache in auto or fp8 (--kv-cache-dtype), not int8/int4"
                .into()
        )
    );
    assert_eq!(
        reason("meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/auto/A100-40GBx3/"),
        (
            "tensor-parallel",
            "32 attention heads do not split over 3 GPUs".into()
        )
    );
    assert_eq!(
        reason("meta-llama/Llama-3.1-8B-Instruct/vllm/fp16/auto/auto/A100-40GBx1/b8/s65536/").0,
        "memory"
    );
    let (code, text) = reason("meta-llama/Llama-3.1-70B-Instruct/vllm/fp16/auto/auto/A100-40GBx1/");
    assert_eq!(code, "memory");
    assert!(
        text.starts_with("needs 143.4 GiB per GPU (weights 131.5"),
        "{text}"
    );
    assert!(text.ends_with("but 36.0 of 40 GiB is usable"), "{text}");
    // LMDeploy serves the integer KV cache that vLLM and TGI refuse.
    assert!(s.valid.iter().any(|l| l.starts_with(
        "meta-llama/Llama-3.1-8B-Instruct/lmdeploy/fp16/auto/int8/A100-40GBx1/b8/s2048"
    )));
}

#[test]
fn context_workload_and_host_limits_prune() {
    let text = r#"sweep "t" {
    model "meta-llama/Llama-2-7b-chat-hf"
    matrix {
        engine "vllm"
        gpu "A100-80GB" "H100-80GB"
        gpus 1 8
        batch-size 1
        seq-len 256 2048 8192
    }
    workload "chat" {
        dataset "random" input-len=256 output-len=64
        concurrency 1
    }
    hosts {
        host "a" runtime="docker" gpu="A100-80GB" gpus=8
        host "h" runtime="docker" gpu="H100-80GB" gpus=4
    }
}
"#;
    let s = snapshot(text);
    let reason = |prefix: &str| {
        s.reason_of(prefix)
            .map(|r| (r.1, r.2.clone()))
            .unwrap_or_else(|| panic!("{prefix} not pruned"))
    };
    assert_eq!(
        reason("meta-llama/Llama-2-7b-chat-hf/vllm/fp16/auto/auto/A100-80GBx1/b1/s256/"),
        (
            "workload-too-long",
            "requests of the workload need up to 320 tokens, seq-len is 256".into()
        )
    );
    assert_eq!(
        reason("meta-llama/Llama-2-7b-chat-hf/vllm/fp16/auto/auto/A100-80GBx1/b1/s8192/"),
        (
            "model-context",
            "seq-len 8192 exceeds the model's context of 4096".into()
        )
    );
    assert_eq!(
        reason("meta-llama/Llama-2-7b-chat-hf/vllm/fp16/auto/auto/H100-80GBx8/"),
        ("no-host", "no host has 8 × H100-80GB".into())
    );
    assert_eq!(s.valid.len(), 3, "{:#?}", s.valid);
}

#[test]
fn planner_errors_point_into_the_sweep() {
    let base = sweep(
        r#"engine "vlm"
        gpu "H100"
        batch-size 8"#,
        r#"    exclude model="meta-llama/Llama-3.1-8B"
    hosts {
        host "a" runtime="docker" gpu="A100-80GB" gpus=8
    }"#,
    );
    let d = errors(&base);
    let find = |code: &str| {
        d.iter()
            .find(|x| x.code == code)
            .unwrap_or_else(|| panic!("no {code} in {d:#?}"))
    };
    let e = find("plan::unknown-engine");
    assert_eq!(e.message, "unknown engine `vlm`");
    assert!(
        e.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `vllm`?")
    );
    assert_eq!(e.line_col, (5, 8));
    let g = find("plan::unknown-gpu");
    assert!(
        g.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `H100-80GB`?"),
        "{:?}",
        g.help
    );
    let m = find("plan::undefined-model");
    assert_eq!(m.message, "no model is named `meta-llama/Llama-3.1-8B`");
    assert!(
        m.help
            .as_deref()
            .unwrap()
            .starts_with("did you mean `meta-llama/Llama-3.1-8B-Instruct`?")
    );
}

#[test]
fn a_gpu_without_a_host_is_an_error_when_hosts_are_given() {
    let d = errors(&sweep(
        r#"engine "vllm"
        gpu "H100-80GB"
        batch-size 8"#,
        r#"    hosts {
        host "a" runtime="docker" gpu="A100-80GB" gpus=8
    }"#,
    ));
    assert_eq!(d[0].code, "plan::no-host");
    assert_eq!(d[0].message, "no host provides H100-80GB");
}

#[test]
fn a_missing_dataset_file_is_an_error_and_its_content_keys_the_bench() {
    let dir = std::env::temp_dir().join(format!("bench-plan-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = r#"sweep "t" {
    model "meta-llama/Llama-3.1-8B-Instruct"
    matrix {
        engine "vllm"
        gpu "H100-80GB"
        batch-size 8
        seq-len 2048
    }
    workload "file" {
        dataset "jsonl" path="prompts.jsonl" output-len=32
        concurrency 1
    }
}
"#;
    let err = common::try_snapshot(text, Some(&dir)).unwrap_err();
    assert_eq!(err.diags[0].code, "plan::dataset");
    std::fs::write(dir.join("prompts.jsonl"), "{\"prompt\": \"hi\"}\n").unwrap();
    let a = common::try_snapshot(text, Some(&dir)).unwrap();
    std::fs::write(dir.join("prompts.jsonl"), "{\"prompt\": \"hello\"}\n").unwrap();
    let b = common::try_snapshot(text, Some(&dir)).unwrap();
    let bench = |s: &common::Snapshot| {
        s.nodes
            .iter()
            .find(|(l, _)| l.starts_with("bench/"))
            .unwrap()
            .1
            .clone()
    };
    assert_ne!(bench(&a).key, bench(&b).key);
    assert!(
        bench(&a).params["config"]["workload"]["dataset"]
            .get("path")
            .is_none()
    );
    assert_eq!(
        a.nodes["download/meta-llama/Llama-3.1-8B-Instruct"].key,
        b.nodes["download/meta-llama/Llama-3.1-8B-Instruct"].key
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_error_is_reported_at_once() {
    // A value the parser rejects (a negative batch size) and a name only the planner knows
    // is wrong (engine `tgx`): both, in the order of the file.
    let text = sweep(
        r#"engine "tgx"
        gpu "H100"
        batch-size -8"#,
        "",
    );
    let source = bench_sweep::Source::new("t.kdl", text);
    let e = bench_sweep::parse(&source).expect_err("a negative batch size is an error");
    assert!(e.diags.iter().all(|d| d.code != "plan::unknown-engine"));
    let registry = bench_engines::builtin();
    let all = bench_plan::all_errors(e, &source, &registry, &bench_plan::PlanOptions::default());
    let codes: Vec<&str> = all.diags.iter().map(|d| d.code).collect();
    let engine = codes.iter().position(|c| *c == "plan::unknown-engine");
    assert!(engine.is_some(), "{codes:?}");
    assert!(codes.len() >= 2, "{codes:?}");
    let offsets: Vec<usize> = all.diags.iter().map(|d| d.span.offset()).collect();
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
}
