"""Tornado peer: one IOLoop (asyncio underneath), one coroutine per connection over an IOStream.

The model. Tornado was FriendFeed's answer to the C10K problem before asyncio existed; since
Tornado 5 its IOLoop runs on asyncio's loop. A connection is an IOStream: `await
stream.read_bytes(n, partial=True)` suspends the coroutine until bytes arrive, and `await
stream.write(data)` queues them and resumes once they are flushed to the kernel. Code reads like
blocking code, but every await is a point where the one thread moves on to another connection:
a wait is `await asyncio.sleep` (tornado.gen.sleep is the same timer), and CPU work runs inline,
stalling everyone: concurrency, not parallelism. Each connection costs a coroutine, its
IOStream and its buffers.

How the framework is meant to be used, and why a raw TCPServer. Tornado's usual entry point is
a web.Application of RequestHandlers, served by HTTPServer. That layer parses HTTP itself and
answers with its own bytes: it adds Server, Date and Etag headers, answers framing errors
(431, 413, Transfer-Encoding) with its own statuses and pages, and allows 64 KiB heads and
100 MB bodies. The workbench asks for byte-identical answers across servers, and what it
compares is the concurrency model, which lives one layer down: HTTPServer is itself a subclass
of tornado.tcpserver.TCPServer that calls handle_stream(stream, address) for each connection.
We subclass TCPServer the same way (https://www.tornadoweb.org/en/stable/tcpserver.html) and
take the bytes from wbcore.Session, so the IOLoop, IOStream and coroutine machinery are
Tornado's and the HTTP bytes are the workbench's.

Run: python tornado_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import asyncio

from tornado.iostream import StreamClosedError
from tornado.tcpserver import TCPServer

import wbcore


class WorkbenchServer(TCPServer):
    """Calls handle_stream once per accepted connection, as a coroutine on the IOLoop."""

    async def handle_stream(self, stream, address):
        try:
            # Each await suspends this coroutine; the CPU kernel runs inline, on the IOLoop's
            # only thread.
            await wbcore.serve_async(
                lambda n: stream.read_bytes(n, partial=True), stream.write, asyncio.sleep
            )
        except StreamClosedError:
            pass  # the client went away: this connection ends, nothing else does
        finally:
            stream.close()


async def main():
    args = wbcore.parse_args("The workbench's routes on a Tornado TCPServer and IOStreams.")
    wbcore.raise_open_files_limit()
    stop = wbcore.stop_event()
    sock = wbcore.listening_socket(args.host, args.port)
    sock.setblocking(False)
    server = WorkbenchServer()
    server.add_sockets([sock])
    wbcore.announce("tornado", sock.getsockname())
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
