//! `/db` and `/queries` in this model: the blocking `postgres` client, from a bounded pool
//! (r2d2) of [`DatabasePool`](wb_sys::database::DatabasePool) connections.
//!
//! A connection's thread takes a database connection from the pool, runs one query per row
//! and gives it back, blocking in the kernel at each step: while the database works, the
//! thread sleeps like it sleeps in `read()`. With 256 clients and 10 database connections,
//! 246 threads sleep in the pool's `Condvar` instead: the threads are cheap, the pool is the
//! limit — this engine then serves like a ten-worker prefork pool.
//!
//! Each pooled connection prepares [`SELECT_WORLD`] once, when it is opened, and executes the
//! prepared statement per row: one round trip per query, as every engine does.

use std::sync::OnceLock;

use postgres::{Client, NoTls, Statement};
use wb_protocol::Job;
use wb_protocol::world::{SELECT_WORLD, WorldRow};
use wb_sys::database::{DB_WAIT_TIMEOUT, NO_DATABASE, POOL_TIMED_OUT, QUERY_FAILED};

/// The process's pool, set once by [`start`].
static POOL: OnceLock<r2d2::Pool<Manager>> = OnceLock::new();

/// One pooled connection and its prepared statement.
pub(crate) struct WorldConnection {
    client: Client,
    select: Statement,
}

/// Opens connections for r2d2.
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = WorldConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<WorldConnection, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        let select = client.prepare(SELECT_WORLD)?;
        Ok(WorldConnection { client, select })
    }

    fn is_valid(&self, conn: &mut WorldConnection) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut WorldConnection) -> bool {
        conn.client.is_closed()
    }
}

/// Builds the pool (without connecting: r2d2 opens its connections in the background, and a
/// database that is down makes requests fail with 503, not the engine). A connection string
/// that does not parse is an error for the engine's start.
pub(crate) fn start(url: &str, size: u32) -> Result<(), String> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|err| format!("--db-url {url:?} is not a connection string: {err}"))?;
    config.connect_timeout(DB_WAIT_TIMEOUT);
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .connection_timeout(DB_WAIT_TIMEOUT)
        // A checkout costs no round trip: a broken connection shows as a failed query, and
        // `has_broken` keeps it out of the pool afterwards.
        .test_on_check_out(false)
        .build_unchecked(Manager { config });
    let _ = POOL.set(pool);
    Ok(())
}

/// Fetches `job`'s rows, if it names any, blocking this thread.
pub(crate) fn fetch(job: &mut Job) {
    let Some(ids) = job.world_ids() else { return };
    let Some(pool) = POOL.get() else {
        return job.database_failed(NO_DATABASE);
    };
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!("no database connection: {err}");
            return job.database_failed(POOL_TIMED_OUT);
        }
    };
    let mut rows = Vec::with_capacity(ids.len());
    for &id in ids {
        let WorldConnection { client, select } = &mut *conn;
        match client.query_one(&*select, &[&id]) {
            Ok(row) => rows.push(WorldRow {
                id: row.get(0),
                random_number: row.get(1),
            }),
            Err(err) => {
                tracing::warn!("database query failed: {err}");
                return job.database_failed(QUERY_FAILED);
            }
        }
    }
    job.give_rows(rows);
}
