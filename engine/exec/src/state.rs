//! The progress of a build over its DAG, as a state machine with no I/O: which nodes are
//! waiting, ready, running, done, failed, skipped; which run next (highest priority, then
//! cheapest, then plan order) within the job limit and the GPU slots of each host; what
//! becomes ready when a node succeeds and what is skipped when one fails. The scheduler's
//! async loop drives it; its tests drive it directly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use bench_node::{Failure, FailureClass};

use crate::scheduler::{GpuNeed, HostSlots, SchedNode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Skipped,
    Aborted,
}

#[derive(PartialEq)]
struct ReadyItem {
    priority: i64,
    cost: f64,
    idx: usize,
}

impl Eq for ReadyItem {}

impl Ord for ReadyItem {
    fn cmp(&self, o: &Self) -> Ordering {
        // Higher priority first, then cheaper, then earlier in plan order.
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.cost.total_cmp(&self.cost))
            .then_with(|| o.idx.cmp(&self.idx))
    }
}

impl PartialOrd for ReadyItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// GPU slots per host: a node gets specific ids, so two nodes never share a GPU. A cluster
/// pool has no slots here: the cluster gives each job its GPUs, and the pool bounds only
/// how many of its jobs are in flight.
struct Slots {
    hosts: Vec<HostUse>,
}

struct HostUse {
    host: HostSlots,
    /// GPU ids in use (hosts we own).
    used: Vec<bool>,
    /// Jobs in flight (cluster pools).
    jobs: u32,
}

impl HostUse {
    fn serves(&self, need: &GpuNeed) -> bool {
        let h = &self.host;
        (h.gpu == "auto" || h.gpu.eq_ignore_ascii_case(&need.gpu)) && h.gpus >= need.count
    }
}

impl Slots {
    fn new(hosts: &[HostSlots]) -> Self {
        Self {
            hosts: hosts
                .iter()
                .map(|h| HostUse {
                    host: h.clone(),
                    used: vec![
                        false;
                        if h.max_jobs.is_some() {
                            0
                        } else {
                            h.gpus as usize
                        }
                    ],
                    jobs: 0,
                })
                .collect(),
        }
    }

    /// A host for `need`: any that serves it, or only a cluster pool when `local` is false
    /// (this machine's job limit is reached).
    fn acquire(
        &mut self,
        need: Option<&GpuNeed>,
        local: bool,
    ) -> Option<(Option<usize>, Vec<u32>)> {
        let Some(need) = need else {
            return local.then(|| (None, Vec::new()));
        };
        if self.hosts.is_empty() {
            return local.then(|| (None, Vec::new()));
        }
        for (hi, h) in self.hosts.iter_mut().enumerate() {
            if !h.serves(need) || (!local && h.host.max_jobs.is_none()) {
                continue;
            }
            if let Some(max) = h.host.max_jobs {
                if h.jobs < max {
                    h.jobs += 1;
                    return Some((Some(hi), Vec::new()));
                }
                continue;
            }
            let free: Vec<u32> = h
                .used
                .iter()
                .enumerate()
                .filter(|(_, u)| !**u)
                .map(|(i, _)| i as u32)
                .take(need.count as usize)
                .collect();
            if free.len() == need.count as usize {
                for i in &free {
                    h.used[*i as usize] = true;
                }
                return Some((Some(hi), free));
            }
        }
        None
    }

    /// Whether a pool could take a job now.
    fn pool_free(&self) -> bool {
        self.hosts
            .iter()
            .any(|h| h.host.max_jobs.is_some_and(|m| h.jobs < m))
    }

    fn is_pool(&self, host: Option<usize>) -> bool {
        host.and_then(|h| self.hosts.get(h))
            .is_some_and(|h| h.host.max_jobs.is_some())
    }

    fn can_ever_fit(&self, need: Option<&GpuNeed>) -> bool {
        match need {
            None => true,
            Some(_) if self.hosts.is_empty() => true,
            Some(n) => self.hosts.iter().any(|h| h.serves(n)),
        }
    }

    fn release(&mut self, host: Option<usize>, ids: &[u32]) {
        let Some(h) = host.and_then(|h| self.hosts.get_mut(h)) else {
            return;
        };
        if h.host.max_jobs.is_some() {
            h.jobs = h.jobs.saturating_sub(1);
        }
        for i in ids {
            h.used[*i as usize] = false;
        }
    }
}

/// What to do with a node the state picked.
#[derive(Debug, PartialEq)]
pub enum Pick {
    /// Run it on this host (an index into the build's hosts; none when hosts are not
    /// modelled) with these GPU ids.
    Launch {
        idx: usize,
        host: Option<usize>,
        gpu_ids: Vec<u32>,
    },
    /// No host could ever run it: it failed (and its dependents are skipped).
    Impossible {
        idx: usize,
        failure: Failure,
        skipped: Vec<usize>,
    },
}

pub struct RunState<'g> {
    graph: &'g [SchedNode],
    st: Vec<NodeState>,
    waiting_on: Vec<u32>,
    dependents: Vec<Vec<u32>>,
    ready: BinaryHeap<ReadyItem>,
    slots: Slots,
    running: usize,
}

impl<'g> RunState<'g> {
    /// `committed[i]`: node i is in the cache already.
    pub fn new(graph: &'g [SchedNode], committed: &[bool], hosts: &[HostSlots]) -> Self {
        let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); graph.len()];
        for (i, n) in graph.iter().enumerate() {
            for &inp in &n.inputs {
                dependents[inp as usize].push(i as u32);
            }
        }
        let mut s = Self {
            graph,
            st: vec![NodeState::Waiting; graph.len()],
            waiting_on: vec![0; graph.len()],
            dependents,
            ready: BinaryHeap::new(),
            slots: Slots::new(hosts),
            running: 0,
        };
        for (i, n) in graph.iter().enumerate() {
            if committed[i] {
                s.st[i] = NodeState::Done;
                continue;
            }
            s.waiting_on[i] = n.inputs.iter().filter(|x| !committed[**x as usize]).count() as u32;
            if s.waiting_on[i] == 0 {
                s.make_ready(i);
            }
        }
        s
    }

    fn make_ready(&mut self, i: usize) {
        self.st[i] = NodeState::Ready;
        self.ready.push(ReadyItem {
            priority: self.graph[i].priority,
            cost: self.graph[i].cost,
            idx: i,
        });
    }

    pub fn state(&self, i: usize) -> NodeState {
        self.st[i]
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// The nodes to start now, best first, while fewer than `jobs` run on this machine's
    /// slots: those whose GPUs are free; a node that no host could ever hold fails. Ready
    /// nodes that do not fit now stay ready. A cluster pool's jobs do not count against
    /// `jobs` (its `max-jobs` bounds them): while this machine is full, nodes a pool can
    /// take still go out.
    pub fn pick(&mut self, jobs: usize) -> Vec<Pick> {
        let mut out = Vec::new();
        let mut deferred = Vec::new();
        loop {
            let local_full = self.running >= jobs.max(1);
            if local_full && !self.slots.pool_free() {
                break;
            }
            let Some(item) = self.ready.pop() else { break };
            let n = &self.graph[item.idx];
            if !self.slots.can_ever_fit(n.gpus.as_ref()) {
                let failure = Failure::new(
                    FailureClass::Permanent,
                    format!(
                        "no host has {} × {}",
                        n.gpus.as_ref().map_or(0, |g| g.count),
                        n.gpus.as_ref().map_or("", |g| g.gpu.as_str())
                    ),
                );
                self.st[item.idx] = NodeState::Failed;
                let skipped = self.skip_dependents(item.idx);
                out.push(Pick::Impossible {
                    idx: item.idx,
                    failure,
                    skipped,
                });
                continue;
            }
            match self.slots.acquire(n.gpus.as_ref(), !local_full) {
                Some((host, gpu_ids)) => {
                    self.st[item.idx] = NodeState::Running;
                    if !self.slots.is_pool(host) {
                        self.running += 1;
                    }
                    out.push(Pick::Launch {
                        idx: item.idx,
                        host,
                        gpu_ids,
                    });
                }
                None => deferred.push(item),
            }
        }
        self.ready.extend(deferred);
        out
    }

    fn end(&mut self, i: usize, host: Option<usize>, gpu_ids: &[u32]) {
        if self.st[i] == NodeState::Running && !self.slots.is_pool(host) {
            self.running -= 1;
        }
        self.slots.release(host, gpu_ids);
    }

    /// Node `i` committed; returns the nodes that became ready.
    pub fn succeeded(&mut self, i: usize, host: Option<usize>, gpu_ids: &[u32]) -> Vec<usize> {
        self.end(i, host, gpu_ids);
        self.st[i] = NodeState::Done;
        let mut now_ready = Vec::new();
        for d in self.dependents[i].clone() {
            let d = d as usize;
            if self.st[d] != NodeState::Waiting {
                continue;
            }
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 {
                self.make_ready(d);
                now_ready.push(d);
            }
        }
        now_ready
    }

    /// Node `i` failed; returns its dependents, now skipped.
    pub fn failed(&mut self, i: usize, host: Option<usize>, gpu_ids: &[u32]) -> Vec<usize> {
        self.end(i, host, gpu_ids);
        self.st[i] = NodeState::Failed;
        self.skip_dependents(i)
    }

    /// Node `i` was stopped (drain, abort, notice): nothing committed, dependents wait.
    pub fn aborted(&mut self, i: usize, host: Option<usize>, gpu_ids: &[u32]) {
        self.end(i, host, gpu_ids);
        self.st[i] = NodeState::Aborted;
    }

    fn skip_dependents(&mut self, i: usize) -> Vec<usize> {
        let mut skipped = Vec::new();
        let mut stack: Vec<usize> = self.dependents[i].iter().map(|d| *d as usize).collect();
        while let Some(d) = stack.pop() {
            if matches!(self.st[d], NodeState::Waiting | NodeState::Ready) {
                self.st[d] = NodeState::Skipped;
                skipped.push(d);
                stack.extend(self.dependents[d].iter().map(|x| *x as usize));
            }
        }
        skipped
    }

    /// Nodes that neither ran nor were skipped (a stopped build's remainder).
    pub fn pending(&self) -> usize {
        self.st
            .iter()
            .filter(|s| matches!(s, NodeState::Waiting | NodeState::Ready))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bench_node::{NodeKind, RuntimeKind};

    fn node(inputs: &[u32], priority: i64, gpus: Option<(&str, u32)>) -> SchedNode {
        SchedNode {
            key: String::new(),
            kind: NodeKind::Bench,
            inputs: inputs.to_vec(),
            priority,
            cost: 0.0,
            gpus: gpus.map(|(gpu, count)| GpuNeed {
                gpu: gpu.into(),
                count,
            }),
        }
    }

    fn host(gpu: &str, gpus: u32) -> HostSlots {
        HostSlots {
            name: gpu.to_lowercase(),
            gpu: gpu.into(),
            gpus,
            runtime: RuntimeKind::Sim,
            address: None,
            tls_dir: None,
            max_jobs: None,
        }
    }

    fn launched(picks: &[Pick]) -> Vec<usize> {
        picks
            .iter()
            .filter_map(|p| match p {
                Pick::Launch { idx, .. } => Some(*idx),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn committed_nodes_are_done_and_their_dependents_ready() {
        // 0 → 1 → 2, 0 committed.
        let g = [node(&[], 0, None), node(&[0], 0, None), node(&[1], 0, None)];
        let mut s = RunState::new(&g, &[true, false, false], &[]);
        assert_eq!(s.state(0), NodeState::Done);
        assert_eq!(launched(&s.pick(4)), vec![1]);
        assert_eq!(s.state(2), NodeState::Waiting);
        assert_eq!(s.succeeded(1, None, &[]), vec![2]);
        assert_eq!(launched(&s.pick(4)), vec![2]);
        s.succeeded(2, None, &[]);
        assert_eq!((s.pending(), s.running()), (0, 0));
    }

    #[test]
    fn higher_priority_first_within_the_job_limit() {
        let g = [node(&[], 1, None), node(&[], 5, None), node(&[], 3, None)];
        let mut s = RunState::new(&g, &[false; 3], &[]);
        assert_eq!(launched(&s.pick(2)), vec![1, 2]);
        assert!(s.pick(2).is_empty(), "two running: the limit");
        s.succeeded(1, None, &[]);
        assert_eq!(launched(&s.pick(2)), vec![0]);
    }

    #[test]
    fn a_pool_bounds_its_jobs_by_max_jobs_not_by_this_machines_job_limit() {
        // Four GPU nodes and two light ones; one local job at a time, a pool of 3 jobs
        // with 8 GPUs per node (the cluster gives the ids).
        let g = [
            node(&[], 5, Some(("H100", 1))),
            node(&[], 5, Some(("H100", 8))),
            node(&[], 5, Some(("H100", 2))),
            node(&[], 5, Some(("H100", 9))),
            node(&[], 5, Some(("H100", 1))),
            node(&[], 0, None),
            node(&[], 0, None),
        ];
        let mut pool = host("H100", 8);
        pool.max_jobs = Some(3);
        let mut s = RunState::new(&g, &[false; 7], &[pool]);
        let picks = s.pick(1);
        let mut ran = launched(&picks);
        ran.sort();
        assert_eq!(ran, vec![0, 1, 2, 5], "three pool jobs and one local node");
        assert!(
            picks
                .iter()
                .all(|p| !matches!(p, Pick::Launch { gpu_ids, .. } if !gpu_ids.is_empty())),
            "a pool's GPUs are the cluster's to give"
        );
        assert!(
            picks
                .iter()
                .any(|p| matches!(p, Pick::Impossible { idx: 3, .. })),
            "9 GPUs exceed the pool's 8 per node"
        );
        assert_eq!(s.running(), 1, "pool jobs do not count against --jobs");
        s.succeeded(1, Some(0), &[]);
        assert_eq!(
            launched(&s.pick(1)),
            vec![4],
            "a pool job ended: the next goes out"
        );
        s.succeeded(5, None, &[]);
        assert_eq!(launched(&s.pick(1)), vec![6]);
    }

    #[test]
    fn gpus_are_never_shared_and_freed_when_a_node_ends() {
        let g = [
            node(&[], 0, Some(("H100", 2))),
            node(&[], 0, Some(("H100", 2))),
            node(&[], 0, Some(("H100", 1))),
        ];
        let hosts = [host("H100", 3)];
        let mut s = RunState::new(&g, &[false; 3], &hosts);
        let picks = s.pick(8);
        assert_eq!(
            picks,
            vec![
                Pick::Launch {
                    idx: 0,
                    host: Some(0),
                    gpu_ids: vec![0, 1]
                },
                Pick::Launch {
                    idx: 2,
                    host: Some(0),
                    gpu_ids: vec![2]
                },
            ],
            "node 1 waits for two free GPUs"
        );
        s.succeeded(0, Some(0), &[0, 1]);
        assert_eq!(
            s.pick(8),
            vec![Pick::Launch {
                idx: 1,
                host: Some(0),
                gpu_ids: vec![0, 1]
            }]
        );
    }

    #[test]
    fn a_node_no_host_can_hold_fails_and_its_dependents_are_skipped() {
        let g = [
            node(&[], 0, Some(("A100", 8))),
            node(&[0], 0, None),
            node(&[1], 0, None),
        ];
        let mut s = RunState::new(&g, &[false; 3], &[host("A100", 4)]);
        match &s.pick(8)[..] {
            [
                Pick::Impossible {
                    idx: 0,
                    failure,
                    skipped,
                },
            ] => {
                assert_eq!(failure.message, "no host has 8 × A100");
                assert_eq!(skipped, &vec![1, 2]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_failure_skips_everything_downstream_but_not_its_siblings() {
        // 0 → {1, 2}; 1 → 3
        let g = [
            node(&[], 0, None),
            node(&[0], 0, None),
            node(&[0], 0, None),
            node(&[1], 0, None),
        ];
        let mut s = RunState::new(&g, &[false; 4], &[]);
        s.pick(4);
        s.succeeded(0, None, &[]);
        assert_eq!(launched(&s.pick(1)), vec![1]);
        assert_eq!(s.failed(1, None, &[]), vec![3]);
        assert_eq!(launched(&s.pick(1)), vec![2]);
    }

    #[test]
    fn an_aborted_node_leaves_its_dependents_pending_for_the_next_build() {
        let g = [node(&[], 0, None), node(&[0], 0, None)];
        let mut s = RunState::new(&g, &[false; 2], &[]);
        s.pick(1);
        s.aborted(0, None, &[]);
        assert_eq!(s.state(0), NodeState::Aborted);
        assert_eq!((s.pending(), s.running()), (1, 0));
    }
}
