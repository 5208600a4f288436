//! DuckDB results store.
