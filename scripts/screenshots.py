"""Regenerate the README's playground screenshots in docs/img/.

    python scripts/screenshots.py

Starts `backlit serve` on a free port, drives Debian's Chromium with Playwright through the brief's
interactions (train a little, Forward, Backward, click a link, Check it) and saves one PNG per step.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "img"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen([sys.executable, "-m", "backlit", "serve", "--no-browser", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            page.goto(url + "#h=4,4&a=tanh&lr=0.03&s=3")
            page.wait_for_function("() => window.backlitDebug && window.backlitDebug.lastFrameHeader")

            page.get_by_role("button", name="Train").click()
            page.wait_for_timeout(3000)
            page.get_by_role("button", name="Pause").click()
            page.get_by_role("button", name="Next sample").click()
            page.wait_for_timeout(300)

            network = page.locator("#network")
            page.get_by_role("button", name="Forward").click()
            page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'forward-done'")
            page.screenshot(path=str(OUT / "playground-forward.png"))

            page.get_by_role("button", name="Backward").click()
            page.wait_for_function("() => document.querySelector('#network').dataset.phase === 'backward-done'")
            page.screenshot(path=str(OUT / "playground-backward.png"))

            network.locator('.link[data-layer="1"][data-i="0"][data-j="1"]').click(force=True)
            page.get_by_role("button", name="Check it").click()
            page.wait_for_selector('#inspector [data-value="rel_error"]')
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "playground-inspector.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('playground-*.png')))} to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
