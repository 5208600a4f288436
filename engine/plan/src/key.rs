//! Node keys: blake3 over a canonical, typed, versioned encoding.
//!
//! The encoding is independent of map order (entries are sorted by key), keeps types apart
//! (`1`, `1.0` and `"1"` encode differently), length-prefixes everything, and starts with a
//! domain tag and [`KEY_SCHEMA_VERSION`]. Bumping that constant invalidates every key on
//! purpose; a sweep's `cache-version` does the same for one sweep.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// The version of the key encoding and of what node kinds mean. Bump to invalidate all.
pub const KEY_SCHEMA_VERSION: u32 = 1;

/// A node's identity: what it computes, not where or when.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey(pub [u8; 32]);

impl NodeKey {
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            use fmt::Write;
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// The first 12 hex digits, as shown to people.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = (chunk[0] as char).to_digit(16)?;
            let lo = (chunk[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.short())
    }
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl Serialize for NodeKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

/// Everything a key is computed from.
pub struct KeyInput<'a> {
    pub kind: &'a str,
    pub kind_version: u32,
    /// The sweep's `cache-version`.
    pub cache_version: u32,
    pub params: &'a Value,
    /// Plugin fingerprint (engine name, version and image), empty where none applies.
    pub fingerprint: &'a str,
    /// Keys of the inputs; order does not matter.
    pub inputs: &'a [NodeKey],
}

/// Computes a node key.
pub fn node_key(k: &KeyInput<'_>) -> NodeKey {
    let mut h = blake3::Hasher::new();
    h.update(b"bench-node-key\0");
    h.update(&KEY_SCHEMA_VERSION.to_le_bytes());
    write_str(&mut h, k.kind);
    h.update(&k.kind_version.to_le_bytes());
    h.update(&k.cache_version.to_le_bytes());
    encode(&mut h, k.params);
    write_str(&mut h, k.fingerprint);
    let mut inputs = k.inputs.to_vec();
    inputs.sort_unstable();
    inputs.dedup();
    h.update(&(inputs.len() as u64).to_le_bytes());
    for i in &inputs {
        h.update(&i.0);
    }
    NodeKey(*h.finalize().as_bytes())
}

fn write_str(h: &mut blake3::Hasher, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Canonical, typed encoding of a JSON value.
pub fn encode(h: &mut blake3::Hasher, v: &Value) {
    match v {
        Value::Null => {
            h.update(b"n");
        }
        Value::Bool(b) => {
            h.update(if *b { b"t" } else { b"f" });
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                h.update(b"u");
                h.update(&u.to_le_bytes());
            } else if let Some(i) = n.as_i64() {
                h.update(b"i");
                h.update(&i.to_le_bytes());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // -0.0 and 0.0 are the same value.
                let f = if f == 0.0 { 0.0 } else { f };
                h.update(b"d");
                h.update(&f.to_bits().to_le_bytes());
            }
        }
        Value::String(s) => {
            h.update(b"s");
            write_str(h, s);
        }
        Value::Array(a) => {
            h.update(b"a");
            h.update(&(a.len() as u64).to_le_bytes());
            for x in a {
                encode(h, x);
            }
        }
        Value::Object(m) => {
            h.update(b"o");
            h.update(&(m.len() as u64).to_le_bytes());
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, x) in entries {
                write_str(h, k);
                encode(h, x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(params: Value, inputs: &[NodeKey]) -> NodeKey {
        node_key(&KeyInput {
            kind: "bench",
            kind_version: 1,
            cache_version: 0,
            params: &params,
            fingerprint: "vllm/1@img",
            inputs,
        })
    }

    #[test]
    fn key_ignores_map_order_and_input_order() {
        let a = NodeKey([1; 32]);
        let b = NodeKey([2; 32]);
        let k1 = key(json!({"x": 1, "y": "z"}), &[a, b]);
        let k2 = key(serde_json::from_str(r#"{"y":"z","x":1}"#).unwrap(), &[b, a]);
        assert_eq!(k1, k2);
    }

    #[test]
    fn key_keeps_types_apart() {
        let k_int = key(json!({"x": 1}), &[]);
        let k_float = key(json!({"x": 1.0}), &[]);
        let k_str = key(json!({"x": "1"}), &[]);
        assert_ne!(k_int, k_float);
        assert_ne!(k_int, k_str);
        assert_ne!(k_float, k_str);
        assert_eq!(key(json!({"x": -0.0}), &[]), key(json!({"x": 0.0}), &[]));
    }

    #[test]
    fn key_has_no_ambiguous_concatenation() {
        assert_ne!(key(json!(["ab", "c"]), &[]), key(json!(["a", "bc"]), &[]));
        assert_ne!(key(json!({"a": {"b": 1}}), &[]), key(json!({"a": {}, "b": 1}), &[]));
    }

    #[test]
    fn hex_round_trips() {
        let k = key(json!(null), &[]);
        assert_eq!(NodeKey::from_hex(&k.hex()), Some(k));
        assert_eq!(k.short().len(), 12);
    }
}
