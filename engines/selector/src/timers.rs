//! The loop's clock: a min-heap of deadlines whose earliest one becomes `poll`'s timeout.
//!
//! This is what Twisted's `reactor.callLater` and asyncio's `loop.call_later` keep: a heap of
//! `(deadline, sequence, what)`. The loop asks [`TimerHeap::timeout`] how long it may sleep in
//! `epoll_wait`, and after every wake-up pops whatever [`TimerHeap::pop_expired`] says is due.
//!
//! Cancelling is lazy, as in asyncio: a timer that is no longer wanted (its connection closed,
//! or a newer timer replaced it) stays in the heap and is recognised as stale by its owner when
//! it fires. Removing from the middle of a binary heap costs O(n); leaving a 32-byte entry until
//! its deadline costs nothing.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// A min-heap of timers, each carrying a `K` that says what to do when it fires.
#[derive(Debug)]
pub struct TimerHeap<K> {
    /// `BinaryHeap` is a max-heap; `Reverse` turns it into a min-heap on the deadline.
    heap: BinaryHeap<Reverse<Entry<K>>>,
    /// Incremented on every push: timers with the same deadline fire in the order they were
    /// added (asyncio gives the same guarantee), whatever the heap's internal order.
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<K> {
    deadline: Instant,
    seq: u64,
    key: K,
}

// Entries are ordered by (deadline, seq) only: `seq` is unique, so the order is total and `K`
// needs no `Ord` of its own.
impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl<K> Default for TimerHeap<K> {
    fn default() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<K> TimerHeap<K> {
    /// An empty heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a timer that fires at `deadline`.
    pub fn push(&mut self, deadline: Instant, key: K) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { deadline, seq, key }));
    }

    /// How long `poll` may block: until the earliest deadline (zero if it has passed), or
    /// forever (`None`) if there is no timer.
    ///
    /// mio rounds this up to whole milliseconds for `epoll_wait`, so the loop may wake a little
    /// late but never early and never spins on a sub-millisecond timeout. It may still wake
    /// early for other reasons (an event, a signal, a spurious wake-up): the loop only fires
    /// what [`pop_expired`](Self::pop_expired) says is due, and otherwise sleeps again.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse(entry)| entry.deadline.saturating_duration_since(now))
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse(entry)) if entry.deadline <= now => {
                self.heap.pop().map(|Reverse(entry)| entry.key)
            }
            _ => None,
        }
    }

    /// How many timers are pending, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timers_fire_in_deadline_order_whatever_the_push_order() {
        let t0 = Instant::now();
        let mut timers = TimerHeap::new();
        for (delay, name) in [(30, "c"), (10, "a"), (50, "e"), (20, "b"), (40, "d")] {
            timers.push(t0 + ms(delay), name);
        }
        let mut fired = Vec::new();
        while let Some(name) = timers.pop_expired(t0 + ms(100)) {
            fired.push(name);
        }
        assert_eq!(fired, ["a", "b", "c", "d", "e"]);
        assert!(timers.is_empty());
    }

    #[test]
    fn equal_deadlines_fire_in_insertion_order() {
        let t0 = Instant::now();
        let mut timers = TimerHeap::new();
        for i in 0..20 {
            timers.push(t0 + ms(5), i);
        }
        let fired: Vec<_> = std::iter::from_fn(|| timers.pop_expired(t0 + ms(5))).collect();
        assert_eq!(fired, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn only_due_timers_pop_and_the_timeout_is_the_earliest_deadline() {
        let t0 = Instant::now();
        let mut timers = TimerHeap::new();
        assert_eq!(timers.timeout(t0), None, "no timer: block until an event");
        timers.push(t0 + ms(20), 'b');
        timers.push(t0 + ms(10), 'a');
        assert_eq!(timers.timeout(t0), Some(ms(10)));
        // A spurious wake-up before the deadline fires nothing.
        assert_eq!(timers.pop_expired(t0 + ms(9)), None);
        assert_eq!(timers.timeout(t0 + ms(9)), Some(ms(1)));
        assert_eq!(timers.pop_expired(t0 + ms(10)), Some('a'));
        assert_eq!(timers.pop_expired(t0 + ms(10)), None);
        // A deadline already passed means "don't block at all".
        assert_eq!(timers.timeout(t0 + ms(25)), Some(Duration::ZERO));
        assert_eq!(timers.len(), 1);
    }
}
