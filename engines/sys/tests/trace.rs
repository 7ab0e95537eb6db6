//! Tracing on, in a process of its own (the switch is process-wide): spans reach the file as
//! JSON lines, and a full buffer stops the recording.

use wb_sys::trace::{self, CAPACITY, Phase};

#[test]
fn spans_reach_the_file_and_a_full_buffer_ends_the_window() {
    let dir = tempfile_dir();
    let path = dir.join("trace.jsonl");
    trace::start(&path).unwrap();
    assert!(trace::enabled());
    {
        let _read = trace::span(Phase::Read, 5);
    }
    trace::record(Phase::Wait, 5, 100, 200);
    for _ in 0..CAPACITY {
        drop(trace::span(Phase::Compute, 6));
    }
    // Full: written, and recording has stopped.
    assert!(!trace::enabled());
    trace::finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), CAPACITY);
    assert!(lines[0].starts_with(r#"{"phase":"read","#), "{}", lines[0]);
    assert!(
        lines[1].contains(r#""start_ns":100,"end_ns":200"#),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(&format!(r#""pid":{}"#, std::process::id())));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unwritable_path_is_refused_at_start() {
    let err = trace::start(std::path::Path::new("/nonexistent-dir/x/trace.jsonl")).unwrap_err();
    assert!(err.to_string().contains("pick a writable path"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sys-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
