//! The framework costs more than the loop: what an HTTP framework adds to the event loop it
//! runs on, per request and per idle connection.
//!
//! Each pair is one loop twice: bare (a raw protocol parsing with the peers' small shared core)
//! and under its framework (which parses, routes and frames itself). The loop, the language
//! and the answers' bytes are the same; the framework is what differs.

use super::*;
use crate::claims::FRAMEWORK_OVERHEAD;
use crate::claims::evidence::cpu_per_request_estimate;

/// A loop, bare and under a framework.
#[derive(Clone, Copy)]
struct Pair {
    /// The raw peer on the loop.
    bare: &'static str,
    /// The framework on the same loop.
    framework: &'static str,
    /// What is shared, in words.
    loop_name: &'static str,
}

/// Every pair, the talk's three first (Twisted, asyncio, uvicorn).
const PAIRS: [Pair; 5] = [
    Pair {
        bare: "twisted",
        framework: "twisted-web",
        loop_name: "Twisted's epoll reactor",
    },
    Pair {
        bare: "asyncio",
        framework: "aiohttp",
        loop_name: "asyncio's standard loop",
    },
    Pair {
        bare: "uvicorn",
        framework: "starlette",
        loop_name: "uvicorn on uvloop (a bare ASGI app against Starlette)",
    },
    Pair {
        bare: "tornado",
        framework: "tornado-web",
        loop_name: "Tornado's IOLoop",
    },
    Pair {
        bare: "gevent",
        framework: "gevent-wsgi",
        loop_name: "gevent's hub (libev)",
    },
];

/// The peers that measure every pair, as `--peers` takes them.
const PEERS: &str =
    "twisted,twisted-web,asyncio,aiohttp,uvicorn,starlette,tornado,tornado-web,gevent,gevent-wsgi";

/// One pair's hello figures at the highest level both answered with a CPU figure.
struct Measured {
    pair: Pair,
    level: u64,
    bare: Estimate,
    framework: Estimate,
}

impl Measured {
    /// The framework's share of a request's CPU: (framework − bare) ÷ framework.
    fn share(&self) -> f64 {
        (self.framework.value - self.bare.value) / self.framework.value
    }
}

fn measure(steps: &[&StepResult], pair: Pair) -> Option<Measured> {
    let bare = ok_steps(steps, pair.bare);
    let framework = ok_steps(steps, pair.framework);
    bare.iter()
        .filter_map(|b| {
            let f = framework.iter().find(|f| f.level == b.level)?;
            Some(Measured {
                pair,
                level: b.level,
                bare: cpu_per_request_estimate(b)?,
                framework: cpu_per_request_estimate(f)?,
            })
        })
        .next_back()
}

fn us(e: &Estimate) -> String {
    format::estimate(e, format::micros)
}

fn pair_sentence(m: &Measured) -> String {
    format!(
        "On {loop_name}, at {level} connections: {framework} spent {f} of CPU per /hello against \
         {bare}'s {b} ({change}); the framework is {share:.0} % of a request's cost.",
        loop_name = m.pair.loop_name,
        level = m.level,
        framework = m.pair.framework,
        bare = m.pair.bare,
        f = us(&m.framework),
        b = us(&m.bare),
        change = format::significant_change(&m.framework, &m.bare, format::Better::Lower),
        share = m.share() * 100.0,
    )
}

/// Bytes per idle connection of both sides of each measured pair that ran the idle workload.
fn idle_sentence(run: &StoredRun, pairs: &[Pair]) -> Option<String> {
    let owned = steps_of(run, "idle");
    let steps = refs(&owned);
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|pair| {
            let slope = |label| idle_slope_estimate(&ok_steps(&steps, label)).map(|(user, _)| user);
            let (bare, framework) = (slope(pair.bare)?, slope(pair.framework)?);
            Some(format!(
                "{} {} against {} {}",
                pair.framework,
                format::estimate(&framework, format::bytes),
                pair.bare,
                format::estimate(&bare, format::bytes)
            ))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "Bytes per idle connection (the slope of memory over open connections), framework \
             against bare loop: {}.",
            parts.join("; ")
        )
    })
}

/// The other deployments, each beside the bare app it serves where that ran.
fn others_sentence(steps: &[&StepResult]) -> Option<String> {
    let parts: Vec<String> = ["gunicorn-uvicorn", "granian"]
        .into_iter()
        .filter_map(|label| {
            let top = top_step(steps, label)?;
            let cpu = cpu_per_request_estimate(top)?;
            Some(format!("{label} {} at {} connections", us(&cpu), top.level))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "The same bare ASGI app deployed otherwise (CPU per /hello): {}.",
            parts.join("; ")
        )
    })
}

/// Judges whether each framework costs more CPU per request than its loop bare: supported
/// when every measured pair's framework is past [`FRAMEWORK_OVERHEAD`] more than its bare loop,
/// beyond both intervals; not supported when one pair's whole interval falls short.
pub(in crate::claims) fn framework_cost(run: &StoredRun) -> Finding {
    let Some(owned) = present_steps(run, "hello") else {
        return Finding::no_data(format!(
            "No run has the hello workload yet: run `workbench peers install`, then \
             `workbench run --peers {PEERS} --workloads hello,idle`."
        ));
    };
    let steps = refs(&owned);
    let measured: Vec<Measured> = PAIRS.iter().filter_map(|&p| measure(&steps, p)).collect();
    let mut sentences: Vec<String> = measured.iter().map(pair_sentence).collect();
    let pairs: Vec<Pair> = measured.iter().map(|m| m.pair).collect();
    sentences.extend(idle_sentence(run, &pairs));
    sentences.extend(others_sentence(&steps));
    let mut charts = vec![charts::cost_per_request(&run.steps, "hello")];
    if run.steps.iter().any(|s| s.workload == "idle") {
        charts.push(charts::bytes_per_connection_bars(&run.steps, "idle"));
    }
    if measured.is_empty() {
        return Finding::missing(
            &format!("selector --peers {PEERS}"),
            "hello,idle",
            "loop measured both bare and under its framework (twisted and twisted-web, asyncio \
             and aiohttp, uvicorn and starlette)",
        )
        .with_sentences(sentences, charts);
    }
    let factor = 1.0 + FRAMEWORK_OVERHEAD;
    let pct = FRAMEWORK_OVERHEAD * 100.0;
    let verdicts: Vec<(&Measured, Option<bool>)> = measured
        .iter()
        .map(|m| (m, at_least(&m.framework, factor, &m.bare)))
        .collect();
    let headline = measured.first().map(|m| {
        format!(
            "{} costs {} CPU per request against its bare loop {}: the framework is {:.0} % of \
             a request.",
            m.pair.framework,
            format::change(m.framework.value, m.bare.value, format::Better::Neither),
            m.pair.bare,
            m.share() * 100.0
        )
    });
    let outcome = if let Some((m, _)) = verdicts.iter().find(|(_, v)| *v == Some(false)) {
        Outcome::NotSupported(format!(
            "{} cost {} of CPU per request and {} bare {}: less than {pct:.0} % more, beyond \
             both intervals, so on {} the framework does not cost more than the loop.",
            m.pair.framework,
            us(&m.framework),
            m.pair.bare,
            us(&m.bare),
            m.pair.loop_name
        ))
    } else if verdicts.iter().all(|(_, v)| *v == Some(true)) {
        Outcome::Supported
    } else {
        let unclear: Vec<String> = verdicts
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(m, _)| format!("{} against {}", m.pair.framework, m.pair.bare))
            .collect();
        Outcome::Inconclusive(format!(
            "For {}, the intervals reach across {pct:.0} % more CPU per request (or a figure has \
             no interval): longer steps (`--step-secs`) or `--repeat 3` narrow them.",
            unclear.join(", ")
        ))
    };
    Finding::judged(outcome, sentences, charts).with_headline(headline)
}
