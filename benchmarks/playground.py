"""How fast, and how watchable, is the playground, end to end, in a real browser?

    python benchmarks/playground.py [--seconds 10] [--changes 200] [--threads 1] [--skip-pace] [--skip-big]

Starts the real command line (`python -m backlit serve --no-browser`: its Host check, TCP_NODELAY,
per-message deflate off) through `backlit.cli.headless.served`, opens the page in Debian's headless
Chromium with Playwright (first-visit tour skipped), and measures in the page, from the binary frames'
JSON headers (uint32 length + JSON; the compact body of uint8 heatmaps + deflate is never parsed):

(a) the default page (circle, 2-4-2-1 tanh, paced at speed 5 = 50 steps/s): seconds from pressing
    Train until a frame header says test_acc >= 0.95, and how often the links change colour (changes
    of each `#network .link`'s data-grad-sign between non-"none" values, per link per second, counted
    with a MutationObserver over the first 5 s of training and over the 5 s after reaching 95%);
(b) the same page at `#sp=9` (as fast as it goes): frames received and drawn per second, training
    samples per second (from the headers' samples_seen), and control latency: the learning-rate
    <select> is changed and the time runs until the binary frame answering the resulting `set`
    (header.reply_to) arrives, after the `state` echoing the new value (p50/p99 over --changes);
(c) the largest network (8 hidden layers of 16, all 7 features, 5,000 points, `sp=9`) at 1440x900:
    requestAnimationFrame callbacks per second that drew new content (the page's own
    backlitDebug.drawCount / rafCount), while training and while paused.

Then it trains the same network on the same data (circle train split, the session's initial weights
and batch order; batch 10, SGD lr 0.03, BCE on logits, float64) in bare loops: hand-written numpy,
PyTorch eager, backlit's nn/optim, and the session's own Playground.train_for (no frames). All four are
first checked to end on the same weights. The bare loops cover the training steps only: the playground
(b) also evaluates the train pass (a forward + backward over the training set for the loss, accuracy
and the links' gradient) and the test loss for every frame, builds the 100x100 boundary and neuron
maps, quantises, deflates and sends them.

Threads: numpy (OpenBLAS/OMP/MKL, set before numpy is imported, here and in the server child process)
and PyTorch (torch.set_num_threads) both use --threads (default 1).
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv(argv) -> int:
    for k, a in enumerate(argv):
        if a == "--threads" and k + 1 < len(argv):
            return int(argv[k + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


THREADS = _threads_from_argv(sys.argv[1:])
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)  # before numpy is imported; the server child inherits them

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from backlit.cli.headless import launch_args, served  # noqa: E402

TARGETS = {"received": 30.0, "drawn": 50.0, "samples": 50_000.0, "p99_ms": 100.0, "acc95_s": 30.0}
LARGEST = "h=16,16,16,16,16,16,16,16&f=x1,x2,x1^2,x2^2,x1x2,sin_x1,sin_x2&np=5000&sp=9"
NO_TOUR = "try { localStorage.setItem('backlit.tour', 'skipped'); } catch (e) {}"


# Injected before the page's scripts: counts what arrives, what is drawn and how often links change
# colour, without changing any of it. Only the frames' JSON header is parsed (uint32 length + JSON).
PROBE = r"""
(() => {
  const B = (window.__bench = { frames: [], raf: 0, rafGaps: [], lastRaf: 0, shape: null, signChanges: [],
                                bytes: 0 });
  function onBinary(buf, t) {
    const h = new DataView(buf).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, h)));
    if (!B.shape && header.arrays) B.shape = header.arrays.map(a => [a.name, a.shape, a.dtype || null]);
    B.bytes += buf.byteLength;
    B.frames.push([t, header.samples_seen, header.step, header.test_acc ?? null, buf.byteLength]);
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
  // A link's colour changes when its data-grad-sign goes from one non-"none" value to another.
  // Records of one batch are in order: a record's new value is the next record's oldValue for the
  // same element, or the attribute's current value for the last one.
  B.watchLinks = () => {
    const root = document.querySelector('#network');
    B.observer = new MutationObserver((records) => {
      const t = performance.now();
      const byEl = new Map();
      for (const r of records) {
        if (!r.target.classList || !r.target.matches('.link')) continue;
        if (!byEl.has(r.target)) byEl.set(r.target, []);
        byEl.get(r.target).push(r.oldValue);
      }
      for (const [el, olds] of byEl) {
        const values = [...olds, el.getAttribute('data-grad-sign')];
        for (let k = 0; k + 1 < values.length; k++) {
          const a = values[k], b = values[k + 1];
          if (a && b && a !== 'none' && b !== 'none' && a !== b) B.signChanges.push(t);
        }
      }
    });
    B.observer.observe(root, { subtree: true, attributes: true, attributeOldValue: true,
                               attributeFilter: ['data-grad-sign'] });
  };
  B.links = () => document.querySelectorAll('#network .link').length;
  const pageCounts = () => {
    const d = window.backlitDebug || {};
    return { draws: d.drawCount || 0, rafs: d.rafCount || 0, drawMs: d.drawMs || 0 };
  };
  B.reset = () => { B.frames = []; B.raf = 0; B.rafGaps = []; B.bytes = 0; B.t0 = performance.now(); B.c0 = pageCounts(); };
  B.summary = () => {
    const t1 = performance.now(), f = B.frames, secs = (t1 - B.t0) / 1000;
    const samples = f.length > 1 ? (f[f.length - 1][1] - f[0][1]) / ((f[f.length - 1][0] - f[0][0]) / 1000) : 0;
    const c = pageCounts(), draws = c.draws - B.c0.draws, rafs = c.rafs - B.c0.rafs;
    return { secs, received: f.length / secs, drawn: B.raf / secs, samples, bytesPerFrame: f.length ? B.bytes / f.length : 0,
             longFrames: B.rafGaps.filter((g) => g > 50).length, shape: B.shape,
             contentDraws: draws / secs, pageRafs: rafs / secs, drawMs: draws ? (c.drawMs - B.c0.drawMs) / draws : null };
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


def main_thread_metrics(cdp) -> dict:
    """Seconds the page's main thread has spent, in total and by kind (Chrome's Performance domain)."""
    names = {"TaskDuration": "total", "ScriptDuration": "script", "LayoutDuration": "layout",
             "RecalcStyleDuration": "style"}
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {short: metrics.get(name, 0.0) for name, short in names.items()}


def open_page(browser, url: str, width: int = 1400, height: int = 950):
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    page.add_init_script(NO_TOUR)
    page.add_init_script(PROBE)
    page.goto(url)
    page.wait_for_function("() => window.__bench.frames.length > 0 && window.backlitDebug"
                           " && window.backlitDebug.state && document.querySelectorAll('#network .link').length > 0",
                           timeout=60_000)
    return page


def check_config(page, **want) -> dict:
    config = page.evaluate("() => window.backlitDebug.state.config")
    got = {k: config.get(k) for k in want}
    if got != want:
        raise SystemExit(f"expected a page with {want}, got {got}")
    return config


def train_button(page):
    return page.get_by_role("button", name="Train", exact=True)


def measure_pace(browser, base: str, window: float = 5.0, limit: float = 120.0) -> dict:
    """(a) the default page at its default pace: time to 95% test accuracy, and links' colour changes."""
    page = open_page(browser, base + "?notour")
    check_config(page, dataset="circle", hidden=[4, 2], activation="tanh", speed=5)
    page.evaluate("() => window.__bench.watchLinks()")
    t_click = page.evaluate("() => { window.__bench.frames = []; window.__bench.signChanges = [];"
                            " document.querySelector('#play').click(); return performance.now(); }")
    t_95 = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        hit = page.evaluate("() => window.__bench.frames.find(f => f[3] !== null && f[3] >= 0.95) || null")
        if hit:
            t_95 = hit
            break
    if t_95 is not None:
        wait_until = t_95[0] + window * 1000 + 300
        page.wait_for_function("(t) => performance.now() > t", arg=wait_until, timeout=int(window * 1000 + 30_000))
    else:
        page.wait_for_timeout(max(0, window * 1000 - (time.monotonic() - deadline + limit) * 1000))
    changes = page.evaluate("() => window.__bench.signChanges")
    links = page.evaluate("() => window.__bench.links()")
    frames = page.evaluate("() => window.__bench.frames")
    page.close()

    def rate(t0):
        n = sum(1 for t in changes if t0 <= t < t0 + window * 1000)
        return n / links / window

    pace_steps = [f for f in frames if f[0] >= t_click]
    steps_per_s = None
    if len(pace_steps) > 1:
        steps_per_s = (pace_steps[-1][2] - pace_steps[0][2]) / ((pace_steps[-1][0] - pace_steps[0][0]) / 1000)
    return {"t95": None if t_95 is None else (t_95[0] - t_click) / 1000,
            "step95": None if t_95 is None else t_95[2], "links": links,
            "flicker_start": rate(t_click), "flicker_after95": None if t_95 is None else rate(t_95[0]),
            "frames_per_s": len(pace_steps) / ((pace_steps[-1][0] - t_click) / 1000) if pace_steps else 0.0,
            "steps_per_s": steps_per_s}


def measure_fast(browser, base: str, seconds: float, changes: int) -> dict:
    """(b) the default network at sp=9: frames, samples/s, control latency."""
    page = open_page(browser, base + "?notour#sp=9")
    check_config(page, dataset="circle", hidden=[4, 2], speed=9)
    train_button(page).click()
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
    result["latency_ms"] = page.evaluate("([n, v]) => window.__bench.latency(n, v)", [changes, [0.01, 0.03]])
    page.close()
    return result


def measure_big(browser, base: str, seconds: float) -> dict:
    """(c) the largest network at 1440x900: drawn frames/s while training and while paused."""
    page = open_page(browser, base + "?notour#" + LARGEST, 1440, 900)
    config = check_config(page, hidden=[16] * 8, n_points=5000, speed=9)
    out = {"features": len(config["features"])}
    train_button(page).click()
    page.wait_for_function("() => window.__bench.frames.length > 3", timeout=60_000)
    page.wait_for_timeout(2000)
    page.evaluate("() => window.__bench.reset()")
    page.wait_for_timeout(seconds * 1000)
    out["training"] = page.evaluate("() => window.__bench.summary()")
    page.get_by_role("button", name="Pause", exact=True).click()
    page.wait_for_function("() => window.backlitDebug.state && !window.backlitDebug.state.playing", timeout=30_000)
    page.wait_for_timeout(1500)  # let the last frames land
    page.evaluate("() => window.__bench.reset()")
    page.wait_for_timeout(seconds * 1000)
    out["idle"] = page.evaluate("() => window.__bench.summary()")
    page.close()
    return out


# -- the same training without the server --------------------------------------------------------------
def session_setup():
    """The default session: its featurised training set, targets, initial weights and batch-order seed."""
    from backlit.playground.session import Playground

    pg = Playground()
    c = pg.config
    assert (c["dataset"], c["hidden"], c["activation"], c["loss"], c["batch_size"], c["optimizer"], c["lr"]) \
        == ("circle", [4, 2], "tanh", "bce", 10, "sgd", 0.03), c
    Ws = [lin.weight.data.copy() for lin in pg.model.linears]
    bs = [lin.bias.data.copy() for lin in pg.model.linears]
    return dict(X=pg.Xf_train.astype(np.float64), T=pg.T_train.astype(np.float64), Ws=Ws, bs=bs,
                order_seed=(c["seed"], 1), lr=c["lr"], batch=c["batch_size"])


def batches(S):
    """Endless (lo, hi, perm) like Playground._train_step: a new permutation at each epoch's start."""
    rng = np.random.default_rng(S["order_seed"])
    n, b = len(S["X"]), S["batch"]
    while True:
        perm = rng.permutation(n)
        Xp, Tp = S["X"][perm], S["T"][perm]
        for lo in range(0, n, b):
            yield Xp[lo:lo + b], Tp[lo:lo + b]


def numpy_loop(S):
    Ws = [W.copy() for W in S["Ws"]]
    bs = [b.copy() for b in S["bs"]]
    lr = S["lr"]
    it = batches(S)

    def step():
        x, y = next(it)
        a, acts = x, [x]
        for k, (W, b) in enumerate(zip(Ws, bs)):
            z = a @ W.T + b
            a = np.tanh(z) if k < len(Ws) - 1 else z
            acts.append(a)
        loss = np.mean(np.maximum(a, 0) - a * y + np.log1p(np.exp(-np.abs(a))))  # BCE on logits
        delta = (1 / (1 + np.exp(-a)) - y) / len(y)
        for k in range(len(Ws) - 1, -1, -1):
            gW, gb = delta.T @ acts[k], delta.sum(0)
            if k:
                delta = (delta @ Ws[k]) * (1 - acts[k] ** 2)  # tanh' = 1 - a^2
            Ws[k] -= lr * gW
            bs[k] -= lr * gb
        return loss

    return step, lambda: Ws + bs


def torch_loop(S):
    import torch

    torch.set_num_threads(THREADS)
    sizes = [S["Ws"][0].shape[1]] + [W.shape[0] for W in S["Ws"]]
    layers = []
    for k, (W, b) in enumerate(zip(S["Ws"], S["bs"])):
        lin = torch.nn.Linear(sizes[k], sizes[k + 1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.Tanh()] if k < len(S["Ws"]) - 1 else [lin]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=S["lr"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    it = batches(S)

    def step():
        x, y = next(it)
        opt.zero_grad()
        loss = loss_fn(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return loss.item()

    return step, lambda: [lin.weight.detach().numpy() for lin in net if isinstance(lin, torch.nn.Linear)] + \
        [lin.bias.detach().numpy() for lin in net if isinstance(lin, torch.nn.Linear)]


def backlit_loop(S):
    from backlit import Tensor, nn
    from backlit.nn import optim
    from backlit.nn import functional as F

    sizes = [S["Ws"][0].shape[1]] + [W.shape[0] for W in S["Ws"]]
    model = nn.MLP(sizes, activation="tanh", seed=0)
    for lin, W, b in zip(model.linears, S["Ws"], S["bs"]):
        np.copyto(lin.weight.data, W)
        np.copyto(lin.bias.data, b)
    opt = optim.SGD(model.parameters(), lr=S["lr"])
    it = batches(S)

    def step():
        x, y = next(it)
        loss = F.binary_cross_entropy_with_logits(model(Tensor(x)), Tensor(y))
        value = float(loss.data)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return value

    return step, lambda: [lin.weight.data for lin in model.linears] + [lin.bias.data for lin in model.linears]


def session_loop(S):
    from backlit.playground.session import Playground

    pg = Playground()

    def run(k):  # as the server calls it: many steps a tick
        pg.train_for(1e9, max_steps=k)

    return run, lambda: [lin.weight.data for lin in pg.model.linears] + [lin.bias.data for lin in pg.model.linears]


def steps(loop):
    """A loop of single steps as run(k): k steps."""
    def make(S):
        step, weights = loop(S)

        def run(k):
            for _ in range(k):
                step()
        return run, weights
    return make


LOOPS = {"numpy (hand-written)": steps(numpy_loop), "PyTorch eager": steps(torch_loop),
         "backlit nn/optim": steps(backlit_loop), "Playground.train_for": session_loop}


def bare_rates(seconds: float, check_steps: int = 300) -> dict:
    """Samples/s of each loop, after checking all of them end on the same weights after check_steps."""
    S = session_setup()
    finals = {}
    for name, make in LOOPS.items():
        run, weights = make(S)
        run(check_steps)
        finals[name] = [np.array(w, copy=True) for w in weights()]
    ref = finals["numpy (hand-written)"]
    for name, ws in finals.items():
        for a, b in zip(ws, ref):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, err_msg=f"{name} differs from numpy")
    rates = {}
    for name, make in LOOPS.items():
        run, _ = make(S)
        run(50)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            run(100)
            n += 100
        rates[name] = n * S["batch"] / (time.perf_counter() - t0)
    return rates


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f}, {b:.2f}, {c:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement windows (default 10)")
    parser.add_argument("--changes", type=int, default=200, help="control changes timed (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="numpy and PyTorch threads (default 1)")
    parser.add_argument("--skip-pace", action="store_true", help="leave out (a), the paced default page")
    parser.add_argument("--skip-big", action="store_true", help="leave out (c), the largest network")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    loads = {"start": load()}
    with served() as server, sync_playwright() as p:
        browser = p.chromium.launch(**launch_args())
        pace = None if args.skip_pace else measure_pace(browser, server.url)
        loads["a"] = load()
        fast = measure_fast(browser, server.url, args.seconds, args.changes)
        loads["b"] = load()
        big = None if args.skip_big else measure_big(browser, server.url, args.seconds)
        loads["c"] = load()
        browser.close()
    budget = min(3.0, args.seconds / 2)
    rates = bare_rates(budget)
    loads["bare"] = load()

    print(f"\nbacklit playground in headless Chromium; `backlit serve` at {server.url}; {os.cpu_count()} CPUs;"
          f" numpy/OpenBLAS and PyTorch threads: {THREADS}")
    print(f"load average (1, 5, 15 min): start {loads['start']}")
    ok = []
    if pace:
        print(f"\n(a) default page: circle, 2-4-2-1 tanh, speed 5 (50 steps/s)   [load {loads['a']}]")
        t95 = pace["t95"]
        reached = "never (within 120 s)" if t95 is None else f"{t95:.1f} s (step {pace['step95']})"
        print(f"  Train -> test_acc >= 95%: {reached}   target <= {TARGETS['acc95_s']:g} s")
        print(f"  pace seen: {pace['steps_per_s'] or 0:.1f} steps/s, {pace['frames_per_s']:.1f} frames/s")
        after = pace["flicker_after95"]
        print(f"  link colour changes per link per second ({pace['links']} links, 5 s windows):"
              f" first 5 s {pace['flicker_start']:.3f}, 5 s after 95% "
              f"{'n/a' if after is None else format(after, '.3f')}")
        ok.append(t95 is not None and t95 <= TARGETS["acc95_s"])

    lat = np.asarray(fast["latency_ms"])[:, 0]
    to_state = np.asarray(fast["latency_ms"])[:, 1]
    p50, p99 = np.percentile(lat, 50), np.percentile(lat, 99)
    rows = [
        ("frames received / s", f"{fast['received']:.1f}", f">= {TARGETS['received']:.0f}",
         fast["received"] >= TARGETS["received"]),
        ("rAF callbacks / s", f"{fast['drawn']:.1f}", f">= {TARGETS['drawn']:.0f}", fast["drawn"] >= TARGETS["drawn"]),
        ("frames drawn / s (new content)", f"{fast['contentDraws']:.1f}", "", None),
        ("training samples / s", f"{fast['samples']:,.0f}", f">= {TARGETS['samples']:,.0f}",
         fast["samples"] >= TARGETS["samples"]),
        ("control latency p50 (ms)", f"{p50:.1f}", "", None),
        ("control latency p99 (ms)", f"{p99:.1f}", f"< {TARGETS['p99_ms']:.0f}", p99 < TARGETS["p99_ms"]),
    ]
    print(f"\n(b) default page at #sp=9 (as fast as it goes), {args.seconds:g} s of training, {len(lat)} control"
          f" changes   [load {loads['b']}]")
    print(f"  frame arrays: {fast['shape']}; {fast['bytesPerFrame']:,.0f} bytes a frame;"
          f" rAF gaps > 50 ms: {fast['longFrames']};"
          f" change -> state p50/p99: {np.percentile(to_state, 50):.1f}/{np.percentile(to_state, 99):.1f} ms")
    if fast.get("drawMs") is not None:
        print(f"  {fast['drawMs']:.1f} ms of drawing per drawn frame (the page's own counters)")
    busy = fast["busy"]
    print(f"  page main thread busy {100 * busy['total']:.0f}% (script {100 * busy['script']:.0f}%,"
          f" style {100 * busy['style']:.0f}%, layout {100 * busy['layout']:.0f}%)")
    print(f"  {'measure':<32}{'value':>12}  {'target':>10}  ok")
    for name, value, target, good in rows:
        print(f"  {name:<32}{value:>12}  {target:>10}  {'' if good is None else ('yes' if good else 'NO')}")
        if good is not None:
            ok.append(good)

    if big:
        tr, idle = big["training"], big["idle"]
        print(f"\n(c) largest network: 8 x 16 tanh, {big['features']} features, 5,000 points, sp=9, 1440x900"
              f"   [load {loads['c']}]")
        print(f"  {'':<10}{'drawn frames/s':>16}{'rAF/s':>8}{'frames recv/s':>15}{'ms/draw':>9}{'samples/s':>11}")
        for name, r in (("training", tr), ("idle", idle)):
            print(f"  {name:<10}{r['contentDraws']:>16.1f}{r['pageRafs']:>8.1f}{r['received']:>15.1f}"
                  f"{(r['drawMs'] or 0):>9.1f}{r['samples']:>11,.0f}")

    print(f"\nbare training loops: the same network, data, initial weights and batches (checked: all end on the"
          f" same weights after 300 steps), {budget:g} s each   [load {loads['bare']}]")
    print(f"  {'loop':<26}{'samples/s':>12}  {'playground (b) / loop':>22}")
    for name, rate in rates.items():
        print(f"  {name:<26}{rate:>12,.0f}  {fast['samples'] / rate:>21.2f}x")
    print(f"  backlit nn/optim vs PyTorch: {rates['backlit nn/optim'] / rates['PyTorch eager']:.2f}x the samples/s;"
          f" vs numpy: {rates['backlit nn/optim'] / rates['numpy (hand-written)']:.2f}x")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
