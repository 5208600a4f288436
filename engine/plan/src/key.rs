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

/// Computes a node key from JSON params: the reference path. The planner's fast path
/// ([`KeyHasher`] fed by typed encoders) must produce the same keys; a test checks it.
pub fn node_key(k: &KeyInput<'_>) -> NodeKey {
    let mut h = KeyHasher::new(k.kind, k.kind_version, k.cache_version);
    encode(&mut h.0, k.params);
    h.finish(k.fingerprint, k.inputs)
}

/// A key being computed: header written, params next, then [`KeyHasher::finish`].
#[derive(Clone)]
pub struct KeyHasher(pub blake3::Hasher);

impl KeyHasher {
    pub fn new(kind: &str, kind_version: u32, cache_version: u32) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"bench-node-key\0");
        h.update(&KEY_SCHEMA_VERSION.to_le_bytes());
        put_str(&mut h, kind);
        h.update(&kind_version.to_le_bytes());
        h.update(&cache_version.to_le_bytes());
        Self(h)
    }

    /// Appends bytes already in canonical encoding.
    pub fn put(&mut self, canonical: &[u8]) {
        self.0.update(canonical);
    }

    pub fn finish(mut self, fingerprint: &str, inputs: &[NodeKey]) -> NodeKey {
        let h = &mut self.0;
        put_str(h, fingerprint);
        let mut sorted: smallish::Keys = smallish::Keys::from(inputs);
        sorted.sort_dedup();
        h.update(&(sorted.len() as u64).to_le_bytes());
        for i in sorted.iter() {
            h.update(&i.0);
        }
        NodeKey(*h.finalize().as_bytes())
    }
}

mod smallish {
    //! Input keys, sorted without allocating for the common case of one or two inputs.
    use super::NodeKey;

    pub enum Keys {
        Few([NodeKey; 2], usize),
        Many(Vec<NodeKey>),
    }

    impl From<&[NodeKey]> for Keys {
        fn from(k: &[NodeKey]) -> Self {
            match k.len() {
                0 => Keys::Few([NodeKey([0; 32]); 2], 0),
                1 => Keys::Few([k[0], k[0]], 1),
                2 => Keys::Few([k[0], k[1]], 2),
                _ => Keys::Many(k.to_vec()),
            }
        }
    }

    impl Keys {
        pub fn sort_dedup(&mut self) {
            match self {
                Keys::Few(a, n) => {
                    if *n == 2 {
                        if a[1] < a[0] {
                            a.swap(0, 1);
                        }
                        if a[0] == a[1] {
                            *n = 1;
                        }
                    }
                }
                Keys::Many(v) => {
                    v.sort_unstable();
                    v.dedup();
                }
            }
        }

        pub fn len(&self) -> usize {
            match self {
                Keys::Few(_, n) => *n,
                Keys::Many(v) => v.len(),
            }
        }

        pub fn iter(&self) -> impl Iterator<Item = &NodeKey> {
            match self {
                Keys::Few(a, n) => a[..*n].iter(),
                Keys::Many(v) => v.iter(),
            }
        }
    }
}

/// Where canonical bytes go: a hasher, or a buffer that caches an encoded value.
pub trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for blake3::Hasher {
    fn put(&mut self, b: &[u8]) {
        self.update(b);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

impl Sink for KeyHasher {
    fn put(&mut self, b: &[u8]) {
        self.0.update(b);
    }
}

fn put_str<S: Sink>(h: &mut S, s: &str) {
    h.put(&(s.len() as u64).to_le_bytes());
    h.put(s.as_bytes());
}

/// Typed encoders, byte for byte what [`encode`] writes for the same JSON value.
pub mod enc {
    use super::{Sink, put_str};

    pub fn str<S: Sink>(h: &mut S, s: &str) {
        h.put(b"s");
        put_str(h, s);
    }

    pub fn uint<S: Sink>(h: &mut S, u: u64) {
        h.put(b"u");
        h.put(&u.to_le_bytes());
    }

    /// An integer as JSON stores it: non-negative ones are unsigned.
    pub fn int<S: Sink>(h: &mut S, i: i64) {
        if i >= 0 {
            uint(h, i as u64);
        } else {
            h.put(b"i");
            h.put(&i.to_le_bytes());
        }
    }

    pub fn float<S: Sink>(h: &mut S, f: f64) {
        let f = if f == 0.0 { 0.0 } else { f };
        h.put(b"d");
        h.put(&f.to_bits().to_le_bytes());
    }

    pub fn boolean<S: Sink>(h: &mut S, b: bool) {
        h.put(if b { b"t" } else { b"f" });
    }

    /// Starts an object of `n` entries; then `key` and a value, `n` times, keys ascending.
    pub fn object<S: Sink>(h: &mut S, n: usize) {
        h.put(b"o");
        h.put(&(n as u64).to_le_bytes());
    }

    pub fn key<S: Sink>(h: &mut S, k: &str) {
        put_str(h, k);
    }
}

/// Canonical, typed encoding of a JSON value.
pub fn encode<S: Sink>(h: &mut S, v: &Value) {
    match v {
        Value::Null => h.put(b"n"),
        Value::Bool(b) => enc::boolean(h, *b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                enc::uint(h, u);
            } else if let Some(i) = n.as_i64() {
                enc::int(h, i);
            } else {
                enc::float(h, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => enc::str(h, s),
        Value::Array(a) => {
            h.put(b"a");
            h.put(&(a.len() as u64).to_le_bytes());
            for x in a {
                encode(h, x);
            }
        }
        Value::Object(m) => {
            enc::object(h, m.len());
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, x) in entries {
                enc::key(h, k);
                encode(h, x);
            }
        }
    }
}

/// The canonical bytes of a JSON value, for caching a shared sub-value.
pub fn encoded(v: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    encode(&mut b, v);
    b
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
        assert_ne!(
            key(json!({"a": {"b": 1}}), &[]),
            key(json!({"a": {}, "b": 1}), &[])
        );
    }

    #[test]
    fn hex_round_trips() {
        let k = key(json!(null), &[]);
        assert_eq!(NodeKey::from_hex(&k.hex()), Some(k));
        assert_eq!(k.short().len(), 12);
    }
}
