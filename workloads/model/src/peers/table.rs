//! The peers themselves: each server we did not write, its packages pinned by
//! `peers/requirements.txt`, its model (family) and how it is started and known ready.

use super::*;

const TWISTED: Package = Package {
    dist: "twisted",
    import: "twisted.internet.epollreactor",
};
/// Twisted's reactor on an asyncio event loop (PEP 3156's "adapt the default loop").
const TWISTED_ON_ASYNCIO: Package = Package {
    dist: "twisted",
    import: "twisted.internet.asyncioreactor",
};
/// uvloop: asyncio's event loop reimplemented on libuv, installed as asyncio's loop policy.
const UVLOOP: Package = Package {
    dist: "uvloop",
    import: "uvloop",
};
const TORNADO: Package = Package {
    dist: "tornado",
    import: "tornado.tcpserver",
};
const GEVENT: Package = Package {
    dist: "gevent",
    import: "gevent.server",
};
const CURIO: Package = Package {
    dist: "curio",
    import: "curio",
};
const GUNICORN: Package = Package {
    dist: "gunicorn",
    import: "gunicorn.workers.gthread",
};

pub(super) static PEERS: [PeerDef; 12] = [
    PeerDef {
        name: "asyncio",
        model: "one thread, one epoll loop; asyncio.Protocol callbacks, call_later timers",
        family: Family::EventLoop,
        color: [0xc9, 0x9a, 0x00],
        requirement: Requirement::Python(&[]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Script("asyncio_peer.py", &[]),
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
    },
    PeerDef {
        name: "gunicorn-sync",
        model: "prefork pool: 2 x cores + 1 worker processes, one connection each, no keep-alive",
        family: Family::Process,
        color: [0xe3, 0x77, 0xc2],
        requirement: Requirement::Python(&[GUNICORN]),
        supports_work: true,
        ready: ReadySignal::Line,
        launch: Launch::Gunicorn("sync"),
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
        launch: Launch::Gunicorn("gthread"),
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
    },
];
