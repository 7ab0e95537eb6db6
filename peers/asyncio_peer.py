"""asyncio peer: one thread, one event loop (epoll), callbacks on an asyncio.Protocol.

The model. This is the standard library's answer to "one thread, thousands of sockets", and the
closest Python relative of the workbench's `selector` engine: the loop waits on epoll; when a
socket is readable it calls our Protocol's data_received(bytes); transport.write(bytes) queues
the bytes and returns at once, and the loop sends them when the socket is writable. Nothing in
a callback may block: a wait is a timer (loop.call_later, which is what `await asyncio.sleep`
becomes under the hood), and CPU work runs inline on the loop's only thread, so one
`cpu_rounds` request stalls every other connection until it is done: concurrency, not
parallelism.

How the framework is meant to be used. asyncio offers two layers: streams (async def handlers
with `await reader.read()`, coroutines) and the lower "transports and protocols" layer that the
streams are built on (https://docs.python.org/3/library/asyncio-protocol.html). We use the
protocol layer, as its documentation recommends for servers that care about speed, and as
Twisted (whose design asyncio's Protocol copies) does: connection_made, data_received,
connection_lost. The bytes come from wbcore.Session, so they are the Rust core's bytes.

On uvloop (the `asyncio-uvloop` peer: --loop uvloop). asyncio's loop is replaceable (PEP 3156:
the event loop is an interface, the standard one its reference implementation). uvloop
implements the same interface on libuv; installing its loop policy before the loop is created
is all it takes, and this file's Protocol runs on it unchanged. The pair asyncio /
asyncio-uvloop measures what the loop alone costs, the Protocol and its bytes being the same.

The database (/db and /queries). With --db-url (or $WORKBENCH_DATABASE, which the runner sets
for the database workloads) the peer reads TechEmpower's World table with asyncpg, the asyncio
PostgreSQL driver (its protocol written in Cython, on the loop's own transports): a pool of
--db-pool connections (asyncpg.create_pool), every query a coroutine on the same loop, so
while one connection's request waits for its rows the loop serves the others, as it does
timers. A request that finds the pool busy waits for a connection at most 5 s (then 503, as
the engines), and /queries?n=N runs its N queries one after another on one connection.

Run: python asyncio_peer.py --port 8080 [--loop uvloop] [--db-url CONNINFO], then
curl -i http://127.0.0.1:8080/hello
"""

import asyncio
import sys

import wbcore


class Database:
    """The peer's database: an asyncpg pool on the running loop, or why there is none."""

    def __init__(self, pool=None, failure=wbcore.NO_DATABASE):
        self.pool = pool
        self.failure = failure  # the 503's reason when there is no pool

    @classmethod
    async def open(cls, conninfo, size):
        """Opens `size` connections to `conninfo` (a libpq key=value string), or says why
        not (the peer still starts: its database routes then answer 503)."""
        if conninfo is None:
            return cls()
        try:
            import asyncpg

            # Every connection opened now, each within the engines' 5 s.
            pool = await asyncpg.create_pool(
                min_size=size,
                max_size=size,
                timeout=wbcore.DB_WAIT_TIMEOUT_S,
                **wbcore.conninfo_keywords(conninfo),
            )
        except Exception as err:  # noqa: BLE001 (any failure: say it, serve 503s)
            print("asyncio peer: no database pool: %s: %s" % (type(err).__name__, err),
                  file=sys.stderr, flush=True)
            return cls(failure=wbcore.QUERY_FAILED)
        return cls(pool)

    async def fetch(self, job):
        """Fetches job.world_ids, one query each on one pooled connection, into the job."""
        if self.pool is None:
            job.database_failed(self.failure)
            return
        try:
            connection = await self.pool.acquire(timeout=wbcore.DB_WAIT_TIMEOUT_S)
        except asyncio.TimeoutError:
            job.database_failed(wbcore.POOL_TIMED_OUT)
            return
        except Exception as err:  # noqa: BLE001
            print("asyncio peer: no database connection: %s: %s" % (type(err).__name__, err),
                  file=sys.stderr, flush=True)
            job.database_failed(wbcore.QUERY_FAILED)
            return
        try:
            rows = []
            for row_id in job.world_ids:
                row = await connection.fetchrow(wbcore.SELECT_WORLD, row_id)
                rows.append((row[0], row[1]))
            job.give_rows(rows)
        except Exception as err:  # noqa: BLE001
            print("asyncio peer: query failed: %s" % err, file=sys.stderr, flush=True)
            job.database_failed(wbcore.QUERY_FAILED)
        finally:
            await self.pool.release(connection)


DATABASE = Database()  # replaced in main() once the loop runs


class WorkbenchProtocol(asyncio.Protocol):
    """One connection: feeds every read to a Session and answers its jobs in order."""

    def __init__(self):
        self.session = wbcore.Session()
        self.transport = None
        self.busy = False  # a job is waiting on its timer: later requests wait their turn
        self.closing = False
        self.fetching = None  # the task fetching a /db or /queries job's rows

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.session.receive_data(data)
        if not self.busy:
            self.answer_ready_jobs()

    def answer_ready_jobs(self):
        """Answers every complete request, in order, until one needs a wait."""
        while not self.closing:
            job = self.session.next_event()
            if job is wbcore.NEED_DATA or job is wbcore.CLOSED:
                return
            job.begin()  # /count reads its counter here, before the wait
            if job.world_ids is not None and DATABASE.pool is None:
                job.database_failed(DATABASE.failure)
            elif job.world_ids is not None:
                # The database: a task on this loop, which awaits a pooled connection and
                # the rows; the loop serves other connections meanwhile.
                self.busy = True
                self.fetching = asyncio.get_running_loop().create_task(self.fetch(job))
                return
            if job.wait_ms:
                # The "database": a timer on the loop, not a blocked thread.
                self.busy = True
                asyncio.get_running_loop().call_later(job.wait_ms / 1000, self.finish, job)
                return
            self.send(job)

    async def fetch(self, job):
        await DATABASE.fetch(job)
        self.fetching = None
        self.finish(job)

    def finish(self, job):
        """The timer of a waiting job fired: answer it, then any requests queued behind it."""
        self.busy = False
        if self.transport.is_closing():
            return
        self.send(job)
        self.answer_ready_jobs()

    def send(self, job):
        # perform() runs the CPU kernel right here, on the loop's only thread.
        self.transport.write(job.perform())
        if job.closes:
            self.closing = True
            self.transport.close()  # after the queued bytes are written

    def connection_lost(self, exc):
        self.closing = True
        if self.fetching is not None:
            self.fetching.cancel()  # the pooled connection goes back (fetch's finally)


LOOPS = ("asyncio", "uvloop")


async def main(args):
    global DATABASE
    wbcore.raise_open_files_limit()
    loop = asyncio.get_running_loop()
    DATABASE = await Database.open(args.db_url, args.db_pool)
    stop = wbcore.stop_event()
    sock = wbcore.listening_socket(args.host, args.port)
    server = await loop.create_server(WorkbenchProtocol, sock=sock, backlog=wbcore.LISTEN_BACKLOG)
    # The name the workbench knows this variant by: asyncio, or asyncio-uvloop.
    name = "asyncio" if args.loop == "asyncio" else "asyncio-" + args.loop
    # The database pool's size is a fact of this process (the db-pool lesson reads it).
    facts = {"db_pool": args.db_pool} if args.db_url else None
    wbcore.announce(name, sock.getsockname(), facts=facts)
    await stop.wait()
    server.close()  # stop accepting; open connections end with the process
    if DATABASE.pool is not None:
        DATABASE.pool.terminate()  # no graceful close: the process is ending


if __name__ == "__main__":
    ARGS = wbcore.parse_args(
        "The workbench's routes on an asyncio.Protocol.", loop_flag="--loop", loops=LOOPS
    )
    if ARGS.loop == "uvloop":
        wbcore.install_uvloop_policy()  # before asyncio.run creates the loop
    asyncio.run(main(ARGS))
