"""Shared test configuration. Keep this minimal: fixtures used by one test file belong in that file
(the loopback server serves tests/test_server_abuse.py and tests/test_server_limits.py)."""

import json
import threading
import time

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
