//! Facts that every part of bench shares and that change only when the world does:
//! numeric formats ([`format`]), the GPU table ([`gpu`]), model architectures ([`arch`]),
//! the GPU-memory estimate the planner prunes with ([`memory`]) and the roofline performance
//! model the simulated engine runs and `bench estimate` evaluates in closed form
//! ([`roofline`]).
//!
//! Everything here is pure data and pure functions: no I/O, no allocation on the hot path
//! of plan expansion.

pub mod arch;
pub mod format;
pub mod gpu;
pub mod memory;
pub mod roofline;

pub use arch::{ArchFacts, CatalogModel, DEFAULT_MODEL_FILES, MODELS};
pub use format::{Dtype, KvCacheDtype, Quantization};
pub use gpu::{GPUS, GpuSpec};
pub use memory::{MemoryEstimate, estimate_memory};
pub use roofline::{Hardware, SteadyState};
