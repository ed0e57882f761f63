"""Shared test configuration. Keep this minimal: fixtures used by one test file belong in that file
(the loopback server serves tests/test_server_abuse.py and tests/test_server_limits.py)."""

import json
import threading
import time
import types

import pytest


class RecordingComm:
    """Stands in for the kernel's comm (ipywidgets' ``comm.create_comm``): records what a widget sends."""

    def __init__(self, **kwargs):
        self.comm_id = f"rec-{id(self)}"
        self.kernel = object()  # ipywidgets sends only through a comm with a kernel
        self.sent: list[tuple[dict, list]] = []
        self.closed = False
        self.callback = None

    def send(self, data=None, metadata=None, buffers=None):
        self.sent.append((data, list(buffers or [])))

    def on_msg(self, callback):
        self.callback = callback

    def on_close(self, callback):
        pass

    def close(self, *args, **kwargs):
        self.closed = True


@pytest.fixture
def recording_comm(monkeypatch):
    """Widgets made in this test talk to a RecordingComm instead of a kernel."""
    comm_module = pytest.importorskip("comm")
    monkeypatch.setattr(comm_module, "create_comm", lambda **kw: RecordingComm(**kw))
    return RecordingComm


class LoopbackServer:
    """The app (``create_app(**options)``) served by uvicorn with `backlit serve`'s settings, in a
    thread, on a free loopback port."""

    def __init__(self, **options):
        import uvicorn

        from backlit.cli.headless import free_port
        from backlit.server.app import create_app
        from backlit.server.run import bind, uvicorn_config

        self.app = create_app(**options)
        self.sock, self.port = bind("127.0.0.1", free_port())
        self.server = uvicorn.Server(uvicorn_config(self.app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def hub(self):
        return self.app.state.hub

    def connect(self):
        from websockets.sync.client import connect

        return connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=10, max_size=None)

    @staticmethod
    def hello(ws, **fields):
        """Send hello; return its three replies (state, points, frame)."""
        ws.send(json.dumps({"type": "hello", "id": 1, **fields}))
        got = []
        while len(got) < 3:
            m = ws.recv(timeout=60)
            got.append(m if isinstance(m, bytes) else json.loads(m))
        return got


@pytest.fixture
def loopback():
    """``with loopback(**options) as served``: the app on a real socket (server tests)."""
    return LoopbackServer

# ---- the playground session's state (tests/test_session_state.py, tests/test_all_or_nothing.py) ----------

def snapshot(pg) -> dict:
    """Everything a refused action must leave as it was: config, data, weights, counters."""
    return {"config": json.dumps(pg.config, sort_keys=True), "custom": pg.custom is not None,
            "points": json.dumps(pg.points()), "step": pg.step_count, "samples_seen": pg.samples_seen,
            "weights": [p.data.tolist() for p in pg.model.parameters()], "sizes": list(pg.sizes)}


def reconnect_hello(pg) -> dict:
    """The hello a page sends after a reconnect: config, last frame's weights, counters, own points."""
    header, _ = pg.frame()
    msg = {"type": "hello", "config": pg.config, "weights": header["weights"], "biases": header["biases"],
           "step": header["step"], "samples_seen": header["samples_seen"]}
    if pg.state()["custom_data"]:
        msg["points"] = {k: v for k, v in pg.points().items() if k in ("train", "test")}
    return msg


def still_works(pg) -> None:
    """Export, Save -> Load and a reconnect all work, and the last two give back the same session."""
    from backlit.playground.session import Playground
    from backlit.server import protocol as P

    if pg.n_train:
        assert "import torch" in pg.export("torch")[0]["text"]
    else:  # an empty plane: nothing to export but the (empty) data, and it says so
        with pytest.raises(P.ProtocolError, match="no training points"):
            pg.export("torch")
    assert pg.export("csv")[0]["type"] == "export"
    want = snapshot(pg)

    loaded = Playground()
    loaded.handle(P.validate({"type": "load", "session": pg.save()[0]["session"]}))
    assert snapshot(loaded) == want
    back = Playground()
    replies = back.handle(P.validate(json.loads(json.dumps(reconnect_hello(pg)))))
    assert [m["type"] for m in replies] == ["state", "points", "frame"], replies[0]
    assert snapshot(back) == want


@pytest.fixture
def check():
    """snapshot(pg): what a refused action must leave as it was; reconnect_hello(pg): the hello a page
    sends after a reconnect; still_works(pg): export, Save -> Load and a reconnect give the same session."""
    return types.SimpleNamespace(snapshot=snapshot, reconnect_hello=reconnect_hello, still_works=still_works)
