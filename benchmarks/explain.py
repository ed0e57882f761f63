"""How much does explaining a step cost?

    python benchmarks/explain.py [--repeat 5]

On the playground's default network (features x1, x2; hidden 4, 2; tanh; one logit; BCE; float64):

1. the trace exactly as the page pays for it: ``Playground.trace()`` on a default session (circle,
   selected sample 0: ``explain.trace`` with the training set and ``to_dict()`` with the cost meter;
   were an lr preview added to it, the figure without one is shown too), against one training step
   (zero_grad, forward, loss, backward, SGD step) on one sample and on a batch of 10. Also shown: the
   bare ``explain.trace``, and the JSON encoding the server then does. Target: at most 3x one
   one-sample training step.
2. the same trace (every z, a, dL/da, delta, dL/dW, dL/db and dL/dx) written by hand in numpy, and in
   PyTorch with retain_grad, checked to agree with backlit's numbers, as ratios.
3. ``explain.grid`` at 100x100 with the neuron maps at 25x25, on the default network and on a 2-8-8-1
   network (16 hidden-neuron maps), against hand-written numpy and PyTorch (no_grad) computing the same
   arrays in one batched pass. Target: under 2 ms with 16 neuron maps.
4. the cost meter of the trace (one forward + backward against 2P finite-difference forwards).

Times are CPU time of this process (time.process_time), the best of --repeat runs of many calls each (the
training steps and the traces in turn, round after round, so that their ratio compares like with like): on
a shared machine, wall-clock time mostly measures the neighbours. numpy (OpenBLAS/OMP/MKL) and PyTorch
both run on one thread (set before numpy is imported).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: the same single thread as PyTorch below

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

from backlit.lab import trace as explain  # noqa: E402
from backlit import nn
from backlit.nn import optim
from backlit.nn import functional as F  # noqa: E402
from backlit.playground.session import Playground  # noqa: E402

FEATURES = ["x1", "x2"]
TRACE_TARGET = 3.0
GRID_TARGET_MS = 2.0


def best_us(fn, repeat: int, budget_s: float = 0.1) -> float:
    """Best per-call time in microseconds: `repeat` runs of enough calls to fill about `budget_s`."""
    fn()
    t = timeit.Timer(fn, timer=time.process_time)
    n, _ = t.autorange()
    n = max(1, int(n * budget_s / 0.2))
    return min(t.repeat(repeat=repeat, number=n)) / n * 1e6


def paired_best_us(fns: dict, repeat: int, budget_s: float = 0.05) -> dict:
    """Best per-call time of each function in microseconds, the functions timed in turn in each of
    `repeat` rounds: a ratio between two of them then compares runs that saw the same neighbours."""
    timers, numbers = {}, {}
    for name, fn in fns.items():
        fn()
        timers[name] = timeit.Timer(fn, timer=time.process_time)
        n, _ = timers[name].autorange()
        numbers[name] = max(1, int(n * budget_s / 0.2))
    best = {name: float("inf") for name in fns}
    for _ in range(max(1, repeat) * 2):
        for name, t in timers.items():
            best[name] = min(best[name], t.timeit(numbers[name]) / numbers[name] * 1e6)
    return best


# ---- hand-written numpy -------------------------------------------------------------------------

def numpy_trace(Ws, bs, x, y):
    """The trace of a tanh MLP with a linear output and BCE-with-logits, by hand (one sample as (1, 2))."""
    a, zs, acts = x, [], [x]
    L = len(Ws)
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W.T + b
        a = np.tanh(z) if l < L - 1 else z
        zs.append(z)
        acts.append(a)
    out = acts[-1]
    loss = np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out))))
    p = 0.5 * (1 + np.tanh(0.5 * out))                 # sigmoid
    delta = (p - y) / out.size                         # dL/dz of the output, batch mean
    grad_a, deltas, gWs, gbs = [None] * L, [None] * L, [None] * L, [None] * L
    grad_a[-1] = delta
    for l in range(L - 1, -1, -1):
        deltas[l] = delta
        gWs[l] = delta.T @ acts[l]
        gbs[l] = delta.sum(0)
        g_in = delta @ Ws[l]
        if l > 0:
            grad_a[l - 1] = g_in
            delta = g_in * (1 - acts[l] ** 2)
    return dict(loss=loss, z=zs, a=acts[1:], grad_a=grad_a, delta=deltas, grad_W=gWs, grad_b=gbs,
                input_grad=g_in, prediction=p)


def numpy_grid(Ws, bs, inputs, m, nr):
    a, maps = inputs, [inputs[m:].T.reshape(-1, nr, nr)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        a = a @ W.T + b
        if l < len(Ws) - 1:
            a = np.tanh(a)
        maps.append(a[m:].T.reshape(-1, nr, nr))
    return a[:m], maps


# ---- PyTorch ------------------------------------------------------------------------------------

def torch_setup():
    import torch

    torch.set_num_threads(1)
    return torch


def torch_trace(torch, Wt, bt, x, y):
    X = torch.tensor(x, requires_grad=True)
    for p in (*Wt, *bt):
        p.grad = None
    a, zs, acts = X, [], []
    for l, (W, b) in enumerate(zip(Wt, bt)):
        z = a @ W.T + b
        z.retain_grad()
        a = torch.tanh(z) if l < len(Wt) - 1 else z
        a.retain_grad()
        zs.append(z)
        acts.append(a)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(a, y)
    loss.backward()
    return dict(loss=loss.item(), z=[z.detach().numpy() for z in zs], a=[t.detach().numpy() for t in acts],
                grad_a=[t.grad.numpy() for t in acts], delta=[z.grad.numpy() for z in zs],
                grad_W=[W.grad.numpy().copy() for W in Wt], grad_b=[b.grad.numpy().copy() for b in bt],
                input_grad=X.grad.numpy(), prediction=torch.sigmoid(a).detach().numpy())


def torch_grid(torch, Wt, bt, inputs, m, nr):
    with torch.no_grad():
        a = torch.from_numpy(inputs)
        maps = [a[m:].T.reshape(-1, nr, nr)]
        for l, (W, b) in enumerate(zip(Wt, bt)):
            a = torch.addmm(b, a, W.T)
            if l < len(Wt) - 1:
                a = torch.tanh(a)
            maps.append(a[m:].T.reshape(-1, nr, nr))
        return a[:m].numpy(), [t.numpy() for t in maps]


def agree(tr, ref, name):
    """backlit's trace equals a reference (numpy or torch) to float64 rounding."""
    def same(a, b):
        np.testing.assert_allclose(np.ravel(a), np.ravel(b), rtol=1e-9, atol=1e-12, err_msg=name)
    same(tr.loss, ref["loss"])
    same(tr.input_grad, ref["input_grad"])
    same(tr.prediction, ref["prediction"])
    for l, lt in enumerate(tr.layers):
        for key in ("z", "a", "grad_a", "delta", "grad_W", "grad_b"):
            same(getattr(lt, key), ref[key][l])


# ---- the benchmark ------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best is kept)")
    args = parser.parse_args(argv)
    R = args.repeat

    # 1. the trace as Playground.trace() pays it, against a training step, on the default session
    pg = Playground()
    assert (pg.config["dataset"], pg.config["hidden"], pg.config["features"]) == ("circle", [4, 2], FEATURES)
    model = pg.model
    Xtr, ytr = pg.X_train, pg.y_train
    x, y = Xtr[pg.selected], ytr[pg.selected]
    feats_tr = pg.Xf_train
    y_tr = ytr.reshape(-1, 1).astype(np.float64)
    opt = optim.SGD(model.parameters(), lr=0.0)   # lr 0 keeps the weights fixed while timing

    def train_step(xb, yb):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(xb), yb)
        loss.backward()
        opt.step()

    def page_trace_no_preview():   # what Playground.trace() does without an lr preview
        tr = pg._trace()
        with np.errstate(all="ignore"):
            d = tr.to_dict(cost=True)   # the cost meter: measured once per network shape, then looked up
        d["index"] = int(pg.selected)
        return [{"type": "trace", "trace": d}]

    first = explain.trace(model, x, y, loss="bce", features=FEATURES, train_X=Xtr, train_y=ytr)
    t0 = timeit.default_timer()
    cost = first.cost()            # measures the 2P finite-difference forwards once for this shape
    t_cost_first = (timeit.default_timer() - t0) * 1e3
    msg = pg.trace()
    with_preview = msg[0]["trace"]["preview"] is not None
    paired = paired_best_us({
        "step1": lambda: train_step(feats_tr[:1], y_tr[:1]),
        "step10": lambda: train_step(feats_tr[:10], y_tr[:10]),
        "trace": lambda: explain.trace(model, x, y, loss="bce", features=FEATURES),
        "method": pg.trace}, R)
    step1, step10, t_trace, t_method = paired["step1"], paired["step10"], paired["trace"], paired["method"]
    t_nopreview = best_us(page_trace_no_preview, R)
    t_json = best_us(lambda: json.dumps(msg[0]), R)
    msg_np = page_trace_no_preview()
    t_json_np = best_us(lambda: json.dumps(msg_np[0]), R)

    # 2. the same trace by hand in numpy and in PyTorch
    Ws = [lin.weight.data for lin in model.linears]
    bs = [lin.bias.data for lin in model.linears]
    x2, y2 = x[None], np.array([[float(y)]])
    tr = explain.trace(model, x2, y2.ravel(), loss="bce", features=FEATURES)
    agree(tr, numpy_trace(Ws, bs, x2, y2), "numpy")
    t_np = best_us(lambda: numpy_trace(Ws, bs, x2, y2), R)
    torch = None
    try:
        torch = torch_setup()
    except ImportError:
        pass
    if torch is not None:
        Wt = [torch.tensor(W, requires_grad=True) for W in Ws]
        bt = [torch.tensor(b, requires_grad=True) for b in bs]
        yt = torch.tensor(y2)
        agree(tr, torch_trace(torch, Wt, bt, x2, yt), "torch")
        t_torch = best_us(lambda: torch_trace(torch, Wt, bt, x2, yt), R)

    # 3. grids
    grids = []
    for sizes in ([2, 4, 2, 1], [2, 8, 8, 1]):
        m_ = nn.MLP(sizes, activation="tanh", seed=2)
        g = explain.grid(m_, resolution=100, neuron_resolution=25, features=FEATURES)
        inputs = np.array(explain._grid_inputs(-6.0, 6.0, 100, 25, tuple(FEATURES)))  # writable copy
        Wg = [lin.weight.data for lin in m_.linears]
        bg = [lin.bias.data for lin in m_.linears]
        out_np, maps_np = numpy_grid(Wg, bg, inputs, 100 * 100, 25)
        np.testing.assert_allclose(g.output.reshape(-1, 1), out_np, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(g.neuron_maps(), np.concatenate(maps_np), rtol=1e-12, atol=1e-12)
        row = {"sizes": sizes, "hidden_maps": sum(sizes[1:-1]), "maps": g.neuron_maps().shape[0],
               "backlit": best_us(lambda: explain.grid(m_, features=FEATURES), R) / 1e3,
               "numpy": best_us(lambda: numpy_grid(Wg, bg, inputs, 100 * 100, 25), R) / 1e3}
        if torch is not None:
            Wt_ = [torch.tensor(W) for W in Wg]
            bt_ = [torch.tensor(b) for b in bg]
            row["torch"] = best_us(lambda: torch_grid(torch, Wt_, bt_, inputs, 100 * 100, 25), R) / 1e3
        grids.append(row)

    # report
    ratio1 = t_method / step1
    print("explain benchmark: default session (circle, 2-4-2-1 tanh, BCE, float64), one sample\n")
    print(f"  training step, 1 sample          {step1:8.1f} us")
    print(f"  training step, batch of 10       {step10:8.1f} us")
    print(f"  explain.trace alone              {t_trace:8.1f} us   {t_trace / step1:4.2f}x step")
    print(f"  Playground.trace()               {t_method:8.1f} us   {ratio1:4.2f}x step (1 sample), "
          f"{t_method / step10:4.2f}x step (batch 10)   target <= {TRACE_TARGET:g}x: "
          f"{'PASS' if ratio1 <= TRACE_TARGET else 'FAIL'}"
          f"{'   (it still sends the lr preview)' if with_preview else '   (no preview)'}")
    if with_preview:
        print(f"  the same without the preview     {t_nopreview:8.1f} us   {t_nopreview / step1:4.2f}x step (1 sample)"
              f"   (the preview adds 4 forwards, 2 over the {len(Xtr)}-point training set)")
    print(f"  json.dumps of that message       {t_json:8.1f} us   (the server's encoding, not counted above"
          + (f"; without the preview {t_json_np:.1f} us)" if with_preview else ")"))
    print(f"  same trace, hand-written numpy   {t_np:8.1f} us   backlit trace is {t_trace / t_np:4.1f}x numpy")
    if torch is not None:
        print(f"  same trace, PyTorch retain_grad  {t_torch:8.1f} us   backlit trace is "
              f"{t_trace / t_torch:4.2f}x PyTorch")
    print(f"\n  cost meter: P = {cost['params']}, forward+backward {cost['forward_backward_ms'] * 1e3:.0f} us, "
          f"{cost['fd_passes']} finite-difference forwards {cost['fd_ms'] * 1e3:.0f} us "
          f"({'measured' if cost['fd_measured'] else 'estimated'}), ratio {cost['ratio']:.1f}x; "
          f"first cost() call {t_cost_first:.1f} ms (measures once per network shape)")
    print("\ngrid: 100x100 output + 25x25 map per neuron (inputs, hidden, output), one batched pass\n")
    for row in grids:
        line = (f"  {'-'.join(map(str, row['sizes'])):9s} {row['hidden_maps']:2d} hidden maps "
                f"({row['maps']} in all)  backlit {row['backlit']:6.3f} ms   numpy {row['numpy']:6.3f} ms")
        if "torch" in row:
            line += f"   PyTorch {row['torch']:6.3f} ms"
        line += f"   backlit/numpy {row['backlit'] / row['numpy']:4.2f}x"
        print(line)
    big = grids[-1]["backlit"]
    print(f"\n  16 hidden maps: {big:.3f} ms, target < {GRID_TARGET_MS:g} ms: "
          f"{'PASS' if big < GRID_TARGET_MS else 'FAIL'}")
    print(f"\n  1-min load average at the end: {os.getloadavg()[0]:.2f}")
    return 0 if ratio1 <= TRACE_TARGET and big < GRID_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
