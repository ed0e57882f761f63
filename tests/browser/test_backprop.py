"""Watching backprop (issue 6): Forward, Backward, blame colours, Next sample, inspector, Check it,
Apply this update, palette, legend, keyboard, and a Python recomputation of what the page shows."""

from __future__ import annotations

import colorsys
import math
import re

import numpy as np
import pytest
from playwright.sync_api import expect


# -- helpers ---------------------------------------------------------------------------------------
def flat(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


def grad_w(trace: dict, layer: int) -> np.ndarray:
    g = np.asarray(trace["layers"][layer]["grad_W"], dtype=np.float64)
    return g.reshape(g.shape[-2:])


def header_sizes(header: dict) -> list[int]:
    return [len(header["weights"][0][0])] + [len(w) for w in header["weights"]]


def layer_input(trace: dict, layer: int) -> np.ndarray:
    return flat(trace["inputs"] if layer == 0 else trace["layers"][layer - 1]["a"])


def wait_phase(app, phase: str) -> None:
    app.page.wait_for_function(
        "(p) => document.getElementById('network').getAttribute('data-phase') === p", arg=phase, timeout=30_000
    )


def forward(app) -> list[dict]:
    app.page.evaluate("() => window.__t.watchNetwork()")
    app.button("Forward").click()
    wait_phase(app, "forward-done")
    return app.page.evaluate("() => window.__t.stopWatching()")


def backward(app) -> list[dict]:
    app.page.evaluate("() => window.__t.watchNetwork()")
    app.button("Backward").click()
    wait_phase(app, "backward-done")
    return app.page.evaluate("() => window.__t.stopWatching()")


def forward_backward(app) -> None:
    forward(app)
    backward(app)
    app.page.wait_for_function("() => window.backlitDebug.lastTrace && window.backlitDebug.lastTrace.layers")


def links(app) -> list[dict]:
    return app.page.evaluate(
        """() => [...document.querySelectorAll('#network .link')].map(p => {
            const cs = getComputedStyle(p);
            return {l: Number(p.dataset.layer), i: Number(p.dataset.i), j: Number(p.dataset.j),
                    sign: p.dataset.gradSign, stroke: cs.stroke, width: cs.strokeWidth};
        })"""
    )


def hue(css: str) -> float | None:
    """Hue in degrees of an rgb()/rgba() colour, None when it is not a colour or is grey."""
    if not css.startswith("rgb"):
        return None
    r, g, b = (float(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    h, _, s = colorsys.rgb_to_hls(r, g, b)
    return None if s < 0.15 else h * 360


def is_orange(css: str) -> bool:
    h = hue(css)
    return h is not None and 12 <= h <= 50


def is_green(css: str) -> bool:
    h = hue(css)
    return h is not None and 75 <= h <= 175


def check_links_match_trace(app, trace: dict, *, palette: str = "default") -> int:
    """Every link with a gradient of 1% of full width or more carries the trace's sign (attribute and
    colour); one under that is grey, no real pull."""
    checked = 0
    full = app.page.evaluate("() => window.backlitViews.network.scale ? window.backlitViews.network.scale.w : 0")
    for link in links(app):
        g = grad_w(trace, link["l"])[link["i"], link["j"]]
        if abs(g) < 0.01 * full:
            assert link["sign"] == "none", f"W{link['l']}[{link['i']},{link['j']}] grad={g:.3g} under 1% of {full:.3g}"
            continue
        want = "increase" if g < 0 else "decrease"
        where = f"W{link['l']}[{link['i']},{link['j']}] grad={g:.3g}"
        assert link["sign"] == want, f"{where}: data-grad-sign={link['sign']}"
        if palette == "default":
            colour_ok = is_orange(link["stroke"]) if g < 0 else is_green(link["stroke"])
            assert colour_ok, f"{where}: stroke {link['stroke']} should be {'orange' if g < 0 else 'green'}"
        checked += 1
    return checked


def distinct(seq):
    out = []
    for v in seq:
        if not out or out[-1] != v:
            out.append(v)
    return out


@pytest.fixture
def ready(app):
    app.open()
    return app


# -- forward and backward --------------------------------------------------------------------------
def test_forward_lights_neurons_layer_by_layer_left_to_right(ready):
    app = ready
    ncols = app.columns()
    log = forward(app)
    assert log[-1]["phase"] == "forward-done"
    # Lit columns always form a prefix 0..k (nothing lights before the layers to its left) ...
    for s in log:
        assert s["litCols"] == list(range(len(s["litCols"]))), f"lit out of order: {s}"
    # ... and k grows one layer at a time through every column.
    reached = distinct([max(s["litCols"]) for s in log if s["litCols"]])
    assert reached == list(range(ncols)), f"forward reached columns in the order {reached}"
    fwd = [int(s["fwd"]) for s in log if s["fwd"] not in (None, "")]
    assert fwd == sorted(fwd) and fwd[-1] == ncols - 1, f"data-forward-layer went {distinct(fwd)}"
    assert "forward" in [s["phase"] for s in log]
    assert log[-1]["fullLitCols"] == list(range(ncols))
    app.screenshot("forward-phase")


def test_backward_runs_right_to_left_and_links_take_the_gradient_sign(ready):
    app = ready
    ncols = app.columns()
    forward(app)
    log = backward(app)
    assert log[-1]["phase"] == "backward-done"
    lowest = distinct([min(s["haloCols"]) for s in log if s["haloCols"]])
    assert lowest[0] == ncols - 1, f"backward began at column {lowest[0]}, not the output"
    assert lowest == sorted(lowest, reverse=True), f"halos appeared in the order {lowest}"
    assert lowest[: ncols - 1] == list(range(ncols - 1, 0, -1)), f"backward skipped a layer: {lowest}"
    for s in log:  # halo columns are always contiguous, growing leftwards from the output
        cols = s["haloCols"]
        if cols:
            assert cols == list(range(cols[0], cols[0] + len(cols))), s
    bwd = [int(s["bwd"]) for s in log if s["bwd"] not in (None, "")]
    assert bwd == sorted(bwd, reverse=True), f"data-backward-layer went {distinct(bwd)}"

    app.page.wait_for_function("() => window.backlitDebug.lastTrace && window.backlitDebug.lastTrace.layers")
    checked = check_links_match_trace(app, app.trace())
    assert checked >= 10, f"only {checked} links with a non-zero gradient"
    app.screenshot("backward-phase")


def test_while_training_links_show_the_training_sets_gradient(ready):
    app = ready
    app.button("Train").click()
    expect(app.button("Pause")).to_be_visible()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 20")
    # Some drawn frame must agree, link by link, with the training gradient of the frame just received.
    matched = app.page.wait_for_function(
        """() => {
            // what the view draws: the frames' train_grad, smoothed over about half a second
            const h = window.backlitDebug.lastFrameHeader, bg = window.backlitViews.network.training;
            const scale = window.backlitViews.network.scale;
            if (!h.playing || !bg || !scale) return false;
            let n = 0;
            for (const p of document.querySelectorAll('#network .link')) {
                const g = bg.grad_W[p.dataset.layer][p.dataset.i][p.dataset.j];
                // a coloured link has its (smoothed) gradient's sign; one under 2% of full width may be grey
                if (p.dataset.gradSign === 'none') { if (Math.abs(g) >= 0.04 * scale.w) return false; continue; }
                if (p.dataset.gradSign !== (g < 0 ? 'increase' : 'decrease')) return false;
                n++;
            }
            return n >= 4 ? n : false;
        }""",
        polling="raf",
    ).json_value()
    assert matched >= 4
    app.screenshot("training-live-gradients")
    app.button("Pause").click()
    expect(app.button("Train")).to_be_visible()


def test_next_sample_changes_the_selection_and_the_blame_pattern(ready):
    app = ready
    forward_backward(app)
    plane = app.page.locator("#plane")
    first = plane.get_attribute("data-selected")
    assert first not in (None, "")
    trace1 = app.trace()
    pattern1 = [(k["sign"], k["width"]) for k in links(app)]

    app.button("Next sample").click()
    expect(plane).not_to_have_attribute("data-selected", first)
    forward_backward(app)
    app.page.wait_for_function(
        "(g) => JSON.stringify(window.backlitDebug.lastTrace.layers[0].grad_W) !== JSON.stringify(g)",
        arg=trace1["layers"][0]["grad_W"],
    )
    trace2 = app.trace()
    assert not np.allclose(grad_w(trace1, 0), grad_w(trace2, 0))
    assert check_links_match_trace(app, trace2) >= 10
    pattern2 = [(k["sign"], k["width"]) for k in links(app)]
    assert pattern2 != pattern1, "the links look the same for a different sample"


def test_clicking_the_plane_selects_the_nearest_sample(ready):
    """A click on a drawn point selects that sample (issue 13: empty space selects nothing)."""
    app = ready
    plane = app.page.locator("#plane")
    before = plane.get_attribute("data-selected")
    for k in (3, 40, 99):
        pos = app.page.evaluate("""(k) => {
            const v = window.backlitViews.plane; const p = v.points.train[k];
            const [x, y] = v.toPx(p[0], p[1]); return {x, y};
        }""", k)
        plane.click(position=pos)
        app.page.wait_for_function("() => window.__t.lastByType.selection")
        if plane.get_attribute("data-selected") != before:
            break
    expect(plane).not_to_have_attribute("data-selected", before or "")


# -- inspector -------------------------------------------------------------------------------------


def open_inspector(app, layer=1, i=0, j=1):
    forward_backward(app)
    trace = app.trace()
    app.click_link(layer, i, j)
    inspector = app.page.locator("#inspector")
    expect(inspector).to_be_visible()
    expect(inspector.locator('[data-value="grad_w"]')).to_be_visible()
    return trace


def test_inspector_shows_the_traces_gradient_and_its_chain_rule_factors(ready):
    app = ready
    layer, i, j = 1, 0, 1
    trace = open_inspector(app, layer, i, j)
    g = grad_w(trace, layer)[i, j]
    shown = app.raw("grad_w")
    assert shown == pytest.approx(g, rel=1e-9, abs=1e-15)
    delta = flat(trace["layers"][layer]["delta"])[i]
    a_in = layer_input(trace, layer)[j]
    assert app.raw("delta") == pytest.approx(delta, rel=1e-9, abs=1e-15)
    assert app.raw("a_in") == pytest.approx(a_in, rel=1e-9, abs=1e-15)
    assert shown == pytest.approx(delta * a_in, rel=1e-9, abs=1e-15)  # dL/dw = delta_i * a_j
    app.screenshot("inspector", full_page=True)


def test_check_it_agrees_with_backprop(ready):
    app = ready
    trace = open_inspector(app, 0, 1, 0)
    app.button("Check it").click()
    rel = app.page.locator('#inspector [data-value="rel_error"]')
    expect(rel).to_have_attribute("data-raw", re.compile(r"\S"))
    assert app.raw("rel_error") < 1e-4
    assert app.raw("slope") == pytest.approx(grad_w(trace, 0)[1, 0], rel=1e-3, abs=1e-7)
    app.screenshot("check-it", full_page=True)


def test_apply_this_update_lowers_the_samples_loss(ready):
    app = ready
    app.select_number("#lr", 0.01)
    app.wait_config(lr=0.01)
    weights = app.header()["weights"]
    open_inspector(app)
    app.button("Apply this update").click()
    after = app.page.locator('#inspector [data-value="sample_loss_after"], [data-value="sample_loss_after"]').first
    expect(after).to_have_attribute("data-raw", re.compile(r"\d"))
    before_v = float(app.page.locator('[data-value="sample_loss_before"]').first.get_attribute("data-raw"))
    after_v = float(after.get_attribute("data-raw"))
    assert after_v < before_v, f"sample loss went {before_v} -> {after_v}"
    app.page.wait_for_function(
        "(w) => JSON.stringify(window.backlitDebug.lastFrameHeader.weights) !== JSON.stringify(w)", arg=weights
    )


# -- colours, palette, legend, keyboard ------------------------------------------------------------
def test_colour_blind_palette_changes_link_colours_but_not_their_meaning(ready):
    app = ready
    forward_backward(app)
    default = links(app)
    app.page.locator("#cb-palette").check()
    app.page.wait_for_function(
        "(s) => JSON.stringify([...document.querySelectorAll('#network .link')]"
        ".map(p => getComputedStyle(p).stroke)) !== JSON.stringify(s)",
        arg=[k["stroke"] for k in default],
    )
    safe = links(app)
    assert [k["sign"] for k in safe] == [k["sign"] for k in default]
    inc = {k["stroke"] for k in safe if k["sign"] == "increase"}
    dec = {k["stroke"] for k in safe if k["sign"] == "decrease"}
    assert inc and dec and not (inc & dec), "the safe palette must still tell increase from decrease"
    assert check_links_match_trace(app, app.trace(), palette="safe") >= 10
    app.screenshot("colour-blind-palette")


def test_legend_says_what_orange_and_green_mean(ready):
    legend = ready.page.locator("#legend")
    expect(legend).to_be_visible()
    text = legend.inner_text().lower()
    for word in ("orange", "green", "increase", "decrease"):
        assert word in text, f"legend lacks {word!r}: {text!r}"


def test_keyboard_f_b_n(ready):
    app = ready
    app.blur()
    app.page.keyboard.press("f")
    wait_phase(app, "forward-done")
    app.page.keyboard.press("b")
    wait_phase(app, "backward-done")
    selected = app.page.locator("#plane").get_attribute("data-selected")
    app.page.keyboard.press("n")
    expect(app.page.locator("#plane")).not_to_have_attribute("data-selected", selected)


# -- the numbers are the engine's ------------------------------------------------------------------
def test_trace_on_screen_matches_an_independent_pytorch_computation(ready):
    """Recompute the selected sample's gradients from the weights the page received, in PyTorch."""
    torch = pytest.importorskip("torch")
    app = ready
    config = app.config()
    assert config["features"] == ["x1", "x2"] and config["activation"] == "tanh" and config["loss"] == "bce"
    forward_backward(app)
    trace = app.trace()
    header = app.header()
    selection = app.page.evaluate("() => window.__t.lastByType.selection")
    assert selection is not None, "no selection message was received"
    # The traced sample is the selected one, and the traced weights are the ones drawn.
    assert flat(trace["x"]) == pytest.approx(flat(selection["point"]), rel=1e-12, abs=1e-12)
    for got, drawn in zip(trace["weights"], header["weights"]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(drawn), rtol=1e-6, atol=1e-9)
    x = torch.tensor([selection["point"]], dtype=torch.float64)
    y = torch.tensor([[float(selection["label"])]], dtype=torch.float64)
    Ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in header["weights"]]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in header["biases"]]
    a = x
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W.T + b
        a = torch.tanh(z) if k < len(Ws) - 1 else z
    loss = torch.nn.functional.binary_cross_entropy_with_logits(a, y)
    loss.backward()
    for k, W in enumerate(Ws):
        np.testing.assert_allclose(grad_w(trace, k), W.grad.numpy(), rtol=1e-5, atol=1e-9)
    assert math.isfinite(loss.item())
    # backlit's own recorder, fed the same weights and sample, agrees with the page to the last digit.
    from backlit.lab import trace as explain
    from backlit import nn

    model = nn.MLP(header_sizes(header), activation="tanh")
    for lin, W, b in zip(model.linears, header["weights"], header["biases"]):
        lin.weight.data[...] = np.asarray(W)
        lin.bias.data[...] = np.asarray(b)
    mine = explain.trace(model, np.asarray(selection["point"], float), int(selection["label"]), loss="bce",
                         features=["x1", "x2"])
    for k, lt in enumerate(mine.layers):
        np.testing.assert_allclose(grad_w(trace, k), lt.grad_W.reshape(grad_w(trace, k).shape), rtol=1e-6,
                                   atol=1e-12)
    # And what the inspector prints is the same number.
    app.click_link(0, 0, 0)
    assert app.raw("grad_w") == pytest.approx(Ws[0].grad[0, 0].item(), rel=1e-5, abs=1e-9)


# -- beyond the brief ------------------------------------------------------------------------------
def test_cost_meter_shows_one_forward_one_backward_against_finite_differences(ready):
    app = ready
    forward_backward(app)
    cost = app.page.locator('[data-value="cost_us"]').first
    expect(cost).to_have_attribute("data-raw", re.compile(r"\d"))
    assert float(cost.get_attribute("data-raw")) > 0
    ratio = app.page.locator('[data-value="ratio"]').first
    expect(ratio).to_have_attribute("data-raw", re.compile(r"\d"))
    assert float(ratio.get_attribute("data-raw")) > 1, "backprop should beat 2P forward passes"
    trace_cost = app.trace()["cost"]
    assert float(ratio.get_attribute("data-raw")) == pytest.approx(trace_cost["ratio"], rel=1e-9)


def test_adversarial_nudge_walks_a_copy_and_leaves_the_data_alone(ready):
    app = ready
    config = app.config()
    points_before = app.page.evaluate("() => window.__t.texts.filter(t => t === 'points').length")
    selected = app.page.locator("#plane").get_attribute("data-selected")
    app.button("Adversarial nudge").click()
    app.page.wait_for_function("() => window.__t.lastByType.nudge")
    nudge = app.page.evaluate("() => window.__t.lastByType.nudge")
    assert len(nudge["path"]) >= 2
    point = app.page.evaluate("() => window.__t.lastByType.selection && window.__t.lastByType.selection.point")
    if point is not None:
        assert nudge["path"][0] == pytest.approx(point, abs=1e-9), "the walk starts at the selected sample"
    if nudge["flipped"]:
        assert nudge["from_class"] != nudge["to_class"]
    expect(app.page.locator("#inspector")).to_contain_text("nudge", ignore_case=True)
    assert app.config() == config
    assert app.page.evaluate("() => window.__t.texts.filter(t => t === 'points').length") == points_before
    assert app.page.locator("#plane").get_attribute("data-selected") == selected
    app.screenshot("adversarial-nudge")


def test_skip_animation_shows_the_result_at_once(ready):
    app = ready
    ncols = app.columns()
    app.page.locator("#skip-animation").check()
    log = forward(app)
    first_lit = next(s for s in log if s["litCols"])
    assert first_lit["fullLitCols"] == list(range(ncols)), f"forward still animated: {first_lit}"
    log = backward(app)
    first_halo = next(s for s in log if s["haloCols"])
    assert len(first_halo["haloCols"]) >= ncols - 1, f"backward still animated: {first_halo}"
    assert check_links_match_trace(app, app.trace()) >= 10
