"""aiohttp peer: aiohttp.web, the asyncio web framework, as people deploy it.

The model. aiohttp.web runs on asyncio's standard event loop (epoll underneath, one thread):
the same loop as the `asyncio` peer, with aiohttp's HTTP parser (its C extension), its Request
and Response objects, its router and its handler task per request on top. Each request runs as
a coroutine: `await asyncio.sleep` is the "database" (a timer on the loop, so thousands of
waits overlap), and CPU work runs inline on the loop's one thread, stalling every connection
until it is done: concurrency, not parallelism. Beside `asyncio` (a bare asyncio.Protocol that
parses with wbcore), this peer shows what the framework adds to the loop.

How the framework is meant to be used. An aiohttp.web.Application with a route table and
`async def handler(request) -> web.Response`, served by an AppRunner on a site
(https://docs.aiohttp.org/en/stable/web_advanced.html#application-runners); the site here is
a SockSite on the workbench's listening socket, so the backlog and TCP_NODELAY are the
engines'. One catch-all route: the workbench's router (wbcore.route) answers 404 and 405 as the
engines do, where aiohttp's would answer with its own pages. aiohttp frames the answer: it adds
Server and Date, leaves the body off for HEAD, and closes the connection after a response
whose force_close() was called (the core's errors and `Connection: close`).

Run: python aiohttp_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

import asyncio

from aiohttp import web

import wbcore


async def handle(request):
    """One request: route it, wait on the loop's timer, compute inline, answer."""
    job = wbcore.framework_job(
        request.method,
        request.raw_path,  # the path and query as received, undecoded
        request.version >= (1, 1),
        lambda name: request.headers.get(name),
    )
    job.begin()  # /count reads its counter here, before the wait
    if job.wait_ms:
        await asyncio.sleep(job.wait_ms / 1000)
    status, reason, headers, body = job.parts()  # runs the CPU kernel, inline on the loop
    response = web.Response(status=status, reason=reason, headers=headers, body=body)
    if job.closes:
        response.force_close()
    return response


def make_app():
    """The application: one route that takes every method and path."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def main(args):
    wbcore.raise_open_files_limit()
    stop = wbcore.stop_event()
    sock = wbcore.listening_socket(args.host, args.port)
    # No access log (the load generator counts requests); idle keep-alive connections are held
    # like the engines hold them (the idle workload keeps thousands open for a whole step).
    runner = web.AppRunner(make_app(), access_log=None, keepalive_timeout=300)
    await runner.setup()
    site = web.SockSite(runner, sock, backlog=wbcore.LISTEN_BACKLOG)
    await site.start()
    wbcore.announce("aiohttp", sock.getsockname())
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(wbcore.parse_args("The workbench's routes as an aiohttp.web application.")))
