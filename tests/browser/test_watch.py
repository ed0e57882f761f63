"""Watching it learn: the pace, stable gradients while training, one width scale, predict-then-reveal,
the saliency field, the adversarial nudge and reduced motion. Real Chromium against the real server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


def send(app, msg: dict) -> None:
    """Send a message on the page's own socket, as one of its controls would."""
    app.page.evaluate("(m) => window.__t.socket.send(JSON.stringify(m))", msg)


def set_speed(app, level: int) -> None:
    app.page.evaluate(
        """(v) => { const s = document.querySelector('#speed'); s.value = String(v);
                    s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }""", level)
    app.wait_config(speed=level)


def steps_per_second(app, seconds: float = 2.0) -> float:
    """Steps per second over about ``seconds``, between two frames' arrival times, measured in the page."""
    return app.page.evaluate(
        """(ms) => new Promise((resolve) => {
            const t0 = performance.now(), s0 = window.backlitDebug.lastFrameHeader.step;
            let last = null;
            const poll = () => {
                const h = window.backlitDebug.lastFrameHeader, now = performance.now();
                if (now - t0 >= ms && h.step !== s0) resolve((h.step - s0) / ((now - t0) / 1000));
                else setTimeout(poll, 5);
            };
            poll();
        })""", seconds * 1000)


@pytest.fixture
def opened(app):
    app.open()
    return app


def test_the_default_pace_is_one_a_person_can_follow_and_the_slider_changes_it(opened):
    app = opened
    speed = next(s for s in app.page.evaluate("() => window.backlitDebug.app.schema.settings") if s["name"] == "speed")
    paces = app.page.evaluate("() => window.backlitDebug.app.schema.paces")
    default = next(p for p in paces if p["level"] == speed["default"])
    expect(app.page.locator("#speed-out")).to_have_text(default["label"])
    app.button("Train").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 0")
    slow = steps_per_second(app)
    # the pace is a ceiling: a busy machine may train slower, never faster
    assert 0 < slow <= default["steps_per_second"] * 1.1, slow
    assert app.header()["epoch"] < 10  # 2.5 s at 50 steps/s is 5 epochs of 25 batches
    set_speed(app, paces[-1]["level"])  # as fast as it goes
    fast = steps_per_second(app)
    assert fast >= 3 * slow, (slow, fast)
    set_speed(app, 1)
    app.page.wait_for_timeout(1000)
    assert steps_per_second(app, 3.0) <= 1.5
    assert "sp=1" in app.page.evaluate("() => location.hash")
    app.button("Pause").click()


def test_links_change_colour_rarely_while_training(opened):
    """Over 5 s of training on circle at the default pace, at most 20% of links change colour per second
    (to another colour or to grey): the links show the training set's gradient, not one batch's. And
    once the network has learned, when the mean gradient hovers around 0, they stay still too."""
    app = opened
    app.button("Train").click()
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 10")
    early = app.colour_changes(5000)
    assert early["steps"] > 20, early
    assert early["changes"] / early["links"] / 5.0 <= 0.20, early
    set_speed(app, 9)
    app.page.wait_for_function("() => window.backlitDebug.lastFrameHeader.test_acc >= 0.97", timeout=60_000)
    set_speed(app, 5)
    app.page.wait_for_timeout(1000)
    learned = app.colour_changes(5000)
    app.button("Pause").click()
    assert learned["steps"] > 20, learned
    assert learned["changes"] / learned["links"] / 5.0 <= 0.20, learned


def link_widths(app) -> list[tuple[float, float]]:
    return app.page.evaluate(
        """() => { const t = window.backlitDebug.lastTrace; const out = [];
            for (const p of document.querySelectorAll('#network .link')) {
                const g = t.layers[p.dataset.layer].grad_W[p.dataset.i][p.dataset.j];
                out.push([Math.abs(g), Number(p.getAttribute('stroke-width'))]);
            }
            return out; }""")


def backward_done(app) -> None:
    app.page.check("#skip-animation")
    app.button("Backward").click()
    app.page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'backward-done'")


def test_equal_gradients_get_equal_widths_across_samples(opened):
    app = opened
    backward_done(app)
    first = link_widths(app)
    index = app.trace()["index"]
    app.button("Next sample").click()
    app.page.wait_for_function("(i) => window.backlitDebug.lastTrace.index !== i", arg=index)
    backward_done(app)
    second = link_widths(app)
    # width = 0.8 + 7 sqrt(|g| / scale) below full width: the same scale gives the same ratio for both samples
    slopes = [((w - 0.8) / 7) ** 2 / g for g, w in first + second if w > 1.2 and w < 7.7]
    assert len(slopes) >= 10
    assert max(slopes) / min(slopes) == pytest.approx(1.0, abs=0.02)
    key = app.page.locator("#link-key").inner_text()
    assert "full width" in key


def test_predict_then_reveal_grades_the_guesses_with_the_engines_signs(opened):
    app = opened
    app.page.check("#predict-mode")
    guesses = {}
    for (l, i, j), guess in zip([(0, 0, 0), (0, 1, 1), (1, 0, 2), (2, 0, 1)], ["increase", "increase", "decrease", "increase"]):
        app.click_link(l, i, j)
        if guess == "decrease":
            app.click_link(l, i, j)
        guesses[(l, i, j)] = guess
        expect(app.page.locator(f'#network .link[data-layer="{l}"][data-i="{i}"][data-j="{j}"]')).to_have_attribute("data-guess", guess)
    expect(app.page.locator("#inspector .insp-head")).not_to_contain_text("Weight")  # guessing does not inspect
    backward_done(app)
    trace = app.trace()
    right = sum((trace["layers"][l]["grad_W"][i][j] < 0) == (g == "increase") for (l, i, j), g in guesses.items())
    expect(app.page.locator("#predict-status")).to_contain_text(f"{right} of 4 right")
    glyphs = app.page.evaluate("() => [...document.querySelectorAll('#network .glyph')].map(g => g.textContent).filter(t => t === '✓' || t === '✗').length")
    assert glyphs == 4


def test_saliency_arrows_are_the_step_recorders_input_gradients(opened):
    app = opened
    app.page.check("#show-saliency")
    app.page.wait_for_function("() => window.__t.lastByType.saliency")
    grads = app.page.evaluate("() => window.__t.lastByType.saliency.grad")
    assert len(grads) == app.state()["n_train"]
    for index in (0, 11, 57):
        send(app, {"type": "select", "index": index})
        app.page.wait_for_function("(i) => window.backlitDebug.lastTrace && window.backlitDebug.lastTrace.index === i", arg=index)
        g = app.trace()["input_grad"]
        assert g == pytest.approx(grads[index], rel=1e-6, abs=1e-12)
    app.snap("with-arrows")
    app.page.uncheck("#show-saliency")
    app.wait_pixels_change("with-arrows", fraction=0.002)


def test_the_nudge_walks_uphill_on_the_true_label_and_draws_its_path(opened):
    app = opened
    app.button("Adversarial nudge").click()
    app.page.wait_for_function("() => window.__t.lastByType.nudge")
    n = app.page.evaluate("() => window.__t.lastByType.nudge")
    assert n["true_label"] == app.page.evaluate("() => window.backlitDebug.selection.label")
    assert all(b > a for a, b in zip(n["losses"], n["losses"][1:]))
    app.page.wait_for_function("(k) => document.querySelector('#plane').dataset.nudgeShown === String(k)", arg=n["steps"])
    expect(app.page.locator("#inspector")).to_contain_text("uphill on the loss of its true label")


def test_reduced_motion_stops_marching_dashes_and_animations(app):
    app.page.emulate_media(reduced_motion="reduce")
    app.open()
    app.page.locator("#anim-speed").fill("1")
    app.button("Forward").click()
    app.page.wait_for_function("() => document.querySelector('#network .link.flow')")
    anim = app.page.evaluate("() => getComputedStyle(document.querySelector('#network .link.flow')).animationName")
    dash = app.page.evaluate("() => getComputedStyle(document.querySelector('#network .link.flow')).strokeDasharray")
    assert anim == "none" and dash == "none"
    app.page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'forward-done'")
    app.button("Adversarial nudge").click()
    app.page.wait_for_function("() => window.__t.lastByType.nudge")
    steps = app.page.evaluate("() => window.__t.lastByType.nudge.steps")
    app.wait_drawn()
    assert app.page.evaluate("() => document.querySelector('#plane').dataset.nudgeShown") == str(steps)


def test_hovering_a_neuron_shows_its_map_on_the_plane(opened):
    app = opened
    app.snap("boundary")
    box = app.page.locator('#network .neuron[data-col="1"][data-index="0"] .box').bounding_box()
    app.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(app.page.locator("#plane")).to_have_attribute("data-overlay", "neuron h1.1")
    app.wait_pixels_change("boundary", fraction=0.05)
    app.page.mouse.move(5, 5)
    expect(app.page.locator("#plane")).to_have_attribute("data-overlay", "")


def test_a_solver_and_a_preset_are_one_click_away(opened):
    app = opened
    app.page.locator("#solve").click()
    app.wait_config(lr=0.1)
    expect(app.page.locator("#solve")).to_be_disabled()
    app.page.locator('[data-preset="deep"]').click()
    app.wait_config(activation="sigmoid", init="uniform")
    assert len(app.config()["hidden"]) == 8
    app.page.locator("#preset-fix").click()
    app.wait_config(activation="relu", init="he")
