"""uvicorn peer: an ASGI application on uvicorn, with httptools and uvloop (`uvicorn[standard]`).

The model. uvicorn is the ASGI server most Python async web apps run on: one process, one
event loop (uvloop: libuv, written in Cython), an asyncio.Protocol per connection that parses
HTTP with httptools (Node.js's llhttp parser, in C), and one task per request calling the
application. A wait is a timer on the loop; CPU work runs inline on its one thread:
concurrency, not parallelism.

How the framework is meant to be used. `uvicorn app:app --loop uvloop --http httptools`, or
the same from Python with uvicorn.Config and uvicorn.Server, which is what this script does so
that uvicorn serves the workbench's own listening socket (backlog, TCP_NODELAY) and the ready
line can name it. --app picks the application (asgi_app.py): `bare`, an ASGI callable with
nothing between uvicorn and the router (the `uvicorn` peer), or `starlette`, the same routes
as a Starlette application (the `starlette` peer): the pair shows what the framework costs
on the same server and loop. uvicorn stops gracefully on SIGTERM and SIGINT.

Run: python uvicorn_peer.py --port 8080 [--app starlette], then curl -i http://127.0.0.1:8080/hello
"""

import contextlib
import signal

import uvicorn

import asgi_app
import wbcore

APPS = ("bare", "starlette")


class Server(uvicorn.Server):
    """uvicorn's Server, stopping as every workbench server stops: SIGTERM or SIGINT asks for
    a graceful shutdown and the process then exits 0. (uvicorn itself re-raises the signal
    once it has shut down, so that its process ends "killed by SIGTERM".)"""

    @contextlib.contextmanager
    def capture_signals(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.handle_exit)
        yield


def main(args):
    wbcore.raise_open_files_limit()
    sock = wbcore.listening_socket(args.host, args.port)
    # parse_args keeps the --app choice in .loop (the flag every multi-variant peer shares).
    bare = args.loop == "bare"
    app = asgi_app.bare if bare else asgi_app.make_starlette()
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=wbcore.LISTEN_BACKLOG,
        # Idle keep-alive connections are held like the engines hold them (uvicorn's default
        # is 5 s; the idle workload keeps thousands open for a whole step).
        timeout_keep_alive=300,
        # Stop within the workbench's 5 s grace.
        timeout_graceful_shutdown=3,
    )
    server = Server(config)
    # The socket listens already: connections wait in its backlog until the loop runs.
    wbcore.announce("uvicorn" if bare else "starlette", sock.getsockname())
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(wbcore.parse_args("The workbench's routes as an ASGI app on uvicorn.",
                           loop_flag="--app", loops=APPS))
