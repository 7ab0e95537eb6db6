"""Twisted peer: the reactor (epoll), a Protocol per connection, a Factory that makes them.

The model. Twisted is where Python's event-driven servers come from, and the vocabulary of the
workbench's `selector` engine is Twisted's: the reactor waits on epoll and calls
Protocol.dataReceived(bytes) when bytes arrive; self.transport.write(bytes) queues and returns
at once (the reactor writes when the socket is writable); a wait is reactor.callLater, a timer;
CPU work runs inline in the reactor's one thread unless deferred to a thread pool
(deferToThread), so one CPU-heavy request stalls every connection: concurrency, not
parallelism. Every connection costs one Protocol instance and its Session, a few hundred bytes.

How the framework is meant to be used. Twisted's HTTP server (twisted.web) is built on exactly
these pieces, but it parses requests itself and adds its own headers (Server, Date) and error
pages, so its bytes could not match the workbench's. We stay one layer down, on the raw
Protocol/Factory API that twisted.web and every other Twisted protocol are written with
(https://docs.twisted.org/en/stable/core/howto/servers.html), and take the bytes from
wbcore.Session. The reactor is chosen explicitly and installed before anything imports
twisted.internet.reactor: --reactor epoll (the default, the `twisted` peer) installs
epollreactor.

Interoperability (the `twisted-asyncio` and `twisted-uvloop` peers). PEP 3156 asks frameworks to
"keep the default event loop and adapt it to the framework's API", and Twisted does: its
asyncioreactor is a reactor whose waiting, timers and socket callbacks are asyncio's loop
(add_reader, add_writer, call_later). --reactor asyncio installs it on the standard asyncio loop;
--reactor uvloop installs uvloop's loop policy first, so the loop under the reactor is libuv's.
The Protocol and Factory below do not change at all: the three peers differ only in the loop,
which is what they measure.

The selector functions (the `twisted-select` and `twisted-poll` peers). Before epoll, a loop
asked the kernel about every socket it holds on every turn: select() takes three bitmaps of
descriptors, at most FD_SETSIZE (1,024) of them, and poll() an array of every descriptor, both
scanned whole by the kernel and again by the loop, so a turn costs time in proportion to the
connections held, busy or idle. epoll keeps the interest set in the kernel and returns only the
ready ones. --reactor select installs Twisted's selectreactor and --reactor poll its
pollreactor: the same Protocol again, the selector function alone differing. Past 1,024
descriptors select() cannot be called at all (Python raises ValueError); what the
selectreactor does then is what the `selector-functions` lesson shows.

The database (/db and /queries). Twisted's answer to a blocking database driver is a thread
pool: twisted.enterprise.adbapi.ConnectionPool runs each query of a DB-API 2.0 module on a
thread of its own pool (deferToThread underneath), one connection per thread, and hands the
rows back to the reactor as a Deferred. With --db-url (or $WORKBENCH_DATABASE, which the runner
sets for the database workloads) the pool is psycopg 3 (a DB-API 2.0 module, threadsafety 2)
over --db-pool threads and connections, in autocommit mode (a read needs no transaction); /db
is one runQuery, /queries?n=N one runInteraction that runs its N queries one after another on
one pooled connection. The reactor's thread only parses, renders and writes.

Run: python twisted_peer.py --port 8080 [--reactor asyncio|uvloop|select|poll]
[--db-url CONNINFO], then curl -i http://127.0.0.1:8080/hello
"""

import sys

import wbcore

REACTORS = ("epoll", "asyncio", "uvloop", "select", "poll")


def install_reactor(name):
    """Installs the reactor `name` names, before anything imports twisted.internet.reactor."""
    if name == "epoll":
        from twisted.internet import epollreactor

        epollreactor.install()
        return
    if name == "select":
        from twisted.internet import selectreactor

        selectreactor.install()
        return
    if name == "poll":
        from twisted.internet import pollreactor

        pollreactor.install()
        return
    import asyncio

    if name == "uvloop":
        wbcore.install_uvloop_policy()  # new_event_loop() below is then a uvloop.Loop
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)


if __name__ == "__main__":
    ARGS = wbcore.parse_args(
        "The workbench's routes on a Twisted Protocol/Factory.",
        loop_flag="--reactor",
        loops=REACTORS,
    )
    install_reactor(ARGS.loop)

from twisted.internet import defer, reactor  # noqa: E402  (the reactor must be installed first)
from twisted.internet.protocol import Factory, Protocol  # noqa: E402

# The database's thread pool of connections (adbapi), or None: set in main().
DATABASE = None


def fetch_rows(cursor, ids):
    """One runInteraction, on a pool thread: the N queries of /queries on one connection."""
    rows = []
    for row_id in ids:
        cursor.execute(wbcore.SELECT_WORLD_PYFORMAT, (row_id,))
        rows.append(cursor.fetchone())
    return rows


class WorkbenchProtocol(Protocol):
    """One connection: feeds every read to a Session and answers its jobs in order."""

    def __init__(self):
        self.session = wbcore.Session()
        self.busy = False  # a job is waiting on its timer: later requests wait their turn
        self.closing = False
        self.timer = None

    def dataReceived(self, data):
        self.session.receive_data(data)
        if not self.busy:
            self.answerReadyJobs()

    def answerReadyJobs(self):
        """Answers every complete request, in order, until one needs a wait."""
        while not self.closing:
            job = self.session.next_event()
            if job is wbcore.NEED_DATA or job is wbcore.CLOSED:
                return
            job.begin()  # /count reads its counter here, before the wait
            if job.world_ids is not None:
                if DATABASE is None:
                    job.database_failed(wbcore.NO_DATABASE)
                else:
                    self.fetch(job)
                    return
            if job.wait_ms:
                # The "database": a reactor timer, not a blocked thread.
                self.busy = True
                self.timer = reactor.callLater(job.wait_ms / 1000, self.finish, job)
                return
            self.send(job)

    def fetch(self, job):
        """The database: a Deferred from adbapi's thread pool; the reactor serves other
        connections until the rows arrive, then finish() answers."""
        self.busy = True
        if len(job.world_ids) == 1:
            rows = DATABASE.runQuery(wbcore.SELECT_WORLD_PYFORMAT, (job.world_ids[0],))
        else:
            rows = DATABASE.runInteraction(fetch_rows, job.world_ids)

        # adbapi queues an interaction until a pool thread is free, without a bound: give up
        # after the engines' 5 s, as their pools do (the interaction's late result is dropped).
        rows.addTimeout(wbcore.DB_WAIT_TIMEOUT_S, reactor)

        def failed(failure):
            if failure.check(defer.TimeoutError):
                job.database_failed(wbcore.POOL_TIMED_OUT)
                return
            print("twisted peer: query failed: %s" % failure.getErrorMessage(),
                  file=sys.stderr, flush=True)
            job.database_failed(wbcore.QUERY_FAILED)

        rows.addCallbacks(job.give_rows, failed)
        rows.addCallback(lambda _: self.answered(job))

    def answered(self, job):
        """The rows of a /db or /queries job arrived: answer it, unless the client left."""
        if self.closing:
            return
        self.finish(job)

    def finish(self, job):
        """The timer of a waiting job fired: answer it, then any requests queued behind it."""
        self.busy = False
        self.timer = None
        self.send(job)
        self.answerReadyJobs()

    def send(self, job):
        # perform() runs the CPU kernel right here, in the reactor's only thread.
        self.transport.write(job.perform())
        if job.closes:
            self.closing = True
            self.transport.loseConnection()  # after the queued bytes are written

    def connectionLost(self, reason):
        self.closing = True
        if self.timer is not None and self.timer.active():
            self.timer.cancel()


class WorkbenchFactory(Factory):
    """Makes one WorkbenchProtocol per accepted connection."""

    protocol = WorkbenchProtocol
    noisy = False  # no log line per connection


def open_database(conninfo, size):
    """adbapi's pool over psycopg: `size` threads, each with its own connection, opened when
    the reactor starts."""
    from twisted.enterprise import adbapi

    return adbapi.ConnectionPool(
        "psycopg",
        conninfo,
        autocommit=True,
        connect_timeout=int(wbcore.DB_WAIT_TIMEOUT_S),  # a pool thread never hangs on connect
        cp_min=size,
        cp_max=size,
        cp_noisy=False,
        cp_reconnect=True,
    )


def main(args):
    global DATABASE
    wbcore.raise_open_files_limit()
    facts = None
    if args.db_url:
        DATABASE = open_database(args.db_url, args.db_pool)
        facts = {"db_pool": args.db_pool}  # the bound the db-pool lesson reads
    sock = wbcore.listening_socket(args.host, args.port)
    sock.setblocking(False)
    # adoptStreamPort takes our socket (with TCP_NODELAY and the deep backlog) as it is.
    port = reactor.adoptStreamPort(sock.fileno(), sock.family, WorkbenchFactory())
    address = sock.getsockname()
    sock.close()  # the reactor holds its own duplicate of the descriptor
    # The ready line once the reactor runs: SIGINT and SIGTERM then stop it (reactor.stop),
    # the handlers the reactor installs itself when it starts.
    # The name the workbench knows this variant by: twisted, twisted-asyncio, twisted-uvloop,
    # twisted-select, twisted-poll.
    name = "twisted" if args.loop == "epoll" else "twisted-" + args.loop
    reactor.callWhenRunning(wbcore.announce, name, address, facts=facts)
    del port
    reactor.run()


if __name__ == "__main__":
    main(ARGS)
