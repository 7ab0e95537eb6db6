"""curio peer: async/await on curio's own small kernel, one task per connection.

The model. curio is David Beazley's answer to asyncio's layers of futures, callbacks, protocols
and transports: there is only the kernel (a scheduler over epoll, via the selectors module) and
tasks, which are plain coroutines. `await client.recv(n)` suspends the task until the socket is
readable and `await client.sendall(data)` until every byte is written; there are no callbacks
and no transports, and a task costs a coroutine frame. It is the same model as the
`coroutines` engine's current-thread flavour: a wait is `await curio.sleep` (a timer in the
kernel), and CPU work runs inline, stalling every task: concurrency, not parallelism.

How the framework is meant to be used. curio's servers are curio.network.tcp_server(host,
port, handler), which spawns a task per connection into a TaskGroup, exactly as here; we call
its two halves (tcp_server_socket, run_server) so that the listening socket can get the
workbench's backlog and TCP_NODELAY, and its port can be announced. Signals are handled the
way curio's documentation shows, a plain signal handler setting a UniversalEvent, since curio
itself has no signal API. The bytes come from wbcore.Session.

Run: python curio_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import signal
import socket

import curio
from curio.network import run_server, tcp_server_socket

import wbcore


async def handle(client, address):
    """One connection, in its own task: read, answer every complete request, repeat."""
    try:
        # Each await suspends this task; the CPU kernel runs inline, no other task meanwhile.
        await wbcore.serve_async(client.recv, client.sendall, curio.sleep)
    except OSError:
        pass  # the client went away: this task ends, nothing else does
    # run_server closes the client socket when this task returns.


async def main(stop):
    args = wbcore.parse_args("The workbench's routes on curio tasks.")
    wbcore.raise_open_files_limit()
    sock = tcp_server_socket(args.host, args.port, backlog=wbcore.LISTEN_BACKLOG)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # copied to accepted sockets
    server = await curio.spawn(run_server, sock, handle)
    wbcore.announce("curio", sock.getsockname())
    await stop.wait()
    await server.cancel()  # cancels the accept loop and every connection's task


if __name__ == "__main__":
    stop = curio.UniversalEvent()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())
    curio.run(main, stop)
