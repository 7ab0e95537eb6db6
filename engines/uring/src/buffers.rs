//! The provided-buffer ring: one pool of receive buffers, lent to the kernel, which takes one
//! for a receive only when that receive's bytes arrive.
//!
//! The ring is shared memory (a page-aligned array of `{addr, len, bid}` entries whose tail the
//! program advances); it is registered with the ring as buffer group [`GROUP`]. A receive
//! posted with `IOSQE_BUFFER_SELECT` and that group takes the next free buffer when data
//! comes, and its completion says which (`IORING_CQE_F_BUFFER`, the buffer id in the upper
//! 16 bits of the flags). The loop hands the bytes to the session and gives the buffer back
//! at once ([`BufRing::give_back`]). When every buffer is out, a receive completes with
//! `ENOBUFS`, and the loop posts it again after it has returned some.

use std::alloc::{Layout, alloc_zeroed};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group the receives select from.
pub const GROUP: u16 = 0;

/// Buffers in the pool: a power of two (the ring's index is masked), enough for every
/// receive that completes in one turn of the loop under the workbench's loads.
pub const BUFFERS: u16 = 64;

/// Bytes per buffer: a request head fits (the core allows 16 KiB of head), and a pipelined
/// burst takes few receives. 64 × 16 KiB = 1 MiB of address space for all connections,
/// touched only where bytes have arrived.
pub const BUFFER_BYTES: usize = 16 * 1024;

/// The pool and the ring that lends it.
pub(crate) struct BufRing {
    /// The ring's entries, page-aligned, [`BUFFERS`] of them; never freed (see [`BufRing::new`]).
    entries: *mut BufRingEntry,
    /// The buffers, one block of `BUFFERS × BUFFER_BYTES`; never freed either.
    memory: *mut u8,
    /// The next tail to publish: entries are added at `tail & mask`.
    tail: u16,
}

impl BufRing {
    /// Allocates the ring and the buffers, registers them with `ring` as [`GROUP`], and lends
    /// every buffer.
    ///
    /// Both allocations live as long as the process: the kernel may still write a buffer while
    /// the ring is being torn down after the loop returns, and the process exits right after.
    pub(crate) fn new(ring: &io_uring::IoUring) -> io::Result<BufRing> {
        let ring_layout =
            Layout::from_size_align(BUFFERS as usize * size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        let memory_layout = Layout::from_size_align(BUFFERS as usize * BUFFER_BYTES, 4096)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size. Zeroed: the ring's tail (in entry 0's
        // reserved field) starts at 0, as the kernel expects at registration.
        let (entries, memory) = unsafe {
            (
                alloc_zeroed(ring_layout).cast::<BufRingEntry>(),
                alloc_zeroed(memory_layout),
            )
        };
        if entries.is_null() || memory.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // SAFETY: `entries` is page-aligned, holds BUFFERS entries and is never freed, so it
        // stays valid as long as the ring that reads it.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, BUFFERS, GROUP, 0)?
        };
        let mut bufs = BufRing {
            entries,
            memory,
            tail: 0,
        };
        for bid in 0..BUFFERS {
            bufs.add(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// The bytes the kernel wrote into buffer `bid`: its first `len`.
    pub(crate) fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        assert!(
            bid < BUFFERS && len <= BUFFER_BYTES,
            "buffer {bid}, {len} bytes"
        );
        // SAFETY: `bid` names one of our buffers, which the kernel has filled with `len`
        // bytes and handed back to us with the completion: until we lend it again
        // ([`BufRing::give_back`]), nobody else writes it.
        unsafe { std::slice::from_raw_parts(self.memory.add(bid as usize * BUFFER_BYTES), len) }
    }

    /// Lends buffer `bid` to the kernel again.
    pub(crate) fn give_back(&mut self, bid: u16) {
        self.add(bid);
        self.publish();
    }

    /// Writes the entry for `bid` at the tail (not yet visible to the kernel).
    fn add(&mut self, bid: u16) {
        let index = (self.tail & (BUFFERS - 1)) as usize;
        // SAFETY: `index` < BUFFERS, inside the entries array; the kernel reads an entry only
        // once the tail is published past it, so writing it here races with nothing.
        let entry = unsafe { &mut *self.entries.add(index) };
        // SAFETY: in bounds of the one block of buffers.
        entry.set_addr(unsafe { self.memory.add(bid as usize * BUFFER_BYTES) } as u64);
        entry.set_len(BUFFER_BYTES as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes the tail: the kernel may take every entry before it.
    fn publish(&self) {
        // SAFETY: the tail is the u16 in entry 0's reserved field (`BufRingEntry::tail`),
        // inside our page-aligned array; the kernel reads it, so it is stored atomically,
        // with release ordering, after the entries it covers.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast_mut();
            (*tail.cast::<AtomicU16>()).store(self.tail, Ordering::Release);
        }
    }
}
