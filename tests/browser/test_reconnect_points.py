"""A server process killed under a tab with points of the user's own: the tab reconnects to the new
process and gets its own points back (not the generated dataset), with its weights and counters."""

from __future__ import annotations

import numpy as np
from playwright.sync_api import expect

from backlit.cli.headless import free_port, served


def _csv(n: int) -> str:
    """Points with full float64 digits (a hello must carry them exactly), labelled by quadrant."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-5, 5, size=(n, 2)).tolist()
    return "x1,x2,label\n" + "".join(f"{a!r},{b!r},{int(a * b > 0)}\n" for a, b in X)


def _points(app) -> dict:
    return app.page.evaluate("() => { const p = window.backlitDebug.app.points; return {train: p.train, test: p.test}; }")


def test_a_killed_server_comes_back_with_the_tabs_own_points(app):
    port = free_port()
    page = app.page
    with served(port) as first:
        app.open(base_url=f"http://127.0.0.1:{first.port}")
        port = first.port
        page.locator('input[type="file"][accept=".csv,text/csv"]').set_input_files(
            files=[{"name": "mine.csv", "mimeType": "text/csv", "buffer": _csv(30).encode()}])
        page.wait_for_function("() => window.backlitDebug.state.custom_data"
                               " && window.backlitDebug.app.points.train.length === 15")
        for _ in range(3):
            app.button("Step").click()
        page.wait_for_function("() => window.backlitDebug.lastFrameHeader.step >= 3")
        mine = _points(app)
        header = app.header()
        opened = page.evaluate("() => window.__t.opened")
        first.proc.kill()  # SIGKILL: no goodbye to the page
        first.proc.wait(10)
        expect(page.locator("#status")).to_contain_text("reconnect", ignore_case=True)

    with served(port) as second:
        assert second.port == port
        page.wait_for_function("(n) => window.__t.opened > n", arg=opened, timeout=30_000)
        page.wait_for_function("() => window.backlitDebug.state && window.backlitDebug.state.custom_data"
                               " && window.backlitDebug.app.points.train.length === 15", timeout=30_000)
        expect(page.locator("#status")).not_to_contain_text("reconnect", ignore_case=True)
        back = _points(app)
        assert back == mine  # the very same points, to the last digit
        state = app.state()
        assert state["n_train"] == 15 and state["n_test"] == 15 and state["step"] == header["step"]
        page.wait_for_function("(s) => window.backlitDebug.lastFrameHeader.step === s", arg=header["step"])
        now = app.header()
        for got, want in zip(now["weights"], header["weights"]):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-7)
        hello = [m for m in page.evaluate("() => window.__t.sent") if isinstance(m, dict) and m.get("type") == "hello"]
        assert len(hello) >= 2 and "points" in hello[-1]
    assert not app.page_errors, app.page_errors
