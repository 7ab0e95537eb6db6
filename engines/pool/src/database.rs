//! `/db` and `/queries` in this model: each worker process holds one connection of its own,
//! opened on its first database request and kept for its life (gunicorn's sync workers with
//! psycopg do the same). A worker serves one client at a time, so one connection is all it
//! can use: the pool's `--workers` is its database pool, and a worker waiting on the
//! database is a worker no other client can have.
//!
//! The connection is opened in the worker, after `fork`: a socket (and the client's state)
//! shared by two processes would interleave their queries on one wire.

use std::cell::RefCell;
use std::sync::OnceLock;

use postgres::{Client, NoTls, Statement};
use wb_protocol::Job;
use wb_protocol::world::{SELECT_WORLD, WorldRow};
use wb_sys::database::{DB_WAIT_TIMEOUT, NO_DATABASE, QUERY_FAILED};

/// The parsed `--db-url`, set by the parent before it forks (each worker inherits it).
static CONFIG: OnceLock<postgres::Config> = OnceLock::new();

thread_local! {
    /// This worker's connection and its prepared statement; `None` until the first database
    /// request, and again after a failure (the next request reconnects).
    static CONNECTION: RefCell<Option<(Client, Statement)>> = const { RefCell::new(None) };
}

/// Parses `--db-url` in the parent (a bad one stops the engine before any worker starts).
pub(crate) fn configure(url: &str) -> Result<(), String> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|err| format!("--db-url {url:?} is not a connection string: {err}"))?;
    config.connect_timeout(DB_WAIT_TIMEOUT);
    let _ = CONFIG.set(config);
    Ok(())
}

/// Fetches `job`'s rows, if it names any, on this worker's own connection.
pub(crate) fn fetch(job: &mut Job) {
    let Some(ids) = job.world_ids() else { return };
    let Some(config) = CONFIG.get() else {
        return job.database_failed(NO_DATABASE);
    };
    let fetched = CONNECTION.with_borrow_mut(|slot| {
        if slot.is_none() {
            let mut client = config.connect(NoTls)?;
            let select = client.prepare(SELECT_WORLD)?;
            *slot = Some((client, select));
        }
        let (client, select) = slot.as_mut().expect("connected above");
        let rows = ids
            .iter()
            .map(|id| {
                let row = client.query_one(&*select, &[id])?;
                Ok(WorldRow {
                    id: row.get(0),
                    random_number: row.get(1),
                })
            })
            .collect::<Result<Vec<_>, postgres::Error>>();
        if rows.is_err() && client.is_closed() {
            *slot = None;
        }
        rows
    });
    match fetched {
        Ok(rows) => job.give_rows(rows),
        Err(err) => {
            tracing::warn!(pid = std::process::id(), "database query failed: {err}");
            job.database_failed(QUERY_FAILED);
        }
    }
}
