//! What one attempt of a node is given, independent of where it runs, and how the far side
//! says it failed.
//!
//! A job spec names every input by digest as well as by path: an executor that shares this
//! machine's filesystem passes the cache's blob paths as they are; one whose attempt runs
//! elsewhere fetches the blobs by digest on the far side and rewrites the paths there
//! (see [`JobSpec::relocate`]), then returns the files of `out_dir`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::NodeKind;
use crate::failure::{Failure, FailureClass};

/// One committed output of an input node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// File name inside the input node's outputs (`records.jsonl`).
    pub name: String,
    /// blake3 of the content, hex: what a remote attempt fetches.
    pub digest: String,
    pub size: u64,
    /// Where the verified bytes are on the machine the attempt runs on.
    pub path: PathBuf,
}

/// An input of a node: another node's committed outputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobInput {
    pub label: String,
    pub kind: NodeKind,
    pub key: String,
    pub outputs: Vec<InputFile>,
}

impl JobInput {
    /// The local path of one output, the failure naming the input.
    pub fn output(&self, name: &str) -> Result<&Path, Failure> {
        self.outputs
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.path.as_path())
            .ok_or_else(|| {
                Failure::new(
                    FailureClass::Permanent,
                    format!("input {} has no output {name}", self.label),
                )
            })
    }
}

/// Which actions run the nodes of a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actions {
    /// The work of each kind.
    #[default]
    Real,
    /// A deterministic stand-in (see [`crate::TestAction`]) that exercises the DAG machinery.
    Test,
}

impl Actions {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "real" => Some(Self::Real),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// Everything one attempt of a node needs, independent of where it runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobSpec {
    pub key: String,
    pub kind: NodeKind,
    pub label: String,
    /// The keyed params: the kind's typed params (see [`crate::params`]) as JSON.
    pub params: serde_json::Value,
    pub attempt: u32,
    pub inputs: Vec<JobInput>,
    /// Where outputs go on the machine the attempt runs on; nothing else is committed.
    pub out_dir: PathBuf,
    pub actions: Actions,
    /// The host the attempt was placed on, when hosts are modelled.
    #[serde(default)]
    pub target: Option<HostTarget>,
    /// Unkeyed details the action needs (the kind's context, see [`crate::context`]).
    #[serde(default)]
    pub context: serde_json::Value,
    /// GPU ids assigned to this attempt on its host (empty where the cluster assigns them).
    pub gpu_ids: Vec<u32>,
}

/// How an engine runs on a host: the sweep's `runtime=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// The engine's own program as a child process of the attempt, on the host the attempt
    /// runs on (the GPUs it was given in `CUDA_VISIBLE_DEVICES`). The default.
    #[default]
    Process,
    /// The simulated engine as a child process of the attempt: no GPU needed.
    Sim,
    /// The engine in a container of the host's Docker Engine.
    Docker,
    /// A server that is already running at the host's address.
    Endpoint,
    /// The engine's image through Apptainer (formerly Singularity), `apptainer exec --nv`,
    /// as a child process of the attempt on the host it runs on: GPU clusters without
    /// Docker.
    Apptainer,
    /// The engine's image through NVIDIA's pyxis and enroot (`srun --container-image`), as
    /// a step of the Slurm job the attempt runs in: Slurm pools only.
    Pyxis,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 6] = [
        Self::Process,
        Self::Sim,
        Self::Docker,
        Self::Endpoint,
        Self::Apptainer,
        Self::Pyxis,
    ];
    pub const NAMES: &'static [&'static str] =
        &["process", "sim", "docker", "endpoint", "apptainer", "pyxis"];

    pub fn name(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Sim => "sim",
            Self::Docker => "docker",
            Self::Endpoint => "endpoint",
            Self::Apptainer => "apptainer",
            Self::Pyxis => "pyxis",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A host as an attempt sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTarget {
    pub name: String,
    pub runtime: RuntimeKind,
    /// The Docker endpoint or the endpoint's base URL.
    pub address: Option<String>,
    /// A Docker host's TLS client certificates.
    #[serde(default)]
    pub tls_dir: Option<String>,
}

impl JobSpec {
    /// The name of the host the attempt was placed on (empty when hosts are not modelled).
    pub fn host(&self) -> &str {
        self.target.as_ref().map_or("", |t| t.name.as_str())
    }

    /// Where the attempt runs: its host, and for a cluster job the node the cluster picked
    /// (`pool/node`, from Slurm's `SLURMD_NODENAME`). Empty when hosts are not modelled.
    pub fn placement(&self) -> String {
        match std::env::var("SLURMD_NODENAME") {
            Ok(node) if !node.is_empty() && !self.host().is_empty() => {
                format!("{}/{node}", self.host())
            }
            _ => self.host().to_string(),
        }
    }

    /// The GPUs the attempt may use: the ids its host's slots gave it, else those its
    /// cluster job was given (`CUDA_VISIBLE_DEVICES`, set by the cluster).
    pub fn visible_gpus(&self) -> Vec<String> {
        if !self.gpu_ids.is_empty() {
            return self.gpu_ids.iter().map(u32::to_string).collect();
        }
        std::env::var("CUDA_VISIBLE_DEVICES")
            .map(|v| {
                v.split(',')
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_vec(self).map_err(std::io::Error::other)?,
        )
    }

    pub fn read(path: &Path) -> std::io::Result<Self> {
        serde_json::from_slice(&std::fs::read(path)?).map_err(std::io::Error::other)
    }

    /// The same job on another machine: inputs at `blob_dir/DIGEST`, outputs into `out_dir`.
    /// What a remote executor's far side runs after fetching the blobs.
    pub fn relocate(&self, blob_dir: &Path, out_dir: &Path) -> JobSpec {
        let mut job = self.clone();
        for i in &mut job.inputs {
            for o in &mut i.outputs {
                o.path = blob_dir.join(&o.digest);
            }
        }
        job.out_dir = out_dir.to_path_buf();
        job
    }

    /// The digests of every input file, each once.
    pub fn input_digests(&self) -> Vec<&str> {
        let mut d: Vec<&str> = self
            .inputs
            .iter()
            .flat_map(|i| i.outputs.iter().map(|o| o.digest.as_str()))
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    }

    /// The keyed params as the kind's typed struct.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_value(self.params.clone()).map_err(|e| {
            Failure::new(
                FailureClass::Permanent,
                format!("unexpected params for a {} node: {e}", self.kind),
            )
        })
    }

    /// The unkeyed context as the kind's typed struct (its default when there is none).
    pub fn context<T: DeserializeOwned + Default>(&self) -> Result<T, Failure> {
        if self.context.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.context.clone()).map_err(|e| {
            Failure::new(
                FailureClass::Permanent,
                format!("unexpected context for a {} node: {e}", self.kind),
            )
        })
    }

    /// The inputs of a kind, in the order the DAG added them.
    pub fn inputs_of(&self, kind: NodeKind) -> impl Iterator<Item = &JobInput> {
        self.inputs.iter().filter(move |i| i.kind == kind)
    }
}

/// File a failing attempt leaves beside its job spec to say how it failed.
pub const FAILURE_FILE: &str = "failure.json";

/// The work of a node kind.
pub trait Action: Send + Sync {
    fn run(&self, job: &JobSpec) -> Result<(), Failure>;
}

/// Finds the action for a job (the crate that links the actions supplies it).
pub type ActionLookup = fn(&JobSpec) -> Box<dyn Action>;

/// Runs a job in this process (the far side of an executor): the action, then a failure
/// file beside the spec on error. Returns the process exit status.
pub fn run_job(spec_path: &Path, lookup: ActionLookup) -> i32 {
    let job = match JobSpec::read(spec_path) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot read job {}: {e}", spec_path.display());
            return 2;
        }
    };
    match lookup(&job).run(&job) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("{f}");
            let path = spec_path.with_file_name(FAILURE_FILE);
            let _ = std::fs::write(&path, serde_json::to_vec(&f).unwrap_or_default());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobSpec {
        JobSpec {
            key: "k".into(),
            kind: NodeKind::Validate,
            label: "validate/x".into(),
            params: serde_json::json!({}),
            attempt: 1,
            inputs: vec![JobInput {
                label: "bench/x".into(),
                kind: NodeKind::Bench,
                key: "b".into(),
                outputs: vec![
                    InputFile {
                        name: "run.json".into(),
                        digest: "d1".into(),
                        size: 1,
                        path: "/cache/blobs/d1".into(),
                    },
                    InputFile {
                        name: "again.json".into(),
                        digest: "d1".into(),
                        size: 1,
                        path: "/cache/blobs/d1".into(),
                    },
                ],
            }],
            out_dir: "/cache/staging/out".into(),
            actions: Actions::Real,
            target: None,
            context: serde_json::Value::Null,
            gpu_ids: vec![],
        }
    }

    #[test]
    fn relocate_points_inputs_at_fetched_blobs_and_outputs_at_the_far_side() {
        let far = job().relocate(Path::new("/scratch/blobs"), Path::new("/scratch/out"));
        assert_eq!(
            far.inputs[0].outputs[0].path,
            Path::new("/scratch/blobs/d1")
        );
        assert_eq!(far.out_dir, Path::new("/scratch/out"));
        assert_eq!(far.input_digests(), vec!["d1"]);
        assert_eq!(
            far.inputs[0].output("run.json").unwrap(),
            Path::new("/scratch/blobs/d1")
        );
        assert!(far.inputs[0].output("records.jsonl").is_err());
    }

    #[test]
    fn a_spec_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("bench-node-job-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("job.json");
        job().write(&path).unwrap();
        let back = JobSpec::read(&path).unwrap();
        assert_eq!(back.kind, NodeKind::Validate);
        assert_eq!(back.inputs[0].outputs, job().inputs[0].outputs);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
