"""graphview.js and gradflow.js in real Chromium, on a minimal static page fed with Python's graph dicts."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import numpy as np
import pytest

from backlit.lab import trace as explain, gradflow
from backlit.lab.graph import neuron_graph, step_graph
from backlit import nn
from backlit.cli import train

expect = pytest.importorskip("playwright.sync_api").expect

HERE = Path(__file__).parent
WEB = HERE.parents[1] / "src" / "backlit" / "web"
ORIGIN = "http://graphview.test"
X = np.array([0.5, -1.0])


def serve(route):
    """A tiny static server inside Playwright: the test page, and the package's web/ files."""
    path = route.request.url[len(ORIGIN):].split("?")[0]
    if path == "/":
        file = HERE / "graphview_page.html"
    elif path.startswith("/web/"):
        file = (WEB / path[len("/web/"):]).resolve()
        if WEB.resolve() not in file.parents:
            return route.fulfill(status=404)
    else:
        return route.fulfill(status=404)
    if not file.is_file():
        return route.fulfill(status=404)
    ctype = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
    route.fulfill(status=200, body=file.read_bytes(), headers={"content-type": ctype or "text/plain"})


@pytest.fixture
def gv(page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("() => window.gvTest && window.gvTest.ready")
    yield page
    assert errors == []


def shown_grads(page) -> dict:
    pairs = page.evaluate("""() => [...document.querySelectorAll('.gv-node')].map(
        n => [Number(n.dataset.id), n.querySelector('.gv-grad').textContent])""")
    return dict(pairs)


def current(page):
    return page.evaluate("() => Number(document.querySelector('.gv-node[data-state=current]')?.dataset.id ?? -1)")


def test_open_the_graph_and_step_backward_no_gradient_before_its_node(gv):
    model = nn.MLP([2, 3, 1], activation="tanh", seed=0)
    d = step_graph(model, X, 1).to_dict()
    gv.evaluate("d => window.gvTest.view.show(d)", d)
    assert gv.locator(".gv-node").count() == len(d["nodes"])
    assert gv.locator(".gv-edge").count() == len(d["edges"])
    assert all(t == "grad —" for t in shown_grads(gv).values())   # before Backward: no gradient at all
    # keyboard: focus the Backward button and press Enter, one node per press
    button = gv.get_by_role("button", name="◀ Backward step")
    visited = []
    for k, step in enumerate(d["backward"]):
        button.focus()
        gv.keyboard.press("Enter")
        assert current(gv) == step["node"]
        visited.append(step["node"])
        grads = shown_grads(gv)
        for n in d["nodes"]:
            if n["id"] in visited:
                expected = next(s["text"] for s in d["backward"] if s["node"] == n["id"])
                assert grads[n["id"]] == f"grad {expected}"
            else:
                assert grads[n["id"]].startswith("grad —"), (k, n["label"], grads[n["id"]])
        expect(gv.locator(".gv-progress")).to_contain_text(f"backward {k + 1}/{len(d['backward'])}")
    # the view announced each step to its owner
    steps = gv.evaluate("() => window.gvTest.steps.filter(s => s.direction === 'backward').map(s => s.node)")
    assert steps == [s["node"] for s in d["backward"]]
    # the explanation of the activation's step shows local × upstream = product
    gv.get_by_role("button", name="Reset").click()
    a1 = next(n for n in d["nodes"] if n["label"] == "a1 = tanh")
    for _ in range(1 + next(k for k, s in enumerate(d["backward"]) if s["node"] == a1["id"])):
        button.click()
    send = next(s for s in d["backward"] if s["node"] == a1["id"])["sends"][0]
    expect(gv.locator(".gv-sends")).to_contain_text(send["text"]["local"])
    expect(gv.locator(".gv-sends")).to_contain_text(send["text"]["product"])


def test_fan_out_shows_the_contributions_arriving(gv):
    model = nn.MLP([2, 2, 1], activation="tanh", seed=0)
    d = step_graph(model, X, 1, regularization="l2", reg_rate=0.1).to_dict()
    gv.evaluate("d => window.gvTest.view.show(d)", d)
    W1 = next(n for n in d["nodes"] if n["label"] == "W1")
    step = next(s for s in d["backward"] if s["node"] == W1["id"])
    assert len(step["arrivals"]) == 2
    order = [s["node"] for s in d["backward"]]
    first = min(order.index(a["from"]) for a in step["arrivals"])
    for _ in range(first + 1):
        gv.get_by_role("button", name="◀ Backward step").click()
    assert shown_grads(gv)[W1["id"]] == "grad — (1 of 2 arrived)"
    for _ in range(order.index(W1["id"]) - first):
        gv.get_by_role("button", name="◀ Backward step").click()
    items = gv.locator(".gv-arrivals li")
    expect(items).to_have_count(2)
    expect(gv.locator(".gv-explain")).to_contain_text("contributions add up")
    expect(gv.locator(".gv-sum")).to_contain_text(step["text"])


def test_forward_steps_reveal_values_in_order(gv):
    d = step_graph(nn.MLP([2, 2, 1], seed=0), X, 1).to_dict()
    gv.evaluate("d => window.gvTest.view.show(d)", d)
    gv.get_by_role("button", name="Reset").click()
    value = lambda i: gv.locator(f".gv-node[data-id='{i}'] .gv-value").text_content()   # noqa: E731
    assert all(value(i) == "value —" for i in d["forward"])
    gv.get_by_role("button", name="Forward step ▶").click()
    first = d["forward"][0]
    assert current(gv) == first and value(first) != "value —"
    assert all(value(i) == "value —" for i in d["forward"][1:])


def test_zoom_into_a_neuron(gv):
    model = nn.MLP([2, 3, 1], activation="sigmoid", seed=1)
    d = step_graph(model, X, 1).to_dict()
    gv.evaluate("d => window.gvTest.view.show(d)", d)
    a1 = next(n for n in d["nodes"] if n["label"] == "a1 = sigmoid")
    node = gv.locator(f".gv-node[data-id='{a1['id']}']")
    node.focus()
    gv.keyboard.press("Enter")
    gv.get_by_role("button", name="Zoom into neuron h1.2").click()
    assert gv.evaluate("() => window.gvTest.zooms") == [{"layer": 0, "neuron": 1}]
    # the owner answers with the neuron's scalar graph (what the playground does)
    tr = explain.trace(model, X, 1)
    nd = neuron_graph(tr, 0, 1).to_dict()
    gv.evaluate("d => window.gvTest.view.zoom(d)", nd)
    assert gv.locator(".gv-node").count() == len(nd["nodes"])
    expect(gv.locator(".gv-title")).to_contain_text("neuron h1.2")
    assert all(t == "grad —" for t in shown_grads(gv).values())
    gv.get_by_role("button", name="Show all").click()
    grads = shown_grads(gv)
    for n in nd["nodes"]:
        if n["label"].startswith("w") and n["role"] == "param":
            j = int(n["label"][1]) - 1
            assert grads[n["id"]] == f"grad {tr.layers[0].grad_W[1, j]:.4g}"
    gv.get_by_role("button", name="↩ Back to the step graph").click()
    assert gv.locator(".gv-node").count() == len(d["nodes"])
    expect(gv.get_by_role("button", name="↩ Back to the step graph")).to_be_hidden()


def test_reduced_motion_turns_transitions_off(gv):
    d = step_graph(nn.MLP([2, 2, 1], seed=0), X, 1).to_dict()
    gv.evaluate("d => window.gvTest.view.show(d)", d)
    css = "() => getComputedStyle(document.querySelector('.gv-edge')).transitionDuration"
    assert gv.evaluate(css) != "0s"
    gv.emulate_media(reduced_motion="reduce")
    assert gv.evaluate(css) == "0s"


def test_gradient_flow_strip_draws_each_layer(gv):
    ds_model = train.build_model(["x1", "x2"], [3, 3], "binary", activation="sigmoid", seed=1, init="uniform")
    from backlit.lab import data
    Xtr, ytr, _, _ = data.split(data.make("circle", n=80, seed=1), 0.5, seed=1)
    r = train.fit(ds_model, Xtr, ytr, kind="binary", optimizer="sgd", lr=0.1, epochs=5)
    strip = gradflow.strip_data(r.history)
    gv.evaluate("s => window.gvTest.strip.setData(s)", strip)
    label = gv.locator("canvas.gradflow-strip").get_attribute("aria-label")
    assert "log scale" in label and "layer 1" in label and "output" in label
    ink = gv.evaluate("""() => { const c = document.querySelector('canvas.gradflow-strip');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")
    assert ink > 500
    expect(gv.locator(".gradflow-legend span")).to_have_count(3)
    gv.get_by_role("button", name="‖∂L/∂W‖").click()
    expect(gv.get_by_role("button", name="‖∂L/∂W‖")).to_have_attribute("aria-pressed", "true")
    assert "‖∂L/∂W‖" in gv.locator("canvas.gradflow-strip").get_attribute("aria-label")
    gv.evaluate("b => window.gvTest.renderBadgeLegend(document.getElementById('badges'), b)", gradflow.BADGES)
    expect(gv.locator("#badges li")).to_have_count(2)
