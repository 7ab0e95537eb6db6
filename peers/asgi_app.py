"""The workbench's routes as ASGI applications: a bare one, and the same on Starlette.

The model. ASGI is WSGI's asynchronous successor: the server calls `await app(scope, receive,
send)` once per request, as a task on its event loop, and the application sends its answer as
two messages (`http.response.start` with the status and headers, `http.response.body`). A wait
is `await asyncio.sleep`, a timer on the loop (thousands overlap); CPU work runs inline on the
loop's one thread, stalling every connection: concurrency, not parallelism. The server owns the
loop, the sockets and HTTP parsing: uvicorn (httptools, uvloop), gunicorn's uvicorn workers, or
granian (Rust's hyper and tokio under a Python app).

- `bare`: an ASGI callable written against the specification alone
  (https://asgi.readthedocs.io/en/latest/specs/www.html), nothing between the server and the
  workbench's router. On uvicorn it is the `uvicorn` peer, under gunicorn's uvicorn workers
  `gunicorn-uvicorn`, on granian `granian`.
- `make_starlette()`: the same routes as a Starlette application (Starlette is the toolkit FastAPI
  is built on): a Route per path, a Request, a Response, Starlette's middleware stack and
  exception handlers between the server and the handler. On uvicorn it is the `starlette`
  peer; beside `uvicorn` it shows what the framework costs on the same server and loop.

The server frames the answer (Server, Date, no body for HEAD) and closes the connection after
an answer that says `Connection: close`, which the application sends where the core closes
(errors, `Connection: close` requests, HTTP/1.0 without keep-alive).
"""

import asyncio

import wbcore


def _header_lookup(raw_headers):
    """header(name) over ASGI's [(lowercase name bytes, value bytes)], first value wins."""
    headers = {}
    for name, value in raw_headers:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers.get


def _job(scope):
    """The job for one ASGI request scope."""
    target = scope.get("raw_path") or scope["path"].encode("utf-8")
    target = target.decode("latin-1")
    if scope.get("query_string") and "?" not in target:
        target += "?" + scope["query_string"].decode("latin-1")
    return wbcore.framework_job(
        scope["method"],
        target,
        scope.get("http_version") == "1.1",
        _header_lookup(scope["headers"]),
    )


def _answer(job):
    """(status, [(name, value) bytes], body) for ASGI: the CPU kernel runs here."""
    status, _reason, headers, body = job.parts()
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if job.closes:
        raw.append((b"connection", b"close"))
    if job.head_only:
        body = b""  # Content-Length stays the GET answer's
    return status, raw, body


async def bare(scope, receive, send):
    """The bare ASGI application: route, wait on the loop's timer, compute inline, answer."""
    if scope["type"] == "lifespan":
        # The server's startup and shutdown: nothing to set up.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    job = _job(scope)
    job.begin()  # /count reads its counter here, before the wait
    if job.wait_ms:
        await asyncio.sleep(job.wait_ms / 1000)
    status, headers, body = _answer(job)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_starlette():
    """The Starlette application: one catch-all Route for every method. Built on demand, so
    that the bare application's process never imports Starlette."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request):
        job = _job(request.scope)
        job.begin()
        if job.wait_ms:
            await asyncio.sleep(job.wait_ms / 1000)
        status, headers, body = _answer(job)
        response = Response(content=body, status_code=status)
        # Starlette's Response sets Content-Length from the body; the core's headers replace
        # it (a HEAD answer keeps the GET answer's length) and add Content-Type as is.
        del response.headers["content-length"]
        response.raw_headers.extend(headers)
        return response

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
