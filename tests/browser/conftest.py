"""Browser tests: the real server in a background thread, the real page in headless Chromium.

pytest-playwright provides `page`; this file points it at the Debian Chromium, starts the server once
per session, injects a small probe (probe.js) into every page, and saves a screenshot of every test
under test-artifacts/browser/ (with a "-FAILED" suffix when the test failed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backlit.cli.headless import CHROMIUM_ARGS, LiveServer, chromium_path

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PROBE = (Path(__file__).parent / "probe.js").read_text(encoding="utf-8")

COLOUR_CHANGES = """(ms) => new Promise((resolve) => {
    const links = [...document.querySelectorAll('#network .link')];
    let changes = 0;
    const obs = new MutationObserver((records) => {
        for (const r of records) if (r.oldValue !== r.target.getAttribute('data-grad-sign')) changes++;
    });
    for (const l of links) obs.observe(l, {attributes: true, attributeFilter: ['data-grad-sign'], attributeOldValue: true});
    const steps0 = window.backlitDebug.lastFrameHeader.step;
    setTimeout(() => { obs.disconnect();
        resolve({changes, links: links.length, steps: window.backlitDebug.lastFrameHeader.step - steps0}); }, ms);
})"""

# Waits are on DOM conditions; this only bounds them on a loaded 2-core machine.
expect.set_options(timeout=20_000)


def pytest_collection_modifyitems(config, items):
    """Mark every test here `browser`, and run them after all the others: pytest-playwright keeps an
    event loop running in the main thread from the first browser test to the end of the session, which
    would break later tests that call asyncio.run()."""
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    for item in ours:
        item.add_marker(pytest.mark.browser)
    mine = set(map(id, ours))
    items[:] = [item for item in items if id(item) not in mine] + ours


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def live_server():
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def own_server():
    """A server a test may stop and restart (same port) without disturbing the other tests."""
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(live_server):
    return live_server.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    args = {**browser_type_launch_args, "args": CHROMIUM_ARGS}
    path = chromium_path()
    if path:
        args["executable_path"] = path
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 950}}


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


class App:
    """The page under test plus the helpers every test needs."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.add_init_script(PROBE)
        # the first-visit tour would cover the page: these tests run as a returning visitor
        page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")

    # -- loading ---------------------------------------------------------------------------------
    def open(self, hash_: str = "", base_url: str | None = None) -> "App":
        url = (base_url or self.base_url) + "/"
        if hash_:
            url += hash_ if hash_.startswith("#") else "#" + hash_
        self.page.goto(url)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Connected, with a state and a drawn frame."""
        self.page.wait_for_function(
            "() => window.backlitDebug && window.backlitDebug.state && window.backlitDebug.lastFrameHeader"
            " && window.__t.frames > 0 && document.querySelectorAll('#network .neuron').length > 0"
        )
        self.wait_drawn()

    def wait_drawn(self) -> None:
        # Two animation frames: whatever arrived has been painted.
        self.page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    # -- reading ---------------------------------------------------------------------------------
    def state(self) -> dict:
        return self.page.evaluate("() => window.backlitDebug.state")

    def config(self) -> dict:
        return self.page.evaluate("() => window.backlitDebug.state.config")

    def header(self) -> dict:
        return self.page.evaluate("() => window.backlitDebug.lastFrameHeader")

    def trace(self) -> dict:
        return self.page.evaluate("() => window.backlitDebug.lastTrace")

    def number(self, selector: str) -> float:
        text = self.page.locator(selector).inner_text().strip()
        match = re.search(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", text)
        assert match, f"{selector} shows no number: {text!r}"
        return float(match.group())

    def epoch(self) -> int:
        return int(self.number("#epoch"))

    def raw(self, name: str) -> float:
        """Full-precision value of an inspector field."""
        loc = self.page.locator(f'#inspector [data-value="{name}"]').first
        raw = loc.get_attribute("data-raw")
        return float(raw if raw not in (None, "") else loc.inner_text())

    def columns(self) -> int:
        return self.page.evaluate(
            "() => new Set([...document.querySelectorAll('#network .neuron')].map(g => g.dataset.col)).size"
        )

    # -- acting ----------------------------------------------------------------------------------
    def link_point(self, layer: int, i: int, j: int) -> dict:
        """Screen coordinates of the middle of the drawn link for W_layer[i, j]."""
        return self.page.evaluate(
            """([l, i, j]) => {
                const p = document.querySelector(`#network .link[data-layer="${l}"][data-i="${i}"][data-j="${j}"]`);
                const m = p.getPointAtLength(p.getTotalLength() / 2);
                const sp = new DOMPoint(m.x, m.y).matrixTransform(p.getScreenCTM());
                return {x: sp.x, y: sp.y};
            }""",
            [layer, i, j],
        )

    def click_link(self, layer: int, i: int, j: int) -> None:
        """A real mouse click on the middle of the drawn link."""
        point = self.link_point(layer, i, j)
        self.page.mouse.click(point["x"], point["y"])

    def button(self, name: str):
        return self.page.get_by_role("button", name=name, exact=True)

    def select_number(self, selector: str, value: float) -> None:
        """Pick the option of a numeric <select> whose value equals `value`."""
        option = self.page.evaluate(
            """([sel, v]) => {
                const o = [...document.querySelector(sel).options].find(o => Math.abs(Number(o.value) - v) <= 1e-12 * Math.max(1, Math.abs(v)));
                return o ? o.value : null;
            }""",
            [selector, value],
        )
        assert option is not None, f"{selector} has no option {value}"
        self.page.select_option(selector, option)

    def wait_config(self, **expected) -> None:
        """Wait until the server's state reflects the given config values."""
        self.page.wait_for_function(
            """(exp) => {
                const c = window.backlitDebug && window.backlitDebug.state && window.backlitDebug.state.config;
                if (!c) return false;
                return Object.entries(exp).every(([k, v]) => JSON.stringify(c[k]) === JSON.stringify(v)
                    || (typeof v === 'number' && Math.abs(c[k] - v) <= 1e-12 * Math.max(1, Math.abs(v))));
            }""",
            arg=expected,
        )

    def colour_changes(self, ms: int) -> dict:
        """How many times links changed colour (data-grad-sign) over ``ms``, out of how many links."""
        return self.page.evaluate(COLOUR_CHANGES, ms)

    def blur(self) -> None:
        self.page.evaluate("() => { if (document.activeElement) document.activeElement.blur(); }")

    def snap(self, name: str, selector: str = "#plane") -> None:
        assert self.page.evaluate("([n, s]) => window.__t.snap(n, s)", [name, selector]), f"no canvas {selector}"

    def diff(self, name: str, selector: str = "#plane") -> float:
        return self.page.evaluate("([n, s]) => window.__t.diff(n, s)", [name, selector])

    def wait_pixels_change(self, name: str, selector: str = "#plane", fraction: float = 0.01) -> None:
        self.page.wait_for_function(
            "([n, s, f]) => window.__t.diff(n, s) > f", arg=[name, selector, fraction]
        )

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.mouse.move(2, 2)  # no hover tooltip over the picture
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def app(page, base_url, request):
    page.set_default_timeout(20_000)
    application = App(page, base_url)
    yield application
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    name = _artifact_name(request.node.nodeid) + ("-FAILED" if failed else "")
    try:
        application.screenshot(name)
    except Exception:  # the page may already be gone; the screenshot is a convenience
        pass
    # An uncaught exception in the page is a defect even when the test's own checks passed.
    if application.page_errors and not failed:
        pytest.fail(f"uncaught errors in the page: {application.page_errors}", pytrace=False)


def axe_serious(page, name_rule: bool = True) -> list:
    """axe-core's serious and critical violations on the page; ``name_rule`` also turns on
    label-content-name-mismatch (off by default in axe: the expression lab's nodes do not pass it yet)."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"rules": {"label-content-name-mismatch": {"enabled": True}}} if name_rule else None
    result = Axe().run(page, options=options) if options else Axe().run(page)
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]])
            for v in result.response["violations"] if v["impact"] in ("serious", "critical")]
