"""Fair per student, not per tab, over loopback: one class cookie's tabs share one CPU budget and a
small cap of open tabs; a socket that says nothing is closed, so idle sockets keep no one out."""

from __future__ import annotations

import json
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from backlit.cli.headless import free_port
from backlit.server.app import create_app
from backlit.server.protocol import Limits
from backlit.server.run import uvicorn_config

CODE = "K7P3QX"


@pytest.fixture()
def server():
    """The app under uvicorn in a thread, with short silence limits and room for 8 tabs."""
    import uvicorn

    port = free_port()
    app = create_app(limits=Limits(max_sessions=8, hello_seconds=0.6, idle_seconds=1.5), class_code=CODE)
    srv = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield app, port
    srv.should_exit = True
    thread.join(10)


def cookie(app, student=None):
    from backlit.server.classroom import COOKIE, Gate

    return f"{COOKIE}={Gate(None, CODE).cookie_value(student)}"


def open_tab(port, jar, hello=True):
    ws = connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Cookie": jar}, open_timeout=10)
    if hello:
        ws.send(json.dumps({"type": "hello", "id": 1}))
        first = json.loads(ws.recv(timeout=20))
        return ws, first
    return ws, None


def closed_within(ws, seconds):
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.05, deadline - time.monotonic()))
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False
    return False


def test_a_students_tabs_share_one_budget_and_a_cap(server):
    app, port = server
    hub = app.state.hub
    ada, grace = cookie(app, "a" * 16), cookie(app, "b" * 16)
    tabs = [open_tab(port, ada) for _ in range(4)]
    assert all(first["type"] == "state" for _, first in tabs)
    ws, _ = open_tab(port, ada, hello=False)
    first = json.loads(ws.recv(timeout=10))
    assert first["type"] == "error" and "4 tabs" in first["message"]
    assert closed_within(ws, 5)
    other, first = open_tab(port, grace)
    assert first["type"] == "state", "another student is not held back"
    budgets = {id(s.budget) for s in hub.live if s.student == "a" * 16}
    assert len(budgets) == 1 and hub.tabs("a" * 16) == 4, "one budget for the student's four tabs"
    assert {id(s.budget) for s in hub.live if s.student == "b" * 16}.isdisjoint(budgets)
    tabs[0][0].close()
    deadline = time.monotonic() + 5
    while hub.tabs("a" * 16) > 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    again, first = open_tab(port, ada)
    assert first["type"] == "state", "closing a tab frees its place"
    for ws, _ in tabs[1:] + [(other, None), (again, None)]:
        ws.close()


def test_silent_sockets_are_closed_and_keep_no_one_out(server):
    app, port = server
    hub = app.state.hub
    idle = [open_tab(port, cookie(app, f"{k:016x}"), hello=False)[0] for k in range(8)]   # fill all 8 places
    deadline = time.monotonic() + 5
    while hub.sessions < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.sessions == 8
    assert all(closed_within(ws, 5) for ws in idle), "no hello within the limit: closed"
    ws, first = open_tab(port, cookie(app, "c" * 16))
    assert first["type"] == "state", "the places came free"
    assert closed_within(ws, 6), "a tab silent past the idle limit is closed too"
    assert hub.idle_closed >= 9 and hub.sessions == 0
