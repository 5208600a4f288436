//! KDL document → [`Sweep`]. Every error is collected (not just the first) and carries a
//! span; nothing a user writes can make this panic.

use bench_catalog::{Dtype, KvCacheDtype, Quantization};
use kdl::{KdlDocument, KdlNode};
use miette::SourceSpan;

use crate::ast::*;
use crate::diag::{Diag, Diags, did_you_mean, suggest};
use crate::metrics::check_metric;
use crate::read::{
    Once, Reader, children, duration_secs, float, name_span, node_name, scalar, string, uint,
};

/// Parses KDL text into a sweep. Diagnostics (errors and warnings) go to `d`; a sweep is
/// returned only if the structure was complete enough to build one.
pub fn parse_document(text: &str, d: &mut Diags) -> Option<Sweep> {
    let doc = match KdlDocument::parse(text) {
        Ok(doc) => doc,
        Err(err) => {
            for k in err.diagnostics {
                let message = k.message.clone().unwrap_or_else(|| "invalid KDL".into());
                let span = char_span_to_bytes(text, k.span);
                d.push(
                    Diag::error("sweep::syntax", span, format!("KDL syntax: {message}"))
                        .label(k.label.clone().unwrap_or_else(|| "here".into()))
                        .maybe_help(k.help.clone()),
                );
            }
            return None;
        }
    };
    let mut sweep_node: Option<&KdlNode> = None;
    for n in doc.nodes() {
        if node_name(n) == "sweep" {
            if let Some(first) = sweep_node {
                d.push(
                    Diag::error(
                        "sweep::duplicate-node",
                        name_span(n),
                        "a file holds one `sweep`",
                    )
                    .label("second sweep")
                    .also(name_span(first), "first sweep"),
                );
            } else {
                sweep_node = Some(n);
            }
        } else {
            d.push(
                Diag::error(
                    "sweep::unknown-node",
                    name_span(n),
                    format!("unknown top-level node `{}`", node_name(n)),
                )
                .label("unknown node")
                .help(match did_you_mean(node_name(n), ["sweep"]) {
                    Some(h) => h,
                    None => "everything lives inside one `sweep \"name\" { ... }` block".into(),
                }),
            );
        }
    }
    let Some(node) = sweep_node else {
        if !d.has_errors() {
            d.push(
                Diag::error(
                    "sweep::empty",
                    SourceSpan::from(0..0),
                    "no `sweep` node in this file",
                )
                .help("start with: sweep \"my-sweep\" { ... }"),
            );
        }
        return None;
    };
    parse_sweep(node, d)
}

/// kdl reports some spans in characters; miette wants bytes.
fn char_span_to_bytes(text: &str, span: SourceSpan) -> SourceSpan {
    if text.is_ascii() {
        return span;
    }
    let to_byte = |chars: usize| {
        text.char_indices()
            .nth(chars)
            .map_or(text.len(), |(b, _)| b)
    };
    let start = to_byte(span.offset());
    let end = to_byte(span.offset() + span.len());
    SourceSpan::from(start..end.max(start))
}

const SWEEP_CHILDREN: &[&str] = &[
    "description",
    "cache-version",
    "model",
    "matrix",
    "include",
    "exclude",
    "workload",
    "engine",
    "hosts",
    "validate",
    "aggregate",
    "optimize",
    "notify",
    "retry",
    "search",
];

fn parse_sweep(node: &KdlNode, d: &mut Diags) -> Option<Sweep> {
    let r = Reader::new(node, "sweep");
    r.allow_props(d, &[]);
    let name = r
        .args(d, 1, Some(1), "sweep \"name\" { ... }")
        .first()
        .and_then(|e| string(d, e, "sweep"));
    let mut sweep = Sweep {
        name: name.unwrap_or_else(|| Spanned::new(String::new(), name_span(node))),
        description: None,
        cache_version: 0,
        models: Vec::new(),
        matrix: Matrix {
            span: name_span(node),
            ..Matrix::default()
        },
        rules: Vec::new(),
        workloads: Vec::new(),
        engines: Vec::new(),
        hosts: Vec::new(),
        validate: Validate::default(),
        aggregate: Aggregate::default(),
        optimize: Optimize::default(),
        notify: Vec::new(),
        retry: Retry::default(),
        search: None,
        span: name_span(node),
    };
    let mut once = Once::default();
    let mut matrix_seen = false;
    let mut optimize_node = None;
    if node.children().is_none() {
        d.push(
            Diag::error("sweep::empty", name_span(node), "the sweep has no body")
                .label("needs a { ... } block")
                .help("a sweep needs at least a model, a matrix and a workload"),
        );
        return None;
    }
    for c in children(node) {
        let cname = node_name(c);
        match cname {
            "description" => {
                if once.first(d, c, "sweep") {
                    let r = Reader::new(c, "description");
                    r.allow_props(d, &[]);
                    r.no_children(d);
                    sweep.description = r
                        .args(d, 1, Some(1), "description \"text\"")
                        .first()
                        .and_then(|e| string(d, e, "description"))
                        .map(|s| s.value);
                }
            }
            "cache-version" => {
                if once.first(d, c, "sweep") {
                    let r = Reader::new(c, "cache-version");
                    r.allow_props(d, &[]);
                    r.no_children(d);
                    if let Some(v) = r
                        .args(d, 1, Some(1), "cache-version 2")
                        .first()
                        .and_then(|e| uint(d, e, "cache-version", 0))
                    {
                        sweep.cache_version = v.value;
                    }
                }
            }
            "model" => {
                if let Some(m) = parse_model(c, d) {
                    sweep.models.push(m);
                }
            }
            "matrix" => {
                if once.first(d, c, "sweep") {
                    matrix_seen = true;
                    sweep.matrix = parse_matrix(c, d);
                }
            }
            "include" | "exclude" => {
                if let Some(rule) = parse_rule(c, d) {
                    sweep.rules.push(rule);
                }
            }
            "workload" => {
                if let Some(w) = parse_workload(c, d) {
                    sweep.workloads.push(w);
                }
            }
            "engine" => {
                if let Some(e) = parse_engine(c, d) {
                    sweep.engines.push(e);
                }
            }
            "hosts" => {
                if once.first(d, c, "sweep") {
                    sweep.hosts = parse_hosts(c, d);
                }
            }
            "validate" => {
                if once.first(d, c, "sweep") {
                    sweep.validate = parse_validate(c, d);
                }
            }
            "aggregate" => {
                if once.first(d, c, "sweep") {
                    sweep.aggregate = parse_aggregate(c, d);
                }
            }
            "optimize" => {
                if once.first(d, c, "sweep") {
                    optimize_node = Some(c);
                }
            }
            "notify" => {
                if let Some(n) = parse_notify(c, d) {
                    sweep.notify.push(n);
                }
            }
            "retry" => {
                if once.first(d, c, "sweep") {
                    sweep.retry = parse_retry(c, d);
                }
            }
            "search" => {
                if once.first(d, c, "sweep") {
                    sweep.search = Some(parse_search(c, d));
                }
            }
            other => unknown_child(d, c, other, "sweep", SWEEP_CHILDREN),
        }
    }
    // Optimize is read last: its metric names depend on the aggregate percentiles.
    if let Some(c) = optimize_node {
        sweep.optimize = parse_optimize(c, &sweep.aggregate.percentiles, d);
    }
    check_whole(&sweep, matrix_seen, d);
    Some(sweep)
}

fn unknown_child(d: &mut Diags, c: &KdlNode, name: &str, parent: &str, allowed: &[&str]) {
    d.push(
        Diag::error(
            "sweep::unknown-node",
            name_span(c),
            format!("unknown node `{name}` in `{parent}`"),
        )
        .label("unknown node")
        .help(suggest(name, allowed, &format!("`{parent}` holds"))),
    );
}

fn parse_model(c: &KdlNode, d: &mut Diags) -> Option<Model> {
    let r = Reader::new(c, "model");
    r.allow_props(d, &["hub", "revision", "path", "arch", "priority", "fetch"]);
    let name = r
        .args(
            d,
            1,
            Some(1),
            "model \"org/name\" revision=\"...\"  or  model \"label\" path=\"./dir\"",
        )
        .first()
        .and_then(|e| string(d, e, "model"))?;
    if name.trim().is_empty() {
        d.push(
            Diag::error("sweep::empty", name.span, "a model name cannot be empty").label("empty"),
        );
        return None;
    }
    let hub = r.prop_str(d, "hub");
    let revision = r.prop_str(d, "revision");
    let path = r.prop_str(d, "path");
    let source = match (path, hub) {
        (Some(p), Some(h)) => {
            d.push(
                Diag::error(
                    "sweep::conflict",
                    h.span,
                    "a model comes from the hub or a local path, not both",
                )
                .label("`hub` here")
                .also(p.span, "`path` here"),
            );
            return None;
        }
        (Some(p), None) => {
            if let Some(rev) = &revision {
                d.push(
                    Diag::error("sweep::conflict", rev.span, "a local model has no revision")
                        .label("remove this")
                        .help("a local directory is identified by the digests of its files"),
                );
            }
            ModelSource::Local { path: p.value }
        }
        (None, hub) => {
            let id = hub.map(|h| h.value).unwrap_or_else(|| name.value.clone());
            if !id.contains('/') && !id.starts_with("gpt2") {
                d.push(
                    Diag::warning(
                        "sweep::hub-id",
                        name.span,
                        format!("`{id}` does not look like a Hugging Face id (org/name)"),
                    )
                    .label("no organisation")
                    .help("give `hub=\"org/name\"`, or `path=\"./dir\"` for a local model"),
                );
            }
            ModelSource::Hub {
                id,
                revision: revision.map(|r| r.value),
            }
        }
    };
    let arch = r.prop_str(d, "arch");
    let priority = r.prop_i64(d, "priority").unwrap_or(0);
    let fetch = r.prop_bool(d, "fetch").unwrap_or(false);
    let mut facts = ArchOverride::default();
    let mut files = None;
    let mut once = Once::default();
    for f in children(c) {
        match node_name(f) {
            "facts" => {
                if once.first(d, f, "model") {
                    facts = parse_facts(f, d);
                }
            }
            "files" => {
                if once.first(d, f, "model") {
                    let fr = Reader::new(f, "files");
                    fr.allow_props(d, &[]);
                    let pats: Vec<Spanned<String>> = fr
                        .args(
                            d,
                            1,
                            None,
                            "files \"*.safetensors\" \"config.json\" \"tokenizer*\"",
                        )
                        .iter()
                        .filter_map(|e| string(d, e, "files"))
                        .collect();
                    files = Some(pats);
                }
            }
            other => unknown_child(d, f, other, "model", &["facts", "files"]),
        }
    }
    Some(Model {
        name,
        source,
        arch,
        facts,
        priority,
        fetch,
        files,
        span: name_span(c),
    })
}

const FACTS: &[&str] = &[
    "params",
    "active-params",
    "layers",
    "hidden",
    "heads",
    "kv-heads",
    "head-dim",
    "vocab",
    "max-context",
];

fn parse_facts(c: &KdlNode, d: &mut Diags) -> ArchOverride {
    let r = Reader::new(c, "facts");
    r.allow_props(d, FACTS);
    r.args(
        d,
        0,
        Some(0),
        "facts params=8.0e9 layers=32 hidden=4096 heads=32 kv-heads=8 head-dim=128 vocab=128256",
    );
    r.no_children(d);
    let positive = |d: &mut Diags, key: &str| -> Option<f64> {
        let v = r.prop_f64(d, key)?;
        if v.value <= 0.0 {
            d.push(
                Diag::error(
                    "sweep::out-of-range",
                    v.span,
                    format!("`{key}` must be positive"),
                )
                .label("not positive"),
            );
            return None;
        }
        Some(v.value)
    };
    let params = positive(d, "params");
    let active_params = positive(d, "active-params");
    ArchOverride {
        params,
        active_params,
        layers: r.prop_u32(d, "layers", 1).map(|v| v.value),
        hidden: r.prop_u32(d, "hidden", 1).map(|v| v.value),
        heads: r.prop_u32(d, "heads", 1).map(|v| v.value),
        kv_heads: r.prop_u32(d, "kv-heads", 1).map(|v| v.value),
        head_dim: r.prop_u32(d, "head-dim", 1).map(|v| v.value),
        vocab: r.prop_u32(d, "vocab", 1).map(|v| v.value),
        max_context: r.prop_u32(d, "max-context", 1).map(|v| v.value),
        span: Some(name_span(c)),
    }
}

const MATRIX_AXES: &[&str] = &[
    "engine",
    "quantization",
    "dtype",
    "kv-cache",
    "gpu",
    "gpus",
    "batch-size",
    "seq-len",
    "engine-arg",
];

fn parse_matrix(c: &KdlNode, d: &mut Diags) -> Matrix {
    let r = Reader::new(c, "matrix");
    r.allow_props(d, &[]);
    r.args(d, 0, Some(0), "matrix { engine \"vllm\" ... }");
    let mut m = Matrix {
        span: name_span(c),
        ..Matrix::default()
    };
    let mut once = Once::default();
    for a in children(c) {
        let name = node_name(a);
        if name != "engine-arg" && MATRIX_AXES.contains(&name) && !once.first(d, a, "matrix") {
            continue;
        }
        match name {
            "engine" => m.engine = axis(a, d, |d, e| string(d, e, "engine")),
            "gpu" => m.gpu = axis(a, d, |d, e| string(d, e, "gpu")),
            "quantization" => {
                m.quantization = axis(a, d, |d, e| {
                    named(
                        d,
                        e,
                        "quantization",
                        Quantization::parse,
                        &names(Quantization::ALL.map(Quantization::name)),
                    )
                })
            }
            "dtype" => {
                m.dtype = axis(a, d, |d, e| {
                    named(
                        d,
                        e,
                        "dtype",
                        Dtype::parse,
                        &names(Dtype::ALL.map(Dtype::name)),
                    )
                })
            }
            "kv-cache" => {
                m.kv_cache = axis(a, d, |d, e| {
                    named(
                        d,
                        e,
                        "kv-cache",
                        KvCacheDtype::parse,
                        &names(KvCacheDtype::ALL.map(KvCacheDtype::name)),
                    )
                })
            }
            "gpus" => m.gpus = axis(a, d, |d, e| uint(d, e, "gpus", 1)),
            "batch-size" => m.batch_size = axis(a, d, |d, e| uint(d, e, "batch-size", 1)),
            "seq-len" => m.seq_len = axis(a, d, |d, e| uint(d, e, "seq-len", 1)),
            "engine-arg" => {
                if let Some(arg) = parse_arg_axis(a, d) {
                    if let Some(prev) = m.args.iter().find(|p| {
                        p.flag.value == arg.flag.value
                            && p.engine.as_ref().map(|e| &e.value)
                                == arg.engine.as_ref().map(|e| &e.value)
                    }) {
                        d.push(
                            Diag::error(
                                "sweep::duplicate-node",
                                arg.flag.span,
                                format!("`engine-arg {}` is given twice", arg.flag.value),
                            )
                            .label("second one")
                            .also(prev.flag.span, "first one"),
                        );
                    } else {
                        m.args.push(arg);
                    }
                }
            }
            other => unknown_child(d, a, other, "matrix", MATRIX_AXES),
        }
    }
    m
}

fn names<const N: usize>(a: [&'static str; N]) -> Vec<&'static str> {
    a.to_vec()
}

fn named<T>(
    d: &mut Diags,
    e: &kdl::KdlEntry,
    what: &str,
    parse: fn(&str) -> Option<T>,
    allowed: &[&str],
) -> Option<Spanned<T>> {
    let s = string(d, e, what)?;
    match parse(&s.value) {
        Some(v) => Some(Spanned::new(v, s.span)),
        None => {
            d.push(
                Diag::error(
                    "sweep::unknown-value",
                    s.span,
                    format!("unknown {what} `{}`", s.value),
                )
                .label(format!("not a {what}"))
                .help(suggest(&s.value, allowed, &format!("{what} values"))),
            );
            None
        }
    }
}

/// Reads an axis: at least one value, no property, no repeated value.
fn axis<T: PartialEq + std::fmt::Debug>(
    a: &KdlNode,
    d: &mut Diags,
    mut read: impl FnMut(&mut Diags, &kdl::KdlEntry) -> Option<Spanned<T>>,
) -> Vec<Spanned<T>> {
    let name = node_name(a);
    let r = Reader::new(a, name);
    r.allow_props(d, &[]);
    r.no_children(d);
    let entries = r.args(d, 1, None, &format!("{name} VALUE VALUE ..."));
    if entries.is_empty() {
        // Reported by `args` as an empty axis.
        return Vec::new();
    }
    let mut out: Vec<Spanned<T>> = Vec::new();
    for e in entries {
        if let Some(v) = read(d, e) {
            if let Some(prev) = out.iter().find(|p| p.value == v.value) {
                d.push(
                    Diag::error(
                        "sweep::duplicate-value",
                        v.span,
                        format!("`{name}` lists {:?} twice", v.value),
                    )
                    .label("repeated value")
                    .also(prev.span, "first one"),
                );
                continue;
            }
            out.push(v);
        }
    }
    out
}

fn parse_arg_axis(a: &KdlNode, d: &mut Diags) -> Option<ArgAxis> {
    let r = Reader::new(a, "engine-arg");
    r.allow_props(d, &["engine"]);
    r.no_children(d);
    let entries = r.args(
        d,
        2,
        None,
        "engine-arg \"--flag\" VALUE VALUE ... [engine=\"vllm\"]",
    );
    let flag = entries.first().and_then(|e| string(d, e, "engine-arg"))?;
    if !flag.value.starts_with('-') {
        d.push(
            Diag::error(
                "sweep::engine-arg",
                flag.span,
                "an engine argument starts with `-`",
            )
            .label("not a flag")
            .help(format!(
                "write it as the engine's command line does, e.g. \"--{}\"",
                flag.value
            )),
        );
        return None;
    }
    let mut values: Vec<Spanned<Scalar>> = Vec::new();
    for e in entries.iter().skip(1) {
        if let Some(v) = scalar(d, e, "engine-arg") {
            if let Some(prev) = values.iter().find(|p| p.value == v.value) {
                d.push(
                    Diag::error(
                        "sweep::duplicate-value",
                        v.span,
                        format!("`engine-arg {}` lists {} twice", flag.value, v.value),
                    )
                    .label("repeated value")
                    .also(prev.span, "first one"),
                );
                continue;
            }
            values.push(v);
        }
    }
    if values.is_empty() {
        return None;
    }
    Some(ArgAxis {
        flag,
        values,
        engine: r.prop_str(d, "engine"),
        span: name_span(a),
    })
}

fn parse_rule(c: &KdlNode, d: &mut Diags) -> Option<Rule> {
    let kind = if node_name(c) == "include" {
        RuleKind::Include
    } else {
        RuleKind::Exclude
    };
    let what = node_name(c);
    let r = Reader::new(c, what);
    r.args(
        d,
        0,
        Some(0),
        &format!("{what} engine=\"tgi\" quantization=\"int8\""),
    );
    r.no_children(d);
    let mut conditions = Vec::new();
    let mut priority = 0;
    let mut seen: Vec<&str> = Vec::new();
    for e in c.entries() {
        let Some(key) = e.name() else { continue };
        let k = key.value();
        if seen.contains(&k) {
            d.push(
                Diag::error(
                    "sweep::duplicate-property",
                    key.span(),
                    format!("`{k}` is given twice on `{what}`"),
                )
                .label("second one"),
            );
            continue;
        }
        seen.push(k);
        if k == "priority" && kind == RuleKind::Include {
            if let Some(p) = crate::read::int(d, e, "priority") {
                priority = p.value;
            }
            continue;
        }
        if !AXES.contains(&k) && !k.starts_with('-') {
            let mut allowed: Vec<&str> = AXES.to_vec();
            if kind == RuleKind::Include {
                allowed.push("priority");
            }
            d.push(
                Diag::error("sweep::unknown-property", key.span(), format!("`{what}` cannot match on `{k}`"))
                    .label("not an axis")
                    .help(format!(
                        "{}; an engine argument is matched by its flag, e.g. \"--enable-prefix-caching\"=#true",
                        suggest(k, &allowed, "axes")
                    )),
            );
            continue;
        }
        if let Some(v) = scalar(d, e, k) {
            conditions.push((Spanned::new(k.to_string(), key.span()), v));
        }
    }
    if conditions.is_empty() {
        if !d.has_errors() {
            d.push(
                Diag::error(
                    "sweep::empty-rule",
                    name_span(c),
                    format!("`{what}` names no axis"),
                )
                .label("matches everything")
                .help(format!(
                    "write e.g. {what} engine=\"tgi\" quantization=\"int8\""
                )),
            );
        }
        return None;
    }
    Some(Rule {
        kind,
        conditions,
        priority,
        span: name_span(c),
    })
}

const WORKLOAD_CHILDREN: &[&str] = &[
    "dataset",
    "api",
    "concurrency",
    "rate",
    "requests",
    "duration",
    "repeats",
    "seed",
    "slo",
];

fn parse_workload(c: &KdlNode, d: &mut Diags) -> Option<Workload> {
    let r = Reader::new(c, "workload");
    r.allow_props(d, &["priority"]);
    let name = r
        .args(d, 1, Some(1), "workload \"chat\" { ... }")
        .first()
        .and_then(|e| string(d, e, "workload"))?;
    let priority = r.prop_i64(d, "priority").unwrap_or(0);
    let mut dataset = None;
    let mut api = Api::Completions;
    let mut load: Vec<Spanned<LoadPoint>> = Vec::new();
    let mut stop = None;
    let mut warmup = 0;
    let mut repeats = 1;
    let mut seed = 0;
    let mut slo = Slo::default();
    let mut once = Once::default();
    for w in children(c) {
        let wname = node_name(w);
        if WORKLOAD_CHILDREN.contains(&wname) && !once.first(d, w, "workload") {
            continue;
        }
        match wname {
            "dataset" => dataset = parse_dataset(w, d),
            "api" => {
                let r = Reader::new(w, "api");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(a) = r.args(d, 1, Some(1), "api \"chat\"").first()
                    && let Some(v) = named(
                        d,
                        a,
                        "api",
                        |s| match s {
                            "completions" => Some(Api::Completions),
                            "chat" => Some(Api::Chat),
                            _ => None,
                        },
                        &["completions", "chat"],
                    )
                {
                    api = v.value;
                }
            }
            "concurrency" => {
                let r = Reader::new(w, "concurrency");
                r.allow_props(d, &[]);
                r.no_children(d);
                for e in r.args(d, 1, None, "concurrency 1 8 32") {
                    if let Some(v) = uint(d, e, "concurrency", 1) {
                        push_load(
                            d,
                            &mut load,
                            Spanned::new(
                                LoadPoint::Concurrency {
                                    concurrency: v.value,
                                },
                                v.span,
                            ),
                        );
                    }
                }
            }
            "rate" => {
                let r = Reader::new(w, "rate");
                r.allow_props(d, &["burstiness", "max-concurrency"]);
                r.no_children(d);
                let burstiness = r.prop_f64(d, "burstiness").map(|b| b.value).unwrap_or(1.0);
                if burstiness <= 0.0
                    && let Some(e) = r.prop("burstiness")
                {
                    d.push(
                        Diag::error(
                            "sweep::out-of-range",
                            e.span(),
                            "`burstiness` must be positive (1.0 = Poisson, below 1 burstier)",
                        )
                        .label("not positive"),
                    );
                }
                let max_concurrency = r.prop_u32(d, "max-concurrency", 1).map(|v| v.value);
                for e in r.args(d, 1, None, "rate 2 8 burstiness=1.0") {
                    if let Some(v) = float(d, e, "rate") {
                        if v.value <= 0.0 {
                            d.push(
                                Diag::error(
                                    "sweep::out-of-range",
                                    v.span,
                                    "a request rate must be positive",
                                )
                                .label("not positive"),
                            );
                            continue;
                        }
                        push_load(
                            d,
                            &mut load,
                            Spanned::new(
                                LoadPoint::Rate {
                                    rate: v.value,
                                    burstiness,
                                    max_concurrency,
                                },
                                v.span,
                            ),
                        );
                    }
                }
            }
            "requests" | "duration" => {
                if stop.is_some() {
                    d.push(
                        Diag::error(
                            "sweep::conflict",
                            name_span(w),
                            "a workload stops on `requests` or on `duration`, not both",
                        )
                        .label("second stop condition"),
                    );
                    continue;
                }
                let r = Reader::new(w, wname);
                r.allow_props(d, &["warmup"]);
                r.no_children(d);
                warmup = r.prop_u32(d, "warmup", 0).map(|v| v.value).unwrap_or(0);
                let a = r.args(
                    d,
                    1,
                    Some(1),
                    if wname == "requests" {
                        "requests 500 warmup=20"
                    } else {
                        "duration \"5m\" warmup=20"
                    },
                );
                if let Some(e) = a.first() {
                    stop = if wname == "requests" {
                        uint(d, e, "requests", 1).map(|v| Stop::Requests(v.value))
                    } else {
                        duration_secs(d, e, "duration").map(|v| Stop::DurationSecs(v.value))
                    };
                }
            }
            "repeats" => {
                if let Some(v) = single_uint(w, d, "repeats 3", 1) {
                    repeats = v;
                }
            }
            "seed" => {
                let r = Reader::new(w, "seed");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(e) = r.args(d, 1, Some(1), "seed 42").first()
                    && let Some(v) = crate::read::int(d, e, "seed")
                {
                    match u64::try_from(v.value) {
                        Ok(s) => seed = s,
                        Err(_) => d.push(
                            Diag::error("sweep::out-of-range", v.span, "`seed` cannot be negative")
                                .label("negative"),
                        ),
                    }
                }
            }
            "slo" => {
                let r = Reader::new(w, "slo");
                r.allow_props(d, &["ttft-ms", "tpot-ms", "e2e-ms"]);
                r.args(d, 0, Some(0), "slo ttft-ms=500 tpot-ms=50");
                r.no_children(d);
                let mut pos = |key: &str| {
                    let v = r.prop_f64(d, key)?;
                    if v.value <= 0.0 {
                        d.push(
                            Diag::error(
                                "sweep::out-of-range",
                                v.span,
                                format!("`{key}` must be positive"),
                            )
                            .label("not positive"),
                        );
                        return None;
                    }
                    Some(v.value)
                };
                slo = Slo {
                    ttft_ms: pos("ttft-ms"),
                    tpot_ms: pos("tpot-ms"),
                    e2e_ms: pos("e2e-ms"),
                };
            }
            other => unknown_child(d, w, other, "workload", WORKLOAD_CHILDREN),
        }
    }
    let help_block = "workload \"chat\" {\n    dataset \"random\" input-len=512 output-len=128\n    concurrency 1 8 32\n    requests 200 warmup=10\n}";
    let Some(dataset) = dataset else {
        if !d.has_errors() {
            d.push(
                Diag::error(
                    "sweep::missing",
                    name.span,
                    format!("workload `{}` has no `dataset`", name.value),
                )
                .label("needs a dataset")
                .help(help_block),
            );
        }
        return None;
    };
    if load.is_empty() {
        d.push(
            Diag::error(
                "sweep::missing",
                name.span,
                format!("workload `{}` has no load points", name.value),
            )
            .label("needs `concurrency` or `rate`")
            .help(help_block),
        );
        return None;
    }
    let stop = stop.unwrap_or(Stop::Requests(200));
    if let Stop::Requests(n) = stop
        && n <= warmup
    {
        d.push(
            Diag::warning(
                "sweep::warmup",
                name.span,
                format!(
                    "workload `{}` measures nothing: warmup {warmup} ≥ requests {n}",
                    name.value
                ),
            )
            .label("no measured requests"),
        );
    }
    Some(Workload {
        name,
        dataset,
        api,
        load,
        stop,
        warmup,
        repeats,
        seed,
        slo,
        priority,
        span: name_span(c),
    })
}

fn push_load(d: &mut Diags, load: &mut Vec<Spanned<LoadPoint>>, p: Spanned<LoadPoint>) {
    if let Some(prev) = load.iter().find(|l| l.value == p.value) {
        d.push(
            Diag::error(
                "sweep::duplicate-value",
                p.span,
                format!("load point {} is listed twice", p.value.label()),
            )
            .label("repeated")
            .also(prev.span, "first one"),
        );
    } else {
        load.push(p);
    }
}

fn single_uint(w: &KdlNode, d: &mut Diags, shape: &str, min: u32) -> Option<u32> {
    let name = node_name(w);
    let r = Reader::new(w, name);
    r.allow_props(d, &[]);
    r.no_children(d);
    let a = r.args(d, 1, Some(1), shape);
    a.first()
        .and_then(|e| uint(d, e, name, min))
        .map(|v| v.value)
}

const DATASETS: &[&str] = &["random", "jsonl", "sharegpt", "eval"];

fn parse_dataset(w: &KdlNode, d: &mut Diags) -> Option<Dataset> {
    let r = Reader::new(w, "dataset");
    r.no_children(d);
    let kind = r
        .args(
            d,
            1,
            Some(1),
            "dataset \"random\" input-len=512 output-len=128",
        )
        .first()
        .and_then(|e| string(d, e, "dataset"))?;
    let len = |d: &mut Diags, key: &str| r.prop_u32(d, key, 1).map(|v| v.value);
    let need_path = |d: &mut Diags| {
        let p = r.prop_str(d, "path");
        if p.is_none() && r.prop("path").is_none() {
            d.push(
                Diag::error(
                    "sweep::missing",
                    kind.span,
                    format!("a `{}` dataset needs `path=`", kind.value),
                )
                .label("needs a path"),
            );
        }
        p.map(|p| p.value)
    };
    match kind.value.as_str() {
        "random" => {
            r.allow_props(d, &["input-len", "output-len", "spread"]);
            let input_len = len(d, "input-len").unwrap_or(512);
            let output_len = len(d, "output-len").unwrap_or(128);
            let spread = r.prop_fraction(d, "spread").unwrap_or(0.0);
            Some(Dataset::Random {
                input_len,
                output_len,
                spread,
            })
        }
        "jsonl" => {
            r.allow_props(d, &["path", "output-len"]);
            let output_len = len(d, "output-len").unwrap_or(128);
            Some(Dataset::Jsonl {
                path: need_path(d)?,
                output_len,
            })
        }
        "sharegpt" => {
            r.allow_props(d, &["path", "output-len"]);
            let output_len = len(d, "output-len");
            Some(Dataset::Sharegpt {
                path: need_path(d)?,
                output_len,
            })
        }
        "eval" => {
            r.allow_props(d, &["path", "scoring", "output-len"]);
            let scoring = match r.prop("scoring") {
                Some(e) => {
                    named(
                        d,
                        e,
                        "scoring",
                        |s| match s {
                            "exact-match" => Some(Scoring::ExactMatch),
                            "contains" => Some(Scoring::Contains),
                            "choice" => Some(Scoring::Choice),
                            _ => None,
                        },
                        &["exact-match", "contains", "choice"],
                    )?
                    .value
                }
                None => Scoring::ExactMatch,
            };
            let output_len = len(d, "output-len").unwrap_or(32);
            Some(Dataset::Eval {
                path: need_path(d)?,
                scoring,
                output_len,
            })
        }
        other => {
            d.push(
                Diag::error(
                    "sweep::unknown-value",
                    kind.span,
                    format!("unknown dataset `{other}`"),
                )
                .label("unknown dataset")
                .help(suggest(other, DATASETS, "datasets")),
            );
            None
        }
    }
}

const ENGINE_CHILDREN: &[&str] = &["arg", "env", "secret"];

fn parse_engine(c: &KdlNode, d: &mut Diags) -> Option<EngineOverride> {
    let r = Reader::new(c, "engine");
    r.allow_props(
        d,
        &[
            "image",
            "priority",
            "ready-timeout",
            "command",
            "api",
            "health",
        ],
    );
    let name = r
        .args(
            d,
            1,
            Some(1),
            "engine \"vllm\" image=\"vllm/vllm-openai:v0.9.2\" { arg \"--flag\" \"value\" }",
        )
        .first()
        .and_then(|e| string(d, e, "engine"))?;
    let mut e = EngineOverride {
        name,
        image: r.prop_str(d, "image"),
        args: Vec::new(),
        env: Vec::new(),
        secrets: Vec::new(),
        priority: r.prop_i64(d, "priority").unwrap_or(0),
        ready_timeout_secs: r
            .prop("ready-timeout")
            .and_then(|e| duration_secs(d, e, "ready-timeout"))
            .map(|s| s.value),
        command: engine_command(&r, d),
        span: name_span(c),
    };
    for a in children(c) {
        match node_name(a) {
            "arg" => {
                let r = Reader::new(a, "arg");
                r.allow_props(d, &[]);
                r.no_children(d);
                let v = r.args(d, 1, Some(2), "arg \"--flag\" [VALUE]");
                if let Some(flag) = v.first().and_then(|x| string(d, x, "arg")) {
                    let value = v.get(1).and_then(|x| scalar(d, x, "arg"));
                    e.args.push((flag, value));
                }
            }
            "env" => {
                let r = Reader::new(a, "env");
                r.allow_props(d, &[]);
                r.no_children(d);
                let v = r.args(d, 2, Some(2), "env \"NAME\" \"value\"");
                if let (Some(k), Some(val)) = (
                    v.first().and_then(|x| string(d, x, "env")),
                    v.get(1).and_then(|x| string(d, x, "env")),
                ) {
                    if looks_secret(&k.value) {
                        d.push(
                            Diag::error("sweep::secret", k.span, format!("`{}` looks like a secret: it would be recorded", k.value))
                                .label("written into the sweep")
                                .help(format!("write `secret \"{}\"` to pass it through from the environment without recording it", k.value)),
                        );
                        continue;
                    }
                    e.env.push((k, val));
                }
            }
            "secret" => {
                let r = Reader::new(a, "secret");
                r.allow_props(d, &[]);
                r.no_children(d);
                for x in r.args(d, 1, None, "secret \"HF_TOKEN\"") {
                    if let Some(k) = string(d, x, "secret") {
                        e.secrets.push(k);
                    }
                }
            }
            other => unknown_child(d, a, other, "engine", ENGINE_CHILDREN),
        }
    }
    Some(e)
}

/// `command=` with its `api=` and `health=`, which mean nothing without it.
fn engine_command(r: &Reader<'_>, d: &mut Diags) -> Option<EngineCommand> {
    let api = r.prop_str(d, "api");
    let health = r.prop_str(d, "health");
    let Some(entry) = r.prop("command") else {
        for (what, x) in [("api", &api), ("health", &health)] {
            let Some(x) = x else { continue };
            d.push(
                Diag::error(
                    "sweep::needs-command",
                    x.span,
                    format!("`{what}=` is for an engine declared by its command line"),
                )
                .label("without command=")
                .help(format!(
                    "engine \"mine\" command=\"./serve --port {{port}}\" {what}=..., or leave \
                     it out for a built-in engine"
                )),
            );
        }
        return None;
    };
    let template = string(d, entry, "command")?;
    if let Some(h) = &health
        && !h.value.starts_with('/')
    {
        d.push(
            Diag::error("sweep::bad-value", h.span, "`health=` is a path")
                .label("does not start with `/`")
                .help("health=\"/health\""),
        );
    }
    Some(EngineCommand {
        text_offset: string_text_offset(entry, &template.value),
        template,
        api,
        health,
    })
}

/// Where a string value's text starts in the file, when its text is written as is (no
/// escapes): the entry's span ends where its value does.
fn string_text_offset(e: &kdl::KdlEntry, value: &str) -> Option<usize> {
    let repr = &e.format()?.value_repr;
    let hashes = repr.len() - repr.trim_start_matches('#').len();
    let start = hashes + 1;
    (repr.get(start..start + value.len()) == Some(value) && repr.len() == value.len() + 2 * start)
        .then(|| e.span().offset() + e.span().len() - repr.len() + start)
}

/// Variable names that carry credentials by convention.
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|s| n.contains(s))
}

const HOST_PROPS: &[&str] = &[
    "runtime",
    "executor",
    "gpu",
    "gpus",
    "price-per-gpu-hour",
    "spot",
    "docker",
    "tls-dir",
    "url",
];

/// A host's `runtime=` (default `process`). The old spelling `executor=` is read with a
/// warning (its `local` is `process`): "executor" now means where a node's attempt runs.
fn host_runtime(r: &Reader<'_>, d: &mut Diags) -> Option<RuntimeKind> {
    match (r.prop("runtime"), r.prop("executor")) {
        (Some(_), Some(old)) => {
            d.push(
                Diag::error(
                    "sweep::conflict",
                    old.span(),
                    "a host has both `runtime=` and its old spelling `executor=`",
                )
                .label("remove this")
                .help("keep `runtime=`"),
            );
            None
        }
        (Some(e), None) => {
            named(d, e, "runtime", RuntimeKind::parse, RuntimeKind::NAMES).map(|x| x.value)
        }
        (None, Some(e)) => {
            let old = string(d, e, "executor")?;
            let value = if old.value == "local" {
                "process"
            } else {
                old.value.as_str()
            };
            let kind = RuntimeKind::parse(value);
            let mut diag = Diag::warning(
                "sweep::renamed",
                e.span(),
                "`executor=` on a host is now `runtime=` (how its engines run)",
            )
            .label("old spelling");
            diag = match kind {
                Some(k) => diag.help(format!("did you mean `runtime=\"{}\"`?", k.name())),
                None => diag.help(suggest(&old.value, RuntimeKind::NAMES, "runtime values")),
            };
            d.push(diag);
            match kind {
                Some(k) => Some(k),
                None => {
                    d.push(
                        Diag::error(
                            "sweep::unknown-value",
                            old.span,
                            format!("unknown runtime `{}`", old.value),
                        )
                        .label("not a runtime")
                        .help(suggest(
                            &old.value,
                            RuntimeKind::NAMES,
                            "runtime values",
                        )),
                    );
                    None
                }
            }
        }
        (None, None) => Some(RuntimeKind::default()),
    }
}

fn parse_hosts(c: &KdlNode, d: &mut Diags) -> Vec<Host> {
    let r = Reader::new(c, "hosts");
    r.allow_props(d, &[]);
    r.args(d, 0, Some(0), "hosts { host \"name\" ... }");
    let mut hosts = Vec::new();
    for h in children(c) {
        if node_name(h) == "pool" {
            hosts.extend(parse_pool(h, d));
            continue;
        }
        if node_name(h) != "host" {
            unknown_child(d, h, node_name(h), "hosts", &["host", "pool"]);
            continue;
        }
        let r = Reader::new(h, "host");
        r.allow_props(d, HOST_PROPS);
        r.no_children(d);
        let Some(name) = r
            .args(d, 1, Some(1), "host \"gpu-a\" runtime=\"docker\" gpu=\"H100-80GB\" gpus=8 price-per-gpu-hour=2.10")
            .first()
            .and_then(|e| string(d, e, "host"))
        else {
            continue;
        };
        let runtime = match host_runtime(&r, d) {
            Some(x) => x,
            None => continue,
        };
        if let (RuntimeKind::Pyxis, Some(e)) = (runtime, r.prop("runtime")) {
            d.push(
                Diag::error(
                    "sweep::unsupported",
                    e.span(),
                    "runtime `pyxis` runs engines as steps of Slurm jobs (`srun --container-image`): only a Slurm pool has it",
                )
                .label("on a host")
                .help("pool \"h100\" executor=\"slurm\" runtime=\"pyxis\" gpu=\"H100-80GB\" gpus-per-node=8, or runtime=\"apptainer\" on a host"),
            );
            continue;
        }
        let gpu = r
            .prop_str(d, "gpu")
            .unwrap_or_else(|| Spanned::new("auto".into(), name.span));
        let gpus = r.prop_u32(d, "gpus", 1).map(|v| v.value).unwrap_or(1);
        let price = r.prop_f64(d, "price-per-gpu-hour").map(|v| v.value);
        if let (Some(p), Some(e)) = (price, r.prop("price-per-gpu-hour"))
            && p < 0.0
        {
            d.push(
                Diag::error(
                    "sweep::out-of-range",
                    e.span(),
                    "a price cannot be negative",
                )
                .label("negative"),
            );
        }
        let docker = r.prop_str(d, "docker");
        let tls_dir = r.prop_str(d, "tls-dir");
        let url = r.prop_str(d, "url");
        if let (Some(t), false) = (&tls_dir, runtime == RuntimeKind::Docker) {
            d.push(
                Diag::warning(
                    "sweep::ignored",
                    t.span,
                    "`tls-dir=` is ignored for a host that is not a Docker host",
                )
                .label("ignored"),
            );
        }
        let address = match runtime {
            RuntimeKind::Docker => docker,
            RuntimeKind::Endpoint => {
                if url.is_none() {
                    d.push(
                        Diag::error("sweep::missing", name.span, "an endpoint host needs `url=`")
                            .label("no url")
                            .help(
                                "host \"served\" runtime=\"endpoint\" url=\"http://10.0.0.5:8000\"",
                            ),
                    );
                }
                url
            }
            _ => {
                for (key, v) in [("docker", &docker), ("url", &url)] {
                    if let Some(v) = v {
                        d.push(
                            Diag::warning(
                                "sweep::ignored",
                                v.span,
                                format!("`{key}=` is ignored for a host that does not use it"),
                            )
                            .label("ignored"),
                        );
                    }
                }
                None
            }
        };
        hosts.push(Host {
            name,
            runtime,
            gpu,
            gpus,
            price_per_gpu_hour: price,
            spot: r.prop_bool(d, "spot").unwrap_or(false),
            address,
            tls_dir,
            cluster: None,
            span: name_span(h),
        });
    }
    hosts
}

const POOL_PROPS: &[&str] = &[
    "executor",
    "runtime",
    "partition",
    "account",
    "qos",
    "time-limit",
    "max-jobs",
    "sbatch-args",
    "bench",
    "poll",
    "gpu",
    "gpus-per-node",
    "price-per-gpu-hour",
    "spot",
];

/// `pool "h100" executor="slurm" partition="gpu" gpu="H100-80GB" gpus-per-node=8 …`: a
/// cluster's GPUs, reached through its scheduler.
fn parse_pool(h: &KdlNode, d: &mut Diags) -> Option<Host> {
    let r = Reader::new(h, "pool");
    r.allow_props(d, POOL_PROPS);
    r.no_children(d);
    let example =
        "pool \"h100\" executor=\"slurm\" partition=\"gpu\" gpu=\"H100-80GB\" gpus-per-node=8";
    let name = r
        .args(d, 1, Some(1), example)
        .first()
        .and_then(|e| string(d, e, "pool"))?;
    let executor = match r.prop("executor") {
        Some(e) => {
            named(
                d,
                e,
                "executor",
                ClusterExecutor::parse,
                ClusterExecutor::NAMES,
            )?
            .value
        }
        None => {
            d.push(
                Diag::error("sweep::missing", name.span, "a pool needs `executor=`")
                    .label("no executor")
                    .help(example),
            );
            return None;
        }
    };
    let runtime = match r.prop("runtime") {
        Some(e) => named(d, e, "runtime", RuntimeKind::parse, RuntimeKind::NAMES)?,
        None => Spanned::new(RuntimeKind::Process, name.span),
    };
    if matches!(runtime.value, RuntimeKind::Docker | RuntimeKind::Endpoint) {
        d.push(
            Diag::error(
                "sweep::unsupported",
                runtime.span,
                format!(
                    "a Slurm pool runs engines on its nodes as processes, through Apptainer or through pyxis, not with runtime `{}`",
                    runtime.value.name()
                ),
            )
            .label("not on a cluster pool")
            .help("runtime=\"process\" (the engine's own command on the node), or leave it out"),
        );
        return None;
    }
    let secs = |d: &mut Diags, key: &str| {
        r.prop(key)
            .and_then(|e| duration_secs(d, e, key))
            .map(|v| v.value)
    };
    let time_limit_secs = secs(d, "time-limit");
    let poll_secs = secs(d, "poll").unwrap_or(5.0).max(0.1);
    let text = |d: &mut Diags, key: &str| r.prop_str(d, key).map(|v| v.value);
    Some(Host {
        runtime: runtime.value,
        gpu: r
            .prop_str(d, "gpu")
            .unwrap_or_else(|| Spanned::new("auto".into(), name.span)),
        gpus: r.prop_u32(d, "gpus-per-node", 1).map_or(1, |v| v.value),
        price_per_gpu_hour: r.prop_f64(d, "price-per-gpu-hour").map(|v| v.value),
        spot: r.prop_bool(d, "spot").unwrap_or(false),
        address: None,
        tls_dir: None,
        cluster: Some(Cluster {
            executor,
            partition: text(d, "partition"),
            account: text(d, "account"),
            qos: text(d, "qos"),
            time_limit_secs,
            max_jobs: r.prop_u32(d, "max-jobs", 1).map_or(32, |v| v.value),
            extra_args: text(d, "sbatch-args")
                .map(|a| a.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
            bench: text(d, "bench"),
            poll_secs,
        }),
        span: name_span(h),
        name,
    })
}

fn parse_validate(c: &KdlNode, d: &mut Diags) -> Validate {
    let r = Reader::new(c, "validate");
    r.allow_props(
        d,
        &["max-error-rate", "min-completed", "max-token-mismatch"],
    );
    r.args(
        d,
        0,
        Some(0),
        "validate max-error-rate=0.01 min-completed=0.98",
    );
    r.no_children(d);
    let def = Validate::default();
    Validate {
        max_error_rate: r
            .prop_fraction(d, "max-error-rate")
            .unwrap_or(def.max_error_rate),
        min_completed: r
            .prop_fraction(d, "min-completed")
            .unwrap_or(def.min_completed),
        max_token_mismatch: r
            .prop_fraction(d, "max-token-mismatch")
            .unwrap_or(def.max_token_mismatch),
    }
}

fn parse_aggregate(c: &KdlNode, d: &mut Diags) -> Aggregate {
    let r = Reader::new(c, "aggregate");
    r.allow_props(d, &[]);
    r.args(d, 0, Some(0), "aggregate { percentiles 50 90 99 }");
    let mut a = Aggregate::default();
    let mut once = Once::default();
    for x in children(c) {
        match node_name(x) {
            "percentiles" => {
                if !once.first(d, x, "aggregate") {
                    continue;
                }
                let ps = axis(x, d, |d, e| {
                    let v = float(d, e, "percentiles")?;
                    if v.value <= 0.0 || v.value >= 100.0 {
                        d.push(
                            Diag::error(
                                "sweep::out-of-range",
                                v.span,
                                "a percentile is between 0 and 100, exclusive",
                            )
                            .label("out of range"),
                        );
                        return None;
                    }
                    Some(v)
                });
                if !ps.is_empty() {
                    a.percentiles = ps.into_iter().map(|p| p.value).collect();
                }
            }
            "confidence" => {
                if !once.first(d, x, "aggregate") {
                    continue;
                }
                let r = Reader::new(x, "confidence");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(v) = r
                    .args(d, 1, Some(1), "confidence 0.95")
                    .first()
                    .and_then(|e| float(d, e, "confidence"))
                {
                    if v.value <= 0.0 || v.value >= 1.0 {
                        d.push(
                            Diag::error(
                                "sweep::out-of-range",
                                v.span,
                                "`confidence` is between 0 and 1, exclusive",
                            )
                            .label("out of range"),
                        );
                    } else {
                        a.confidence = v.value;
                    }
                }
            }
            other => unknown_child(d, x, other, "aggregate", &["percentiles", "confidence"]),
        }
    }
    a
}

const OPTIMIZE_CHILDREN: &[&str] = &["objective", "constraint", "method", "profile", "top"];

fn parse_optimize(c: &KdlNode, percentiles: &[f64], d: &mut Diags) -> Optimize {
    let r = Reader::new(c, "optimize");
    r.allow_props(d, &[]);
    r.args(
        d,
        0,
        Some(0),
        "optimize { objective \"output-throughput\" maximize weight=0.5 }",
    );
    let mut o = Optimize::default();
    let mut once = Once::default();
    let metric =
        |d: &mut Diags, e: &kdl::KdlEntry, what: &str| -> Option<(Spanned<String>, Direction)> {
            let m = string(d, e, what)?;
            match check_metric(&m.value, percentiles) {
                Ok(dir) => Some((m, dir)),
                Err(help) => {
                    d.push(
                        Diag::error(
                            "sweep::unknown-metric",
                            m.span,
                            format!("unknown metric `{}`", m.value),
                        )
                        .label("unknown metric")
                        .help(help),
                    );
                    None
                }
            }
        };
    for x in children(c) {
        let xname = node_name(x);
        if matches!(xname, "method" | "profile" | "top") && !once.first(d, x, "optimize") {
            continue;
        }
        match xname {
            "objective" => {
                let r = Reader::new(x, "objective");
                r.allow_props(d, &["weight"]);
                r.no_children(d);
                let a = r.args(d, 1, Some(2), "objective \"ttft-p95\" minimize weight=0.3");
                let Some((m, natural)) = a.first().and_then(|e| metric(d, e, "objective")) else {
                    continue;
                };
                let direction = match a.get(1) {
                    Some(e) => match named(
                        d,
                        e,
                        "direction",
                        |s| match s {
                            "maximize" | "max" => Some(Direction::Maximize),
                            "minimize" | "min" => Some(Direction::Minimize),
                            _ => None,
                        },
                        &["maximize", "minimize"],
                    ) {
                        Some(v) => v.value,
                        None => continue,
                    },
                    None => natural,
                };
                let weight = match r.prop_f64(d, "weight") {
                    Some(w) if w.value < 0.0 => {
                        d.push(
                            Diag::error(
                                "sweep::out-of-range",
                                w.span,
                                "a weight cannot be negative",
                            )
                            .label("negative")
                            .help("to prefer less of a metric, use `minimize`"),
                        );
                        continue;
                    }
                    Some(w) => w.value,
                    None => 1.0,
                };
                if let Some(prev) = o.objectives.iter().find(|p| p.metric.value == m.value) {
                    d.push(
                        Diag::error(
                            "sweep::duplicate-value",
                            m.span,
                            format!("objective `{}` is given twice", m.value),
                        )
                        .label("second one")
                        .also(prev.metric.span, "first one"),
                    );
                    continue;
                }
                o.objectives.push(Objective {
                    metric: m,
                    direction,
                    weight,
                });
            }
            "constraint" => {
                let r = Reader::new(x, "constraint");
                r.allow_props(d, &["min", "max"]);
                r.no_children(d);
                let a = r.args(d, 1, Some(1), "constraint \"ttft-p95\" max=500");
                let Some((m, _)) = a.first().and_then(|e| metric(d, e, "constraint")) else {
                    continue;
                };
                let min = r.prop_f64(d, "min").map(|v| v.value);
                let max = r.prop_f64(d, "max").map(|v| v.value);
                if min.is_none()
                    && max.is_none()
                    && r.prop("min").is_none()
                    && r.prop("max").is_none()
                {
                    d.push(
                        Diag::error(
                            "sweep::missing",
                            m.span,
                            "a constraint needs `min=` or `max=`",
                        )
                        .label("no bound"),
                    );
                    continue;
                }
                if let (Some(lo), Some(hi)) = (min, max)
                    && lo > hi
                {
                    d.push(
                        Diag::error(
                            "sweep::out-of-range",
                            m.span,
                            format!(
                                "constraint `{}` has min {lo} above max {hi}: nothing can pass",
                                m.value
                            ),
                        )
                        .label("empty range"),
                    );
                    continue;
                }
                o.constraints.push(Constraint {
                    metric: m,
                    min,
                    max,
                });
            }
            "method" => {
                let r = Reader::new(x, "method");
                r.allow_props(d, &["normalization"]);
                r.no_children(d);
                if let Some(e) = r
                    .args(
                        d,
                        1,
                        Some(1),
                        "method \"combined\" normalization=\"minmax\"",
                    )
                    .first()
                    && let Some(m) = named(
                        d,
                        e,
                        "method",
                        |s| match s {
                            "combined" => Some(Method::Combined),
                            "topsis" => Some(Method::Topsis),
                            "pareto" => Some(Method::Pareto),
                            _ => None,
                        },
                        &["combined", "topsis", "pareto"],
                    )
                {
                    o.method = m.value;
                }
                if let Some(e) = r.prop("normalization")
                    && let Some(n) = named(
                        d,
                        e,
                        "normalization",
                        |s| match s {
                            "minmax" => Some(Normalization::Minmax),
                            "vector" => Some(Normalization::Vector),
                            _ => None,
                        },
                        &["minmax", "vector"],
                    )
                {
                    o.normalization = n.value;
                }
            }
            "profile" => {
                let r = Reader::new(x, "profile");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(e) = r.args(d, 1, Some(1), "profile \"balanced\"").first()
                    && let Some(p) = named(
                        d,
                        e,
                        "profile",
                        |s| PROFILES.contains(&s).then(|| s.to_string()),
                        PROFILES,
                    )
                {
                    o.profile = Some(p);
                }
            }
            "top" => {
                if let Some(v) = single_uint(x, d, "top 10", 1) {
                    o.top = v;
                }
            }
            other => unknown_child(d, x, other, "optimize", OPTIMIZE_CHILDREN),
        }
    }
    if let Some(p) = &o.profile
        && let Some(first) = o.objectives.first()
    {
        d.push(
            Diag::error(
                "sweep::conflict",
                p.span,
                "a `profile` sets the objectives itself",
            )
            .label("profile")
            .also(first.metric.span, "objective")
            .help("use either a named profile or your own objectives"),
        );
    }
    if !o.objectives.is_empty() && o.objectives.iter().all(|x| x.weight == 0.0) {
        d.push(
            Diag::error(
                "sweep::out-of-range",
                o.objectives[0].metric.span,
                "every objective has weight 0: nothing to rank by",
            )
            .label("all weights are zero"),
        );
    }
    o
}

fn parse_notify(c: &KdlNode, d: &mut Diags) -> Option<Notify> {
    let r = Reader::new(c, "notify");
    r.allow_props(d, &["webhook", "email", "on"]);
    r.args(
        d,
        0,
        Some(0),
        "notify webhook=\"https://...\" on=\"finish failure\"",
    );
    r.no_children(d);
    let webhook = r.prop_str(d, "webhook");
    let email = r.prop_str(d, "email");
    let target = match (webhook, email) {
        (Some(w), None) => NotifyTarget::Webhook { url: w.value },
        (None, Some(e)) => NotifyTarget::Email { to: e.value },
        (Some(w), Some(e)) => {
            d.push(
                Diag::error("sweep::conflict", e.span, "one `notify` has one target")
                    .label("second target")
                    .also(w.span, "first target")
                    .help("write two `notify` nodes"),
            );
            return None;
        }
        (None, None) => {
            d.push(
                Diag::error(
                    "sweep::missing",
                    name_span(c),
                    "`notify` needs `webhook=` or `email=`",
                )
                .label("no target"),
            );
            return None;
        }
    };
    let mut on = Vec::new();
    match r.prop_str(d, "on") {
        Some(s) => {
            for ev in s.value.split([' ', ',']).filter(|x| !x.is_empty()) {
                if NOTIFY_EVENTS.contains(&ev) {
                    on.push(ev.to_string());
                } else {
                    d.push(
                        Diag::error(
                            "sweep::unknown-value",
                            s.span,
                            format!("unknown event `{ev}`"),
                        )
                        .label("unknown event")
                        .help(suggest(ev, NOTIFY_EVENTS, "events")),
                    );
                }
            }
        }
        None => on = vec!["finish".into(), "failure".into()],
    }
    Some(Notify { target, on })
}

fn parse_retry(c: &KdlNode, d: &mut Diags) -> Retry {
    let r = Reader::new(c, "retry");
    r.allow_props(d, &["attempts", "backoff"]);
    r.args(d, 0, Some(0), "retry attempts=3 backoff=\"5s\"");
    r.no_children(d);
    let def = Retry::default();
    Retry {
        attempts: r
            .prop_u32(d, "attempts", 1)
            .map(|v| v.value)
            .unwrap_or(def.attempts),
        backoff_secs: r
            .prop("backoff")
            .and_then(|e| duration_secs(d, e, "backoff"))
            .map(|v| v.value)
            .unwrap_or(def.backoff_secs),
    }
}

const SEARCH_CHILDREN: &[&str] = &["strategy", "budget", "batch", "seed", "patience"];

fn parse_search(c: &KdlNode, d: &mut Diags) -> Search {
    let r = Reader::new(c, "search");
    r.allow_props(d, &[]);
    r.args(
        d,
        0,
        Some(0),
        "search { strategy \"surrogate\"; budget \"10%\"; batch 16 }",
    );
    let mut s = Search {
        strategy: "surrogate".into(),
        budget: Budget::Fraction(0.1),
        batch: 16,
        seed: 0,
        patience: 3,
        span: c.span(),
    };
    let mut once = Once::default();
    for x in children(c) {
        let name = node_name(x);
        if !once.first(d, x, "search") {
            continue;
        }
        match name {
            "strategy" => {
                let r = Reader::new(x, "strategy");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(e) = r.args(d, 1, Some(1), "strategy \"surrogate\"").first()
                    && let Some(v) = named(
                        d,
                        e,
                        "strategy",
                        |v| {
                            SEARCH_STRATEGIES
                                .iter()
                                .find(|s| **s == v)
                                .map(|s| s.to_string())
                        },
                        SEARCH_STRATEGIES,
                    )
                {
                    s.strategy = v.value;
                }
            }
            "budget" => {
                let r = Reader::new(x, "budget");
                r.allow_props(d, &[]);
                r.no_children(d);
                if let Some(e) = r
                    .args(d, 1, Some(1), "budget \"10%\" (or a count: budget 40)")
                    .first()
                    && let Some(b) = budget(d, e)
                {
                    s.budget = b;
                }
            }
            "batch" => {
                if let Some(v) = single_uint(x, d, "batch 16", 1) {
                    s.batch = v;
                }
            }
            "seed" => {
                if let Some(v) = single_uint(x, d, "seed 7", 0) {
                    s.seed = v as u64;
                }
            }
            "patience" => {
                if let Some(v) = single_uint(x, d, "patience 3", 1) {
                    s.patience = v;
                }
            }
            other => unknown_child(d, x, other, "search", SEARCH_CHILDREN),
        }
    }
    s
}

/// A budget: a count of at least 1, or a percentage in (0, 100] as a string.
fn budget(d: &mut Diags, e: &kdl::KdlEntry) -> Option<Budget> {
    if let kdl::KdlValue::String(t) = e.value() {
        let pct = t
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok());
        return match pct {
            Some(p) if p > 0.0 && p <= 100.0 => Some(Budget::Fraction(p / 100.0)),
            _ => {
                d.push(
                    Diag::error(
                        "sweep::out-of-range",
                        e.span(),
                        format!("`budget` is a count or a percentage of the grid, not `{t}`"),
                    )
                    .label("not a budget")
                    .help(
                        "budget \"10%\" (of the grid's configurations × load points), or budget 40",
                    ),
                );
                None
            }
        };
    }
    uint(d, e, "budget", 1).map(|v| Budget::Count(v.value))
}

/// Checks that need the whole sweep: required parts and unique names.
fn check_whole(s: &Sweep, matrix_seen: bool, d: &mut Diags) {
    if s.models.is_empty() && !d.has_errors() {
        d.push(
            Diag::error("sweep::missing", s.span, "the sweep has no `model`")
                .label("needs a model")
                .help("model \"meta-llama/Llama-3.1-8B-Instruct\" revision=\"main\""),
        );
    }
    if !matrix_seen {
        d.push(
            Diag::error("sweep::missing", s.span, "the sweep has no `matrix`")
                .label("needs a matrix")
                .help("matrix { engine \"vllm\"; gpu \"H100-80GB\" }"),
        );
    } else {
        for (axis, empty) in [
            ("engine", s.matrix.engine.is_empty()),
            ("gpu", s.matrix.gpu.is_empty()),
        ] {
            if empty && !d.has_errors() {
                d.push(
                    Diag::error(
                        "sweep::missing",
                        s.matrix.span,
                        format!("the matrix has no `{axis}` axis"),
                    )
                    .label(format!("needs `{axis}`"))
                    .help(if axis == "engine" {
                        "engine \"vllm\" \"tgi\""
                    } else {
                        "gpu \"H100-80GB\""
                    }),
                );
            }
        }
    }
    if s.workloads.is_empty() && !d.has_errors() {
        d.push(
            Diag::error("sweep::missing", s.span, "the sweep has no `workload`")
                .label("needs a workload")
                .help("workload \"chat\" {\n    dataset \"random\" input-len=512 output-len=128\n    concurrency 1 8 32\n}"),
        );
    }
    unique(d, s.models.iter().map(|m| &m.name), "model");
    unique(d, s.workloads.iter().map(|w| &w.name), "workload");
    unique(d, s.hosts.iter().map(|h| &h.name), "host");
    unique(d, s.engines.iter().map(|e| &e.name), "engine");
}

fn unique<'a>(d: &mut Diags, names: impl Iterator<Item = &'a Spanned<String>>, what: &str) {
    let mut seen: Vec<&Spanned<String>> = Vec::new();
    for n in names {
        if let Some(prev) = seen.iter().find(|p| p.value == n.value) {
            d.push(
                Diag::error(
                    "sweep::duplicate-name",
                    n.span,
                    format!("two {what}s are named `{}`", n.value),
                )
                .label("second one")
                .also(prev.span, "first one")
                .help(format!("{what} names must be unique")),
            );
        } else {
            seen.push(n);
        }
    }
}
