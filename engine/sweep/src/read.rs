//! Small helpers that read KDL nodes into typed values and report every misuse with a span.

use kdl::{KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use crate::ast::{Scalar, Spanned};
use crate::diag::{Diag, Diags, suggest};

pub(crate) fn node_name(n: &KdlNode) -> &str {
    n.name().value()
}

/// The span of a node's name: what labels point at when the whole node is meant.
pub(crate) fn name_span(n: &KdlNode) -> SourceSpan {
    n.name().span()
}

pub(crate) fn args(n: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
    n.entries().iter().filter(|e| e.name().is_none())
}

pub(crate) fn children(n: &KdlNode) -> &[KdlNode] {
    n.children().map(|d| d.nodes()).unwrap_or(&[])
}

fn describe(v: &KdlValue) -> String {
    match v {
        KdlValue::String(s) => format!("the string \"{s}\""),
        KdlValue::Integer(i) => format!("the integer {i}"),
        KdlValue::Float(f) => format!("the number {f}"),
        KdlValue::Bool(b) => format!("#{b}"),
        KdlValue::Null => "#null".into(),
    }
}

/// Reads one node: checks its properties against an allowed list, counts its arguments.
pub(crate) struct Reader<'a> {
    pub node: &'a KdlNode,
    pub what: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(node: &'a KdlNode, what: &'a str) -> Self {
        Self { node, what }
    }

    /// Reports unknown and repeated properties.
    pub fn allow_props(&self, d: &mut Diags, allowed: &[&str]) {
        let mut seen: Vec<&str> = Vec::new();
        for e in self.node.entries() {
            let Some(name) = e.name() else { continue };
            let key = name.value();
            if !allowed.contains(&key) {
                let help = if allowed.is_empty() {
                    format!("`{}` takes no properties", self.what)
                } else {
                    suggest(key, allowed, &format!("properties of `{}`", self.what))
                };
                d.push(
                    Diag::error(
                        "sweep::unknown-property",
                        name.span(),
                        format!("unknown property `{key}` on `{}`", self.what),
                    )
                    .label("unknown property")
                    .help(help),
                );
            } else if seen.contains(&key) {
                d.push(
                    Diag::error(
                        "sweep::duplicate-property",
                        name.span(),
                        format!("property `{key}` is given twice on `{}`", self.what),
                    )
                    .label("second one"),
                );
            }
            seen.push(key);
        }
    }

    /// Checks the number of arguments; returns them.
    pub fn args(
        &self,
        d: &mut Diags,
        min: usize,
        max: Option<usize>,
        shape: &str,
    ) -> Vec<&'a KdlEntry> {
        let a: Vec<&KdlEntry> = args(self.node).collect();
        let bad = a.len() < min || max.is_some_and(|m| a.len() > m);
        if bad {
            let span = if a.len() > max.unwrap_or(usize::MAX) {
                a[max.unwrap_or(0)].span()
            } else {
                name_span(self.node)
            };
            let msg = match (min, max) {
                (0, Some(0)) => format!("`{}` takes no arguments", self.what),
                (m, Some(x)) if m == x => format!(
                    "`{}` takes {} argument{}, found {}",
                    self.what,
                    m,
                    if m == 1 { "" } else { "s" },
                    a.len()
                ),
                (m, None) if a.is_empty() && m > 0 => {
                    format!("`{}` needs at least {m} value", self.what)
                }
                _ => format!(
                    "`{}` has the wrong number of arguments ({})",
                    self.what,
                    a.len()
                ),
            };
            d.push(
                Diag::error("sweep::arguments", span, msg)
                    .label(if a.is_empty() {
                        "needs a value"
                    } else {
                        "here"
                    })
                    .help(format!("write it as: {shape}")),
            );
        }
        a
    }

    pub fn no_children(&self, d: &mut Diags) {
        if let Some(c) = self.node.children() {
            d.push(
                Diag::error(
                    "sweep::unexpected-children",
                    c.span(),
                    format!("`{}` takes no children block", self.what),
                )
                .label("unexpected block"),
            );
        }
    }

    pub fn prop(&self, key: &str) -> Option<&'a KdlEntry> {
        self.node
            .entries()
            .iter()
            .rev()
            .find(|e| e.name().is_some_and(|n| n.value() == key))
    }

    pub fn prop_str(&self, d: &mut Diags, key: &str) -> Option<Spanned<String>> {
        self.prop(key).and_then(|e| string(d, e, key))
    }

    pub fn prop_u32(&self, d: &mut Diags, key: &str, min: u32) -> Option<Spanned<u32>> {
        self.prop(key).and_then(|e| uint(d, e, key, min))
    }

    pub fn prop_f64(&self, d: &mut Diags, key: &str) -> Option<Spanned<f64>> {
        self.prop(key).and_then(|e| float(d, e, key))
    }

    pub fn prop_i64(&self, d: &mut Diags, key: &str) -> Option<i64> {
        self.prop(key).and_then(|e| int(d, e, key)).map(|s| s.value)
    }

    pub fn prop_bool(&self, d: &mut Diags, key: &str) -> Option<bool> {
        self.prop(key).and_then(|e| boolean(d, e, key))
    }

    /// A fraction in [0, 1].
    pub fn prop_fraction(&self, d: &mut Diags, key: &str) -> Option<f64> {
        let v = self.prop_f64(d, key)?;
        if !(0.0..=1.0).contains(&v.value) {
            d.push(
                Diag::error(
                    "sweep::out-of-range",
                    v.span,
                    format!("`{key}` must be between 0 and 1"),
                )
                .label(format!("{} is out of range", v.value)),
            );
            return None;
        }
        Some(v.value)
    }
}

fn type_error(d: &mut Diags, e: &KdlEntry, what: &str, expected: &str, help: Option<String>) {
    d.push(
        Diag::error(
            "sweep::type",
            e.span(),
            format!("`{what}` expects {expected}, found {}", describe(e.value())),
        )
        .label(format!("not {expected}"))
        .maybe_help(help),
    );
}

pub(crate) fn string(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<Spanned<String>> {
    match e.value() {
        KdlValue::String(s) => Some(Spanned::new(s.clone(), e.span())),
        v => {
            let help = match v {
                KdlValue::Integer(_) | KdlValue::Float(_) => {
                    Some(format!("quote it: \"{}\"", e.value()))
                }
                _ => None,
            };
            type_error(d, e, what, "a string", help);
            None
        }
    }
}

pub(crate) fn int(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<Spanned<i64>> {
    match e.value() {
        KdlValue::Integer(i) => match i64::try_from(*i) {
            Ok(v) => Some(Spanned::new(v, e.span())),
            Err(_) => {
                d.push(
                    Diag::error(
                        "sweep::out-of-range",
                        e.span(),
                        format!("`{what}` is too large"),
                    )
                    .label("too large"),
                );
                None
            }
        },
        KdlValue::String(s) if s.trim().parse::<i64>().is_ok() => {
            type_error(
                d,
                e,
                what,
                "an integer",
                Some(format!("write {s} without quotes")),
            );
            None
        }
        _ => {
            type_error(d, e, what, "an integer", None);
            None
        }
    }
}

pub(crate) fn uint(d: &mut Diags, e: &KdlEntry, what: &str, min: u32) -> Option<Spanned<u32>> {
    let v = int(d, e, what)?;
    match u32::try_from(v.value) {
        Ok(u) if u >= min => Some(Spanned::new(u, v.span)),
        _ => {
            d.push(
                Diag::error(
                    "sweep::out-of-range",
                    e.span(),
                    format!("`{what}` must be an integer of at least {min}"),
                )
                .label(format!("{} is out of range", v.value)),
            );
            None
        }
    }
}

pub(crate) fn float(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<Spanned<f64>> {
    let v = match e.value() {
        KdlValue::Float(f) => *f,
        KdlValue::Integer(i) => *i as f64,
        KdlValue::String(s) if s.trim().parse::<f64>().is_ok() => {
            type_error(
                d,
                e,
                what,
                "a number",
                Some(format!("write {s} without quotes")),
            );
            return None;
        }
        _ => {
            type_error(d, e, what, "a number", None);
            return None;
        }
    };
    if !v.is_finite() {
        d.push(
            Diag::error(
                "sweep::out-of-range",
                e.span(),
                format!("`{what}` must be a finite number"),
            )
            .label("not finite"),
        );
        return None;
    }
    Some(Spanned::new(v, e.span()))
}

pub(crate) fn boolean(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<bool> {
    match e.value() {
        KdlValue::Bool(b) => Some(*b),
        KdlValue::String(s) if s == "true" || s == "false" => {
            type_error(
                d,
                e,
                what,
                "#true or #false",
                Some(format!("KDL 2 writes booleans as #{s}")),
            );
            None
        }
        _ => {
            type_error(d, e, what, "#true or #false", None);
            None
        }
    }
}

pub(crate) fn scalar(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<Spanned<Scalar>> {
    let s = match e.value() {
        KdlValue::String(s) => Scalar::Str(s.clone()),
        KdlValue::Integer(_) => Scalar::Int(int(d, e, what)?.value),
        KdlValue::Float(_) => Scalar::Float(float(d, e, what)?.value),
        KdlValue::Bool(b) => Scalar::Bool(*b),
        KdlValue::Null => {
            type_error(d, e, what, "a value", None);
            return None;
        }
    };
    Some(Spanned::new(s, e.span()))
}

/// A duration: seconds as a number, or a string such as "90s", "5m", "1h 30m".
pub(crate) fn duration_secs(d: &mut Diags, e: &KdlEntry, what: &str) -> Option<Spanned<f64>> {
    match e.value() {
        KdlValue::String(s) => match humantime::parse_duration(s) {
            Ok(dur) if !dur.is_zero() => Some(Spanned::new(dur.as_secs_f64(), e.span())),
            Ok(_) => {
                d.push(
                    Diag::error(
                        "sweep::out-of-range",
                        e.span(),
                        format!("`{what}` must be longer than zero"),
                    )
                    .label("zero"),
                );
                None
            }
            Err(err) => {
                d.push(
                    Diag::error("sweep::type", e.span(), format!("`{what}` is not a duration: {err}"))
                        .label("not a duration")
                        .help("write seconds as a number, or a string such as \"90s\", \"5m\" or \"1h 30m\""),
                );
                None
            }
        },
        _ => {
            let v = float(d, e, what)?;
            if v.value <= 0.0 {
                d.push(
                    Diag::error(
                        "sweep::out-of-range",
                        e.span(),
                        format!("`{what}` must be longer than zero"),
                    )
                    .label("not positive"),
                );
                return None;
            }
            Some(v)
        }
    }
}

/// Remembers which single-use children were seen, to report repeats.
#[derive(Default)]
pub(crate) struct Once {
    seen: Vec<(String, SourceSpan)>,
}

impl Once {
    /// True the first time `node`'s name is seen; reports the repeat otherwise.
    pub fn first(&mut self, d: &mut Diags, node: &KdlNode, parent: &str) -> bool {
        let name = node_name(node);
        if let Some((_, first)) = self.seen.iter().find(|(n, _)| n == name) {
            let first_line = *first;
            d.push(
                Diag::error(
                    "sweep::duplicate-node",
                    name_span(node),
                    format!("`{name}` is given twice in `{parent}`"),
                )
                .label("second one")
                .also(first_line, "first one")
                .help(format!("keep one `{name}`")),
            );
            return false;
        }
        self.seen.push((name.to_string(), name_span(node)));
        true
    }
}
