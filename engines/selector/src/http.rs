//! The workbench's HTTP server as a Twisted-style protocol: [`wb_protocol::Session`] driven by
//! loop callbacks.
//!
//! A blocking engine writes the contract's loop ("next event; wait; perform; write; read") as
//! straight-line code. Here the same loop is cut at every place it would block, and each piece
//! becomes a callback: bytes arrive in [`data_received`](Protocol::data_received), a wait ends
//! in [`timer_fired`](Protocol::timer_fired), offloaded CPU work ends in
//! [`deferred_result`](Protocol::deferred_result), a drained write queue comes back as
//! [`resume_producing`](Protocol::resume_producing). Between callbacks, the state that a
//! blocking engine keeps on its stack lives in [`HttpProtocol`]'s few fields.

use std::net::SocketAddr;
use std::time::Duration;

use wb_protocol::{Event, Job, Response, Session};

use crate::interfaces::{Factory, Protocol, Reason, Rows, Transport};

/// The most pipelined requests one connection is served per turn of the loop before it yields
/// to the other sockets (a zero-delay `call_later` brings it back on the next turn). nginx
/// bounds a connection's share of a loop iteration the same way, and Twisted's reactor runs one
/// `dataReceived` per readable socket per iteration; 16 keeps pipelining cheap (one yield per
/// 16 requests) and a burst of a thousand from starving everyone else.
pub const MAX_REQUESTS_PER_TURN: usize = 16;

/// Builds an [`HttpProtocol`] per connection; it carries the one server-wide setting.
#[derive(Debug, Clone, Copy)]
pub struct HttpFactory {
    /// Whether CPU rounds go to the thread pool (`--offload`).
    pub offload: bool,
}

impl Factory for HttpFactory {
    type Protocol = HttpProtocol;

    fn build_protocol(&mut self, _peer: SocketAddr) -> HttpProtocol {
        HttpProtocol::new(self.offload)
    }
}

/// One HTTP/1.1 connection's state between callbacks.
///
/// It is small on purpose — the loop keeps one per open connection, idle or not. An idle
/// keep-alive connection holds `size_of::<HttpProtocol>()` bytes and nothing on the heap: the
/// session frees its buffer once everything received is consumed, and `waiting` is empty.
#[derive(Debug)]
pub struct HttpProtocol {
    /// The sans-I/O core: every byte of every answer comes from here.
    session: Session,
    /// The job whose wait (the "database") is running on a loop timer. Boxed: a `Job` is
    /// about 50 bytes, and an idle connection should pay 8 for "no job", not 50.
    waiting: Option<Box<Job>>,
    /// A job's CPU rounds are running on the pool; the bytes come back to `deferred_result`.
    computing: bool,
    /// Whether CPU rounds go to the pool (`--offload`) rather than run on the loop thread.
    offload: bool,
    /// Served [`MAX_REQUESTS_PER_TURN`] in one turn: waiting for the zero-delay timer.
    yielded: bool,
    /// Resting before the next read of a request that trickles in: waiting for the timer.
    resting: bool,
}

impl HttpProtocol {
    /// A protocol for a fresh connection.
    pub fn new(offload: bool) -> HttpProtocol {
        HttpProtocol {
            session: Session::new(),
            waiting: None,
            computing: false,
            offload,
            yielded: false,
            resting: false,
        }
    }

    /// Heap bytes this connection holds: 0 when idle.
    pub fn heap_bytes(&self) -> usize {
        self.session.heap_bytes() + self.waiting.as_ref().map_or(0, |_| size_of::<Job>())
    }

    // lesson:begin handle
    /// Takes jobs from the session until one has to wait (a timer, the pool, a full write
    /// queue) or the session needs more bytes.
    fn advance(&mut self, transport: &mut dyn Transport) {
        // A full write queue stops us here, before the next job: a client that pipelines
        // requests for 64 MiB answers and reads none of them costs one answer of memory, not
        // one per request. `resume_producing` brings us back.
        let mut served = 0;
        while self.waiting.is_none()
            && !self.computing
            && !self.yielded
            && !transport.producing_paused()
        {
            if served == MAX_REQUESTS_PER_TURN {
                // Fair share used: come back on the next turn, after the other sockets.
                self.yielded = true;
                transport.pause_reading();
                transport.call_later(Duration::ZERO);
                return;
            }
            served += 1;
            match self.session.next_event() {
                Event::NeedData => {
                    if let Some(rest) = self.session.read_pause() {
                        // The request trickles in a byte per segment: rest, and let it pile
                        // up in the kernel for one read, instead of a wake-up and a read per
                        // byte.
                        self.resting = true;
                        transport.rest_reading(rest);
                        return;
                    }
                    // Only now may the loop read again: reading while a job is in progress
                    // would buffer requests without bound and could answer out of order.
                    transport.resume_reading();
                    return;
                }
                Event::Closed => {
                    transport.lose_connection();
                    return;
                }
                // lesson:begin teach
                Event::Job(mut job) => {
                    transport.pause_reading();
                    // `/count` reads the counter now and writes it when the job is computed:
                    // with no wait, back to back on this one thread, so no update is lost;
                    // with a timer between, other connections' callbacks run in between.
                    job.begin();
                    if let Some(ids) = job.world_ids() {
                        // `/db` and `/queries`: the query joins the loop's database pool
                        // (its queue, then one of its connections); the rows come back to
                        // `rows_received`, and the loop serves everyone else meanwhile.
                        transport.query_world(ids.to_vec());
                        self.waiting = Some(Box::new(job));
                    } else if job.wait().is_zero() {
                        self.compute(job, transport);
                    } else {
                        // The wait is a timer on the loop, not a sleeping thread: thousands of
                        // connections can wait at once for the price of a heap entry each.
                        transport.call_later(job.wait());
                        self.waiting = Some(Box::new(job));
                    }
                } // lesson:end
            }
        }
    }

    /// Runs the job's CPU rounds and queues its bytes — here, on the loop thread, unless
    /// offloading is on and there are rounds to run.
    fn compute(&mut self, job: Job, transport: &mut dyn Transport) {
        if self.offload && job.cpu_rounds() > 0 {
            // Twisted's deferToThread. A job with no rounds is rendered inline even so: the
            // hop to a pool thread and back costs more than rendering a response.
            self.computing = true;
            // On the timeline, these compute spans land on the pool's lanes. (The protocol
            // does not know its socket: the loop names the connection it is serving.)
            let task = wb_sys::trace::current_task();
            transport.defer_to_thread(Box::new(move || {
                let _computing = wb_sys::trace::span(wb_sys::trace::Phase::Compute, task);
                job.respond()
            }));
        } else {
            // Inline: while this runs, no other connection is served. This is the price of
            // one thread — concurrency, not parallelism.
            // lesson:begin teach
            let response = {
                let _computing = wb_sys::trace::span(
                    wb_sys::trace::Phase::Compute,
                    wb_sys::trace::current_task(),
                );
                job.respond()
            };
            transport.write(response);
            // lesson:end
        }
    }
    // lesson:end
}

impl Protocol for HttpProtocol {
    // lesson:begin handle
    // lesson:begin teach
    fn data_received(&mut self, data: &[u8], transport: &mut dyn Transport) {
        // The session copies only what it cannot consume at once (a partial head, pipelined
        // requests); `data` itself is the loop's shared buffer.
        self.session.receive_data(data);
        self.advance(transport);
    }
    // lesson:end
    // lesson:end

    fn connection_lost(&mut self, reason: Reason) {
        match reason {
            Reason::Lost(err) => tracing::debug!("connection lost: {err}"),
            Reason::Done | Reason::Shutdown => {}
        }
    }

    // lesson:begin handle
    // lesson:begin teach
    fn timer_fired(&mut self, transport: &mut dyn Transport) {
        if let Some(job) = self.waiting.take() {
            self.compute(*job, transport);
            self.advance(transport);
        } else if self.yielded {
            self.yielded = false;
            self.advance(transport);
        } else if self.resting {
            // Rested: read what piled up (the session still needs data, so no `advance`).
            self.resting = false;
            transport.resume_reading();
        }
    }
    // lesson:end
    // lesson:end

    fn rows_received(&mut self, rows: Rows, transport: &mut dyn Transport) {
        if let Some(mut job) = self.waiting.take() {
            match rows {
                Ok(rows) => job.give_rows(rows),
                Err(reason) => job.database_failed(reason),
            }
            self.compute(*job, transport);
            self.advance(transport);
        }
    }

    fn timed_out(&mut self, transport: &mut dyn Transport) {
        // Half a request: 408. Nothing at all (idle keep-alive): just close.
        if let Some(job) = self.session.time_out() {
            transport.write(job.respond());
        }
        transport.lose_connection();
    }

    // lesson:begin handle
    fn deferred_result(&mut self, result: Response, transport: &mut dyn Transport) {
        self.computing = false;
        transport.write(result);
        self.advance(transport);
    }
    // lesson:end

    fn resume_producing(&mut self, transport: &mut dyn Transport) {
        self.advance(transport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryTransport;
    use wb_protocol::date::masked;

    /// `/db` asks the loop for rows and waits; the rows (or a failure) come back as an event,
    /// and the next pipelined request is served after the answer, in order.
    #[test]
    fn a_database_request_waits_for_its_rows_then_answers_in_order() {
        let mut protocol = HttpProtocol::new(false);
        let mut transport = MemoryTransport::new();
        protocol.data_received(
            b"GET /db?id=7 HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
            &mut transport,
        );
        assert_eq!(transport.take_query(), Some(vec![7]));
        assert!(transport.value().is_empty(), "nothing before the rows");
        let row = wb_protocol::world::WorldRow {
            id: 7,
            random_number: 70,
        };
        protocol.rows_received(Ok(vec![row]), &mut transport);
        let text = String::from_utf8(masked(transport.value())).unwrap();
        assert!(
            text.contains("\r\n\r\n{\"id\":7,\"randomNumber\":70}HTTP/1.1 200 OK"),
            "{text}"
        );
        assert!(text.ends_with("Hello, World!"), "{text}");
        // A failure is a 503 with the reason, on a connection that stays open.
        let mut protocol = HttpProtocol::new(false);
        let mut transport = MemoryTransport::new();
        protocol.data_received(
            b"GET /queries?n=2 HTTP/1.1\r\nHost: a\r\n\r\n",
            &mut transport,
        );
        assert_eq!(transport.take_query().map(|ids| ids.len()), Some(2));
        protocol.rows_received(Err("no connection came free"), &mut transport);
        let text = String::from_utf8(transport.value().to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(!transport.is_disconnecting());
    }

    /// Plays the loop for one connection over a [`MemoryTransport`]: delivers `input` in
    /// `chunk`-byte reads, but only while the protocol is reading, lets the network take all
    /// output at once, and fires its timer and runs its deferred work whenever it asks.
    /// Returns the transport.
    fn converse(input: &[u8], chunk: usize, offload: bool) -> MemoryTransport {
        let mut protocol = HttpProtocol::new(offload);
        let mut transport = MemoryTransport::new();
        protocol.connection_made(&mut transport);
        let mut rest = input;
        loop {
            if transport.send(usize::MAX) {
                protocol.resume_producing(&mut transport);
            } else if transport.take_timer().is_some() {
                protocol.timer_fired(&mut transport);
            } else if let Some(work) = transport.take_deferred() {
                protocol.deferred_result(work(), &mut transport);
            } else if transport.is_disconnecting() || rest.is_empty() {
                return transport;
            } else {
                assert!(
                    transport.is_reading(),
                    "stalled: not reading, no timer, no work; {transport:?}"
                );
                let n = chunk.min(rest.len());
                protocol.data_received(&rest[..n], &mut transport);
                rest = &rest[n..];
            }
        }
    }

    /// Inputs whose answers must match the protocol core byte for byte.
    const CORPUS: &[&[u8]] = &[
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /work?bytes=40&wait_ms=5 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /work?cpu_rounds=50&bytes=3 HTTP/1.1\r\nHost: a\r\n\r\nGET /work?wait_ms=1&cpu_rounds=7 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
        b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /work?wait_ms=x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"garbage\r\n\r\n",
        b"GET /hello HTTP/1.1\r\n\r\n",
    ];

    /// A fresh protocol on a memory transport, after `input` has arrived.
    fn received(offload: bool, input: &[u8]) -> (HttpProtocol, MemoryTransport) {
        let mut protocol = HttpProtocol::new(offload);
        let mut transport = MemoryTransport::new();
        protocol.data_received(input, &mut transport);
        (protocol, transport)
    }

    #[test]
    fn answers_match_the_protocol_core_whole_and_byte_at_a_time() {
        for input in CORPUS {
            let expected = masked(&wb_protocol::respond_all(input));
            for offload in [false, true] {
                for chunk in [usize::MAX, 1, 7] {
                    let transport = converse(input, chunk, offload);
                    assert_eq!(
                        String::from_utf8_lossy(&masked(transport.value())),
                        String::from_utf8_lossy(&expected),
                        "input {:?}, chunk {chunk}, offload {offload}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut input = Vec::new();
        for bytes in 1..=20 {
            input.extend_from_slice(
                format!(
                    "GET /work?bytes={bytes}&wait_ms={} HTTP/1.1\r\nHost: a\r\n\r\n",
                    21 - bytes
                )
                .as_bytes(),
            );
        }
        let transport = converse(&input, usize::MAX, false);
        let text = String::from_utf8(transport.value().to_vec()).unwrap();
        let lengths: Vec<usize> = text
            .split("Content-Length: ")
            .skip(1)
            .map(|rest| rest.split("\r\n").next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(lengths, (1..=20).collect::<Vec<_>>());
        assert!(!transport.is_disconnecting());
    }

    #[test]
    fn a_long_pipeline_yields_to_other_sockets_every_few_requests() {
        let request = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
        let input = request.repeat(40);
        let (mut protocol, mut transport) = received(false, &input);
        let one = wb_protocol::respond_all(request).len();
        assert_eq!(transport.value().len(), MAX_REQUESTS_PER_TURN * one);
        assert!(
            !transport.is_reading(),
            "no reading while the pipeline is unfinished"
        );
        assert_eq!(
            transport.take_timer(),
            Some(Duration::ZERO),
            "back next turn"
        );
        protocol.timer_fired(&mut transport);
        assert_eq!(transport.value().len(), 2 * MAX_REQUESTS_PER_TURN * one);
        assert!(transport.take_timer().is_some());
        protocol.timer_fired(&mut transport);
        assert_eq!(transport.value().len(), 40 * one);
        assert!(transport.is_reading(), "all answered: reading again");
        assert_eq!(transport.take_timer(), None);
    }

    #[test]
    fn a_timeout_mid_request_answers_408() {
        let (mut protocol, mut transport) = received(false, b"GET /hello HTTP/1.1\r\nHo");
        protocol.timed_out(&mut transport);
        assert!(
            transport
                .value()
                .starts_with(b"HTTP/1.1 408 Request Timeout\r\n")
        );
        assert!(transport.is_disconnecting());
    }

    #[test]
    fn a_job_stops_reading_until_it_is_answered() {
        let (mut protocol, mut transport) =
            received(false, b"GET /work?wait_ms=100 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(!transport.is_reading());
        assert_eq!(transport.take_timer().map(|d| d.as_millis()), Some(100));
        assert!(transport.value().is_empty(), "nothing before the wait ends");
        protocol.timer_fired(&mut transport);
        assert!(transport.value().starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(transport.is_reading());
        assert_eq!(protocol.heap_bytes(), 0, "an idle connection holds no heap");
    }

    #[test]
    fn offloaded_rounds_go_to_the_pool_and_inline_ones_do_not() {
        let request = b"GET /work?cpu_rounds=10 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut transport = MemoryTransport::new();
        HttpProtocol::new(false).data_received(request, &mut transport);
        assert!(transport.take_deferred().is_none());
        assert!(!transport.value().is_empty(), "computed inline at once");

        let (mut protocol, mut transport) = received(true, request);
        let work = transport.take_deferred().expect("deferred to the pool");
        assert!(transport.value().is_empty());
        assert!(!transport.is_reading());
        protocol.deferred_result(work(), &mut transport);
        assert_eq!(
            masked(transport.value()),
            masked(&wb_protocol::respond_all(request))
        );
        assert!(transport.is_reading());
    }

    #[test]
    fn an_error_closes_and_later_input_is_ignored() {
        let (mut protocol, mut transport) = received(
            false,
            b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(transport.value().starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(transport.is_disconnecting());
        let answered = transport.value().len();
        protocol.data_received(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", &mut transport);
        assert_eq!(transport.value().len(), answered);
    }

    #[test]
    fn backpressure_holds_pipelined_work_until_the_queue_drains() {
        use crate::write_queue::{HIGH_WATER, LOW_WATER};

        let request = b"GET /work?bytes=100000 HTTP/1.1\r\nHost: a\r\n\r\n";
        let input = request.repeat(3);
        let (mut protocol, mut transport) = received(false, &input);
        // The first answer went over the high mark; the next two wait in the session.
        assert!(transport.producing_paused());
        assert_eq!(
            masked(transport.value()),
            masked(&wb_protocol::respond_all(request))
        );
        assert!(
            !transport.is_reading(),
            "no reading while the queue is full"
        );

        // The network takes bytes; above the low mark nothing resumes.
        let first = transport.queued();
        assert!(!transport.send(first - LOW_WATER - 1));
        assert!(transport.producing_paused());
        // At the low mark the loop resumes the protocol, which produces the next answer.
        assert!(transport.send(1));
        protocol.resume_producing(&mut transport);
        assert_eq!(transport.value().len(), 2 * first);
        assert!(transport.queued() > HIGH_WATER);

        let mut rounds = 0;
        while transport.queued() > 0 {
            if transport.send(8 * 1024) {
                protocol.resume_producing(&mut transport);
            }
            rounds += 1;
            assert!(rounds < 1000, "{transport:?}");
        }
        assert_eq!(
            masked(transport.value()),
            masked(&wb_protocol::respond_all(&input))
        );
        assert!(transport.is_reading(), "drained: reading again");
    }
}
