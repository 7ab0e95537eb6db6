//! A transport without a socket, for testing protocols (Twisted's `StringTransport`).
//!
//! A protocol written against [`Transport`] can be driven entirely from a test: feed it bytes
//! whole or one at a time, look at what it wrote, fire its timer and run its deferred work by
//! hand — no loop, no sockets, no clock, so nothing in the test depends on timing.

use std::time::Duration;

use wb_protocol::Response;

use crate::interfaces::{Transport, Work};
use crate::write_queue::{Flow, flow};

/// Records everything a protocol asks of its transport.
pub struct MemoryTransport {
    /// Every byte written, in order (Twisted's `StringTransport.value()`).
    written: Vec<u8>,
    /// How many of `written` the pretend network has taken ([`MemoryTransport::send`]); the
    /// rest is "queued" and counts against the high-water mark.
    sent: usize,
    /// Backpressure, with the loop's rule ([`flow`]).
    paused: bool,
    /// Whether the protocol wants input (on until `pause_reading`).
    reading: bool,
    /// Set by `lose_connection` (Twisted's `disconnecting`).
    disconnecting: bool,
    /// The pending `call_later` delay, if any.
    timer: Option<Duration>,
    /// The pending `defer_to_thread` work, if any.
    deferred: Option<Work>,
    /// The pending `query_world` ids, if any.
    query: Option<Vec<i32>>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("written", &String::from_utf8_lossy(&self.written))
            .field("sent", &self.sent)
            .field("paused", &self.paused)
            .field("reading", &self.reading)
            .field("disconnecting", &self.disconnecting)
            .field("timer", &self.timer)
            .field("deferred", &self.deferred.is_some())
            .field("query", &self.query)
            .finish()
    }
}

impl Default for MemoryTransport {
    fn default() -> Self {
        MemoryTransport {
            written: Vec::new(),
            sent: 0,
            paused: false,
            reading: true,
            disconnecting: false,
            timer: None,
            deferred: None,
            query: None,
        }
    }
}

impl MemoryTransport {
    /// A fresh transport: reading, nothing written.
    pub fn new() -> MemoryTransport {
        MemoryTransport::default()
    }

    /// Everything written so far.
    pub fn value(&self) -> &[u8] {
        &self.written
    }

    /// Lets the pretend network take up to `n` queued bytes. Returns true when that drained
    /// the queue to the low-water mark of a paused protocol: the test must then call
    /// `resume_producing`, as the loop would.
    pub fn send(&mut self, n: usize) -> bool {
        self.sent = self.written.len().min(self.sent.saturating_add(n));
        let resumed = flow(self.paused, self.queued()) == Flow::Resume;
        if resumed {
            self.paused = false;
        }
        resumed
    }

    /// Bytes written and not yet taken by [`send`](Self::send).
    pub fn queued(&self) -> usize {
        self.written.len() - self.sent
    }

    /// Whether the protocol wants input.
    pub fn is_reading(&self) -> bool {
        self.reading
    }

    /// Whether the protocol called `lose_connection`.
    pub fn is_disconnecting(&self) -> bool {
        self.disconnecting
    }

    /// Takes the pending `call_later` delay: the test plays the clock and then calls
    /// `timer_fired` itself.
    pub fn take_timer(&mut self) -> Option<Duration> {
        self.timer.take()
    }

    /// Takes the pending deferred work: the test runs it and passes the result to
    /// `deferred_result`.
    pub fn take_deferred(&mut self) -> Option<Work> {
        self.deferred.take()
    }

    /// Takes the pending `query_world` ids: the test plays the database and then calls
    /// `rows_received` itself.
    pub fn take_query(&mut self) -> Option<Vec<i32>> {
        self.query.take()
    }
}

impl Transport for MemoryTransport {
    fn write(&mut self, data: Response) {
        if !self.disconnecting {
            self.written.extend_from_slice(&data.into_vec());
            if flow(self.paused, self.queued()) == Flow::Pause {
                self.paused = true;
            }
        }
    }

    fn producing_paused(&self) -> bool {
        self.paused
    }

    fn lose_connection(&mut self) {
        self.disconnecting = true;
        self.reading = false;
    }

    fn pause_reading(&mut self) {
        self.reading = false;
    }

    fn resume_reading(&mut self) {
        if !self.disconnecting {
            self.reading = true;
        }
    }

    fn call_later(&mut self, delay: Duration) {
        self.deferred = None;
        self.timer = Some(delay);
    }

    fn rest_reading(&mut self, rest: Duration) {
        self.reading = false;
        self.call_later(rest);
    }

    fn defer_to_thread(&mut self, work: Work) {
        self.timer = None;
        self.deferred = Some(work);
    }

    fn query_world(&mut self, ids: Vec<i32>) {
        self.timer = None;
        self.query = Some(ids);
    }
}
