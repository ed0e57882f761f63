"""The learner's path, seen whole (issue 21): the tour waits for what it shows and parks away from it,
panels bring themselves into view and make room, the page's sentences match what is on screen (on a
phone too), one naming scheme everywhere, and the graph view fits. Real Chromium, real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import axe_serious

READY = ("() => window.backlitDebug && window.backlitDebug.state && window.backlitDebug.lastFrameHeader"
         " && document.querySelectorAll('#network .neuron').length > 0")
RECT = "(sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }"


@pytest.fixture
def fresh(browser, base_url):
    """A new context per page: first visit (free play chosen, so the tour runs) unless returning=True."""
    contexts = []

    def open_page(width=1440, height=900, touch=False, returning=False):
        ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch, is_mobile=touch)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        if returning:
            page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
        page.goto(f"{base_url}/")
        page.wait_for_function(READY)
        if not returning:   # the first visit offers the course; choosing free play starts the tour
            page.get_by_role("button", name="Free play", exact=True).click()
        return page

    yield open_page
    for ctx in contexts:
        ctx.close()


SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def rect(page, sel):
    return page.evaluate(RECT, sel)


def overlap(a, b) -> float:
    return max(0, min(a["right"], b["right"]) - max(a["left"], b["left"])) * \
        max(0, min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]))


def inside(r, w, h) -> bool:
    return r["left"] >= -0.5 and r["top"] >= -0.5 and r["right"] <= w + 0.5 and r["bottom"] <= h + 0.5


STEPS = [("forward", "#forward", "#net-stage"), ("backward", "#backward", "#net-stage"),
         ("train", "#play", ".col-out"), ("next", "#next-sample", "#net-stage")]


@pytest.mark.parametrize("size", [(1440, 900, False), (390, 844, True)], ids=["desktop", "phone"])
def test_the_tour_waits_for_its_animation_and_never_hides_its_control(fresh, size):
    w, h, touch = size
    page = fresh(w, h, touch)
    card = page.locator("#tour .tour-card")
    for step, target, watch in STEPS:
        expect(card).to_have_attribute("data-step", step)
        page.wait_for_timeout(400)                     # the card follows the page as it settles
        c, t = rect(page, "#tour .tour-card"), rect(page, target)
        assert inside(c, w, h) and inside(t, w, h), (step, c, t)       # the control is on screen
        assert overlap(c, t) == 0, (step, c, t)
        if not touch:   # on a wide screen it also keeps clear of what the step asks you to watch
            assert overlap(c, rect(page, watch)) == 0, (step, c, rect(page, watch))
        if touch:
            expect(card).to_contain_text("Tap the ringed button")
        page.locator(target).click()
        if step in ("forward", "backward"):
            # the card stays on this step while its pass plays, and the page does not jump away
            y = page.evaluate("() => scrollY")
            page.wait_for_function("(p) => document.getElementById('network').dataset.phase === p", arg=step)
            assert card.get_attribute("data-step") == step
            assert page.evaluate("() => scrollY") == y
            net = rect(page, "#net-stage")
            assert net["bottom"] > 0 and net["top"] < h        # the pass plays on screen
        if step == "train":
            page.wait_for_timeout(1500)
            page.locator("#play").click()                       # Pause
    expect(card).to_be_hidden()
    pass


def test_at_1440_the_network_loss_chart_and_whole_boundary_show_while_training(fresh):
    page = fresh(returning=True)
    page.locator("#play").click()
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step > 20")
    assert page.evaluate("() => scrollY") == 0
    for sel in ("#net-stage", "#loss-chart", "#plane"):
        assert inside(rect(page, sel), 1440, 900), (sel, rect(page, sel))
    shot(page, "training-1440")
    page.locator("#play").click()


def test_the_inspector_comes_into_view_and_learn_makes_room(fresh):
    page = fresh(returning=True)
    page.check("#skip-animation")
    page.locator("#backward").click()
    page.wait_for_function("() => document.getElementById('network').dataset.phase === 'backward-done'")
    page.evaluate("() => scrollTo(0, 0)")
    page.locator("#network .link-hit").first.dispatch_event("click")
    page.wait_for_function("() => { const r = document.getElementById('inspector').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < innerHeight - 80; }")
    page.evaluate("() => scrollTo(0, 0)")
    page.locator("#learn-toggle").click()
    expect(page.locator("#learn")).to_be_visible()
    learn, out, net = rect(page, "#learn"), rect(page, ".col-out"), rect(page, "#net-stage")
    assert overlap(learn, out) == 0 and overlap(learn, net) == 0, (learn, out, net)
    shot(page, "learn-1440")


def test_the_pages_words_match_what_it_shows(fresh):
    page = fresh(returning=True)
    page.locator("#learn-toggle").click()
    learn = page.locator("#learn")
    # §4 names the colours in the default palette too
    expect(learn.locator(".learn-inc").first).to_have_text("Orange")
    expect(learn.locator(".learn-dec").first).to_have_text("Green")
    text = learn.inner_text()
    assert "each one's fill is its a" not in text and "how strongly it fires" not in text
    assert "the number under each one is its a" in text and "its number is z" in text
    assert "two averages" in text and "averaged over all the training and test points" not in text
    assert "ring grows as √|δ|" in text
    # and the neuron's number really is its a (the output's: z, its activation is linear)
    page.check("#skip-animation")
    page.locator("#forward").click()
    page.wait_for_function("() => document.getElementById('network').dataset.phase === 'forward-done'")
    t = page.evaluate("() => window.backlitDebug.lastTrace")
    shown = page.locator('#network .neuron[data-col="1"][data-index="0"] .value').text_content()
    assert float(shown) == pytest.approx(t["layers"][0]["a"][0], abs=6e-4)
    out = t["layers"][-1]
    last = page.evaluate("() => document.querySelectorAll('#network .neuron').length") - 1
    shown = page.locator(f'#network .neuron[data-col="{len(t["layers"])}"] .value').text_content()
    assert float(shown) == pytest.approx(out["z"][0], abs=6e-4) and last > 0


def test_on_a_phone_no_sentence_speaks_of_keys_or_hovering(fresh):
    page = fresh(390, 844, touch=True, returning=True)
    expect(page.locator(".keys")).to_be_hidden()
    for hint in page.locator("#inspector .key-hint").all():
        expect(hint).to_be_hidden()
    visible = page.evaluate("() => document.body.innerText")
    assert "Hover a neuron" not in visible and "Hover over a paragraph" not in visible
    assert not re.search(r"\bthe [FBN] key\b", visible)
    # a tapped link's tooltip does not stay over the neurons
    page.locator("#network .link-hit").first.tap()
    expect(page.locator("#net-tip")).to_be_hidden()


def test_one_name_per_weight_everywhere(fresh):
    page = fresh(returning=True)
    page.check("#skip-animation")
    page.locator("#backward").click()
    page.wait_for_function("() => document.getElementById('network').dataset.phase === 'backward-done'")
    link = page.locator('#network .link[data-layer="1"][data-i="0"][data-j="1"]')
    expect(link.locator("title")).to_contain_text("W2[1,2] (h1.2 → h2.1)")
    link.dispatch_event("click")
    head = page.locator("#inspector .insp-head")
    expect(head).to_contain_text("Weight W2[1,2] h1.2 → h2.1")
    expect(head).to_contain_text("row 1: the neuron it feeds (h2.1); column 2: the input it reads (h1.2)")
    expect(page.locator("#inspector #blame")).to_contain_text("δ(h2.1)")
    # the Learn panel states the scheme once
    page.locator("#learn-toggle").click()
    naming = page.locator("#learn [data-naming]")
    expect(naming).to_have_count(1)
    expect(naming).to_contain_text("W2[3,1] is the weight from neuron 1 of the layer before (h1.1) into neuron 3 (h2.3)")
    page.keyboard.press("Escape")
    # the graph view's neuron zoom uses the same names
    page.locator("#show-graph").click()
    gv = page.locator("#graph-view")
    z1 = gv.locator(".gv-node", has_text="z1 = linear").first
    z1.click()
    gv.get_by_role("button", name="Zoom into neuron h1.2").click()
    expect(gv.locator(".gv-title")).to_contain_text("neuron h1.2")
    expect(gv.locator(".gv-node", has_text="W1[2,1]")).to_have_count(2)   # the weight and its product
    shot(page, "naming-zoom")


def test_the_graph_view_fits_and_says_each_ops_rule(fresh):
    page = fresh(returning=True)
    page.locator("#show-graph").click()
    gv = page.locator("#graph-view")
    expect(gv.locator(".gv-node").first).to_be_visible()
    scroller = rect(page, "#graph-view .gv-scroll")
    drawn = rect(page, "#graph-view .gv-svg")
    assert drawn["right"] - drawn["left"] <= scroller["right"] - scroller["left"] + 1    # fitted: no sideways scroll
    assert page.evaluate("() => getComputedStyle(document.getElementById('graph-panel')).overflowY") == "visible"
    gv.get_by_role("button", name="Actual size").click()
    expect(gv.get_by_role("button", name="Fit to width")).to_be_visible()
    gv.get_by_role("button", name="Fit to width").click()
    for _ in range(60):
        gv.locator(".gv-backward").click()
        if gv.locator(".gv-sends").count() and "linear" in gv.locator(".gv-explain h4").inner_text() + \
                gv.locator(".gv-explain").inner_text():
            break
    explain = gv.locator(".gv-explain").inner_text()
    assert "Jacobian" not in explain
    assert re.search(r"∂z/∂x = W|∂z/∂W = x|∂z/∂b = 1|\d", explain), explain
    # the node being stepped is inside the scroller's view
    cur = rect(page, "#graph-view .gv-node[data-state='current']")
    page.wait_for_timeout(600)
    cur = rect(page, "#graph-view .gv-node[data-state='current']")
    sc = rect(page, "#graph-view .gv-scroll")
    assert cur["left"] >= sc["left"] - 1 and cur["right"] <= sc["right"] + 1


@pytest.mark.parametrize("size", [(1440, 900, False), (390, 844, True)], ids=["desktop", "phone"])
def test_axe_on_what_this_path_added(fresh, size):
    """The tour card, Predict with its hidden blame, the Learn panel's names, the fitted graph view."""
    w, h, touch = size
    page = fresh(w, h, touch)
    expect(page.locator("#tour .tour-card")).to_be_visible()
    assert axe_serious(page) == [], "tour"
    page.get_by_role("button", name="Skip tour").click()
    page.check("#skip-animation")
    page.locator("#backward").click()
    page.wait_for_function("() => document.getElementById('network').dataset.phase === 'backward-done'")
    page.locator("#network .link-hit").first.dispatch_event("click")
    page.check("#predict-mode")
    expect(page.locator("#inspector [data-hidden-blame]")).to_be_visible()
    assert axe_serious(page) == [], "predict, blame hidden"
    page.uncheck("#predict-mode")
    page.locator("#show-graph").click()
    expect(page.locator("#graph-view .gv-node").first).to_be_visible()
    assert axe_serious(page) == [], "graph view"
    page.locator("#learn-toggle").click()
    expect(page.locator("#learn [data-naming]")).to_be_visible()
    assert axe_serious(page) == [], "learn panel"
