"""The Learn panel (learn.js) and the first-minute tour (tour.js), in real Chromium.

The `app` fixture runs as a returning visitor (conftest marks the tour as skipped); the tour tests open
their own browser context, so that they see a first visit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "learn"

REFERENCES = {
    "https://www.nature.com/articles/323533a0": "Learning representations by back-propagating errors",
    "https://www.youtube.com/watch?v=VMj-3S1tku0": "building micrograd",
    "https://colah.github.io/posts/2015-08-Backprop/": "Calculus on Computational Graphs",
    "https://pytorch.org/docs/stable/autograd.html": "autograd",
}

TOUR = [("forward", "#forward"), ("backward", "#backward"), ("train", "#play"), ("next", "#next-sample")]

READY = ("() => window.backlitDebug && window.backlitDebug.state && window.backlitDebug.lastFrameHeader"
         " && document.querySelectorAll('#network .neuron').length > 0")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(2, 2)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.fixture
def first_visit(browser, base_url):
    """A fresh context (empty localStorage): the page as a first-time visitor sees it."""
    contexts = []
    errors: list[str] = []

    def open_page(width=1440, height=900, query=""):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/{query}")
        page.wait_for_function(READY)
        # the first visit offers the course; choosing free play starts the tour
        if "notour" not in query:
            page.get_by_role("button", name="Free play", exact=True).click()
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# ---- the panel ----------------------------------------------------------------------------------

def test_panel_opens_closes_and_links_the_references(app):
    page = app.open().page
    toggle = page.locator("#learn-toggle")
    panel = page.locator("#learn")
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    expect(panel).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # focus moved into the panel, to its heading
    assert page.evaluate("() => document.getElementById('learn').contains(document.activeElement)")
    for heading in ("forward pass", "loss", "backward pass", "∂L/∂w", "two passes", "∂L/∂x", "PyTorch"):
        expect(panel.locator("h3", has_text=heading)).to_have_count(1)
    expect(panel).to_contain_text("loss.backward()")
    expect(panel).to_contain_text("jax.grad")

    links = panel.locator(".learn-refs a")
    expect(links).to_have_count(4)
    hrefs = {}
    for k in range(4):
        a = links.nth(k)
        assert a.get_attribute("target") == "_blank"
        assert "noopener" in (a.get_attribute("rel") or "").split()
        hrefs[a.get_attribute("href")] = a.inner_text()
    assert set(hrefs) == set(REFERENCES)
    for href, words in REFERENCES.items():
        assert words in hrefs[href]

    # the close button closes it and gives focus back to the toggle
    panel.get_by_role("button", name="Close the Learn panel").click()
    expect(panel).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "learn-toggle"

    # keyboard: Enter on the toggle opens it, Esc inside closes it
    toggle.focus()
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_panel_remembers_open_across_a_reload(app):
    page = app.open().page
    page.locator("#learn-toggle").click()
    expect(page.locator("#learn")).to_be_visible()
    page.reload()
    app.wait_ready()
    expect(page.locator("#learn")).to_be_visible()
    expect(page.locator("#learn-toggle")).to_have_attribute("aria-expanded", "true")
    page.locator("#learn .learn-close").click()
    page.reload()
    app.wait_ready()
    expect(page.locator("#learn")).to_be_hidden()


def test_hovering_a_paragraph_highlights_what_it_describes(app):
    page = app.open().page
    page.locator("#learn-toggle").click()
    page.locator('.learn-sec[data-hl="backward"]').hover()
    expect(page.locator("#backward")).to_have_class(re.compile(r"\blearn-hl\b"))
    expect(page.locator("#network")).to_have_class(re.compile(r"\blearn-hl-halos\b"))
    page.locator('.learn-sec[data-hl="input"]').hover()
    expect(page.locator("#nudge")).to_have_class(re.compile(r"\blearn-hl\b"))
    expect(page.locator("#backward")).not_to_have_class(re.compile(r"\blearn-hl\b"))
    expect(page.locator("#network")).not_to_have_class(re.compile(r"\blearn-hl-halos\b"))


def test_cost_numbers_are_the_traces(app):
    page = app.open().page
    page.locator("#learn-toggle").click()
    P = app.state()["param_count"]
    # before any trace, P (and 2P) come from the state
    expect(page.locator('#learn [data-cost="params"]').first).to_have_text(str(P))
    expect(page.locator('#learn [data-cost="fd_passes_text"]')).to_have_text(str(2 * P))

    app.button("Forward").click()
    page.wait_for_function("() => window.backlitDebug.lastTrace && window.backlitDebug.lastTrace.cost")
    expect(page.locator("#learn .learn-cost-times")).to_be_visible()
    cost = app.trace()["cost"]

    def raw(name):
        return page.locator(f'#learn [data-cost="{name}"]').first.get_attribute("data-raw")

    # the panel shows the numbers of the trace it was last given (a later trace may refresh it)
    page.wait_for_function(
        "(p) => document.querySelector('#learn [data-cost=\"params\"]').dataset.raw === String(p)", arg=cost["params"])
    cost = app.trace()["cost"]
    page.wait_for_function(
        """(c) => document.querySelector('#learn [data-cost="forward_backward_ms"]').dataset.raw === String(c)""",
        arg=cost["forward_backward_ms"])
    assert int(raw("params")) == cost["params"] == P
    assert int(raw("fd_passes")) == cost["fd_passes"] == 2 * P
    assert float(raw("forward_backward_ms")) == pytest.approx(cost["forward_backward_ms"])
    assert float(raw("fd_ms")) == pytest.approx(cost["fd_ms"])
    assert float(raw("ratio")) == pytest.approx(cost["ratio"])
    assert raw("fd_measured") == json.dumps(bool(cost["fd_measured"]))
    text = page.locator("#learn [data-hl='cost']").inner_text()
    assert f"2 × {P} = {2 * P} forward passes" in text
    assert "1 forward + 1 backward" in text

    # a bigger network: the numbers follow it
    app.button("Add layer").click()
    page.wait_for_function("(p) => window.backlitDebug.state.param_count !== p", arg=P)
    P2 = app.state()["param_count"]
    expect(page.locator('#learn [data-cost="params"]').first).to_have_text(str(P2))
    expect(page.locator('#learn [data-cost="fd_passes_text"]')).to_have_text(str(2 * P2))


def test_code_block_asks_for_the_code_and_copies_it(app):
    page = app.page
    sent: list[dict] = []

    def on_ws(ws):
        def on_frame(payload):
            if isinstance(payload, str):
                try:
                    sent.append(json.loads(payload))
                except ValueError:
                    pass
        ws.on("framesent", on_frame)

    page.on("websocket", on_ws)
    app.open()
    assert not [m for m in sent if m.get("type") == "code"], "the closed panel asked for code"
    page.locator("#learn-toggle").click()
    page.wait_for_timeout(300)
    assert len([m for m in sent if m.get("type") == "code"]) == 1
    # a new configuration asks again; a second open with the same configuration does not
    page.select_option("#activation", "relu")
    app.wait_config(activation="relu")
    page.wait_for_timeout(300)
    assert len([m for m in sent if m.get("type") == "code"]) == 2

    code = "import torch\nfrom torch import nn\n\nmodel = nn.Sequential(nn.Linear(2, 4), nn.ReLU())\n"
    page.evaluate("(text) => window.backlitLearn.onCode({type: 'code', text})", code)
    block = page.locator("#learn pre code")
    assert block.inner_text().strip() == code.strip()
    copy = page.locator("#learn .learn-copy")
    expect(copy).to_be_enabled()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy.click()
    expect(page.locator("#learn .learn-copy-note")).not_to_have_text("")
    note = page.locator("#learn .learn-copy-note").inner_text()
    if note.startswith("Copied"):
        assert page.evaluate("() => navigator.clipboard.readText()") == code


def test_panel_has_no_serious_axe_violations(app):
    axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
    page = app.open().page
    page.locator("#learn-toggle").click()
    app.button("Forward").click()
    expect(page.locator("#learn .learn-cost-times")).to_be_visible()
    page.evaluate("() => window.backlitLearn.onCode({type: 'code', text: 'import torch\\n'})")
    results = axe_sync.Axe().run(page, context="#learn")
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, json.dumps([{k: v[k] for k in ("id", "impact", "help")} | {
        "nodes": [n["target"] for n in v["nodes"][:5]]} for v in bad], indent=1)


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_panel_screenshots(app, size):
    page = app.page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    app.open()
    app.button("Forward").click()
    page.wait_for_function("() => document.getElementById('network').dataset.phase === 'forward-done'")
    page.locator("#learn-toggle").click()
    panel = page.locator("#learn")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box["width"] <= size[0] + 0.5
    if size[0] < 720:
        assert box["x"] == 0 and box["width"] == pytest.approx(size[0], abs=1)   # covers the page
    else:
        assert box["x"] + box["width"] == pytest.approx(size[0], abs=1)           # a right-hand drawer
    # nothing in the panel is wider than the panel (no sideways scrolling on a phone)
    assert page.evaluate("() => { const b = document.querySelector('.learn-body'); return b.scrollWidth <= b.clientWidth + 1; }")
    shot(page, f"panel-{size[0]}")
    page.locator('.learn-sec[data-hl="cost"]').scroll_into_view_if_needed()
    shot(page, f"panel-cost-{size[0]}")


# ---- the tour -----------------------------------------------------------------------------------

def card(page):
    return page.locator("#tour .tour-card")


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_tour_four_steps_each_advanced_by_its_control(first_visit, size):
    page = first_visit(*size)
    c = card(page)
    expect(c).to_be_visible()
    expect(c).to_have_attribute("role", "dialog")
    title_id = c.get_attribute("aria-labelledby")
    assert title_id and page.locator(f"#{title_id}").inner_text().strip()
    # focus is in the card
    assert page.evaluate("() => document.querySelector('#tour .tour-card').contains(document.activeElement)")

    for n, (step, selector) in enumerate(TOUR):
        expect(c).to_have_attribute("data-step", step)
        expect(c).to_contain_text(f"Step {n + 1} of 4")
        target = page.locator(selector)
        expect(target).to_have_class(re.compile(r"\btour-target\b"))
        assert page.locator(".tour-target").count() == 1
        # the card sits inside the viewport and does not hide the control it points at
        # (the page may still be settling as frames arrive: the card follows it within a moment)
        page.wait_for_function(
            """([sel, w, h]) => {
                const c = document.querySelector('#tour .tour-card').getBoundingClientRect();
                const t = document.querySelector(sel).getBoundingClientRect();
                const inside = c.left >= 0 && c.top >= 0 && c.right <= w + 0.5 && c.bottom <= h + 0.5;
                const ox = Math.min(c.right, t.right) - Math.max(c.left, t.left);
                const oy = Math.min(c.bottom, t.bottom) - Math.max(c.top, t.top);
                return inside && (ox <= 0 || oy <= 0);
            }""", arg=[selector, size[0], size[1]], timeout=5000)
        page.wait_for_timeout(250)   # the card's fade-in
        shot(page, f"tour-{size[0]}-{n + 1}-{step}")
        target.click()
        if step == "forward":
            page.wait_for_function("() => ['forward', 'forward-done'].includes(document.getElementById('network').dataset.phase)")
        if step == "train":
            expect(page.locator("#play")).to_have_attribute("aria-label", "Pause")

    expect(c).to_be_hidden()
    assert page.locator(".tour-target").count() == 0
    assert page.evaluate("() => localStorage.getItem('backlit.tour')") == "done"
    # Next sample paused the training the tour started, to play that sample's own blame
    expect(page.locator("#play")).to_have_attribute("aria-label", "Train")


def test_tour_keys_and_next_button_advance(first_visit):
    page = first_visit()
    c = card(page)
    expect(c).to_have_attribute("data-step", "forward")
    # focus is on the card's Next button: Enter presses it
    page.keyboard.press("Enter")
    expect(c).to_have_attribute("data-step", "backward")
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("b")                       # the control's own key
    expect(c).to_have_attribute("data-step", "train")
    page.wait_for_function("() => document.getElementById('network').dataset.phase !== 'idle'")
    c.get_by_role("button", name="Next").click()
    expect(c).to_have_attribute("data-step", "next")
    expect(c.get_by_role("button", name="Finish")).to_be_visible()
    c.get_by_role("button", name="Finish").click()
    expect(c).to_be_hidden()
    assert page.evaluate("() => localStorage.getItem('backlit.tour')") == "done"


def test_tour_skip_is_remembered_and_tour_button_reopens(first_visit):
    page = first_visit()
    c = card(page)
    expect(c).to_be_visible()
    c.get_by_role("button", name="Skip tour").click()
    expect(c).to_be_hidden()
    assert page.locator(".tour-target").count() == 0
    assert page.evaluate("() => localStorage.getItem('backlit.tour')") == "skipped"

    page.reload()
    page.wait_for_function(READY)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 300))))")
    expect(c).to_be_hidden()

    # the Tour button starts it again; Esc closes it and focus goes back to the button
    page.locator("#tour-start").click()
    expect(c).to_be_visible()
    expect(c).to_have_attribute("data-step", "forward")
    expect(page.locator("#forward")).to_have_class(re.compile(r"\btour-target\b"))
    page.keyboard.press("Escape")
    expect(c).to_be_hidden()
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "tour-start"
    assert page.evaluate("() => localStorage.getItem('backlit.tour')") == "skipped"


def test_notour_query_keeps_the_tour_away(first_visit):
    page = first_visit(query="?notour")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 300))))")
    expect(card(page)).to_be_hidden()
    page.locator("#tour-start").click()
    expect(card(page)).to_be_visible()


def test_tour_has_no_serious_axe_violations(first_visit):
    axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")
    page = first_visit()
    expect(card(page)).to_be_visible()
    results = axe_sync.Axe().run(page, context="#tour")
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, json.dumps([{k: v[k] for k in ("id", "impact", "help")} for v in bad], indent=1)


def test_reduced_motion_turns_the_tour_animations_off(browser, base_url):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, reduced_motion="reduce")
    try:
        page = ctx.new_page()
        page.goto(f"{base_url}/")
        page.wait_for_function(READY)
        page.get_by_role("button", name="Free play", exact=True).click()   # the first visit's course offer
        expect(card(page)).to_be_visible()
        names = page.evaluate("""() => [getComputedStyle(document.querySelector('#tour .tour-card')).animationName,
                                        getComputedStyle(document.querySelector('.tour-target')).animationName]""")
        assert names == ["none", "none"]
    finally:
        ctx.close()


def test_the_app_fixture_is_a_returning_visitor(app):
    """conftest marks the tour as skipped, so no other browser test finds a card over the page."""
    page = app.open().page
    page.evaluate("() => new Promise(r => setTimeout(r, 300))")
    expect(card(page)).to_be_hidden()
    assert page.evaluate("() => document.activeElement === document.body")
