//! What `Transport::write` does with bytes: queue them, and write them out as the socket allows.
//!
//! A non-blocking socket takes only what fits in its kernel send buffer (a few hundred KiB at
//! most, often less); the rest of a response must wait for the socket to become writable
//! again. The queue keeps whole responses as they came from `Job::perform` (no copy, even at
//! 64 MiB) and remembers how far into the first one the kernel has taken.
//!
//! Backpressure: while more than [`HIGH_WATER`] bytes are queued the connection stops reading
//! and its protocol stops producing, until the queue drains to [`LOW_WATER`] — a client that
//! pipelines requests but never reads the answers cannot make the server buffer without bound.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

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

/// The bytes a connection has written but the kernel has not yet taken.
///
/// An empty queue holds no heap memory: once the last buffer is written the deque itself is
/// freed, so an idle keep-alive connection pays only `size_of::<WriteQueue>()` bytes.
#[derive(Debug, Default)]
pub struct WriteQueue {
    /// Whole buffers, oldest first.
    buffers: VecDeque<Vec<u8>>,
    /// How many bytes of `buffers[0]` were already written.
    offset: usize,
    /// Bytes queued and not yet written, summed once here instead of walking the deque.
    len: usize,
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

    /// Appends a buffer. Takes ownership: a 64 MiB response is queued without being copied.
    pub fn push(&mut self, data: Vec<u8>) {
        if !data.is_empty() {
            self.len += data.len();
            self.buffers.push_back(data);
        }
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether everything has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (capacity, not length): 0 once drained.
    pub fn heap_bytes(&self) -> usize {
        self.buffers.capacity() * size_of::<Vec<u8>>()
            + self.buffers.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Writes as much as `sink` takes: until the queue is empty (`Ok(true)`) or the sink says
    /// `WouldBlock` (`Ok(false)`: wait for the socket to be writable). Any other error is the
    /// connection's end (broken pipe, reset) and is returned.
    pub fn write_to(&mut self, sink: &mut impl Write) -> io::Result<bool> {
        while !self.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            for (i, buffer) in self.buffers.iter().take(MAX_IOVECS).enumerate() {
                let start = if i == 0 { self.offset } else { 0 };
                slices[i] = IoSlice::new(&buffer[start..]);
                count += 1;
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

    /// Marks `n` bytes as written, dropping the buffers that are done.
    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let first_left = self.buffers[0].len() - self.offset;
            if n < first_left {
                self.offset += n;
                return;
            }
            n -= first_left;
            self.offset = 0;
            // Dropping the written buffer frees it at once: a 64 MiB response is released as
            // soon as the kernel has taken its last byte.
            self.buffers.pop_front();
        }
        if self.buffers.is_empty() {
            // `VecDeque` keeps its ring buffer when emptied; replace it so that an idle
            // connection holds no heap memory at all.
            self.buffers = VecDeque::new();
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
        queue.push(b"first response|".to_vec());
        queue.push(Vec::new());
        queue.push(b"second|".to_vec());
        queue.push(b"third".to_vec());
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
    fn pipelined_responses_share_one_writev() {
        let mut queue = WriteQueue::new();
        for _ in 0..10 {
            queue.push(b"HTTP/1.1 200 OK\r\n\r\n".to_vec());
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
        queue.push(vec![b'x'; 100_000]);
        queue.push(vec![b'y'; 10]);
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
        queue.push(b"lost".to_vec());
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
