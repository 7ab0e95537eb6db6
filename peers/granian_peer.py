"""granian peer: the bare ASGI application on granian, a Rust HTTP server for Python apps.

The model. granian parses HTTP and manages connections in Rust (hyper on a tokio runtime, one
runtime thread by default) and calls the Python application through its ASGI interface, whose
coroutines run on a Python event loop (uvloop when installed) in the worker process. So the
sockets, parsing and framing are Rust's; the application's `await asyncio.sleep` and its CPU
work are Python's, on one loop thread: concurrency, not parallelism. A master process starts
and watches one worker process (granian's default), which serves.

How the framework is meant to be used. `granian --interface asgi asgi_app:bare`, or the same
from Python with granian's Granian class, which this script uses so that the open-files limit
is raised first (the worker inherits it). granian binds the port itself and prints nothing the
workbench reads, so the runner gives it a free port and waits until it accepts connections.
hyper frames the answer (it adds Date) and closes after an answer that says
`Connection: close`. granian's backpressure (how many connections a worker serves at once;
past it, new ones wait unanswered) defaults to its backlog: it is set to the open-files limit
here, so that the idle workload's thousands of connections are held as an engine holds them.

Run: python granian_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import os
import resource
import sys

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels

import wbcore


def main():
    args = wbcore.parse_args("The workbench's bare ASGI app on granian.")
    if args.port == 0:
        sys.exit("granian binds the port itself: give it one (--port)")
    wbcore.raise_open_files_limit()
    # The worker imports asgi_app by name: from this folder.
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.getcwd())
    Granian(
        "asgi_app:bare",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=1,
        backlog=wbcore.LISTEN_BACKLOG,
        backpressure=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
