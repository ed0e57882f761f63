"""The notebook widget's front end (web/js/widget.js) in real Chromium, without Jupyter.

A minimal host page implements anywidget's model interface (get, set, on, off, send, save_changes, and
on("msg:custom", (content, buffers) => ...)), loads the widget's `_esm` from a blob: URL as anywidget
does, adds `_css`, and calls render({model, el}). The test is the kernel: it carries what the page sends
to a Python PlaygroundWidget (on a recording comm) and carries the replies and frames (as binary
buffers) back, so the page runs against the real adapter.
"""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest

pytest.importorskip("anywidget")


import backlit  # noqa: E402
from backlit import nn  # noqa: E402

from .conftest import expect  # noqa: E402

ORIGIN = "http://notebook.backlit.test"

HOST = """<!doctype html>
<html><head><meta charset="utf-8"><title>widget host</title></head>
<body><h1 id="nb-title">A notebook</h1><div id="host"></div>
<script type="module">
const traits = await (await fetch('/traits.json')).json();
const listeners = {};
window.__sent = [];
window.__saved = 0;
const model = {
  get: (k) => traits[k],
  set: (k, v) => { traits[k] = v; },
  save_changes: () => { window.__saved += 1; },
  on: (name, cb) => { (listeners[name] ||= []).push(cb); },
  off: (name, cb) => { listeners[name] = (listeners[name] || []).filter((f) => cb && f !== cb); },
  send: (content, callbacks, buffers) => { window.__sent.push(content); },
};
window.__deliver = (items) => {
  for (const [content, b64s] of items) {
    const buffers = b64s.map((b) => {
      const bin = atob(b);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new DataView(bytes.buffer);
    });
    for (const cb of listeners['msg:custom'] || []) cb(content, buffers);
  }
};
const style = document.createElement('style');
style.textContent = traits._css;
document.head.append(style);
const url = URL.createObjectURL(new Blob([traits._esm], { type: 'text/javascript' }));
const widget = (await import(url)).default;
window.__cleanup = await widget.render({ model, el: document.getElementById('host') });
window.__rendered = true;
</script></body></html>
"""


class Kernel:
    """Carries messages between the page and the widget: page.__sent -> widget, comm.sent -> page."""

    def __init__(self, page, widget):
        self.page, self.w = page, widget
        self.taken = 0
        self.delivered = 0
        self.received: list[dict] = []

    def pump(self) -> None:
        sent = self.page.evaluate(f"() => window.__sent.slice({self.taken})")
        self.taken += len(sent)
        for content in sent:
            self.received.append(content)
            self.w.comm.callback({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})
        out = self.w.comm.sent[self.delivered:]
        self.delivered += len(out)
        items = [[d["content"], [base64.b64encode(b).decode("ascii") for b in bufs]]
                 for d, bufs in out if d.get("method") == "custom"]
        if items:
            self.page.evaluate("(items) => window.__deliver(items)", items)

    def until(self, js: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(js):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {js}")
            self.pump()
            self.page.wait_for_timeout(30)

    def types(self) -> list[str]:
        return [m["type"] for m in self.received if m["type"] != "drawn"]


@pytest.fixture
def host(page, recording_comm):
    mlp = nn.MLP([2, 4, 1], activation="tanh", seed=3)
    widget = backlit.show(mlp, "xor", speed=9)
    traits = json.dumps({k: getattr(widget, k) for k in ("_esm", "_css", "_html", "_main")})
    page.route(f"{ORIGIN}/", lambda r: r.fulfill(status=200, content_type="text/html", body=HOST))
    page.route(f"{ORIGIN}/traits.json", lambda r: r.fulfill(status=200, content_type="application/json", body=traits))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("() => window.__rendered === true")
    kernel = Kernel(page, widget)
    kernel.until("() => window.backlitDebug && window.backlitDebug.lastFrameHeader"
                 " && document.querySelectorAll('#network .neuron').length > 0")
    kernel.until("() => window.backlitDebug.selection !== null && window.backlitDebug.sampleState === 'current'")
    yield kernel, widget, mlp
    widget.close()
    assert errors == []


def plane_pixels(page) -> int:
    """Distinct colours on the plane's canvas (a drawn boundary has many)."""
    return page.evaluate("""() => {
      const c = document.getElementById('plane');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return seen.size;
    }""")


def test_the_first_frame_draws_and_the_notebook_is_not_restyled(host):
    kernel, widget, mlp = host
    page = kernel.page
    assert kernel.types()[:2] == ["hello", "select"]
    assert page.locator("#network .neuron").count() == 2 + 4 + 1
    expect(page.locator("#epoch")).to_have_text("0")
    assert plane_pixels(page) > 20
    # the page's CSS is scoped to the widget: the host's own body and heading keep their styles
    body_bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert body_bg in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    assert page.evaluate("() => getComputedStyle(document.querySelector('.backlit-widget')).backgroundColor") \
        == "rgb(12, 16, 25)"
    assert page.evaluate("() => getComputedStyle(document.getElementById('nb-title')).boxSizing") == "content-box"


def test_train_sends_play_and_frames_advance_the_epoch(host):
    kernel, widget, mlp = host
    page = kernel.page
    page.click("#play")
    kernel.until("() => document.getElementById('epoch').textContent !== '0'")
    assert "play" in kernel.types()
    assert widget.playground.step_count > 0
    expect(page.locator("#play")).to_have_attribute("aria-label", "Pause")
    page.click("#play")
    kernel.pump()
    assert kernel.types()[-1] == "pause"
    kernel.until("() => window.backlitDebug.lastFrameHeader.playing === false")
    # the user's model object holds what the widget shows
    shown = page.evaluate("() => window.backlitDebug.lastFrameHeader.weights[0]")
    assert np.allclose(shown, mlp.linears[0].weight.data)


def test_forward_and_backward_send_a_trace_request_and_animate(host):
    kernel, widget, mlp = host
    page = kernel.page
    page.check("#skip-animation")
    n = len(kernel.received)
    page.click("#forward")
    kernel.until("() => window.backlitDebug.sampleState === 'current'"
                 " && window.backlitDebug.app && document.querySelector('#network')")
    kernel.pump()
    # (a "drawn" acknowledgement of an earlier frame may arrive in between: flow control, not an action)
    assert [m["type"] for m in kernel.received[n:] if m["type"] != "drawn"] == ["trace"]
    kernel.until("() => window.backlitDebug.lastTrace && window.backlitDebug.sampleState === 'current'")
    page.click("#backward")
    kernel.until("() => document.querySelectorAll('#network .neuron').length === 7")
    page.wait_for_timeout(300)
    kernel.pump()
    assert all(m["type"] in ("trace", "drawn") for m in kernel.received[n:])
    # the network view shows the backward pass's gradients (the links get their δ-based widths)
    assert page.evaluate("() => window.backlitDebug.lastTrace.layers.length") == 2


def test_keys_act_only_inside_the_widget(host):
    kernel, widget, mlp = host
    page = kernel.page
    n = len(kernel.received)
    page.click("#nb-title")
    page.keyboard.press("n")
    kernel.pump()
    assert [m["type"] for m in kernel.received[n:] if m["type"] != "drawn"] == []
    page.click("#plane-scale", force=True)
    page.keyboard.press("n")
    kernel.pump()
    assert "next_sample" in [m["type"] for m in kernel.received[n:]]
