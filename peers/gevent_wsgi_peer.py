"""gevent-wsgi peer: gevent's WSGI server (gevent.pywsgi), a greenlet per connection.

The model. The same hub as the `gevent` peer (libev on epoll, one OS thread), with gevent's own
HTTP server on top: pywsgi.WSGIServer spawns a greenlet per connection, parses each request,
and calls a plain WSGI application, blocking-style code, in that greenlet. Thousands of idle
connections cost greenlets, not threads. The application here is wsgi_app.py, the very one the
gunicorn peers run; gevent's monkey.patch_all() (first thing, before anything else imports
the standard library's blocking modules) turns its time.sleep into a timer on the hub, so a
waiting request yields to the others. CPU work never yields: concurrency, not parallelism.
Beside `gevent` (a raw StreamServer parsing with wbcore), this peer shows what pywsgi adds.

How the framework is meant to be used. `WSGIServer(listener, application).serve_forever()`,
after monkey-patching, as gevent's documentation deploys WSGI applications
(https://www.gevent.org/api/gevent.pywsgi.html). pywsgi frames the answer: it adds Date, and
closes the connection after an answer that says `Connection: close`.

Run: python gevent_wsgi_peer.py --port 8080, then curl -i http://127.0.0.1:8080/hello
"""

from gevent import monkey

monkey.patch_all()  # before anything imports socket, time or threading

import signal  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

import wbcore  # noqa: E402
import wsgi_app  # noqa: E402


def main():
    args = wbcore.parse_args("The workbench's routes as a WSGI app on gevent.pywsgi.")
    wbcore.raise_open_files_limit()
    sock = wbcore.listening_socket(args.host, args.port)
    # No access log (the load generator counts requests); errors still go to stderr.
    server = WSGIServer(sock, wsgi_app.application, log=None)
    server.start()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, server.stop, timeout=1)
    wbcore.announce("gevent-wsgi", sock.getsockname())
    server.serve_forever()


if __name__ == "__main__":
    main()
