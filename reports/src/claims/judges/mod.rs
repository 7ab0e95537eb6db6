//! The judges, one per lesson. Each reads one workload's steps of one run and returns a
//! [`Finding`]; the verdict rules are in the [module docs](super).

mod beyond;
mod database;
mod framework;
mod gil;
mod idle;
mod interop;
mod parallel;
mod race;
mod selectors;
mod waiting;

pub(super) use beyond::{COMMAND as BEYOND_COMMAND, loop_per_core, readiness_completion};
pub(super) use database::db_pool;
pub(super) use framework::framework_cost;
pub(super) use gil::{free_threaded_python, gil};
pub use idle::{ConnectionCost, IdleCosts, idle_costs};
pub(super) use idle::{SWEEP_ENGINES, selector_thousands, stack_reserved, thread_memory};
pub(super) use interop::one_protocol_many_loops;
pub(super) use parallel::cpu_parallelism;
pub(super) use race::race_conditions;
pub(super) use selectors::selector_functions;
pub(super) use waiting::{big_response, db_wait, slowloris};

use wb_model::engines::{Family, reference};
use wb_model::results::StepResult;
use wb_model::spread::Estimate;

use super::evidence::{
    StackSize, cores_estimate, idle_slope_estimate, max_connections, no_run_of, ok_steps,
    p99_estimate, paired_slope, plural, present_steps, refs, stack_size, stack_sweep, steps_of,
    throughput_estimate, top_step, workers_of,
};
use super::{
    CEILING_SLACK, DOWNLOAD_SLACK, Finding, HOSTAGE_FACTOR, ONE_CORE, ONE_LOOP_THREADS,
    OVERLAP_ADVANTAGE, Outcome, RESIDENT_FRACTION, SMALL_FRACTION, STACK_RESERVE_SLACK, THOUSANDS,
    THREAD_COST_RATIO, Verdict,
};
use crate::charts;
use crate::format;
use crate::store::StoredRun;

/// `figure (± half-width)`, or the figure alone when it has no interval.
pub(super) fn with_spread(e: &Estimate, show: impl Fn(f64) -> String) -> String {
    if e.has_interval() {
        format!("{} (± {})", show(e.value), show(e.half_width()))
    } else {
        show(e.value)
    }
}

/// Compares `a ≥ factor × b` with intervals: supported when the whole of `a` is past the
/// factor times the whole of `b`, refuted when the whole of `a` falls short, else `None`. A
/// figure without an interval gives `None`: one reading is no evidence either way.
pub(super) fn at_least(a: &Estimate, factor: f64, b: &Estimate) -> Option<bool> {
    if !a.has_interval() || !b.has_interval() {
        None
    } else if a.low >= factor * b.high {
        Some(true)
    } else if a.high < factor * b.low {
        Some(false)
    } else {
        None
    }
}
