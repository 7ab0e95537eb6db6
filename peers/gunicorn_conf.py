"""gunicorn configuration for the workbench's two gunicorn peers (sync and gthread).

The model. gunicorn is a prefork server: a master process binds the listening socket, forks
worker processes that all accept on it, and replaces any that die. The worker class decides
how each worker serves:

- `sync` (gunicorn-sync): one connection at a time per worker, blocking calls, and no
  keep-alive: every answer says Connection: close. This is the workbench's `pool` engine, and
  as there, --workers defaults to gunicorn's rule of thumb 2 x cores + 1.
- `gthread` (gunicorn-gthread): each worker runs a thread pool of --threads threads; idle
  keep-alive connections wait in a selector (not on a thread) until their next request. With
  one worker and 2 x cores + 1 threads, it is the same bound as the sync pool, with threads in
  place of processes (and the GIL between them).

How the workbench starts it (see workloads/src/peers.rs):

    <venv>/bin/python -m gunicorn --config gunicorn_conf.py --chdir <peers dir> \
        --worker-class sync --workers 5 --name gunicorn-sync --bind 127.0.0.1:0 wsgi_app:application

Binding port 0 works: the master binds once, before forking, and when_ready below prints the
port the kernel chose in the workbench's ready line, with the master's PID.
"""

import os
import resource
import socket
import sys

# gunicorn loads this file by path; wbcore sits beside it (and beside wsgi_app, which --chdir
# puts on sys.path).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wbcore  # noqa: E402

# Quiet: warnings and errors on stderr, no access log (the load generator counts requests).
loglevel = "warning"
accesslog = None
errorlog = "-"

# As the workbench's engines: a deep accept queue.
backlog = wbcore.LISTEN_BACKLOG

# The protocol core's limits, where gunicorn has the same knob (it answers 431 itself).
limit_request_fields = wbcore.MAX_HEADERS
limit_request_field_size = wbcore.MAX_HEAD_BYTES
limit_request_line = 8190  # gunicorn's default and largest allowed value

# gthread: idle keep-alive connections are held like the engines hold them (the idle workload
# keeps thousands open for its whole step), instead of gunicorn's 2 s default; and
# worker_connections bounds how many one worker keeps at once.
keepalive = 300
worker_connections = 20000

# Stop within the workbench's 5 s grace: SIGTERM gives workers this long to finish requests.
graceful_timeout = 3
# A worker busy with a long CPU request is not killed as "stuck" before 2 minutes.
timeout = 120


def on_starting(server):
    """Before the master binds or forks: raise the open-files limit (workers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def when_ready(server):
    """The master is listening: print the workbench's ready line, with the bound port."""
    for listener in server.LISTENERS:
        # TCP_NODELAY on the listener is copied by Linux to every accepted socket.
        listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    address = server.LISTENERS[0].sock.getsockname()
    # What the master runs with, as gunicorn resolved it: worker processes, and threads per
    # worker (1 for sync).
    facts = {"workers": server.cfg.workers, "threads": server.cfg.threads}
    if os.environ.get("WORKBENCH_DATABASE") and server.cfg.worker_class_str == "sync":
        # One database connection per sync worker (post_fork): the pool is the workers.
        facts["db_pool"] = server.cfg.workers
    wbcore.announce(server.cfg.proc_name, address, pid=os.getpid(), facts=facts)


def post_fork(server, worker):
    """In each new worker, after the fork: a sync worker opens its own database connection
    (wsgi_app.connect) when the workload has one ($WORKBENCH_DATABASE), so no socket is shared
    between processes and the first request does not pay for the connect."""
    if os.environ.get("WORKBENCH_DATABASE") and server.cfg.worker_class_str == "sync":
        import wsgi_app

        wsgi_app.connect()
