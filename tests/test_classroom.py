"""The class code, attacked over loopback: no code, no page and no session; a wrong code is slowed
down; the cookie is HttpOnly and SameSite; a stranger never takes a student's place."""

from __future__ import annotations

import http.client
import json
import re

import pytest
from starlette.testclient import TestClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from backlit.cli.headless import served
from backlit.server import classroom
from backlit.server.app import create_app
from backlit.server.run import class_code


def get(port: int, path: str, cookie: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def hello(port: int, cookie: str | None = None, query: str = "") -> dict:
    """Open /ws, say hello, return the first reply (raises InvalidStatus if the handshake is refused)."""
    headers = {"Cookie": cookie} if cookie else {}
    with connect(f"ws://127.0.0.1:{port}/ws{query}", additional_headers=headers, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1}))
        while True:
            msg = ws.recv(timeout=20)
            if isinstance(msg, str):
                return json.loads(msg)


def code_of(server) -> str:
    line = next(line for line in server.output if "class code:" in line)
    return re.search(r"class code: (\S+)", line).group(1)


def join(port: int, code: str) -> str:
    status, headers, _ = get(port, f"/?code={code}")
    assert status == 303, status
    return headers["set-cookie"].split(";")[0]


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """A state folder of the tests' own: the class store never lands in the runner's home."""
    return {"XDG_STATE_HOME": str(tmp_path_factory.mktemp("state"))}


@pytest.fixture(scope="module")
def public(state):
    """`backlit serve --host 0.0.0.0` with one session allowed: reached here only over 127.0.0.1, which
    must not count as a way in."""
    with served(None, "--host", "0.0.0.0", "--max-sessions", "1", env=state) as server:
        yield server


def test_a_public_bind_prints_a_code_a_join_url_and_a_qr_code(public):
    code = code_of(public)
    assert re.fullmatch(r"[A-Z2-9]{6}", code)
    text = "\n".join(public.output)
    assert f"/?code={code}" in text
    assert "█" in text and "▀" in text, "a QR code is drawn in the terminal"


def test_without_the_code_there_is_no_page_no_file_and_no_session(public):
    status, _, body = get(public.port, "/")
    assert status == 401 and 'name="code"' in body and "Join the class" in body
    assert code_of(public) not in body
    assert get(public.port, "/js/main.js")[0] == 403
    assert get(public.port, "/index.html")[0] == 403
    with pytest.raises(InvalidStatus) as e:
        hello(public.port)
    assert e.value.response.status_code == 403
    forged = "backlit_class=0123456789abcdef." + "0" * 32
    with pytest.raises(InvalidStatus):
        hello(public.port, cookie=forged)
    assert get(public.port, "/", cookie=forged)[0] == 401


def test_the_code_sets_an_httponly_samesite_cookie_and_leaves_the_address_bar(public):
    code = code_of(public)
    status, headers, _ = get(public.port, f"/?code={code.lower()[:3]}-{code.lower()[3:]}")  # as typed
    assert status == 303
    assert headers["location"] == "/", "the code does not stay in the address bar"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert code not in cookie, "the cookie is not the code"
    jar = cookie.split(";")[0]
    status, _, body = get(public.port, "/", cookie=jar)
    assert status == 200 and "<script" in body
    assert get(public.port, "/js/main.js", cookie=jar)[0] == 200
    reply = hello(public.port, cookie=jar)
    assert reply["type"] == "state", reply


def test_strangers_never_take_a_students_place(public):
    """--max-sessions 1: refused handshakes without the code create no session, so the student who
    comes next gets one rather than 'server full'."""
    for _ in range(8):
        with pytest.raises(InvalidStatus):
            hello(public.port)
    reply = hello(public.port, cookie=join(public.port, code_of(public)))
    assert reply["type"] == "state", reply


def test_wrong_codes_are_slowed_even_before_the_right_one(monkeypatch):
    """Five wrong codes lock the address for the window: even the right code is refused (otherwise
    the lock would not slow a search), and the join page says how long to wait. Then it opens again."""
    now = [1000.0]
    app = create_app(class_code="K7P3QX")
    app.middleware_stack = gate = app.build_middleware_stack()   # the stack the client will use
    while not isinstance(gate, classroom.Gate):
        gate = gate.app
    gate.clock = lambda: now[0]
    client = TestClient(app, follow_redirects=False)
    for guess in ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD"):
        r = client.get(f"/?code={guess}")
        assert r.status_code == 401 and "not right" in r.text
    assert client.get("/?code=EEEEEE").status_code == 429
    r = client.get("/?code=K7P3QX")
    assert r.status_code == 429 and "Too many wrong codes" in r.text and "set-cookie" not in r.headers
    now[0] += gate.window + 1
    r = client.get("/?code=K7P3QX")
    assert r.status_code == 303 and "HttpOnly" in r.headers["set-cookie"]


def test_the_rate_limiter_keeps_bounded_memory():
    gate = classroom.Gate(None, "K7P3QX")
    for i in range(classroom.MAX_TRACKED_ADDRESSES + 50):
        gate.try_code(f"10.0.{i // 256}.{i % 256}", "WRONG1")
    assert len(gate._failures) == classroom.MAX_TRACKED_ADDRESSES


def test_a_cookie_from_another_class_does_not_open_this_one():
    ours, theirs = classroom.Gate(None, "K7P3QX"), classroom.Gate(None, "ZZZZ99")
    value = theirs.cookie_value()
    assert theirs.student_of(value) and ours.student_of(value) is None
    assert ours.student_of(ours.cookie_value("0123456789abcdef")) == "0123456789abcdef"
    for bad in ("", ".", "x" * 500, "0123456789abcdef", "0123456789ABCDEF." + "0" * 32, "../..\x00"):
        assert ours.student_of(bad) is None


def test_loopback_needs_no_code_unless_asked():
    assert class_code("127.0.0.1", None, False) is None
    assert class_code("127.0.0.1", "LAB-42", False) == "LAB-42"      # shared lab machines
    assert re.fullmatch(r"[A-Z2-9]{6}", class_code("0.0.0.0", None, False))
    assert class_code("0.0.0.0", None, True) is None                  # --open
    with pytest.raises(ValueError):
        class_code("0.0.0.0", "ABCD", True)
    with pytest.raises(ValueError):
        classroom.check_code("no spaces please")


def test_a_code_on_loopback_guards_the_page_too(state):
    with served(None, "--code", "LAB-42", env=state) as server:
        assert get(server.port, "/")[0] == 401
        with pytest.raises(InvalidStatus):
            hello(server.port)
        assert hello(server.port, cookie=join(server.port, "lab42"))["type"] == "state"


def test_open_turns_the_code_off_with_a_warning(state):
    with served(None, "--host", "0.0.0.0", "--open", env=state) as server:
        assert any("--open" in line and "anyone" in line for line in server.output)
        assert get(server.port, "/")[0] == 200
        assert hello(server.port)["type"] == "state"
