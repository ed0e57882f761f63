"""The course in Chromium: a learner walks every lesson, step by step, with the engine's answers (and
with typical wrong ones); the lesson view shows only what the step needs; axe; screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from backlit.playground import lessons
from backlit.playground.lessons import LESSONS
from backlit.playground.session import Playground
from .conftest import axe_serious

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

FAST = 8  # the browser walk trains at 1,000 steps/s (tests/test_lessons.py times the default pace)
BUTTONS = {"play": "#play", "pause": "#play", "next_sample": "#next-sample", "apply_update": "#apply-update",
           "nudge": "#nudge", "forward": "#forward", "backward": "#backward", "code": "#learn-toggle"}


def mirror(page) -> Playground:
    """The page's session rebuilt from what the page was sent (config, weights, selected sample): the
    engine computes the answers on it, as the server will grade them."""
    st = page.evaluate("() => window.backlitDebug.state")
    header = page.evaluate("() => window.backlitDebug.lastFrameHeader")
    pg = Playground()
    pg.hello(config=st["config"], weights=header["weights"], biases=header["biases"])
    pg.selected = st["selected"]
    return pg


def current_step(page):
    return page.evaluate("() => { const m = window.backlitLesson.msg; return m && [m.lesson, m.step]; }")


def wait_step(page, name, k):
    page.wait_for_function("([n, k]) => { const m = window.backlitLesson && window.backlitLesson.msg;"
                           " return m && m.lesson === n && m.step === k; }", arg=[name, k])
    expect(page.locator(".lesson-step h3")).to_contain_text(f"Step {k + 1} of {len(LESSONS[name].steps)}")
    # the page has the step's own session: its setup's weights arrived with the lesson message's replies
    page.wait_for_function("() => window.backlitDebug.lastFrameHeader && window.backlitDebug.state")


def act(app, step):
    """Do the step's action as a learner: its buttons, its settings (sent as the page sends them)."""
    page = app.page
    for type_, payload in step.solution:
        if type_ == "saliency":
            page.locator("#show-saliency").check()
        elif type_ == "check":
            page.locator(f'#network .link[data-layer="{payload["layer"]}"][data-i="{payload["i"]}"]'
                         f'[data-j="{payload["j"]}"]').dispatch_event("click")
            app.button("Check it").click()
        elif type_ == "lesson_expr":
            page.locator("#lab-text").fill(payload["text"])
            page.locator("#lab-values").fill(", ".join(f"{k} = {v:g}" for k, v in payload["values"].items()))
            app.button("Draw").click()
        elif type_ in BUTTONS:
            if type_ == "play" and page.evaluate("() => window.backlitDebug.state.playing"):
                continue
            page.locator(BUTTONS[type_]).click()
            if type_ in ("forward", "backward", "next_sample"):
                page.wait_for_timeout(150)
        else:
            page.evaluate("([t, p]) => window.backlitDebug.send(t, p)", [type_, payload])


def answer(page, check, pg, wrong=False):
    """Enter the engine's answer (or a typical wrong one); returns the mistake expected to be named."""
    if isinstance(check, lessons.Number):
        key, tol = check.key(pg), check.tolerance(pg)
        value, named = key, None
        if wrong:
            named, value = next(((m, v) for m, _, v in check.mistakes(pg) if abs(v - key) > tol), (None, key + 99 * tol + 1))
        page.locator("#lesson-answer").fill(f"{value:.6g}")
    elif isinstance(check, lessons.Links):
        key = set(check.key(pg))
        picks = {o[0] for o in check.options(pg)} - key if wrong else key
        named = "wrong sign" if wrong else None
        for box in page.locator('.lesson-form input[name="lesson-opt"]').all():
            box.set_checked(box.get_attribute("value") in picks)
    else:
        index = (check.correct + 1) % len(check.options) if wrong else check.correct
        page.locator(f'#lesson-opt-{index}').check()
        named = None
    page.get_by_role("button", name="Check", exact=True).click()
    return named


def test_a_learner_walks_every_lesson_with_the_engines_answers(app):
    page = app.page
    app.open()
    app.button("Course").click()
    app.button("Start lesson 1").click()
    names = list(LESSONS)
    for n, name in enumerate(names):
        les = LESSONS[name]
        for k, step in enumerate(les.steps):
            wait_step(page, name, k)
            shown = set(page.evaluate("() => [...document.querySelectorAll('[data-region]')]"
                                      ".filter(e => !e.classList.contains('lesson-hidden')).map(e => e.dataset.region)"))
            assert shown == set(step.show), f"{name} step {k}: the page shows only what the step needs"
            check = step.check
            if check.answered:
                fb = page.locator(".lesson-feedback")
                answer(page, check, mirror(page))
                expect(fb).to_have_attribute("data-correct", "true")
            else:
                if isinstance(check, lessons.Goal):
                    page.evaluate("(v) => window.backlitDebug.send('set', {config: {speed: v}})", FAST)
                    expect(page.locator(".lesson-progress")).to_be_visible()
                act(app, step)
            expect(page.locator(".lesson-step")).to_have_attribute("data-done", "true", timeout=90_000)
            expect(page.locator(f".lesson-dot >> nth={k}")).to_have_attribute("aria-label", f"Step {k + 1}, done")
            if page.evaluate("() => window.backlitDebug.state.playing"):
                if page.locator("#play").is_visible():
                    page.locator("#play").click()
                else:
                    page.evaluate("() => window.backlitDebug.send('pause')")
            if page.locator("#learn").is_visible():
                page.locator("#learn-toggle").click()
            if k + 1 < len(les.steps):
                app.button("Next step →").click()
            elif n + 1 < len(names):
                app.button("Next lesson →").click()
    done = page.evaluate("() => window.backlitLesson.msg.done")
    assert done == {name: list(range(len(les.steps))) for name, les in LESSONS.items()}
    # kept in the browser: a new tab of the same browser shows every lesson done
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('backlit.course')).done")
    assert stored == done
    assert not app.page_errors


def test_wrong_answers_get_feedback_that_names_the_mistake(app):
    page = app.page
    app.open()
    for name, les in LESSONS.items():
        for k, step in enumerate(les.steps):
            if not step.check.answered:
                continue
            page.evaluate("([n, k]) => { location.hash = `lesson=${n}&step=${k + 1}`; }", [name, k])
            wait_step(page, name, k)
            pg = mirror(page)
            named = answer(page, step.check, pg, wrong=True)
            fb = page.locator(".lesson-feedback")
            expect(fb).to_have_attribute("data-correct", "false")
            if named:
                expect(fb.locator(".lesson-mistake")).to_contain_text(named)
            expect(page.locator(".lesson-step")).to_have_attribute("data-done", "false")
            if isinstance(step.check, lessons.Number):
                # the second wrong answer adds the hint, the third the worked line with the real numbers
                answer(page, step.check, pg, wrong=True)
                expect(fb.locator(".lesson-hint")).to_be_visible()
                answer(page, step.check, pg, wrong=True)
                expect(fb.locator(".lesson-worked")).to_contain_text(f"{step.check.key(pg):.6g}")
    assert not app.page_errors


def test_a_lesson_link_opens_its_step_and_free_play_shows_everything(app):
    page = app.page
    app.open("#lesson=blame&step=3")
    wait_step(page, "blame", 2)
    assert page.evaluate("location.hash") == "#lesson=blame&step=3"
    expect(page.locator("#play")).to_be_hidden()
    expect(page.locator("#lesson-opt-0")).to_be_attached()
    # no answer reached the page: the selected sample's trace was withheld
    assert page.evaluate("() => window.__t.texts.includes('trace')") is False
    # skipping the exercise: the next step's Backward gets the sample's trace and animates it
    page.locator("#lesson-next").focus()
    page.keyboard.press("Enter")
    wait_step(page, "blame", 3)
    # the keyboard's place: the new step's heading, ready to be read
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'lesson-step-h'")
    page.locator("#backward").click()
    expect(page.locator("#network")).to_have_attribute("data-phase", "backward-done")
    expect(page.locator(".lesson-step")).to_have_attribute("data-done", "true")
    page.select_option("#lesson-pick", "scale")
    wait_step(page, "scale", 0)
    app.button("Free play").click()
    expect(page.locator("#lesson")).to_be_hidden()
    for sel in ("#play", "#dataset", "#forward", "#lr", "#plane"):
        expect(page.locator(sel)).to_be_visible()
    assert not page.evaluate("() => location.hash.includes('lesson=')")


def test_the_first_visit_offers_lesson_1_and_free_play_starts_the_tour(browser, base_url):
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    page.goto(base_url + "/")
    page.get_by_role("button", name="Free play", exact=True).click()
    expect(page.locator("#tour .tour-card")).to_be_visible()
    ctx.close()


def test_the_first_visit_offers_lesson_1(page, base_url):
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Welcome to backlit")).to_be_visible()
    expect(page.locator("#tour .tour-card")).to_be_hidden()
    page.get_by_role("button", name="Start lesson 1").click()
    expect(page.locator(".lesson-title")).to_have_text(LESSONS["first-look"].title)
    expect(page.locator(".lesson-words")).to_contain_text("The network makes a guess")



@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_axe_finds_nothing_serious_in_the_lesson_view(app, width, height):
    page = app.page
    page.set_viewport_size({"width": width, "height": height})
    for name, k in (("blame", 0), ("blame", 2), ("chain-rule", 2), ("training", 0)):
        app.open(f"#lesson={name}&step={k + 1}")
        wait_step(page, name, k)
        assert axe_serious(page, name_rule=False) == [], f"{name} step {k}"
    app.open("#lesson=blame&step=1")
    wait_step(page, "blame", 0)
    answer(page, LESSONS["blame"].steps[0].check, mirror(page), wrong=True)
    expect(page.locator(".lesson-feedback")).to_have_attribute("data-correct", "false")
    assert axe_serious(page, name_rule=False) == [], "with feedback"
    app.button("Free play").click()
    app.button("Course").click()
    expect(page.get_by_role("button", name="Start lesson 1")).to_be_visible()
    assert axe_serious(page, name_rule=False) == [], "the list of lessons"


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_screenshots_of_each_lessons_first_step(app, width, height):
    page = app.page
    page.set_viewport_size({"width": width, "height": height})
    out = ARTIFACTS / "course"
    out.mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(LESSONS):
        app.open(f"#lesson={name}&step=1")
        wait_step(page, name, 0)
        app.wait_drawn()
        page.wait_for_timeout(300)
        path = out / f"{n + 1:02d}-{name}-{width}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000


def test_the_notebook_widget_opens_a_lesson(page, recording_comm):
    pytest.importorskip("anywidget")
    import json

    import backlit

    from .test_widget import HOST, ORIGIN, Kernel

    widget = backlit.show(lesson="chain-rule")
    traits = json.dumps({k: getattr(widget, k) for k in ("_esm", "_css", "_html", "_main")})
    page.route(f"{ORIGIN}/", lambda r: r.fulfill(status=200, content_type="text/html", body=HOST))
    page.route(f"{ORIGIN}/traits.json", lambda r: r.fulfill(status=200, content_type="application/json", body=traits))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("() => window.__rendered === true")
    kernel = Kernel(page, widget)
    try:
        kernel.until("() => window.backlitLesson && window.backlitLesson.active")
        expect(page.locator(".lesson-title")).to_have_text(LESSONS["chain-rule"].title)
        expect(page.locator("#play")).to_be_hidden()     # the calmer screen, in the widget too
        key = LESSONS["chain-rule"].steps[0].check.key(widget.playground)
        page.locator("#lesson-answer").fill(f"{key:g}")
        page.get_by_role("button", name="Check", exact=True).click()
        kernel.until("() => document.querySelector('.lesson-feedback').dataset.correct === 'true'")
        assert widget.playground.course.done == {"chain-rule": {0}}
        assert errors == []
    finally:
        widget.close()


def test_the_chain_rule_graph_shows_question_marks_until_answered_then_the_engines_numbers(app):
    page = app.page
    app.open("#lesson=chain-rule&step=1")
    wait_step(page, "chain-rule", 0)
    lab = page.locator(".lesson-lab .exprlab")
    expect(lab).to_be_visible()
    expect(lab.locator(".el-passes")).to_have_attribute("data-reverse", "1")
    assert "?" in lab.inner_text()
    expect(page.locator("#lab-text")).to_have_count(0)          # no lab form while a number is asked for
    answer(page, LESSONS["chain-rule"].steps[0].check, None)
    expect(page.locator(".lesson-feedback")).to_have_attribute("data-correct", "true")
    expect(page.locator("#lab-text")).to_be_visible()
    assert "?" not in page.locator(".lesson-lab .exprlab svg").text_content()
    # a refused expression: the server names the problem, and the graph stays
    page.locator("#lab-text").fill("f = x +* y")
    app.button("Draw").click()
    expect(page.locator("#status")).to_contain_text("text")
    expect(lab).to_contain_text("(a + b)")
    assert not app.page_errors
