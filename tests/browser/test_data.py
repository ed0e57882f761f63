"""Your own data on the page (issue 16): points by hand, Clear, CSV in and out (every bad line named,
nothing half-loaded, the rescale offer), custom points through Save and Load, and Record to WebM."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "data"


# ---- helpers ----------------------------------------------------------------------------------------
def plane_xy(app, x: float, y: float) -> tuple[float, float]:
    """Screen position of plane coordinates (x, y), from the plane's own geometry (toPx)."""
    app.page.locator("#plane").scroll_into_view_if_needed()
    p = app.page.evaluate(
        """([x, y]) => {
            const plane = window.backlitViews.plane;
            const r = plane.canvas.getBoundingClientRect();
            const [px, py] = plane.toPx(x, y);
            return [r.left + px, r.top + py];
        }""",
        [x, y],
    )
    return p[0], p[1]


def points(app) -> dict:
    return app.page.evaluate("() => window.backlitDebug.app.points")


def point_set(rows, digits: int = 6) -> list:
    return sorted((round(float(a), digits), round(float(b), digits), round(float(c), digits)) for a, b, c in rows)


def all_points(app) -> list:
    p = points(app)
    return point_set(p["train"] + p["test"])


def wait_points(app, n_train: int, n_test: int | None = None) -> None:
    app.page.wait_for_function(
        """([n, m]) => {
            const p = window.backlitDebug.app.points, s = window.backlitDebug.state;
            return p && p.train.length === n && (m === null || p.test.length === m) && s.n_train === n;
        }""",
        arg=[n_train, n_test],
    )


def open_editor(app) -> None:
    toggle = app.button("Edit data")
    toggle.click()
    expect(app.page.locator(".de-toggle")).to_have_attribute("aria-pressed", "true")
    expect(app.page.locator(".de-tools")).to_be_visible()


def upload_csv(app, text: str, name: str = "points.csv") -> None:
    app.page.locator('input[type="file"][accept=".csv,text/csv"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def read_csv_rows(text: str) -> list:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    if rows and not re.match(r"^[-+.\d]", rows[0][0].strip()):
        rows = rows[1:]   # the header
    return point_set(rows)


def good_csv(n: int = 40) -> str:
    lines = ["x1,x2,label"]
    for k in range(n):
        x = -5 + 10 * (k % 8) / 7
        y = -5 + 10 * (k // 8) / 4.5
        lines.append(f"{x:.3f},{y:.3f},{int(x * y > 0)}")
    return "\n".join(lines) + "\n"


# ---- points by hand, Save and Load ------------------------------------------------------------------
def test_points_by_hand_survive_save_and_load(app, tmp_path):
    page = app.page
    app.open()
    open_editor(app)
    n = app.state()["n_train"] + app.state()["n_test"]

    # Clear asks first, naming what is lost
    messages = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    app.button("Clear all points").click()
    wait_points(app, 0, 0)
    assert f"all {n} points" in messages[0]
    expect(page.locator(".de-notice")).to_be_visible()
    expect(page.locator(".de-notice")).to_contain_text("the link does not include these points")

    # five points by click, alternating classes; each becomes the selected sample
    spots = [(-4.0, -4.0, 0), (4.0, 4.0, 1), (-4.0, 4.0, 0), (4.0, -4.0, 1), (0.0, 0.0, 1)]
    for k, (x, y, label) in enumerate(spots):
        page.get_by_role("radio", name=f"class {label}").check()
        page.mouse.click(*plane_xy(app, x, y))
        wait_points(app, k + 1)
        page.wait_for_function(
            "(k) => { const s = window.backlitDebug.selection; return s && s.index === k; }", arg=k)
    got = points(app)["train"]
    for (x, y, label), row in zip(spots, got):
        assert abs(row[0] - x) < 0.1 and abs(row[1] - y) < 0.1 and row[2] == label, (row, (x, y, label))
    # the new point's trace is there: Forward works on it
    page.wait_for_function("() => window.backlitDebug.lastTrace && window.backlitDebug.lastTrace.index === 4")

    # a shift-click far from every point says so, and removes nothing
    page.keyboard.down("Shift")
    page.mouse.click(*plane_xy(app, 0.0, 4.0))
    page.keyboard.up("Shift")
    expect(page.locator(".de-msg")).to_contain_text("no point within 1 unit")
    assert len(points(app)["train"]) == 5

    # remove two by shift-click (near, not exactly on, them)
    for k, (x, y) in enumerate([(4.2, 3.8), (-3.9, 4.1)]):
        page.keyboard.down("Shift")
        page.mouse.click(*plane_xy(app, x, y))
        page.keyboard.up("Shift")
        wait_points(app, 4 - k)
    kept = [(-4.0, -4.0, 0), (4.0, -4.0, 1), (0.0, 0.0, 1)]
    assert point_set(points(app)["train"], 1) == point_set(kept, 1)

    # train a few steps on them
    for _ in range(3):
        app.button("Step").click()
    page.wait_for_function("() => (window.backlitDebug.lastFrameHeader.step || 0) >= 3")

    # Save: the file holds the points
    with page.expect_download() as info:
        page.locator(".de-notice button", has_text="Save").click()
    path = tmp_path / "session.json"
    info.value.save_as(path)
    saved = json.loads(path.read_text())
    assert point_set(saved["points"]["train"] + saved["points"]["test"], 1) == point_set(kept, 1)
    before = all_points(app)

    # other data, then Load brings the points back
    app.button("Regenerate").click()
    page.wait_for_function("() => window.backlitDebug.state.custom_data === false")
    expect(page.locator(".de-notice")).to_be_hidden()
    page.locator("#load-file").set_input_files(str(path))
    page.wait_for_function("() => window.backlitDebug.state.custom_data === true")
    wait_points(app, 3)
    assert all_points(app) == before
    expect(page.locator(".de-notice")).to_be_visible()


def test_keyboard_adds_and_removes_points(app):
    page = app.page
    app.open()
    open_editor(app)
    n_train = app.state()["n_train"]
    page.get_by_label("x₁ of the point").fill("5.5")
    page.get_by_label("x₂ of the point").fill("-5.5")
    page.get_by_label("x₂ of the point").press("Enter")
    wait_points(app, n_train + 1)
    assert points(app)["train"][-1][:2] == [5.5, -5.5]
    expect(page.locator(".de-msg")).to_contain_text("selected sample")
    app.button("Remove nearest").click()
    wait_points(app, n_train)
    # on touch, a press held for half a second removes the nearest point (a short tap adds one)
    page.get_by_label("x₂ of the point").press("Enter")
    wait_points(app, n_train + 1)
    x, y = plane_xy(app, 5.4, -5.4)
    page.evaluate(
        """([x, y]) => {
            const c = document.getElementById('plane');
            c.dispatchEvent(new PointerEvent('pointerdown', {pointerType: 'touch', clientX: x, clientY: y, bubbles: true}));
            setTimeout(() => c.dispatchEvent(new PointerEvent('pointerup', {pointerType: 'touch', clientX: x, clientY: y, bubbles: true})), 700);
        }""",
        [x, y],
    )
    wait_points(app, n_train)
    # the arrows move between the class radios, and do not train a step
    step = app.header()["step"]
    page.get_by_role("radio", name="class 0").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="class 1")).to_be_checked()
    page.wait_for_timeout(300)
    assert app.header()["step"] == step
    # every control of the panel has a name
    names = page.evaluate("""() => [...document.querySelectorAll('#data-edit button, #data-edit input, #data-edit textarea')]
        .filter(e => e.type !== 'file').map(e => ({tag: e.tagName, name: (e.labels && e.labels[0] && e.labels[0].textContent)
            || e.getAttribute('aria-label') || e.textContent}))""")
    assert all(n["name"].strip() for n in names), names


def test_the_picker_follows_the_kind_of_problem(app):
    page = app.page
    app.open()
    open_editor(app)
    page.select_option("#dataset", "blobs")
    app.wait_config(dataset="blobs")
    k = app.state()["classes"]
    expect(page.locator(".de-classes").get_by_role("radio")).to_have_count(k)
    page.get_by_role("radio", name=f"class {k - 1}").check()
    n = app.state()["n_train"]
    page.mouse.click(*plane_xy(app, 5.0, 5.0))
    wait_points(app, n + 1)
    assert points(app)["train"][-1][2] == k - 1

    page.select_option("#dataset", "plane")
    app.wait_config(dataset="plane")
    expect(page.locator(".de-classes")).to_be_hidden()
    value = page.get_by_label("Value of new points")
    expect(value).to_be_visible()
    value.fill("0.75")
    n = app.state()["n_train"]
    page.mouse.click(*plane_xy(app, -5.0, 5.0))
    wait_points(app, n + 1)
    assert points(app)["train"][-1][2] == 0.75


# ---- CSV --------------------------------------------------------------------------------------------
def test_a_csv_with_bad_rows_lists_them_and_changes_nothing(app):
    page = app.page
    app.open()
    before = all_points(app)
    bad = "x1,x2,label\n1,2,0\nabc,1,0\n-1,0.5,1\n1,2\n0,0,1\n1,2,0.5\n"
    upload_csv(app, bad, "bad.csv")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("3 bad rows")
    expect(alert).to_contain_text("bad.csv")
    items = alert.locator("li")
    expect(items).to_have_count(3)
    texts = items.all_inner_texts()
    for line, text in zip((3, 5, 7), texts):
        assert text.startswith(f"line {line}"), texts
    assert "not a number" in texts[0] and "columns" in texts[1] and "class index" in texts[2]
    expect(page.get_by_role("button", name="Rescale into the plane")).to_have_count(0)
    assert all_points(app) == before
    assert app.state()["custom_data"] is False
    page.get_by_role("button", name="Dismiss the CSV errors").click()
    expect(items).to_have_count(0)


def test_a_good_csv_trains_and_downloads_as_uploaded(app, tmp_path):
    page = app.page
    app.open()
    text = good_csv(40)
    upload_csv(app, text, "good.csv")
    page.wait_for_function(
        "() => window.backlitDebug.state.custom_data && window.backlitDebug.app.points"
        " && window.backlitDebug.app.points.train.length + window.backlitDebug.app.points.test.length === 40")
    assert all_points(app) == read_csv_rows(text)
    assert app.epoch() == 0
    app.button("Train").click()
    page.wait_for_function("() => parseFloat(document.getElementById('epoch').textContent) > 0")
    app.button("Pause").click()

    with page.expect_download() as info:
        app.button("Download data (.csv)").click()
    assert info.value.suggested_filename.endswith(".csv")
    path = tmp_path / "out.csv"
    info.value.save_as(path)
    assert read_csv_rows(path.read_text()) == read_csv_rows(text)


def test_paste_a_csv_outside_the_plane_and_rescale_it(app):
    page = app.page
    app.open()
    before = all_points(app)
    app.button("Paste CSV…").click()
    dialog = page.get_by_role("dialog", name="Paste CSV")
    expect(dialog).to_be_visible()
    dialog.get_by_label("CSV text").fill("x1,x2,label\n0,0,0\n40,-20,1\n-30,10,1\n2,3,0\n")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "paste-dialog.png"))
    dialog.get_by_role("button", name="Load these points").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("2 bad rows")
    expect(alert.locator("li")).to_have_count(2)
    assert all_points(app) == before
    page.locator("#data-edit").screenshot(path=str(SHOTS / "rescale-offer.png"))
    page.get_by_role("button", name="Rescale into the plane").click()
    page.wait_for_function("() => window.backlitDebug.state.custom_data === true")
    expect(alert.locator("li")).to_have_count(0)
    p = points(app)
    assert len(p["train"]) + len(p["test"]) == 4
    assert max(abs(v) for row in p["train"] + p["test"] for v in row[:2]) <= 6 + 1e-9


# ---- Record ----------------------------------------------------------------------------------------
def test_record_downloads_a_webm(app, tmp_path):
    page = app.page
    app.open()
    button = page.locator("#record")
    if button.is_disabled():
        pytest.skip(f"this Chromium cannot record: {button.get_attribute('title')}")
    button.click()
    expect(button).to_have_text(re.compile(r"^Stop \(0:0\d\)$"))
    app.button("Train").click()
    page.wait_for_timeout(1200)
    expect(button).to_have_text(re.compile(r"^Stop \(0:0[1-9]\)$"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".statusline").screenshot(path=str(SHOTS / "recording.png"))
    with page.expect_download() as info:
        button.click()
    app.button("Pause").click()
    expect(button).to_have_text("Record")
    assert info.value.suggested_filename == f"backlit-{app.config()['dataset']}.webm"
    path = tmp_path / "rec.webm"
    info.value.save_as(path)
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:4] == b"\x1a\x45\xdf\xa3"   # EBML: a WebM/Matroska file


# ---- screenshots -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_screenshots_of_edit_mode_and_csv_errors(app, size):
    page = app.page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    app.open()
    open_editor(app)
    page.get_by_role("radio", name="class 1").check()
    page.mouse.click(*plane_xy(app, 2.0, 2.0))
    page.wait_for_function("() => window.backlitDebug.state.custom_data === true")
    upload_csv(app, "x1,x2,label\n1,2,0\nabc,1,0\n-1,0.5,1\n1,2\n0,0,1\n1,2,0.5\n40,1,1\n", "bad.csv")
    expect(page.get_by_role("alert").locator("li")).to_have_count(4)
    app.wait_drawn()
    SHOTS.mkdir(parents=True, exist_ok=True)
    tag = f"{size[0]}x{size[1]}"
    page.mouse.move(2, 2)
    page.screenshot(path=str(SHOTS / f"page-{tag}.png"))
    page.locator("#data-edit").screenshot(path=str(SHOTS / f"panel-{tag}.png"))
    page.locator(".plane-wrap").screenshot(path=str(SHOTS / f"plane-{tag}.png"))
    # the panel fits its column: nothing sticks out sideways
    overflow = page.evaluate("() => { const e = document.getElementById('data-edit'); return e.scrollWidth - e.clientWidth; }")
    assert overflow <= 1
