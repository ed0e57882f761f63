"""The learner's path, right at every step (issue 21): Next sample after training, predict without
peeking, a gradient-flow strip that shows its data, a training view with its own scale, halos that grow
with |δ|, grey under the threshold everywhere, and a loss chart whose labels never collide.
Real Chromium against the real server."""

from __future__ import annotations

import re

import math

import pytest
from playwright.sync_api import expect


LINKS = """() => [...document.querySelectorAll('#network .link')].map(p => ({
    l: +p.dataset.layer, i: +p.dataset.i, j: +p.dataset.j, sign: p.dataset.gradSign}))"""


def wait_phase(app, phase: str) -> None:
    app.page.wait_for_function("(p) => document.getElementById('network').dataset.phase === p", arg=phase)


def fast_animation(app) -> None:
    app.page.evaluate("""() => { const s = document.querySelector('#anim-speed'); s.value = '10';
                                 s.dispatchEvent(new Event('input')); }""")


def expect_signs_of(app, trace: dict, source_scale: float) -> int:
    """Every link carries the sign of this trace's ∂L/∂w, and is grey under 1% of full width."""
    coloured = 0
    for k in app.page.evaluate(LINKS):
        g = trace["layers"][k["l"]]["grad_W"][k["i"]][k["j"]]
        if abs(g) < 0.01 * source_scale:
            assert k["sign"] == "none", (k, g, source_scale)
            continue
        assert k["sign"] == ("increase" if g < 0 else "decrease"), (k, g)
        coloured += 1
    return coloured


@pytest.fixture
def opened(app):
    app.open()
    fast_animation(app)
    return app


def test_next_sample_after_training_animates_that_samples_own_blame(opened):
    app = opened
    app.button("Forward").click()
    wait_phase(app, "forward-done")
    app.button("Backward").click()
    wait_phase(app, "backward-done")
    app.button("Train").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 20")
    app.button("Pause").click()
    expect(app.button("Train")).to_be_visible()
    pictures = []
    for _ in range(3):
        index = app.page.evaluate("() => window.backlitDebug.selection && window.backlitDebug.selection.index")
        app.page.evaluate("() => window.__t.watchNetwork()")
        app.button("Next sample").click()
        wait_phase(app, "backward-done")
        log = app.page.evaluate("() => window.__t.stopWatching()")
        phases = [s["phase"] for s in log]
        # the new sample's own forward and backward pass played, in that order
        assert "forward" in phases and "backward" in phases, phases
        assert phases.index("forward") < phases.index("backward")
        trace = app.trace()
        assert trace["index"] != index
        scale = app.page.evaluate("() => window.backlitViews.network.scale.w")
        assert expect_signs_of(app, trace, scale) >= 4
        expect(app.page.locator("#link-key")).to_contain_text("this sample's ∂L/∂w")
        pictures.append([k["sign"] for k in app.page.evaluate(LINKS)])
    assert len({tuple(p) for p in pictures}) >= 2, "three samples drew one picture"
    app.screenshot("next-sample-after-training")


def test_predict_then_reveal_gives_nothing_away_before_backward(opened):
    app = opened
    app.page.check("#skip-animation")
    app.button("Backward").click()
    wait_phase(app, "backward-done")
    app.click_link(0, 0, 0)
    expect(app.page.locator('#inspector [data-value="grad_w"]')).to_be_visible()
    # a blame on screen, then Predict: the colours and the inspector's answer go
    app.page.check("#predict-mode")
    signs = {k["sign"] for k in app.page.evaluate(LINKS)}
    assert signs == {"none"}, signs
    expect(app.page.locator("#inspector [data-hidden-blame]")).to_be_visible()
    expect(app.page.locator('#inspector [data-value="grad_w"]')).to_have_count(0)
    expect(app.page.locator("#inspector")).not_to_contain_text("the loss wants")
    # Forward on a new sample: still nothing before Backward
    app.button("Next sample").click()
    app.page.wait_for_function("() => document.getElementById('network').dataset.phase === 'forward-done'")
    app.button("Forward").click()
    wait_phase(app, "forward-done")
    app.page.wait_for_timeout(300)
    expect(app.page.locator("#inspector [data-hidden-blame]")).to_be_visible()
    expect(app.page.locator("#inspector")).not_to_contain_text("the loss wants")
    assert {k["sign"] for k in app.page.evaluate(LINKS)} == {"none"}
    # the −∂L/∂x arrow is a backward-pass result too
    assert app.page.evaluate("() => window.backlitViews.plane.inputGrad") is None
    # Check it prints backprop's ∂L/∂w: it waits for Backward too
    expect(app.page.locator("#check-it")).to_be_disabled()
    expect(app.page.locator("#check-it")).to_have_attribute("title", re.compile("Press Backward first"))
    app.button("Backward").click()
    wait_phase(app, "backward-done")
    expect(app.page.locator('#inspector [data-value="grad_w"]')).to_be_visible()
    expect(app.page.locator("#inspector")).to_contain_text("the loss wants")
    expect(app.page.locator("#check-it")).to_be_enabled()
    assert app.page.evaluate("() => window.backlitViews.plane.inputGrad") is not None


def strip_values(app, metric: int) -> list[float]:
    return app.page.evaluate(
        "(col) => window.backlitViews.gradflow.rows.flatMap(r => (r[col] || []).filter(v => v > 0))", metric)


def test_gradient_flow_axis_holds_every_layers_history_and_layers_look_apart(app):
    app.open()
    app.page.locator('[data-preset="deep"]').click()
    app.wait_config(hidden=[4] * 8, activation="sigmoid")
    app.button("Train").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 40")
    app.button("Pause").click()
    expect(app.button("Train")).to_be_visible()
    app.page.locator("#gradflow").scroll_into_view_if_needed()
    for metric, col in (("delta", 1), ("grad_W", 2)):
        app.page.locator(f'.gradflow-toggle[data-metric="{metric}"]').click()
        values = strip_values(app, col)
        assert values
        axis = app.page.evaluate("() => window.backlitViews.gradflow.axis")
        lo, hi = math.log10(min(values)), math.log10(max(values))
        assert axis["from"] <= lo and hi <= axis["to"], (metric, axis, lo, hi)
        # the first layers' fading is on the axis: it spans many decades
        if metric == "delta":
            assert hi - lo > 3, (lo, hi)
        app.screenshot(f"gradflow-deep-{metric}")
    # nine layers, nine swatches that differ from each other (colour or dash)
    swatches = app.page.evaluate("""() => [...document.querySelectorAll('.gradflow-legend canvas')].map(c =>
        Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(','))""")
    assert len(swatches) == 9 and len(set(swatches)) == 9


def test_the_training_view_has_its_own_scale_and_shows_its_pull(opened):
    """circle, default pace: in the first 10 s most links carry a colour, and they stay still."""
    app = opened
    app.button("Train").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 10")
    fractions = app.page.evaluate("""() => new Promise((resolve) => {
        const out = []; const t = setInterval(() => {
            const l = [...document.querySelectorAll('#network .link')];
            out.push(l.filter(p => p.dataset.gradSign !== 'none').length / l.length);
            if (out.length >= 8) { clearInterval(t); resolve(out); }
        }, 500); })""")
    changes = app.colour_changes(4000)
    key = app.page.locator("#link-key").inner_text()
    app.button("Pause").click()
    assert sorted(fractions)[len(fractions) // 2] >= 0.5, fractions
    assert changes["changes"] / changes["links"] / 4.0 <= 0.20, changes
    assert "the largest mean |∂L/∂w| now" in key, key
    # full width is what the view draws now: its largest smoothed mean gradient
    full = float(key.split("full width = ")[1].split(",")[0])
    largest = app.page.evaluate(
        "() => Math.max(...window.backlitViews.network.training.grad_W.flat(2).map(Math.abs))")
    assert full == pytest.approx(largest, rel=0.35)


def test_halos_grow_with_delta_and_small_gradients_are_grey(app):
    app.open()
    app.page.locator('[data-preset="deep"]').click()
    app.wait_config(hidden=[4] * 8, activation="sigmoid")
    app.page.wait_for_function("() => window.backlitViews.network.scale")
    app.page.check("#skip-animation")
    app.button("Backward").click()
    wait_phase(app, "backward-done")
    app.page.wait_for_timeout(200)
    got = app.page.evaluate("""() => {
        const net = window.backlitViews.network, t = window.backlitDebug.lastTrace, d = net.scale.d;
        const out = [];
        for (const g of document.querySelectorAll('#network .neuron')) {
            const c = +g.dataset.col, i = +g.dataset.index;
            if (c === 0) continue;
            const halo = net.neurons[c][i].halo;
            out.push({delta: t.layers[c - 1].delta[i], full: d, visible: halo.getAttribute('visibility') === 'visible',
                      size: Number(halo.getAttribute('width')), box: net.s});
        }
        return out; }""")
    small = [n for n in got if abs(n["delta"]) < 0.01 * n["full"]]
    big = [n for n in got if abs(n["delta"]) >= 0.01 * n["full"]]
    assert small and big, got                  # the deep sigmoid network fades: both kinds exist
    assert not any(n["visible"] for n in small)
    big.sort(key=lambda n: abs(n["delta"]))
    sizes = [n["size"] for n in big]
    assert sizes == sorted(sizes)
    # the ring (halo minus box) of the largest |δ| is several times the smallest drawn one's
    rings = [(n["size"] - n["box"]) / 2 for n in big]
    assert rings[-1] >= 3 * rings[0], rings
    trace = app.trace()
    scale = app.page.evaluate("() => window.backlitViews.network.scale.w")
    expect_signs_of(app, trace, scale)
    expect(app.page.locator("#link-key")).to_contain_text("ring grows as √|δ|")
    app.screenshot("halos-deep-sigmoid")


def test_loss_chart_tick_labels_keep_clear_of_the_axis_title(opened):
    app = opened
    for last in (60, 150, 335, 900, 4000):
        labels = app.page.evaluate("""(last) => {
            const rail = window.backlitViews.rail; const rows = [];
            for (let k = 0; k <= 200; k++) { const e = last * k / 200; rows.push([e, 0.7 / (1 + e), 0.8 / (1 + e)]); }
            rail.addHistory(rows, true);
            return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() =>
                r(JSON.parse(document.querySelector('#loss-chart').dataset.axisLabels)))));
        }""", last)
        assert labels[-1][0].startswith("epoch"), labels
        for (a, _, a_right), (b, b_left, _) in zip(labels, labels[1:]):
            assert a_right < b_left, (last, a, b, labels)


def test_a_pasted_point_off_the_plane_is_refused_and_the_split_is_said(app):
    page = app.page
    app.open()
    before = page.evaluate("() => window.backlitDebug.app.points.train.length")
    app.button("Paste CSV…").click()
    dialog = page.get_by_role("dialog", name="Paste CSV")
    dialog.get_by_label("CSV text").fill("x1,x2,label\n9,0,1\n1,1,0\n")
    dialog.get_by_role("button", name="Load these points").click()
    alert = page.locator(".de-errors")
    expect(alert).to_contain_text("line 2")
    expect(alert).to_contain_text("at most 6")
    assert page.evaluate("() => window.backlitDebug.state.custom_data") is False
    assert page.evaluate("() => window.backlitDebug.app.points.train.length") == before
    rows = "\n".join(f"{-5 + k},{(k % 5) - 2},{k % 2}" for k in range(10))
    app.button("Paste CSV…").click()
    dialog.get_by_label("CSV text").fill("x1,x2,label\n" + rows + "\n")
    dialog.get_by_role("button", name="Load these points").click()
    page.wait_for_function("() => window.backlitDebug.state.custom_data === true")
    n_train, n_test = page.evaluate("() => [window.backlitDebug.state.n_train, window.backlitDebug.state.n_test]")
    assert n_train + n_test == 10 and n_test > 0
    msg = page.locator(".de-msg")
    expect(msg).to_contain_text(f"{n_train} training points and {n_test} test points")
    expect(msg).to_contain_text("points you click on the plane all go to training")


def test_export_offers_only_what_the_server_can_make(app, monkeypatch):
    import importlib.util

    app.open()
    onnx = app.page.locator('#export option[value="onnx"]')
    expect(onnx).to_have_count(1)
    assert onnx.is_enabled()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    app.open()                                   # a new session: its menu is made now
    expect(onnx).to_have_count(0)
    hint = app.page.locator("#export option[disabled]")
    expect(hint).to_have_count(1)
    expect(hint).to_contain_text("ONNX model (.onnx): pip install 'backlit[export]'")
    # the formats that remain still download
    with app.page.expect_download() as info:
        app.page.select_option("#export", "torch")
    assert info.value.suggested_filename.endswith(".py")
