"""tornado.web peer: an Application of async RequestHandlers on Tornado's HTTPServer.

The model. The same IOLoop as the `tornado` peer (asyncio's loop underneath, one thread), with
Tornado's web framework on top: HTTPServer parses each request (HTTP1Connection on an
IOStream), the Application routes it to a RequestHandler instance, and the handler's `async
def get()` is a coroutine: `await asyncio.sleep` is the "database" (tornado.gen.sleep is the
same timer), CPU work runs inline and stalls every connection: concurrency, not parallelism.
Beside `tornado` (a raw TCPServer parsing with wbcore), this peer shows what tornado.web adds.

How the framework is meant to be used. A tornado.web.Application with one handler for every
path (the workbench's router answers 404 and 405 as the engines do), its methods coroutines,
as Tornado's guide writes them (https://www.tornadoweb.org/en/stable/guide/structure.html).
Tornado frames the answer: it adds Server and Date, and no Etag here (compute_etag returns
None: the engines send none). Tornado has no public call to close the connection after an
answer; HTTP1Connection decides it from the request alone, so a handler whose answer closes
(the core's errors) sets the flag Tornado sets itself for `Connection: close`
(`_disconnect_on_finish`), and Tornado then says `Connection: close` and closes.

Run: python tornado_web_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import asyncio

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError

import wbcore


class WorkbenchHandler(tornado.web.RequestHandler):
    """Every path and method: route, wait on the loop's timer, compute inline, answer."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def compute_etag(self):
        return None  # no Etag: the workbench's answers carry none

    def set_default_headers(self):
        self.clear_header("Content-Type")  # the core's Content-Type, or none

    async def serve(self, *_args):
        request = self.request
        job = wbcore.framework_job(
            request.method,
            request.uri,  # the path and query as received
            request.version == "HTTP/1.1",
            request.headers.get,  # case-insensitive
        )
        job.begin()  # /count reads its counter here, before the wait
        if job.wait_ms:
            await asyncio.sleep(job.wait_ms / 1000)
        status, reason, headers, body = job.parts()  # runs the CPU kernel
        self.set_status(status, reason)
        for name, value in headers:
            self.set_header(name, value)
        if job.closes:
            connection = request.connection
            if hasattr(connection, "_disconnect_on_finish"):
                connection._disconnect_on_finish = True
        if not job.head_only:
            self.write(body)
        try:
            await self.finish()
        except StreamClosedError:
            pass  # the client went away during the wait: nobody to answer, nothing to log

    get = head = post = delete = patch = put = options = serve


async def main():
    args = wbcore.parse_args("The workbench's routes as a tornado.web Application.")
    wbcore.raise_open_files_limit()
    stop = wbcore.stop_event()
    sock = wbcore.listening_socket(args.host, args.port)
    sock.setblocking(False)
    app = tornado.web.Application([(r".*", WorkbenchHandler)], log_function=lambda handler: None)
    server = HTTPServer(app, idle_connection_timeout=300)
    server.add_sockets([sock])
    wbcore.announce("tornado-web", sock.getsockname())
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
