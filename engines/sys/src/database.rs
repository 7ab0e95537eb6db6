//! The database flags every engine takes, declared once: where the `World` table is
//! (`--db-url`) and how many connections the engine may hold to it (`--db-pool`).
//!
//! The pool of database connections is the real limit of a database-bound server, whatever
//! its model: a thread per connection that waits on ten database connections serves like a
//! ten-worker pool. So the size is a flag on every engine, stated in its ready line's facts
//! (`db_pool`), and the lesson `db-pool` reads it from there. The prefork pool has no such
//! flag: each worker process holds one connection of its own (as gunicorn's sync workers with
//! psycopg do), so its database pool is its `--workers`.

use std::time::Duration;

/// Connections an engine holds when `--db-pool` is not given: 2 × CPUs + 1, the PostgreSQL
/// wiki's starting point for a pool ("connections = ((core_count × 2) +
/// effective_spindle_count)", with one spindle; HikariCP's "About Pool Sizing" gives the same),
/// and by the same rule of thumb the prefork pool's default workers (gunicorn's 2 × cores + 1),
/// so every engine starts with the same database pool. The CPUs are those this process may
/// use.
pub fn default_db_pool() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cpus.saturating_mul(2).saturating_add(1))
        .unwrap_or(MAX_DB_POOL)
        .min(MAX_DB_POOL)
}

/// The largest `--db-pool`: beyond this the database's own `max_connections` refuses first.
pub const MAX_DB_POOL: u32 = 1000;

/// How long a request may wait for a free database connection before it is answered `503`:
/// r2d2's and deadpool's waits are set to this, so a saturated pool fails the same way on
/// every engine.
pub const DB_WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The reason a `503` gives when the engine was started without `--db-url`.
pub const NO_DATABASE: &str =
    "no database: start the engine with --db-url (workbench db up prints one)";

/// The reason a `503` gives when a query or a connection failed (the engine logs the error).
pub const QUERY_FAILED: &str = "the database query failed (the engine's log says why)";

/// The reason a `503` gives when no connection came free within [`DB_WAIT_TIMEOUT`].
pub const POOL_TIMED_OUT: &str = "no database connection came free within 5 s";

/// Where the database is: a libpq-style connection string, as `workbench db up` prints it
/// (`host=/tmp/workbench-postgres-0 port=54329 user=workbench dbname=workbench`). Flattened
/// into every engine's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct DatabaseUrl {
    /// The database `/db` and `/queries` read, as a libpq connection string
    /// ("host=DIR port=N user=U dbname=D"); the runner sets it (WORKBENCH_DATABASE) for the
    /// workloads that need it. Without it those routes answer 503.
    #[arg(long = "db-url", value_name = "CONNINFO", env = "WORKBENCH_DATABASE")]
    pub url: Option<String>,
}

/// How many database connections the engine may hold at once. Flattened into the flags of
/// every engine but the prefork pool (one connection per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct DatabasePool {
    /// Database connections the engine may hold at once; a request that finds them all busy
    /// waits for one (up to 5 s, then 503). The default, 2 × CPUs + 1, is the PostgreSQL
    /// wiki's starting point.
    #[arg(long = "db-pool", value_name = "N", default_value_t = default_db_pool(),
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DB_POOL)))]
    pub size: u32,
}

impl Default for DatabasePool {
    fn default() -> DatabasePool {
        DatabasePool {
            size: default_db_pool(),
        }
    }
}
