"""Regenerate the README's playground screenshots in docs/img/.

    python scripts/screenshots.py [--only NAME ...]

Starts `backlit serve` on a free port (`backlit.cli.headless.served`), drives Debian's headless Chromium
with Playwright at 1440x900 (device scale 1, PNG) and saves one picture per view:

- playground-forward.png    a trained network, one sample's forward pass done
- playground-backward.png   the same sample's backward pass: orange/green blame on every link
- playground-inspector.png  a link clicked and "Check it" pressed: the chain-rule inspector (full page)
- playground-learn.png      the explanation panel open (the Learn button)
- playground-tour.png       the first-visit tour's first step
- playground-graph.png      the computation graph open, stepped backward a few nodes
- playground-training.png   circle half-trained: boundary, loss chart and gradient-flow strip
- playground-phone.png      the whole page at phone width (390x844, full page)

Every page but the tour's is a returning visitor's (`?notour` and localStorage `backlit.tour`). A picture
over 300 KB is reduced to 256 colours (with Pillow, if installed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from backlit.cli.headless import launch_args, served

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
MAX_BYTES = 300 * 1024
NO_TOUR = "try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}"
READY = ("() => window.backlitDebug && window.backlitDebug.state && window.backlitDebug.lastFrameHeader"
         " && document.querySelectorAll('#network .neuron').length > 0")
TRAINED = "#h=4,4&a=tanh&lr=0.03&s=3"  # the forward/backward/inspector pictures' network, as before


def new_page(browser, viewport=WIDE, tour=False, touch=False):
    context = browser.new_context(viewport=viewport, device_scale_factor=1, has_touch=touch,
                                  is_mobile=touch)
    page = context.new_page()
    if not tour:
        page.add_init_script(NO_TOUR)
    page.set_default_timeout(60_000)
    return page


def open_(page, base: str, hash_: str = "", tour: bool = False) -> None:
    page.goto(base + ("" if tour else "?notour") + hash_)
    page.wait_for_function(READY)
    settle(page)


def settle(page, ms: int = 300) -> None:
    page.wait_for_timeout(ms)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def save(page, name: str, full_page: bool = False) -> Path:
    page.mouse.move(2, 2)  # no hover tooltip over the picture
    settle(page, 150)
    path = OUT / f"playground-{name}.png"
    page.screenshot(path=str(path), full_page=full_page, type="png")
    shrink(path)
    return path


def shrink(path: Path, limit: int = MAX_BYTES) -> None:
    """Over ``limit`` bytes: 256 colours, no dithering (Pillow), which keeps the page's flat colours
    and smooth heatmaps and makes the file 3-4x smaller. Without Pillow the picture stays as it is."""
    if path.stat().st_size <= limit:
        return
    try:
        from PIL import Image
    except ImportError:
        print(f"note: {path.name} is {path.stat().st_size / 1024:.0f} KB; install Pillow to shrink it",
              file=sys.stderr)
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, "PNG", optimize=True)


def train_a_little(page, seconds: float = 3.0) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_timeout(seconds * 1000)
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_function("() => !window.backlitDebug.state.playing")


def forward_backward(page, shots: dict, base: str) -> None:
    open_(page, base, TRAINED + "&sp=9")
    train_a_little(page)
    page.get_by_role("button", name="Next sample").click()
    settle(page)
    page.get_by_role("button", name="Forward").click()
    page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'forward-done'")
    shots["forward"] = save(page, "forward")
    page.get_by_role("button", name="Backward").click()
    page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'backward-done'")
    shots["backward"] = save(page, "backward")
    page.locator('#network .link[data-layer="1"][data-i="0"][data-j="1"]').click(force=True)
    page.get_by_role("button", name="Check it").click()
    page.wait_for_selector('#inspector [data-value="rel_error"]')
    shots["inspector"] = save(page, "inspector", full_page=True)


def learn(page, shots: dict, base: str) -> None:
    open_(page, base, TRAINED + "&sp=9")
    train_a_little(page, 2.0)
    page.get_by_role("button", name="Backward").click()
    page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'backward-done'")
    page.locator("#learn-toggle").click()
    page.wait_for_selector("#learn:not([hidden])")
    shots["learn"] = save(page, "learn")


def tour(page, shots: dict, base: str) -> None:
    page.goto(base)
    page.evaluate("() => { try { localStorage.removeItem('backlit.tour'); } catch (e) {} }")
    open_(page, base, tour=True)
    page.wait_for_selector(".tour-card", state="visible")
    settle(page, 500)
    shots["tour"] = save(page, "tour")


def graph(page, shots: dict, base: str) -> None:
    open_(page, base)
    page.locator("#show-graph").click()
    page.wait_for_selector("#graph-panel:not([hidden])")
    back = page.get_by_role("button", name="◀ Backward step")
    for _ in range(4):
        back.click()
        settle(page, 150)
    page.locator("#graph-panel").scroll_into_view_if_needed()
    page.evaluate("() => document.querySelector('#graph-panel').scrollIntoView({block: 'start'})")
    shots["graph"] = save(page, "graph")


def training(page, shots: dict, base: str) -> None:
    open_(page, base)  # the default page: circle, 2-4-2-1 tanh, at its default pace
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("() => (window.backlitDebug.lastFrameHeader.test_acc || 0) >= 0.8"
                           " && window.backlitDebug.lastFrameHeader.step >= 300", timeout=120_000)
    shots["training"] = save(page, "training")
    page.get_by_role("button", name="Pause", exact=True).click()


def phone(page, shots: dict, base: str) -> None:
    open_(page, base)
    shots["phone"] = save(page, "phone", full_page=True)


VIEWS = {"forward": (forward_backward, WIDE), "learn": (learn, WIDE), "tour": (tour, WIDE),
         "graph": (graph, WIDE), "training": (training, WIDE), "phone": (phone, PHONE)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=list(VIEWS), help="only these views (repeatable)")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    shots: dict[str, Path] = {}
    failed = []
    with served() as server, sync_playwright() as p:
        browser = p.chromium.launch(**launch_args())
        for name, (shoot, viewport) in VIEWS.items():
            if args.only and name not in args.only:
                continue
            page = new_page(browser, viewport, tour=name == "tour", touch=viewport is PHONE)
            try:
                shoot(page, shots, server.url)
            except Exception as e:  # one view failing must not cost the others
                failed.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0]}")
            finally:
                page.context.close()
        browser.close()
    for path in shots.values():
        print(f"wrote {path.relative_to(OUT.parent.parent)} ({path.stat().st_size / 1024:.0f} KB)")
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
