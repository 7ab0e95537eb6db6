//! Hosts as command prefixes: the engine on one machine, load generators on others.
//!
//! A *host* is a command prefix that runs a command there: `ssh bench@server` on a real
//! network, `ip netns exec wb-load1` in the lab ([`workbench lab`]). The same `workbench`
//! binary runs on every host; the runner starts it through the prefix and reads its stdout —
//! the engine's ready line, the sampler's JSON lines ([`workbench sample`]), the load
//! generator's [`LoadResult`] ([`workbench load --json`]). No daemon of our own: OpenSSH is
//! the remote-execution tool every server already has.
//!
//! A prefix is split into words the way a POSIX shell would split it (quotes and backslashes
//! honoured, nothing expanded: [`split_words`]), and the command is run directly, never
//! through `sh -c`, so a host name cannot smuggle a command in. (`ssh` itself does hand the
//! remote part to the remote user's shell; the arguments the runner passes are plain words.)
//!
//! A [`RemoteProcess`] is a local child (the `ssh` client, or the process `ip netns exec`
//! became) whose stdout lines arrive on a channel, read by a thread of their own, so that
//! waiting for a line can time out. Dropping it kills the local child: for a lab host that is
//! the remote process itself; through `ssh` it closes the connection, and the remote command
//! loses its stdout (the sampler stops at its next line; the load generator ends with its
//! step; the engine is stopped by the runner with `kill` through the prefix).
//!
//! [`merge`] adds up the load hosts' documents into one step's [`LoadReport`]: answers, errors,
//! censored requests and bytes summed, histograms added (HdrHistogram addition, so the merged percentiles are
//! the percentiles of every answer, not an average of percentiles), windows summed by
//! position.
//!
//! [`workbench lab`]: ../../workbench/index.html
//! [`workbench sample`]: ../../workbench/index.html
//! [`workbench load --json`]: wb_load::wire

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use wb_load::wire::{LoadResult, decode_histogram, serialize_histogram};
use wb_model::results::{
    ErrorCounts, HostFacts, HostLoad, Latency, LoadReport, MachineFacts, Window,
};

/// How long a quick command through a prefix (`--version`, `sample --facts`, `kill`) may take:
/// an SSH connection that has to be opened can take a few seconds.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How many bytes of a host's stderr are kept to explain a failure.
const STDERR_TAIL: usize = 2000;

/// Something went wrong with a host.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The prefix is empty or its quotes do not close.
    #[error(
        "host {host:?}: {problem}; write a command prefix such as `ssh user@host` or `ip netns exec wb-load1`"
    )]
    BadPrefix {
        /// The prefix as given.
        host: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The prefix's program could not be started.
    #[error("host {host:?}: cannot start `{program}`: {source}")]
    Spawn {
        /// The host.
        host: String,
        /// The prefix's first word.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The host answered, but not as expected (a failed command, a wrong version, bad JSON).
    #[error("host {host:?}: {problem}")]
    Failed {
        /// The host.
        host: String,
        /// What happened, with the host's own words when it said any.
        problem: String,
    },
    /// The host said nothing for too long.
    #[error("host {host:?}: no answer within {} s while {what}", secs.as_secs())]
    Timeout {
        /// The host.
        host: String,
        /// What it was doing.
        what: String,
        /// How long it had.
        secs: Duration,
    },
}

/// Splits a command prefix into words as a POSIX shell would, without expanding anything:
/// blanks separate words; single quotes keep everything literally; double quotes keep
/// everything but `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes keeps the next
/// character. `None` when a quote is left open or the text ends in a lone backslash.
pub fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            '\n' => {}
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next()? {
                    '\n' => {}
                    c => word.push(c),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// A host: the prefix as given (its name everywhere: messages, the store), its words, and
/// the `workbench` program to run there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The prefix as given, e.g. `ssh bench@server`.
    pub name: String,
    /// The prefix split into words.
    words: Vec<String>,
    /// The workbench program there (`workbench`, or `--remote-bin PATH`).
    bin: String,
    /// Whether the prefix hands its command to a shell there, as `ssh` does (it joins its
    /// arguments with spaces for the remote user's shell): then every word is quoted, or
    /// `http://H/work?wait_ms=1&bytes=2` would be cut at the `&`. Found by
    /// [`Host::check`], which asks the host to echo two spaces.
    shell: bool,
}

impl Host {
    /// A host from its prefix and the workbench program to run there.
    pub fn parse(prefix: &str, bin: &str) -> Result<Host, RemoteError> {
        let bad = |problem: &str| RemoteError::BadPrefix {
            host: prefix.to_string(),
            problem: problem.to_string(),
        };
        let words = split_words(prefix).ok_or_else(|| bad("a quote is not closed"))?;
        if words.is_empty() {
            return Err(bad("it is empty"));
        }
        if bin.trim().is_empty() {
            return Err(bad("--remote-bin is empty"));
        }
        Ok(Host {
            name: prefix.trim().to_string(),
            words,
            bin: bin.to_string(),
            shell: false,
        })
    }

    /// `PREFIX… BIN ARGS…`, with stdin closed, stdout piped and stderr piped; in a process
    /// group of its own (a terminal's Ctrl-C reaches the runner, which finishes the step), and
    /// killed if the runner dies.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut words = vec![self.bin.as_str()];
        words.extend_from_slice(args);
        let mut command = self.prefixed(&words);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // The parent-death signal kills the child when the runner's thread dies (as for
        // engines, see `crate::child`).
        wb_sys::process::die_with_parent(&mut command);
        command
    }

    /// `PREFIX… WORDS…`, each word quoted for the shell there when the prefix goes through
    /// one ([`Host::shell`]), so that the host's program gets exactly these words.
    fn prefixed(&self, words: &[&str]) -> Command {
        let mut command = Command::new(&self.words[0]);
        command.args(&self.words[1..]);
        for word in words {
            match shlex::try_quote(word) {
                Ok(quoted) if self.shell => command.arg(quoted.as_ref()),
                _ => command.arg(word),
            };
        }
        command
    }

    /// Starts `BIN ARGS…` there.
    pub fn spawn(&self, args: &[&str]) -> Result<RemoteProcess, RemoteError> {
        let child = self.start(&mut self.command(args))?;
        Ok(RemoteProcess::new(self.name.clone(), child))
    }

    /// Starts `command` (one of [`Host::command`] or [`Host::prefixed`]), a failure naming
    /// this host and its prefix's program.
    fn start(&self, command: &mut Command) -> Result<Child, RemoteError> {
        command.spawn().map_err(|source| RemoteError::Spawn {
            host: self.name.clone(),
            program: self.words[0].clone(),
            source,
        })
    }

    /// Starts `BIN ARGS…` there with `input` on its stdin (written by a thread of its own,
    /// then closed).
    pub fn spawn_with_input(
        &self,
        args: &[&str],
        input: String,
    ) -> Result<RemoteProcess, RemoteError> {
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        let mut child = self.start(&mut command)?;
        if let Some(mut stdin) = child.stdin.take() {
            std::thread::spawn(move || {
                use std::io::Write;
                // A host that exits before reading says why on stderr; nothing to add here.
                let _ = stdin.write_all(input.as_bytes());
            });
        }
        Ok(RemoteProcess::new(self.name.clone(), child))
    }

    /// Runs `BIN ARGS…` there to its end and returns its stdout; a failure carries its stderr.
    pub fn output(&self, args: &[&str], timeout: Duration) -> Result<String, RemoteError> {
        let process = self.spawn(args)?;
        let what = format!("running `{} {}`", self.bin, args.join(" "));
        let (lines, status, stderr) = process.finish(timeout, &what)?;
        let stdout = lines.join("\n");
        if !status.success() {
            let said = match stderr.lines().last() {
                Some(line) => format!(": {line}"),
                None => String::new(),
            };
            return Err(self.failed(format!(
                "`{} {}` failed ({status}){said}",
                self.bin,
                args.join(" ")
            )));
        }
        Ok(stdout)
    }

    /// Runs a plain command (not the workbench) there, e.g. `kill -TERM 1234`, ignoring its
    /// output; best effort.
    pub fn run_plain(&self, program_and_args: &[&str]) -> Result<ExitStatus, RemoteError> {
        let mut command = self.prefixed(program_and_args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = self.start(&mut command)?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RemoteError::Timeout {
                    host: self.name.clone(),
                    what: format!("running `{}`", program_and_args.join(" ")),
                    secs: COMMAND_TIMEOUT,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs a plain command there to its end and returns its stdout (`cat FILE`).
    pub fn output_plain(
        &self,
        program_and_args: &[&str],
        timeout: Duration,
    ) -> Result<String, RemoteError> {
        let mut command = self.prefixed(program_and_args);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = self.start(&mut command)?;
        let process = RemoteProcess::new(self.name.clone(), child);
        let what = format!("running `{}`", program_and_args.join(" "));
        let (lines, status, stderr) = process.finish(timeout, &what)?;
        if !status.success() {
            return Err(self.failed(format!("{what} failed ({status}): {}", stderr.trim())));
        }
        Ok(lines.join("\n"))
    }

    /// Finds out whether the prefix runs its command through a shell there: `echo 'a  b'`
    /// comes back with its two spaces when the words arrive as they were given, with one
    /// when a shell split them again (`ssh`).
    fn detect_shell(&mut self) -> Result<(), RemoteError> {
        self.shell = false;
        let echoed = self.output_plain(&["echo", "a  b"], COMMAND_TIMEOUT)?;
        self.shell = echoed.trim_end() == "a b";
        Ok(())
    }

    /// Checks that the workbench there is `expected` (`workbench 0.1.0`, our own
    /// `--version`), and reads its machine facts.
    /// First it finds out whether the prefix goes through a shell, so that every later
    /// command's words arrive whole.
    pub fn check(&mut self, expected: &str, role: &str) -> Result<HostFacts, RemoteError> {
        self.detect_shell()?;
        let version = self
            .output(&["--version"], COMMAND_TIMEOUT)
            .map_err(|err| {
                let err = match err {
                    RemoteError::Failed { problem, .. } => problem,
                    other => other.to_string(),
                };
                self.failed(format!(
                    "cannot run `{} --version` there ({err}); install the same workbench there \
                 (`cargo install --path .` from this checkout), or name it with --remote-bin PATH",
                    self.bin
                ))
            })?;
        let version = version.trim();
        if version != expected.trim() {
            return Err(self.failed(format!(
                "it has {version:?} but this is {:?}: results from different versions must \
                 not be merged; install this version there, or point --remote-bin at it",
                expected.trim()
            )));
        }
        let facts = self.output(&["sample", "--facts"], COMMAND_TIMEOUT)?;
        let facts: MachineFacts = serde_json::from_str(facts.trim())
            .map_err(|err| self.failed(format!("`sample --facts` printed no facts: {err}")))?;
        Ok(HostFacts {
            role: role.to_string(),
            host: self.name.clone(),
            hostname: facts.hostname,
            cpu_model: facts.cpu_model,
            cores: facts.cores,
            max_map_count: facts.max_map_count,
        })
    }

    /// A [`RemoteError::Failed`] of this host.
    pub fn failed(&self, problem: String) -> RemoteError {
        RemoteError::Failed {
            host: self.name.clone(),
            problem,
        }
    }
}

/// A process started through a host's prefix, its stdout read line by line on a thread of
/// its own. Dropping it kills the local child and reaps it.
#[derive(Debug)]
pub struct RemoteProcess {
    /// The host, for messages.
    host: String,
    /// The local child: the prefix's program.
    child: Child,
    /// Stdout, line by line; disconnected at end of file.
    lines: Receiver<String>,
    /// The last bytes of stderr, to explain a failure.
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl RemoteProcess {
    fn new(host: String, mut child: Child) -> RemoteProcess {
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                    tail.extend_from_slice(&buf[..n]);
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
            });
        }
        RemoteProcess {
            host,
            child,
            lines,
            stderr,
        }
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The last lines it wrote to stderr, trimmed, for a message.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&tail).trim().to_string()
    }

    /// The next stdout line; `Ok(None)` at end of output (the process ended or the link
    /// broke), a timeout after `timeout`.
    pub fn next_line(
        &mut self,
        timeout: Duration,
        what: &str,
    ) -> Result<Option<String>, RemoteError> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(Some(line)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(RemoteError::Timeout {
                host: self.host.clone(),
                what: what.to_string(),
                secs: timeout,
            }),
        }
    }

    /// Every stdout line available now, without waiting.
    pub fn drain(&mut self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Whether the local child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (up to `timeout`) for the end of its output and its exit; returns every line,
    /// the exit status and the end of its stderr. On timeout it is killed.
    pub fn finish(
        mut self,
        timeout: Duration,
        what: &str,
    ) -> Result<(Vec<String>, ExitStatus, String), RemoteError> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(RemoteError::Timeout {
                        host: self.host.clone(),
                        what: what.to_string(),
                        secs: timeout,
                    });
                }
            }
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // Give the stderr thread a moment to read the last words.
                    std::thread::sleep(Duration::from_millis(5));
                    return Ok((lines, status, self.stderr_tail()));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    return Err(RemoteError::Timeout {
                        host: self.host.clone(),
                        what: what.to_string(),
                        secs: timeout,
                    });
                }
                Err(err) => {
                    return Err(RemoteError::Failed {
                        host: self.host.clone(),
                        problem: format!("cannot wait for it: {err}"),
                    });
                }
            }
        }
    }

    /// Waits up to `grace` for the local child to exit by itself; true if it did.
    pub fn wait_exit(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => return false,
                _ => return true,
            }
        }
    }
}

impl Drop for RemoteProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub use wb_load::split_level;

/// One load host's document, with the host's name and its share of the level.
#[derive(Debug, Clone)]
pub struct HostResult {
    /// The host, as given.
    pub host: String,
    /// Its share of the level.
    pub level: u64,
    /// What it measured.
    pub result: LoadResult,
}

/// Adds the load hosts' documents into one step's report. `offset_ms` is added to every
/// window's start, so that windows count from the sampler's clock (which started before the
/// load). Fails, naming the host, when a histogram cannot be read.
pub fn merge(parts: &[HostResult], offset_ms: u64) -> Result<LoadReport, RemoteError> {
    let mut corrected: Option<Histogram<u64>> = None;
    let mut uncorrected: Option<Histogram<u64>> = None;
    let mut report = LoadReport::default();
    let mut not_reached = Vec::new();
    let mut windows: Vec<Window> = Vec::new();
    for part in parts {
        let r = &part.result;
        let bad = |err: wb_load::wire::WireError| RemoteError::Failed {
            host: part.host.clone(),
            problem: format!("its latency histogram cannot be read: {err}"),
        };
        let add =
            |into: &mut Option<Histogram<u64>>, h: Histogram<u64>| -> Result<(), RemoteError> {
                match into {
                    Some(sum) => sum.add(&h).map_err(|err| RemoteError::Failed {
                        host: part.host.clone(),
                        problem: format!("its histogram cannot be added to the others: {err:?}"),
                    }),
                    None => {
                        *into = Some(h);
                        Ok(())
                    }
                }
            };
        add(
            &mut corrected,
            decode_histogram(&r.histograms.corrected).map_err(bad)?,
        )?;
        if let Some(text) = &r.histograms.uncorrected {
            add(&mut uncorrected, decode_histogram(text).map_err(bad)?)?;
        }
        report.elapsed_secs = report.elapsed_secs.max(r.elapsed_secs);
        report.completed += r.completed;
        report.censored += r.censored;
        report.errors.add(&r.errors);
        report.connections += r.connections_open;
        report.bytes_received += r.bytes_received;
        for (&code, &n) in &r.status_codes {
            *report.status_codes.entry(code).or_default() += n;
        }
        if let Some(why) = &r.not_reached {
            not_reached.push(format!("{}: {why}", part.host));
        }
        for (i, w) in r.windows.iter().enumerate() {
            if windows.len() <= i {
                windows.push(Window {
                    at_ms: w.at_ms + offset_ms,
                    ..Window::default()
                });
            }
            let m = &mut windows[i];
            m.answers += w.answers;
            m.errors += w.errors;
            // Window percentiles cannot be added; the slower host's is kept, so that a
            // window's p99 is never better than some client saw.
            m.p50_us = m.p50_us.max(w.p50_us);
            m.p99_us = m.p99_us.max(w.p99_us);
        }
        report.hosts.push(HostLoad {
            host: part.host.clone(),
            level: part.level,
            completed: r.completed,
            errors: r.errors,
            latency_count: r.latency.count,
            censored: r.censored,
            client_cpu_secs: r.client_cpu_secs,
            client_cores: r.client_cores,
        });
    }
    // The censored requests are in the histograms added, so their counts add too. A host's
    // late ones (slower than its slowest answer) are counted late in the sum, though another
    // host may have had a slower answer: the merged step calls a figure a bound a little
    // sooner, never later.
    let censored = |latency: &dyn Fn(&LoadResult) -> Option<Latency>, h: &Histogram<u64>| {
        let of = |f: fn(&Latency) -> u64| -> u64 {
            parts
                .iter()
                .filter_map(|p| latency(&p.result))
                .map(|l| f(&l))
                .sum()
        };
        Latency {
            censored: of(|l| l.censored),
            censored_late: of(|l| l.censored_late),
            late_requests: of(|l| l.late_requests),
            ..Latency::from_histogram(h)
        }
    };
    if let Some(h) = &corrected {
        report.latency = censored(&|r| Some(r.latency), h);
        report.histogram = serialize_histogram(h);
    }
    report.latency_uncorrected = uncorrected
        .as_ref()
        .map(|h| censored(&|r| r.latency_uncorrected, h));
    report.not_reached = (!not_reached.is_empty()).then(|| not_reached.join("; "));
    report.windows = windows;
    Ok(report)
}

/// The errors of every host, summed (what the merged report says).
pub fn total_errors(parts: &[HostResult]) -> ErrorCounts {
    let mut sum = ErrorCounts::default();
    for part in parts {
        sum.add(&part.result.errors);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_like_a_shell_without_expanding() {
        let words = |t: &str| split_words(t).unwrap();
        assert_eq!(words("ssh bench@server"), ["ssh", "bench@server"]);
        assert_eq!(
            words("ip netns exec wb-load1"),
            ["ip", "netns", "exec", "wb-load1"]
        );
        assert_eq!(
            words(r#"ssh -o 'ProxyJump a b' "x\"y" c\ d $HOME"#),
            ["ssh", "-o", "ProxyJump a b", "x\"y", "c d", "$HOME"]
        );
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("''"), [""]);
        assert!(split_words("ssh 'open").is_none());
        assert!(split_words("ssh \"open").is_none());
        assert!(split_words("ssh \\").is_none());
        assert!(Host::parse("", "workbench").is_err());
        assert!(Host::parse("ssh 'x", "workbench").is_err());
    }

    #[test]
    fn levels_split_evenly_larger_shares_first() {
        assert_eq!(split_level(64, 2), [32, 32]);
        assert_eq!(split_level(65, 2), [33, 32]);
        assert_eq!(split_level(1, 3), [1, 0, 0]);
        assert_eq!(split_level(10, 3).iter().sum::<u64>(), 10);
    }

    fn document(values: &[u64], host: &str, level: u64) -> HostResult {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        let text = wb_load::wire::base64_encode(&serialize_histogram(&h));
        HostResult {
            host: host.into(),
            level,
            result: LoadResult {
                api_version: 1,
                url: "http://198.18.0.10:1/hello".into(),
                method: "GET".into(),
                mode: wb_model::spec::Mode::Closed,
                connections: level,
                rate: None,
                warmup_secs: 0.0,
                elapsed_secs: 1.0,
                checks: "workbench".into(),
                completed: values.len() as u64,
                censored: 0,
                throughput_rps: values.len() as f64,
                bytes_received: 10 * values.len() as u64,
                errors: ErrorCounts {
                    timeout: 1,
                    ..ErrorCounts::default()
                },
                status_codes: [(200, values.len() as u64)].into_iter().collect(),
                latency: Latency::from_histogram(&h),
                latency_uncorrected: None,
                connections_open: level,
                threads: 1,
                not_reached: None,
                client_cpu_secs: 0.5,
                client_cores: 0.4,
                histograms: wb_load::wire::Histograms {
                    encoding: wb_load::wire::HISTOGRAM_ENCODING.into(),
                    corrected: text,
                    uncorrected: None,
                },
                windows: vec![Window {
                    at_ms: 0,
                    answers: values.len() as u64,
                    errors: 0,
                    p50_us: values[0],
                    p99_us: values[values.len() - 1],
                }],
            },
        }
    }

    #[test]
    fn merging_adds_counts_and_histograms() {
        let a = document(&[100, 200, 300], "a", 2);
        let b = document(&[1000, 2000], "b", 1);
        let merged = merge(&[a, b], 50).unwrap();
        assert_eq!(merged.completed, 5);
        assert_eq!(merged.latency.count, 5);
        assert_eq!(merged.errors.timeout, 2);
        assert_eq!(merged.connections, 3);
        assert_eq!(merged.bytes_received, 50);
        assert_eq!(merged.status_codes.get(&200), Some(&5), "statuses add");
        // The merged max is the slowest answer anywhere, not an average.
        assert!(merged.latency.max_us >= 1999, "{:?}", merged.latency);
        assert_eq!(merged.windows.len(), 1);
        assert_eq!(merged.windows[0].answers, 5);
        assert_eq!(merged.windows[0].at_ms, 50);
        assert_eq!(merged.hosts.len(), 2);
        assert_eq!(merged.hosts[1].host, "b");
        let back = Histogram::<u64>::len(
            &hdrhistogram::serialization::Deserializer::new()
                .deserialize::<u64, _>(&mut merged.histogram.as_slice())
                .unwrap(),
        );
        assert_eq!(back, 5);
    }

    /// Host b left one client unanswered for 5 s: it is in b's histogram, and the merged
    /// step counts it, so its p99 (rank 6 of 6) is a lower bound and its p50 is not.
    #[test]
    fn merging_adds_censored_requests() {
        let a = document(&[100, 200, 300], "a", 2);
        let mut b = document(&[1000, 2000, 5_000_000], "b", 1);
        b.result.completed = 2;
        b.result.censored = 1;
        b.result.latency.censored = 1;
        b.result.latency.censored_late = 1;
        let merged = merge(&[a, b], 0).unwrap();
        assert_eq!((merged.completed, merged.censored), (5, 1));
        assert_eq!(merged.latency.count, 6);
        assert_eq!(
            (merged.latency.censored, merged.latency.censored_late),
            (1, 1)
        );
        assert_eq!(merged.sent(), 5 + 2 + 1, "answered, timeouts, censored");
        assert!(merged.latency.p99_us >= 4_990_000, "{:?}", merged.latency);
        assert!(merged.latency.is_lower_bound(0.99));
        assert!(!merged.latency.is_lower_bound(0.5));
        assert_eq!(merged.hosts[1].censored, 1);
        // A document from before censoring was kept reads as none censored.
        let mut json = serde_json::to_value(&document(&[100], "c", 1).result).unwrap();
        json.as_object_mut().unwrap().remove("censored");
        json["latency"].as_object_mut().unwrap().remove("censored");
        let old: LoadResult = serde_json::from_value(json).unwrap();
        assert_eq!((old.censored, old.latency.censored), (0, 0));
    }

    #[test]
    fn a_bad_histogram_names_its_host() {
        let mut a = document(&[100], "ip netns exec wb-load2", 1);
        a.result.histograms.corrected = "Zm9v".into();
        let err = merge(&[a], 0).unwrap_err().to_string();
        assert!(err.contains("wb-load2"), "{err}");
    }
}
