"""The Starlette app: the static page, and one WebSocket (one `Playground`) per browser tab at /ws.

Each connection runs two coroutines on the event loop: a reader that validates each message, runs it on
the session's `Playground` and sends the replies, and a trainer that, while the session is playing, runs
short training ticks and sends a frame every `limits.frame_interval`. Both only ever run *between* each
other's awaits, so the session object needs no lock, control messages are applied between ticks, and
every tick ends with an await so other sessions get their turn. The training budget per frame shrinks
as more sessions train, so under load every session keeps getting frames (at a lower rate).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..pacing import Pacer
from ..playground import HistoryCursor, Playground
from . import protocol as P
from .protocol import Limits, ProtocolError

log = logging.getLogger("backlit.server")
_jitter = random.Random()  # private: training must not consume the global random state

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

SERVER_FULL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backlit: server full</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36em; margin: 4em auto">
<h1>Server full</h1>
<p>This backlit server already runs {n} sessions, its limit. Close another tab, or try again in a
minute. (The person running the server can raise the limit with <code>--max-sessions</code>.)</p>
</body></html>
"""

_HOST_SAFE = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,255}$")


def content_security_policy(host: str | None) -> str:
    connect = "'self'"
    if host and _HOST_SAFE.match(host):
        connect += f" ws://{host} wss://{host}"
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:; connect-src {connect}; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")


class SecurityHeaders:
    """ASGI middleware: CSP, nosniff and friends on every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
        extra = [
            (b"content-security-policy", content_security_policy(host).encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cache-control", b"no-cache"),
        ]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [h for h in extra if h[0] not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def host_name(host_header: str) -> str:
    """'LocalHost:8000' -> 'localhost', '[::1]:8000' -> '::1'."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class HostCheck:
    """ASGI middleware: only answer requests whose Host header names this server.

    When the server listens on loopback, a page on another site can still reach it through DNS
    rebinding (evil.example resolving to 127.0.0.1); its requests then carry Host: evil.example, and
    its WebSocket an Origin that matches that Host. Accepting only loopback host names stops it.
    """

    def __init__(self, app, allowed_hosts):
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
            if host_name(host) not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
                    return
                response = PlainTextResponse("Bad Host header: this server answers to "
                                             + ", ".join(sorted(self.allowed)), status_code=400)
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


class Hub:
    """Shared by all sessions: counts them, and paces training and frames to the machine's load.

    A monitor task measures the event loop's lag (how late a short sleep wakes up). While the loop is
    late, ``slow`` grows, which stretches every session's frame interval and shrinks its training
    budget; when the loop is on time again, it shrinks back to 1. So an overloaded server sends fewer
    frames per session and trains a little slower, but keeps answering controls quickly.
    """

    MONITOR_PERIOD = 0.025
    MAX_SLOW = 6.0  # frame interval at most 6 x 25 ms = 150 ms (about 6.7 frames/s)

    def __init__(self, limits: Limits):
        self.limits = limits
        self.sessions = 0
        self.playing = 0
        self.errors = 0  # internal errors (exceptions that were not ProtocolErrors), for tests/benchmarks
        self.lag = 0.0
        self.slow = 1.0
        self._monitor: asyncio.Task | None = None

    @property
    def full(self) -> bool:
        return self.sessions >= self.limits.max_sessions

    def frame_interval(self) -> float:
        # One session alone gets the full rate: its lag can only come from other programs.
        return self.limits.frame_interval * (self.slow if self.playing > 1 else 1.0)

    def train_budget(self) -> float:
        """Seconds of training per frame interval for one session: the training sessions share one
        budget (about 60% of a core at full speed), so that frames and controls keep flowing."""
        n = max(self.playing, 1)
        return max(0.0005, self.limits.train_seconds_per_frame / n)

    def start_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while self.sessions > 0:
            t = loop.time()
            await asyncio.sleep(self.MONITOR_PERIOD)
            lag = max(0.0, loop.time() - t - self.MONITOR_PERIOD)
            self.lag = 0.7 * self.lag + 0.3 * lag
            if self.lag > 0.04:
                self.slow = min(self.slow * 1.2, self.MAX_SLOW)
            elif self.lag < 0.015:
                self.slow = max(self.slow / 1.05, 1.0)
        self.lag, self.slow = 0.0, 1.0


def _origin_allowed(websocket: WebSocket, allowed: set[str]) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: no cross-site risk (browsers always send Origin on WebSockets)
    origin = origin.strip().lower().rstrip("/")
    host = websocket.headers.get("host", "").strip().lower()
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    if netloc and netloc == host:
        return True
    return origin in allowed or bool(netloc and netloc in allowed)


class Session:
    """One WebSocket connection and its Playground."""

    def __init__(self, websocket: WebSocket, hub: Hub, limits: Limits):
        self.ws = websocket
        self.hub = hub
        self.limits = limits
        self.pg = Playground(limits=limits)
        self.history = HistoryCursor()  # this connection's place in the session's loss history
        self.pacer = Pacer()  # this connection's training pace (the speed setting)
        self.send_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.last_frame = 0.0
        self.sent_step = -1  # the step of the last frame sent: a paced session sends no repeat frames
        self.counted_playing = False
        self.closed = False

    # ---- sending --------------------------------------------------------------------------------
    async def send(self, msg: dict, reply_to: int | None = None) -> None:
        if self.closed:
            return
        async with self.send_lock:
            if msg.get("type") == "frame":
                header = {**msg["header"], **self.pg.history_since(self.history)}
                self.sent_step = header.get("step")
                if reply_to is not None:
                    header["reply_to"] = reply_to
                await self.ws.send_bytes(P.pack_frame(header, msg["arrays"]))
                self.last_frame = time.monotonic()
            else:
                if reply_to is not None:
                    msg = {**msg, "reply_to": reply_to}
                await self.ws.send_text(P.encode(msg))

    def _sync_playing(self) -> None:
        playing = self.pg.playing and not self.closed
        if playing != self.counted_playing:
            self.hub.playing += 1 if playing else -1
            self.counted_playing = playing
        if playing:
            self.wake.set()

    # ---- receiving ------------------------------------------------------------------------------
    def handle(self, raw) -> tuple[list[dict], int | None]:
        """Validate and run one frame from the client; always returns replies (an error at worst)."""
        reply_to = None
        try:
            msg = P.decode(raw, self.limits.max_message_bytes)
            reply_to = P.message_id(msg)
            replies = self.pg.handle(P.validate(msg))
        except ProtocolError as e:
            replies = [e.reply()]
        except Exception as e:  # a bug, not bad input: keep the session alive and say so
            self.hub.errors += 1
            log.exception("internal error while handling a message")
            replies = [{"type": "error", "field": None,
                        "message": f"internal error ({type(e).__name__}); the session goes on"}]
        return replies, reply_to

    async def on_message(self, raw) -> None:
        replies, reply_to = self.handle(raw)
        self._sync_playing()
        for msg in replies:
            await self.send(msg, reply_to)

    # ---- training -------------------------------------------------------------------------------
    async def train_loop(self) -> None:
        try:
            await self._train_loop()
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the socket closed under us; the reader sees the disconnect and cleans up
        except asyncio.CancelledError:
            raise
        except Exception:
            self.hub.errors += 1
            log.exception("training task failed")

    async def _train_loop(self) -> None:
        """While playing: bounded ticks, an await after each, a frame every frame_interval."""
        lim = self.limits
        while not self.closed:
            if not self.pg.playing:
                self._sync_playing()
                self.wake.clear()
                await self.wake.wait()
                self.pacer.reset()
                continue
            start = time.monotonic()
            interval = self.hub.frame_interval()
            budget = self.hub.train_budget()
            spent = 0.0
            diverged = []
            due = self.pacer.due(self.pg.config["speed"], start)
            while self.pg.playing and spent < budget and (due is None or due > 0):
                t0 = time.perf_counter()
                try:
                    before = self.pg.step_count
                    diverged = self.pg.train_for(min(lim.tick_seconds, budget - spent),
                                                 max_steps=10**9 if due is None else due)
                    if due is not None:
                        ran = max(self.pg.step_count - before, 1)
                        self.pacer.spend(ran)
                        due -= ran
                except Exception:
                    self.hub.errors += 1
                    log.exception("internal error while training; pausing the session")
                    self.pg.playing = False
                    diverged = [self.pg.state()]
                spent += time.perf_counter() - t0
                await asyncio.sleep(0)  # let other sessions and this session's messages in
            for msg in diverged:
                await self.send(msg)
            if (self.pg.playing or diverged) and (diverged or self.pg.step_count != self.sent_step) and \
                    (diverged or time.monotonic() - self.last_frame >= interval * 0.5):
                try:
                    header, arrays = self.pg.frame()
                except Exception:
                    self.hub.errors += 1
                    log.exception("internal error while drawing a frame; pausing the session")
                    self.pg.playing = False
                    await self.send(self.pg.state())
                else:
                    await self.send({"type": "frame", "header": header, "arrays": arrays})
            self._sync_playing()
            # A little jitter keeps sessions that started together from drawing their frames in the
            # same instant (a burst that would delay everyone's control replies).
            delay = interval * _jitter.uniform(0.9, 1.1) - (time.monotonic() - start)
            await asyncio.sleep(max(0.0, delay))

    def close(self) -> None:
        self.closed = True
        self._sync_playing()


def create_app(limits: Limits | None = None, allowed_origins=(), web_root: str | Path | None = None,
               allowed_hosts=None, debug: bool = False) -> Starlette:
    """The playground app.

    ``allowed_origins``: extra WebSocket origins ("https://example.org" or a bare "host:port"), for a
    reverse proxy. ``allowed_hosts``: if given, the Host names this server answers to (the CLI passes
    the loopback names when it listens on loopback); the allowed origins' hosts are added to it.
    ``web_root`` overrides the page folder (tests).
    """
    limits = limits or Limits()
    root = Path(web_root or WEB_ROOT).resolve()
    allowed = {o.strip().lower().rstrip("/") for o in allowed_origins}
    hub = Hub(limits)

    def file_response(rel: str) -> Response:
        not_found = PlainTextResponse("Not found", status_code=404)
        if not rel or "\x00" in rel or "\\" in rel or len(rel) > 200:
            return not_found
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return not_found
        ext = os.path.splitext(parts[-1])[1].lower()
        if ext not in MIME_TYPES:
            return not_found
        path = (root / rel).resolve()
        if os.path.commonpath([str(path), str(root)]) != str(root) or not path.is_file():
            return not_found
        return FileResponse(path, media_type=MIME_TYPES[ext])

    async def index(request):
        if hub.full:
            return HTMLResponse(SERVER_FULL_PAGE.format(n=limits.max_sessions), status_code=503)
        return file_response("index.html")

    async def static(request):
        return file_response(request.path_params["path"])

    async def ws_endpoint(websocket: WebSocket):
        if not _origin_allowed(websocket, allowed):
            log.warning("refused a WebSocket from origin %r", websocket.headers.get("origin"))
            await websocket.close(code=1008, reason="origin not allowed")  # before accept: HTTP 403
            return
        if hub.full:
            await websocket.accept()
            await websocket.send_text(P.encode({
                "type": "error", "field": None,
                "message": f"server full: {limits.max_sessions} sessions are open; try again later"}))
            await websocket.close(code=1013, reason="server full")
            return
        hub.sessions += 1
        hub.start_monitor()
        session = None
        trainer = None
        try:
            await websocket.accept()
            session = Session(websocket, hub, limits)
            trainer = asyncio.create_task(session.train_loop())
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes")
                await session.on_message(raw)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the tab went away (or the server is stopping)
        except Exception:
            hub.errors += 1
            log.exception("WebSocket session failed")
        finally:
            hub.sessions -= 1
            if session is not None:
                session.close()
            if trainer is not None:
                trainer.cancel()
                await asyncio.gather(trainer, return_exceptions=True)
            if websocket.application_state == WebSocketState.CONNECTED and \
                    websocket.client_state == WebSocketState.CONNECTED:
                try:
                    await websocket.close()
                except Exception:
                    pass

    routes = [
        WebSocketRoute("/ws", ws_endpoint),
        Route("/", index),
        Route("/{path:path}", static),
    ]
    app = Starlette(debug=debug, routes=routes)
    app.state.hub = hub
    app.state.limits = limits
    if allowed_hosts is not None:
        hosts = set(allowed_hosts)
        for origin in allowed:
            netloc = urlsplit(origin).netloc if "//" in origin else origin
            hosts.add(host_name(netloc))
        app.add_middleware(HostCheck, allowed_hosts=hosts)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so every response gets the headers
    return app
