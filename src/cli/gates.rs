//! `--fail-if` (on `run`, `load` and `show`): thresholds a CI job can gate on.
//!
//! `workbench load --fail-if` and `workbench show --fail-if` take the same gates. A gate
//! reads `ENGINE.WORKLOAD.FIGURE OP NUMBER`, for example `selector.hello.p99_us > 2000`:
//! the run *fails the gate* (exit status 3) when the figure of any step of that engine and
//! workload, at any level, makes the comparison true. `*` stands for any engine or any
//! workload (`*.hello.errors > 0`), and a bare `FIGURE OP NUMBER` stands for `*.*.FIGURE`.
//! The operators are `>`, `>=`, `<` and `<=`, and the number is in the figure's own unit
//! (µs for `*_us`, bytes for `*_bytes`, requests per second for `throughput_rps`), as under
//! each step's `figures` in `workbench show --json`. The figures are the rows of the table of figures, [`wb_model::table::TABLE`].
//!
//! A gate is judged on the steps the summary shows: repeats of a step (`--repeat N`) count as
//! one, their median. Of the matching steps, the *worst* one decides: for `>` and `>=` the
//! largest value, for `<` and `<=` the smallest. Failed steps and steps a peer could not serve
//! are left out (the run already says they failed); a gate with no measured step to judge
//! says "no data" and does not fail the run. The engine and workload names are checked
//! against the run before it starts, so a misspelt name is an error at once rather than a gate
//! that silently never matches.
//!
//! Parsing ([`parse`]) and judging ([`evaluate`]) are pure; [`render`] is the block under the
//! run's summary.

use std::fmt;

use wb_model::results::{RunConfig, StepResult};
use wb_model::table::TABLE;

/// The exit status of a run that crossed a gate (1 is any other failure, 130 an interrupt,
/// which wins: an interrupted run's gates judge only part of it).
pub const EXIT_CROSSED: u8 = 3;

/// `--fail-if`'s long help: the grammar, then every figure of the table of figures
/// ([`wb_model::table::TABLE`]) with its unit.
pub fn help() -> String {
    let figures: Vec<String> = TABLE
        .iter()
        .map(|f| format!("{} ({})", f.key, f.unit.name()))
        .collect();
    format!(
        "Fail the run (exit status 3) when a figure crosses a threshold: \
ENGINE.WORKLOAD.FIGURE OP NUMBER, e.g. 'selector.hello.p99_us > 2000'. `*` matches any \
engine or workload; OP is one of > >= < <=; NUMBER is in the figure's unit. The worst step \
at any level decides. Repeatable. Figures: {}.",
        figures.join(", ")
    )
}

/// A figure of a step that a gate can test: any row of the table of figures, by its key (the
/// keys of each step's `figures` in `workbench show --json`).
pub type Figure = &'static wb_model::table::Figure;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Op {
    /// Whether `value OP limit` holds, i.e. the gate is crossed.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
        }
    }

    /// Whether a larger value is the worse one (`>` and `>=`).
    fn upward(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// An engine or workload name, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `*`: any.
    Any,
    /// This name exactly.
    Name(String),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Name(n) => n == name,
        }
    }
}

/// One `--fail-if` threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The engine label, or any.
    pub engine: Pattern,
    /// The workload name, or any.
    pub workload: Pattern,
    /// What is compared.
    pub figure: Figure,
    /// How.
    pub op: Op,
    /// With what, in the figure's unit.
    pub limit: f64,
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |p: &Pattern| match p {
            Pattern::Any => "*".to_string(),
            Pattern::Name(n) => n.clone(),
        };
        write!(
            f,
            "{}.{}.{} {} {}",
            name(&self.engine),
            name(&self.workload),
            self.figure.key,
            self.op.symbol(),
            number(self.limit)
        )
    }
}

/// Parses `ENGINE.WORKLOAD.FIGURE OP NUMBER`; the error names the part that is wrong and
/// what is allowed there (clap puts it after the flag and the text given).
pub fn parse(text: &str) -> Result<Gate, String> {
    // The first operator character splits the gate; `>=` and `<=` take two.
    let Some(at) = text.find(['>', '<', '=', '!']) else {
        return Err(
            "no comparison: write ENGINE.WORKLOAD.FIGURE OP NUMBER with OP one of > >= < <=, \
             e.g. 'selector.hello.p99_us > 2000'"
                .into(),
        );
    };
    let (left, rest) = text.split_at(at);
    let (op, right) = if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else {
        let shown: String = rest.chars().take_while(|c| "<>=!".contains(*c)).collect();
        return Err(format!(
            "unknown comparison {shown:?}: use one of > >= < <="
        ));
    };
    let left = left.trim();
    // A bare FIGURE is any engine's, any workload's: `load --fail-if 'p99_us > 2000'`,
    // where the one server's label (HOST:PORT) has dots of its own.
    let left = if left.contains('.') {
        left.to_string()
    } else {
        format!("*.*.{left}")
    };
    let left = left.as_str();
    let mut parts = left.rsplitn(3, '.');
    let (Some(figure), Some(workload), Some(engine)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "{left:?} is not ENGINE.WORKLOAD.FIGURE (e.g. selector.hello.p99_us, *.hello.errors)"
        ));
    };
    let pattern = |part: &str, what: &str| -> Result<Pattern, String> {
        match part.trim() {
            "" => Err(format!(
                "{left:?} has no {what}: write a name or * (e.g. selector.hello.p99_us)"
            )),
            "*" => Ok(Pattern::Any),
            name if name.contains('*') => Err(format!(
                "{what} {name:?}: * stands alone for any {what}; partial patterns are not supported"
            )),
            name => Ok(Pattern::Name(name.to_string())),
        }
    };
    let engine = pattern(engine, "engine")?;
    let workload = pattern(workload, "workload")?;
    let figure = wb_model::table::find(figure.trim()).ok_or_else(|| {
        format!(
            "unknown figure {:?}; figures: {}",
            figure.trim(),
            wb_model::table::keys()
        )
    })?;
    let right = right.trim();
    let limit: f64 = right
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| {
            format!(
                "{right:?} is not a number: write a plain number in the figure's unit \
                 (µs for *_us, bytes for *_bytes, req/s for throughput_rps)"
            )
        })?;
    Ok(Gate {
        engine,
        workload,
        figure,
        op,
        limit,
    })
}

/// Checks that every named engine and workload takes part in the run, so that a misspelt
/// name is refused before measuring rather than never matching.
pub fn check_against(gates: &[Gate], config: &RunConfig) -> Result<(), String> {
    let engines: Vec<&str> = config.engines.iter().map(|e| e.label.as_str()).collect();
    let workloads: Vec<&str> = config.workloads.iter().map(|w| w.name.as_str()).collect();
    for gate in gates {
        for (pattern, what, names) in [
            (&gate.engine, "engine", &engines),
            (&gate.workload, "workload", &workloads),
        ] {
            if let Pattern::Name(name) = pattern
                && !names.contains(&name.as_str())
            {
                return Err(format!(
                    "--fail-if '{gate}': {what} {name:?} is not in this run; its {what}s are {} (or *)",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The step that decided a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Worst {
    /// Its engine.
    pub engine: String,
    /// Its workload.
    pub workload: String,
    /// Its level.
    pub level: u64,
    /// The figure's value there.
    pub value: f64,
}

/// What a gate found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No matching step crossed it; the worst one is shown.
    Held(Worst),
    /// `crossed` of `of` matching steps crossed it; the worst one is shown.
    Crossed {
        /// The worst step.
        worst: Worst,
        /// How many steps crossed.
        crossed: usize,
        /// How many steps were judged.
        of: usize,
    },
    /// No measured step matches (all failed, not supported, or without the figure).
    NoData,
}

/// A gate and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The gate.
    pub gate: Gate,
    /// What it found.
    pub outcome: Outcome,
}

impl Verdict {
    /// Whether the gate was crossed.
    pub fn crossed(&self) -> bool {
        matches!(self.outcome, Outcome::Crossed { .. })
    }
}

/// Judges every gate on a run's steps (repeats combined, as the summary shows them).
pub fn evaluate(gates: &[Gate], steps: &[StepResult]) -> Vec<Verdict> {
    let steps = wb_model::spread::combined(steps);
    gates
        .iter()
        .map(|gate| Verdict {
            gate: gate.clone(),
            outcome: judge(gate, &steps),
        })
        .collect()
}

fn judge(gate: &Gate, steps: &[StepResult]) -> Outcome {
    let judged: Vec<Worst> = steps
        .iter()
        .filter(|s| s.failure.is_none() && s.flags.not_supported.is_none())
        .filter(|s| gate.engine.matches(&s.engine) && gate.workload.matches(&s.workload))
        .filter_map(|s| {
            Some(Worst {
                engine: s.engine.clone(),
                workload: s.workload.clone(),
                level: s.level,
                value: gate.figure.of(s)?,
            })
        })
        .collect();
    let worst = judged.iter().max_by(|a, b| {
        let order = a.value.total_cmp(&b.value);
        if gate.op.upward() {
            order
        } else {
            order.reverse()
        }
    });
    let Some(worst) = worst.cloned() else {
        return Outcome::NoData;
    };
    let crossed = judged
        .iter()
        .filter(|w| gate.op.holds(w.value, gate.limit))
        .count();
    if crossed > 0 {
        Outcome::Crossed {
            worst,
            crossed,
            of: judged.len(),
        }
    } else {
        Outcome::Held(worst)
    }
}

/// A figure's value as a plain number: whole numbers without decimals, others to three.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The block under the run's summary: one line per gate with its verdict.
pub fn render(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let width = verdicts
        .iter()
        .map(|v| v.gate.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("\ngates (--fail-if; exit status 3 when one is crossed)\n");
    for v in verdicts {
        let gate = v.gate.to_string();
        let at = |w: &Worst| {
            format!(
                "{} {} at {}: {}",
                w.engine,
                w.workload,
                w.level,
                number(w.value)
            )
        };
        let line = match &v.outcome {
            Outcome::Held(w) => format!("held     {gate:<width$}  worst: {}", at(w)),
            Outcome::Crossed { worst, crossed, of } => format!(
                "CROSSED  {gate:<width$}  {}; {crossed} of {of} steps",
                at(worst)
            ),
            Outcome::NoData => format!("no data  {gate:<width$}  no measured step has this figure"),
        };
        out.push_str("  ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_model::results::{EngineSpec, LoadReport, RunConfig};
    use wb_model::spec::{Mode, Workload};

    fn step(engine: &str, workload: &str, level: u64, p99: u64, rps: f64) -> StepResult {
        let mut load = LoadReport::default();
        load.latency.count = 100;
        load.latency.p99_us = p99;
        StepResult {
            engine: engine.into(),
            workload: workload.into(),
            mode: Mode::Closed,
            level,
            load,
            samples: Vec::new(),
            derived: wb_model::results::Derived {
                throughput_rps: rps,
                ..Default::default()
            },
            flags: Default::default(),
            failure: None,
            estimates: Default::default(),
            repeat: 0,
            facts: None,
            syscalls: None,
        }
    }

    #[test]
    fn gates_parse_with_any_spacing_and_every_operator() {
        let g = parse("selector.hello.p99_us > 2000").unwrap();
        assert_eq!(g.engine, Pattern::Name("selector".into()));
        assert_eq!(g.workload, Pattern::Name("hello".into()));
        assert_eq!((g.figure.key, g.op, g.limit), ("p99_us", Op::Gt, 2000.0));
        assert_eq!(g.to_string(), "selector.hello.p99_us > 2000");
        for (text, op) in [
            ("*.*.errors>=1", Op::Ge),
            ("*.db-wait.throughput_rps<1e3", Op::Lt),
            (" pool . cpu . engine_cores <= 1.5 ", Op::Le),
        ] {
            assert_eq!(parse(text).unwrap().op, op, "{text}");
        }
        let g = parse("*.db-wait.throughput_rps < 1e3").unwrap();
        assert_eq!((g.engine, g.limit), (Pattern::Any, 1000.0));
        // A bare figure is any engine's and workload's.
        let g = parse("p99_us > 2000").unwrap();
        assert_eq!((&g.engine, &g.workload), (&Pattern::Any, &Pattern::Any));
        assert_eq!(g.to_string(), "*.*.p99_us > 2000");
        // An engine label with dots (a server measured by hand) keeps them.
        let g = parse("127.0.0.1:8080.load.p50_us > 5").unwrap();
        assert_eq!(g.engine, Pattern::Name("127.0.0.1:8080".into()));
        // Every row of the table of figures is a gate, and the help names it with its unit.
        let help = help();
        for figure in TABLE {
            let text = format!("*.*.{} > 1", figure.key);
            assert_eq!(parse(&text).unwrap().figure, figure);
            let named = format!("{} ({})", figure.key, figure.unit.name());
            assert!(help.contains(&named), "{named} not in: {help}");
        }
    }

    #[test]
    fn parse_errors_name_the_bad_part() {
        let err = |text: &str| parse(text).unwrap_err();
        assert!(err("selector.hello.p99 > 2").contains("unknown figure \"p99\""));
        assert!(err("selector.hello.p99 > 2").contains("p99_us, p999_us"));
        assert!(err("selector.hello.p99_us == 2").contains("unknown comparison \"==\""));
        assert!(err("selector.hello.p99_us 2").contains("no comparison"));
        assert!(err("hello.p99_us > 2").contains("not ENGINE.WORKLOAD.FIGURE"));
        assert!(err("selector..p99_us > 2").contains("no workload"));
        assert!(err("sel*.hello.p99_us > 2").contains("* stands alone"));
        assert!(err("selector.hello.p99_us > 2ms").contains("\"2ms\" is not a number"));
        assert!(err("selector.hello.p99_us > inf").contains("is not a number"));
        assert!(err("selector.hello.p99_us >").contains("is not a number"));
        assert!(err("nope > 1").contains("unknown figure \"nope\""));
        for text in ["x", "a.b.c > ", "a.b.nope < 1"] {
            assert!(!err(text).contains('\n'), "one line: {text}");
        }
    }

    #[test]
    fn the_worst_step_at_any_level_decides() {
        let steps = [
            step("selector", "hello", 1, 800, 5000.0),
            step("selector", "hello", 64, 2500, 30000.0),
            step("threads", "hello", 64, 9000, 20000.0),
            step("selector", "cpu", 4, 99999, 10.0),
        ];
        let verdicts = evaluate(
            &[
                parse("selector.hello.p99_us > 2000").unwrap(),
                parse("selector.hello.p99_us > 3000").unwrap(),
                parse("*.hello.throughput_rps < 10000").unwrap(),
                parse("*.*.p99_us >= 99999").unwrap(),
                parse("pool.hello.p99_us > 1").unwrap(),
            ],
            &steps,
        );
        match &verdicts[0].outcome {
            Outcome::Crossed { worst, crossed, of } => {
                assert_eq!(
                    (worst.level, worst.value, *crossed, *of),
                    (64, 2500.0, 1, 2)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&verdicts[1].outcome, Outcome::Held(w) if w.value == 2500.0));
        // Downward gates look at the smallest value.
        assert!(
            matches!(&verdicts[2].outcome, Outcome::Crossed { worst, .. } if worst.value == 5000.0)
        );
        assert!(
            matches!(&verdicts[3].outcome, Outcome::Crossed { worst, crossed: 1, of: 4 } if worst.workload == "cpu")
        );
        assert_eq!(verdicts[4].outcome, Outcome::NoData);
        let text = render(&verdicts);
        for said in [
            "CROSSED  selector.hello.p99_us > 2000",
            "selector hello at 64: 2500; 1 of 2 steps",
            "held     selector.hello.p99_us > 3000",
            "no data  pool.hello.p99_us > 1",
        ] {
            assert!(text.contains(said), "{said:?} in {text}");
        }
    }

    #[test]
    fn failed_steps_and_missing_figures_are_not_judged() {
        let mut failed = step("selector", "hello", 1, 50_000, 1.0);
        failed.failure = Some("the engine exited".into());
        let mut silent = step("selector", "hello", 2, 0, 0.0);
        silent.load.latency.count = 0;
        let verdicts = evaluate(
            &[parse("selector.hello.p99_us > 10").unwrap()],
            &[failed.clone(), silent],
        );
        assert_eq!(verdicts[0].outcome, Outcome::NoData);
        assert!(!verdicts[0].crossed());
        // Errors count even without answers.
        let verdicts = evaluate(&[parse("*.*.errors > 0").unwrap()], &[failed]);
        assert_eq!(verdicts[0].outcome, Outcome::NoData);
    }

    #[test]
    fn names_are_checked_against_the_run() {
        let config = RunConfig {
            suite: None,
            engines: vec![EngineSpec::plain("selector")],
            workloads: vec![Workload::load("hello").unwrap()],
            pin: false,
            peer_versions: Default::default(),
            repeat: 1,
            placement: None,
        };
        let check = |text: &str| check_against(&[parse(text).unwrap()], &config);
        assert!(check("selector.hello.p99_us > 1").is_ok());
        assert!(check("*.*.p99_us > 1").is_ok());
        let err = check("selectr.hello.p99_us > 1").unwrap_err();
        assert!(err.contains("engine \"selectr\" is not in this run; its engines are selector"));
        let err = check("*.helo.p99_us > 1").unwrap_err();
        assert!(err.contains("workload \"helo\""), "{err}");
    }
}
