//! Key properties: a key depends on what a node computes and nothing else.
//!
//! * Reordering models, axes, axis values, properties and top-level nodes, reformatting and
//!   comments change no key.
//! * Changing one value changes exactly the keys of the nodes whose own params changed and
//!   of their descendants — no other key.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Snapshot, snapshot};
use proptest::prelude::*;

/// A tiny deterministic shuffle, so that a proptest seed is the whole layout.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }

    fn flip(&mut self) -> bool {
        self.next() & 1 == 1
    }

    /// A comment, blank line or nothing.
    fn noise(&mut self) -> &'static str {
        match self.next() % 5 {
            0 => "    // a comment that changes nothing\n",
            1 => "\n",
            2 => "    /* block\n       comment */\n",
            _ => "",
        }
    }
}

fn line(parts: &[String], rng: &mut Rng) -> String {
    // First part is the node name and its arguments; the rest are properties, in any order.
    let mut props: Vec<String> = parts[1..].to_vec();
    rng.shuffle(&mut props);
    let sep = if rng.flip() { " " } else { "  " };
    std::iter::once(parts[0].clone())
        .chain(props)
        .collect::<Vec<_>>()
        .join(sep)
}

/// The sweep the properties are checked on, laid out by `seed`.
fn render(seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut models = vec![
        vec![
            r#"model "meta-llama/Llama-3.1-8B-Instruct""#.to_string(),
            r#"revision="main""#.into(),
        ],
        vec![
            r#"model "qwen""#.to_string(),
            r#"hub="Qwen/Qwen2.5-7B-Instruct""#.into(),
            r#"revision="abc123""#.into(),
            "priority=2".into(),
        ],
        vec![
            r#"model "tiny""#.to_string(),
            r#"path="./models/tiny""#.into(),
            r#"arch="tinyllama-1.1b""#.into(),
        ],
    ];
    rng.shuffle(&mut models);
    let mut axes: Vec<(String, Vec<String>)> = vec![
        ("engine".into(), vec![r#""vllm""#.into(), r#""sim""#.into()]),
        (
            "quantization".into(),
            vec![r#""fp16""#.into(), r#""awq""#.into()],
        ),
        (
            "gpu".into(),
            vec![r#""H100-80GB""#.into(), r#""A100-80GB""#.into()],
        ),
        ("gpus".into(), vec!["1".into(), "2".into()]),
        (
            "batch-size".into(),
            vec![
                "8".into(),
                if rng.flip() {
                    "16".into()
                } else {
                    "0x10".into()
                },
            ],
        ),
        ("seq-len".into(), vec!["2048".into()]),
    ];
    rng.shuffle(&mut axes);
    let mut matrix = String::from("    matrix {\n");
    for (name, mut values) in axes {
        rng.shuffle(&mut values);
        matrix.push_str(rng.noise());
        matrix.push_str(&format!("        {name} {}\n", values.join(" ")));
    }
    matrix.push_str("    }\n");
    let mut conc = vec!["1", "8"];
    rng.shuffle(&mut conc);
    let workload = format!(
        "    workload \"chat\" {{\n        {}\n        concurrency {}\n        {}\n        repeats 2\n        seed 42\n        {}\n    }}\n",
        line(
            &[
                r#"dataset "random""#.into(),
                "input-len=256".into(),
                "output-len=64".into(),
                "spread=0.1".into()
            ],
            &mut rng
        ),
        conc.join(" "),
        line(&["requests 50".into(), "warmup=5".into()], &mut rng),
        line(
            &["slo".into(), "ttft-ms=200".into(), "tpot-ms=20".into()],
            &mut rng
        ),
    );
    let engine = format!(
        "    {} {{\n        arg \"--gpu-memory-utilization\" 0.85\n        env \"VLLM_LOGGING_LEVEL\" \"INFO\"\n    }}\n",
        line(
            &[
                r#"engine "vllm""#.into(),
                r#"image="vllm/vllm-openai:v0.9.2""#.into(),
                "priority=1".into()
            ],
            &mut rng
        )
    );
    let mut hosts = vec![
        line(
            &[
                r#"host "h""#.into(),
                r#"runtime="sim""#.into(),
                r#"gpu="H100-80GB""#.into(),
                "gpus=2".into(),
                "price-per-gpu-hour=2.5".into(),
                "spot=#false".into(),
            ],
            &mut rng,
        ),
        line(
            &[
                r#"host "a""#.into(),
                r#"runtime="sim""#.into(),
                r#"gpu="A100-80GB""#.into(),
                "gpus=2".into(),
                "price-per-gpu-hour=1.5".into(),
            ],
            &mut rng,
        ),
    ];
    rng.shuffle(&mut hosts);
    let hosts = format!(
        "    hosts {{\n        {}\n        {}\n    }}\n",
        hosts[0], hosts[1]
    );
    let mut blocks: Vec<String> = vec![
        "    description \"key properties\"\n".into(),
        matrix,
        workload,
        engine,
        hosts,
        format!("    {}\n", line(&["validate".into(), "max-error-rate=0.02".into(), "min-completed=0.9".into()], &mut rng)),
        "    aggregate {\n        percentiles 50 95 99\n    }\n".into(),
        "    optimize {\n        objective \"output-throughput\" maximize weight=0.6\n        objective \"ttft-p95\" minimize weight=0.4\n        top 3\n    }\n".into(),
        "    notify webhook=\"https://hooks.example.invalid/T0/B0\" on=\"failure\"\n".into(),
        "    exclude model=\"tiny\" quantization=\"awq\"\n".into(),
    ];
    for m in models {
        blocks.push(format!("    {}\n", line(&m, &mut rng)));
    }
    rng.shuffle(&mut blocks);
    let mut text = String::from("// generated layout\nsweep \"keys\" {\n");
    for b in blocks {
        text.push_str(rng.noise());
        text.push_str(&b);
    }
    text.push_str("}\n");
    text
}

fn keys(s: &Snapshot) -> BTreeMap<String, bench_plan::NodeKey> {
    s.nodes.iter().map(|(l, n)| (l.clone(), n.key)).collect()
}

/// One edit of the sweep: a text replacement and whether it should change any key.
struct Edit {
    name: &'static str,
    from: &'static str,
    to: &'static str,
    changes_keys: bool,
}

const EDITS: &[Edit] = &[
    Edit {
        name: "model revision",
        from: r#"revision="abc123""#,
        to: r#"revision="def456""#,
        changes_keys: true,
    },
    Edit {
        name: "engine image",
        from: "vllm/vllm-openai:v0.9.2",
        to: "vllm/vllm-openai:v0.10.0",
        changes_keys: true,
    },
    Edit {
        name: "engine argument",
        from: "0.85",
        to: "0.8",
        changes_keys: true,
    },
    Edit {
        name: "engine env",
        from: "\"INFO\"",
        to: "\"DEBUG\"",
        changes_keys: true,
    },
    Edit {
        name: "validate gate",
        from: "max-error-rate=0.02",
        to: "max-error-rate=0.05",
        changes_keys: true,
    },
    Edit {
        name: "percentiles",
        from: "percentiles 50 95 99",
        to: "percentiles 50 95 99 99.9",
        changes_keys: true,
    },
    Edit {
        name: "objective weight",
        from: "weight=0.6",
        to: "weight=0.7",
        changes_keys: true,
    },
    Edit {
        name: "seed",
        from: "seed 42",
        to: "seed 7",
        changes_keys: true,
    },
    Edit {
        name: "slo",
        from: "ttft-ms=200",
        to: "ttft-ms=300",
        changes_keys: true,
    },
    Edit {
        name: "price",
        from: "price-per-gpu-hour=2.5",
        to: "price-per-gpu-hour=3.0",
        changes_keys: true,
    },
    Edit {
        name: "dataset",
        from: "output-len=64",
        to: "output-len=65",
        changes_keys: true,
    },
    Edit {
        name: "description",
        from: "\"key properties\"",
        to: "\"something else\"",
        changes_keys: false,
    },
    Edit {
        name: "notify",
        from: "on=\"failure\"",
        to: "on=\"finish failure\"",
        changes_keys: false,
    },
    Edit {
        name: "spot",
        from: "spot=#false",
        to: "spot=#true",
        changes_keys: false,
    },
    Edit {
        name: "priority",
        from: "priority=2",
        to: "priority=9",
        changes_keys: false,
    },
];

fn check_edit(seed: u64, edit: &Edit) {
    let before_text = render(seed);
    assert_eq!(
        before_text.matches(edit.from).count(),
        1,
        "edit {} must match once",
        edit.name
    );
    let after_text = before_text.replace(edit.from, edit.to);
    let before = snapshot(&before_text);
    let after = snapshot(&after_text);
    assert_eq!(
        before.nodes.keys().collect::<Vec<_>>(),
        after.nodes.keys().collect::<Vec<_>>(),
        "an edit of a value keeps the set of nodes"
    );
    // Nodes whose own inputs to the key changed: params or fingerprint.
    let direct: Vec<String> = before
        .nodes
        .iter()
        .filter(|(l, n)| {
            let m = &after.nodes[*l];
            n.params != m.params || n.fingerprint != m.fingerprint
        })
        .map(|(l, _)| l.clone())
        .collect();
    let expected: BTreeSet<String> = after.descendants(&direct);
    let changed: BTreeSet<String> = before
        .nodes
        .iter()
        .filter(|(l, n)| after.nodes[*l].key != n.key)
        .map(|(l, _)| l.clone())
        .collect();
    assert_eq!(
        changed, expected,
        "edit {}: changed keys must be the edited nodes and their descendants",
        edit.name
    );
    assert_eq!(!changed.is_empty(), edit.changes_keys, "edit {}", edit.name);
}

#[test]
fn every_edit_changes_exactly_its_descendants() {
    for edit in EDITS {
        check_edit(1, edit);
    }
}

#[test]
fn model_revision_reruns_only_that_model() {
    let before = snapshot(&render(1));
    let after = snapshot(&render(1).replace(r#"revision="abc123""#, r#"revision="def456""#));
    for (l, n) in &before.nodes {
        let changed = after.nodes[l].key != n.key;
        let of_qwen =
            l.starts_with("download/qwen") || (l.contains("/qwen/") && !l.starts_with("setup"));
        assert_eq!(changed, of_qwen || l == "optimize", "{l}");
    }
}

#[test]
fn cache_version_invalidates_everything() {
    let before = snapshot(&render(1));
    let after = snapshot(&render(1).replace(
        "sweep \"keys\" {\n",
        "sweep \"keys\" {\n    cache-version 1\n",
    ));
    for (l, n) in &before.nodes {
        assert_ne!(after.nodes[l].key, n.key, "{l}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn layout_changes_no_key(seed in 1u64..u64::MAX) {
        let base = snapshot(&render(0x9E37_79B9_7F4A_7C15));
        let other = snapshot(&render(seed));
        prop_assert!(base.nodes.len() > 100);
        prop_assert_eq!(keys(&base), keys(&other));
    }

    #[test]
    fn one_edit_changes_exactly_its_descendants(seed in 1u64..u64::MAX, which in 0..EDITS.len()) {
        check_edit(seed, &EDITS[which]);
    }
}
