//! Engines a sweep declares by their command lines: what enters their keys, and the
//! mistakes reported at the place in the sweep they are made.

mod common;

use bench_plan::NodeKind;
use common::{errors, reference_key, snapshot};

fn sweep(engine: &str, hosts: &str) -> String {
    format!(
        r#"sweep "t" {{
    model "meta-llama/Llama-3.1-8B-Instruct" revision="main"
    matrix {{
        engine "mine" "vllm"
        quantization "fp16" "awq"
        gpu "H100-80GB"
        batch-size 8 16
    }}
    {engine}
    workload "chat" {{
        dataset "random" input-len=256 output-len=64
        concurrency 4
        requests 10
    }}
{hosts}
}}
"#
    )
}

const MINE: &str = r#"engine "mine" command="./serve --port {port} --max-batch {batch-size} --quant {quantization} --weights {model}" api="openai-chat" health="/ready""#;

/// The bench nodes of engine `mine`: (their params' command, key).
fn mine(s: &common::Snapshot) -> Vec<(serde_json::Value, String)> {
    s.nodes
        .values()
        .filter(|n| n.kind == NodeKind::Bench && n.params["config"]["engine"] == "mine")
        .map(|n| (n.params["config"]["command"].clone(), n.key.to_string()))
        .collect()
}

#[test]
fn the_command_with_the_configurations_values_is_keyed() {
    let s = snapshot(&sweep(MINE, ""));
    let benches = mine(&s);
    assert_eq!(benches.len(), 4, "2 quantizations × 2 batch sizes");
    let argvs: std::collections::BTreeSet<String> = benches
        .iter()
        .map(|(c, _)| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        argvs.into_iter().collect::<Vec<_>>(),
        [
            "./serve --port {port} --max-batch 16 --quant awq --weights {model}",
            "./serve --port {port} --max-batch 16 --quant fp16 --weights {model}",
            "./serve --port {port} --max-batch 8 --quant awq --weights {model}",
            "./serve --port {port} --max-batch 8 --quant fp16 --weights {model}",
        ],
        "axis values filled by the planner, the attempt's own placeholders left"
    );
    assert_eq!(benches[0].0["api"], "openai-chat");
    // The planner's fast keys are the keys of these params, command included.
    for l in s.nodes.keys() {
        assert_eq!(s.nodes[l].key, reference_key(&s, l), "{l}");
    }
    assert_eq!(benches[0].0["health"], "/ready");
    // Plugin engines carry no command, and their keys do not change with one declared.
    let vllm = |s: &common::Snapshot| {
        s.nodes
            .values()
            .filter(|n| n.kind == NodeKind::Bench && n.params["config"]["engine"] == "vllm")
            .map(|n| {
                assert!(n.params["config"].get("command").is_none());
                n.key.to_string()
            })
            .collect::<Vec<_>>()
    };
    let edited = snapshot(&sweep(&MINE.replace("--quant", "--quantization"), ""));
    assert_eq!(vllm(&s), vllm(&edited));
    // An edited command changes every key of its engine.
    let before: Vec<String> = benches.iter().map(|(_, k)| k.clone()).collect();
    assert!(mine(&edited).iter().all(|(_, k)| !before.contains(k)));
    // A flag from the engine block follows the command (and is keyed) as for plugins.
    let with_arg = snapshot(&sweep(
        &format!("{MINE} {{\n        arg \"--trust\"\n    }}"),
        "",
    ));
    let n = with_arg
        .nodes
        .values()
        .find(|n| n.kind == NodeKind::Bench && n.params["config"]["engine"] == "mine")
        .unwrap();
    assert_eq!(n.params["config"]["engine-args"]["--trust"], true);
}

#[test]
fn a_command_engine_is_priced_and_pruned_like_any_other() {
    // The planner's hardware rules still apply: AWQ needs compute capability 7.5, which a
    // V100 lacks, whatever the command.
    let s = snapshot(&sweep(MINE, "").replace("H100-80GB", "V100-32GB"));
    assert!(
        s.pruned
            .iter()
            .any(|(l, code, _)| l.contains("/mine/awq/") && *code == "hardware"),
        "{:#?}",
        s.pruned
    );
}

#[test]
fn mistakes_in_a_command_engine_are_pointed_at() {
    // An unknown placeholder: the diagnostic points at it within the string.
    let text = sweep(
        r#"engine "mine" command="./serve --port {prot} --b {batch-size}""#,
        "",
    );
    let d = errors(&text);
    let e = d
        .iter()
        .find(|x| x.code == "plan::command")
        .expect("plan::command");
    assert!(
        e.message.contains("unknown placeholder `{prot}`"),
        "{}",
        e.message
    );
    let at = e.span.offset();
    assert_eq!(&text[at..at + e.span.len()], "{prot}");
    let line = text.lines().position(|l| l.contains("{prot}")).unwrap() + 1;
    let col = text.lines().nth(line - 1).unwrap().find("{prot}").unwrap() + 1;
    assert_eq!(e.line_col, (line, col));
    // ... and only it: the engine is still declared, so the matrix naming it is not wrong.
    assert_eq!(d.len(), 1, "{d:#?}");
    let d = errors(&sweep(
        r#"engine "mine" command="./serve --port {port} --b {batch_size}""#,
        "",
    ));
    assert!(
        d[0].message.contains("did you mean `{batch-size}`?"),
        "{d:#?}"
    );

    // A built-in engine's name.
    let d = errors(&sweep(
        r#"engine "vllm" command="./serve --port {port}""#,
        "",
    ));
    assert!(
        d.iter().any(|x| x.code == "plan::command-shadows"),
        "{d:#?}"
    );

    // A dialect bench does not speak.
    let d = errors(&sweep(
        r#"engine "mine" command="./serve --port {port}" api="openai-chats""#,
        "",
    ));
    let e = d
        .iter()
        .find(|x| x.code == "plan::unknown-api")
        .expect("unknown api");
    assert!(e.help.as_deref().unwrap().contains("openai-chat"), "{e:#?}");

    // `api=` without a command.
    let d = errors(&sweep(r#"engine "mine" api="tgi""#, ""));
    assert!(d.iter().any(|x| x.code == "sweep::needs-command"), "{d:#?}");

    // No image, where every host runs containers.
    let d = errors(&sweep(
        MINE,
        r#"    hosts {
        host "a" runtime="docker" gpu="H100-80GB" gpus=8
    }"#,
    ));
    let e = d
        .iter()
        .find(|x| x.code == "plan::command-image")
        .expect("command-image");
    assert!(
        e.message.contains("engine `mine` has no image"),
        "{}",
        e.message
    );
    // ... which an image mends.
    snapshot(&sweep(
        &MINE.replace(
            "engine \"mine\"",
            "engine \"mine\" image=\"registry.local/mine:1\"",
        ),
        r#"    hosts {
        host "a" runtime="docker" gpu="H100-80GB" gpus=8
    }"#,
    ));
}
