"""twisted.web peer: Twisted's HTTP server, a Site and a Resource, on the epoll reactor.

The model. The same reactor as the `twisted` peer (epoll, one thread, callbacks), with Twisted's
own HTTP stack on top: an HTTPChannel protocol per connection parses requests into Request
objects, and the Site hands each to a Resource's render(). A render that must wait returns
NOT_DONE_YET and finishes the request later, from a reactor.callLater timer (the "database"):
thousands of waits overlap on one thread. CPU work runs inline in the reactor's thread,
stalling every connection: concurrency, not parallelism. Beside `twisted` (a raw Protocol
parsing with wbcore), this peer shows what twisted.web adds to the reactor.

How the framework is meant to be used. A leaf Resource whose render() answers every method
and path (the workbench's router answers 404 and 405 as the engines do), served by
twisted.web.server.Site, the way Twisted's web howto shows asynchronous responses
(https://docs.twisted.org/en/stable/web/howto/web-in-60/asynchronous.html). Twisted frames
the answer: it adds Server and Date, writes no body for HEAD, and closes the connection after
an answer where the channel is not persistent (the core's errors and `Connection: close`).

Run: python twisted_web_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import wbcore

if __name__ == "__main__":
    ARGS = wbcore.parse_args("The workbench's routes as a twisted.web Resource.")
    from twisted.internet import epollreactor

    epollreactor.install()

from twisted.internet import reactor  # noqa: E402  (the reactor must be installed first)
from twisted.web.resource import Resource  # noqa: E402
from twisted.web.server import NOT_DONE_YET, Site  # noqa: E402


class WorkbenchResource(Resource):
    """Every path and method: route, wait on a reactor timer, compute, answer."""

    isLeaf = True  # no child resources: render() sees every path

    def render(self, request):
        def header(name):
            value = request.getHeader(name.encode("latin-1"))
            return None if value is None else value.decode("latin-1")

        job = wbcore.framework_job(
            request.method.decode("ascii"),
            request.uri.decode("latin-1"),  # the path and query as received
            request.clientproto == b"HTTP/1.1",
            header,
        )
        job.begin()  # /count reads its counter here, before the wait
        if not job.wait_ms:
            return self.answer(request, job)
        call = reactor.callLater(job.wait_ms / 1000, self.finish, request, job)
        # The client went away during the wait: no answer, and the timer is cancelled.
        request.notifyFinish().addErrback(lambda _failure: call.cancel() if call.active() else None)
        return NOT_DONE_YET

    def finish(self, request, job):
        """The timer fired: answer, and finish the request."""
        body = self.answer(request, job)
        request.write(body)
        request.finish()

    @staticmethod
    def answer(request, job):
        """Sets the status and headers and returns the body: the CPU kernel runs here."""
        status, reason, headers, body = job.parts()
        request.setResponseCode(status, reason.encode("latin-1"))
        for name, value in headers:
            request.setHeader(name, value)
        if job.closes:
            # What Twisted itself does for a `Connection: close` request (checkPersistence):
            # say so, and the channel closes once the answer is written.
            request.setHeader("Connection", "close")
            request.channel.persistent = False
        return body


def main(args):
    wbcore.raise_open_files_limit()
    sock = wbcore.listening_socket(args.host, args.port)
    sock.setblocking(False)
    site = Site(WorkbenchResource())
    site.noisy = False
    # No access log: the load generator counts requests.
    site.log = lambda request: None
    port = reactor.adoptStreamPort(sock.fileno(), sock.family, site)
    address = sock.getsockname()
    sock.close()  # the reactor holds its own duplicate of the descriptor
    reactor.callWhenRunning(wbcore.announce, "twisted-web", address)
    del port
    reactor.run()


if __name__ == "__main__":
    main(ARGS)
