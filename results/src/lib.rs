//! The DuckDB results store: the only crate of the workspace that links DuckDB.
//!
//! The cache is the source of truth (content-addressed node outputs); the store is a
//! queryable index of it, filled after each build. Every row carries the key of the node it
//! came from, and a node already in the store is never inserted again: replaying a build,
//! or ingesting the same cache twice, duplicates nothing. The schema is documented in
//! docs/schema.md.

use std::path::{Path, PathBuf};

use bench_node::outputs::{AggregateOutput, OptimizeOutput, RunInfo, Validation};
use bench_node::records::Record;
pub use duckdb;
use duckdb::types::Value;
use duckdb::{Connection, params};

/// Bumped when the schema changes incompatibly; a store of another version is refused.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    node_key VARCHAR PRIMARY KEY, sweep VARCHAR, label VARCHAR,
    model VARCHAR, engine VARCHAR, quantization VARCHAR, dtype VARCHAR, kv_cache VARCHAR,
    gpu VARCHAR, gpus INTEGER, batch_size INTEGER, seq_len INTEGER, workload VARCHAR,
    load VARCHAR, repeat INTEGER, simulated BOOLEAN, dialect VARCHAR, host VARCHAR,
    started_at TIMESTAMP, requests BIGINT, completed BIGINT, failed BIGINT, duration_s DOUBLE,
    request_throughput DOUBLE, output_throughput DOUBLE, model_revision VARCHAR,
    input_tokens_from VARCHAR, output_tokens_from VARCHAR, without_usage BIGINT
);
CREATE TABLE IF NOT EXISTS requests (
    node_key VARCHAR, idx BIGINT, warmup BOOLEAN,
    due_ns BIGINT, send_ns BIGINT, first_token_ns BIGINT, last_token_ns BIGINT, end_ns BIGINT,
    status INTEGER, error VARCHAR, request_id VARCHAR, prompt_tokens BIGINT, max_tokens BIGINT,
    server_prompt_tokens BIGINT, server_output_tokens BIGINT, client_output_tokens BIGINT,
    correct BOOLEAN, ttft_ms DOUBLE, e2e_ms DOUBLE, tokenizer_output_tokens BIGINT
);
CREATE TABLE IF NOT EXISTS validations (
    node_key VARCHAR PRIMARY KEY, bench_key VARCHAR, passed BOOLEAN, reasons VARCHAR,
    error_rate DOUBLE, completed_fraction DOUBLE, token_mismatch_fraction DOUBLE,
    bad_timings BIGINT
);
CREATE TABLE IF NOT EXISTS configs (
    node_key VARCHAR PRIMARY KEY, sweep VARCHAR, label VARCHAR,
    model VARCHAR, engine VARCHAR, quantization VARCHAR, dtype VARCHAR, kv_cache VARCHAR,
    gpu VARCHAR, gpus INTEGER, batch_size INTEGER, seq_len INTEGER, workload VARCHAR,
    load VARCHAR, valid BOOLEAN, reasons VARCHAR, repeats INTEGER, repeats_valid INTEGER,
    requests BIGINT, completed BIGINT, simulated BOOLEAN
);
CREATE TABLE IF NOT EXISTS metrics (
    node_key VARCHAR, metric VARCHAR, value DOUBLE, ci_low DOUBLE, ci_high DOUBLE,
    PRIMARY KEY (node_key, metric)
);
CREATE TABLE IF NOT EXISTS recommendations (
    node_key VARCHAR, aggregate_key VARCHAR, sweep VARCHAR, rank INTEGER, score DOUBLE,
    front INTEGER, crowding DOUBLE, feasible BOOLEAN, reasons VARCHAR,
    PRIMARY KEY (node_key, aggregate_key)
);
"#;

/// The latest aggregate of each configuration × load point of each sweep (a store keeps every
/// build's), one row per metric with its interval: the `aggregates` view, and what `bench
/// compare` reads of a store or of that view's export.
pub const LATEST_AGGREGATES: &str = "SELECT c.sweep, c.label, c.valid, c.repeats_valid, \
     m.metric, m.value, m.ci_low, m.ci_high \
     FROM (SELECT * FROM configs \
           QUALIFY row_number() OVER (PARTITION BY sweep, label ORDER BY rowid DESC) = 1) c \
     JOIN metrics m USING (node_key)";

/// The columns of [`LATEST_AGGREGATES`], in its order.
pub const AGGREGATES_COLUMNS: &[&str] = &[
    "sweep",
    "label",
    "valid",
    "repeats_valid",
    "metric",
    "value",
    "ci_low",
    "ci_high",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("results store {path}: {source}")]
    Db {
        path: PathBuf,
        source: duckdb::Error,
    },
    #[error(
        "{path} holds results schema version {found}; this bench writes version {want} (move the file aside to start a new store)"
    )]
    Version {
        path: PathBuf,
        found: i64,
        want: i64,
    },
    #[error("{path} is not a bench results store (it records no schema version)")]
    NotAStore { path: PathBuf },
    #[error("{path} has no column `{missing}` (its columns: {})", have.join(", "))]
    Columns {
        path: PathBuf,
        missing: String,
        have: Vec<String>,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Maps DuckDB errors to a [`StoreError`] naming the file.
fn db_err(path: &Path) -> impl Fn(duckdb::Error) -> StoreError + Copy + '_ {
    move |source| StoreError::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// A configuration's axes, as columns.
#[derive(Clone, Debug, Default)]
pub struct Axes {
    pub sweep: String,
    pub label: String,
    pub model: String,
    pub engine: String,
    pub quantization: String,
    pub dtype: String,
    pub kv_cache: String,
    pub gpu: String,
    pub gpus: u32,
    pub batch_size: u32,
    pub seq_len: u32,
    pub workload: String,
    pub load: String,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What a query returns: column names and rows of displayable cells.
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

fn ns(v: Option<u64>) -> Option<i64> {
    v.map(|x| x as i64)
}

/// Request rows per Arrow batch handed to the Appender.
const REQUEST_BATCH: usize = 64 * 1024;

/// The `requests` rows of one run's records, as the table's columns in order.
fn request_batch(key: &str, rs: &[Record]) -> duckdb::arrow::record_batch::RecordBatch {
    use std::sync::Arc;

    use duckdb::arrow::array::{
        ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray,
    };
    use duckdb::arrow::datatypes::{Field, Schema};

    let i64s = |f: &dyn Fn(&Record) -> Option<i64>| -> ArrayRef {
        Arc::new(rs.iter().map(f).collect::<Int64Array>())
    };
    let f64s = |f: &dyn Fn(&Record) -> Option<f64>| -> ArrayRef {
        Arc::new(rs.iter().map(f).collect::<Float64Array>())
    };
    let strs = |f: &dyn Fn(&Record) -> Option<&str>| -> ArrayRef {
        Arc::new(rs.iter().map(f).collect::<StringArray>())
    };
    let bools = |f: &dyn Fn(&Record) -> Option<bool>| -> ArrayRef {
        Arc::new(rs.iter().map(f).collect::<BooleanArray>())
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("node_key", Arc::new(StringArray::from(vec![key; rs.len()]))),
        ("idx", i64s(&|r| Some(r.index as i64))),
        ("warmup", bools(&|r| Some(r.warmup))),
        ("due_ns", i64s(&|r| Some(r.due_ns as i64))),
        ("send_ns", i64s(&|r| Some(r.send_ns as i64))),
        ("first_token_ns", i64s(&|r| ns(r.first_token_ns))),
        ("last_token_ns", i64s(&|r| ns(r.last_token_ns))),
        ("end_ns", i64s(&|r| Some(r.end_ns as i64))),
        (
            "status",
            Arc::new(
                rs.iter()
                    .map(|r| Some(i32::from(r.status)))
                    .collect::<Int32Array>(),
            ),
        ),
        ("error", strs(&|r| r.error.as_deref())),
        ("request_id", strs(&|r| r.request_id.as_deref())),
        ("prompt_tokens", i64s(&|r| Some(r.prompt_tokens as i64))),
        ("max_tokens", i64s(&|r| Some(r.max_tokens as i64))),
        (
            "server_prompt_tokens",
            i64s(&|r| ns(r.server_prompt_tokens)),
        ),
        (
            "server_output_tokens",
            i64s(&|r| ns(r.server_output_tokens)),
        ),
        (
            "client_output_tokens",
            i64s(&|r| Some(r.client_output_tokens as i64)),
        ),
        ("correct", bools(&|r| r.correct)),
        (
            "ttft_ms",
            f64s(&|r| {
                r.first_token_ns
                    .map(|f| f.saturating_sub(r.send_ns) as f64 / 1e6)
            }),
        ),
        (
            "e2e_ms",
            f64s(&|r| {
                r.last_token_ns
                    .map(|l| l.saturating_sub(r.send_ns) as f64 / 1e6)
            }),
        ),
        (
            "tokenizer_output_tokens",
            i64s(&|r| ns(r.tokenizer_output_tokens)),
        ),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    duckdb::arrow::record_batch::RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("columns of one length and the schema's types")
}

impl Store {
    /// Opens (creating it and its schema when missing) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let err = db_err(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // Columns added since a store was created (compatible additions, at the end).
        conn.execute_batch(
            "ALTER TABLE runs ADD COLUMN IF NOT EXISTS model_revision VARCHAR;
             ALTER TABLE runs ADD COLUMN IF NOT EXISTS input_tokens_from VARCHAR;
             ALTER TABLE runs ADD COLUMN IF NOT EXISTS output_tokens_from VARCHAR;
             ALTER TABLE runs ADD COLUMN IF NOT EXISTS without_usage BIGINT;
             ALTER TABLE requests ADD COLUMN IF NOT EXISTS tokenizer_output_tokens BIGINT;",
        )
        .map_err(err)?;
        conn.execute_batch(&format!(
            "CREATE OR REPLACE VIEW aggregates AS {LATEST_AGGREGATES}"
        ))
        .map_err(err)?;
        match schema_version(&conn) {
            None => {
                conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(err)?;
            }
            Some(v) if v != SCHEMA_VERSION => {
                return Err(StoreError::Version {
                    path: path.to_path_buf(),
                    found: v,
                    want: SCHEMA_VERSION,
                });
            }
            Some(_) => {}
        }
        Ok(Self {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing store only to read it: nothing is created, migrated or written (a
    /// baseline downloaded read-only, a store on a read-only mount). Its schema version must
    /// be this bench's.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let err = db_err(path);
        let config = duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .map_err(err)?;
        let conn = Connection::open_with_flags(path, config).map_err(err)?;
        match schema_version(&conn) {
            Some(SCHEMA_VERSION) => Ok(Self {
                conn,
                path: path.to_path_buf(),
            }),
            Some(found) => Err(StoreError::Version {
                path: path.to_path_buf(),
                found,
                want: SCHEMA_VERSION,
            }),
            None => Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            }),
        }
    }

    fn err(&self, source: duckdb::Error) -> StoreError {
        db_err(&self.path)(source)
    }

    fn has(&self, table: &str, key: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE node_key = ?"),
                params![key],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// The node keys a table holds (one query, for a whole plan's worth of checks).
    pub fn keys(&self, table: &str) -> Result<std::collections::HashSet<String>, StoreError> {
        let t = self.query(&format!("SELECT DISTINCT node_key FROM {table}"))?;
        Ok(t.rows.iter().map(|r| cell(&r[0])).collect())
    }

    /// Whether a node's rows are in the store (`runs`, `validations`, `configs` or
    /// `recommendations`).
    pub fn contains(&self, table: &str, key: &str) -> Result<bool, StoreError> {
        self.has(table, key)
    }

    /// One bench run and every request of it, in one transaction; nothing when the run is
    /// already stored. Returns whether rows were added.
    pub fn add_run(
        &mut self,
        key: &str,
        axes: &Axes,
        repeat: u32,
        run: &RunInfo,
        records: &[Record],
    ) -> Result<bool, StoreError> {
        if self.has("runs", key)? {
            return Ok(false);
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let tx = self.conn.transaction().map_err(err)?;
        let m = &run.metrics;
        tx.execute(
            "INSERT INTO runs (node_key, sweep, label, model, engine, quantization, dtype,
                 kv_cache, gpu, gpus, batch_size, seq_len, workload, load, repeat, simulated,
                 dialect, host, started_at, requests, completed, failed, duration_s,
                 request_throughput, output_throughput, model_revision, input_tokens_from,
                 output_tokens_from, without_usage)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?), ?, ?,
                 ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                key,
                axes.sweep,
                axes.label,
                axes.model,
                axes.engine,
                axes.quantization,
                axes.dtype,
                axes.kv_cache,
                axes.gpu,
                axes.gpus,
                axes.batch_size,
                axes.seq_len,
                axes.workload,
                axes.load,
                repeat,
                run.simulated,
                run.dialect.name(),
                run.host,
                run.started_at,
                m.requests as i64,
                m.completed as i64,
                m.failed as i64,
                m.duration_s,
                m.request_throughput,
                m.output_throughput,
                run.model_revision,
                m.input_tokens_from.name(),
                m.output_tokens_from.name(),
                m.without_usage as i64,
            ],
        )
        .map_err(err)?;
        {
            // Column batches through the Appender: DuckDB takes whole vectors at a time.
            let mut app = tx.appender("requests").map_err(err)?;
            for chunk in records.chunks(REQUEST_BATCH) {
                app.append_record_batch(request_batch(key, chunk))
                    .map_err(err)?;
            }
            app.flush().map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    pub fn add_validation(
        &mut self,
        key: &str,
        bench_key: &str,
        v: &Validation,
    ) -> Result<bool, StoreError> {
        if self.has("validations", key)? {
            return Ok(false);
        }
        self.conn
            .execute(
                "INSERT INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    key,
                    bench_key,
                    v.passed,
                    v.reasons.join("; "),
                    v.error_rate,
                    v.completed_fraction,
                    v.token_mismatch_fraction,
                    v.bad_timings as i64,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(true)
    }

    /// A configuration × load point and its aggregated metrics.
    pub fn add_aggregate(
        &mut self,
        key: &str,
        axes: &Axes,
        a: &AggregateOutput,
    ) -> Result<bool, StoreError> {
        if self.has("configs", key)? {
            return Ok(false);
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO configs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                key, axes.sweep, axes.label, axes.model, axes.engine, axes.quantization,
                axes.dtype, axes.kv_cache, axes.gpu, axes.gpus, axes.batch_size, axes.seq_len,
                axes.workload, axes.load, a.valid, a.reasons.join("; "), a.repeats,
                a.repeats_valid, a.requests as i64, a.completed as i64, a.simulated,
            ],
        )
        .map_err(err)?;
        {
            let mut app = tx.appender("metrics").map_err(err)?;
            for (name, value) in &a.metrics {
                let ci = a.ci.get(name);
                app.append_row(params![
                    key,
                    name,
                    value,
                    ci.map(|c| c.low),
                    ci.map(|c| c.high)
                ])
                .map_err(err)?;
            }
            app.flush().map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    pub fn add_recommendations(
        &mut self,
        key: &str,
        sweep: &str,
        o: &OptimizeOutput,
    ) -> Result<bool, StoreError> {
        if self.has("recommendations", key)? {
            return Ok(false);
        }
        let path = self.path.clone();
        let err = db_err(&path);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut app = tx.appender("recommendations").map_err(err)?;
            for r in &o.ranked {
                app.append_row(params![
                    key,
                    r.key,
                    sweep,
                    r.rank.map(|x| x as i64),
                    r.score,
                    r.front.map(|x| x as i64),
                    r.crowding,
                    r.feasible,
                    r.reasons.join("; "),
                ])
                .map_err(err)?;
            }
            app.flush().map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// Runs any SQL and returns what it selects.
    pub fn query(&self, sql: &str) -> Result<Table, StoreError> {
        select(&self.conn, &self.path, sql)
    }

    /// Writes the result of a query (or a whole table) to a file with DuckDB's `COPY`:
    /// `parquet` (the extension is linked in) or `csv` (JSON is written by the caller).
    pub fn export(&self, what: &str, format: &str, to: &Path) -> Result<(), StoreError> {
        let source = if what.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            what.to_string()
        } else {
            format!("({what})")
        };
        let fmt = match format {
            "parquet" => "(FORMAT parquet)",
            "csv" => "(FORMAT csv, HEADER true)",
            // Newline-delimited JSON, written here (DuckDB's json extension is not bundled).
            _ => return self.export_json(&source, to),
        };
        let target = to.display().to_string().replace('\'', "''");
        self.conn
            .execute_batch(&format!("COPY {source} TO '{target}' {fmt}"))
            .map_err(|e| self.err(e))
    }
}

impl Store {
    fn export_json(&self, source: &str, to: &Path) -> Result<(), StoreError> {
        use std::io::Write;
        let t = self.query(&format!("SELECT * FROM {source}"))?;
        let wrote = |source| StoreError::Write {
            path: to.to_path_buf(),
            source,
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(to).map_err(wrote)?);
        for row in t.json_rows() {
            writeln!(out, "{}", serde_json::Value::Object(row)).map_err(wrote)?;
        }
        out.flush().map_err(wrote)
    }
}

impl Table {
    /// Each row as a JSON object, column name to value.
    pub fn json_rows(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let row = |r: &Vec<Value>| {
            self.columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.clone(), json_cell(v)))
                .collect()
        };
        self.rows.iter().map(row).collect()
    }
}

/// A DuckDB value as JSON.
pub fn json_cell(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(b) => (*b).into(),
        Value::TinyInt(x) => (*x).into(),
        Value::SmallInt(x) => (*x).into(),
        Value::Int(x) => (*x).into(),
        Value::BigInt(x) => (*x).into(),
        Value::UTinyInt(x) => (*x).into(),
        Value::USmallInt(x) => (*x).into(),
        Value::UInt(x) => (*x).into(),
        Value::UBigInt(x) => (*x).into(),
        Value::Float(x) => (*x as f64).into(),
        Value::Double(x) => (*x).into(),
        Value::Text(s) => s.clone().into(),
        other => cell(other).into(),
    }
}

/// Reads numeric columns of a Parquet file (cells that are NULL or not numbers: NaN).
pub fn parquet_columns(path: &Path, names: &[&str]) -> Result<Vec<Vec<f64>>, StoreError> {
    let err = db_err(path);
    let conn = Connection::open_in_memory().map_err(err)?;
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let cols: Vec<String> = names
        .iter()
        .map(|n| format!("TRY_CAST({} AS DOUBLE)", quote(n)))
        .collect();
    let sql = format!(
        "SELECT {} FROM read_parquet('{}')",
        cols.join(", "),
        path.display().to_string().replace('\'', "''")
    );
    let mut stmt = conn.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut out = vec![Vec::new(); names.len()];
    while let Some(row) = rows.next().map_err(err)? {
        for (j, col) in out.iter_mut().enumerate() {
            let v: Option<f64> = row.get(j).map_err(err)?;
            col.push(v.unwrap_or(f64::NAN));
        }
    }
    Ok(out)
}

/// The schema version a store's `meta` table records (none: not a store, or a new one).
fn schema_version(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT value FROM meta WHERE name = 'schema_version'",
        [],
        |r| r.get::<_, String>(0),
    )
    .ok()
    .and_then(|v| v.parse().ok())
}

fn select(conn: &Connection, path: &Path, sql: &str) -> Result<Table, StoreError> {
    let err = db_err(path);
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let columns = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let n = columns.len();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            cells.push(row.get::<_, Value>(i).map_err(err)?);
        }
        out.push(cells);
    }
    Ok(Table { columns, rows: out })
}

/// The rows of a Parquet or CSV file with a header (by its extension) that `bench export`
/// wrote, read by an in-memory DuckDB: `SELECT {columns} FROM` the file. A column the file
/// lacks is an error that names it and the columns the file has.
pub fn query_file(path: &Path, columns: &[&str]) -> Result<Table, StoreError> {
    let err = db_err(path);
    let conn = Connection::open_in_memory().map_err(err)?;
    let name = path.display().to_string().replace('\'', "''");
    let from = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => format!("read_csv('{name}', header = true)"),
        _ => format!("read_parquet('{name}')"),
    };
    let have: Vec<String> = select(&conn, path, &format!("DESCRIBE SELECT * FROM {from}"))?
        .rows
        .iter()
        .map(|r| cell(&r[0]))
        .collect();
    if let Some(missing) = columns.iter().find(|c| !have.iter().any(|h| h == *c)) {
        return Err(StoreError::Columns {
            path: path.to_path_buf(),
            missing: missing.to_string(),
            have,
        });
    }
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    select(
        &conn,
        path,
        &format!("SELECT {} FROM {from}", quoted.join(", ")),
    )
}

/// The column names of a Parquet file.
pub fn parquet_names(path: &Path) -> Result<Vec<String>, StoreError> {
    let err = db_err(path);
    let conn = Connection::open_in_memory().map_err(err)?;
    let sql = format!(
        "SELECT name FROM parquet_schema('{}') WHERE num_children IS NULL OR num_children = 0",
        path.display().to_string().replace('\'', "''")
    );
    let mut stmt = conn.prepare(&sql).map_err(err)?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(names)
}

/// One cell for people.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "".into(),
        Value::Boolean(b) => b.to_string(),
        Value::TinyInt(x) => x.to_string(),
        Value::SmallInt(x) => x.to_string(),
        Value::Int(x) => x.to_string(),
        Value::BigInt(x) => x.to_string(),
        Value::HugeInt(x) => x.to_string(),
        Value::UTinyInt(x) => x.to_string(),
        Value::USmallInt(x) => x.to_string(),
        Value::UInt(x) => x.to_string(),
        Value::UBigInt(x) => x.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_of_another_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.duckdb");
        {
            let s = Store::open(&path).unwrap();
            s.conn
                .execute(
                    "UPDATE meta SET value = '99' WHERE name = 'schema_version'",
                    [],
                )
                .unwrap();
        }
        match Store::open(&path) {
            Err(StoreError::Version { found: 99, .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened a store of version 99"),
        }
    }

    #[test]
    fn a_store_created_before_model_revision_gets_the_column_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.duckdb");
        {
            let s = Store::open(&path).unwrap();
            // As schema 1 first shipped: no model_revision.
            s.conn
                .execute_batch("ALTER TABLE runs DROP COLUMN model_revision;")
                .unwrap();
            let n: i64 = s
                .conn
                .query_row(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'runs' AND column_name = 'model_revision'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 0);
        }
        let s = Store::open(&path).unwrap();
        let last: String = s
            .conn
            .query_row(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' ORDER BY ordinal_position DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            last, "model_revision",
            "added at the end, where inserts put it"
        );
    }

    #[test]
    fn records_go_in_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("r.duckdb")).unwrap();
        let run: RunInfo = serde_json::from_value(serde_json::json!({
            "engine": "sim", "simulated": true, "dialect": "openai-chat", "model": "m",
            "repeat": 0, "host": "h", "started_at": 1.7e9, "gpu_memory_gb": null,
            "metrics": bench_node::records::Metrics::default(),
        }))
        .unwrap();
        let records: Vec<Record> = (0..1000)
            .map(|i| Record {
                index: i,
                send_ns: 10,
                first_token_ns: Some(1_000_010),
                last_token_ns: Some(3_000_010),
                end_ns: 3_000_020,
                status: 200,
                ..Record::default()
            })
            .collect();
        assert!(
            s.add_run("k1", &Axes::default(), 0, &run, &records)
                .unwrap()
        );
        assert!(
            !s.add_run("k1", &Axes::default(), 0, &run, &records)
                .unwrap()
        );
        let t = s
            .query("SELECT count(*), avg(ttft_ms), max(e2e_ms) FROM requests")
            .unwrap();
        assert_eq!(t.columns.len(), 3);
        assert_eq!(cell(&t.rows[0][0]), "1000");
        assert_eq!(cell(&t.rows[0][1]), "1");
        assert_eq!(cell(&t.rows[0][2]), "3");
    }

    #[test]
    fn every_column_survives_batches_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("r.duckdb")).unwrap();
        let run: RunInfo = serde_json::from_value(serde_json::json!({
            "engine": "sim", "simulated": true, "dialect": "openai-chat", "model": "m",
            "repeat": 0, "host": "h", "started_at": 1.7e9, "gpu_memory_gb": null,
            "metrics": bench_node::records::Metrics::default(),
        }))
        .unwrap();
        // More rows than one Arrow batch; every tenth failed, without a first token.
        let n = REQUEST_BATCH as u64 + 4_464;
        let records: Vec<Record> = (0..n)
            .map(|i| {
                let failed = i % 10 == 0;
                Record {
                    index: i,
                    warmup: i < 2,
                    send_ns: 10,
                    first_token_ns: (!failed).then_some(2_000_010),
                    last_token_ns: (!failed).then_some(4_000_010),
                    end_ns: 4_000_020,
                    status: if failed { 500 } else { 200 },
                    error: failed.then(|| format!("boom {i}")),
                    request_id: Some(format!("r{i}")),
                    prompt_tokens: 7,
                    server_output_tokens: (!failed).then_some(3),
                    client_output_tokens: 3,
                    correct: (i % 3 == 0).then_some(i % 2 == 0),
                    ..Record::default()
                }
            })
            .collect();
        assert!(
            s.add_run("k2", &Axes::default(), 0, &run, &records)
                .unwrap()
        );
        let t = s
            .query(
                "SELECT count(*), count(DISTINCT node_key), sum(idx), count(error), \
                 count(first_token_ns), avg(ttft_ms), sum(CASE WHEN warmup THEN 1 ELSE 0 END), \
                 max(status), count(correct), max(request_id), sum(server_output_tokens) \
                 FROM requests",
            )
            .unwrap();
        let row: Vec<String> = t.rows[0].iter().map(cell).collect();
        let failed = n.div_ceil(10);
        assert_eq!(row[0], n.to_string());
        assert_eq!(row[1], "1");
        assert_eq!(row[2], (n * (n - 1) / 2).to_string());
        assert_eq!(row[3], failed.to_string());
        assert_eq!(row[4], (n - failed).to_string());
        assert_eq!(row[5], "2");
        assert_eq!(row[6], "2");
        assert_eq!(row[7], "500");
        assert_eq!(row[8], n.div_ceil(3).to_string());
        assert_eq!(row[9], "r9999");
        assert_eq!(row[10], ((n - failed) * 3).to_string());
        let e = s
            .query("SELECT error FROM requests WHERE idx = 69990")
            .unwrap();
        assert_eq!(cell(&e.rows[0][0]), "boom 69990");
    }
}
