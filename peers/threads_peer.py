"""Python threads peer: one OS thread per connection, socketserver.ThreadingTCPServer.

The model. The standard library's thread-per-connection server, and the Python relative of the
workbench's `threads` engine: the main loop accepts, and every connection gets a new
threading.Thread that runs it from its first byte to its close in plain blocking code
(recv, time.sleep for the "database", sendall). The kernel schedules the threads, so waits
overlap as in the Rust engine.

What differs is the GIL. CPython (before the free-threaded builds of 3.13t/3.14t) lets only
one thread run Python bytecode at a time: a thread blocked in recv or sleep releases it, so
waits overlap, but CPU work does not: the `cpu` workload's SHA-256 rounds (hashlib releases the
GIL only for data of 2 KiB and more; each round hashes 32 bytes) run one thread at a time,
and the process uses about one core however many cores and threads there are. gunicorn's
sync workers, processes, each with its own interpreter and GIL, use them all.

The same file runs unchanged on a free-threaded interpreter (`python3.14t threads_peer.py`),
where the threads run Python in parallel.

Shared state. /count reads the process's counter before its wait and writes it back after
(wbcore.Job.begin, then perform): the threads share the counter, and the GIL makes each
statement atomic, not the read-wait-write between them, so concurrent updates are lost.

Run: python threads_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import signal
import socket
import socketserver
import threading
import time

import wbcore


class Handler(socketserver.BaseRequestHandler):
    """One connection, on its own thread: read, answer every complete request, repeat."""

    def handle(self):
        sock = self.request
        try:
            # recv blocks this thread and releases the GIL; the "database" sleeps this thread;
            # the CPU kernel holds the GIL.
            wbcore.serve_blocking(sock.recv, sock.sendall, time.sleep)
        except OSError:
            pass  # the client went away: this thread ends, nothing else does


class Server(socketserver.ThreadingTCPServer):
    """The listening socket as `workbench engine` binds it (wbcore.listening_socket's
    options), and threads that do not hold the process up when it stops."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = wbcore.LISTEN_BACKLOG

    def server_bind(self):
        # TCP_NODELAY on the listener is copied by Linux to every accepted socket.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


def main():
    args = wbcore.parse_args("The workbench's routes on socketserver.ThreadingTCPServer.")
    wbcore.raise_open_files_limit()
    server = Server((args.host, args.port), Handler)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, name="accept", daemon=True)
    serving.start()
    wbcore.announce("python-threads", server.socket.getsockname())
    stop.wait()
    server.shutdown()  # the accept loop ends; daemon connection threads end with the process
    server.server_close()


if __name__ == "__main__":
    main()
