"""The notebook widget's Python adapter (backlit.server.notebook) against a recording comm: no kernel.

Messages in become Playground calls; replies come out as the widget's custom messages and frames as one
binary buffer each, which the protocol's own FrameDecoder unpacks.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("anywidget")


import backlit  # noqa: E402
from backlit import nn  # noqa: E402
from backlit.server import notebook as nb  # noqa: E402
from backlit.server.protocol import FrameDecoder  # noqa: E402


@pytest.fixture(autouse=True)
def recording(recording_comm):
    """Every widget here talks to a RecordingComm (tests/conftest.py)."""


class Client:
    """The front end's side of one widget: sends messages in, reads what came out."""

    def __init__(self, widget):
        self.w = widget
        self.comm = widget.comm
        self.decoder = FrameDecoder()
        self.read = 0
        self.next_id = 1

    def send(self, type_, **payload) -> int:
        mid = self.next_id
        self.next_id += 1
        self.comm.callback({"content": {"data": {"method": "custom",
                                                  "content": {"type": type_, "id": mid, **payload}}},
                            "buffers": []})
        return mid

    def messages(self) -> list[dict]:
        """New custom messages, frames decoded: {"type": "frame", "header": ..., "arrays": ...}."""
        out = []
        for data, buffers in self.comm.sent[self.read:]:
            if data.get("method") != "custom":
                continue
            content = data["content"]
            if content.get("type") == "frame":
                assert len(buffers) == 1 and isinstance(buffers[0], bytes)
                header, arrays = self.decoder.decode(buffers[0])
                out.append({"type": "frame", "header": header, "arrays": arrays})
            else:
                assert not buffers
                out.append(content)
        self.read = len(self.comm.sent)
        return out


def types(msgs):
    return [m["type"] for m in msgs]


@pytest.fixture
def mlp():
    return nn.MLP([2, 4, 1], activation="tanh", seed=3)


@pytest.fixture
def widget(mlp):
    w = backlit.show(mlp, "xor")
    yield w
    w.close()


def test_hello_sends_state_points_and_a_frame_as_a_buffer(widget, mlp):
    c = Client(widget)
    mid = c.send("hello", url_state="d=circle")  # the page's hash is not the notebook's: ignored
    msgs = c.messages()
    assert types(msgs) == ["state", "points", "frame"]
    state, points, frame = msgs
    assert state["reply_to"] == mid and "schema" in state
    assert state["config"]["dataset"] == "xor" and state["sizes"] == [2, 4, 1]
    assert state["config"]["hidden"] == [4] and state["config"]["activation"] == "tanh"
    assert points["kind"] == "binary" and len(points["train"]) > 0
    h = frame["header"]
    assert h["reply_to"] == mid and h["history_reset"] is True
    assert np.allclose(h["weights"][0], mlp.linears[0].weight.data)
    assert frame["arrays"]["boundary"].shape == (100, 100)


def test_messages_become_playground_calls_on_the_users_model(widget, mlp):
    c = Client(widget)
    c.send("hello")
    c.messages()
    before = mlp.linears[0].weight.data.copy()
    c.send("step")
    (frame,) = c.messages()
    assert frame["header"]["step"] == 1
    assert widget.model is mlp and not np.allclose(before, mlp.linears[0].weight.data)  # trained in place
    assert np.allclose(frame["header"]["weights"][0], mlp.linears[0].weight.data)
    c.send("set_weight", layer=1, i=0, j=2, value=0.75)
    c.messages()
    assert mlp.linears[1].weight.data[0, 2] == 0.75
    c.send("next_sample")
    assert types(c.messages()) == ["selection", "trace"]
    c.send("set", config={"lr": 0.3})
    assert types(c.messages()) == ["state", "frame"]
    assert widget.playground.config["lr"] == 0.3


def test_a_bad_message_gets_one_error_and_the_session_goes_on(widget):
    c = Client(widget)
    mid = c.send("set_weight", layer=9, i=0, j=0, value="x")
    (err,) = c.messages()
    assert err["type"] == "error" and err["reply_to"] == mid
    c.send("no_such_thing")
    assert types(c.messages()) == ["error"]
    c.send("drawn", frames=1)  # acknowledgements get no reply
    assert c.messages() == []
    c.send("step")
    assert types(c.messages()) == ["frame"]


def test_refresh_after_the_model_changed_in_code(widget, mlp):
    c = Client(widget)
    c.send("hello")
    c.messages()
    mlp.linears[0].weight.data[1, 0] = 2.5
    widget.refresh()
    state, frame = c.messages()
    assert state["type"] == "state" and frame["header"]["weights"][0][1][0] == 2.5
    # the cell hook: a changed model is redrawn after the cell, an unchanged one is not
    widget._after_cell()
    assert c.messages() == []
    mlp.linears[1].bias.data[0] = -0.5
    widget._after_cell()
    assert types(c.messages()) == ["state", "frame"]


def test_reset_keeps_the_users_object_and_a_new_shape_lets_go_of_it(widget, mlp):
    c = Client(widget)
    c.send("step")
    c.send("reset")
    c.messages()
    assert widget.model is mlp and widget.playground.step_count == 0
    c.send("set", config={"hidden": [3]})
    msgs = c.messages()
    err = next(m for m in msgs if m["type"] == "error")
    assert "no longer" in err["message"] and widget.model is not mlp
    assert widget.model.sizes == [2, 3, 1] and mlp.sizes == [2, 4, 1]


def test_training_runs_in_a_thread_paced_and_stops_on_pause_and_close(mlp):
    w = backlit.show(mlp, "xor", speed=3)  # 10 steps/s
    c = Client(w)
    c.send("hello")
    c.messages()
    c.send("play")
    t0 = time.monotonic()
    deadline = t0 + 10
    while w.playground.step_count < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    steps = w.playground.step_count
    assert steps >= 5
    assert steps <= 10 * elapsed + 4  # the pace, not as fast as it goes
    frames = [m for m in c.messages() if m["type"] == "frame"]
    assert frames and frames[-1]["header"]["playing"] is True
    assert frames[-1]["header"]["epoch"] > 0
    c.send("pause")
    time.sleep(0.2)
    n = w.playground.step_count
    time.sleep(0.3)
    assert w.playground.step_count == n
    c.send("play")
    time.sleep(0.2)
    w.close()
    n = w.playground.step_count
    time.sleep(0.3)
    assert w.playground.step_count == n and not w.playground.playing
    assert not w._thread.is_alive() and w.errors == 0


def test_interrupt_pauses_training(mlp):
    w = backlit.show(mlp, "xor", speed=9)
    c = Client(w)
    c.send("play")
    time.sleep(0.2)
    assert w.playground.playing
    nb.pause_all()
    assert not w.playground.playing
    assert types(c.messages())[-2:] == ["state", "frame"]
    w.close()


def test_show_builds_the_config_from_the_model():
    w = backlit.show(nn.MLP([2, 5, 3, 3], activation="relu"), lr=0.1)
    cfg = w.playground.config
    assert cfg["hidden"] == [5, 3] and cfg["activation"] == "relu" and cfg["classes"] == 3
    assert cfg["dataset"] == "blobs" and cfg["lr"] == 0.1
    w.close()
    w = backlit.show()
    assert w.playground.config["dataset"] == "circle" and w.model.sizes == [2, 4, 2, 1]
    w.close()


@pytest.mark.parametrize("model, data, words", [
    (nn.MLP([2, 4, 3]), "xor", "output"),
    (nn.MLP([2, 4, 1], output_activation="sigmoid"), "xor", "raw outputs"),
    (nn.MLP([2, 4, 4, 1], activation=["tanh", "relu"]), "xor", "one activation"),
    (nn.MLP([9, 4, 1]), "xor", "input features"),
    (nn.MLP([2, 99, 1]), "xor", "hidden"),
    (nn.MLP([2, 4, 1]), "no_such_set", "dataset"),
    ("not a model", "xor", "nn.MLP"),
])
def test_show_says_clearly_what_does_not_fit(model, data, words):
    with pytest.raises(ValueError, match=words):
        backlit.show(model, data)


def test_show_takes_arrays():
    rng = np.random.default_rng(0)
    X = rng.uniform(-5, 5, (60, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = nn.MLP([2, 4, 1])
    w = backlit.show(model, (X, y))
    pg = w.playground
    assert pg.custom is not None and pg.n_train + len(pg.X_test) == 60 and pg.kind == "binary"
    assert w.model is model
    w.close()
    w = backlit.show(nn.MLP([2, 8, 1]), (X, X[:, 0] * 0.1 + 0.05))
    assert w.playground.kind == "regression"
    w.close()


def test_a_second_show_closes_the_first(mlp):
    a = backlit.show(mlp, "xor")
    b = backlit.show()
    assert a.closed and a.comm is None and not b.closed
    b.close()


# ---- the front end's sources ----------------------------------------------------------------------------
def _decode(url: str) -> str:
    assert url.startswith("data:text/javascript;base64,")
    return base64.b64decode(url.split(",", 1)[1]).decode("utf-8")


def test_every_relative_import_is_rewritten_and_shared():
    nb._urls.clear()
    main = nb.main_source()
    seen = {}

    def walk(text):
        assert not re.search(r"""(from|import)\s*\(?\s*['"]\./""", text), "a relative import is left"
        for url in re.findall(r"""['"](data:text/javascript;base64,[A-Za-z0-9+/=]+)['"]""", text):
            if url not in seen:
                seen[url] = _decode(url)
                walk(seen[url])

    walk(main)
    walk(nb.widget_esm())
    # one URL per module: the transport main.js uses is the one widget.js configures
    transport = nb.module_url("transport.js")
    assert transport in main and transport in nb.widget_esm()
    assert nb.module_url("socket.js") in nb.widget_esm()
    assert sum("useTransport" in t for t in seen.values()) == 1
    # the widget's own state.js (no URL hash) and keys.js (wrapping the page's)
    assert "location" not in _decode(nb.module_url("state.js"))
    assert "bindPageKeys" in _decode(nb.module_url("keys.js"))


def test_cycles_are_refused(monkeypatch):
    monkeypatch.setattr(nb, "_urls", {})
    monkeypatch.setattr(nb, "_source", lambda n: {"a.js": "import './b.js';", "b.js": "import {x} from './a.js';"}[n])
    with pytest.raises(ValueError, match="cycle"):
        nb.module_url("a.js")


def test_css_is_scoped_to_the_widget():
    css = nb.widget_css()
    rules = re.findall(r"(?:^|\})\s*([^{}@]+?)\s*\{", re.sub(r"@keyframes[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "}", css))
    for rule in rules:
        for sel in rule.split(","):
            sel = sel.strip()
            if sel.startswith(("from", "to", "50%")) or not sel:
                continue
            assert sel.startswith(".backlit-widget") or re.match(r"body\.[\w-]+ \.backlit-widget", sel), sel
    assert "body.no-accuracy .backlit-widget .metric.acc" in css
    assert nb.scope_css(":root { --a: 1 }\n@media (x) { body { b: 2 } }") == \
        ".backlit-widget { --a: 1 }\n@media (x) {\n.backlit-widget { b: 2 }\n}\n"


def test_the_page_body_is_the_index_html_body():
    body = nb.page_body()
    assert 'id="play"' in body and 'id="plane"' in body and "<script" not in body
    assert 'src="favicon.svg"' not in body


def test_importing_backlit_does_not_import_anywidget_and_show_says_what_to_install():
    code = ("import sys; import backlit; assert 'anywidget' not in sys.modules;"
            "sys.modules['anywidget'] = None\n"
            "try:\n backlit.show()\n"
            "except ImportError as e:\n print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "backlit.show needs anywidget: pip install 'backlit[notebook]'"


# ---- the example notebook, executed by a real kernel ---------------------------------------------------
def test_the_example_notebook_runs_clean(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "backprop.ipynb"
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], "the notebook wrote to stderr"
    mimes = {m for o in outputs for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes  # backlit.show displayed a widget
    assert "image/svg+xml" in mimes  # backlit.graph(loss)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "the widget's network is your model: True" in text
    assert "loss after 20 steps of our own" in text


def test_a_kernel_interrupt_pauses_training_also_between_cells():
    """In a real ipykernel: training runs in the background while the kernel is idle; an interrupt then
    (SIGINT, which ipykernel otherwise ignores between cells) pauses it, and so does one during a cell."""
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        def run(code: str) -> str:
            out = []

            def hook(msg):
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])

            reply = kc.execute_interactive(code, timeout=60, output_hook=hook)
            return "".join(out) + ("" if reply["content"]["status"] == "ok" else reply["content"].get("ename", "?"))

        def until(code: str, want: str, seconds: float = 30.0) -> str:
            """Run `code` until it prints `want` (a loaded machine may take a while), or give up."""
            deadline = time.monotonic() + seconds
            while (got := run(code).strip()) != want and time.monotonic() < deadline:
                time.sleep(0.2)
            return got

        run("import backlit, time\nw = backlit.show(backlit.nn.MLP([2, 4, 1]), 'xor', speed=9)\n"
            "w.handle({'type': 'play', 'id': 1})")
        assert until("print(w.playground.playing, w.playground.step_count > 0)", "True True") == "True True"
        km.interrupt_kernel()  # the kernel is idle: no cell to raise KeyboardInterrupt in
        assert until("print(w.playground.playing)", "False") == "False"
        assert run("n = w.playground.step_count; time.sleep(0.3)\n"
                   "print(w.playground.playing, w.playground.step_count == n)").strip() == "False True"
        run("w.handle({'type': 'play', 'id': 2})")
        msg_id = kc.execute("time.sleep(30)")
        time.sleep(1.0)
        km.interrupt_kernel()  # during a cell: KeyboardInterrupt, and the post_run_cell hook pauses
        kc.get_shell_msg(timeout=30)
        # right after a KeyboardInterrupt ipykernel aborts requests for a moment: ask until one runs
        assert until("print(w.playground.playing)", "False") == "False"
        assert msg_id
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
