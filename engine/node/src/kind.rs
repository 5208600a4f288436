//! The kinds of node: one unit of cached work each.

use serde::{Deserialize, Serialize};

/// The kinds of node, in the order data flows through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Download,
    Setup,
    Bench,
    Validate,
    Aggregate,
    Optimize,
}

impl NodeKind {
    pub const ALL: [NodeKind; 6] = [
        NodeKind::Download,
        NodeKind::Setup,
        NodeKind::Bench,
        NodeKind::Validate,
        NodeKind::Aggregate,
        NodeKind::Optimize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeKind::Download => "download",
            NodeKind::Setup => "setup",
            NodeKind::Bench => "bench",
            NodeKind::Validate => "validate",
            NodeKind::Aggregate => "aggregate",
            NodeKind::Optimize => "optimize",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Bumped when what a kind computes changes; part of every key of the kind.
    pub fn version(self) -> u32 {
        1
    }

    /// Light kinds read committed outputs and compute for milliseconds: they need no engine,
    /// no GPU and no network, so they may run in the build's own process.
    pub fn is_light(self) -> bool {
        matches!(
            self,
            NodeKind::Validate | NodeKind::Aggregate | NodeKind::Optimize
        )
    }
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for k in NodeKind::ALL {
            assert_eq!(NodeKind::parse(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        assert_eq!(NodeKind::parse("compile"), None);
    }
}
