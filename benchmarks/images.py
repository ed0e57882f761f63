"""How heavy and how watchable is the images view, end to end, in a real browser?

    python benchmarks/images.py [--seconds 10]

Starts the real command line (`python -m backlit serve --no-browser`) through
`backlit.cli.headless.served`, opens the page in Debian's headless Chromium, chooses "Digits (8x8
images)" and, for each network (the MLP 64-16-10 and the CNN), presses Train at the default pace
(speed 5 = 50 steps/s) and at the top speed ("as fast as it goes"), and measures in the page, from
every binary frame that arrives (its byte length and its JSON header):

- frames received per second, bytes per frame and bytes per second (the classroom's budget is
  500 KB/s per tab);
- at the default pace: seconds from pressing Train until a frame says test_acc >= 0.90 (MLP) or
  >= 0.95 (CNN), and the optimizer steps it took (a minute at 50 steps/s is 3,000 steps).

It also times one session action each (trace, saliency maps, a 10-step attack, a drawing) in-process.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time

BUDGET = 500 * 1024          # bytes per second per tab
FLOORS = {"mlp": 0.90, "cnn": 0.95}

PROBE = r"""
(() => {
  const B = (window.__img = { frames: [], t0: performance.now() });
  function onBinary(buf, t) {
    const n = new DataView(buf).getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    B.frames.push([t, buf.byteLength, h.step, h.test_acc ?? null, h.view || null]);
  }
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        const t = performance.now();
        if (ev.data instanceof ArrayBuffer) onBinary(ev.data, t);
        else if (ev.data instanceof Blob) ev.data.arrayBuffer().then((b) => onBinary(b, t));
      });
    }
  };
  B.reset = () => { B.frames = []; B.t0 = performance.now(); };
})();
"""


def run_network(page, network: str, seconds: float) -> dict:
    out = {}
    page.select_option("#img-network", network)
    page.wait_for_function("(n) => window.backlitViews.imagesView.header && window.backlitViews.imagesView.header.network === n"
                           " && window.backlitViews.imagesView.header.step === 0", arg=network)
    for speed in (5, 9):
        page.click("#img-reset")
        page.wait_for_function("() => window.backlitViews.imagesView.header.step === 0")
        page.locator("#img-speed").fill(str(speed))
        page.locator("#img-speed").dispatch_event("change")
        page.wait_for_function("(s) => window.backlitViews.imagesView.state.config.speed === s", arg=speed)
        page.evaluate("() => window.__img.reset()")
        t0 = time.perf_counter()
        page.click("#img-play")
        reached = None
        limit = 60.0 if speed == 5 else seconds
        while time.perf_counter() - t0 < max(limit, seconds):
            page.wait_for_timeout(250)
            if speed == 5 and reached is None:
                hit = page.evaluate("(f) => window.__img.frames.find((r) => r[3] !== null && r[3] >= f) || null",
                                    FLOORS[network])
                if hit:
                    reached = {"seconds": round((hit[0] - page.evaluate("() => window.__img.t0")) / 1000, 2), "steps": hit[2]}
            if time.perf_counter() - t0 >= seconds and (speed != 5 or reached is not None):
                break
        frames = page.evaluate("() => window.__img.frames")
        page.click("#img-play")
        page.wait_for_function("() => !window.backlitViews.imagesView.state.playing")
        span = (frames[-1][0] - frames[0][0]) / 1000 if len(frames) > 1 else 1.0
        total = sum(f[1] for f in frames)
        row = {"frames_per_s": round(len(frames) / span, 1), "bytes_per_frame": round(total / max(len(frames), 1)),
               "kb_per_s": round(total / span / 1024, 1), "steps_per_s": round((frames[-1][2] - frames[0][2]) / span, 1),
               "within_budget": total / span <= BUDGET}
        if speed == 5:
            row["reached_floor"] = reached
        out[f"speed {speed}"] = row
    return out


def actions() -> dict:
    import numpy as np

    from backlit.lab import digits
    from backlit.playground.images import ImagesSession

    out = {}
    for net in ("mlp", "cnn"):
        s = ImagesSession(network=net)
        s.train_for(30.0, max_steps=300)
        canvas = (np.kron(digits.load()[0][3].reshape(8, 8), np.ones((16, 16))) * 255).astype(np.uint8)
        pixels = base64.b64encode(canvas.tobytes()).decode()
        timed = {}
        for name, call in (("trace", lambda: s.trace()), ("saliency", lambda: s.saliency_maps()),
                           ("attack_10_steps", lambda: s.attack(0.1, 10)),
                           ("draw", lambda: s.draw(128, 128, pixels)), ("frame", lambda: s.frame())):
            t0 = time.perf_counter()
            reply = call()
            ms = (time.perf_counter() - t0) * 1000
            size = len(json.dumps(reply, default=lambda a: None)) if not isinstance(reply, tuple) else None
            timed[name] = {"ms": round(ms, 2), **({"json_bytes": size} if size else {})}
        t0 = time.perf_counter()
        s.train_for(60.0, max_steps=200)
        timed["train_step_ms"] = round((time.perf_counter() - t0) * 1000 / 200, 2)
        out[net] = timed
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from backlit.cli.headless import launch_args, served

    results = {"actions": actions()}
    with served() as server, sync_playwright() as p:
        browser = p.chromium.launch(**launch_args())
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.add_init_script("try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}")
        page.add_init_script(PROBE)
        page.set_default_timeout(60_000)
        page.goto(server.url.rstrip("/") + "/?notour")
        page.click("[data-view=digits]")
        page.wait_for_function("() => window.backlitViews.imagesView.header")
        for net in ("mlp", "cnn"):
            results[net] = run_network(page, net, args.seconds)
        browser.close()
    print(json.dumps(results, indent=2))
    ok = all(r["within_budget"] for net in ("mlp", "cnn") for r in results[net].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
