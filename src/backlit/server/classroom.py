"""The class code: who may open a session on a server that others can reach.

``backlit serve --host 0.0.0.0`` asks for a class code by default (``--code VALUE`` chooses it,
``--open`` turns it off). The printed join URL carries the code (``/?code=K7P3QX``); the first visit
with it is answered with a redirect to the same page without the code and a cookie, so the code does
not stay in the address bar or the history. The cookie is HttpOnly and SameSite=Strict (and Secure
over https). Without a valid cookie or code, ``/`` is a small join page that asks for the code, every
other path is refused, and the WebSocket is closed before a session exists. No client is let in
because of its address: behind a reverse proxy on the same host, every client arrives from 127.0.0.1.

A cookie is ``<student id>.<HMAC-SHA256(code, student id)>``: every worker process (and every machine)
that knows the code can check it with no shared state, and changing the code ends every cookie. The
student id names one browser, so that its tabs can be counted as one student.

Wrong codes are rate-limited per client address: after ``max_failures`` wrong codes within
``window`` seconds, that address is refused (even the right code) until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import time
from collections import OrderedDict, deque
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I/L: easy to read off a projector
CODE_LENGTH = 6
COOKIE = "backlit_class"
COOKIE_MAX_AGE = 12 * 3600                          # one school day, then join again
MAX_TRACKED_ADDRESSES = 10_000                      # the rate limiter's memory is bounded too
_CODE_FORM = re.compile(r"^[A-Za-z0-9-]{4,64}$")
EXEMPT = {"/favicon.svg"}                           # the tab's icon, so the join page looks like ours
OWN_GUARD = "/teacher"                              # the teacher's view checks its own key


def new_code() -> str:
    """A fresh class code: six characters that are hard to misread (e.g. ``K7P3QX``)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def check_code(code: str) -> str:
    """A code as given to ``--code``: 4 to 64 letters, digits or dashes; raises ValueError otherwise."""
    if not isinstance(code, str) or not _CODE_FORM.match(code):
        raise ValueError("a class code is 4 to 64 letters, digits or dashes, e.g. --code K7P3QX")
    return code


def normalise(code: str) -> str:
    """What a student typed, as compared: spaces and dashes dropped, letters upper-cased."""
    return re.sub(r"[\s-]", "", code).upper()


def join_url(base: str, code: str) -> str:
    """The URL to hand out: ``base`` (``http://host:port/``) with the code in its query."""
    return f"{base}?{urlencode({'code': code})}"


class Gate:
    """ASGI middleware: only holders of the class code (or of its cookie) get the page and a session.

    ``clock`` is injectable for tests of the rate limit. ``scope["state"]["student"]`` is set to the
    student id of every request it lets through.
    """

    def __init__(self, app, code: str, *, max_failures: int = 5, window: float = 60.0, clock=time.monotonic,
                 on_join=None):
        self.app = app
        self.on_join = on_join          # on_join(student, name): a student joined (the class roster)
        self.code = normalise(check_code(code))
        self._key = self.code.encode()
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque] = OrderedDict()

    # -- cookies ----------------------------------------------------------------------------------

    def _sign(self, student: str) -> str:
        return hmac.new(self._key, student.encode(), hashlib.sha256).hexdigest()[:32]

    def cookie_value(self, student: str | None = None) -> str:
        student = student or secrets.token_hex(8)
        return f"{student}.{self._sign(student)}"

    def student_of(self, cookie: str | None) -> str | None:
        """The student id a cookie value proves, or None."""
        if not cookie or len(cookie) > 100 or "." not in cookie:
            return None
        student, _, mac = cookie.partition(".")
        if not re.fullmatch(r"[0-9a-f]{16}", student):
            return None
        return student if hmac.compare_digest(mac, self._sign(student)) else None

    # -- the rate limit ---------------------------------------------------------------------------

    def _recent_failures(self, address: str) -> deque:
        now = self.clock()
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        while failures and now - failures[0] > self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def locked_for(self, address: str) -> float:
        """Seconds until ``address`` may try a code again (0 if it may now)."""
        failures = self._recent_failures(address)
        if len(failures) < self.max_failures:
            return 0.0
        return max(0.0, self.window - (self.clock() - failures[0]))

    def _fail(self, address: str) -> None:
        failures = self._failures.pop(address, None) or deque(maxlen=self.max_failures)
        failures.append(self.clock())
        self._failures[address] = failures            # most recent last
        while len(self._failures) > MAX_TRACKED_ADDRESSES:
            self._failures.popitem(last=False)

    def try_code(self, address: str, given: str) -> str:
        """``"ok"``, ``"wrong"`` or ``"locked"`` for a code given from ``address`` (counts a wrong one)."""
        if self.locked_for(address) > 0:
            return "locked"
        if hmac.compare_digest(normalise(given[:100]).encode(), self._key):
            return "ok"
        self._fail(address)
        return "wrong"

    # -- ASGI ---------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header proves nothing
            cookies = SimpleCookie()
        student = self.student_of(cookies[COOKIE].value if COOKIE in cookies else None)
        root = scope.get("root_path", "")
        path = scope.get("path", "/")
        if root and path.startswith(root):       # uvicorn puts the root path in front (as ASGI says)
            path = path[len(root):] or "/"
        if path == OWN_GUARD or path.startswith(OWN_GUARD + "/"):
            return await self.app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), max_num_fields=20)
        given = query.get("code", [None])[0]
        address = (scope.get("client") or ("?", 0))[0]

        if student is None and given is not None:
            verdict = self.try_code(address, given)
            if verdict == "ok":
                student = secrets.token_hex(8)
                if self.on_join is not None:
                    self.on_join(student, query.get("name", [None])[0])
                if scope["type"] == "http":       # drop the code from the address bar, set the cookie
                    rest = {k: v for k, v in query.items() if k not in ("code", "name")}
                    location = root + path + (("?" + urlencode(rest, doseq=True)) if rest else "")
                    return await self._redirect(scope, send, location, self.cookie_value(student))
            elif scope["type"] == "http" and path == "/":
                return await self._join_page(send, verdict, address)
        if student is not None:
            scope = dict(scope)
            scope["state"] = {**scope.get("state", {}), "student": student}
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":            # before accept: the handshake gets HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": "class code needed"})
            return
        if path in EXEMPT:
            return await self.app(scope, receive, send)
        if path == "/":
            return await self._join_page(send, None, address)
        await self._plain(send, 403, "This playground needs the class code: open the playground's first page to join.")

    async def _redirect(self, scope, send, location: str, cookie: str) -> None:
        secure = "; Secure" if scope.get("scheme") in ("https", "wss") else ""
        set_cookie = (f"{COOKIE}={cookie}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; "
                      f"SameSite=Strict{secure}")
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")), (b"set-cookie", set_cookie.encode("latin-1")),
            (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    async def _plain(self, send, status: int, text: str) -> None:
        body = text.encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _join_page(self, send, verdict: str | None, address: str) -> None:
        wait = self.locked_for(address)
        if wait > 0:
            status, note = 429, f"Too many wrong codes from this device. Try again in {int(wait) + 1} s."
        elif verdict == "wrong":
            status, note = 401, "That code is not right. Check it with your teacher and try again."
        else:
            status, note = 401, ""
        body = JOIN_PAGE.format(note=html.escape(note), role="alert" if note else "status").encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


JOIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Join the class · backlit</title><link rel="icon" href="favicon.svg">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; color: #1d2330; background: #f6f7fb; margin: 0;
       display: grid; place-items: center; min-height: 100vh; }}
main {{ background: #fff; padding: 2rem; border-radius: 12px; max-width: 22rem; width: calc(100% - 3rem);
       box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.4rem; margin: 0 0 .5rem; }}
label {{ display: block; font-weight: 600; margin: 1rem 0 .3rem; }}
input {{ font: inherit; font-size: 1.3rem; letter-spacing: .15em; text-transform: uppercase; width: 100%;
        box-sizing: border-box; padding: .4rem .6rem; border: 2px solid #5b6478; border-radius: 6px; }}
button {{ font: inherit; margin-top: 1rem; padding: .5rem 1.2rem; border: 0; border-radius: 6px;
         background: #2b50c8; color: #fff; font-weight: 600; cursor: pointer; }}
p.note {{ color: #a1262b; min-height: 1.5em; margin: .8rem 0 0; }}
</style></head>
<body><main>
<h1>Join the class</h1>
<p>This backlit playground belongs to a class. Type the class code your teacher gave you.</p>
<form method="get" action="">
<label for="code">Class code</label>
<input id="code" name="code" autocomplete="off" autocapitalize="characters" spellcheck="false" required
       maxlength="64">
<label for="name">Your name <span style="font-weight: 400">(optional: your teacher sees it)</span></label>
<input id="name" name="name" autocomplete="nickname" maxlength="40" style="text-transform: none; letter-spacing: 0">
<button type="submit">Join</button>
</form>
<p class="note" role="{role}">{note}</p>
</main></body></html>
"""
