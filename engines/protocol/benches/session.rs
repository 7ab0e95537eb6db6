//! Micro-benchmarks of the protocol core: what one request costs before any I/O.
//!
//! `cargo bench -p wb-protocol` — the figures say how much of an engine's per-request CPU is the
//! shared core (parsing and rendering) and how long one round of the CPU kernel takes.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wb_protocol::{Event, Session, kernel};

const HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\n\r\n";

fn answer_all(input: &[u8]) -> usize {
    let mut session = Session::new();
    session.receive_data(input);
    let mut sent = 0;
    while let Event::Job(job) = session.next_event() {
        sent += job.perform().len();
    }
    sent
}

fn session(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hello: parse and render one request", |b| {
        b.iter(|| answer_all(black_box(HELLO)))
    });
    let pipelined = HELLO.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("hello: 16 pipelined requests", |b| {
        b.iter(|| answer_all(black_box(&pipelined)))
    });
    let work = b"GET /work?bytes=4096 HTTP/1.1\r\nHost: a\r\n\r\n";
    group.throughput(Throughput::Elements(1));
    group.bench_function("work: 4 KiB pattern body", |b| {
        b.iter(|| answer_all(black_box(work)))
    });
    group.finish();
}

/// A head fed one byte per call, as a slowloris client (or a link with a tiny MSS) delivers it:
/// the time per byte must not grow with the head (the core resumes where it stopped).
fn slow_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("head one byte per call");
    for kib in [1, 4, 16] {
        let head = wb_protocol::corpus::padded_head(kib * 1024);
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(format!("{kib} KiB"), |b| {
            b.iter(|| {
                let mut session = Session::new();
                for byte in head.chunks(1) {
                    session.receive_data(black_box(byte));
                    if let Event::Job(job) = session.next_event() {
                        return black_box(job.perform().len());
                    }
                }
                unreachable!("the head is complete")
            })
        });
    }
    group.finish();
}

fn cpu_kernel(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000 rounds of SHA-256", |b| {
        b.iter(|| kernel::cpu_kernel(black_box(1000)))
    });
    group.finish();
}

criterion_group!(benches, session, slow_head, cpu_kernel);
criterion_main!(benches);
