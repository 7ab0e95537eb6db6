//! The method section: how every figure of the report was measured, so that a reader can
//! judge it — and repeat it. Where the run made a choice (pinning, calibration, loop type),
//! the text says which.

use wb_model::figures::{CLIENT_SATURATED_CORES, LITTLES_LAW_TOLERANCE, SAMPLE_INTERVAL};
use wb_model::spec::effective_placement;
use wb_model::spec::{Mode, Placement, Route};
use wb_model::spread::Method;

use super::doc::{Block, Inline, Section};
use crate::store::StoredRun;

/// The method, with this run's particulars.
pub(crate) fn section(run: &StoredRun) -> Section {
    let mut section = Section::new("method", "Method");
    let para = |text: &str| Block::Para(Inline::marked(text));
    let interval_ms = SAMPLE_INTERVAL.as_millis();

    section
        .blocks
        .push(Block::Minor("The same work, each engine alone".into()));
    section.blocks.push(para(
        "Every engine gets its answers from one sans-I/O protocol core, so the bytes are the \
         same; an engine only decides how to move them, how to wait and where to compute. Each \
         engine runs as its own process (`workbench engine <name>`), started afresh for each \
         workload, so what is read from its process tree is its alone and one workload's memory \
         never shows up in the next. The load generator is a separate process on the same \
         machine. Every answer is checked — status, length, body and the `X-Work-Digest` of \
         the CPU work — so no engine can skip work unnoticed; a wrong answer counts as an error.",
    ));

    section.blocks.push(Block::Minor("Memory".into()));
    section.blocks.push(para(&format!(
        "Memory is **PSS summed over the engine's process tree** (the engine and all its \
         descendants, from `/proc/<pid>/smaps_rollup`), read every {interval_ms} ms; tables \
         show the largest reading of the window. PSS divides each shared page among the \
         processes that map it. That matters for the prefork pool: its workers share the \
         parent's pages copy-on-write, and RSS, which counts a shared page once per process, \
         would charge them several times over. RSS is shown beside PSS for that reason. \
         **Kernel memory is shown apart**: TCP buffers (`/proc/net/sockstat`), unreclaimable \
         slab (sockets, epoll items) and kernel stacks (`/proc/meminfo`) are system-wide, so \
         they are never added to an engine's figure: every model pays socket buffers, and \
         a model with a thread per connection pays a kernel stack for each thread as well."
    )));
    section.blocks.push(para(
        "**Bytes per idle connection** is the least-squares slope of PSS over the connections \
         actually held, across the levels of an idle workload — not one reading divided by \
         one count, which would charge the engine's base memory to its connections. The \
         intercept is the engine's base memory; the kernel's slope is fitted the same way and \
         reported beside it.",
    ));

    section.blocks.push(Block::Minor("CPU".into()));
    section.blocks.push(para(&format!(
        "**Cores = CPU time ÷ wall time**: user plus system time of the engine's process tree \
         over the measured window, divided by the window's length; 1.0 is one core busy the \
         whole time. The load generator's own CPU is measured the same way and shown as \
         **client cores**, because it shares this machine ({} cores) with the engine: a step \
         where it used over {CLIENT_SATURATED_CORES} of a core is flagged **client saturated**, \
         since the client, not the engine, may then be the bottleneck. Context switches are \
         summed over every thread of the tree (the kernel counts them per thread).",
        run.summary.machine.cores
    )));

    section
        .blocks
        .push(Block::Minor("Latency: closed and open loop".into()));
    let closed: Vec<&str> = names(run, |m| m == Mode::Closed);
    let open: Vec<&str> = names(run, |m| m == Mode::Open);
    section.blocks.push(para(&format!(
        "Latency comes from HDR histograms (microsecond resolution), reported from p50 to \
         p99.9 and the maximum. In a **closed loop**{} each of N connections sends its next \
         request when the last answer arrives, and latency runs from send to answer. A closed \
         loop slows down with the server — a stalled server simply receives fewer requests — \
         so its latency understates what users arriving at their own pace would see \
         (**coordinated omission**). As a check, a closed-loop step is flagged **Little's law \
         off** when connections and throughput × mean latency differ by over {:.0}%.",
        in_list(&closed),
        LITTLES_LAW_TOLERANCE * 100.0
    )));
    section.blocks.push(para(&format!(
        "In an **open loop**{} requests arrive at a constant rate whatever the server does, and \
         latency is measured from each request's **intended** send time, so a server that falls \
         behind cannot hide its queue (coordinated omission corrected). The uncorrected figure, \
         from the actual send time, is shown beside it: the gap is the queueing a naive \
         benchmark would not report.",
        in_list(&open)
    )));
    let slow: Vec<&str> = names(run, |m| matches!(m, Mode::SlowReaders | Mode::SlowSenders));
    if !slow.is_empty() {
        section.blocks.push(para(&format!(
            "The slow-client workloads ({}) measure the latency of a probe client's `/hello` \
             requests (slow senders) or of a whole download (slow readers) while slow clients \
             hold their connections.",
            slow.join(", ")
        )));
    }

    section
        .blocks
        .push(Block::Minor("Sampling and warm-up".into()));
    section.blocks.push(para(&format!(
        "A sampler reads the engine's process tree and the kernel from `/proc` every \
         {interval_ms} ms during each step, and once more at its end. Each level is warmed up \
         first (connections opened, caches warm); samples taken during the warm-up are left \
         out of means and rates, and the load generator's figures cover the measured window \
         only."
    )));

    section
        .blocks
        .push(Block::Minor("Calibration of CPU work".into()));
    let c = &run.calibration;
    let cpu_workloads: Vec<String> = run
        .config
        .workloads
        .iter()
        .filter(|w| w.request.route == Route::Work && w.request.cpu_us > 0)
        .map(|w| {
            format!(
                "{} asks for {} µs, sent as `cpu_rounds={}`",
                w.name,
                w.request.cpu_us,
                w.request.cpu_rounds(c.rounds_per_us)
            )
        })
        .collect();
    section.blocks.push(para(&format!(
        "Workloads give CPU work in microseconds of this machine's CPU (`cpu_us`); the server \
         is sent rounds of iterated SHA-256. At the start of the run the workbench timed {} \
         rounds in {:.0} ms: **{:.2} rounds per µs** on one core, which turns `cpu_us` into \
         `cpu_rounds`{}. Runs on different machines therefore ask for the same time, not the \
         same rounds.",
        c.rounds_timed,
        c.secs * 1000.0,
        c.rounds_per_us,
        if cpu_workloads.is_empty() {
            " (no workload of this run asks for CPU work)".to_string()
        } else {
            format!(": {}", cpu_workloads.join("; "))
        }
    )));

    section.blocks.push(Block::Minor("Placement".into()));
    let cores = run.summary.machine.cores as usize;
    let placed: Vec<String> = run
        .config
        .workloads
        .iter()
        .map(|w| {
            let p = effective_placement(&run.config, w);
            let how = match p.cpus(cores) {
                Some((engine, client)) => format!(
                    "split (engine on CPU {}, load generator on CPU {})",
                    cpu_list(&engine),
                    cpu_list(&client)
                ),
                None if p == Placement::Split => {
                    "shared (split asked, but this machine has one CPU)".to_string()
                }
                None => "shared (both on every CPU)".to_string(),
            };
            format!("{}: {how}", w.name)
        })
        .collect();
    section.blocks.push(para(&format!(
        "On one machine the engine and the load generator compete for the same cores. A \
         workload says where they run: **split** gives the engine one half of the {cores} CPUs \
         and the load generator the other, so req/s is not the client's share of a core; \
         **shared** lets both use every CPU, which the cpu workload needs to show \
         parallelism. `--placement split|shared` overrides it for a whole run. Here: {}.",
        placed.join("; ")
    )));

    section.blocks.push(Block::Minor("Spread".into()));
    let repeat = run.config.repeat.max(1);
    let method = if repeat >= 3 {
        Method::Repeats
    } else {
        Method::Windows
    };
    section.blocks.push(para(&format!(
        "Every headline figure is a median with a 95 % confidence interval. This run ran each \
         step {repeat} {}, so the intervals come from the **{}**{}. Bytes per idle connection \
         is a least-squares slope, whose interval comes from its residuals. Two figures are \
         called different only when their intervals do not overlap; a verdict whose figures \
         overlap the threshold is *inconclusive*. Values outside Tukey's fences (1.5 \
         interquartile ranges beyond the quartiles) are noted as outliers, never dropped.",
        if repeat == 1 { "time" } else { "times" },
        method.describe(),
        if repeat >= 3 {
            ", each repeat in a fresh engine process, interleaved across engines so that drift \
             in the machine hits every engine alike"
        } else {
            " (each step's measured window is cut into 200 ms windows, grouped into up to ten \
             batches)"
        }
    )));
    section
}

/// `0` or `0-3`.
fn cpu_list(cpus: &std::ops::Range<usize>) -> String {
    if cpus.len() <= 1 {
        cpus.start.to_string()
    } else {
        format!("{}-{}", cpus.start, cpus.end - 1)
    }
}

/// The names of the run's workloads whose mode passes `keep`.
fn names(run: &StoredRun, keep: impl Fn(Mode) -> bool) -> Vec<&str> {
    run.config
        .workloads
        .iter()
        .filter(|w| keep(w.mode))
        .map(|w| w.name.as_str())
        .collect()
}

/// ` (here: hello, cpu)`, or nothing.
fn in_list(names: &[&str]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (here: {})", names.join(", "))
    }
}
