"""The teacher's page in Chromium with six students' tabs: the class shows up, Pause everyone pauses
all six, a pushed setup reaches all six, and the spotlight shows the right student's weights."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from backlit.cli.headless import served

from .conftest import App, axe_serious

pytestmark = pytest.mark.browser
CODE = "K7P3QX"


def saved_session(port: int, cookie: str, config: dict) -> dict:
    """A session file as the playground's Save makes it, for ``config``."""
    with connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"Cookie": cookie}) as ws:
        ws.send(json.dumps({"type": "hello", "id": 1}))
        ws.send(json.dumps({"type": "set", "id": 2, "config": config}))
        ws.send(json.dumps({"type": "save", "id": 3}))
        while True:
            raw = ws.recv(timeout=20)
            if isinstance(raw, str) and json.loads(raw).get("type") == "session":
                return json.loads(raw)["session"]


@pytest.fixture()
def classroom(tmp_path):
    with served(None, "--code", CODE, env={"XDG_STATE_HOME": str(tmp_path / "state")}) as server:
        yield server


def test_pause_push_and_spotlight_reach_six_tabs(browser, classroom, tmp_path):
    base = f"http://127.0.0.1:{classroom.port}"
    key = next(re.search(r"teacher\?key=([A-Z0-9]+)", line).group(1)
               for line in classroom.output if "teacher?key=" in line)
    students = []
    for k in range(6):
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        page = context.new_page()
        app = App(page, base)
        page.goto(f"{base}/?code={CODE}&name=Student{k + 1}")
        app.wait_ready()
        page.click("#play")
        expect(page.locator("#play")).to_have_attribute("aria-label", "Pause")
        students.append((context, page, app))

    teacher_ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    teacher = teacher_ctx.new_page()
    errors = []
    teacher.on("pageerror", lambda e: errors.append(str(e)))
    teacher.goto(f"{base}/teacher?key={key}")
    expect(teacher.locator(".card")).to_have_count(6, timeout=15000)
    for k in range(6):
        expect(teacher.locator(".card h3", has_text=f"Student{k + 1}")).to_have_count(1)
    expect(teacher.locator("#join code")).to_have_text(CODE)
    assert axe_serious(teacher) == [], "the teacher's page"

    teacher.click("#pause-all")
    for _, page, _ in students:
        expect(page.locator("#play")).to_have_attribute("aria-label", "Train", timeout=10000)

    cookie = "backlit_class=" + next(c["value"] for c in students[0][0].cookies() if c["name"] == "backlit_class")
    setup = saved_session(classroom.port, cookie, {"lr": 0.3})
    path = tmp_path / "setup.json"
    path.write_text(json.dumps(setup))
    teacher.set_input_files("#push-file", str(path))
    expect(teacher.locator("#status")).to_have_text("Ready to push setup.json.")
    t0 = time.monotonic()
    teacher.click("#push")
    for _, page, _ in students:
        expect(page.locator("#lr")).to_have_value("0.3", timeout=10000)
    print(f"push reached all 6 tabs in {time.monotonic() - t0:.2f} s")

    # a different network for Student3 alone, then the projector shows exactly its weights
    third = saved_session(classroom.port, cookie, {"hidden": [3], "seed": 7})
    path = tmp_path / "third.json"
    path.write_text(json.dumps(third))
    teacher.set_input_files("#push-file", str(path))
    expect(teacher.locator("#status")).to_have_text("Ready to push third.json.")
    teacher.select_option("#push-to", label="Student3")
    teacher.click("#push")
    expect(students[2][1].locator("#network .neuron")).to_have_count(2 + 3 + 1, timeout=10000)
    expect(students[0][1].locator("#network .neuron")).to_have_count(2 + 4 + 2 + 1)
    card = teacher.locator(".card", has_text="Student3")
    with teacher_ctx.expect_page() as opened:
        card.locator("a.spot").click()
    spot = opened.value
    expect(spot.locator("#who")).to_have_text("Student3", timeout=10000)
    expect(spot.locator("#net circle")).to_have_count(6, timeout=10000)
    titles = spot.locator("#net line title").all_text_contents()
    shown = sorted(float(t.rsplit("= ", 1)[1]) for t in titles)
    expected = sorted(round(w, 5) for W in third["weights"] for row in W for w in row)
    assert shown == pytest.approx(expected, abs=1e-9)
    assert axe_serious(spot) == [], "the spotlight"
    assert errors == []
    for context, _, app in students:
        assert app.page_errors == []
        context.close()
    teacher_ctx.close()


@pytest.mark.parametrize("width, height", [(1440, 900), (390, 844)])
def test_the_join_page_asks_for_the_code_and_lets_the_student_in(browser, classroom, width, height):
    base = f"http://127.0.0.1:{classroom.port}"
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    app = App(page, base)
    page.goto(base + "/")
    expect(page.locator("h1")).to_have_text("Join the class")
    assert axe_serious(page) == []
    page.fill("#code", "WRONG1")
    page.click("button[type=submit]")
    expect(page.locator(".note")).to_contain_text("not right")
    page.fill("#code", CODE.lower())
    page.fill("#name", "Ada")
    page.click("button[type=submit]")
    app.wait_ready()
    assert page.url == base + "/", "the code does not stay in the address bar"
    assert page.evaluate("document.cookie") == "", "the class cookie is HttpOnly"
    context.close()
