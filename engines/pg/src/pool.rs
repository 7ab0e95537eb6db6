//! What every driver of a pool shares, whatever moves its bytes (mio, tokio, io_uring): the
//! check a request passes before it may wait, the FIFO queue's timeout and its failure when no
//! connection is left, and the back-off between attempts to connect.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{Completion, DbError, MAX_IDS, PoolSettings, Refused};

/// A request in the queue, or in flight on a connection.
#[derive(Debug)]
pub struct Waiting<K> {
    /// Who asked: it comes back with the [`Completion`].
    pub key: K,
    /// The ids whose rows are asked for.
    pub ids: Vec<i32>,
    /// When it was submitted: the queue timeout runs from here.
    pub since: Instant,
}

/// Refuses a request of no ids or more than [`MAX_IDS`]: a pool asks one batch per request.
pub fn check_ids(ids: &[i32]) -> Result<(), Refused> {
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(Refused::Invalid {
            ids: ids.len(),
            max: MAX_IDS,
        });
    }
    Ok(())
}

/// Fails, with [`DbError::Timeout`], every request at the front of `queue` that has waited
/// `timeout` by `now` (the queue is in order of arrival, so they are all at the front).
pub fn expire<K>(
    queue: &mut VecDeque<Waiting<K>>,
    timeout: Duration,
    now: Instant,
    done: &mut Vec<Completion<K>>,
) {
    while let Some(front) = queue.front()
        && front.since + timeout <= now
    {
        let waiting = queue.pop_front().expect("a front");
        done.push(Completion {
            key: waiting.key,
            result: Err(DbError::Timeout {
                waited: now - waiting.since,
            }),
        });
    }
}

/// Fails every waiting request with [`DbError::Unavailable`] and `reason`: with no connection
/// usable, waiting for a database that refuses connections would only turn a clear error into
/// a timeout.
pub fn fail_waiting<K>(
    queue: &mut VecDeque<Waiting<K>>,
    reason: Option<&DbError>,
    done: &mut Vec<Completion<K>>,
) {
    let reason = reason.map(ToString::to_string).unwrap_or_default();
    done.extend(queue.drain(..).map(|waiting| Completion {
        key: waiting.key,
        result: Err(DbError::Unavailable(reason.clone())),
    }));
}

/// The wait before a slot tries to connect again: [`PoolSettings::backoff_min`] after a
/// connection that worked is lost, doubling after each failed attempt up to
/// [`PoolSettings::backoff_max`], from the shortest again once a connection logs in.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The shortest wait.
    pub fn new(settings: &PoolSettings) -> Backoff {
        Backoff {
            next: settings.backoff_min,
        }
    }

    /// A connection logged in: the next failure waits the shortest time again.
    pub fn reset(&mut self, settings: &PoolSettings) {
        self.next = settings.backoff_min;
    }

    /// The wait that would follow a failure now.
    pub fn next(&self) -> Duration {
        self.next
    }

    /// Slot `slot` lost its connection (`was_ready`) or could not make one, after `err`:
    /// logs it and returns how long to wait before the next attempt; the one after waits
    /// twice as long.
    pub fn failed(
        &mut self,
        slot: usize,
        err: &DbError,
        was_ready: bool,
        settings: &PoolSettings,
    ) -> Duration {
        if was_ready {
            // A connection that worked and was lost: try again soon, from the shortest wait.
            self.next = settings.backoff_min;
            tracing::warn!(slot, "database connection lost: {err}");
        } else {
            tracing::warn!(slot, retry_in = ?self.next, "cannot connect to the database: {err}");
        }
        let wait = self.next;
        self.next = (self.next * 2).min(settings.backoff_max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_to_its_cap_and_starts_over_after_a_working_connection() {
        let settings = PoolSettings {
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(35),
            ..PoolSettings::new(1)
        };
        let err = DbError::Lost("gone".into());
        let mut backoff = Backoff::new(&settings);
        let waits: Vec<u64> = (0..4)
            .map(|_| backoff.failed(0, &err, false, &settings).as_millis() as u64)
            .collect();
        assert_eq!(waits, [10, 20, 35, 35]);
        assert_eq!(
            backoff.failed(0, &err, true, &settings),
            settings.backoff_min
        );
        backoff.reset(&settings);
        assert_eq!(backoff.next(), settings.backoff_min);
    }

    #[test]
    fn requests_expire_oldest_first_and_fail_together_when_nothing_is_left() {
        let start = Instant::now();
        let mut queue: VecDeque<Waiting<u32>> = (0..3)
            .map(|i| Waiting {
                key: i,
                ids: vec![1],
                since: start + Duration::from_secs(u64::from(i)),
            })
            .collect();
        let mut done = Vec::new();
        expire(
            &mut queue,
            Duration::from_secs(5),
            start + Duration::from_secs(6),
            &mut done,
        );
        let keys: Vec<u32> = done.iter().map(|c| c.key).collect();
        assert_eq!(keys, [0, 1]);
        fail_waiting(
            &mut queue,
            Some(&DbError::Lost("refused".into())),
            &mut done,
        );
        assert!(queue.is_empty());
        assert!(
            matches!(&done[2].result, Err(DbError::Unavailable(why)) if why.contains("refused"))
        );
        assert_eq!(
            check_ids(&[]),
            Err(Refused::Invalid {
                ids: 0,
                max: MAX_IDS
            })
        );
    }
}
