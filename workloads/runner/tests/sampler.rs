//! The sampler against real processes.
//!
//! The processes are this test binary run again: `child_role` does nothing in a normal run,
//! but when `SAMPLER_TEST_ROLE` is set it becomes the child that role describes (allocate
//! memory, fork a small tree, …), so the tests need nothing but Rust.

use std::io::{BufRead, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use wb_runner::sampler::{Sampler, process_tree, sample_once};

const ROLE: &str = "SAMPLER_TEST_ROLE";
const MIB: u64 = 1024 * 1024;
/// What a child prints, on a line of its own, when it is ready to be measured.
const READY: &str = "SAMPLER-CHILD-READY";

/// Becomes a child when [`ROLE`] says so; a no-op otherwise.
///
/// Roles, each of which stays alive until its stdin closes, then exits:
/// - `alloc N`: says ready, waits for a line on stdin, touches N MiB, says ready again.
/// - `hold N`: touches N MiB, says ready.
/// - `tree K N`: starts K `hold N` children, says ready when they are.
/// - `exit`: exits at once.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let words: Vec<&str> = role.split_whitespace().collect();
    let mut stdin = std::io::stdin().lock();
    let mut memory = Vec::new();
    let mut children = Vec::new();
    match words.as_slice() {
        ["alloc", mib] => {
            say_ready();
            let mut line = String::new();
            stdin.read_line(&mut line).unwrap();
            memory = touched(mib.parse().unwrap());
            say_ready();
        }
        ["hold", mib] => {
            memory = touched(mib.parse().unwrap());
            say_ready();
        }
        ["tree", count, mib] => {
            for _ in 0..count.parse().unwrap() {
                let mut child = spawn_role(&format!("hold {mib}"));
                wait_ready(child.stdout.as_mut().unwrap());
                children.push(child);
            }
            say_ready();
        }
        ["exit"] => {}
        _ => panic!("unknown role {role:?}"),
    }
    // Block until the test closes our stdin (or dies); our own children then see their stdin
    // close when we exit, so no process outlives the test.
    let _ = stdin.read_to_end(&mut Vec::new());
    std::hint::black_box(&memory);
    drop(children);
    std::process::exit(0);
}

/// `mib` MiB, every page written, so it is resident.
fn touched(mib: u64) -> Vec<u8> {
    let mut memory = vec![0u8; (mib * MIB) as usize];
    // calloc'd pages are not resident until written; write one byte in every page.
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(memory)
}

fn say_ready() {
    let mut out = std::io::stdout().lock();
    // The harness has printed `test child_role ... ` without a newline: start a fresh line.
    writeln!(out, "\n{READY}").unwrap();
    out.flush().unwrap();
}

/// Runs this test binary as a child with `role`, stdin and stdout piped.
fn spawn_role(role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout up to its next ready line (the child's test harness prints its
/// own lines too).
fn wait_ready(stdout: &mut ChildStdout) {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        // Byte by byte, so no buffered reader keeps bytes past the ready line.
        assert_eq!(
            stdout.read(&mut byte).unwrap(),
            1,
            "child ended before ready"
        );
        if byte[0] == b'\n' {
            if line == READY.as_bytes() {
                return;
            }
            line.clear();
        } else {
            line.push(byte[0]);
        }
    }
}

/// Closes the child's stdin so it exits, and reaps it.
fn finish(mut child: Child) {
    drop(child.stdin.take());
    child.wait().unwrap();
}

fn assert_near(what: &str, got: u64, want: u64) {
    let off = got.abs_diff(want) as f64 / want as f64;
    assert!(
        off <= 0.10,
        "{what}: grew by {:.1} MiB, expected {:.1} MiB ± 10%",
        got as f64 / MIB as f64,
        want as f64 / MIB as f64
    );
}

#[test]
fn memory_growth_shows_in_rss_pss_and_uss() {
    let mut child = spawn_role("alloc 64");
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    wait_ready(&mut stdout);
    let started = Instant::now();
    let before = sample_once(pid, started).unwrap();

    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    wait_ready(&mut stdout);
    let after = sample_once(pid, started).unwrap();

    assert_eq!(after.processes, 1);
    assert_near("RSS", after.rss_bytes - before.rss_bytes, 64 * MIB);
    assert_near("PSS", after.pss_bytes - before.pss_bytes, 64 * MIB);
    assert_near("USS", after.uss_bytes - before.uss_bytes, 64 * MIB);
    assert!(after.uss_bytes <= after.pss_bytes && after.pss_bytes <= after.rss_bytes);
    assert!(after.open_fds >= 3, "{after:?}");
    assert!(after.at_ms >= before.at_ms);
    finish(child);
}

#[test]
fn a_tree_is_summed_over_parent_and_children() {
    let mut child = spawn_role("tree 2 16");
    let pid = child.id();
    wait_ready(child.stdout.as_mut().unwrap());

    let tree = process_tree(pid);
    assert_eq!(tree.len(), 3, "{tree:?}");
    assert_eq!(tree[0], pid);

    let started = Instant::now();
    let whole = sample_once(pid, started).unwrap();
    // Each leaf alone: a tree of one process.
    let leaves: Vec<_> = tree[1..]
        .iter()
        .map(|&p| sample_once(p, started).unwrap())
        .collect();
    assert!(leaves.iter().all(|s| s.processes == 1));
    assert_eq!(whole.processes, 3);
    assert!(whole.threads >= 3);
    // Each leaf holds 16 MiB of its own, and the tree adds the leaves to its root (give or
    // take the few pages that change between two readings).
    for leaf in &leaves {
        assert!(leaf.pss_bytes >= 15 * MIB, "{leaf:?}");
    }
    let leaves_pss: u64 = leaves.iter().map(|s| s.pss_bytes).sum();
    let leaves_rss: u64 = leaves.iter().map(|s| s.rss_bytes).sum();
    let leaves_fds: u64 = leaves.iter().map(|s| s.open_fds).sum();
    assert!(whole.pss_bytes > leaves_pss, "{whole:?}");
    assert!(whole.rss_bytes > leaves_rss, "{whole:?}");
    assert!(whole.open_fds > leaves_fds, "{whole:?}");
    finish(child);
}

#[test]
fn a_vanished_process_is_an_error_not_a_panic() {
    let mut child = spawn_role("exit");
    let pid = child.id();
    drop(child.stdin.take());
    child.wait().unwrap();

    assert!(process_tree(pid).is_empty());
    let err = sample_once(pid, Instant::now()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    // A sampler on a process that is gone returns no samples, and does not panic.
    let sampler = Sampler::start(pid, Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(30));
    assert!(sampler.stop().is_empty());
}

#[test]
fn the_sampler_samples_on_its_own_thread_until_stopped() {
    let mut child = spawn_role("hold 1");
    let pid = child.id();
    wait_ready(child.stdout.as_mut().unwrap());

    let sampler = Sampler::start(pid, Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(150));
    let samples = sampler.stop();
    // About 8 ticks plus the last reading; a loaded machine may skip some.
    assert!(samples.len() >= 3, "{} samples", samples.len());
    assert!(samples.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(
        samples
            .iter()
            .all(|s| s.processes == 1 && s.pss_bytes > MIB)
    );
    assert!(samples.last().unwrap().at_ms >= 100);
    finish(child);
}
