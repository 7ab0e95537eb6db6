"""The workbench's routes as a WSGI application, for the gunicorn peers (sync and gthread)
and gevent's WSGI server (gevent-wsgi).

The model. WSGI (PEP 3333) is Python's blocking server interface: the server calls
application(environ, start_response) once per request, on a thread that belongs to that request
until it returns. Concurrency is the server's business, not the application's: gunicorn's
`sync` workers are a prefork process pool (each process serves one connection at a time, like
the workbench's `pool` engine), its `gthread` workers a thread pool inside each process. So the
"database" wait is a plain time.sleep, which holds the worker (or the thread) for its whole
duration, and CPU work runs on that thread; under gthread, the GIL lets only one thread of a
process run Python at a time.

How the framework is meant to be used. gunicorn parses HTTP itself and frames the response
(status line, Server, Date and Connection headers, HEAD without a body), so the bytes differ
from the workbench's in those headers; status, Content-Type, Content-Length, X-Work-Digest and
the body are the workbench's, from wbcore.framework_job(): the framing rules gunicorn leaves to
the application (Host on HTTP/1.1, Transfer-Encoding, the 1 MiB body limit) are checked there
with the protocol core's answers, before routing, in the core's order.

Under gevent (gevent_wsgi_peer.py) the same application runs in a greenlet per connection,
after gevent's monkey.patch_all() made time.sleep a cooperative timer: the idiom gevent asks of
WSGI applications written for threads.

The database (/db and /queries), under gunicorn's sync workers. Each worker process holds one
psycopg connection of its own, opened after the fork (gunicorn_conf.post_fork: a connection
opened in the master would be shared by every child, one socket for many processes), and
queries with it blocking: the worker serves nothing else meanwhile, so the database
concurrency is the number of workers, like the workbench's `pool` engine. The conninfo comes
from $WORKBENCH_DATABASE, which the runner sets for the database workloads; without it the
routes answer 503 and say so.

Run: see gunicorn_conf.py and gevent_wsgi_peer.py.
"""

import os
import sys
import time

import wbcore

# This process's database connection (psycopg), opened by connect(): after the fork, in each
# gunicorn sync worker.
CONNECTION = None


def connect():
    """Opens this process's connection to $WORKBENCH_DATABASE, if set and not yet open; says
    on stderr why not when it cannot (the routes then answer 503)."""
    global CONNECTION
    conninfo = os.environ.get("WORKBENCH_DATABASE")
    if CONNECTION is None and conninfo:
        try:
            import psycopg

            # Autocommit: a read needs no transaction (no BEGIN/COMMIT round trips).
            CONNECTION = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=int(wbcore.DB_WAIT_TIMEOUT_S)
            )
        except Exception as err:  # noqa: BLE001 (any failure: say it, answer 503)
            print("wsgi app: no database connection: %s" % err, file=sys.stderr, flush=True)
    return CONNECTION


def fetch_rows(job):
    """Fetches job.world_ids on this process's connection, one query each, blocking."""
    global CONNECTION
    if not os.environ.get("WORKBENCH_DATABASE"):
        job.database_failed(wbcore.NO_DATABASE)
        return
    connection = connect()
    if connection is None:
        job.database_failed(wbcore.QUERY_FAILED)
        return
    try:
        with connection.cursor() as cursor:
            rows = []
            for row_id in job.world_ids:
                cursor.execute(wbcore.SELECT_WORLD_PYFORMAT, (row_id,))
                rows.append(cursor.fetchone())
        job.give_rows(rows)
    except Exception as err:  # noqa: BLE001
        print("wsgi app: query failed: %s" % err, file=sys.stderr, flush=True)
        job.database_failed(wbcore.QUERY_FAILED)
        CONNECTION = None  # the next request connects again
        connection.close()


def header_of(environ):
    """header(name) over a WSGI environ: HTTP_* variables, CONTENT_LENGTH and CONTENT_TYPE."""
    def header(name):
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            key = "HTTP_" + key
        return environ.get(key)
    return header


def application(environ, start_response):
    """One request: route it, wait (blocking this worker or thread), compute, answer."""
    method = environ["REQUEST_METHOD"]
    # RAW_URI is gunicorn's undecoded request target; PATH_INFO is percent-decoded.
    target = environ.get("RAW_URI") or environ.get("PATH_INFO", "/") + (
        "?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    job = wbcore.framework_job(method, target, environ.get("SERVER_PROTOCOL") == "HTTP/1.1",
                               header_of(environ))
    job.begin()  # /count reads its counter here, before the wait
    if job.world_ids is not None:
        fetch_rows(job)  # the database: this worker waits for its rows
    if job.wait_ms:
        time.sleep(job.wait_ms / 1000)  # the "database": this worker or thread just waits
    status, headers, body = job.wsgi_response()  # runs the CPU kernel
    if job.closes:
        # WSGI gives an application no say over Connection (a hop-by-hop header, which
        # gunicorn drops); start_response is a method of gunicorn's Response, and its
        # force_close() is how gunicorn itself ends a connection after an error. gevent's
        # pywsgi has no such call; it closes after an answer that says Connection: close.
        force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
        if force_close is not None:
            force_close()
        else:
            headers.append(("Connection", "close"))
    start_response(status, headers)
    return [body]
