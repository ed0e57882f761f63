"""The server's bounds, attacked over loopback (uvicorn with `backlit serve`'s settings, in a thread):
no reply bigger than its question, no message that holds the event loop, memory per connection
bounded (a reader that stops reading is dropped), and the Host parser's brackets. Each test checks
what was refused and what stayed intact; the timing targets are measured by benchmarks/load.py."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from backlit.playground import csvdata
from backlit.playground.session import Playground
from backlit.server import protocol as P
from backlit.server.app import LOOPBACK_HOSTS, CpuBudget, Hub, Session, host_name
from backlit.server.viewer import MAX_ERROR_BYTES

BIG = {"features": list(P.SETTINGS["features"].choices), "hidden": [16] * 8, "n_points": 5000,
       "dataset": "spiral_multi", "classes": 5}


def reply_to(ws, mid, timeout=60):
    """The first text reply addressed to ``mid`` (frames and other replies are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(m, str) and json.loads(m).get("reply_to") == mid:
            return m
    raise AssertionError(f"no reply to {mid}")


# ---- no reply bigger than its question ---------------------------------------------------------

def _worst_questions() -> list[tuple[str, str]]:
    """The largest bad messages the fuzzer knows, each just within the message limit."""
    limit = P.MAX_MESSAGE_BYTES

    def repeat(head: str, row: str) -> str:  # as many rows as fit in one message
        return head + row * ((limit - 200 - len(json.dumps(head))) // (len(json.dumps(row)) - 2))

    rows = repeat("", ",,\n")
    labels = repeat("x1,x2,label\n", "1,1,7\n")
    far = repeat("x1,x2,label\n", "99,99,0\n")
    wide = repeat("x1,x2,label\n", "a," * 3000 + "\n")
    keys = {f"k{i:05d}" + "x" * 30: 1 for i in range((limit - 200) // 44)}
    cfg = {f"c{i:05d}" + "x" * 30: [1] * 2 for i in range((limit - 200) // 50)}
    return [
        ("65k empty rows", json.dumps({"type": "load_csv", "id": 2, "text": rows})),
        ("every label out of range", json.dumps({"type": "load_csv", "id": 2, "text": labels})),
        ("every point outside the plane", json.dumps({"type": "load_csv", "id": 2, "text": far})),
        ("rows of 3,000 columns", json.dumps({"type": "load_csv", "id": 2, "text": wide})),
        ("thousands of unknown fields", json.dumps({"type": "step", "id": 2, **keys})),
        ("thousands of unknown settings", json.dumps({"type": "set", "id": 2, "config": cfg})),
        ("a hello of unknown settings", json.dumps({"type": "hello", "id": 2, "config": cfg})),
        ("a load of bad weights", json.dumps({"type": "load", "id": 2, "session": {
            "format": "backlit.session", "version": 1, "config": {},
            "weights": [[["x"] * 100] * 60] * 8}})),
    ]


def test_no_error_reply_is_bigger_than_its_question(loopback):
    questions = _worst_questions()
    with loopback() as served, served.connect() as ws:
        served.hello(ws)
        for k, (name, question) in enumerate(questions):
            question = json.dumps({**json.loads(question), "id": 100 + k})
            assert len(question) <= P.MAX_MESSAGE_BYTES, name
            ws.send(question)
            reply = reply_to(ws, 100 + k)
            msg = json.loads(reply)
            assert msg["type"] == "error", (name, reply[:200])
            assert len(reply) <= MAX_ERROR_BYTES and len(reply) * 10 <= len(question), \
                f"{name}: a {len(question):,}-byte question got a {len(reply):,}-byte reply"
        # what stayed intact: the session still answers, with its default data
        ws.send(json.dumps({"type": "save", "id": 3}))
        session = json.loads(reply_to(ws, 3))["session"]
        assert session["config"]["dataset"] == "circle"
        assert served.hub.errors == 0


def test_a_bad_csv_error_names_the_first_rows_and_counts_the_rest():
    text = "x1,x2,label\n" + ",,\n" * 65_511
    with pytest.raises(csvdata.CSVError) as info:
        csvdata.read_csv(text, kind="classification")
    err = info.value
    assert err.bad_rows == 65_511 and err.count == 65_511
    assert "65,511 bad rows; the first 20" in str(err) and "... and 65,491 more" in str(err)
    assert err.lines == list(range(2, 22)) and len(err.problems) == 20
    d = err.to_dict()
    assert d["bad_rows"] == 65_511 and len(d["problems"]) == 20 and len(json.dumps(d)) < 5000


def test_a_bad_csv_over_the_wire_leaves_the_session_as_it_was(loopback):
    with loopback() as served, served.connect() as ws:
        served.hello(ws)
        ws.send(json.dumps({"type": "save", "id": 2}))
        before = json.loads(reply_to(ws, 2))["session"]
        ws.send(json.dumps({"type": "load_csv", "id": 3, "text": "x1,x2,label\n" + "1,2\n" * 40_000}))
        err = json.loads(reply_to(ws, 3))
        assert err["type"] == "error" and err["bad_rows"] == 40_000 and len(err["problems"]) == 20
        ws.send(json.dumps({"type": "save", "id": 4}))
        assert json.loads(reply_to(ws, 4))["session"] == before


# ---- no message holds the event loop -----------------------------------------------------------

def test_a_long_action_does_not_hold_other_tabs(loopback, monkeypatch):
    """While one tab's export runs (held here until the other tab was answered), another tab is
    served: the action runs off the event loop."""
    release = threading.Event()
    started = threading.Event()
    real = Playground.export

    def slow_export(self, format):
        if format == "csv":
            started.set()
            release.wait(30)
        return real(self, format)

    monkeypatch.setattr(Playground, "export", slow_export)
    with loopback() as served, served.connect() as slow, served.connect() as other:
        served.hello(slow)
        served.hello(other)
        try:
            slow.send(json.dumps({"type": "export", "format": "csv", "id": 5}))
            assert started.wait(30)
            other.send(json.dumps({"type": "save", "id": 6}))
            answered = json.loads(reply_to(other, 6, timeout=20))
            assert answered["type"] == "session" and not release.is_set()
        finally:
            release.set()
        export = json.loads(reply_to(slow, 5))
        assert export["type"] == "export" and export["text"].startswith("x1,x2,label")


def test_a_large_csv_is_charged_before_it_runs(loopback, monkeypatch):
    """Admission: when a large CSV starts to be parsed, its session's budget already paid for it."""
    seen = {}
    real = csvdata.read_csv

    def watching(text, *a, **kw):
        sessions = [s for s in hub.live if not s.closed]
        seen["tokens"] = min(s.budget.tokens for s in sessions)
        return real(text, *a, **kw)

    monkeypatch.setattr(csvdata, "read_csv", watching)
    with loopback() as served, served.connect() as ws:
        hub = served.hub
        served.hello(ws)
        text = "x1,x2,label\n" + ",,\n" * 60_000
        ws.send(json.dumps({"type": "load_csv", "id": 2, "text": text}))
        assert json.loads(reply_to(ws, 2))["type"] == "error"
    burst = hub.limits.cpu_burst
    assert seen["tokens"] < burst - 0.1, seen  # the expected cost was charged first


def test_optional_packages_are_imported_at_start_up_off_the_loop():
    pytest.importorskip("onnx")
    code = ("import sys, time, threading\n"
            "from backlit.server.app import create_app\n"
            "assert 'onnx' not in sys.modules\n"
            "app = create_app()\n"
            "for _ in range(600):\n"
            "    if 'onnx' in sys.modules and not app.state.hub.pool._work_queue.qsize(): break\n"
            "    time.sleep(0.05)\n"
            "print('onnx' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


# ---- memory per connection ---------------------------------------------------------------------

class FakeSocket:
    client = None


def test_a_connection_queues_a_bounded_number_of_bytes():
    limits = P.Limits()
    hub = Hub(limits)
    session = Session(FakeSocket(), hub, limits)
    big = json.dumps({"type": "load_csv", "text": "1,1,0\n" * ((limits.max_message_bytes - 100) // 6)})
    huge = "x" * (4 * limits.max_message_bytes)
    for _ in range(20):
        session.receive(big)
        session.receive(huge)
    held = sum(len(m) for m in session.queue if isinstance(m, str))
    assert held <= hub.max_queued_bytes <= 2 * limits.max_message_bytes
    assert session.dropped > 0  # refused, and counted for the error that says so
    assert all(not isinstance(m, str) or len(m) <= limits.max_message_bytes for m in session.queue)
    session.close()
    hub.pool.shutdown()


def _raw_ws(port, rcvbuf=4096):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert s.recv(1000).startswith(b"HTTP/1.1 101")
    return s


def _frame(payload: bytes) -> bytes:
    import struct

    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else (bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536
                                              else bytes([0x80 | 127]) + struct.pack(">Q", n))
    return bytes([0x81]) + size + mask + body


def test_a_reader_that_stops_reading_is_dropped_and_logged(loopback, caplog):
    caplog.set_level(logging.WARNING, logger="backlit.server")
    with loopback(send_timeout=1.0) as served:
        with served.connect() as bystander:
            _stalled_reader_is_dropped(served, bystander, caplog)


def _stalled_reader_is_dropped(served, bystander, caplog):
    served.hello(bystander)
    s = _raw_ws(served.port)
    s.sendall(_frame(json.dumps({"type": "hello", "config": BIG}).encode()))
    for i in range(30):  # large replies it will never read
        s.sendall(_frame(json.dumps({"type": "export", "format": "csv", "id": 10 + i}).encode()))
    for _ in range(600):
        if served.hub.stalled:
            break
        time.sleep(0.1)
    assert served.hub.stalled == 1
    for _ in range(200):
        if served.hub.sessions == 1:
            break
        time.sleep(0.05)
    assert served.hub.sessions == 1  # the stalled one is gone; the bystander stays
    assert any("stopped reading" in r.getMessage() for r in caplog.records)
    bystander.send(json.dumps({"type": "save", "id": 2}))
    assert json.loads(reply_to(bystander, 2))["type"] == "session"
    s.close()
    assert served.hub.errors == 0


# ---- the largest network -----------------------------------------------------------------------

def test_an_expensive_session_draws_fewer_frames_but_keeps_its_controls(loopback):
    with loopback() as served, served.connect() as ws:
        served.hello(ws, config={**BIG, "speed": 9})
        ws.send(json.dumps({"type": "play", "id": 2}))
        training_frames, answered, sent = 0, set(), 0
        for _ in range(2000):  # until 4 training frames came, a control sent after each
            m = ws.recv(timeout=60)
            if isinstance(m, bytes):
                if P.unpack_frame(m)[0].get("reply_to") is None:
                    training_frames += 1
                    if training_frames > 4:
                        break
                    sent += 1
                    ws.send(json.dumps({"type": "set", "config": {"lr": 0.01 * sent}, "id": 10 + sent}))
            elif json.loads(m).get("reply_to", 0) >= 10:
                answered.add(json.loads(m)["reply_to"])
        ws.send(json.dumps({"type": "pause", "id": 3}))
        reply_to(ws, 3)
        assert training_frames > 4 and answered >= set(range(11, 10 + sent)), (training_frames, answered)
        session = next(iter(served.hub.live))
        assert session.frame_cost > 0
        assert served.app.state.limits.frame_interval < session.frame_interval() <= 0.3


def test_a_control_is_admitted_while_training_left_the_budget_empty():
    import asyncio

    limits = P.Limits()
    hub = Hub(limits)
    budget = CpuBudget(hub)
    budget.charge(budget.available() + 0.01)  # training spent it all, and a little more
    slept = []

    async def run():
        real = asyncio.sleep

        async def sleep(t):
            slept.append(t)
            await real(t)

        asyncio.sleep = sleep
        try:
            await budget.admit(0.002)
        finally:
            asyncio.sleep = real

    asyncio.run(run())
    hub.pool.shutdown()
    assert not slept and budget.tokens < 0  # admitted at once, and charged


# ---- Host and Origin ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["[::1].evil.com", "[::1]evil", "[::1]:80.evil.com", "[::1]:", "[127.0.0.1]x"])
def test_a_bracketed_host_with_a_suffix_is_not_loopback(host):
    assert host_name(host) not in LOOPBACK_HOSTS


def test_a_bracketed_host_with_a_suffix_is_refused_over_the_wire(loopback):
    with loopback(allowed_hosts=LOOPBACK_HOSTS) as served:
        for host, want in (("[::1].evil.com", b"400"), ("[::1]:8000", b"200"), ("127.0.0.1", b"200")):
            with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
                s.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                head = s.recv(100)
            assert head.split()[1] == want, (host, head)
