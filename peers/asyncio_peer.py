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

Run: python asyncio_peer.py --port 8080 [--loop uvloop], then curl -i http://127.0.0.1:8080/hello
"""

import asyncio

import wbcore


class WorkbenchProtocol(asyncio.Protocol):
    """One connection: feeds every read to a Session and answers its jobs in order."""

    def __init__(self):
        self.session = wbcore.Session()
        self.transport = None
        self.busy = False  # a job is waiting on its timer: later requests wait their turn
        self.closing = False

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
            if job.wait_ms:
                # The "database": a timer on the loop, not a blocked thread.
                self.busy = True
                asyncio.get_running_loop().call_later(job.wait_ms / 1000, self.finish, job)
                return
            self.send(job)

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


LOOPS = ("asyncio", "uvloop")


async def main(args):
    wbcore.raise_open_files_limit()
    loop = asyncio.get_running_loop()
    stop = wbcore.stop_event()
    sock = wbcore.listening_socket(args.host, args.port)
    server = await loop.create_server(WorkbenchProtocol, sock=sock, backlog=wbcore.LISTEN_BACKLOG)
    # The name the workbench knows this variant by: asyncio, or asyncio-uvloop.
    name = "asyncio" if args.loop == "asyncio" else "asyncio-" + args.loop
    wbcore.announce(name, sock.getsockname())
    await stop.wait()
    server.close()  # stop accepting; open connections end with the process


if __name__ == "__main__":
    ARGS = wbcore.parse_args(
        "The workbench's routes on an asyncio.Protocol.", loop_flag="--loop", loops=LOOPS
    )
    if ARGS.loop == "uvloop":
        wbcore.install_uvloop_policy()  # before asyncio.run creates the loop
    asyncio.run(main(ARGS))
