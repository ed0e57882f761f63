"""How fast is the playground, end to end, in a real browser?

    python benchmarks/playground.py [--seconds 10] [--changes 200]

Starts the server (uvicorn, per-message deflate off) in a child process, opens the page in headless
Chromium with Playwright, and trains continuously on the spiral with the default 2-4-2-1 network.
Measured in the page:

- frames received per second (binary frames, each a 100x100 boundary plus every neuron's map);
- frames drawn per second (requestAnimationFrame callbacks while the page draws what arrives);
- training samples per second (from the frame headers' samples_seen);
- control latency: the learning-rate <select> is changed, and the time runs until the binary frame
  that answers the resulting `set` message arrives (its header's reply_to), after the `state` echoing
  the new value (p50/p99 over --changes changes).

Then it trains the same network (batch 10, SGD, lr 0.03, BCE on logits, float64) with a hand-written
numpy loop, with PyTorch, and with backlit's own nn/optim (no server), and reports the playground's
samples/s as a ratio of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

TARGETS = {"received": 30.0, "drawn": 50.0, "samples": 50_000.0, "p99_ms": 100.0}

# Injected before the page's scripts: counts what arrives and what is drawn, without changing either.
PROBE = r"""
(() => {
  const B = (window.__bench = { frames: [], states: [], raf: 0, rafGaps: [], lastRaf: 0, shape: null });
  function onBinary(buf, t) {
    const h = new DataView(buf).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, h)));
    if (!B.shape) B.shape = header.arrays.map(a => [a.name, a.shape]);
    B.frames.push([t, header.samples_seen, header.step]);
    if (B.waiter) B.waiter('frame', t, header);
  }
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        const t = performance.now();
        if (typeof ev.data === 'string') {
          const m = JSON.parse(ev.data);
          if (m.type === 'state' && B.waiter) B.waiter('state', t, m);
        } else if (ev.data instanceof ArrayBuffer) onBinary(ev.data, t);
        else ev.data.arrayBuffer().then((b) => onBinary(b, t));
      });
    }
    send(data) {
      if (typeof data === 'string' && data.includes('"set"')) {
        const m = JSON.parse(data);
        if (m.type === 'set') B.lastSetId = m.id ?? null;
      }
      return super.send(data);
    }
  };
  const tick = (t) => {
    B.raf++;
    if (B.lastRaf) B.rafGaps.push(t - B.lastRaf);
    B.lastRaf = t;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const pageCounts = () => {
    const d = window.backlitDebug || {};
    return { draws: d.drawCount || 0, drawMs: d.drawMs || 0 };
  };
  B.reset = () => { B.frames = []; B.raf = 0; B.rafGaps = []; B.t0 = performance.now(); B.c0 = pageCounts(); };
  B.summary = () => {
    const t1 = performance.now(), f = B.frames, secs = (t1 - B.t0) / 1000;
    const samples = f.length > 1 ? (f[f.length - 1][1] - f[0][1]) / ((f[f.length - 1][0] - f[0][0]) / 1000) : 0;
    const c = pageCounts(), draws = c.draws - B.c0.draws;
    return { secs, received: f.length / secs, drawn: B.raf / secs, samples,
             longFrames: B.rafGaps.filter((g) => g > 50).length, shape: B.shape,
             contentDraws: draws / secs, drawMs: draws ? (c.drawMs - B.c0.drawMs) / draws : null };
  };
  // Change the learning rate `n` times; each time, wait for the state echoing it and then the next frame.
  B.latency = async (n, values) => {
    const sel = document.querySelector('#lr');
    const out = [];
    for (let k = 0; k < n; k++) {
      const want = values[k % values.length];
      const option = [...sel.options].find((o) => Math.abs(Number(o.value) - want) < 1e-12);
      // The reflecting frame is the reply to our `set` (header.reply_to = its id); without ids, the
      // first frame after the state that echoes the new value.
      let tState = null;
      B.lastSetId = undefined;
      const done = new Promise((resolve) => {
        B.waiter = (kind, t, m) => {
          const id = B.lastSetId;
          if (kind === 'state' && Math.abs(m.config.lr - want) < 1e-12 && (id == null || m.reply_to === id)) tState = t;
          else if (kind === 'frame' && tState !== null && (id == null || m.reply_to === id)) {
            B.waiter = null;
            resolve(t);
          }
        };
      });
      const t0 = performance.now();
      sel.value = option.value;
      sel.dispatchEvent(new Event('input', { bubbles: true }));
      sel.dispatchEvent(new Event('change', { bubbles: true }));
      const t1 = await Promise.race([done, new Promise((r) => setTimeout(() => r(null), 5000))]);
      out.push(t1 === null ? [5000, 5000] : [t1 - t0, tState - t0]);
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
    }
    B.waiter = null;
    return out;
  };
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    code = (
        "import uvicorn\n"
        "from backlit.server.app import create_app\n"
        f"uvicorn.run(create_app(), host='127.0.0.1', port={port}, ws_per_message_deflate=False,"
        " log_level='warning')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the server did not answer within 30 s")


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def main_thread_metrics(cdp) -> dict:
    """Seconds the page's main thread has spent, in total and by kind (Chrome's Performance domain)."""
    names = {"TaskDuration": "total", "ScriptDuration": "script", "LayoutDuration": "layout",
             "RecalcStyleDuration": "style"}
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {short: metrics.get(name, 0.0) for name, short in names.items()}


def measure_page(url: str, seconds: float, changes: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launch = {"args": CHROMIUM_ARGS}
        if chromium_path():
            launch["executable_path"] = chromium_path()
        browser = p.chromium.launch(**launch)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.add_init_script(PROBE)
        page.goto(url)
        page.wait_for_function("() => window.__bench.frames.length > 0", timeout=30_000)
        config = page.evaluate("() => window.backlitDebug && window.backlitDebug.state.config")
        if config and (config.get("dataset"), config.get("hidden")) != ("spiral", [4, 2]):
            raise SystemExit(f"expected the default spiral 2-4-2-1 page, got {config}")
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_function("() => window.__bench.frames.length > 5", timeout=30_000)
        page.wait_for_timeout(2000)  # warm-up
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        before = main_thread_metrics(cdp)
        page.evaluate("() => window.__bench.reset()")
        page.wait_for_timeout(seconds * 1000)
        result = page.evaluate("() => window.__bench.summary()")
        after = main_thread_metrics(cdp)
        result["busy"] = {k: (after[k] - before[k]) / result["secs"] for k in after}
        latencies = page.evaluate("([n, v]) => window.__bench.latency(n, v)", [changes, [0.01, 0.03]])
        browser.close()
    result["latency_ms"] = latencies
    return result


# -- the same training without the playground --------------------------------------------------------
def spiral_train(seed: int = 1):
    from backlit import data

    ds = data.make("spiral", n=500, noise=0.0, seed=seed)
    X, y, _, _ = data.split(ds.X, ds.y, train_ratio=0.5, seed=seed)
    return X.astype(np.float64), y.astype(np.float64).reshape(-1, 1)


def timed(run_batch, n_train: int, batch: int, seconds: float) -> float:
    """Samples per second of `run_batch(lo, hi)` over epochs for about `seconds`."""
    samples, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for lo in range(0, n_train, batch):
            run_batch(lo, min(lo + batch, n_train))
            samples += min(lo + batch, n_train) - lo
    return samples / (time.perf_counter() - t0)


def numpy_rate(X, y, seconds: float, sizes=(2, 4, 2, 1), lr=0.03, batch=10) -> float:
    rng = np.random.default_rng(0)
    Ws = [rng.uniform(-0.5, 0.5, (o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.full(o, 0.1) for o in sizes[1:]]

    def run(lo, hi):
        a, acts = X[lo:hi], [X[lo:hi]]
        for k, (W, b) in enumerate(zip(Ws, bs)):
            z = a @ W.T + b
            a = np.tanh(z) if k < len(Ws) - 1 else z
            acts.append(a)
        # BCE on logits, mean over the batch: dL/dz_out = (sigmoid(z) - y) / n
        delta = (1 / (1 + np.exp(-a)) - y[lo:hi]) / (hi - lo)
        for k in range(len(Ws) - 1, -1, -1):
            gW, gb = delta.T @ acts[k], delta.sum(0)
            if k:
                delta = (delta @ Ws[k]) * (1 - acts[k] ** 2)  # tanh' = 1 - a^2
            Ws[k] -= lr * gW
            bs[k] -= lr * gb

    return timed(run, len(X), batch, seconds)


def torch_rate(X, y, seconds: float, lr=0.03, batch=10) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)
    ).double()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def run(lo, hi):
        opt.zero_grad()
        loss_fn(net(Xt[lo:hi]), yt[lo:hi]).backward()
        opt.step()

    return timed(run, len(X), batch, seconds)


def backlit_rate(X, y, seconds: float, lr=0.03, batch=10) -> float | None:
    try:
        from backlit import nn, optim, tensor
        from backlit import functional as F
    except ImportError:
        return None
    model = nn.MLP([2, 4, 2, 1], activation="tanh", seed=0)
    opt = optim.SGD(model.parameters(), lr=lr)

    def run(lo, hi):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(tensor(X[lo:hi])), tensor(y[lo:hi])).backward()
        opt.step()

    return timed(run, len(X), batch, seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window (default 10)")
    parser.add_argument("--changes", type=int, default=200, help="control changes timed (default 200)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    port = args.port or free_port()
    server = start_server(port)
    try:
        page = measure_page(f"http://127.0.0.1:{port}/", args.seconds, args.changes)
    finally:
        server.terminate()
        server.wait(10)

    X, y = spiral_train()
    budget = min(3.0, args.seconds / 2)
    rates = {"numpy (hand-written)": numpy_rate(X, y, budget), "PyTorch": torch_rate(X, y, budget),
             "backlit nn (no server)": backlit_rate(X, y, budget)}

    lat = np.asarray(page["latency_ms"])[:, 0]
    to_state = np.asarray(page["latency_ms"])[:, 1]
    p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
    rows = [
        ("frames received / s", f"{page['received']:.1f}", f">= {TARGETS['received']:.0f}",
         page["received"] >= TARGETS["received"]),
        ("frames drawn / s (rAF)", f"{page['drawn']:.1f}", f">= {TARGETS['drawn']:.0f}",
         page["drawn"] >= TARGETS["drawn"]),
        ("training samples / s", f"{page['samples']:,.0f}", f">= {TARGETS['samples']:,.0f}",
         page["samples"] >= TARGETS["samples"]),
        ("control latency p50 (ms)", f"{p50:.1f}", "", None),
        ("control latency p99 (ms)", f"{p99:.1f}", f"< {TARGETS['p99_ms']:.0f}", p99 < TARGETS["p99_ms"]),
    ]
    print(f"\nbacklit playground, spiral 2-4-2-1, {args.seconds:g} s of continuous training,"
          f" {len(lat)} control changes")
    print(f"frame arrays: {page['shape']}; rAF gaps > 50 ms: {page['longFrames']};"
          f" change -> state reply p50/p99: {np.percentile(to_state, 50):.1f}/{np.percentile(to_state, 99):.1f} ms")
    if page.get("drawMs") is not None:
        print(f"animation frames that drew new content: {page['contentDraws']:.1f}/s,"
              f" {page['drawMs']:.1f} ms of drawing each (the page's own counters)")
    busy = page["busy"]
    print(f"page main thread busy {100 * busy['total']:.0f}% of the time (script {100 * busy['script']:.0f}%,"
          f" style {100 * busy['style']:.0f}%, layout {100 * busy['layout']:.0f}%)")
    print(f"{os.cpu_count()} CPUs; 1-min load average before the run: {load_before:.1f}"
          " (other work on the machine slows every figure)\n")
    print(f"{'measure':<28}{'value':>12}  {'target':>10}  ok")
    for name, value, target, ok in rows:
        print(f"{name:<28}{value:>12}  {target:>10}  {'' if ok is None else ('yes' if ok else 'NO')}")
    print(f"\nsame network, batch 10, SGD, float64, {budget:g} s each:")
    print(f"{'loop':<28}{'samples/s':>12}  {'playground / loop':>18}")
    for name, rate in rates.items():
        if rate is None:
            print(f"{name:<28}{'n/a':>12}")
        else:
            print(f"{name:<28}{rate:>12,.0f}  {page['samples'] / rate:>17.2f}x")
    return 0 if all(ok for *_, ok in rows if ok is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
