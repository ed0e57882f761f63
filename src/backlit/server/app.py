"""The Starlette app: the static page, and one WebSocket (one `Playground`) per browser tab at /ws.

Each connection runs three coroutines on the event loop: a reader that only queues incoming messages
(bounded in count and bytes: a burst beyond it is dropped with one error that counts it, and a peer
that goes away has its backlog dropped), a worker that runs queued messages one at a time, each in
a thread of the app's pool (a large CSV or an export never holds the loop), and a trainer that, while
the session is playing, trains in short ticks and sends a frame every frame interval (if the page
has drawn the ones before). One lock per session gives its Playground and its socket to one of them
at a time. What a viewer is sent, and when, is the shared :class:`~backlit.server.viewer.Viewer`'s.

Fair by construction: everything a session asks for (messages, training, frames) is charged to its
own budget (a token bucket of event-loop time, `CpuBudget`), a message before it runs (admission);
the busy sessions split the loop evenly, so a session that asks for a lot only slows itself down.
A peer that stops reading is dropped after ``send_timeout``. More cores: `backlit serve --workers N`
(uvicorn's worker processes, each with its own sessions).
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import concurrent.futures
import heapq
import json
import logging
import math
import os
import random
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..playground.session import Playground
from ..playground.settings import Limits
from . import protocol as P
from .classroom import Gate
from .store import open_store
from .teacher import Classroom
from .teacher import routes as teacher_routes
from .viewer import Viewer

log = logging.getLogger("backlit.server")
_jitter = random.Random()  # private: training must not consume the global random state

SWITCH_INTERVAL = 0.001  # seconds: how soon a thread of the pool hands the interpreter back to the loop
SEND_TIMEOUT = 10.0
"""Seconds a message may wait to be taken by its peer; a peer slower than that has stopped reading,
and is dropped (with a log line): what it would hold in the server's memory is bounded."""

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
    """'LocalHost:8000' -> 'localhost', '[::1]:8000' -> '::1'. Anything after a bracketed address but
    a port (``[::1].evil.com``) leaves the header as it is, which names no allowed host."""
    h = host_header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        rest = h[end + 1:] if end > 0 else None
        if rest is None or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return h
        return h[1:end]
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
    Everything a session asks for is charged to its budget: training, messages, frames. With a class
    code, a student's tabs (one class cookie) share one budget, so a hundred tabs get one student's
    share, not a hundred; without one, each tab is its own.
    """

    BUSY_WINDOW = 1.0  # a session that spent CPU this recently counts as busy
    RECOUNT = 0.1  # seconds between recounts of the busy sessions

    def __init__(self, limits: Limits, send_timeout: float = SEND_TIMEOUT,
                 max_queued_bytes: int | None = None, threads: int = 2):
        self.limits = limits
        self.send_timeout = send_timeout
        self.max_queued_bytes = max_queued_bytes or 2 * limits.max_message_bytes
        self.pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="backlit-session")
        self.threads = FairSlots(threads)
        self.frame_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="backlit-frames")
        self.frame_threads = FairSlots(1)
        self.stalled = 0  # connections dropped because they stopped reading
        self.idle_closed = 0  # connections closed because they said nothing (no hello, or idle)
        self.sessions = 0
        self.playing = 0
        self.errors = 0  # internal errors (exceptions that were not ProtocolErrors), for tests/benchmarks
        self.handled = 0  # messages run (queued ones a closed connection left behind are not)
        self.live: set[Session] = set()
        self.students: dict[str, list] = {}  # student -> [their shared CpuBudget, open tabs]
        self.peer_logs: dict[str, PeerLog] = {}
        self._busy = 1
        self._counted = -1.0

    def count_error(self) -> None:
        self.errors += 1

    async def off_loop(self, budget: "CpuBudget", estimate: float, fn, *args, frame: bool = False):
        """``fn(*args)`` in the app's thread pool: the event loop goes on serving every other tab.
        When every thread is busy, the session with the fullest budget goes first (a session deep in
        debt waits behind the others' frames, whatever it queued before them), then the shortest job
        (``estimate``: its expected seconds). Frames have a thread of their own (``frame``): a queue
        of long messages never holds up a training tab's pictures."""
        slots, pool = (self.frame_threads, self.frame_pool) if frame else (self.threads, self.pool)
        await slots.acquire(budget, estimate)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _timed, fn, *args)
        finally:
            slots.release()

    @property
    def full(self) -> bool:
        return self.sessions >= self.limits.max_sessions

    def tabs(self, student: str | None) -> int:
        return self.students[student][1] if student in self.students else 0

    def budget_for(self, student: str | None) -> "CpuBudget":
        """A new tab's budget: the student's shared one (counted), or a tab's own without a student."""
        if student is None:
            return CpuBudget(self)
        entry = self.students.setdefault(student, [CpuBudget(self), 0])
        entry[1] += 1
        return entry[0]

    def release(self, student: str | None) -> None:
        if student in self.students:
            self.students[student][1] -= 1
            if self.students[student][1] <= 0:
                del self.students[student]

    def log(self, peer: str, kind: str, level: int, msg: str, *args, exc_info: bool = False) -> None:
        """Log a line about one peer, rate-limited per peer and kind (an attacker cannot flood the log)."""
        if len(self.peer_logs) > 1000:
            self.peer_logs.clear()
        suffix = self.peer_logs.setdefault(peer, PeerLog()).allow(kind)
        if suffix is not None:
            log.log(level, msg + " [peer %s]%s", *args, peer, suffix, exc_info=exc_info)

    def busy(self, now: float) -> int:
        """How many budgets are busy: one per busy tab, or per student whose tabs share one."""
        if now - self._counted > self.RECOUNT:
            self._busy = max(1, len({id(s.budget) for s in self.live if s.is_busy(now)}))
            self._counted = now
        return self._busy

    def rate(self, now: float) -> float:
        """Seconds of event-loop time per second that one busy budget may use."""
        return self.limits.cpu_share / self.busy(now)


def _retrieve(task: asyncio.Task) -> None:
    """A done callback: take a finished task's exception, so that none goes unreported as "never
    retrieved" (the tasks log their own errors)."""
    if not task.cancelled():
        task.exception()


def _timed(fn, *args, clock=time.thread_time):
    """(``fn(*args)``, the seconds it took). On the event loop, wall time (it held the loop that
    long); in a pool thread, the thread's CPU time (waiting for the interpreter lock while another
    thread runs is not this session's work)."""
    t0 = clock()
    out = fn(*args)
    return out, clock() - t0


class FairSlots:
    """The pool's threads, handed out by budget: a waiter whose session has more of its budget left
    (counted in bursts) goes first; among equals the shortest job; then first come, first served."""

    def __init__(self, n: int):
        self.free = n
        self.waiting: list = []  # heap of (-tokens, order, future)
        self.order = 0

    async def acquire(self, budget: "CpuBudget", estimate: float = 0.0) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        self.order += 1
        standing = math.floor(budget.available() / budget.hub.limits.cpu_burst)
        heapq.heappush(self.waiting, (-standing, estimate, self.order, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # it was handed a thread as it was cancelled: pass it on
            raise

    def release(self) -> None:
        while self.waiting:
            *_, future = heapq.heappop(self.waiting)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


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

    async def admit(self, cost: float) -> None:
        """Admission: wait until the budget can pay ``cost`` (up to one burst into debt: controls are
        never starved by the session's own training), then charge it, before the work runs."""
        floor = min(cost, self.hub.limits.cpu_burst) - self.hub.limits.cpu_burst
        while (tokens := self.available()) < floor:
            await asyncio.sleep(min(0.25, (floor - tokens) / self.hub.rate(time.monotonic()) + 0.001))
        self.charge(cost)

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


def _split_origin(origin: str) -> tuple[str, str, int | None] | None:
    """'http://LocalHost:8000/' -> ('http', 'localhost', 8000); the port is the scheme's default when
    left out; None when it is not an origin."""
    try:
        u = urlsplit(origin.strip().lower().rstrip("/"))
        port = u.port
    except ValueError:
        return None
    if u.scheme not in ("http", "https") or not u.hostname or u.path or u.query or u.fragment:
        return None
    return u.scheme, u.hostname, port or DEFAULT_PORTS[u.scheme]


DEFAULT_PORTS = {"http": 80, "https": 443}
_PAGE_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _origin_allowed(websocket: WebSocket, allowed: set[str]) -> bool:
    """The page's own origin (the same scheme, host and port the request came to), or one of the
    allowed origins (scheme, host and port; a bare "host:port" allows that host and port over the
    request's own scheme)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: no cross-site risk (browsers always send Origin on WebSockets)
    got = _split_origin(origin)
    if got is None:
        return False
    scheme = _PAGE_SCHEME.get(websocket.scope.get("scheme", "ws"), "http")
    host = websocket.headers.get("host", "").strip().lower()
    own = _split_origin(f"{scheme}://{host}") if _HOST_SAFE.match(host or "-") else None
    if own is not None and got == own:
        return True
    for entry in allowed:
        want = _split_origin(entry if "//" in entry else f"{scheme}://{entry}")
        if want is not None and got == want:
            return True
    return False


class Session:
    """One WebSocket connection, its Playground and its :class:`Viewer`: the asyncio around them.

    Three coroutines share it: the reader (``receive``, in the endpoint) only queues what arrives, up
    to ``limits.max_queued`` messages and ``max_queued_bytes`` (more are dropped, and one error says
    how many); the worker (``serve``) runs the queued messages one at a time, each in a thread of
    the app's pool (so a long one, a large CSV or an export, never holds the event loop); the trainer
    (``train_loop``) trains while playing. One lock gives the session and the wire to one of them at
    a time. Both wait for the session's CPU budget: a message is charged its expected cost *before*
    it runs (admission), then the difference once it has run, so a session that asks for a lot only
    slows itself down, and one expensive message cannot stop other tabs. Controls come first: the
    trainer steps aside while messages wait, and a message may take the budget one burst into debt.
    """

    def __init__(self, websocket: WebSocket, hub: Hub, limits: Limits, student: str | None = None):
        self.ws = websocket
        self.hub = hub
        self.limits = limits
        self.student = student
        self.viewer = Viewer(Playground(limits=limits), limits, on_internal_error=hub.count_error)
        self.budget = hub.budget_for(student)  # shared by a student's tabs
        self.costs = CostModel()
        self.lock = asyncio.Lock()  # the session and the wire: one coroutine (or its thread) at a time
        self.wake = asyncio.Event()
        self.queue: collections.deque = collections.deque()
        self.queued_bytes = 0
        self.queued = asyncio.Event()
        self.dropped = 0
        self.dropped_id: int | None = None
        self.last_drop_error = -1e9
        self.frame_cost = 0.0  # seconds one frame of this session takes (smoothed): sets its frame rate
        self.counted_playing = False
        self.closed = False
        self.aborted = False
        self.sending_since: float | None = None  # when the message being sent began to wait for the peer
        self.reader: asyncio.Task | None = None  # the endpoint's reading loop: cancelled on close

    @property
    def pg(self):
        """The tab's current session: the viewer's (the images view swaps itself in and out there)."""
        return self.viewer.pg

    def is_busy(self, now: float) -> bool:
        """Does it take a share of the loop? Not while its peer has kept a message waiting for longer
        than the busy window: it is not reading, and its work waits on it."""
        if self.sending_since is not None and now - self.sending_since > Hub.BUSY_WINDOW:
            return False
        return self.pg.playing or bool(self.queue) or now - self.budget.last_used < Hub.BUSY_WINDOW

    # ---- sending (the caller holds the lock) ----------------------------------------------------
    async def send(self, msg: dict, reply_to: int | None = None) -> None:
        if self.closed:
            return
        t0 = time.perf_counter()
        data = self.viewer.pack(msg, reply_to)
        self.budget.charge(time.perf_counter() - t0)
        await self._transmit(self.ws.send_bytes if isinstance(data, bytes) else self.ws.send_text, data)

    async def _transmit(self, method, data) -> None:
        """Send, or drop the connection: a peer that does not take a message within
        ``hub.send_timeout`` seconds has stopped reading, and what it would hold is let go."""
        watchdog = asyncio.get_running_loop().call_later(self.hub.send_timeout, self._stalled, len(data))
        self.sending_since = time.monotonic()
        try:
            await method(data)
        except Exception:  # the peer is gone (or was dropped): drop whatever it still had coming
            self.close()
            raise WebSocketDisconnect(1006) from None
        finally:
            watchdog.cancel()
            self.sending_since = None
        if self.closed:  # dropped while the send waited
            raise WebSocketDisconnect(1008)

    def _stalled(self, size: int) -> None:
        peer = self.ws.client.host if self.ws.client else "?"
        self.hub.stalled += 1
        self.hub.log(peer, "stalled", logging.WARNING, "dropped a connection that stopped reading "
                     "(a %d-byte message waited %.0f s)", size, self.hub.send_timeout)
        self.abort()

    def abort(self) -> None:
        """Close the connection at once (its unsent bytes are dropped), and the session. The server's
        connection object is the one whose methods the ASGI receive and send are."""
        self.aborted = True
        self.close()
        for channel in ("_receive", "_send"):
            transport = getattr(getattr(getattr(self.ws, channel, None), "__self__", None), "transport", None)
            if transport is not None:
                transport.abort()
                break

    def _sync_playing(self) -> None:
        playing = self.pg.playing and not self.closed
        if playing != self.counted_playing:
            self.hub.playing += 1 if playing else -1
            self.counted_playing = playing
        if playing:
            self.wake.set()

    # ---- receiving ------------------------------------------------------------------------------
    def receive(self, raw) -> None:
        """Called by the reader for every incoming message: queue it, or drop it if too many (or too
        many bytes) wait. A message over the size limit is not kept: its error reply is queued."""
        if self.closed:
            return
        size = len(raw) if isinstance(raw, (str, bytes, bytearray)) else 0
        if size > self.limits.max_message_bytes:
            raw, size = TooBig(size, self.limits.max_message_bytes), 0
        if len(self.queue) < self.limits.max_queued and self.queued_bytes + size <= self.hub.max_queued_bytes:
            self.queue.append(raw)
            self.queued_bytes += size
            self.queued.set()
            return
        self.dropped += 1
        if self.dropped_id is None and isinstance(raw, str) and len(raw) < 4096:
            try:
                self.dropped_id = P.message_id(json.loads(raw))
            except ValueError:
                pass

    async def on_message(self, raw) -> None:
        if isinstance(raw, TooBig):
            async with self.lock:
                return await self.send(raw.reply())
        self.queued_bytes -= len(raw) if isinstance(raw, (str, bytes, bytearray)) else 0
        valid, replies, reply_to = self.viewer.check(raw, decode=True)
        if valid is not None:
            estimate = self.costs.estimate(valid)
            await self.budget.admit(estimate)
            async with self.lock:
                if self.closed:
                    return
                if self.costs.quick(valid):
                    replies, spent = _timed(self.viewer.act, valid, clock=time.perf_counter)
                else:
                    replies, spent = await self.hub.off_loop(self.budget, estimate, self.viewer.act, valid)
                self.costs.learn(valid, spent)
                self.budget.charge(spent - estimate)
                self._sync_playing()
                for msg in replies:
                    await self.send(msg, reply_to)
        elif replies:
            async with self.lock:
                for msg in replies:
                    await self.send(msg, reply_to)
        self.hub.handled += 1

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
            self.hub.count_error()
            log.exception("message task failed")
            self.close()

    async def _report_drops(self) -> None:
        """One error for dropped messages, at most every half second, counting them."""
        now = time.monotonic()
        if self.dropped and (not self.queue or now - self.last_drop_error > 0.5):
            n, rid = self.dropped, self.dropped_id
            self.dropped, self.dropped_id, self.last_drop_error = 0, None, now
            async with self.lock:
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
            self.hub.count_error()
            log.exception("training task failed")

    def frame_interval(self) -> float:
        """The time between this session's training frames: ``limits.frame_interval``, or longer for
        a session whose frames are expensive (drawing them may take at most half its share)."""
        share = self.hub.rate(time.monotonic())
        return min(MAX_FRAME_INTERVAL, max(self.limits.frame_interval, 2 * self.frame_cost / share))

    async def _train_loop(self) -> None:
        """While playing: wait for the CPU budget, train in bounded ticks (an await after each, and
        none while messages wait), send a frame every frame interval (if the page has drawn the
        previous ones)."""
        lim, viewer = self.limits, self.viewer
        while not self.closed:
            if not self.pg.playing:
                self._sync_playing()
                self.wake.clear()
                await self.wake.wait()
                viewer.pacer.reset()
                continue
            await self.budget.ready()
            start = time.monotonic()
            interval = self.frame_interval()
            # training leaves room in the budget for the frame it is drawn for
            room = min(self.frame_cost, lim.cpu_burst / 2)
            budget = min(lim.train_seconds_per_frame, max(self.budget.available() - room, 0.0005))
            spent = 0.0
            diverged: list[dict] = []
            async with self.lock:
                due = viewer.due(start)
            # Ends when the budget is spent or the interval is over, whichever comes first: every
            # await lets other sessions run a whole message, so a frame must not wait for many ticks.
            while self.pg.playing and spent < budget and (due is None or due > 0) and \
                    time.monotonic() - start < interval and not self.queue:
                async with self.lock:
                    if not self.pg.playing or self.closed:
                        break
                    t0 = time.perf_counter()
                    diverged, due = viewer.tick(min(lim.tick_seconds, budget - spent), due)
                    cost = time.perf_counter() - t0
                self.budget.charge(cost)
                spent += cost
                if diverged:
                    break
                await asyncio.sleep(0)  # let other sessions and this session's messages in
            self._sync_playing()
            async with self.lock:
                for msg in diverged:
                    await self.send(msg)
                # a frame the budget cannot pay for waits (the next one will show the same steps):
                # the session never goes into debt for pictures, so its controls are never kept waiting
                affordable = self.budget.available() >= min(self.frame_cost, lim.cpu_burst / 2)
                if not self.closed and viewer.frame_due(diverged, interval) and (affordable or diverged):
                    if self.frame_cost and self.frame_cost < CostModel.QUICK:
                        frame, cost = _timed(viewer.frame, clock=time.perf_counter)
                    else:
                        frame, cost = await self.hub.off_loop(self.budget, self.frame_cost, viewer.frame, frame=True)
                    self.frame_cost = cost if not self.frame_cost else 0.7 * self.frame_cost + 0.3 * cost
                    self.budget.charge(cost)
                    await self.send(frame)
                    for msg in self.pg.lesson_poll():  # a lesson's live goal
                        await self.send(msg)
            self._sync_playing()
            # A little jitter keeps sessions that started together from drawing their frames in the
            # same instant (a burst that would delay everyone's control replies).
            delay = interval * _jitter.uniform(0.9, 1.1) - (time.monotonic() - start)
            await asyncio.sleep(max(0.0, delay))

    def close(self) -> None:
        """The peer is gone: drop its backlog; the tasks end at their next turn."""
        if not self.closed:
            self.hub.release(self.student)
        self.closed = True
        self.queue.clear()
        self.queued_bytes = 0
        self.queued.set()
        self.wake.set()
        self._sync_playing()
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()


MAX_FRAME_INTERVAL = 0.3  # an expensive session still gets at least about 3 frames a second


class TooBig:
    """A message over the size limit, in the queue in its place: only its size is kept."""

    __slots__ = ("size", "limit")

    def __init__(self, size: int, limit: int):
        self.size, self.limit = size, limit

    def reply(self) -> dict:
        return {"type": "error", "field": "message",
                "message": f"message is {self.size} characters; the limit is {self.limit} bytes"}


class CostModel:
    """What a session's messages are expected to cost (seconds of wall time), learnt from its own
    past: per message type, the larger of the last cost and a decaying average; a CSV by its size.
    Messages are charged this much before they run."""

    FIRST = 0.005  # a type not seen yet
    FIRST_REBUILD = 0.05  # one that rebuilds or makes a file (it may be of the largest network)
    CSV_PER_BYTE = 4e-6  # seconds per byte of CSV text (a bad file's worst case, measured)
    QUICK = 0.015  # work expected to take less than this runs on the event loop (no thread hop)
    REBUILDS = frozenset({"hello", "load", "load_csv", "regenerate", "reset", "export", "graph", "graph_zoom",
                          "code", "saliency", "add_point", "remove_point", "clear_points"})
    """Messages that rebuild data or a network, or make a file: always in a thread."""

    def __init__(self):
        self.seen: dict[str, float] = {}

    def quick(self, msg: dict) -> bool:
        """May it run on the event loop? Only a message known to be quick in this session, that
        rebuilds nothing (a ``set`` of training or page settings, a step, a selection)."""
        kind = msg["type"]
        if kind in self.REBUILDS:
            return False
        if kind == "set" and any(getattr(P.SETTINGS.get(k), "group", "data") in ("data", "network")
                                 for k in msg["config"]):
            return False
        return self.seen.get(kind, 1.0) < self.QUICK

    def estimate(self, msg: dict) -> float:
        if msg["type"] == "load_csv":
            return max(self.FIRST, self.CSV_PER_BYTE * len(msg.get("text", "")))
        return self.seen.get(msg["type"], self.FIRST_REBUILD if msg["type"] in self.REBUILDS else self.FIRST)

    def learn(self, msg: dict, seconds: float) -> None:
        old = self.seen.get(msg["type"])
        self.seen[msg["type"]] = seconds if old is None else max(seconds, 0.8 * old + 0.2 * seconds)


OPTIONAL_PACKAGES = ("onnx",)
"""Imported at start-up (the first import of onnx takes a second or more): `backlit serve` before it
listens, an app made otherwise in a thread of its pool."""


def import_optional() -> None:
    for name in OPTIONAL_PACKAGES:
        try:
            importlib.import_module(name)
        except Exception:  # not installed (or broken): the action that needs it says so
            pass


def create_app(limits: Limits | None = None, allowed_origins=(), web_root: str | Path | None = None,
               allowed_hosts=None, debug: bool = False, class_code: str | None = None, store=None,
               teacher_key: str | None = None, join_url: str | None = None,
               send_timeout: float = SEND_TIMEOUT, max_queued_bytes: int | None = None) -> Starlette:
    """The playground app.

    ``allowed_origins``: extra WebSocket origins ("https://example.org" or a bare "host:port"), for a
    reverse proxy. ``allowed_hosts``: if given, the Host names this server answers to (the CLI passes
    the loopback names when it listens on loopback); the allowed origins' hosts are added to it.
    ``web_root`` overrides the page folder (tests). ``class_code``: only holders of it (or of its
    cookie) get the page and a session (:mod:`backlit.server.classroom`). ``store`` (a
    :class:`~backlit.server.store.Store`) and ``teacher_key``: the class roster and live summaries,
    and the teacher's view at /teacher (:mod:`backlit.server.teacher`); ``join_url`` is what that
    view shows students to open. ``send_timeout``: seconds before a peer that stopped reading is
    dropped; ``max_queued_bytes``: the most one connection's waiting messages may hold (default:
    two messages of the largest size).
    """
    limits = limits or Limits()
    install_log_filters()
    root = Path(web_root or WEB_ROOT).resolve()
    allowed = {o.strip().lower().rstrip("/") for o in allowed_origins}
    hub = Hub(limits, send_timeout=send_timeout, max_queued_bytes=max_queued_bytes)
    hub.pool.submit(import_optional)
    # While a long action runs in the pool, the event loop's thread waits for the interpreter lock
    # after every socket call; a shorter switch interval (5 ms by default) keeps that wait short.
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
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

    async def read(websocket: WebSocket, session: Session) -> None:
        """The reader only queues: a burst is taken in at once (so a peer that resets after it is
        noticed at once, and its backlog dropped), and it yields every so often."""
        received = 0
        while not session.closed:
            wait = limits.hello_seconds if received == 0 else limits.idle_seconds
            try:
                message = await asyncio.wait_for(websocket.receive(), wait)
            except asyncio.TimeoutError:   # a socket that says nothing holds a place for nobody
                peer = websocket.client.host if websocket.client else "?"
                hub.idle_closed += 1
                hub.log(peer, "idle", logging.INFO, "closed a connection silent for %.0f s", wait)
                break
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes")
            session.receive(raw)
            received += 1
            if received % 16 == 0:
                await asyncio.sleep(0)

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
        student = (websocket.scope.get("state") or {}).get("student")
        if student is not None and hub.tabs(student) >= limits.max_tabs_per_student:
            await websocket.accept()
            await websocket.send_text(P.encode({
                "type": "error", "field": None,
                "message": f"you have {limits.max_tabs_per_student} tabs of this class open here; "
                           "close one to open another"}))
            await websocket.close(code=1013, reason="too many tabs")
            return
        hub.sessions += 1
        session = None
        tasks: list[asyncio.Task] = []
        try:
            await websocket.accept()
            session = Session(websocket, hub, limits, student)
            hub.live.add(session)
            if classroom is not None:
                classroom.attach(session, student)
            tasks = [asyncio.create_task(session.serve()), asyncio.create_task(session.train_loop())]
            session.reader = asyncio.create_task(read(websocket, session))
            # (wait, not await: a reader cancelled by a dropped session ends this quietly)
            await asyncio.wait({session.reader})
            if not session.reader.cancelled() and session.reader.exception() is not None:
                raise session.reader.exception()
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # the tab went away (or the server is stopping)
        except Exception:
            hub.count_error()
            hub.log(peer, "session", logging.ERROR, "WebSocket session failed", exc_info=True)
        finally:
            hub.sessions -= 1
            if session is not None:
                session.close()
                hub.live.discard(session)
                if classroom is not None:
                    classroom.detach(session)
            for task in tasks:  # (not awaited: a task may be waiting for a pool thread to finish)
                task.cancel()
                task.add_done_callback(_retrieve)
            if session is not None and session.aborted:
                return  # the connection is gone already: nothing more to send it
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


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """The server's processes run numpy on one thread each: its sessions are the parallel work (a
    pool thread per core), and on the small matrices of a playground network a BLAS that starts its
    own threads for each product only competes with them (2-3x slower frames on a busy machine).
    The environment variables reach uvicorn's worker processes; threadpoolctl, when it is installed,
    limits a numpy that is already loaded. A variable the user set is left as it is."""
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]) if os.environ["OPENBLAS_NUM_THREADS"].isdigit() else 1)


ENV_OPTIONS = "BACKLIT_SERVE_OPTIONS"


def create_app_from_env() -> Starlette:
    """The app factory for uvicorn's worker processes (``backlit serve --workers N``): the options
    come from the environment variable BACKLIT_SERVE_OPTIONS (JSON), which `backlit serve` sets."""
    one_blas_thread()
    import_optional()  # before this worker takes connections: no tab waits for it
    options = json.loads(os.environ.get(ENV_OPTIONS, "{}"))
    store = open_store(options["store"]) if options.get("store") else None
    return create_app(limits=Limits(**options.get("limits", {})),
                      allowed_origins=options.get("allowed_origins", ()),
                      allowed_hosts=options.get("allowed_hosts"), class_code=options.get("class_code"),
                      store=store, teacher_key=options.get("teacher_key"), join_url=options.get("join_url"))
