//! The plan as the scheduler sees it: each node's label, keyed params and unkeyed context,
//! computed only for the nodes that run.

use std::path::PathBuf;

use bench_exec::{GpuNeed, NodeDetails, SchedNode};
use bench_node::HostTarget;
use bench_node::context::{BenchContext, ContainerContext, DownloadContext, SetupContext};
use bench_plan::dag::{inputs, label, params};
use bench_plan::{Plan, Subject};
use bench_sweep::ast::RuntimeKind;
use petgraph::graph::NodeIndex;

/// The plan, as the scheduler sees it, and the build it runs in.
pub struct View<'a, 's, 'r> {
    pub plan: &'a Plan<'s, 'r>,
    /// The build the nodes run in (none when only looking).
    pub build: Option<BuildCtx>,
}

/// What containers of a build are labelled with.
#[derive(Clone)]
pub struct BuildCtx {
    pub build: String,
    /// `HOSTNAME:PATH` of the cache.
    pub cache: String,
    /// The cache directory.
    pub dir: PathBuf,
}

/// A started engine's default time to become ready.
const DEFAULT_READY_TIMEOUT_SECS: f64 = 15.0 * 60.0;

impl NodeDetails for View<'_, '_, '_> {
    fn label(&self, i: usize) -> String {
        let p = self.plan;
        label(
            &p.resolved,
            &p.expansion,
            &p.graph[NodeIndex::new(i)].subject,
        )
    }

    fn params(&self, i: usize) -> serde_json::Value {
        let p = self.plan;
        params(
            &p.resolved,
            &p.expansion,
            &p.graph[NodeIndex::new(i)].subject,
        )
    }

    fn context(&self, i: usize) -> serde_json::Value {
        let (r, x) = (&self.plan.resolved, &self.plan.expansion);
        match self.plan.graph[NodeIndex::new(i)].subject {
            Subject::Download { model } => {
                let m = &r.models[model as usize];
                let (revision, path) = match (&m.decl.source, r.model_pins.get(&m.decl.name.value))
                {
                    (_, Some(bench_plan::ModelPin::Digest { path, .. })) => {
                        (None, Some(path.clone()))
                    }
                    (bench_sweep::ast::ModelSource::Hub { revision, .. }, _) => (
                        Some(revision.clone().unwrap_or_else(|| "main".into())),
                        None,
                    ),
                    _ => (None, None),
                };
                serde_json::to_value(DownloadContext {
                    revision,
                    path,
                    state_dir: self
                        .build
                        .as_ref()
                        .map(|b| crate::paths::models_dir(&b.dir)),
                    planned_facts: m.facts,
                })
                .unwrap_or_default()
            }
            Subject::Setup { engine, gpu } => {
                let docker: Vec<HostTarget> = if r.in_containers(gpu) {
                    r.hosts_of(gpu)
                        .map(|h| HostTarget {
                            name: h.name.value.clone(),
                            runtime: RuntimeKind::Docker,
                            address: h.address.as_ref().map(|a| a.value.clone()),
                            tls_dir: h.tls_dir.as_ref().map(|t| t.value.clone()),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                serde_json::to_value(SetupContext {
                    simulated: r.simulated(engine, gpu),
                    endpoint: r.on_endpoints(gpu),
                    docker,
                })
                .unwrap_or_default()
            }
            Subject::Bench { config, .. } => {
                let c = &x.valid[config as usize];
                let w = &r.workloads[c.workload as usize];
                serde_json::to_value(BenchContext {
                    model: r.models[c.model as usize].decl.name.value.clone(),
                    simulated: r.simulated(c.engine, c.gpu),
                    dataset_path: w.dataset_path.clone(),
                    timeout_secs: None,
                    container: match &self.build {
                        Some(b) => {
                            let engine = &r.engines[c.engine as usize];
                            Some(ContainerContext {
                                build: b.build.clone(),
                                sweep: r.sweep.name.value.clone(),
                                cache: b.cache.clone(),
                                ready_timeout_secs: engine
                                    .ready_timeout_secs
                                    .unwrap_or(DEFAULT_READY_TIMEOUT_SECS),
                                secrets: engine.secrets.clone(),
                            })
                        }
                        _ => None,
                    },
                })
                .unwrap_or_default()
            }
            _ => serde_json::Value::Null,
        }
    }
}

/// The plan's nodes as the scheduler sees them.
pub fn sched_nodes(p: &Plan<'_, '_>) -> Vec<SchedNode> {
    let g = &p.graph;
    g.node_indices()
        .map(|i| {
            let n = &g[i];
            let gpus = match n.subject {
                Subject::Bench { config, .. } => {
                    let c = &p.expansion.valid[config as usize];
                    Some(GpuNeed {
                        gpu: p.resolved.gpu.values[c.gpu as usize].name.to_string(),
                        count: p.resolved.gpus.values[c.gpus as usize],
                    })
                }
                _ => None,
            };
            SchedNode {
                key: n.key.hex(),
                kind: n.kind,
                inputs: inputs(g, i).into_iter().map(|x| x.index() as u32).collect(),
                priority: n.priority,
                cost: n.cost,
                gpus,
            }
        })
        .collect()
}
