//! The system calls an engine makes, counted by the engine itself, and read by the runner
//! between steps: how many calls an answer costs in each model.
//!
//! A readiness loop asks the kernel what is ready (`epoll_wait`), then makes the calls itself
//! (`recv`, `writev`, `epoll_ctl`, `accept`); a completion loop hands the kernel the work and
//! collects the results, many operations per `io_uring_enter`. The difference is in the
//! counts, so the engines that are about it count their calls where they make them
//! ([`count`]), one relaxed atomic add each (a nanosecond beside the call's microsecond).
//!
//! # How the counts leave the process
//!
//! `workbench engine … --syscalls FILE` makes the counters live in `FILE`, mapped shared
//! ([`publish`]): every count is a store into the page cache, no system call and no
//! message, and the runner reads the file ([`read`]) before and after a step's load; the
//! difference over the answers the load generator counted is the step's calls per answer.
//! Without the flag the counters live in this process's memory and nobody reads them.
//!
//! Each thread counts into a slot of its own ([`use_slot`]: a loop per core gives each loop
//! its index), 64 bytes apart, so that two loops never write the same cache line. An engine
//! that counts says so ([`counting`]): a file nobody marked stays "not counted", never zero
//! calls.

use std::cell::Cell;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// The calls counted, in the order of the file's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `epoll_wait`: the readiness loop's one question to the kernel.
    EpollWait,
    /// `epoll_ctl`: joining, leaving or changing the epoll set.
    EpollCtl,
    /// `accept4`.
    Accept,
    /// `recv`/`read` on a connection (a client's, or one of the engine's database
    /// connections).
    Read,
    /// `send`/`writev` on a connection (a client's, or a database connection's).
    Write,
    /// `shutdown` (the lingering close's FIN).
    Shutdown,
    /// `close` of a connection.
    Close,
    /// `io_uring_enter`: submit operations, wait for completions, or both, in one call.
    UringEnter,
}

/// How many kinds of calls are counted.
pub const CALLS: usize = 8;

impl Call {
    /// Every call, in the file's order.
    pub const ALL: [Call; CALLS] = [
        Call::EpollWait,
        Call::EpollCtl,
        Call::Accept,
        Call::Read,
        Call::Write,
        Call::Shutdown,
        Call::Close,
        Call::UringEnter,
    ];

    /// Its name: `epoll_wait`, `io_uring_enter`.
    pub fn name(self) -> &'static str {
        match self {
            Call::EpollWait => "epoll_wait",
            Call::EpollCtl => "epoll_ctl",
            Call::Accept => "accept",
            Call::Read => "read",
            Call::Write => "write",
            Call::Shutdown => "shutdown",
            Call::Close => "close",
            Call::UringEnter => "io_uring_enter",
        }
    }
}

/// Threads that count into slots of their own; more share slots (still correct: the adds
/// are atomic).
pub const SLOTS: usize = 32;

/// One thread's counters, alone on its cache line.
#[repr(C, align(64))]
struct Slot([AtomicU64; CALLS]);

/// The counters, as laid out in memory and in the file: a marker, then the slots.
#[repr(C)]
struct Page {
    /// [`MARK`] once an engine that counts has said so.
    mark: AtomicU64,
    _pad: [u64; 7],
    slots: [Slot; SLOTS],
}

/// What [`counting`] writes: "wbcalls1", little-endian.
const MARK: u64 = u64::from_le_bytes(*b"wbcalls1");

/// The counters when no file was asked for.
static LOCAL: Page = Page {
    mark: AtomicU64::new(0),
    _pad: [0; 7],
    slots: [const { Slot([const { AtomicU64::new(0) }; CALLS]) }; SLOTS],
};

/// The shared page, once [`publish`]ed; null until then.
static SHARED: AtomicPtr<Page> = AtomicPtr::new(std::ptr::null_mut());

thread_local! {
    /// This thread's slot.
    static SLOT: Cell<usize> = const { Cell::new(0) };
}

fn page() -> &'static Page {
    let shared = SHARED.load(Ordering::Acquire);
    if shared.is_null() {
        &LOCAL
    } else {
        // SAFETY: `publish` stored a pointer to a shared mapping of `size_of::<Page>()`
        // bytes, aligned to a page, that is never unmapped; every field is an atomic (or
        // padding never touched), so shared references to it are sound even while the
        // kernel's page cache is read by another process.
        unsafe { &*shared }
    }
}

/// Counts one call of `call` by this thread.
#[inline]
pub fn count(call: Call) {
    let slot = SLOT.with(Cell::get);
    page().slots[slot % SLOTS].0[call as usize].fetch_add(1, Ordering::Relaxed);
}

/// Counts `n` calls of `call` by this thread.
#[inline]
pub fn count_n(call: Call, n: u64) {
    let slot = SLOT.with(Cell::get);
    page().slots[slot % SLOTS].0[call as usize].fetch_add(n, Ordering::Relaxed);
}

/// Makes this thread count into slot `index` (a loop per core: the loop's index).
pub fn use_slot(index: usize) {
    SLOT.with(|slot| slot.set(index));
}

/// Says that this engine counts its calls: a reader of the file then trusts the counts.
pub fn counting() {
    page().mark.store(MARK, Ordering::Release);
}

/// Moves the counters into `path`, created (or emptied) and mapped shared, for a reader in
/// another process ([`read`]). Call it once, before serving; calls counted before are lost.
pub fn publish(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let len = size_of::<Page>();
    file.set_len(len as u64)?;
    // SAFETY: a fresh shared mapping of the file we just sized to `len` bytes; the kernel
    // picks the (page-aligned) address. The file may be closed afterwards: the mapping keeps
    // its own reference. A zero-filled file is a valid `Page`: every atomic starts at 0.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // Never unmapped: the counters live as long as the process.
    SHARED.store(addr.cast(), Ordering::Release);
    Ok(())
}

/// The counts in a file an engine [`publish`]ed, summed over its slots, in [`Call::ALL`]'s
/// order; `None` when the engine did not say it counts (an engine that does not count its
/// calls, or a file not written yet).
pub fn read(path: &Path) -> io::Result<Option<[u64; CALLS]>> {
    let bytes = std::fs::read(path)?;
    let word = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if word(0) != Some(MARK) {
        return Ok(None);
    }
    let mut sums = [0u64; CALLS];
    for slot in 0..SLOTS {
        let base = 64 + slot * 64;
        for (call, sum) in sums.iter_mut().enumerate() {
            *sum += word(base + call * 8).ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "a short counters file")
            })?;
        }
    }
    Ok(Some(sums))
}

/// This process's counts, summed over its slots (for tests and `--describe`).
pub fn totals() -> [u64; CALLS] {
    let mut sums = [0u64; CALLS];
    for slot in &page().slots {
        for (sum, counter) in sums.iter_mut().zip(&slot.0) {
            *sum += counter.load(Ordering::Relaxed);
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_readers() {
        assert_eq!(size_of::<Slot>(), 64);
        assert_eq!(size_of::<Page>(), 64 + SLOTS * 64);
        assert_eq!(std::mem::offset_of!(Page, slots), 64);
    }

    /// One test for the shared page: publishing is once per process.
    #[test]
    fn counts_reach_a_reader_of_the_file_only_once_the_engine_counts() {
        let path = std::env::temp_dir().join(format!("wb-syscalls-test-{}", std::process::id()));
        publish(&path).unwrap();
        count(Call::Read);
        assert_eq!(read(&path).unwrap(), None, "not marked: not counted");
        counting();
        std::thread::spawn(|| {
            use_slot(3);
            count_n(Call::UringEnter, 2);
            count(Call::Read);
        })
        .join()
        .unwrap();
        let sums = read(&path).unwrap().unwrap();
        assert_eq!(sums[Call::Read as usize], 2);
        assert_eq!(sums[Call::UringEnter as usize], 2);
        assert_eq!(sums.iter().sum::<u64>(), 4);
        assert_eq!(totals(), sums);
        std::fs::remove_file(&path).unwrap();
    }
}
