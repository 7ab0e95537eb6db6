"""gevent peer: one greenlet per connection, blocking-style code on a hidden event loop (libev).

The model. gevent makes the thread-per-connection style cheap: each connection runs in a
greenlet, a coroutine with its own small C stack, and gevent's sockets look blocking but switch
to another greenlet whenever a call would block, through one event loop (libev on epoll) in one
OS thread. So the handler below is a plain loop of recv, compute, sendall, exactly like the
`threads` engine's, and yet thousands of idle connections cost greenlets, not OS threads. A
wait is gevent.sleep (a timer on the loop); CPU work never yields, so one CPU-heavy request
stalls every greenlet: concurrency, not parallelism.

How the framework is meant to be used. gevent's own servers are gevent.server.StreamServer
(a TCP server that spawns one greenlet per connection and calls handle(socket, address)) and,
on top of it, gevent.pywsgi. We use StreamServer directly, as gevent's documentation shows for
raw protocols (https://www.gevent.org/api/gevent.server.html), with gevent's cooperative
socket objects; no monkey-patching is needed because nothing here uses the standard library's
blocking socket module. pywsgi would add its own headers (Date) and its own parsing; the bytes
here come from wbcore.Session, so they are the Rust core's bytes.

Run: python gevent_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import signal

import gevent
from gevent.server import StreamServer
from gevent.socket import socket as cooperative_socket

import wbcore


def handle(sock, address):
    """One connection, in its own greenlet: read, answer every complete request, repeat."""
    try:
        # recv switches to other greenlets until bytes arrive; the "database" is a timer, not
        # a thread; the CPU kernel runs with no other greenlet running meanwhile.
        wbcore.serve_blocking(sock.recv, sock.sendall, gevent.sleep)
    except OSError:
        pass  # the client went away: this greenlet ends, nothing else does
    finally:
        sock.close()


def main():
    args = wbcore.parse_args("The workbench's routes on a gevent StreamServer.")
    wbcore.raise_open_files_limit()
    plain = wbcore.listening_socket(args.host, args.port)
    listener = cooperative_socket(fileno=plain.detach())
    server = StreamServer(listener, handle)
    server.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, server.stop)
    wbcore.announce("gevent", listener.getsockname())
    # Already started: serve_forever only waits for stop(), which gives open connections up
    # to a second to finish before their greenlets are killed.
    server.serve_forever(stop_timeout=1)


if __name__ == "__main__":
    main()
