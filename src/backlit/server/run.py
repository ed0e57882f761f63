"""`backlit serve`: start uvicorn on a free port, print the URL and open the browser."""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import json
import os
import socket
import sys
import webbrowser

PORT_TRIES = 50
WS_MAX_SIZE = 1024 * 1024  # frames up to 1 MiB reach the app (which answers > 64 KiB with an error)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _max_points(text: str) -> int:
    value = _positive(text)
    if value < 50:
        raise argparse.ArgumentTypeError(f"--max-points must be at least 50, got {value}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for a classroom)")
    parser.add_argument("--port", type=_port, default=8000,
                        help="port to listen on; if it is taken, the next free one is used (default 8000)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    parser.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="also accept WebSockets from this origin (e.g. https://proxy.example); repeatable")
    parser.add_argument("--max-sessions", type=_positive, default=32,
                        help="concurrent sessions (tabs) before new ones get 'server full' (default 32)")
    parser.add_argument("--max-points", type=_max_points, default=5000,
                        help="largest dataset a session may ask for (default 5000)")
    parser.add_argument("--workers", type=_positive, default=1,
                        help="worker processes (uvicorn's); each holds its own sessions and "
                             "--max-sessions applies per worker (default 1; for a classroom, the core count)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer to this Host name (e.g. the name students type); repeatable")
    parser.add_argument("--code", type=_class_code, default=None, metavar="CODE",
                        help="the class code students need to join (default: a fresh one whenever --host is "
                             "not loopback; none on loopback unless given)")
    parser.add_argument("--open", action="store_true",
                        help="no class code even on a public address: anyone who can reach the port may join")
    parser.add_argument("--root-path", default="", metavar="PATH",
                        help="the path a reverse proxy serves the playground under, e.g. /backlit (uvicorn's)")
    parser.add_argument("--proxy-headers", action="store_true",
                        help="trust X-Forwarded-For / X-Forwarded-Proto from --forwarded-allow-ips (uvicorn's)")
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1", metavar="IPS",
                        help="the proxies whose forwarded headers count, comma-separated (default 127.0.0.1)")
    parser.add_argument("--store", default=None, metavar="URL",
                        help="where the class (roster, progress, pushed setups, live summaries) is kept: "
                             "sqlite:///path/class.db or redis://host:port/0 (default: with a class code, "
                             "a SQLite file in ~/.local/state/backlit; without one, no class)")


def _class_code(text: str) -> str:
    from .classroom import check_code

    try:
        return check_code(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def class_code(host: str, code: str | None, open_: bool) -> str | None:
    """The class code `backlit serve` uses: ``code`` if given, a fresh one on a public address, none on
    loopback or with ``--open``."""
    if open_:
        if code:
            raise ValueError("--open and --code contradict each other: choose one")
        return None
    if code:
        return code
    if _is_public(host):
        from .classroom import new_code

        return new_code()
    return None


def _phone_address(names: list[str]) -> str:
    """The name a phone on the same network can reach best: an address rather than a host name."""
    for name in names:
        try:
            if not ipaddress.ip_address(name).is_loopback:
                return name
        except ValueError:
            pass
    return names[0]


def print_qr(url: str, out=None) -> None:
    """The join URL as a QR code in the terminal (segno), for students' phones."""
    import segno

    segno.make(url, error="m").terminal(out=out or sys.stdout, compact=True)


def bind(host: str, port: int, tries: int = PORT_TRIES) -> tuple[socket.socket, int]:
    """A listening socket on ``host`` at ``port`` or the next free port after it."""
    last: OSError | None = None
    for p in range(port, min(port + tries, 65536)):
        infos = socket.getaddrinfo(host, p, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        # NOTE: the protocol number matters: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
        # on sockets whose proto is IPPROTO_TCP. With proto 0, a reply sent right after another
        # one (state, then frame) waits for the browser's delayed ACK: about 40 ms.
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(128)
            sock.set_inheritable(True)
            return sock, p
        except OSError as e:
            sock.close()
            last = e
            if e.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    raise OSError(f"no free port in {port}..{port + tries - 1} on {host}: {last}")


def _url(host: str, port: int) -> str:
    try:
        ip = ipaddress.ip_address(host)
        if ip.is_unspecified:
            host = "127.0.0.1" if ip.version == 4 else "[::1]"
        elif ip.version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}:{port}/"


def _is_public(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host not in ("localhost",)


def _bare(host: str) -> str:
    return host.strip().strip("[]").lower()


def network_names(host: str) -> list[str]:
    """The names and addresses under which a server bound to ``host`` is reached, for the printed URLs
    and the Host check: the address itself, and for 0.0.0.0 / :: this machine's name and addresses."""
    names = [_bare(host)]
    try:
        unspecified = ipaddress.ip_address(_bare(host)).is_unspecified
    except ValueError:
        unspecified = False
    if not unspecified:
        return names
    hostname = socket.gethostname().lower()
    found = [hostname, f"{hostname}.local", socket.getfqdn().lower()]
    try:
        found += [info[4][0] for info in socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)]
    except OSError:
        pass
    try:  # the address of the default route (a UDP "connect" sends nothing)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    for name in found:
        name = _bare(name)
        if name and name not in names and name not in ("0.0.0.0", "::"):
            names.append(name)
    return names


def allowed_hosts(host: str, extra=()) -> list[str] | None:
    """The Host names `backlit serve --host HOST` answers to: the loopback names, the bound address and
    the names it prints, and ``extra`` (--allow-host; "*" turns the check off)."""
    extra = [_bare(h) for h in extra]
    if "*" in extra:
        return None
    hosts = ["localhost", "127.0.0.1", "::1"]
    for name in network_names(host) + extra:
        if name not in hosts:
            hosts.append(name)
    return hosts


def uvicorn_config(app, **overrides):
    """uvicorn's settings for the playground (shared by `backlit serve` and the tests). Per-message
    deflate is off: browsers always ask for it, and on float32 grids it costs about 10x the throughput."""
    import uvicorn

    settings = {"ws_per_message_deflate": False, "ws_max_size": WS_MAX_SIZE, "lifespan": "off",
                "log_level": "warning", "timeout_graceful_shutdown": 2, **overrides}
    return uvicorn.Config(app, **settings)


def proxy_options(args) -> dict:
    """uvicorn's own settings for running behind a reverse proxy: the root path, and forwarded headers
    trusted only from the allowed proxies (without --proxy-headers, from none)."""
    root = (getattr(args, "root_path", "") or "").rstrip("/")
    if root and not root.startswith("/"):
        root = "/" + root
    return {"root_path": root, "proxy_headers": bool(getattr(args, "proxy_headers", False)),
            "forwarded_allow_ips": getattr(args, "forwarded_allow_ips", "127.0.0.1") or "127.0.0.1"}


def run_serve(args) -> int:
    """Serve until Ctrl-C. Returns the exit code (0 after a clean stop)."""
    try:
        return _serve(args)
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        print("backlit: stopped.")
        return 0


def _serve(args) -> int:
    import uvicorn

    from .app import ENV_OPTIONS, create_app, import_optional, one_blas_thread
    from .protocol import Limits

    limits = Limits(max_sessions=args.max_sessions, max_points=args.max_points)
    try:
        sock, port = bind(args.host, args.port)
    except (OSError, socket.gaierror) as e:
        print(f"backlit: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    if port != args.port:
        print(f"Port {args.port} is in use; using port {port} instead.")
    url = _url(args.host, port)
    public = _is_public(args.host)
    try:
        code = class_code(args.host, getattr(args, "code", None), getattr(args, "open", False))
    except ValueError as e:
        print(f"backlit: {e}", file=sys.stderr)
        sock.close()
        return 2
    if public:
        print(f"warning: listening on {args.host}: the playground is reachable from the network.")
        if code is None:
            print("warning: --open: no class code; anyone who can reach this port can open a session.")
    store_url = getattr(args, "store", None)
    store, teacher_key = None, None
    if store_url or code:
        from .store import default_url, open_store
        from .teacher import new_key

        try:
            store_url = store_url or default_url()
            store = open_store(store_url)
            if code and not getattr(args, "code", None):   # a made-up code survives a restart
                code = store.remembered("class_code", lambda: code)
            teacher_key = store.remembered("teacher_key", new_key)
        except (OSError, ValueError, ImportError) as e:
            print(f"backlit: cannot open the class store {store_url}: {e}", file=sys.stderr)
            sock.close()
            return 2
    others_names = [n for n in network_names(args.host)[1:] if n != "localhost"]
    join_url = None
    if code:
        from .classroom import join_url as _join

        join_url = _join(_url(_phone_address(others_names), port) if others_names else url, code)

    # Answer only to the names this server is reached by (stops DNS-rebinding pages): loopback, the
    # bound address, the names printed below, and --allow-host / --allow-origin hosts.
    hosts = allowed_hosts(args.host, args.allow_host)
    workers = getattr(args, "workers", 1)
    open_browser = not args.no_browser
    one_blas_thread()
    if workers == 1:
        import_optional()  # before it listens for tabs (each worker process does the same)

    def announce() -> None:
        from .classroom import join_url as with_code

        join = (lambda u: with_code(u, code)) if code else (lambda u: u)
        print(f"backlit playground: {join(url)}  (Ctrl-C to stop)", flush=True)
        others = [n for n in network_names(args.host)[1:] if n != "localhost"]
        if others:
            print("  on the network: " + "  ".join(join(_url(n, port)) for n in others), flush=True)
        if code:
            print(f"  class code: {code}  (students open the link, or type the code on the join page)", flush=True)
            print_qr(join_url)
        if store is not None:
            print(f"  teacher's view (keep this link to yourself): {url}teacher?key={teacher_key}", flush=True)
        if public and workers == 1 and (os.cpu_count() or 1) > 1:
            print(f"  tip: --workers {os.cpu_count()} serves more students (one process per core)", flush=True)

    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        options = {"limits": limits.to_dict(), "allowed_origins": list(args.allow_origin), "allowed_hosts": hosts,
                   "class_code": code, "store": store_url if store is not None else None,
                   "teacher_key": teacher_key, "join_url": join_url}
        if store is not None:
            store.close()   # each worker opens its own
        os.environ[ENV_OPTIONS] = json.dumps(options)
        config = uvicorn_config("backlit.server.app:create_app_from_env", factory=True, workers=workers,
                                **proxy_options(args))
        announce()  # the socket already listens: connections wait until a worker takes them
        if open_browser:
            webbrowser.open(url)
        try:
            Multiprocess(config, sockets=[sock]).run()
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
        print("backlit: stopped.")
        return 0

    app = create_app(limits=limits, allowed_origins=args.allow_origin, allowed_hosts=hosts, class_code=code,
                     store=store, teacher_key=teacher_key, join_url=join_url)
    config = uvicorn_config(app, **proxy_options(args))

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                announce()
                if open_browser:
                    asyncio.get_running_loop().run_in_executor(None, webbrowser.open, url)

    server = Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("backlit: stopped.")
    return 0
