//! What `Transport::write` does with bytes: queue them, and write them out as the socket allows.
//!
//! A non-blocking socket takes only what fits in its kernel send buffer (a few hundred KiB at
//! most, often less); the rest of a response must wait for the socket to become writable
//! again. The queue keeps whole responses as they came from `Job::respond` (a head and a body
//! streamed from a static pattern, never rendered) and each remembers how far it has been sent.
//!
//! Backpressure: while more than [`HIGH_WATER`] bytes are queued the connection stops reading
//! and its protocol stops producing, until the queue drains to [`LOW_WATER`] — a client that
//! pipelines requests but never reads the answers cannot make the server buffer without bound.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::time::Instant;

use wb_protocol::Response;

/// Above this many queued bytes, reading and producing pause.
///
/// Precedents: asyncio's default write-buffer high-water mark is 64 KiB
/// (`FlowControlMixin._set_write_buffer_limits`), and Twisted pauses a producer when a
/// transport buffers more than `FileDescriptor.bufferSize`, 2¹⁶ bytes.
pub const HIGH_WATER: usize = 64 * 1024;

/// At or below this many queued bytes, reading and producing resume: asyncio's default low
/// mark, a quarter of the high one. The gap between the two marks keeps a connection from
/// flapping between paused and resumed on every write.
pub const LOW_WATER: usize = HIGH_WATER / 4;

/// How many queued buffers one `writev` call sends at most: pipelined responses go out
/// together in one system call. Linux accepts up to `IOV_MAX` (1024).
const MAX_IOVECS: usize = 64;

/// The responses a connection has written but the kernel has not yet taken.
///
/// An empty queue holds no heap memory and is one null pointer: once the last response is
/// written the queue's box is freed, so an idle keep-alive connection pays 8 bytes for it. A
/// queued [`Response`] holds its head on the heap and nothing for its body, which is streamed
/// from the core's static pattern: a 64 MiB answer to a client that reads nothing costs about
/// 200 bytes.
#[derive(Debug, Default)]
pub struct WriteQueue {
    /// `None` while empty.
    queued: Option<Box<Queued>>,
}

/// A non-empty queue.
#[derive(Debug)]
struct Queued {
    /// Whole responses, oldest first; each remembers how far it has been sent.
    buffers: VecDeque<Response>,
    /// Bytes queued and not yet written, summed once here instead of walking the deque.
    len: u64,
    /// When the queue last made progress, or became non-empty ([`WriteQueue::progressed`]):
    /// `--send-timeout` counts from here. Kept here rather than in the connection because
    /// only a non-empty queue has one.
    since: Option<Instant>,
}

/// What a connection must do after its queue length changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Stop reading and tell the protocol to pause producing.
    Pause,
    /// Read again and tell the protocol to resume producing.
    Resume,
    /// Nothing changes.
    Same,
}

/// The backpressure rule, with hysteresis: pause above [`HIGH_WATER`], resume at or below
/// [`LOW_WATER`], otherwise stay as it is.
pub fn flow(paused: bool, queued: usize) -> Flow {
    if !paused && queued > HIGH_WATER {
        Flow::Pause
    } else if paused && queued <= LOW_WATER {
        Flow::Resume
    } else {
        Flow::Same
    }
}

impl WriteQueue {
    /// An empty queue (no allocation).
    pub fn new() -> WriteQueue {
        WriteQueue::default()
    }

    /// Appends a response. Takes ownership: nothing is copied.
    pub fn push(&mut self, data: Response) {
        if !data.is_done() {
            let queued = self.queued.get_or_insert_with(|| {
                Box::new(Queued {
                    buffers: VecDeque::new(),
                    len: 0,
                    since: None,
                })
            });
            queued.len += data.remaining();
            queued.buffers.push_back(data);
        }
    }

    /// Bytes waiting to be written (saturating at `usize::MAX` on 32-bit targets).
    pub fn len(&self) -> usize {
        self.queued
            .as_ref()
            .map_or(0, |q| usize::try_from(q.len).unwrap_or(usize::MAX))
    }

    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.queued.is_none()
    }

    /// Records that the queue made progress (or became non-empty) at `now`; nothing while
    /// it is empty.
    pub fn progressed(&mut self, now: Instant) {
        if let Some(queued) = &mut self.queued {
            queued.since = Some(now);
        }
    }

    /// When the queue last made progress or became non-empty, as [`progressed`] recorded
    /// it; `None` while empty (or never recorded).
    ///
    /// [`progressed`]: WriteQueue::progressed
    pub fn since(&self) -> Option<Instant> {
        self.queued.as_ref().and_then(|q| q.since)
    }

    /// Heap bytes held: the box, the deque, and each queued response's unsent head. 0 once
    /// drained.
    pub fn heap_bytes(&self) -> usize {
        self.queued.as_ref().map_or(0, |q| {
            size_of::<Queued>()
                + q.buffers.capacity() * size_of::<Response>()
                + q.buffers.iter().map(|r| r.slices()[0].len()).sum::<usize>()
        })
    }

    /// Writes as much as `sink` takes: until the queue is empty (`Ok(true)`) or the sink says
    /// `WouldBlock` (`Ok(false)`: wait for the socket to be writable). Any other error is the
    /// connection's end (broken pipe, reset) and is returned.
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<bool> {
        while !self.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            // Each response gives its unsent head and its next body chunk (at most 64 KiB). The
            // next response joins only if those two are all that is left of this one: bytes
            // must leave in order.
            let Some(queued) = &self.queued else { break };
            'fill: for response in &queued.buffers {
                let mut offered = 0;
                for part in response.slices() {
                    if count == MAX_IOVECS {
                        break 'fill;
                    }
                    if !part.is_empty() {
                        slices[count] = IoSlice::new(part);
                        count += 1;
                        offered += part.len() as u64;
                    }
                }
                if offered < response.remaining() {
                    break;
                }
            }
            match sink.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                // The kernel's send buffer is full: the rest waits for a writable event.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                // A signal arrived during the call; nothing was written, try again.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// Drops the queued bytes (the connection is gone).
    pub fn clear(&mut self) {
        *self = WriteQueue::new();
    }

    /// Marks `n` bytes as written, dropping the responses that are done.
    fn advance(&mut self, mut n: usize) {
        let Some(queued) = &mut self.queued else {
            return;
        };
        queued.len -= n as u64;
        while n > 0 {
            let first = &mut queued.buffers[0];
            // `write_to` offered a later response only when it offered all of the first, so
            // bytes past the first's rest belong to the next one.
            let take = usize::try_from(first.remaining()).map_or(n, |left| left.min(n));
            first.advance(take);
            n -= take;
            if first.is_done() {
                // A finished response is freed at once.
                queued.buffers.pop_front();
            }
        }
        if queued.buffers.is_empty() {
            // Drained: free the box (and the deque's ring buffer in it), so that an idle
            // connection holds no heap memory at all.
            self.queued = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket stand-in: takes at most `per_call` bytes per write and `budget` bytes in all,
    /// then says `WouldBlock`, like a full kernel send buffer.
    struct Sink {
        taken: Vec<u8>,
        per_call: usize,
        budget: usize,
        calls: usize,
    }

    impl Sink {
        fn new(per_call: usize, budget: usize) -> Sink {
            Sink {
                taken: Vec::new(),
                per_call,
                budget,
                calls: 0,
            }
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.per_call - n).min(self.budget);
                self.taken.extend_from_slice(&buf[..take]);
                n += take;
                self.budget -= take;
                if take < buf.len() {
                    break;
                }
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut queue = WriteQueue::new();
        queue.push(b"first response|".to_vec().into());
        queue.push(Vec::new().into());
        queue.push(b"second|".to_vec().into());
        queue.push(b"third".to_vec().into());
        assert_eq!(queue.len(), 27);

        // The "kernel" takes 10 bytes, 4 at a time, then its buffer is full.
        let mut sink = Sink::new(4, 10);
        assert!(!queue.write_to(&mut sink).unwrap());
        assert_eq!(sink.taken, b"first resp");
        assert_eq!(queue.len(), 17);

        // Writable again with room for everything: the rest goes out in order.
        sink.budget = usize::MAX;
        sink.per_call = 1000;
        assert!(queue.write_to(&mut sink).unwrap());
        assert_eq!(sink.taken, b"first response|second|third");
        assert!(queue.is_empty());
    }

    #[test]
    fn a_streamed_body_leaves_in_order_before_the_next_response() {
        let job = |bytes: usize| {
            let request = format!("GET /work?bytes={bytes} HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut session = wb_protocol::Session::new();
            session.receive_data(request.as_bytes());
            match session.next_event() {
                wb_protocol::Event::Job(job) => job,
                other => panic!("{other:?}"),
            }
        };
        let (big, small) = (job(300_000), job(5));
        let (big, small) = (big.respond(), small.respond());
        let want = [big.clone().into_vec(), small.clone().into_vec()].concat();
        let mut queue = WriteQueue::new();
        queue.push(big);
        queue.push(small);
        assert_eq!(queue.len(), want.len());
        assert!(queue.heap_bytes() < 4096, "no body on the heap");
        let mut sink = Sink::new(usize::MAX, usize::MAX);
        assert!(queue.write_to(&mut sink).unwrap());
        assert!(sink.taken == want);
    }

    #[test]
    fn pipelined_responses_share_one_writev() {
        let mut queue = WriteQueue::new();
        for _ in 0..10 {
            queue.push(b"HTTP/1.1 200 OK\r\n\r\n".to_vec().into());
        }
        let mut sink = Sink::new(usize::MAX, usize::MAX);
        assert!(queue.write_to(&mut sink).unwrap());
        assert_eq!(sink.calls, 1);
        assert_eq!(sink.taken.len(), 190);
    }

    #[test]
    fn a_drained_queue_holds_no_heap_memory() {
        let mut queue = WriteQueue::new();
        assert_eq!(queue.heap_bytes(), 0);
        queue.push(vec![b'x'; 100_000].into());
        queue.push(vec![b'y'; 10].into());
        assert!(queue.heap_bytes() >= 100_010);
        let mut sink = Sink::new(usize::MAX, 60_000);
        assert!(!queue.write_to(&mut sink).unwrap());
        sink.budget = usize::MAX;
        assert!(queue.write_to(&mut sink).unwrap());
        assert_eq!(queue.heap_bytes(), 0);
    }

    #[test]
    fn errors_other_than_would_block_end_the_connection() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut queue = WriteQueue::new();
        queue.push(b"lost".to_vec().into());
        let err = queue.write_to(&mut Broken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn backpressure_pauses_above_high_and_resumes_at_low() {
        assert_eq!(flow(false, 0), Flow::Same);
        assert_eq!(flow(false, HIGH_WATER), Flow::Same);
        assert_eq!(flow(false, HIGH_WATER + 1), Flow::Pause);
        // Hysteresis: a paused connection stays paused between the marks...
        assert_eq!(flow(true, HIGH_WATER + 1), Flow::Same);
        assert_eq!(flow(true, LOW_WATER + 1), Flow::Same);
        // ...and resumes once drained to the low mark.
        assert_eq!(flow(true, LOW_WATER), Flow::Resume);
        assert_eq!(flow(true, 0), Flow::Resume);
        assert_eq!(flow(false, LOW_WATER + 1), Flow::Same);
    }
}
