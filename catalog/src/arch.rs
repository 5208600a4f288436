//! Model architectures: the facts the memory estimate and the simulator need.
//!
//! The built-in catalog covers common open models; a sweep can name an entry with
//! `arch="..."` or give the facts inline for anything else.

use serde::{Deserialize, Serialize};

/// What bench needs to know about a transformer to estimate memory and speed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchFacts {
    /// All parameters, every expert of a mixture-of-experts model included.
    pub params: f64,
    /// Parameters used per token (equal to `params` for dense models).
    pub active_params: f64,
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub vocab: u32,
    /// Longest context the model was trained for (`max_position_embeddings`).
    pub max_context: u32,
}

impl ArchFacts {
    /// Bytes of KV cache per token at `bytes_per_element`, across all GPUs of a
    /// tensor-parallel group (2 for K and V).
    pub fn kv_bytes_per_token(&self, bytes_per_element: f64) -> f64 {
        2.0 * self.layers as f64 * self.kv_heads as f64 * self.head_dim as f64 * bytes_per_element
    }

    /// Parameters of the embedding and output projection, kept at 16 bits by the
    /// quantization methods bench knows.
    pub fn embedding_params(&self) -> f64 {
        (2.0 * self.vocab as f64 * self.hidden as f64).min(self.params * 0.5)
    }

    pub fn is_moe(&self) -> bool {
        self.active_params < self.params
    }
}

/// One entry of the built-in catalog.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CatalogModel {
    /// Short catalog name, usable as `arch="..."` in a sweep.
    pub name: &'static str,
    /// Hugging Face ids (lower case) this entry describes.
    pub hub_ids: &'static [&'static str],
    pub facts: ArchFacts,
}

impl CatalogModel {
    /// Finds the entry for a catalog name or a Hugging Face id, ignoring case.
    pub fn find(name_or_hub_id: &str) -> Option<&'static CatalogModel> {
        let wanted = name_or_hub_id.to_ascii_lowercase();
        MODELS
            .iter()
            .find(|m| m.name == wanted || m.hub_ids.iter().any(|h| *h == wanted))
    }
}

#[allow(clippy::too_many_arguments)]
const fn dense(
    params_b: f64,
    layers: u32,
    hidden: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    vocab: u32,
    max_context: u32,
) -> ArchFacts {
    ArchFacts {
        params: params_b * 1e9,
        active_params: params_b * 1e9,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        vocab,
        max_context,
    }
}

const fn moe(active_b: f64, facts: ArchFacts) -> ArchFacts {
    ArchFacts {
        active_params: active_b * 1e9,
        ..facts
    }
}

macro_rules! m {
    ($name:literal, [$($hub:literal),* $(,)?], $facts:expr) => {
        CatalogModel { name: $name, hub_ids: &[$($hub),*], facts: $facts }
    };
}

/// The built-in catalog. Figures from each model's `config.json` and model card.
pub static MODELS: &[CatalogModel] = &[
    // Llama
    m!(
        "llama-3.1-8b",
        [
            "meta-llama/llama-3.1-8b",
            "meta-llama/llama-3.1-8b-instruct",
            "meta-llama/meta-llama-3.1-8b-instruct",
            "deepseek-ai/deepseek-r1-distill-llama-8b"
        ],
        dense(8.03, 32, 4096, 32, 8, 128, 128256, 131072)
    ),
    m!(
        "llama-3.1-70b",
        [
            "meta-llama/llama-3.1-70b",
            "meta-llama/llama-3.1-70b-instruct",
            "meta-llama/llama-3.3-70b-instruct",
            "deepseek-ai/deepseek-r1-distill-llama-70b"
        ],
        dense(70.6, 80, 8192, 64, 8, 128, 128256, 131072)
    ),
    m!(
        "llama-3.1-405b",
        [
            "meta-llama/llama-3.1-405b",
            "meta-llama/llama-3.1-405b-instruct"
        ],
        dense(405.9, 126, 16384, 128, 8, 128, 128256, 131072)
    ),
    m!(
        "llama-3-8b",
        [
            "meta-llama/meta-llama-3-8b",
            "meta-llama/meta-llama-3-8b-instruct"
        ],
        dense(8.03, 32, 4096, 32, 8, 128, 128256, 8192)
    ),
    m!(
        "llama-3-70b",
        [
            "meta-llama/meta-llama-3-70b",
            "meta-llama/meta-llama-3-70b-instruct"
        ],
        dense(70.6, 80, 8192, 64, 8, 128, 128256, 8192)
    ),
    m!(
        "llama-3.2-1b",
        [
            "meta-llama/llama-3.2-1b",
            "meta-llama/llama-3.2-1b-instruct"
        ],
        dense(1.24, 16, 2048, 32, 8, 64, 128256, 131072)
    ),
    m!(
        "llama-3.2-3b",
        [
            "meta-llama/llama-3.2-3b",
            "meta-llama/llama-3.2-3b-instruct"
        ],
        dense(3.21, 28, 3072, 24, 8, 128, 128256, 131072)
    ),
    m!(
        "llama-2-7b",
        ["meta-llama/llama-2-7b-hf", "meta-llama/llama-2-7b-chat-hf"],
        dense(6.74, 32, 4096, 32, 32, 128, 32000, 4096)
    ),
    m!(
        "llama-2-13b",
        [
            "meta-llama/llama-2-13b-hf",
            "meta-llama/llama-2-13b-chat-hf"
        ],
        dense(13.0, 40, 5120, 40, 40, 128, 32000, 4096)
    ),
    m!(
        "llama-2-70b",
        [
            "meta-llama/llama-2-70b-hf",
            "meta-llama/llama-2-70b-chat-hf"
        ],
        dense(69.0, 80, 8192, 64, 8, 128, 32000, 4096)
    ),
    m!(
        "codellama-7b",
        [
            "codellama/codellama-7b-hf",
            "codellama/codellama-7b-instruct-hf"
        ],
        dense(6.74, 32, 4096, 32, 32, 128, 32016, 16384)
    ),
    m!(
        "codellama-13b",
        [
            "codellama/codellama-13b-hf",
            "codellama/codellama-13b-instruct-hf"
        ],
        dense(13.0, 40, 5120, 40, 40, 128, 32016, 16384)
    ),
    m!(
        "codellama-34b",
        [
            "codellama/codellama-34b-hf",
            "codellama/codellama-34b-instruct-hf"
        ],
        dense(33.7, 48, 8192, 64, 8, 128, 32000, 16384)
    ),
    m!(
        "tinyllama-1.1b",
        ["tinyllama/tinyllama-1.1b-chat-v1.0"],
        dense(1.1, 22, 2048, 32, 4, 64, 32000, 2048)
    ),
    // Mistral
    m!(
        "mistral-7b",
        [
            "mistralai/mistral-7b-v0.1",
            "mistralai/mistral-7b-instruct-v0.2",
            "mistralai/mistral-7b-instruct-v0.3",
            "mistralai/mistral-7b-v0.3"
        ],
        dense(7.24, 32, 4096, 32, 8, 128, 32768, 32768)
    ),
    m!(
        "mistral-nemo-12b",
        [
            "mistralai/mistral-nemo-instruct-2407",
            "mistralai/mistral-nemo-base-2407"
        ],
        dense(12.2, 40, 5120, 32, 8, 128, 131072, 131072)
    ),
    m!(
        "mistral-small-24b",
        ["mistralai/mistral-small-24b-instruct-2501"],
        dense(23.6, 40, 5120, 32, 8, 128, 131072, 32768)
    ),
    m!(
        "codestral-22b",
        ["mistralai/codestral-22b-v0.1"],
        dense(22.2, 56, 6144, 48, 8, 128, 32768, 32768)
    ),
    m!(
        "mixtral-8x7b",
        [
            "mistralai/mixtral-8x7b-v0.1",
            "mistralai/mixtral-8x7b-instruct-v0.1"
        ],
        moe(12.9, dense(46.7, 32, 4096, 32, 8, 128, 32000, 32768))
    ),
    m!(
        "mixtral-8x22b",
        [
            "mistralai/mixtral-8x22b-v0.1",
            "mistralai/mixtral-8x22b-instruct-v0.1"
        ],
        moe(39.1, dense(140.6, 56, 6144, 48, 8, 128, 32768, 65536))
    ),
    // Qwen
    m!(
        "qwen2.5-0.5b",
        ["qwen/qwen2.5-0.5b", "qwen/qwen2.5-0.5b-instruct"],
        dense(0.49, 24, 896, 14, 2, 64, 151936, 32768)
    ),
    m!(
        "qwen2.5-1.5b",
        ["qwen/qwen2.5-1.5b", "qwen/qwen2.5-1.5b-instruct"],
        dense(1.54, 28, 1536, 12, 2, 128, 151936, 32768)
    ),
    m!(
        "qwen2.5-3b",
        ["qwen/qwen2.5-3b", "qwen/qwen2.5-3b-instruct"],
        dense(3.09, 36, 2048, 16, 2, 128, 151936, 32768)
    ),
    m!(
        "qwen2.5-7b",
        [
            "qwen/qwen2.5-7b",
            "qwen/qwen2.5-7b-instruct",
            "qwen/qwen2.5-coder-7b-instruct",
            "qwen/qwen2-7b-instruct",
            "deepseek-ai/deepseek-r1-distill-qwen-7b"
        ],
        dense(7.62, 28, 3584, 28, 4, 128, 152064, 32768)
    ),
    m!(
        "qwen2.5-14b",
        [
            "qwen/qwen2.5-14b",
            "qwen/qwen2.5-14b-instruct",
            "deepseek-ai/deepseek-r1-distill-qwen-14b"
        ],
        dense(14.7, 48, 5120, 40, 8, 128, 152064, 32768)
    ),
    m!(
        "qwen2.5-32b",
        [
            "qwen/qwen2.5-32b",
            "qwen/qwen2.5-32b-instruct",
            "deepseek-ai/deepseek-r1-distill-qwen-32b"
        ],
        dense(32.5, 64, 5120, 40, 8, 128, 152064, 32768)
    ),
    m!(
        "qwen2.5-72b",
        ["qwen/qwen2.5-72b", "qwen/qwen2.5-72b-instruct"],
        dense(72.7, 80, 8192, 64, 8, 128, 152064, 32768)
    ),
    m!(
        "qwen3-8b",
        ["qwen/qwen3-8b"],
        dense(8.19, 36, 4096, 32, 8, 128, 151936, 40960)
    ),
    m!(
        "qwen3-32b",
        ["qwen/qwen3-32b"],
        dense(32.8, 64, 5120, 64, 8, 128, 151936, 40960)
    ),
    // Phi
    m!(
        "phi-2",
        ["microsoft/phi-2"],
        dense(2.78, 32, 2560, 32, 32, 80, 51200, 2048)
    ),
    m!(
        "phi-3-mini",
        ["microsoft/phi-3-mini-4k-instruct"],
        dense(3.82, 32, 3072, 32, 32, 96, 32064, 4096)
    ),
    m!(
        "phi-3-mini-128k",
        [
            "microsoft/phi-3-mini-128k-instruct",
            "microsoft/phi-3.5-mini-instruct"
        ],
        dense(3.82, 32, 3072, 32, 32, 96, 32064, 131072)
    ),
    m!(
        "phi-3-medium",
        ["microsoft/phi-3-medium-4k-instruct"],
        dense(14.0, 40, 5120, 40, 10, 128, 32064, 4096)
    ),
    m!(
        "phi-4",
        ["microsoft/phi-4"],
        dense(14.7, 40, 5120, 40, 10, 128, 100352, 16384)
    ),
    // Gemma
    m!(
        "gemma-2b",
        ["google/gemma-2b", "google/gemma-2b-it"],
        dense(2.51, 18, 2048, 8, 1, 256, 256000, 8192)
    ),
    m!(
        "gemma-7b",
        ["google/gemma-7b", "google/gemma-7b-it"],
        dense(8.54, 28, 3072, 16, 16, 256, 256000, 8192)
    ),
    m!(
        "gemma-2-2b",
        ["google/gemma-2-2b", "google/gemma-2-2b-it"],
        dense(2.61, 26, 2304, 8, 4, 256, 256000, 8192)
    ),
    m!(
        "gemma-2-9b",
        ["google/gemma-2-9b", "google/gemma-2-9b-it"],
        dense(9.24, 42, 3584, 16, 8, 256, 256000, 8192)
    ),
    m!(
        "gemma-2-27b",
        ["google/gemma-2-27b", "google/gemma-2-27b-it"],
        dense(27.2, 46, 4608, 32, 16, 128, 256000, 8192)
    ),
    // GPT-style
    m!(
        "gpt2",
        ["openai-community/gpt2", "gpt2"],
        dense(0.124, 12, 768, 12, 12, 64, 50257, 1024)
    ),
    m!(
        "gpt2-medium",
        ["openai-community/gpt2-medium", "gpt2-medium"],
        dense(0.355, 24, 1024, 16, 16, 64, 50257, 1024)
    ),
    m!(
        "gpt2-large",
        ["openai-community/gpt2-large", "gpt2-large"],
        dense(0.774, 36, 1280, 20, 20, 64, 50257, 1024)
    ),
    m!(
        "gpt2-xl",
        ["openai-community/gpt2-xl", "gpt2-xl"],
        dense(1.56, 48, 1600, 25, 25, 64, 50257, 1024)
    ),
    m!(
        "gpt-j-6b",
        ["eleutherai/gpt-j-6b"],
        dense(6.05, 28, 4096, 16, 16, 256, 50400, 2048)
    ),
    m!(
        "gpt-neox-20b",
        ["eleutherai/gpt-neox-20b"],
        dense(20.6, 44, 6144, 64, 64, 96, 50432, 2048)
    ),
    m!(
        "pythia-6.9b",
        ["eleutherai/pythia-6.9b"],
        dense(6.86, 32, 4096, 32, 32, 128, 50432, 2048)
    ),
    m!(
        "pythia-12b",
        ["eleutherai/pythia-12b"],
        dense(11.8, 36, 5120, 40, 40, 128, 50688, 2048)
    ),
    m!(
        "gpt-oss-20b",
        ["openai/gpt-oss-20b"],
        moe(3.6, dense(20.9, 24, 2880, 64, 8, 64, 201088, 131072))
    ),
    m!(
        "gpt-oss-120b",
        ["openai/gpt-oss-120b"],
        moe(5.1, dense(116.8, 36, 2880, 64, 8, 64, 201088, 131072))
    ),
    m!(
        "opt-6.7b",
        ["facebook/opt-6.7b"],
        dense(6.7, 32, 4096, 32, 32, 128, 50272, 2048)
    ),
    m!(
        "opt-13b",
        ["facebook/opt-13b"],
        dense(12.9, 40, 5120, 40, 40, 128, 50272, 2048)
    ),
    m!(
        "bloom-7b1",
        ["bigscience/bloom-7b1"],
        dense(7.07, 30, 4096, 32, 32, 128, 250880, 2048)
    ),
    m!(
        "starcoder2-7b",
        ["bigcode/starcoder2-7b"],
        dense(7.17, 32, 4608, 36, 4, 128, 49152, 16384)
    ),
    m!(
        "starcoder2-15b",
        ["bigcode/starcoder2-15b"],
        dense(16.0, 40, 6144, 48, 4, 128, 49152, 16384)
    ),
    // Other families
    m!(
        "falcon-7b",
        ["tiiuae/falcon-7b", "tiiuae/falcon-7b-instruct"],
        dense(7.22, 32, 4544, 71, 1, 64, 65024, 2048)
    ),
    m!(
        "falcon-40b",
        ["tiiuae/falcon-40b", "tiiuae/falcon-40b-instruct"],
        dense(41.8, 60, 8192, 128, 8, 64, 65024, 2048)
    ),
    m!(
        "falcon3-7b",
        ["tiiuae/falcon3-7b-base", "tiiuae/falcon3-7b-instruct"],
        dense(7.46, 28, 3072, 12, 4, 256, 131072, 32768)
    ),
    m!(
        "yi-6b",
        ["01-ai/yi-6b", "01-ai/yi-6b-chat"],
        dense(6.06, 32, 4096, 32, 4, 128, 64000, 4096)
    ),
    m!(
        "yi-34b",
        ["01-ai/yi-34b", "01-ai/yi-34b-chat"],
        dense(34.4, 60, 7168, 56, 8, 128, 64000, 4096)
    ),
    m!(
        "deepseek-llm-7b",
        [
            "deepseek-ai/deepseek-llm-7b-base",
            "deepseek-ai/deepseek-llm-7b-chat"
        ],
        dense(6.91, 30, 4096, 32, 32, 128, 102400, 4096)
    ),
    m!(
        "deepseek-coder-6.7b",
        [
            "deepseek-ai/deepseek-coder-6.7b-base",
            "deepseek-ai/deepseek-coder-6.7b-instruct"
        ],
        dense(6.74, 32, 4096, 32, 32, 128, 32256, 16384)
    ),
    m!(
        "internlm2.5-7b",
        ["internlm/internlm2_5-7b-chat"],
        dense(7.74, 32, 4096, 32, 8, 128, 92544, 32768)
    ),
    m!(
        "glm-4-9b",
        ["thudm/glm-4-9b-chat"],
        dense(9.4, 40, 4096, 32, 2, 128, 151552, 131072)
    ),
    m!(
        "granite-3.1-8b",
        ["ibm-granite/granite-3.1-8b-instruct"],
        dense(8.17, 40, 4096, 32, 8, 128, 49155, 131072)
    ),
    m!(
        "olmo-2-7b",
        ["allenai/olmo-2-1124-7b", "allenai/olmo-2-1124-7b-instruct"],
        dense(7.3, 32, 4096, 32, 32, 128, 100352, 4096)
    ),
    m!(
        "command-r-35b",
        ["cohereforai/c4ai-command-r-v01"],
        dense(35.0, 40, 8192, 64, 64, 128, 256000, 131072)
    ),
    m!(
        "dbrx-132b",
        ["databricks/dbrx-instruct", "databricks/dbrx-base"],
        moe(36.0, dense(132.0, 40, 6144, 48, 8, 128, 100352, 32768))
    ),
    m!(
        "smollm2-1.7b",
        [
            "huggingfacetb/smollm2-1.7b",
            "huggingfacetb/smollm2-1.7b-instruct"
        ],
        dense(1.71, 24, 2048, 32, 32, 64, 49152, 8192)
    ),
    m!(
        "stablelm-2-1.6b",
        [
            "stabilityai/stablelm-2-1_6b",
            "stabilityai/stablelm-2-1_6b-chat"
        ],
        dense(1.64, 24, 2048, 32, 32, 64, 100352, 4096)
    ),
];

/// The files of a model an engine loads, by default: weights in safetensors (and their
/// index), the configuration, the tokenizer and the generation config.
pub const DEFAULT_MODEL_FILES: &[&str] = &[
    "*.safetensors",
    "*.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "vocab*",
    "merges.txt",
    "*.tiktoken",
    "preprocessor_config.json",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_and_hub_ids_are_unique_and_lower_case() {
        let mut names = std::collections::HashSet::new();
        let mut hubs = std::collections::HashMap::new();
        for m in MODELS {
            assert!(names.insert(m.name), "duplicate name {}", m.name);
            for h in m.hub_ids {
                assert_eq!(*h, h.to_ascii_lowercase());
                assert!(hubs.insert(*h, m.name).is_none(), "duplicate hub id {h}");
            }
        }
        // A catalog name may equal a hub id only of its own entry.
        for m in MODELS {
            if let Some(owner) = hubs.get(m.name) {
                assert_eq!(*owner, m.name);
            }
        }
    }

    #[test]
    fn facts_are_self_consistent() {
        for m in MODELS {
            let f = &m.facts;
            assert!(f.kv_heads <= f.heads, "{}", m.name);
            assert_eq!(
                f.heads % f.kv_heads,
                0,
                "{}: heads not a multiple of kv heads",
                m.name
            );
            assert!(f.active_params <= f.params, "{}", m.name);
            // A dense transformer holds about 12·layers·hidden² parameters plus embeddings;
            // the listed count must be within a factor of three of that.
            if !f.is_moe() {
                let rough = 12.0 * f.layers as f64 * (f.hidden as f64).powi(2)
                    + f.vocab as f64 * f.hidden as f64;
                let ratio = f.params / rough;
                assert!((0.33..3.0).contains(&ratio), "{}: ratio {ratio}", m.name);
            }
        }
    }

    #[test]
    fn finds_by_name_and_hub_id() {
        assert_eq!(
            CatalogModel::find("Meta-Llama/Llama-3.1-8B-Instruct")
                .unwrap()
                .name,
            "llama-3.1-8b"
        );
        assert_eq!(CatalogModel::find("mixtral-8x7b").unwrap().facts.layers, 32);
        assert!(CatalogModel::find("meta-llama/unknown").is_none());
    }

    #[test]
    fn kv_bytes_per_token_of_llama_3_8b() {
        // 2 · 32 layers · 8 KV heads · 128 · 2 bytes = 131072 bytes = 128 KiB per token.
        let f = CatalogModel::find("llama-3.1-8b").unwrap().facts;
        assert_eq!(f.kv_bytes_per_token(2.0), 131072.0);
    }
}
