//! `/db` and `/queries` in this model: `tokio-postgres` from a pool of `--db-pool`
//! connections (deadpool).
//!
//! A task awaits a connection from the pool, then each query; while the database works the
//! task is parked and its thread runs other tasks. Each connection's other half, the future
//! that reads and writes its socket, is a task of its own (deadpool spawns it when it
//! connects). With 256 clients and 10 connections, 246 tasks wait in the pool's queue: a
//! task is cheap, a database connection is not, and the pool decides the throughput.
//!
//! Each pooled connection prepares [`SELECT_WORLD`] once (deadpool's statement cache) and
//! executes it per row: one round trip per query, as every engine does.

use std::sync::OnceLock;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use wb_protocol::Job;
use wb_protocol::world::{SELECT_WORLD, WorldRow};
use wb_sys::database::{DB_WAIT_TIMEOUT, NO_DATABASE, POOL_TIMED_OUT, QUERY_FAILED};

/// The process's pool, set once by [`start`].
static POOL: OnceLock<Pool> = OnceLock::new();

/// Builds the pool (without connecting: connections open on first use). A connection string
/// that does not parse is an error for the engine's start.
pub(crate) fn start(url: &str, size: u32) -> Result<(), String> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|err| format!("--db-url {url:?} is not a connection string: {err}"))?;
    config.connect_timeout(DB_WAIT_TIMEOUT);
    let manager = Manager::from_config(
        config,
        NoTls,
        // A checkout costs no round trip (as the threads engine's r2d2 is set).
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(size as usize)
        .build()
        .map_err(|err| format!("cannot build the database pool: {err}"))?;
    let _ = POOL.set(pool);
    Ok(())
}

/// [`fetch`] in a box of its own, traced as a wait, taking the job and giving it back: a
/// connection's future then holds one pointer across this `.await`, not the query's state,
/// and an idle connection is no bigger for it.
pub(crate) fn fetch_boxed(
    mut job: Job,
    task: u64,
) -> std::pin::Pin<Box<dyn Future<Output = Job> + Send>> {
    Box::pin(async move {
        let began = wb_sys::trace::start_ns();
        fetch(&mut job).await;
        if let Some(began) = began {
            wb_sys::trace::record(
                wb_sys::trace::Phase::Wait,
                task,
                began,
                wb_sys::trace::now_ns(),
            );
        }
        job
    })
}

/// Fetches `job`'s rows, if it names any: the task parks on the pool, then on each query.
async fn fetch(job: &mut Job) {
    let Some(ids) = job.world_ids() else { return };
    let Some(pool) = POOL.get() else {
        return job.database_failed(NO_DATABASE);
    };
    let client = match tokio::time::timeout(DB_WAIT_TIMEOUT, pool.get()).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => {
            tracing::warn!("no database connection: {err}");
            return job.database_failed(QUERY_FAILED);
        }
        Err(_) => return job.database_failed(POOL_TIMED_OUT),
    };
    let select = match client.prepare_cached(SELECT_WORLD).await {
        Ok(select) => select,
        Err(err) => {
            tracing::warn!("cannot prepare the query: {err}");
            return job.database_failed(QUERY_FAILED);
        }
    };
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        match client.query_one(&select, &[id]).await {
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
