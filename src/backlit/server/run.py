"""`backlit serve`: start uvicorn on a free port, print the URL and open the browser."""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
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


def uvicorn_config(app, **overrides):
    """uvicorn's settings for the playground (shared by `backlit serve` and the tests). Per-message
    deflate is off: browsers always ask for it, and on float32 grids it costs about 10x the throughput."""
    import uvicorn

    settings = {"ws_per_message_deflate": False, "ws_max_size": WS_MAX_SIZE, "lifespan": "off",
                "log_level": "warning", "timeout_graceful_shutdown": 2, **overrides}
    return uvicorn.Config(app, **settings)


def run_serve(args) -> int:
    """Serve until Ctrl-C. Returns the exit code (0 after a clean stop)."""
    try:
        return _serve(args)
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        print("backlit: stopped.")
        return 0


def _serve(args) -> int:
    import uvicorn

    from .app import LOOPBACK_HOSTS, create_app
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
    if _is_public(args.host):
        print(f"warning: listening on {args.host}: the playground is reachable from the network.")

    # On loopback, answer only to loopback host names (stops DNS-rebinding pages); on a public
    # address the students' browsers use whatever name or address the teacher hands out.
    hosts = None if _is_public(args.host) else LOOPBACK_HOSTS
    app = create_app(limits=limits, allowed_origins=args.allow_origin, allowed_hosts=hosts)
    config = uvicorn_config(app)
    open_browser = not args.no_browser

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                print(f"backlit playground: {url}  (Ctrl-C to stop)", flush=True)
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
