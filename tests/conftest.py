"""Shared test configuration. Keep this minimal: fixtures used by one test file belong in that file."""

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
