//! Architecture facts from a checkpoint: `config.json` (layers, hidden size, attention and
//! KV heads, head dimension, vocabulary, context, dtype, quantization) and the headers of
//! its safetensors files, which give the parameter count exactly (experts included; packed
//! 4-bit weights counted as the parameters they hold). Without safetensors the count is
//! estimated from the configuration.

use std::io::Read;
use std::path::Path;

use bench_catalog::ArchFacts;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ModelError;

/// What `model.json` records of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFacts {
    pub arch: ArchFacts,
    /// `architectures[0]` (`LlamaForCausalLM`).
    pub architecture: Option<String>,
    pub model_type: Option<String>,
    /// `torch_dtype` (`bfloat16`).
    pub dtype: Option<String>,
    /// `quantization_config` as written (`{"quant_method": "awq", "bits": 4, ...}`).
    pub quantization: Option<Value>,
    /// `safetensors` when counted from the weights' headers, `config` when estimated.
    pub params_from: String,
}

fn num(v: &Value, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64))
}

/// Reads the facts of the checkpoint in `dir`.
pub fn read_facts(dir: &Path) -> Result<ModelFacts, ModelError> {
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(ModelError::io(&path))?;
    let top: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ModelError::invalid(&path, format!("not JSON: {e}")))?;
    // Multimodal checkpoints keep the language model's figures in `text_config`.
    let c = top.get("text_config").unwrap_or(&top);
    let need = |keys: &[&str]| {
        num(c, keys).ok_or_else(|| {
            ModelError::invalid(
                &path,
                format!("no {} in the configuration", keys.join(" or ")),
            )
        })
    };
    let layers = need(&["num_hidden_layers", "n_layer", "num_layers"])?;
    let hidden = need(&["hidden_size", "n_embd", "d_model"])?;
    let heads = need(&["num_attention_heads", "n_head"])?;
    let kv_heads = num(c, &["num_key_value_heads", "num_kv_heads"]).unwrap_or(
        if c.get("multi_query").and_then(Value::as_bool) == Some(true) {
            1
        } else {
            heads
        },
    );
    let head_dim = num(c, &["head_dim"]).unwrap_or(hidden / heads.max(1));
    let vocab = need(&["vocab_size"])?;
    let max_context =
        num(c, &["max_position_embeddings", "n_positions", "seq_length"]).unwrap_or(0);
    let experts = num(c, &["num_local_experts", "num_experts", "n_routed_experts"]).unwrap_or(0);
    let per_token = num(c, &["num_experts_per_tok", "moe_topk"]).unwrap_or(0);
    let quantization = top.get("quantization_config").cloned();
    let bits = quantization
        .as_ref()
        .and_then(|q| q.get("bits").and_then(Value::as_u64))
        .unwrap_or(16);

    let (params, active, from) = match safetensors_params(dir, bits)? {
        Some(count) => {
            let active = if experts > 0 && per_token > 0 {
                count.total - count.experts + count.experts * per_token as f64 / experts as f64
            } else {
                count.total
            };
            (count.total, active, "safetensors")
        }
        None => {
            let inter = num(c, &["intermediate_size", "n_inner", "ffn_dim"]).unwrap_or(4 * hidden);
            let moe_inter = num(c, &["moe_intermediate_size"]).unwrap_or(inter);
            let h = hidden as f64;
            let attn = h * (heads * head_dim) as f64 * 2.0 + h * (kv_heads * head_dim) as f64 * 2.0;
            let tied = c.get("tie_word_embeddings").and_then(Value::as_bool) == Some(true);
            let embed = vocab as f64 * h * if tied { 1.0 } else { 2.0 };
            let (mlp_total, mlp_active) = if experts > 0 {
                let one = 3.0 * h * moe_inter as f64;
                (one * experts as f64, one * per_token.max(1) as f64)
            } else {
                let one = 3.0 * h * inter as f64;
                (one, one)
            };
            let l = layers as f64;
            (
                l * (attn + mlp_total) + embed,
                l * (attn + mlp_active) + embed,
                "config",
            )
        }
    };
    Ok(ModelFacts {
        arch: ArchFacts {
            params,
            active_params: active,
            layers: layers as u32,
            hidden: hidden as u32,
            heads: heads as u32,
            kv_heads: kv_heads as u32,
            head_dim: head_dim as u32,
            vocab: vocab as u32,
            max_context: max_context as u32,
        },
        architecture: top
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .map(String::from),
        model_type: c
            .get("model_type")
            .or_else(|| top.get("model_type"))
            .and_then(Value::as_str)
            .map(String::from),
        dtype: c
            .get("torch_dtype")
            .or_else(|| top.get("torch_dtype"))
            .and_then(Value::as_str)
            .map(String::from),
        quantization,
        params_from: from.into(),
    })
}

struct Count {
    total: f64,
    experts: f64,
}

/// Parameters counted from the safetensors headers (only the header of each file is read).
fn safetensors_params(dir: &Path, bits: u64) -> Result<Option<Count>, ModelError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(ModelError::io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    files.sort();
    let mut count = Count {
        total: 0.0,
        experts: 0.0,
    };
    for f in files {
        let mut file = std::fs::File::open(&f).map_err(ModelError::io(&f))?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len).map_err(ModelError::io(&f))?;
        let n = u64::from_le_bytes(len);
        if n > 100 << 20 {
            return Err(ModelError::invalid(
                &f,
                "a safetensors header over 100 MB: not safetensors",
            ));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(ModelError::io(&f))?;
        let h: serde_json::Map<String, Value> = serde_json::from_slice(&header)
            .map_err(|e| ModelError::invalid(&f, format!("bad safetensors header: {e}")))?;
        for (name, t) in &h {
            if name == "__metadata__" {
                continue;
            }
            let numel: f64 = t
                .get("shape")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_u64)
                        .map(|x| x as f64)
                        .product()
                })
                .unwrap_or(0.0);
            let dtype = t.get("dtype").and_then(Value::as_str).unwrap_or("");
            // Packed low-bit weights (AWQ, GPTQ): each 32-bit word holds 32/bits weights;
            // their scales and zeros are not parameters.
            let n = if name.ends_with("qweight") && dtype == "I32" {
                numel * (32 / bits.clamp(1, 32)) as f64
            } else if name.ends_with("qzeros")
                || name.ends_with("scales")
                || name.ends_with("g_idx")
            {
                0.0
            } else {
                numel
            };
            count.total += n;
            if name.contains(".experts.") {
                count.experts += n;
            }
        }
    }
    Ok(Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a safetensors file with these tensors (header only matters; data zeroed).
    pub(crate) fn safetensors(path: &Path, tensors: &[(&str, &str, &[u64])]) {
        let mut header = serde_json::Map::new();
        let mut offset = 0u64;
        for (name, dtype, shape) in tensors {
            let size = shape.iter().product::<u64>() * if *dtype == "BF16" { 2 } else { 4 };
            header.insert(
                name.to_string(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}),
            );
            offset += size;
        }
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
        let h = serde_json::to_vec(&header).unwrap();
        let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
        bytes.extend(h);
        bytes.extend(vec![0u8; offset as usize]);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_dense_model_counted_from_its_headers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({
                "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8,
                "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 4096,
                "torch_dtype": "bfloat16"
            })
            .to_string(),
        )
        .unwrap();
        safetensors(
            &dir.path().join("model.safetensors"),
            &[
                ("embed.weight", "BF16", &[1000, 64]),
                ("layers.0.q.weight", "BF16", &[64, 64]),
            ],
        );
        let f = read_facts(dir.path()).unwrap();
        assert_eq!(f.arch.layers, 2);
        assert_eq!(f.arch.kv_heads, 2);
        assert_eq!(f.arch.head_dim, 8);
        assert_eq!(f.arch.max_context, 4096);
        assert_eq!(f.arch.params, 64_000.0 + 4096.0);
        assert_eq!(f.arch.active_params, f.arch.params);
        assert_eq!(f.params_from, "safetensors");
        assert_eq!(f.dtype.as_deref(), Some("bfloat16"));
        assert_eq!(f.architecture.as_deref(), Some("LlamaForCausalLM"));
    }

    #[test]
    fn experts_and_packed_weights_are_counted_as_parameters() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({
                "num_hidden_layers": 1, "hidden_size": 16, "num_attention_heads": 4,
                "vocab_size": 100, "num_local_experts": 4, "num_experts_per_tok": 1,
                "quantization_config": {"quant_method": "awq", "bits": 4}
            })
            .to_string(),
        )
        .unwrap();
        safetensors(
            &dir.path().join("model.safetensors"),
            &[
                ("embed.weight", "BF16", &[100, 16]),
                ("layers.0.mlp.experts.0.w1.qweight", "I32", &[16, 2]),
                ("layers.0.mlp.experts.1.w1.qweight", "I32", &[16, 2]),
                ("layers.0.mlp.experts.2.w1.qweight", "I32", &[16, 2]),
                ("layers.0.mlp.experts.3.w1.qweight", "I32", &[16, 2]),
                ("layers.0.mlp.experts.0.w1.scales", "BF16", &[1, 16]),
            ],
        );
        let f = read_facts(dir.path()).unwrap();
        // 4 experts × 16×2 words × 8 weights per word = 1024; embedding 1600.
        assert_eq!(f.arch.params, 1600.0 + 1024.0);
        assert_eq!(f.arch.active_params, 1600.0 + 256.0);
        assert_eq!(f.arch.kv_heads, 4, "no num_key_value_heads: multi-head");
        assert_eq!(f.quantization.unwrap()["quant_method"], "awq");
    }

    #[test]
    fn without_weights_the_count_is_estimated_and_missing_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = serde_json::json!({
            "text_config": {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
                "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256}
        });
        std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
        let f = read_facts(dir.path()).unwrap();
        assert_eq!(f.params_from, "config");
        // Llama 3.1 8B: 8.03 B parameters.
        assert!(
            (f.arch.params / 1e9 - 8.03).abs() < 0.05,
            "{}",
            f.arch.params
        );
        std::fs::write(dir.path().join("config.json"), r#"{"hidden_size": 8}"#).unwrap();
        let err = read_facts(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("num_hidden_layers"),
            "{err}"
        );
    }
}
