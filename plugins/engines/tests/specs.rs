//! Container specs each engine generates (the GPU path is exercised through these).

use std::collections::BTreeMap;

use bench_catalog::{Dtype, GpuSpec, KvCacheDtype, Quantization};
use bench_engines::{
    EnginePlugin, Launch, LmDeploy, ServingPoint, SgLang, Sim, Tgi, Vllm, builtin,
};

fn launch<'a>(
    point: ServingPoint<'a>,
    env: &'a BTreeMap<String, String>,
    args: &'a [(String, Option<String>)],
    secrets: &'a [String],
) -> Launch<'a> {
    Launch {
        point,
        image: "img:1",
        model: "meta-llama/Llama-3.1-8B-Instruct",
        served_name: "llama",
        hf_cache: Some("/data/hf"),
        args,
        env,
        secrets,
        port: None,
    }
}

fn point(q: Quantization, kv: KvCacheDtype, gpus: u32) -> ServingPoint<'static> {
    ServingPoint {
        quantization: q,
        dtype: Dtype::Auto,
        kv_cache: kv,
        gpu: GpuSpec::find("H100-80GB").unwrap(),
        gpus,
        batch_size: 32,
        seq_len: 4096,
        arch: None,
    }
}

fn flag<'a>(args: &'a [String], f: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == f)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

#[test]
fn vllm_awq_tensor_parallel_with_extra_args_and_secrets() {
    let env = BTreeMap::from([(
        "VLLM_ATTENTION_BACKEND".to_string(),
        "FLASHINFER".to_string(),
    )]);
    let args = [
        ("--enable-prefix-caching".to_string(), None),
        (
            "--gpu-memory-utilization".to_string(),
            Some("0.85".to_string()),
        ),
    ];
    let secrets = ["HF_TOKEN".to_string()];
    let s = Vllm.container(&launch(
        point(Quantization::Awq, KvCacheDtype::Fp8, 2),
        &env,
        &args,
        &secrets,
    ));
    assert_eq!(flag(&s.args, "--tensor-parallel-size"), Some("2"));
    assert_eq!(flag(&s.args, "--quantization"), Some("awq"));
    assert_eq!(flag(&s.args, "--kv-cache-dtype"), Some("fp8"));
    assert_eq!(flag(&s.args, "--max-num-seqs"), Some("32"));
    assert_eq!(flag(&s.args, "--max-model-len"), Some("4096"));
    assert_eq!(flag(&s.args, "--gpu-memory-utilization"), Some("0.85"));
    assert!(s.args.contains(&"--enable-prefix-caching".to_string()));
    assert_eq!((s.port, s.gpus, s.ipc_host), (8000, 2, true));
    assert_eq!(s.pass_env, vec!["HF_TOKEN".to_string()]);
    assert_eq!(s.env["VLLM_ATTENTION_BACKEND"], "FLASHINFER");
    assert!(
        !s.env.values().any(|v| v.contains("hf_")),
        "no secret value is in the spec"
    );
    assert_eq!(s.volumes[0].host, "/data/hf");
    assert_eq!(s.health_path, "/health");
}

#[test]
fn each_engine_speaks_its_own_flags() {
    let env = BTreeMap::new();
    let l = launch(
        point(Quantization::Int8, KvCacheDtype::Auto, 1),
        &env,
        &[],
        &[],
    );
    let tgi = Tgi.container(&l);
    assert_eq!(flag(&tgi.args, "--quantize"), Some("eetq"));
    assert_eq!(flag(&tgi.args, "--max-total-tokens"), Some("4096"));
    assert_eq!(tgi.port, 80);
    assert_eq!(Tgi.dialect(false), "tgi");
    let lmd = LmDeploy.container(&launch(
        point(Quantization::Fp16, KvCacheDtype::Int8, 4),
        &env,
        &[],
        &[],
    ));
    assert_eq!(&lmd.args[..3], &["lmdeploy", "serve", "api_server"]);
    assert_eq!(flag(&lmd.args, "--quant-policy"), Some("8"));
    assert_eq!(flag(&lmd.args, "--tp"), Some("4"));
    assert_eq!(flag(&lmd.args, "--dtype"), Some("float16"));
    assert_eq!(lmd.port, 23333);
    let sg = SgLang.container(&launch(
        point(Quantization::Fp8, KvCacheDtype::Auto, 1),
        &env,
        &[],
        &[],
    ));
    assert_eq!(flag(&sg.args, "--quantization"), Some("fp8"));
    assert_eq!(sg.port, 30000);
    let sim = Sim.container(&l);
    assert_eq!(
        (sim.gpus, sim.volumes.len()),
        (0, 0),
        "the simulator needs no GPU and no weights"
    );
}

#[test]
fn adding_an_engine_is_one_registration() {
    let all = builtin();
    let names: Vec<&str> = all.iter().map(|p| p.name()).collect();
    assert_eq!(names, vec!["vllm", "tgi", "lmdeploy", "sglang", "sim"]);
    assert!(
        SgLang
            .check(&point(Quantization::Int4, KvCacheDtype::Auto, 1))
            .is_err()
    );
}

#[test]
fn as_a_process_every_engine_listens_on_the_port_it_is_given() {
    let env = BTreeMap::new();
    let mut l = launch(
        point(Quantization::Fp16, KvCacheDtype::Auto, 1),
        &env,
        &[],
        &[],
    );
    l.port = Some(41234);
    for e in builtin() {
        let s = e.container(&l);
        let port_flag = if e.name() == "lmdeploy" {
            "--server-port"
        } else {
            "--port"
        };
        assert_eq!(flag(&s.args, port_flag), Some("41234"), "{}", e.name());
        assert_eq!(s.port, 41234, "{}", e.name());
        // Nothing else changes: the batch size stays what the configuration says.
        assert!(
            s.args.contains(&"32".to_string()),
            "{}: {:?}",
            e.name(),
            s.args
        );
    }
}
