//! Facts that every part of bench shares and that change only when the world does:
//! numeric formats ([`format`]), the GPU table ([`gpu`]), model architectures ([`arch`])
//! and the GPU-memory estimate the planner prunes with ([`memory`]).
//!
//! Everything here is pure data and pure functions: no I/O, no allocation on the hot path
//! of plan expansion.

pub mod arch;
pub mod format;
pub mod gpu;
pub mod memory;

pub use arch::{ArchFacts, CatalogModel, DEFAULT_MODEL_FILES, MODELS};
pub use format::{Dtype, KvCacheDtype, Quantization};
pub use gpu::{GPUS, GpuSpec};
pub use memory::{MemoryEstimate, estimate_memory};
