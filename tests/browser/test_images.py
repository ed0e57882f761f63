"""The images view in real Chromium: chosen like a dataset, Forward and Backward lighting the tiles,
Train filling the curves and the confusion matrix, a tile's numbers, the saliency maps, an adversarial
walk until the class flips, a drawing predicted on the server, the CNN's filters, and back to the plane."""

from __future__ import annotations

import pytest
from .conftest import axe_serious

expect = pytest.importorskip("playwright.sync_api").expect


def _phase(app, text):
    app.page.wait_for_function("(t) => (document.querySelector('#images-view').dataset.phase || '').startsWith(t)", arg=text)


def _step(app) -> int:
    return int(app.page.get_attribute("#img-counter", "data-step") or -1)


def _fingerprint(app, selector):
    return app.page.evaluate("(s) => document.querySelector(s).toDataURL()", selector)


def test_the_images_view_end_to_end(app):
    page = app.open().page
    plane = app.config()
    page.click("[data-view=digits]")
    expect(page.locator("#images-view")).to_be_visible()
    expect(page.locator("main.layout")).to_be_hidden()
    page.wait_for_function("() => document.querySelector('#img-counter')?.dataset.step === '0'")
    expect(page.locator("#img-hidden .img-tile")).to_have_count(16)
    expect(page.locator("#img-gallery .img-thumb")).to_have_count(20)

    # Forward, then Backward: halos and rings on every tile, the true class's output orange (▲)
    page.click("#img-forward")
    _phase(app, "forward done")
    assert page.locator("#img-hidden .img-tile.lit").count() == 16
    page.click("#img-backward")
    _phase(app, "backward done")
    label = int(page.evaluate("() => window.backlitViews.imagesView.header.label"))
    out = page.locator(f"#img-outputs .img-out[data-unit='{label}']")
    assert out.get_attribute("data-sign") == "-1" and out.locator(".img-tile-mark").text_content() == "▲"
    rings = [float(page.locator("#img-hidden .img-tile").nth(u).get_attribute("data-ring")) for u in range(16)]
    assert all(r > 0 for r in rings)
    expect(page.locator(".img-grad")).to_be_visible()

    # a tile's numbers
    page.locator("#img-hidden .img-tile").nth(3).click()
    expect(page.locator("#img-detail")).to_have_attribute("data-unit", "3")
    assert page.locator("#img-detail table[aria-label='∂L/∂w'] td").count() == 64

    # Train: the step counter moves, the accuracy rises, the curves and the confusion matrix fill in,
    # and the first tile's weight image changes
    acc0 = float(page.get_attribute("#img-metrics", "data-test-acc"))
    tile0 = _fingerprint(app, "#img-hidden .img-tile .img-tile-w")
    page.locator("#img-speed").fill("9")
    page.locator("#img-speed").dispatch_event("change")
    page.click("#img-play")
    page.wait_for_function("() => Number(document.querySelector('#img-counter').dataset.step) >= 150", timeout=60_000)
    page.click("#img-play")
    page.wait_for_function("() => window.backlitViews.imagesView.state && !window.backlitViews.imagesView.state.playing")
    acc = float(page.get_attribute("#img-metrics", "data-test-acc"))
    assert acc > max(acc0, 0.8), (acc0, acc)
    assert int(page.get_attribute("#img-loss", "data-points")) >= 3
    counts = page.evaluate("() => [...document.querySelectorAll('#img-confusion td')].map(td => Number(td.dataset.count || 0))")
    assert len(counts) == 100 and sum(counts) == 359
    assert sum(counts[k * 11] for k in range(10)) / 359 == pytest.approx(acc, abs=1e-9)
    assert _fingerprint(app, "#img-hidden .img-tile .img-tile-w") != tile0

    # saliency: three maps, each saying what it is not
    page.click("#img-explain")
    expect(page.locator("#img-maps .img-map")).to_have_count(3)
    for key in ("saliency", "grad_x_input", "smoothgrad"):
        fig = page.locator(f"#img-maps [data-method='{key}']")
        assert float(fig.get_attribute("data-max")) > 0
        assert "What it is not: not" in fig.locator(".img-not").text_content()

    # adversarial: iterated FGSM at ε = 0.2 walks until the class flips
    page.locator("#img-eps").fill("0.2")
    page.locator("#img-steps").fill("10")
    page.click("#img-attack-run")
    page.wait_for_function("() => document.querySelector('#img-attack-step').dataset.done !== undefined")
    assert page.get_attribute("#img-attack-step", "data-done") == "flipped"
    assert int(page.get_attribute("#img-attack-step", "data-predicted")) != label
    assert "20% of the pixel range" in page.locator("#img-attack-budget").text_content()

    # drawing: a vertical stroke, reduced and predicted on the server, explained at once
    page.locator("#img-draw").scroll_into_view_if_needed()
    box = page.locator("#img-draw").bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 20)
    page.mouse.down()
    for k in range(12):
        page.mouse.move(x + k * 0.5, box["y"] + 20 + k * (box["height"] - 40) / 11)
    page.mouse.up()
    expect(page.locator("#img-caption")).to_contain_text("your drawing")
    predicted = page.get_attribute("#img-caption", "data-predicted")
    page.wait_for_function("(p) => document.querySelector('#img-maps').dataset.aim === p", arg=predicted)

    # the CNN: four filters, each a 3×3 kernel beside its feature map
    page.select_option("#img-network", "cnn")
    expect(page.locator("#img-hidden .img-tile")).to_have_count(4)
    expect(page.locator("#img-hidden .img-tile .img-tile-map")).to_have_count(4)
    assert page.evaluate("() => document.querySelector('#img-hidden .img-tile-w').width") == 3

    # back to the plane, as it was
    page.click("#img-back")
    expect(page.locator("main.layout")).to_be_visible()
    expect(page.locator("#images-view")).to_be_hidden()
    app.wait_ready()
    assert app.config() == plane



@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_the_images_view_has_no_serious_axe_violation(app, width, height):
    page = app.page
    page.set_viewport_size({"width": width, "height": height})
    app.open()
    page.click("[data-view=digits]")
    page.wait_for_function("() => document.querySelector('#img-counter')?.dataset.step === '0'")
    assert axe_serious(page) == [], "opened"
    page.click("#img-backward")
    _phase(app, "backward done")
    page.click("#img-explain")
    expect(page.locator("#img-maps .img-map")).to_have_count(3)
    page.click("#img-attack-run")
    page.wait_for_function("() => document.querySelector('#img-attack-step').dataset.done !== undefined")
    page.locator("#img-outputs .img-out").nth(4).click()
    expect(page.locator("#img-detail")).to_have_attribute("data-layer", "2")
    assert axe_serious(page) == [], "after Backward, saliency, an attack and a tile's numbers"


def test_a_digit_drawn_by_touch_is_predicted(browser, base_url):
    """A real touch stroke (Chromium's touch events, not the mouse): the pad neither scrolls nor misses it."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
    page.goto(base_url + "/")
    page.click("[data-view=digits]")
    page.wait_for_function("() => document.querySelector('#img-counter')?.dataset.step === '0'")
    page.locator("#img-draw").scroll_into_view_if_needed()
    box = page.locator("#img-draw").bounding_box()
    cdp = context.new_cdp_session(page)
    x = box["x"] + box["width"] / 2
    points = [(x, box["y"] + 15 + k * (box["height"] - 30) / 10) for k in range(11)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for px, py in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator("#img-caption")).to_contain_text("your drawing")
    # the pad stays where it was on screen: the stroke drew instead of panning the page
    assert abs(page.locator("#img-draw").bounding_box()["y"] - box["y"]) < 2
    header = page.evaluate("() => window.backlitViews.imagesView.header")
    assert header["source"] == "drawing" and 0 <= header["predicted"] <= 9
    context.close()
