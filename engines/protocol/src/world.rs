//! TechEmpower's database tests in the core's vocabulary: `GET /db` (one random `World` row)
//! and `GET /queries?n=N` (N rows, one query each).
//!
//! The core has no database, and no socket to one: it says *which* rows to fetch
//! ([`Job::world_ids`](crate::Job::world_ids)), the engine fetches them its own way (a blocking
//! client from a pool, one connection per worker, a non-blocking client on the loop, an async
//! client from a pool: that is the lesson), hands them back
//! ([`Job::give_rows`](crate::Job::give_rows)) and the core renders the JSON. Every engine thus
//! sends the same bytes for the same rows.
//!
//! # The table
//!
//! TechEmpower's `World`: [`WORLD_ROWS`] rows, `id` 1 to 10,000 and `randomNumber` a random
//! whole number from 1 to 10,000, fetched one row per query with [`SELECT_WORLD`] (the
//! benchmark forbids batching the N queries of `/queries` into one).
//!
//! # Routes
//!
//! - `GET /db`: one random row, as `{"id":3217,"randomNumber":2149}`.
//! - `GET /queries?n=N`: N random rows as a JSON array. TechEmpower's clamping rules: a
//!   missing or non-numeric N counts as 1, below 1 as 1, above [`MAX_QUERIES`] as 500.
//! - `?id=K` on either route fixes the (first) id, so that two engines answer the same bytes:
//!   `/db?id=K` fetches row K, `/queries?n=3&id=K` rows K, K+1, K+2 (after 10,000 comes 1).
//!   K out of 1 to 10,000 is a `400`. This form is the conformance suite's, not TechEmpower's.
//!
//! When the engine could not fetch the rows (no database configured, a connection refused,
//! the pool's wait timed out), it calls [`Job::database_failed`](crate::Job::database_failed)
//! and the answer is `503 Service Unavailable` with the reason: the connection stays open, as
//! the failure is the database's, not the client's.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// Rows in TechEmpower's `World` table: ids 1 to 10,000.
pub const WORLD_ROWS: i32 = 10_000;

/// The most rows `/queries` fetches (TechEmpower's upper clamp).
pub const MAX_QUERIES: usize = 500;

/// The one query of both routes, once per row: TechEmpower's
/// `SELECT id, randomNumber FROM World WHERE id = ?` (unquoted names fold to lower case).
pub const SELECT_WORLD: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// The schema and the seed of the database every engine reads: TechEmpower's `World` (10,000
/// rows) and `Fortune` (its 12 fortunes) tables. Idempotent: run on an empty database.
pub const SEED_SQL: &str = "\
CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
INSERT INTO world (id, randomnumber)
  SELECT x, 1 + floor(random() * 10000)::integer FROM generate_series(1, 10000) AS x;
CREATE TABLE fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL);
INSERT INTO fortune (id, message) VALUES
  (1, 'fortune: No such file or directory'),
  (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
  (3, 'After enough decimal places, nobody gives a damn.'),
  (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
  (5, 'A computer program does what you tell it to do, not what you want it to do.'),
  (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
  (7, 'Any program that runs right is obsolete.'),
  (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
  (9, 'Feature: A bug with seniority.'),
  (10, 'Computers make very fast, very accurate mistakes.'),
  (11, '<script>alert(\"This should not be displayed in a browser alert box.\");</script>'),
  (12, 'フレームワークのベンチマーク');
ANALYZE world;
ANALYZE fortune;
";

/// One row of `World`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorldRow {
    /// 1 to [`WORLD_ROWS`].
    pub id: i32,
    /// 1 to 10,000 in the seeded table.
    pub random_number: i32,
}

/// What a `/db` or `/queries` request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldQuery {
    /// How many rows (1 for `/db`).
    pub rows: usize,
    /// The first id when fixed (`?id=K`), or `None` for random ids.
    pub first_id: Option<i32>,
    /// `/queries` answers an array; `/db` one object.
    pub array: bool,
}

impl WorldQuery {
    /// The ids to fetch, in order: random ones, or `first_id` and the rows after it.
    pub fn ids(&self) -> Vec<i32> {
        match self.first_id {
            Some(first) => (0..self.rows as i32)
                .map(|i| (first - 1 + i).rem_euclid(WORLD_ROWS) + 1)
                .collect(),
            None => (0..self.rows).map(|_| random_id()).collect(),
        }
    }
}

/// Parses `/db`'s query: empty, or `id=K`.
pub fn parse_db_query(query: &str) -> Result<WorldQuery, &'static str> {
    let mut first_id = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("id", value)) if first_id.is_none() => first_id = Some(parse_id(value)?),
            _ => return Err("/db takes at most one parameter, id, a whole number from 1 to 10000"),
        }
    }
    Ok(WorldQuery {
        rows: 1,
        first_id,
        array: false,
    })
}

/// Parses `/queries`' query: `n=N` with TechEmpower's clamping (missing or not a number: 1;
/// below 1: 1; above 500: 500), and optionally `id=K`.
pub fn parse_queries_query(query: &str) -> Result<WorldQuery, &'static str> {
    const MESSAGE: &str =
        "/queries takes n (how many rows, 1 to 500) and optionally id (the first row, 1 to 10000)";
    let (mut rows, mut first_id) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("n" | "queries", value) if rows.is_none() => rows = Some(clamp_queries(value)),
            ("id", value) if first_id.is_none() => first_id = Some(parse_id(value)?),
            _ => return Err(MESSAGE),
        }
    }
    Ok(WorldQuery {
        rows: rows.unwrap_or(1),
        first_id,
        array: true,
    })
}

/// TechEmpower's rule for the number of queries: an integer clamped to 1..=500, anything
/// else 1.
pub fn clamp_queries(value: &str) -> usize {
    match value.trim().parse::<i64>() {
        Ok(n) => n.clamp(1, MAX_QUERIES as i64) as usize,
        Err(_) => 1,
    }
}

fn parse_id(value: &str) -> Result<i32, &'static str> {
    const MESSAGE: &str = "id must be a whole number from 1 to 10000";
    let text = value.trim();
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MESSAGE);
    }
    let id: i32 = text.parse().map_err(|_| MESSAGE)?;
    if (1..=WORLD_ROWS).contains(&id) {
        Ok(id)
    } else {
        Err(MESSAGE)
    }
}

thread_local! {
    /// Each thread's random state (xorshift64*), seeded from the standard library's random
    /// keys, the process, the thread's own address and the clock: no two threads draw the same
    /// ids, not even the prefork pool's workers, which inherit their parent's keys.
    static RANDOM: Cell<u64> = Cell::new({
        let marker = 0u8;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = RandomState::new().hash_one((
            std::ptr::addr_of!(marker) as usize,
            std::process::id(),
            now,
        ));
        seed | 1
    });
}

/// A random id from 1 to [`WORLD_ROWS`] (xorshift64*: fast, and plenty for picking rows; not
/// for secrets).
pub fn random_id() -> i32 {
    RANDOM.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
        (r % WORLD_ROWS as u64) as i32 + 1
    })
}

/// Renders rows as the answer's body: one object, or an array of them.
pub fn render_rows(rows: &[WorldRow], array: bool, out: &mut Vec<u8>) {
    if array {
        out.push(b'[');
    }
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(row.id.to_string().as_bytes());
        out.extend_from_slice(b",\"randomNumber\":");
        out.extend_from_slice(row.random_number.to_string().as_bytes());
        out.push(b'}');
    }
    if array {
        out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_clamped_as_techempower_says() {
        for (text, n) in [
            ("n=20", 20),
            ("n=0", 1),
            ("n=-3", 1),
            ("n=501", 500),
            ("n=99999999999999999999", 1),
            ("n=abc", 1),
            ("n=", 1),
            ("", 1),
            ("queries=7", 7),
        ] {
            assert_eq!(parse_queries_query(text).unwrap().rows, n, "{text}");
        }
        assert!(parse_queries_query("n=2&x=1").is_err());
        assert!(parse_queries_query("n=2&n=3").is_err());
    }

    #[test]
    fn fixed_ids_wrap_after_the_last_row() {
        let q = parse_queries_query("n=3&id=9999").unwrap();
        assert_eq!(q.ids(), vec![9999, 10000, 1]);
        assert_eq!(parse_db_query("id=42").unwrap().ids(), vec![42]);
        for bad in ["id=0", "id=10001", "id=x", "id=", "id=1&id=2", "x=1"] {
            assert!(parse_db_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ids_stay_in_the_table_and_vary() {
        let ids: Vec<i32> = (0..10_000).map(|_| random_id()).collect();
        assert!(ids.iter().all(|id| (1..=WORLD_ROWS).contains(id)));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert!(distinct.len() > 5_000, "{} distinct", distinct.len());
    }

    #[test]
    fn rows_render_as_techempower_json() {
        let rows = [
            WorldRow {
                id: 1,
                random_number: 2,
            },
            WorldRow {
                id: 30,
                random_number: 4000,
            },
        ];
        let mut out = Vec::new();
        render_rows(&rows[..1], false, &mut out);
        assert_eq!(out, br#"{"id":1,"randomNumber":2}"#);
        out.clear();
        render_rows(&rows, true, &mut out);
        assert_eq!(
            out,
            br#"[{"id":1,"randomNumber":2},{"id":30,"randomNumber":4000}]"#
        );
    }
}
