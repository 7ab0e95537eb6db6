"""The workbench's protocol core, in Python: what every raw-socket peer answers, byte for byte.

The Rust engines get every byte they send from one sans-I/O crate (engines/protocol). The
Python peers that read raw bytes (asyncio, Twisted, Tornado, gevent, curio) get theirs from
this module instead, so that they cannot drift from each other, and it follows that crate line
by line: session.rs (framing and routing), response.rs (the bytes), kernel.rs (the CPU kernel
and the body pattern) and limits.rs (the numbers). Like the Rust core it does no I/O at all:

    session = Session()
    session.receive_data(b"GET /work?wait_ms=10&bytes=5 HTTP/1.1\r\nHost: a\r\n\r\n")
    job = session.next_event()        # a Job, NEED_DATA or CLOSED
    job.wait_ms                       # 10: wait, the framework's own way...
    data = job.perform()              # ...then run the CPU kernel and render the bytes
    session.next_event()              # NEED_DATA: read more, then ask again

This is python-hyper/h11's idea: incomplete input is a state (NEED_DATA), not an error, and a
request that breaks a rule becomes a Job that answers 400, 404, 405, 413, 431 or 501 and closes
the connection. The WSGI peers (gunicorn) let gunicorn parse HTTP, and use only route() and
Job.wsgi_response() from here.

The request-head parser mirrors httparse 1.10 (the Rust core's parser) closely enough for the
conformance corpus and for anything a load generator sends: the same token and URI character
classes, LF or CRLF line ends, leading empty lines skipped, no obs-fold, no space before the
colon, at most 64 header fields. It checks heads with compiled regular expressions, so a
request costs a few C-level matches rather than a Python loop per byte.
"""

import email.utils
import hashlib
import json
import os
import random
import re
import resource
import socket
import time

# --- limits.rs ----------------------------------------------------------------------------
MAX_HEAD_BYTES = 16 * 1024  # larger head: 431 (Node.js, h11)
MAX_HEADERS = 64  # more fields: 431 (httparse's own examples)
MAX_BODY_BYTES = 1024 * 1024  # larger Content-Length: 413 (nginx client_max_body_size)
MAX_WAIT_MS = 60_000
MAX_CPU_ROUNDS = 100_000_000
MAX_BODY_PATTERN_BYTES = 64 * 1024 * 1024

# --- kernel.rs ----------------------------------------------------------------------------
SEED = b"concurrency-workbench"
PATTERN = b"abcdefghijklmnopqrstuvwxyz"
HELLO_BODY = b"Hello, World!"


def cpu_kernel(rounds):
    """Iterated SHA-256: state = sha256(SEED), then `rounds` times state = sha256(state)."""
    sha256 = hashlib.sha256
    state = sha256(SEED).digest()
    for _ in range(rounds):
        state = sha256(state).digest()
    return state


def work_digest(rounds):
    """The X-Work-Digest header value: the kernel's final state in lowercase hex."""
    return cpu_kernel(rounds).hex()


def pattern(length):
    """`length` bytes of abc...xyzabc..., the body of every /work answer."""
    whole, part = divmod(length, len(PATTERN))
    return PATTERN * whole + PATTERN[:part]


# --- response.rs --------------------------------------------------------------------------
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

# How a response ends its connection (response.rs's Persistence).
KEEP_ALIVE = "keep-alive"  # HTTP/1.1 default: no Connection header
KEEP_ALIVE_HTTP10 = "keep-alive-http10"  # asked for by an HTTP/1.0 client
CLOSE = "close"  # Connection: close, and the server closes after sending


class Job:
    """What to do for one complete request: wait `wait_ms`, then call perform() (which runs
    `cpu_rounds` rounds of the kernel) and send its bytes; close afterwards if `closes`."""

    __slots__ = ("status", "wait_ms", "cpu_rounds", "work_bytes", "detail", "head_only",
                 "persistence", "count", "count_read", "world", "world_ids", "rows")

    def __init__(self, status, wait_ms=0, cpu_rounds=0, work_bytes=None, detail=None,
                 count=None, world=None):
        self.status = status
        self.wait_ms = wait_ms
        self.cpu_rounds = cpu_rounds
        self.work_bytes = work_bytes  # None for /hello and errors
        self.detail = detail  # the error text, None when status is 200
        self.head_only = False
        self.persistence = CLOSE if status >= 400 else KEEP_ALIVE
        self.count = count  # /count: None otherwise, "read" or "update"
        self.count_read = None  # what begin() read, for an update
        # /db and /queries (world.rs): (rows, first_id, array), the ids to fetch, and what
        # the peer handed back: a list of (id, randomnumber), or a reason string (503).
        self.world = world
        self.world_ids = world_ids(*world[:2]) if world is not None else None
        self.rows = None

    def begin(self):
        """Begins the job, before its wait (response.rs's Job::begin): /count?wait_ms=W reads
        the process's counter here, the first half of its read-modify-write; perform() writes
        the value read plus one. Every other job does nothing."""
        if self.count == "update":
            self.count_read = _counter[0]

    def give_rows(self, rows):
        """Hands the rows fetched for `world_ids` to the job, in the same order, as
        (id, randomnumber) pairs: response.rs's Job::give_rows. Rows that are not the ones asked
        for are answered 500 (the peer's bug, made visible)."""
        if self.world is not None:
            self.rows = [(int(i), int(n)) for i, n in rows]

    def database_failed(self, reason):
        """Says the rows could not be fetched, and why: the answer is 503 with `reason` (and
        the connection stays open: the failure is the database's, not the client's)."""
        if self.world is not None:
            self.rows = reason

    def final_status(self):
        """The status the response carries: `status`, but for /db and /queries, where it
        depends on what the peer handed back (response.rs's Job::status)."""
        if self.world is None:
            return self.status
        if isinstance(self.rows, list):
            return 200 if [r[0] for r in self.rows] == self.world_ids else 500
        return 503

    @property
    def closes(self):
        """Whether the connection must be closed once this response is sent."""
        return self.persistence == CLOSE

    def _parts(self):
        """(status, headers, body) before HEAD is applied: the CPU work happens here."""
        status = self.final_status()
        headers = [("Content-Type", "text/plain")]
        if self.world is not None:
            digest = None
            if status == 200:
                headers[0] = ("Content-Type", "application/json")
                body = render_rows(self.rows, self.world[2])
            elif status == 500:
                body = b"the engine fetched rows other than the ids asked for\n"
            elif self.rows is None:
                body = b"the engine fetched no rows (it has no database client for this route)\n"
            else:
                body = self.rows.encode() + b"\n"
        elif self.detail is not None:
            body = self.detail.encode() + b"\n"
            digest = None
        elif self.count is not None:
            digest = None
            if self.count == "update":
                # The unlocked read-modify-write: a read (in begin), then a write. Under the
                # GIL each statement is atomic, the pair is not.
                read = _counter[0] if self.count_read is None else self.count_read
                _counter[0] = read + 1
            body = b"%d\n" % _counter[0] if self.count == "read" else b"%d\n" % (read + 1)
        elif self.work_bytes is not None:
            digest = work_digest(self.cpu_rounds)
            body = pattern(self.work_bytes)
        else:
            digest = None
            body = HELLO_BODY
        headers.append(("Content-Length", str(len(body))))
        if digest is not None:
            headers.append(("X-Work-Digest", digest))
        if status == 405:
            headers.append(("Allow", "GET, HEAD"))
        return status, headers, body

    def perform(self):
        """Runs the CPU kernel and renders the response bytes, exactly as response.rs does."""
        status, headers, body = self._parts()
        if self.persistence == KEEP_ALIVE_HTTP10:
            headers.append(("Connection", "keep-alive"))
        elif self.persistence == CLOSE:
            headers.append(("Connection", "close"))
        # Date first, as response.rs puts it (RFC 9110 §6.6.1: a server with a clock sends it).
        head = "HTTP/1.1 %d %s\r\nDate: %s\r\n" % (status, REASONS[status], http_date())
        head += "".join("%s: %s\r\n" % pair for pair in headers) + "\r\n"
        return head.encode("latin-1") + (b"" if self.head_only else body)

    def parts(self):
        """(status code, reason, headers, body) for a framework that frames the response
        itself: the CPU kernel runs here. The body is the GET answer's even for HEAD, whose
        Content-Length is that of GET: the framework leaves the body off the wire."""
        status, headers, body = self._parts()
        return status, REASONS[status], headers, body

    def wsgi_response(self):
        """(status line, headers, body) for a WSGI server, which frames the response itself.
        `Connection` is left to the server: WSGI calls it hop-by-hop, and gunicorn decides it
        from the request and its worker type."""
        status, headers, body = self._parts()
        if self.head_only:
            body = b""  # Content-Length stays that of the GET answer, as in perform()
        return "%d %s" % (status, REASONS[status]), headers, body


_date_cache = [None, ""]  # [the second it was formatted for, the text]


def http_date():
    """Now as an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (date.rs), formatted at most
    once a second, as the Rust core caches it."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
    return _date_cache[1]


# counter.rs: the process's counter behind /count, one per process (gunicorn's sync workers
# each have their own).
_counter = [0]


def error(status, detail):
    """An error job: `detail` and a newline as the body, and the connection closes."""
    return Job(status, detail=detail)


# --- session.rs: routing --------------------------------------------------------------------
_WORK_PARAMS = {
    "wait_ms": (MAX_WAIT_MS, "wait_ms must be a whole number from 0 to 60000"),
    "cpu_rounds": (MAX_CPU_ROUNDS, "cpu_rounds must be a whole number from 0 to 100000000"),
    "bytes": (MAX_BODY_PATTERN_BYTES, "bytes must be a whole number from 0 to 67108864"),
}
_WHITESPACE = b" \t\n\x0b\x0c\r"  # Rust's trim_ascii


def parse_decimal(text, maximum):
    """A plain decimal number (digits only, surrounding spaces allowed) no larger than
    `maximum`, or None. `text` is bytes."""
    text = text.strip(_WHITESPACE)
    if not text or len(text) > 20 or not text.isdigit():
        return None
    value = int(text)
    return value if value <= min(maximum, 2**64 - 1) else None


def _parse_work_query(query):
    values = {}
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if key not in _WORK_PARAMS:
            raise ValueError("unknown parameter; /work takes wait_ms, cpu_rounds and bytes")
        if key in values:
            raise ValueError("a /work parameter was given twice")
        maximum, message = _WORK_PARAMS[key]
        number = parse_decimal(value.encode("utf-8"), maximum)
        if number is None:
            raise ValueError(message)
        values[key] = number
    return values.get("wait_ms", 0), values.get("cpu_rounds", 0), values.get("bytes", 0)


def route(method, target):
    """The job that answers `method` on `target` (path and query), as session.rs's route():
    404 for unknown paths, 400 for bad /work parameters, 405 for methods other than GET and
    HEAD. HEAD answers carry no body (head_only), whatever their status."""
    path, _, query = target.partition("?")
    if path == "/hello":
        job = Job(200)
    elif path == "/work":
        try:
            wait_ms, rounds, length = _parse_work_query(query)
        except ValueError as problem:
            job = error(400, str(problem))
        else:
            job = Job(200, wait_ms=wait_ms, cpu_rounds=rounds, work_bytes=length)
    elif path == "/count" and not query:
        job = Job(200, count="read")
    elif path == "/count":
        key, _, value = query.partition("=")
        wait_ms = parse_decimal(value.encode("utf-8"), MAX_WAIT_MS) if key == "wait_ms" else None
        if wait_ms is None:
            job = error(400, "/count takes one parameter, wait_ms, a whole number from 0 to 60000")
        else:
            job = Job(200, wait_ms=wait_ms, count="update")
    elif path in ("/db", "/queries"):
        try:
            world = parse_db_query(query) if path == "/db" else parse_queries_query(query)
        except ValueError as problem:
            job = error(400, str(problem))
        else:
            job = Job(200, world=world)
    else:
        job = error(404, "no such route; try /hello or /work")
    if job.status == 200 and method not in ("GET", "HEAD"):
        job = error(405, "only GET and HEAD are served")
    job.head_only = method == "HEAD"
    return job


# --- world.rs: TechEmpower's /db and /queries ------------------------------------------------
# The core says which World rows to fetch (job.world_ids); the peer fetches them its own way
# (asyncpg on the loop, Twisted's adbapi thread pool, one psycopg connection per gunicorn
# worker), hands them back (job.give_rows, or job.database_failed) and the core renders them.
WORLD_ROWS = 10_000
MAX_QUERIES = 500
# The one query, once per row (TechEmpower forbids batching /queries into one), in each
# driver's placeholder style: asyncpg's numbered $1, DB-API's pyformat %s (psycopg).
SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
SELECT_WORLD_PYFORMAT = "SELECT id, randomnumber FROM world WHERE id = %s"
# The 503 reasons (engines/sys/src/database.rs's, said of a peer).
NO_DATABASE = ("no database: start the peer with --db-url or WORKBENCH_DATABASE "
               "(workbench db up prints one)")
QUERY_FAILED = "the database query failed (the peer's log says why)"
POOL_TIMED_OUT = "no database connection came free within 5 s"
DB_WAIT_TIMEOUT_S = 5.0  # the engines' DB_WAIT_TIMEOUT: a saturated pool fails the same way
_DB_MESSAGE = "/db takes at most one parameter, id, a whole number from 1 to 10000"
_QUERIES_MESSAGE = ("/queries takes n (how many rows, 1 to 500) and optionally id "
                    "(the first row, 1 to 10000)")
_ID_MESSAGE = "id must be a whole number from 1 to 10000"
_I64 = re.compile(r"[+-]?[0-9]+")


def _parse_id(value):
    text = value.strip()
    if not text or len(text) > 5 or not (text.isascii() and text.isdigit()):
        raise ValueError(_ID_MESSAGE)
    number = int(text)
    if not 1 <= number <= WORLD_ROWS:
        raise ValueError(_ID_MESSAGE)
    return number


def clamp_queries(value):
    """TechEmpower's rule for the number of queries: an integer clamped to 1..500, anything
    else (not a number, or beyond a 64-bit integer) 1."""
    text = value.strip()
    if not text.isascii() or not _I64.fullmatch(text):
        return 1
    number = int(text)
    if not -2**63 <= number < 2**63:
        return 1
    return max(1, min(MAX_QUERIES, number))


def parse_db_query(query):
    """/db's query, empty or id=K: (rows, first_id, array); ValueError is the 400's detail."""
    first_id = None
    for pair in query.split("&"):
        if not pair:
            continue
        key, equals, value = pair.partition("=")
        if not equals or key != "id" or first_id is not None:
            raise ValueError(_DB_MESSAGE)
        first_id = _parse_id(value)
    return 1, first_id, False


def parse_queries_query(query):
    """/queries' query, n=N (clamped) and optionally id=K: (rows, first_id, array)."""
    rows = first_id = None
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if key in ("n", "queries") and rows is None:
            rows = clamp_queries(value)
        elif key == "id" and first_id is None:
            first_id = _parse_id(value)
        else:
            raise ValueError(_QUERIES_MESSAGE)
    return rows or 1, first_id, True


def world_ids(rows, first_id):
    """The ids to fetch, in order: random ones, or first_id and the rows after it (after
    10,000 comes 1)."""
    if first_id is None:
        return [random.randint(1, WORLD_ROWS) for _ in range(rows)]
    return [(first_id - 1 + i) % WORLD_ROWS + 1 for i in range(rows)]


def render_rows(rows, array):
    """The rows as the answer's JSON, as world.rs renders them: {"id":1,"randomNumber":2},
    or an array of such objects, without spaces."""
    objects = ",".join('{"id":%d,"randomNumber":%d}' % row for row in rows)
    return ("[%s]" % objects if array else objects).encode()


def database_options(args):
    """(conninfo or None, pool size) from a peer's --db-url and --db-pool."""
    return args.db_url or None, args.db_pool


def default_db_pool():
    """Connections a peer holds when --db-pool is not given: 2 x CPUs + 1, as the engines'
    default (the PostgreSQL wiki's starting point for a pool), CPUs being those this process
    may run on."""
    return 2 * len(os.sched_getaffinity(0)) + 1


def conninfo_keywords(conninfo):
    """A libpq key=value connection string (`host=/tmp/x port=5432 user=u dbname=d`, as
    `workbench db up` prints it) as keyword arguments for asyncpg, which takes URIs or
    keywords but not this form: host, port, user, database, password. Quoted values are not
    supported; ValueError names the part it cannot read."""
    names = {"host": "host", "port": "port", "user": "user", "dbname": "database",
             "password": "password"}
    keywords = {}
    for part in conninfo.split():
        key, equals, value = part.partition("=")
        if not equals or key not in names or value.startswith("'"):
            raise ValueError("cannot read %r of the connection string %r (expected "
                             "host=... port=... user=... dbname=...)" % (part, conninfo))
        keywords[names[key]] = int(value) if key == "port" else value
    return keywords


# --- the framework peers: a request their framework has parsed -----------------------------
def framework_job(method, target, http11, header):
    """The job for a request that a framework has already parsed (aiohttp, uvicorn, Starlette,
    twisted.web, tornado.web, gevent's pywsgi, granian): `target` is the path and query as
    received, `http11` whether the request line said HTTP/1.1, and header(name) the value of a
    request header (lowercase name) or None.

    The framework has framed the request; the rules it leaves to the application are checked
    here with the protocol core's answers, in session.rs's order (Transfer-Encoding, Host, the
    body limit), then the request is routed. The connection closes where the core closes it:
    after an error, on `Connection: close`, or for HTTP/1.0 without keep-alive."""
    if header("transfer-encoding") is not None:
        return error(501, "Transfer-Encoding on a request is not supported; send Content-Length")
    if http11 and header("host") is None:
        return error(400, "HTTP/1.1 request without a Host header")
    length = parse_decimal((header("content-length") or "0").encode("latin-1"), 2**64 - 1)
    if length is not None and length > MAX_BODY_BYTES:
        return error(413, "request body larger than 1 MiB")
    job = route(method, target)
    if job.status == 200:
        tokens = [t.strip().lower() for t in (header("connection") or "").split(",")]
        if "close" in tokens or not (http11 or "keep-alive" in tokens):
            job.persistence = CLOSE
        elif not http11:
            job.persistence = KEEP_ALIVE_HTTP10
    return job


# --- session.rs: framing --------------------------------------------------------------------
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_URICHAR = rb"\x21-\x7e\x80-\xff"
_VALUECHAR = rb"\t\x20-\x7e\x80-\xff"
# A request line: method, one space, target, one space, version, LF or CRLF.
_REQUEST_LINE = re.compile(rb"([%s]+) ([%s]+) HTTP/1\.([01])\r?\n" % (_TCHAR, _URICHAR))
# A header line: name, colon, value (leading and trailing blanks are not part of it).
_HEADER_LINE = re.compile(rb"([%s]+):[ \t]*([%s]*?)[ \t]*\r?\n" % (_TCHAR, _VALUECHAR))
_HEAD_END = re.compile(rb"\r?\n")
_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")
# What an unfinished request line or header line may look like so far (httparse reports an
# invalid byte as soon as it arrives, without waiting for the rest of the head).
_REQUEST_LINE_SO_FAR = re.compile(
    rb"[%s]*|[%s]+ [%s]*|[%s]+ [%s]+ (?:H(?:T(?:T(?:P(?:/(?:1(?:\.(?:[01]\r?)?)?)?)?)?)?)?)?"
    % (_TCHAR, _TCHAR, _URICHAR, _TCHAR, _URICHAR))
_HEADER_LINE_SO_FAR = re.compile(rb"\r|[%s]*|[%s]+:[%s]*\r?" % (_TCHAR, _TCHAR, _VALUECHAR))

NEED_DATA = "need-data"  # read more bytes, then call next_event() again
CLOSED = "closed"  # the last job closed the connection; nothing more will come


def _parse_head(buf):
    """Parses the head at the start of `buf`: returns None (incomplete), a Job that closes
    (the head is invalid), or (head_len, body_len, job)."""
    pos = _EMPTY_LINES.match(buf).end()
    if buf.startswith(b"\r", pos):
        # The empty lines consumed every CR followed by LF: this CR is last, or is not.
        return None if len(buf) == pos + 1 else error(400, "malformed request")
    line = _REQUEST_LINE.match(buf, pos)
    if line is None:
        if buf.find(b"\n", pos) != -1 or not _REQUEST_LINE_SO_FAR.fullmatch(buf, pos):
            return error(400, "malformed request")
        return None
    method, target, minor = line.group(1), line.group(2), line.group(3)
    try:
        target = target.decode("utf-8")  # httparse requires the target to be UTF-8
    except UnicodeDecodeError:
        return error(400, "malformed request")
    pos = line.end()
    headers = []
    while True:
        end = _HEAD_END.match(buf, pos)
        if end is not None:
            pos = end.end()
            break
        header = _HEADER_LINE.match(buf, pos)
        if header is None:
            if buf.find(b"\n", pos) != -1 or not _HEADER_LINE_SO_FAR.fullmatch(buf, pos):
                return error(400, "malformed request")
            return None
        if len(headers) == MAX_HEADERS:
            return error(431, "more than 64 header fields")
        headers.append((header.group(1).lower(), header.group(2)))
        pos = header.end()
    if pos > MAX_HEAD_BYTES:
        return error(431, "request head larger than 16 KiB")

    content_length = None
    has_host = close = keep_alive = False
    for name, value in headers:
        if name == b"transfer-encoding":
            return error(501,
                         "Transfer-Encoding on a request is not supported; send Content-Length")
        if name == b"content-length":
            number = parse_decimal(value, 2**64 - 1)
            if number is None:
                return error(400, "bad Content-Length")
            if content_length is not None and content_length != number:
                return error(400, "conflicting Content-Length headers")
            content_length = number
        elif name == b"host":
            has_host = True
        elif name == b"connection":
            for token in value.split(b","):
                token = token.strip(_WHITESPACE).lower()
                close |= token == b"close"
                keep_alive |= token == b"keep-alive"
    http11 = minor == b"1"
    if http11 and not has_host:
        return error(400, "HTTP/1.1 request without a Host header")
    body_len = content_length or 0
    if body_len > MAX_BODY_BYTES:
        return error(413, "request body larger than 1 MiB")

    method = method.decode("ascii")
    job = route(method, target)
    if job.status == 200:
        if close or not (http11 or keep_alive):
            job.persistence = CLOSE
        elif not http11:
            job.persistence = KEEP_ALIVE_HTTP10
    return pos, body_len, job


class Session:
    """The server side of one connection, without I/O: bytes in, jobs out (session.rs).

    Call receive_data() with every byte read, then next_event() until it answers NEED_DATA
    (read more) or CLOSED (close once everything is written). Pipelined requests come out one
    job at a time, in order. A request body is counted off and dropped, never buffered."""

    __slots__ = ("_unconsumed", "_body_left", "_held", "_closed", "_ended")

    def __init__(self):
        self._unconsumed = b""  # received, not yet consumed: a partial head, or pipelined
        self._body_left = 0  # body bytes of the current request still to drop
        self._held = None  # the job of a request whose body is still arriving
        self._closed = False  # a closing job has been handed out
        self._ended = False  # the connection is over (jobs() and done)

    def receive_data(self, data):
        """Hands received bytes to the session."""
        if self._closed:
            return
        if not self._unconsumed and self._body_left:
            skip = min(self._body_left, len(data))
            self._body_left -= skip
            data = data[skip:]
        if data:
            self._unconsumed = self._unconsumed + bytes(data) if self._unconsumed else bytes(data)

    def next_event(self):
        """The next Job, or NEED_DATA, or CLOSED."""
        while True:
            if self._closed:
                return CLOSED
            if self._body_left:
                skip = min(self._body_left, len(self._unconsumed))
                self._unconsumed = self._unconsumed[skip:]
                self._body_left -= skip
                if self._body_left:
                    return NEED_DATA
            if self._held is not None:
                job, self._held = self._held, None
                return self._emit(job)
            parsed = _parse_head(self._unconsumed)
            if parsed is None:
                if len(self._unconsumed) > MAX_HEAD_BYTES:
                    return self._emit(error(431, "request head larger than 16 KiB"))
                return NEED_DATA
            if isinstance(parsed, Job):
                return self._emit(parsed)
            head_len, self._body_left, self._held = parsed
            self._unconsumed = self._unconsumed[head_len:]

    @property
    def done(self):
        """Whether the connection is over: the client closed, or a closing job was answered."""
        return self._ended

    def jobs(self, data):
        """Feeds one read's `data` (empty when the client closed) and yields every job it
        completes, in order, each begun (/count reads its counter here, before the wait): the
        caller answers each before asking for the next. Then `done` tells whether to read on."""
        if not data:
            self._ended = True
            return
        self.receive_data(data)
        while True:
            job = self.next_event()
            if job is NEED_DATA:
                return
            if job is CLOSED:
                self._ended = True
                return
            job.begin()
            yield job
            if job.closes:
                self._ended = True
                return

    def _emit(self, job):
        if job.closes:
            self._closed = True
            self._unconsumed = b""
            self._body_left = 0
        return job


# --- one connection, read to its end: the raw-socket peers' loop -----------------------------
READ_CHUNK = 64 * 1024  # the most one read takes from the socket


def serve_blocking(recv, sendall, sleep):
    """Serves one connection with blocking calls (a thread's, a greenlet's): read, answer every
    complete request, repeat, until the connection is over. `sleep` is the "database"."""
    session = Session()
    while not session.done:
        data = recv(READ_CHUNK)
        for job in session.jobs(data):
            if job.wait_ms:
                sleep(job.wait_ms / 1000)
            sendall(job.perform())  # perform() runs the CPU kernel right here


async def serve_async(recv, sendall, sleep):
    """serve_blocking for a coroutine: every read, wait and write awaited, so that the task is
    suspended there and others run; the CPU kernel still runs inline, stalling them all."""
    session = Session()
    while not session.done:
        data = await recv(READ_CHUNK)
        for job in session.jobs(data):
            if job.wait_ms:
                await sleep(job.wait_ms / 1000)
            await sendall(job.perform())


# --- what every peer process shares ----------------------------------------------------------
LISTEN_BACKLOG = 4096  # as `workbench engine`: the kernel caps it at net.core.somaxconn


def parse_args(description, loop_flag=None, loops=()):
    """The flags every Python peer takes: --host (127.0.0.1) and --port (0 picks one).

    A peer that runs on more than one event loop (the interoperability variants: Twisted on
    asyncio's loop, asyncio on uvloop) names its flag and the loops it takes, the first being
    the default: parse_args(..., loop_flag="--reactor", loops=("epoll", "asyncio", "uvloop"))."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument(
        "--db-url",
        default=os.environ.get("WORKBENCH_DATABASE") or None,
        metavar="CONNINFO",
        help="the database /db and /queries read, a libpq connection string (default "
        "$WORKBENCH_DATABASE, which the runner sets); without it they answer 503",
    )
    parser.add_argument(
        "--db-pool",
        type=_pool_size,
        default=os.environ.get("WORKBENCH_DB_POOL") or default_db_pool(),
        metavar="N",
        help="database connections the peer may hold at once (default $WORKBENCH_DB_POOL, "
        "else 2 x CPUs + 1)",
    )
    if loop_flag:
        parser.add_argument(
            loop_flag,
            dest="loop",
            choices=loops,
            default=loops[0],
            help="the event loop to run on (default %(default)s)",
        )
    return parser.parse_args()


def _pool_size(text):
    import argparse

    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= 1000:
        raise argparse.ArgumentTypeError("--db-pool must be a whole number from 1 to 1000")
    return size


def install_uvloop_policy():
    """Makes uvloop's loop (libuv underneath, written in Cython) the one asyncio creates from
    now on: asyncio.run() and asyncio.new_event_loop() return a uvloop.Loop. This is PEP 3156's
    point: the loop is replaceable, and code written against asyncio's API runs unchanged on it.
    (The policy API is what uvloop documents for Python 3.9 to 3.13.)"""
    import asyncio

    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def stop_event():
    """An asyncio.Event that SIGINT or SIGTERM sets, on the running loop: what a peer on
    asyncio's loop awaits before it stops."""
    import asyncio  # only the peers on asyncio's loop need it
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def raise_open_files_limit():
    """Raises the soft open-files limit to the hard one, as `workbench engine` does: every
    connection is a file descriptor, and the idle workload holds thousands."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def listening_socket(host, port):
    """A listening socket as `workbench engine` binds it: SO_REUSEADDR, a deep backlog and
    TCP_NODELAY, which Linux copies to every accepted socket (no Nagle delay on pipelined
    answers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    return sock


def announce(name, address, pid=None, facts=None):
    """Prints the ready line the workbench's runner waits for, exactly as the engines do:
    {"engine":"asyncio","addr":"127.0.0.1:PORT","pid":PID,"facts":{"cpus":N,...}}. The facts
    are what the server states of its own configuration (the runner stores them with every
    step): the CPUs this process may use, and whatever `facts` adds (gunicorn's workers)."""
    host, port = address[0], address[1]
    stated = {"cpus": len(os.sched_getaffinity(0))}
    stated.update(facts or {})
    line = {
        "engine": name,
        "addr": "%s:%d" % (host, port),
        "pid": pid or os.getpid(),
        "facts": stated,
    }
    print(json.dumps(line, separators=(",", ":")), flush=True)
