"""Issue 13: the page on every screen, for every user, and through every fault (real Chromium)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from playwright.sync_api import expect
from .conftest import axe_serious




def weights_of(app):
    h = app.header()
    return h["weights"], h["biases"]


def assert_same_weights(got, want, rtol=1e-6, atol=1e-7):
    for g, w in zip(got[0] + got[1], want[0] + want[1]):
        np.testing.assert_allclose(np.asarray(g, float), np.asarray(w, float), rtol=rtol, atol=atol)


# ---- faults ---------------------------------------------------------------------------------------

def test_a_lost_server_shows_a_banner_disables_the_controls_and_comes_back_fast(app, own_server):
    app.open(base_url=own_server.url)
    page = app.page
    app.button("Train").click()
    expect(app.button("Pause")).to_be_visible()
    banner = page.locator("#offline-banner")
    expect(banner).to_be_hidden()

    t0 = time.monotonic()
    own_server.stop()
    expect(banner).to_be_visible(timeout=2000)
    assert time.monotonic() - t0 < 2 + 3.5  # stop() itself waits for uvicorn's graceful shutdown
    assert banner.get_attribute("role") == "alert"
    expect(banner).to_contain_text("connection")
    expect(page.get_by_role("button", name="Retry now")).to_be_visible()
    # Train shows the paused state, and what needs the server is off; local options stay on
    expect(page.locator("#play")).to_have_attribute("aria-label", "Train")
    for sel in ("#play", "#step", "#reset", "#add-layer", "#forward", "#dataset", "#lr", "#save"):
        expect(page.locator(sel)).to_be_disabled()
    expect(page.locator("#cb-palette")).to_be_enabled()
    app.screenshot("offline-banner")
    page.get_by_role("button", name="Retry now").click()   # nothing there yet: still offline
    expect(banner).to_be_visible()
    expect(page.locator(":focus")).not_to_have_count(0)

    own_server.start()
    t1 = time.monotonic()
    expect(banner).to_be_hidden(timeout=4000)
    assert time.monotonic() - t1 < 3.0, "the first retry after a restart came later than 2 s (+1 s to connect)"
    for sel in ("#play", "#step", "#add-layer", "#dataset", "#save"):
        expect(page.locator(sel)).to_be_enabled()
    assert not app.page_errors


def test_a_reload_restores_the_configuration_and_the_weights(app):
    app.open()
    page = app.page
    page.select_option("#activation", "relu")
    app.wait_config(activation="relu")
    for _ in range(4):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 4")
    page.wait_for_timeout(700)  # the tab stores its session at most twice a second
    step = app.header()["step"]
    want = weights_of(app)
    page.reload()
    app.wait_ready()
    assert app.config()["activation"] == "relu"
    page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step === s", arg=step)
    assert_same_weights(weights_of(app), want)
    assert app.epoch() >= 0 and page.locator("#step-count").inner_text() == f"step {step}"


def test_a_reload_restores_the_session_after_a_server_restart(app, own_server):
    app.open(base_url=own_server.url)
    page = app.page
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
    page.wait_for_timeout(700)
    want = weights_of(app)
    own_server.stop()
    own_server.start()
    page.reload()
    app.wait_ready()
    assert_same_weights(weights_of(app), want)


def test_add_layer_clicks_faster_than_a_round_trip_are_never_lost(app):
    app.open()
    page = app.page
    page.evaluate("() => { for (let k = 0; k < 2; k++) document.getElementById('remove-layer').click(); }")
    app.wait_config(hidden=[])
    page.evaluate("() => { for (let k = 0; k < 5; k++) document.getElementById('add-layer').click(); }")
    app.wait_config(hidden=[4, 4, 4, 4, 4])
    page.evaluate("() => { for (let k = 0; k < 12; k++) document.getElementById('add-layer').click(); }")
    app.wait_config(hidden=[4] * 8)
    page.evaluate("() => { for (let k = 0; k < 3; k++) document.querySelector('[aria-label=\"Add neuron to layer 1\"]').click(); }")
    app.wait_config(hidden=[7] + [4] * 7)


# ---- sharing --------------------------------------------------------------------------------------

def test_a_hash_is_a_complete_description(app, browser, base_url):
    app.open("d=xor&a=relu")
    page = app.page
    app.wait_config(dataset="xor", activation="relu")
    want = weights_of(app)
    # the same link in another tab: the same configuration, data and initial weights
    other = type(app)(browser.new_page(), base_url).open("d=xor&a=relu")
    assert other.config() == app.config()
    assert_same_weights(weights_of(other), want)
    assert other.page.evaluate("() => JSON.stringify(window.__t.lastByType.points)") == \
        page.evaluate("() => JSON.stringify(window.__t.lastByType.points)")
    other.page.close()
    # a hash that lacks a key means that key's default: activation goes back to tanh
    page.evaluate("() => { location.hash = 'd=spiral'; }")
    app.wait_config(dataset="spiral", activation="tanh")
    hellos = [m for m in page.evaluate("() => window.__t.sent") if isinstance(m, dict) and m.get("type") == "hello"]
    assert hellos[-1].get("url_state") == "d=spiral"


def test_copy_link_with_weights_opens_the_same_network(app, browser, base_url):
    app.open("d=xor&h=3")
    page = app.page
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
    want = weights_of(app)
    page.get_by_role("button", name="Copy link with weights").click()
    page.wait_for_function("() => window.backlitDebug.app.copiedLink")
    link = page.evaluate("() => window.backlitDebug.app.copiedLink")
    assert "&w=2-3-1." in link
    other = type(app)(browser.new_page(), base_url)
    other.open(link.split("#", 1)[1])
    assert other.config()["hidden"] == [3] and other.config()["dataset"] == "xor"
    assert_same_weights(weights_of(other), want, rtol=1e-6, atol=1e-6)  # float32 in the link
    other.page.close()


# ---- every screen -----------------------------------------------------------------------------------

@pytest.mark.parametrize("width,height", [(390, 844), (800, 1000), (1280, 720)])
def test_no_horizontal_scroll_and_the_key_controls_reachable(browser, base_url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=width < 900)
    page = context.new_page()
    page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
    page.goto(base_url + "/")
    page.wait_for_function("() => window.backlitDebug && window.backlitDebug.lastFrameHeader"
                           " && document.querySelectorAll('#network .neuron').length > 0")
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"horizontal scroll at {width}px: {scroll} > {client}"
    for sel in ("#play", "#network", "#plane", "#loss-chart", "#save", "#load", "#forward", "#backward"):
        loc = page.locator(sel)
        loc.scroll_into_view_if_needed()
        expect(loc).to_be_visible()
        box = loc.bounding_box()
        assert box["x"] >= -1 and box["x"] + min(box["width"], 60) <= width + 1, f"{sel} is off-screen at {width}px"
    # every column and panel fits the width (the network may scroll inside its own panel)
    wide = page.evaluate("""(w) => [...document.querySelectorAll('.col, .topbar, .statusline, .stepbar, .inspector')]
        .filter(e => e.getBoundingClientRect().right > w + 1).map(e => e.className)""", width)
    assert not wide, wide
    context.close()


def test_touch_taps_on_a_link_a_neuron_a_bias_and_a_point(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
    page.goto(base_url + "/")
    page.wait_for_function("() => window.backlitDebug && window.backlitDebug.lastFrameHeader"
                           " && document.querySelectorAll('#network .neuron').length > 0")
    page.wait_for_timeout(300)
    # a neuron
    neuron = page.locator('#network .neuron[data-col="1"][data-index="0"] .box')
    neuron.scroll_into_view_if_needed()
    box = neuron.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#inspector h3")).to_contain_text("Neuron h1.1")
    # a link: the middle of the drawn curve, scrolled into view first
    page.wait_for_timeout(400)
    page.evaluate("""() => document.querySelector('#network .link[data-layer="1"][data-i="0"][data-j="1"]')
                        .scrollIntoView({block: 'center'})""")
    pt = page.evaluate("""() => {
        const p = document.querySelector('#network .link[data-layer="1"][data-i="0"][data-j="1"]');
        const m = p.getPointAtLength(p.getTotalLength() / 2);
        const sp = new DOMPoint(m.x, m.y).matrixTransform(p.getScreenCTM());
        return {x: sp.x, y: sp.y};
    }""")
    page.touchscreen.tap(pt["x"], pt["y"])
    expect(page.locator("#inspector h3")).to_contain_text("Weight W2[1,2] h1.2 → h2.1")
    # a bias (a moment later: two taps within 300 ms are one double tap)
    page.wait_for_timeout(400)
    page.locator('#network .bias[data-layer="0"][data-i="1"]').scroll_into_view_if_needed()
    bias = page.locator('#network .bias[data-layer="0"][data-i="1"]').bounding_box()
    page.touchscreen.tap(bias["x"] + bias["width"] / 2, bias["y"] + bias["height"] / 2)
    expect(page.locator("#inspector h3")).to_contain_text("Bias of h1.2")
    # a point on the plane: the one drawn at the tapped spot is selected
    page.wait_for_timeout(400)
    page.locator("#plane").scroll_into_view_if_needed()
    target = page.evaluate("""() => {
        const v = window.backlitViews.plane; const p = v.points.train[7];
        const [x, y] = v.toPx(p[0], p[1]); const r = v.canvas.getBoundingClientRect();
        return {x: r.left + x, y: r.top + y, p};
    }""")
    page.touchscreen.tap(target["x"], target["y"])
    page.wait_for_function("(p) => { const s = window.backlitDebug.selection; return s && Math.abs(s.point[0] - p[0]) < 1e-9 && Math.abs(s.point[1] - p[1]) < 1e-9; }",
                           arg=target["p"])
    context.close()


# ---- accessible -------------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_axe_finds_no_serious_violation_idle_inspecting_or_training(app, width, height):
    page = app.page
    page.set_viewport_size({"width": width, "height": height})
    app.open()
    assert axe_serious(page) == [], "idle"
    app.button("Backward").click()
    expect(page.locator("#network")).to_have_attribute("data-phase", "backward-done")
    page.locator('#network .link[data-layer="1"][data-i="0"][data-j="0"]').dispatch_event("click")
    expect(page.locator("#inspector [data-value='grad_w']")).to_be_visible()
    assert axe_serious(page) == [], "after Backward, inspector open"
    app.button("Train").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 5")
    assert axe_serious(page) == [], "training"
    app.button("Pause").click()


def test_a_sample_and_a_bias_are_picked_by_keyboard_and_esc_keeps_focus(app):
    app.open()
    page = app.page
    # the plane: focus it, the arrows walk from sample to sample, each one picked
    page.focus("#plane")
    page.keyboard.press("Home")
    page.wait_for_function("() => window.backlitDebug.selection && window.backlitDebug.selection.index === 0")
    first = app.page.evaluate("() => window.backlitDebug.selection.point")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.backlitDebug.selection.index !== 0")
    second = app.page.evaluate("() => window.backlitDebug.selection.point")
    assert second[0] > first[0]
    assert app.header()["step"] == 0, "the arrow key stepped the training instead"
    # a bias: Tab to a neuron, down once is its bias, Enter opens it with ∂L/∂b and Check it
    page.focus('#network .neuron[data-col="1"][data-index="0"]')
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.classList.contains('bias')")
    page.keyboard.press("Enter")
    expect(page.locator("#inspector h3")).to_contain_text("Bias of h1.1")
    expect(page.locator("#inspector [data-value='grad_b']")).to_be_visible()
    page.locator("#check-it").focus()
    expect(page.locator("#check-it")).to_be_enabled()
    page.keyboard.press("Enter")
    expect(page.locator("#inspector [data-value='rel_error']")).to_be_visible()
    check = page.evaluate("() => window.__t.lastByType.check")
    assert check["j"] == "bias" and check["rel_error"] < 1e-4
    assert abs(app.raw("backprop") - app.raw("grad_b")) <= 1e-9 * max(1, abs(app.raw("grad_b")))
    # Esc closes the inspector and focus goes back to the bias, not to the body
    page.keyboard.press("Escape")
    expect(page.locator("#inspector h3")).to_have_text("Inspector")
    assert page.evaluate("() => document.activeElement !== document.body && document.activeElement.classList.contains('bias')")
    # every bias is reachable by Tab in this small network
    n_bias = page.locator("#network .bias").count()
    assert page.locator('#network .bias[tabindex="0"]').count() == n_bias == 7


# ---- rough edges ------------------------------------------------------------------------------------

def test_points_outside_the_extent_stay_inside_the_frame(app):
    app.open("d=blobs&n=0.25")
    page = app.page
    app.wait_drawn()
    outside = page.evaluate("() => window.backlitViews.plane.points.train.filter(p => Math.abs(p[0]) > 6 || Math.abs(p[1]) > 6).length")
    assert outside > 0, "the test needs points beyond the extent"
    # no saturated (class-coloured) pixel in the margins, where only grey axis labels belong
    coloured = page.evaluate("""() => {
        const v = window.backlitViews.plane; const c = v.canvas; const g = v.geom(); const d = v.dpr;
        const img = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
            const inside = x >= (g.x0 - 6) * d && x <= (g.x0 + g.side + 6) * d && y >= (g.y0 - 6) * d && y <= (g.y0 + g.side + 6) * d;
            if (inside) continue;
            const k = 4 * (y * c.width + x);
            const sat = Math.max(img[k], img[k + 1], img[k + 2]) - Math.min(img[k], img[k + 1], img[k + 2]);
            if (img[k + 3] > 64 && sat > 60) n++;
        }
        return n;
    }""")
    assert coloured == 0


def test_clicking_empty_space_on_the_plane_selects_nothing(app):
    app.open()
    page = app.page
    spot = page.evaluate("""() => {
        const v = window.backlitViews.plane; const g = v.geom();
        let best = null;
        for (let fx = 0.05; fx < 1; fx += 0.05) for (let fy = 0.05; fy < 1; fy += 0.05) {
            const px = g.x0 + fx * g.side, py = g.y0 + fy * g.side;
            const n = v.nearestSample(px, py);
            if (!best || n.dist > best.d) best = {x: px, y: py, d: n.dist};
        }
        return best;
    }""")
    assert spot["d"] > 20
    before = page.evaluate("() => window.__t.sent.filter(m => m.type === 'select_point').length")
    page.locator("#plane").click(position={"x": spot["x"], "y": spot["y"]})
    expect(page.locator("#plane-tip")).to_contain_text("no sample here")
    assert page.evaluate("() => window.__t.sent.filter(m => m.type === 'select_point').length") == before


def test_the_hinge_inspector_shows_the_y_it_uses(app):
    app.open("l=hinge")
    page = app.page
    app.wait_config(loss="hinge")
    app.button("Backward").click()
    expect(page.locator("#network")).to_have_attribute("data-phase", "backward-done")
    target = app.trace()["target"]
    target = target[0] if isinstance(target, list) else target
    page.locator('#network .link[data-layer="2"][data-i="0"][data-j="0"]').dispatch_event("click")
    expect(page.locator("#inspector [data-value='grad_w']")).to_be_visible()
    text = page.locator("#inspector .why").inner_text()
    assert "target y = 0" not in text
    assert app.raw("target") == (1 if target >= 0.5 else -1)
    assert f"class {int(target)}, read as y = " in text


def test_a_diverged_loss_keeps_its_axis_labels_whole(app):
    app.open("d=plane&a=linear")
    page = app.page
    app.select_number("#lr", 10)
    app.wait_config(lr=10)
    app.button("Train").click()
    page.wait_for_function("() => window.backlitDebug.state.diverged === true", timeout=30_000)
    app.wait_drawn()
    fits = page.evaluate("""async () => {
        const { fmt } = await import('/js/format.js');
        const rail = window.backlitViews.rail; const r = rail.range(); const g = rail.geom(r);
        rail.ctx.font = '10px system-ui, sans-serif';
        const widest = Math.max(...[0, 1, 2].map(k => rail.ctx.measureText(fmt(r.ymax * k / 2, 2)).width));
        return {x0: g.x0, widest, ymax: r.ymax};
    }""")
    assert fits["ymax"] > 1e3, fits
    assert fits["widest"] + 4 <= fits["x0"], fits


def test_the_largest_network_fits_and_its_outcome_text_clears_the_last_hidden_column(app):
    page = app.page
    page.set_viewport_size({"width": 1440, "height": 900})
    app.open("h=16,16,16,16,16,16,16,16")
    app.wait_config(hidden=[16] * 8)
    app.button("Forward").click()
    expect(page.locator("#network")).to_have_attribute("data-phase", "forward-done")
    app.wait_drawn()
    out = page.locator("#network .outcome").bounding_box()
    assert out and out["width"] > 0
    boxes = page.evaluate("""() => [...document.querySelectorAll('#network .neuron[data-col="8"] .box')]
        .map(b => { const r = b.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    for left, top, right, bottom in boxes:
        overlap = not (right <= out["x"] or left >= out["x"] + out["width"] or bottom <= out["y"] or top >= out["y"] + out["height"])
        assert not overlap, "the outcome text runs over the last hidden column"
    scroll, client = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client
    # the cost meter stays on one line
    meter = page.locator("#cost-meter")
    page.wait_for_function("() => document.querySelector('#cost-meter [data-value=\"ratio\"]')")
    height = meter.evaluate("e => e.getBoundingClientRect().height - parseFloat(getComputedStyle(e).paddingTop)")
    assert height < 26, f"the cost meter wraps ({height:.0f} px)"
