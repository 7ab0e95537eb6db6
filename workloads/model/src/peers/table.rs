//! The peers themselves: each server we did not write, its packages pinned by
//! `peers/requirements.txt`, its model (family) and how it is started and known ready. Each
//! package's oldest Python is its pinned release's `Requires-Python`.

use super::*;

const TWISTED: Package = Package {
    dist: "twisted",
    import: "twisted.internet.epollreactor",
    python: (3, 10),
};
/// Twisted's reactor on an asyncio event loop (PEP 3156's "adapt the default loop").
const TWISTED_ON_ASYNCIO: Package = Package {
    dist: "twisted",
    import: "twisted.internet.asyncioreactor",
    python: (3, 10),
};
/// uvloop: asyncio's event loop reimplemented on libuv, installed as asyncio's loop policy.
const UVLOOP: Package = Package {
    dist: "uvloop",
    import: "uvloop",
    python: (3, 8),
};
const TORNADO: Package = Package {
    dist: "tornado",
    import: "tornado.tcpserver",
    python: (3, 11),
};
const GEVENT: Package = Package {
    dist: "gevent",
    import: "gevent.server",
    python: (3, 10),
};
const CURIO: Package = Package {
    dist: "curio",
    import: "curio",
    python: (3, 7),
};
const GUNICORN: Package = Package {
    dist: "gunicorn",
    import: "gunicorn.workers.gthread",
    python: (3, 10),
};
/// Twisted's select() reactor: every descriptor in three bitmaps, at most FD_SETSIZE (1,024).
const TWISTED_SELECT: Package = Package {
    dist: "twisted",
    import: "twisted.internet.selectreactor",
    python: (3, 10),
};
/// Twisted's poll() reactor: every descriptor in an array handed to the kernel each turn.
const TWISTED_POLL: Package = Package {
    dist: "twisted",
    import: "twisted.internet.pollreactor",
    python: (3, 10),
};
const AIOHTTP: Package = Package {
    dist: "aiohttp",
    import: "aiohttp.web",
    python: (3, 10),
};
const UVICORN: Package = Package {
    dist: "uvicorn",
    import: "uvicorn",
    python: (3, 10),
};
/// uvicorn's C parser (llhttp, Node.js's).
const HTTPTOOLS: Package = Package {
    dist: "httptools",
    import: "httptools",
    python: (3, 9),
};
const STARLETTE: Package = Package {
    dist: "starlette",
    import: "starlette.applications",
    python: (3, 11),
};
const TWISTED_WEB: Package = Package {
    dist: "twisted",
    import: "twisted.web.server",
    python: (3, 10),
};
const TORNADO_WEB: Package = Package {
    dist: "tornado",
    import: "tornado.web",
    python: (3, 11),
};
const GEVENT_WSGI: Package = Package {
    dist: "gevent",
    import: "gevent.pywsgi",
    python: (3, 10),
};
/// gunicorn's worker class that runs uvicorn in each worker process (moved out of uvicorn).
const UVICORN_WORKER: Package = Package {
    dist: "uvicorn-worker",
    import: "uvicorn_worker",
    python: (3, 9),
};
const GRANIAN: Package = Package {
    dist: "granian",
    import: "granian",
    python: (3, 10),
};

/// asyncpg: the asyncio PostgreSQL driver (its protocol in Cython), the asyncio peer's pool.
const ASYNCPG: Package = Package {
    dist: "asyncpg",
    import: "asyncpg",
    python: (3, 9),
};
/// psycopg 3 (with its binary build of the C layer): a DB-API 2.0 driver, under Twisted's
/// adbapi thread pool and in each gunicorn sync worker.
const PSYCOPG: Package = Package {
    dist: "psycopg",
    import: "psycopg",
    python: (3, 10),
};

pub(super) static PEERS: [PeerDef; 22] = [
    PeerDef {
        name: "asyncio",
        model: "one thread, one epoll loop; asyncio.Protocol callbacks, call_later timers",
        family: Family::EventLoop,
        color: [0xc9, 0x9a, 0x00],
        requirement: Requirement::Python(&[]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("asyncio_peer.py", &[]),
        database: Some(ASYNCPG),
    },
    PeerDef {
        name: "twisted",
        model: "one thread, the epoll reactor; Protocol/Factory callbacks, callLater timers",
        family: Family::EventLoop,
        color: [0x8c, 0x56, 0x4b],
        requirement: Requirement::Python(&[TWISTED]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_peer.py", &[]),
        database: Some(PSYCOPG),
    },
    PeerDef {
        name: "asyncio-uvloop",
        model: "asyncio's Protocol unchanged, on uvloop's loop (libuv) instead of the standard one",
        family: Family::EventLoop,
        color: [0xe6, 0xc2, 0x4c],
        requirement: Requirement::Python(&[UVLOOP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("asyncio_peer.py", &["--loop", "uvloop"]),
        database: None,
    },
    PeerDef {
        name: "twisted-asyncio",
        model: "Twisted's Protocol unchanged, on the asyncioreactor: the reactor adapted to asyncio's loop",
        family: Family::EventLoop,
        color: [0xb0, 0x7d, 0x6f],
        requirement: Requirement::Python(&[TWISTED_ON_ASYNCIO]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_peer.py", &["--reactor", "asyncio"]),
        database: None,
    },
    PeerDef {
        name: "twisted-uvloop",
        model: "Twisted's Protocol unchanged, on the asyncioreactor over uvloop's loop",
        family: Family::EventLoop,
        color: [0x5e, 0x3a, 0x32],
        requirement: Requirement::Python(&[TWISTED_ON_ASYNCIO, UVLOOP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_peer.py", &["--reactor", "uvloop"]),
        database: None,
    },
    PeerDef {
        name: "tornado",
        model: "one thread, the IOLoop (on asyncio); a coroutine per connection on an IOStream",
        family: Family::Coroutine,
        color: [0xd6, 0x27, 0x28],
        requirement: Requirement::Python(&[TORNADO]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("tornado_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "gevent",
        model: "one thread, libev; a greenlet per connection writing blocking-style code",
        family: Family::Coroutine,
        color: [0x2f, 0x4f, 0x4f],
        requirement: Requirement::Python(&[GEVENT]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("gevent_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "curio",
        model: "one thread, curio's kernel; a task (coroutine) per connection",
        family: Family::Coroutine,
        color: [0x9a, 0x9b, 0x1b],
        requirement: Requirement::Python(&[CURIO]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("curio_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "python-threads",
        model: "one OS thread per connection (socketserver.ThreadingTCPServer); one GIL between them",
        family: Family::Thread,
        color: [0x17, 0xbe, 0xcf],
        requirement: Requirement::Python(&[]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("threads_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "gunicorn-sync",
        model: "prefork pool: 2 x cores + 1 worker processes, one connection each, no keep-alive",
        family: Family::Process,
        color: [0xe3, 0x77, 0xc2],
        requirement: Requirement::Python(&[GUNICORN]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Gunicorn {
            worker_class: "sync",
            app: "wsgi_app:application",
        },
        database: Some(PSYCOPG),
    },
    PeerDef {
        name: "gunicorn-gthread",
        model: "a bounded thread pool, not a thread per connection: 1 worker process, 2 x cores + 1 \
                threads (Python threads: the GIL lets one run bytecode at a time); idle \
                keep-alives wait in a selector",
        family: Family::Thread,
        color: [0xb8, 0x4f, 0x96],
        requirement: Requirement::Python(&[GUNICORN]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Gunicorn {
            worker_class: "gthread",
            app: "wsgi_app:application",
        },
        database: None,
    },
    PeerDef {
        name: "twisted-select",
        model: "Twisted's Protocol unchanged, on the selectreactor: select() over every socket \
                each turn, at most 1,024 descriptors",
        family: Family::EventLoop,
        color: [0xc4, 0x9c, 0x94],
        requirement: Requirement::Python(&[TWISTED_SELECT]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_peer.py", &["--reactor", "select"]),
        database: None,
    },
    PeerDef {
        name: "twisted-poll",
        model: "Twisted's Protocol unchanged, on the pollreactor: poll() over every socket each \
                turn",
        family: Family::EventLoop,
        color: [0x6b, 0x44, 0x3a],
        requirement: Requirement::Python(&[TWISTED_POLL]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_peer.py", &["--reactor", "poll"]),
        database: None,
    },
    PeerDef {
        name: "aiohttp",
        model: "framework: aiohttp.web on asyncio's loop; its C parser, a handler coroutine per \
                request",
        family: Family::Coroutine,
        color: [0x8a, 0x6d, 0x00],
        requirement: Requirement::Python(&[AIOHTTP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("aiohttp_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "uvicorn",
        model: "a bare ASGI app on uvicorn: uvloop's loop, httptools' parser, a task per request",
        family: Family::Coroutine,
        color: [0x3b, 0x5b, 0xa5],
        requirement: Requirement::Python(&[UVICORN, HTTPTOOLS, UVLOOP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("uvicorn_peer.py", &["--app", "bare"]),
        database: None,
    },
    PeerDef {
        name: "starlette",
        model: "framework: the same routes as a Starlette app (FastAPI's base), on that uvicorn",
        family: Family::Coroutine,
        color: [0x7a, 0x9c, 0xd6],
        requirement: Requirement::Python(&[STARLETTE, UVICORN, HTTPTOOLS, UVLOOP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("uvicorn_peer.py", &["--app", "starlette"]),
        database: None,
    },
    PeerDef {
        name: "twisted-web",
        model: "framework: twisted.web's Site and a Resource on the epoll reactor; NOT_DONE_YET \
                finished from callLater",
        family: Family::EventLoop,
        color: [0xa0, 0x52, 0x2d],
        requirement: Requirement::Python(&[TWISTED_WEB]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("twisted_web_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "tornado-web",
        model: "framework: tornado.web, an async RequestHandler on HTTPServer (the IOLoop on \
                asyncio)",
        family: Family::Coroutine,
        color: [0xa1, 0x1d, 0x1e],
        requirement: Requirement::Python(&[TORNADO_WEB]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("tornado_web_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "gevent-wsgi",
        model: "framework: gevent.pywsgi, a greenlet per connection running a WSGI app \
                (monkey-patched sleep)",
        family: Family::Coroutine,
        color: [0x55, 0x6b, 0x2f],
        requirement: Requirement::Python(&[GEVENT_WSGI]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("gevent_wsgi_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "gunicorn-uvicorn",
        model: "a pool of loops: gunicorn's prefork master, 2 x cores + 1 uvicorn worker \
                processes, each an event loop serving many connections",
        family: Family::Coroutine,
        color: [0x9e, 0x3d, 0x8a],
        requirement: Requirement::Python(&[GUNICORN, UVICORN_WORKER, UVICORN, HTTPTOOLS, UVLOOP]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Gunicorn {
            worker_class: "uvicorn_worker.UvicornWorker",
            app: "asgi_app:bare",
        },
        database: None,
    },
    PeerDef {
        name: "granian",
        model: "the bare ASGI app on granian: Rust's hyper and tokio parse and frame, the app's \
                coroutines run on a Python loop",
        family: Family::Coroutine,
        color: [0xd9, 0x5f, 0x0e],
        requirement: Requirement::Python(&[GRANIAN]),
        supports_work: true,
        ready: ReadySignal::Port,
        launch: Launch::Script("granian_peer.py", &[]),
        database: None,
    },
    PeerDef {
        name: "nginx",
        model: "master + 1 worker process, one epoll loop; serves /hello only",
        family: Family::EventLoop,
        color: [0x00, 0x83, 0x8f],
        requirement: Requirement::Nginx,
        supports_work: false,
        ready: ReadySignal::Port,
        launch: Launch::Nginx,
        database: None,
    },
];
