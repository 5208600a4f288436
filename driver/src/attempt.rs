//! The far side of an attempt (`bench exec-node SPEC`): what an executor starts, on this
//! machine or another, to run one node from its job spec.

/// Runs the job at `spec` with the node actions; returns the exit status that tells the
/// executor how the attempt ended (see [`bench_node::run_job`]).
pub fn exec_node(spec: &std::path::Path) -> u8 {
    // Dies with the build that started it; not at all if that build is gone.
    if !bench_exec::executors::local::die_with_parent() {
        return 1;
    }
    // A stopped attempt removes its engine containers before it exits.
    bench_docker::exit_cleanly_on_signals();
    bench_node::run_job(spec, bench_actions::action_for).clamp(0, 255) as u8
}
