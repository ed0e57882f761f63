"""The Starlette app: the static page, and one WebSocket (one `Playground`) per browser tab at /ws.

Each connection runs three coroutines on the event loop: a reader that only queues incoming messages
(a bounded queue: a burst beyond it is dropped with one error that counts it, and a peer that goes
away has its backlog dropped), a worker that runs queued messages one at a time with a yield between
them, and a trainer that, while the session is playing, trains in short ticks and sends a frame every
`limits.frame_interval` (if the page has drawn the ones before). They only ever run *between* each
other's awaits, so the session object needs no lock.

Fair by construction: everything a session asks for (messages, training, frames) is charged to its
own budget (a token bucket of event-loop time, `CpuBudget`); the busy sessions split the loop evenly,
so a session that asks for a lot only slows itself down. More cores: `backlit serve --workers N`
(uvicorn's worker processes, each with its own sessions).
"""

from __future__ import annotations

import asyncio
import collections
import json
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

from ..playground.pacing import Pacer
from ..playground.session import HistoryCursor, Playground
from . import protocol as P
from .classroom import Gate
from .teacher import Classroom
from .teacher import routes as teacher_routes
from .store import open_store
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
    """Shared by all sessions of one process: counts them and sets each one's CPU budget.

    Fair by construction: the busy sessions (training, or with work waiting, or busy in the last
    second) split ``limits.cpu_share`` of a core evenly, each through its own :class:`CpuBudget`.
    Everything a session asks for is charged to its budget: training, messages, frames.
    """

    BUSY_WINDOW = 1.0  # a session that spent CPU this recently counts as busy
    RECOUNT = 0.1  # seconds between recounts of the busy sessions

    def __init__(self, limits: Limits):
        self.limits = limits
        self.sessions = 0
        self.playing = 0
        self.errors = 0  # internal errors (exceptions that were not ProtocolErrors), for tests/benchmarks
        self.handled = 0  # messages run (queued ones a closed connection left behind are not)
        self.live: set[Session] = set()
        self.peer_logs: dict[str, PeerLog] = {}
        self._busy = 1
        self._counted = -1.0

    @property
    def full(self) -> bool:
        return self.sessions >= self.limits.max_sessions

    def log(self, peer: str, kind: str, level: int, msg: str, *args, exc_info: bool = False) -> None:
        """Log a line about one peer, rate-limited per peer and kind (an attacker cannot flood the log)."""
        if len(self.peer_logs) > 1000:
            self.peer_logs.clear()
        suffix = self.peer_logs.setdefault(peer, PeerLog()).allow(kind)
        if suffix is not None:
            log.log(level, msg + " [peer %s]%s", *args, peer, suffix, exc_info=exc_info)

    def busy(self, now: float) -> int:
        if now - self._counted > self.RECOUNT:
            self._busy = max(1, sum(1 for s in self.live if s.is_busy(now)))
            self._counted = now
        return self._busy

    def rate(self, now: float) -> float:
        """Seconds of event-loop time per second that one busy session may use."""
        return self.limits.cpu_share / self.busy(now)


class CpuBudget:
    """A token bucket in seconds of the event loop's time: it fills at the hub's rate for one session,
    up to ``limits.cpu_burst``; work is charged after it ran, and a session in debt waits.

    NOTE: it charges wall time (perf_counter) while the session's code runs, not the thread's CPU
    time: the one event loop is what sessions share, and on a busy machine a 20 ms regenerate can
    hold the loop for 60 ms of wall time. Charging CPU time let such sessions take 3x their share.
    """

    def __init__(self, hub: Hub):
        self.hub = hub
        self.tokens = hub.limits.cpu_burst
        self.last = time.monotonic()
        self.last_used = -1e9

    def available(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.hub.limits.cpu_burst, self.tokens + self.hub.rate(now) * (now - self.last))
        self.last = now
        return self.tokens

    async def ready(self) -> None:
        """Wait until the budget is out of debt."""
        while (tokens := self.available()) < 0:
            await asyncio.sleep(min(0.25, -tokens / self.hub.rate(time.monotonic()) + 0.001))

    def charge(self, seconds: float) -> None:
        self.tokens -= seconds
        self.last_used = time.monotonic()


class PeerLog:
    """Rate-limits one connection's log lines: the first few of each kind, then one summary a minute."""

    FIRST = 3
    PERIOD = 60.0

    def __init__(self):
        self.counts: dict[str, int] = {}
        self.quiet_since: dict[str, float] = {}

    def allow(self, kind: str) -> str | None:
        """None: drop the line; else a suffix for it ("" or a count of the lines left out)."""
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= self.FIRST:
            return ""
        now = time.monotonic()
        since = self.quiet_since.setdefault(kind, now)
        if now - since >= self.PERIOD:
            self.quiet_since[kind] = now
            return f" ({n - self.FIRST} such lines from this peer so far; showing one a minute)"
        return None


class RepeatFilter(logging.Filter):
    """Quiets a log under attack: the first few records of each message pass in full, then one line a
    minute that counts the ones left out (uvicorn logs a traceback per bad frame, e.g. invalid UTF-8)."""

    FIRST = 3
    PERIOD = 60.0

    def __init__(self):
        super().__init__()
        self.seen: dict[str, list] = {}  # message -> [count, time of the last summary, count then]

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:200]
        if len(self.seen) > 1000:
            self.seen.clear()
        entry = self.seen.setdefault(key, [0, time.monotonic(), 0])
        entry[0] += 1
        if entry[0] <= self.FIRST:
            return True
        now = time.monotonic()
        if now - entry[1] < self.PERIOD:
            return False
        record.msg = f"{record.msg} [{entry[0] - entry[2]} such lines in the last minute; showing one a minute]"
        record.exc_info = record.exc_text = None
        entry[1], entry[2] = now, entry[0]
        return True


def install_log_filters(names=("uvicorn.error", "backlit.server")) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in logger.filters):
            logger.addFilter(RepeatFilter())


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
    """One WebSocket connection and its Playground.

    Three coroutines share it: the reader (``receive``, in the endpoint) only queues what arrives, up
    to ``limits.max_queued`` messages (more are dropped, and one error says how many); the worker
    (``serve``) runs the queued messages one at a time with a yield between them; the trainer
    (``train_loop``) trains while playing. Both worker and trainer wait for the session's CPU budget
    and are charged for what they do, so a session that asks for a lot only slows itself down.
    """

    def __init__(self, websocket: WebSocket, hub: Hub, limits: Limits):
        self.ws = websocket
        self.hub = hub
        self.limits = limits
        self.pg = Playground(limits=limits)
        self.history = HistoryCursor()  # this connection's place in the session's loss history
        self.pacer = Pacer()  # this connection's training pace (the speed setting)
        self.budget = CpuBudget(hub)
        self.encoder = P.FrameEncoder()  # remembers what this connection was sent (compact frames)
        self.send_lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.queue: collections.deque = collections.deque()
        self.queued = asyncio.Event()
        self.dropped = 0
        self.dropped_id: int | None = None
        self.last_drop_error = -1e9
        self.acks = False  # the page acknowledges frames ("drawn"): send training frames ahead of it
        self.in_flight = 0
        self.last_frame = 0.0
        self.sent_step = -1  # the step of the last frame sent: a paced session sends no repeat frames
        self.counted_playing = False
        self.closed = False

    def is_busy(self, now: float) -> bool:
        return self.pg.playing or bool(self.queue) or now - self.budget.last_used < Hub.BUSY_WINDOW

    # ---- sending --------------------------------------------------------------------------------
    async def send(self, msg: dict, reply_to: int | None = None) -> None:
        if self.closed:
            return
        async with self.send_lock:
            if self.closed:
                return
            if msg.get("type") == "frame":
                t0 = time.perf_counter()
                header = {**msg["header"], **self.pg.history_since(self.history)}
                self.sent_step = header.get("step")
                if reply_to is not None:
                    header["reply_to"] = reply_to
                data = self.encoder.encode(header, msg["arrays"])
                self.budget.charge(time.perf_counter() - t0)
                self.in_flight += 1
                await self._transmit(self.ws.send_bytes, data)
                self.last_frame = time.monotonic()
            else:
                if reply_to is not None:
                    msg = {**msg, "reply_to": reply_to}
                t0 = time.perf_counter()
                text = P.encode(msg)
                self.budget.charge(time.perf_counter() - t0)
                await self._transmit(self.ws.send_text, text)

    async def _transmit(self, method, data) -> None:
        try:
            await method(data)
        except Exception:  # the peer is gone: drop whatever it still had coming
            self.close()
            raise WebSocketDisconnect(1006)

    def _sync_playing(self) -> None:
        playing = self.pg.playing and not self.closed
        if playing != self.counted_playing:
            self.hub.playing += 1 if playing else -1
            self.counted_playing = playing
        if playing:
            self.wake.set()

    # ---- receiving ------------------------------------------------------------------------------
    def receive(self, raw) -> None:
        """Called by the reader for every incoming message: queue it, or drop it if too many wait."""
        if self.closed:
            return
        if len(self.queue) < self.limits.max_queued:
            self.queue.append(raw)
            self.queued.set()
            return
        self.dropped += 1
        if self.dropped_id is None and isinstance(raw, str) and len(raw) < 4096:
            try:
                self.dropped_id = P.message_id(json.loads(raw))
            except ValueError:
                pass

    def handle(self, raw) -> tuple[list[dict], int | None]:
        """Validate and run one frame from the client; always returns replies (an error at worst),
        with at most one error reply (listing every bad field)."""
        reply_to = None
        try:
            msg = P.decode(raw, self.limits.max_message_bytes)
            reply_to = P.message_id(msg)
            valid = P.validate(msg)
            if valid["type"] == "drawn":
                self.acks = True
                self.in_flight = max(0, self.in_flight - valid.get("frames", 1))
                self.wake.set()
                return [], reply_to
            replies = self.pg.handle(valid)
        except ProtocolError as e:
            replies = [e.reply()]
        except Exception as e:  # a bug, not bad input: keep the session alive and say so
            self.hub.errors += 1
            log.exception("internal error while handling a message")  # rate-limited by RepeatFilter
            replies = [{"type": "error", "field": None,
                        "message": f"internal error ({type(e).__name__}); the session goes on"}]
        errors = [r for r in replies if r.get("type") == "error"]
        if len(errors) > 1:
            merged = P.merge_errors(errors)
            replies = [merged] + [r for r in replies if r.get("type") != "error"]
        return replies, reply_to

    async def on_message(self, raw) -> None:
        await self.budget.ready()
        t0 = time.perf_counter()
        replies, reply_to = self.handle(raw)
        self.hub.handled += 1
        self.budget.charge(time.perf_counter() - t0)
        self._sync_playing()
        for msg in replies:
            await self.send(msg, reply_to)

    async def serve(self) -> None:
        """The worker: run queued messages one at a time, yielding to everyone else between them."""
        try:
            while not self.closed:
                if not self.queue:
                    self.queued.clear()
                    await self.queued.wait()
                    continue
                await self.on_message(self.queue.popleft())
                await self._report_drops()
                await asyncio.sleep(0)
        except (WebSocketDisconnect, OSError, RuntimeError):
            self.close()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.hub.errors += 1
            log.exception("message task failed")
            self.close()

    async def _report_drops(self) -> None:
        """One error for dropped messages, at most every half second, counting them."""
        now = time.monotonic()
        if self.dropped and (not self.queue or now - self.last_drop_error > 0.5):
            n, rid = self.dropped, self.dropped_id
            self.dropped, self.dropped_id, self.last_drop_error = 0, None, now
            await self.send({"type": "error", "field": "message", "dropped": n,
                             "message": f"too many messages at once: {n} dropped (at most "
                                        f"{self.limits.max_queued} may wait); send fewer"}, rid)

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

    def _frame_wanted(self) -> bool:
        return not self.acks or self.in_flight < self.limits.frames_in_flight

    async def _train_loop(self) -> None:
        """While playing: wait for the CPU budget, train in bounded ticks (an await after each), send
        a frame every frame_interval (if the page has drawn the previous ones)."""
        lim = self.limits
        while not self.closed:
            if not self.pg.playing:
                self._sync_playing()
                self.wake.clear()
                await self.wake.wait()
                self.pacer.reset()
                continue
            await self.budget.ready()
            start = time.monotonic()
            interval = lim.frame_interval
            budget = min(lim.train_seconds_per_frame, max(self.budget.available(), 0.0005))
            spent = 0.0
            diverged = []
            due = self.pacer.due(self.pg.config["speed"], start)
            # Ends when the budget is spent or the interval is over, whichever comes first: every
            # await lets other sessions run a whole message, so a frame must not wait for many ticks.
            while self.pg.playing and spent < budget and (due is None or due > 0) and \
                    time.monotonic() - start < interval:
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
                cost = time.perf_counter() - t0
                self.budget.charge(cost)
                spent += cost
                if self.pg.playing and spent < budget and time.monotonic() - start < interval:
                    await asyncio.sleep(0)  # let other sessions and this session's messages in
            for msg in diverged:
                await self.send(msg)
            if (self.pg.playing or diverged) and (diverged or self.pg.step_count != self.sent_step) and \
                    (diverged or (time.monotonic() - self.last_frame >= interval * 0.5 and self._frame_wanted())):
                t0 = time.perf_counter()
                try:
                    header, arrays = self.pg.frame()
                except Exception:
                    self.hub.errors += 1
                    log.exception("internal error while drawing a frame; pausing the session")
                    self.pg.playing = False
                    await self.send(self.pg.state())
                else:
                    self.budget.charge(time.perf_counter() - t0)
                    await self.send({"type": "frame", "header": header, "arrays": arrays})
                    for msg in self.pg.lesson_poll():  # a lesson's live goal
                        await self.send(msg)
            self._sync_playing()
            # A little jitter keeps sessions that started together from drawing their frames in the
            # same instant (a burst that would delay everyone's control replies).
            delay = interval * _jitter.uniform(0.9, 1.1) - (time.monotonic() - start)
            await asyncio.sleep(max(0.0, delay))

    def close(self) -> None:
        """The peer is gone: drop its backlog; the tasks end at their next turn."""
        self.closed = True
        self.queue.clear()
        self.queued.set()
        self.wake.set()
        self._sync_playing()


def create_app(limits: Limits | None = None, allowed_origins=(), web_root: str | Path | None = None,
               allowed_hosts=None, debug: bool = False, class_code: str | None = None, store=None,
               teacher_key: str | None = None, join_url: str | None = None) -> Starlette:
    """The playground app.

    ``allowed_origins``: extra WebSocket origins ("https://example.org" or a bare "host:port"), for a
    reverse proxy. ``allowed_hosts``: if given, the Host names this server answers to (the CLI passes
    the loopback names when it listens on loopback); the allowed origins' hosts are added to it.
    ``web_root`` overrides the page folder (tests). ``class_code``: only holders of it (or of its
    cookie) get the page and a session (:mod:`backlit.server.classroom`). ``store`` (a
    :class:`~backlit.server.store.Store`) and ``teacher_key``: the class roster and live summaries,
    and the teacher's view at /teacher (:mod:`backlit.server.teacher`); ``join_url`` is what that
    view shows students to open.
    """
    limits = limits or Limits()
    install_log_filters()
    root = Path(web_root or WEB_ROOT).resolve()
    allowed = {o.strip().lower().rstrip("/") for o in allowed_origins}
    hub = Hub(limits)
    classroom = Classroom(store) if store is not None else None

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
        peer = websocket.client.host if websocket.client else "?"
        if not _origin_allowed(websocket, allowed):
            hub.log(peer, "origin", logging.WARNING, "refused a WebSocket from origin %r",
                    websocket.headers.get("origin", "")[:100])
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
        session = None
        tasks: list[asyncio.Task] = []
        try:
            await websocket.accept()
            session = Session(websocket, hub, limits)
            hub.live.add(session)
            if classroom is not None:
                classroom.attach(session, (websocket.scope.get("state") or {}).get("student"))
            tasks = [asyncio.create_task(session.serve()), asyncio.create_task(session.train_loop())]
            received = 0
            # The reader only queues: a burst is taken in at once (so a peer that resets after it
            # is noticed at once, and its backlog dropped), and it yields every so often.
            while not session.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes")
                session.receive(raw)
                received += 1
                if received % 16 == 0:
                    await asyncio.sleep(0)
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the tab went away (or the server is stopping)
        except Exception:
            hub.errors += 1
            hub.log(peer, "session", logging.ERROR, "WebSocket session failed", exc_info=True)
        finally:
            hub.sessions -= 1
            if session is not None:
                session.close()
                hub.live.discard(session)
                if classroom is not None:
                    classroom.detach(session)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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
    if store is not None and teacher_key:
        routes = teacher_routes(store, teacher_key, {"join_url": join_url, "code": class_code}) + routes
    app = Starlette(debug=debug, routes=routes)
    app.state.hub = hub
    app.state.limits = limits
    app.state.classroom = classroom
    if class_code:  # inside the Host check: a bad Host is refused first
        app.add_middleware(Gate, code=class_code, on_join=store.join if store is not None else None)
    if allowed_hosts is not None:
        hosts = set(allowed_hosts)
        for origin in allowed:
            netloc = urlsplit(origin).netloc if "//" in origin else origin
            hosts.add(host_name(netloc))
        app.add_middleware(HostCheck, allowed_hosts=hosts)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so every response gets the headers
    return app


ENV_OPTIONS = "BACKLIT_SERVE_OPTIONS"


def create_app_from_env() -> Starlette:
    """The app factory for uvicorn's worker processes (``backlit serve --workers N``): the options
    come from the environment variable BACKLIT_SERVE_OPTIONS (JSON), which `backlit serve` sets."""
    options = json.loads(os.environ.get(ENV_OPTIONS, "{}"))
    store = open_store(options["store"]) if options.get("store") else None
    return create_app(limits=Limits(**options.get("limits", {})),
                      allowed_origins=options.get("allowed_origins", ()),
                      allowed_hosts=options.get("allowed_hosts"), class_code=options.get("class_code"),
                      store=store, teacher_key=options.get("teacher_key"), join_url=options.get("join_url"))
