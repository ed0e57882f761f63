"""How fast is the backlit engine? Four training workloads, up to five engines, one process.

    python benchmarks/engine.py            # full run (about a minute)
    python benchmarks/engine.py --quick    # fewer steps and repeats (a few seconds)

Engines: hand-written numpy, backlit eager, backlit compiled (``backlit.compile``: the step recorded
once, then replayed as flat numpy calls), PyTorch eager and JAX's ``jit`` (when jax is installed:
``pip install backlit[bench]``).

W1  MLP 2-16-16-1, ReLU, 100 "moons" points, hinge loss + 1e-4 L2, full batch, 100 SGD steps (float64)
W2  MLP 2-8-8-1, tanh, 500-point two-arm spiral, batch 10, BCE with logits, SGD lr 0.03 (float64)
W2g the W2 network and data, the whole step written in generic ops as a user would (one node per op,
    no fused linear or loss), with squared error:
    model(x) = tanh(x @ W.T + b) per layer, loss = ((model(x) - y) ** 2).mean()
W3  MLP 784-256-256-10, ReLU, softmax cross-entropy, batch 128 of random float32 data (float32)

Each workload trains the same network from the same initial weights with every engine, checks that the
final losses agree, and prints steps/s and each engine's speed relative to hand-written numpy. The
engines take turns, round after round, in an order rotated each round, so none of them always runs
first or after the same neighbour (whose BLAS or OpenMP threads may still be spinning); each engine's
figure is its best round. The first steps of every run (a compiled step's recordings, JAX's tracing
and XLA compilation) are not timed. The machine's load average is printed with every table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# One thread count for every engine, set before numpy loads its BLAS: BENCH_THREADS, default all cores.
THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402

CLOCK = time.perf_counter  # --clock cpu: this process's CPU time instead (steadier on a busy machine)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import moons, print_table, spiral  # noqa: E402

import backlit as bl  # noqa: E402
from backlit.nn import functional as F  # noqa: E402


# ---- workloads --------------------------------------------------------------------------------------


def init_params(sizes, dtype, seed):
    """PyTorch's default nn.Linear init: W, b ~ U(-1/√fan_in, 1/√fan_in). W is (out, in)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        k = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-k, k, (fan_out, fan_in)).astype(dtype))
        params.append(rng.uniform(-k, k, fan_out).astype(dtype))
    return params


def workload(name, quick):
    if name == "W1":
        X, y = moons(100, noise=0.1, seed=0)
        batches = [(X, (2 * y - 1).reshape(-1, 1))]
        return dict(title="W1  2-16-16-1 ReLU, moons (100), hinge + 1e-4 L2, full batch, float64",
                    sizes=[2, 16, 16, 1], act="relu", loss="hinge", l2=1e-4, lr=0.1,
                    batches=batches, steps=100, dtype=np.float64, rtol=1e-8, repeat_factor=10)
    if name == "W2":
        X, y = spiral(500, seed=0)
        batches = [(X[i:i + 10], y[i:i + 10].reshape(-1, 1)) for i in range(0, 500, 10)]
        return dict(title="W2  2-8-8-1 tanh, spiral (500), BCE with logits, batch 10, SGD lr 0.03, float64",
                    sizes=[2, 8, 8, 1], act="tanh", loss="bce", l2=0.0, lr=0.03,
                    batches=batches, steps=300 if quick else 1000, dtype=np.float64, rtol=1e-8,
                    repeat_factor=3)
    if name == "W2g":
        return dict(workload("W2", quick), loss="mse",
                    title="W2g 2-8-8-1 tanh, spiral (500), generic ops: ((model(x) - y) ** 2).mean(), float64")
    if name == "W3":
        rng = np.random.default_rng(0)
        batches = [(rng.standard_normal((128, 784)).astype(np.float32), rng.integers(0, 10, 128))
                   for _ in range(4)]
        return dict(title="W3  784-256-256-10 ReLU, softmax cross-entropy, batch 128, float32",
                    sizes=[784, 256, 256, 10], act="relu", loss="ce", l2=0.0, lr=0.01,
                    batches=batches, steps=5 if quick else 20, dtype=np.float32, rtol=1e-3, pause=0.3,
                    repeat_factor=4)
    raise ValueError(name)


# ---- backlit ------------------------------------------------------------------------------------------


WARM = 3  # untimed steps at the start of every run (a compiled step records itself during them)


def backlit_step(w, params):
    """One training step of workload ``w`` on ``params`` (forward, loss, backward, SGD), as a function."""
    layers = list(zip(params[0::2], params[1::2]))
    act, kind, l2, lr = w["act"], w["loss"], w["l2"], w["lr"]
    last = len(layers) - 1

    def step(x, y):
        h = x
        for i, (W, b) in enumerate(layers):
            h = h @ W.T + b if kind == "mse" else F.linear(h, W, b)
            if i < last:
                h = h.relu() if act == "relu" else h.tanh()
        if kind == "hinge":
            loss = F.hinge_loss(h, y)
        elif kind == "bce":
            loss = F.binary_cross_entropy_with_logits(h, y)
        elif kind == "mse":
            loss = ((h - y) ** 2).mean()  # generic ops, one node each, as a user writes it
        else:
            loss = F.cross_entropy(h, y)
        if l2:
            loss = loss + l2 * F.l2_penalty(params)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        return loss

    return step


def train_backlit(w, params0, compiled=False):
    params = [bl.tensor(p, requires_grad=True, dtype=w["dtype"]) for p in params0]
    step = backlit_step(w, params)
    if compiled:
        step = bl.compile(step)
    batches = [(bl.as_tensor(x), bl.as_tensor(y)) if x.dtype.kind == "f" and y.dtype.kind == "f"
               else (bl.as_tensor(x), y) for x, y in w["batches"]]
    loss = None
    t0 = None
    for k in range(w["steps"]):
        if k == WARM:
            t0 = CLOCK()
        x, y = batches[k % len(batches)]
        loss = step(x, y)
    secs = CLOCK() - t0
    # the workload's dtype must survive end to end (float32 stays float32 in W3)
    assert loss.dtype == w["dtype"] and all(p.grad.dtype == p.data.dtype == w["dtype"] for p in params)
    if compiled:
        assert step.stats["replays"] >= w["steps"] - WARM, step.reasons
    return secs, loss.item()


def train_compiled(w, params0):
    return train_backlit(w, params0, compiled=True)


# ---- PyTorch eager ------------------------------------------------------------------------------------


def train_torch(w, params0):
    import torch
    import torch.nn.functional as TF

    params = [torch.tensor(p, requires_grad=True) for p in params0]
    layers = list(zip(params[0::2], params[1::2]))
    act, kind, l2, lr = w["act"], w["loss"], w["l2"], w["lr"]
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in w["batches"]]
    last = len(layers) - 1
    loss = t0 = None
    for step in range(w["steps"]):
        if step == WARM:
            t0 = CLOCK()
        x, y = batches[step % len(batches)]
        h = x
        for i, (W, b) in enumerate(layers):
            h = h @ W.T + b if kind == "mse" else TF.linear(h, W, b)
            if i < last:
                h = torch.relu(h) if act == "relu" else torch.tanh(h)
        if kind == "hinge":
            loss = torch.relu(1 - y * h).mean()
        elif kind == "bce":
            loss = TF.binary_cross_entropy_with_logits(h, y)
        elif kind == "mse":
            loss = ((h - y) ** 2).mean()
        else:
            loss = TF.cross_entropy(h, y)
        if l2:
            loss = loss + l2 * 0.5 * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
    return CLOCK() - t0, loss.item()


# ---- hand-written numpy --------------------------------------------------------------------------------


def train_numpy(w, params0):
    params = [p.copy() for p in params0]
    Ws, bs = params[0::2], params[1::2]
    act, kind, l2, lr, batches = w["act"], w["loss"], w["l2"], w["lr"], w["batches"]
    L = len(Ws)
    loss = t0 = None
    for step in range(w["steps"]):
        if step == WARM:
            t0 = CLOCK()
        x, y = batches[step % len(batches)]
        hs = [x]
        h = x
        for i in range(L):
            h = h @ Ws[i].T + bs[i]
            if i < L - 1:
                h = np.maximum(h, 0) if act == "relu" else np.tanh(h)
            hs.append(h)
        n = h.shape[0]
        if kind == "hinge":
            margin = 1 - y * h
            loss = np.maximum(margin, 0).mean()
            d = -y * (margin > 0) / margin.size
        elif kind == "bce":
            e = np.exp(-np.abs(h))
            loss = (np.maximum(h, 0) - h * y + np.log1p(e)).mean()
            d = (np.where(h >= 0, 1.0, e) / (1 + e) - y) / h.size
        elif kind == "mse":
            r = h - y
            loss = (r * r).mean()
            d = r * (2.0 / r.size)
        else:
            m = h.max(axis=1, keepdims=True)
            e = np.exp(h - m)
            s = e.sum(axis=1, keepdims=True)
            loss = (np.log(s[:, 0]) + m[:, 0] - h[np.arange(n), y]).mean()
            d = e / s
            d[np.arange(n), y] -= 1
            d /= n
        if l2:
            loss = loss + l2 * 0.5 * sum((p * p).sum() for p in params)
        for i in reversed(range(L)):
            gW = d.T @ hs[i]
            gb = d.sum(axis=0)
            if i > 0:
                d = d @ Ws[i]
                d = d * (hs[i] > 0) if act == "relu" else d * (1 - hs[i] * hs[i])
            if l2:
                gW += l2 * Ws[i]
                gb += l2 * bs[i]
            Ws[i] -= lr * gW
            bs[i] -= lr * gb
    return CLOCK() - t0, float(loss)


# ---- JAX's jit ------------------------------------------------------------------------------------------

_JAX_STEPS = {}  # one jitted step per workload, so XLA compiles it once per process


def _jax_step(w):
    import jax
    import jax.numpy as jnp

    act, kind, l2, lr = w["act"], w["loss"], w["l2"], w["lr"]

    def loss_fn(params, x, y):
        h = x
        L = len(params) // 2
        for i in range(L):
            h = h @ params[2 * i].T + params[2 * i + 1]
            if i < L - 1:
                h = jax.nn.relu(h) if act == "relu" else jnp.tanh(h)
        if kind == "hinge":
            loss = jnp.mean(jax.nn.relu(1 - y * h))
        elif kind == "bce":
            loss = jnp.mean(jnp.logaddexp(0, h) - h * y)
        elif kind == "mse":
            loss = jnp.mean((h - y) ** 2)
        else:
            logp = jax.nn.log_softmax(h, axis=-1)
            loss = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        if l2:
            loss = loss + l2 * 0.5 * sum(jnp.sum(p * p) for p in params)
        return loss

    def step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return [p - lr * g for p, g in zip(params, grads)], loss

    return jax.jit(step)


def train_jax(w, params0):
    import jax

    key = w["title"]
    if key not in _JAX_STEPS:
        _JAX_STEPS[key] = _jax_step(w)
    step = _JAX_STEPS[key]
    params = [jax.device_put(p) for p in params0]
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in w["batches"]]
    loss = t0 = None
    for k in range(w["steps"]):
        if k == WARM:
            jax.block_until_ready(params)
            t0 = CLOCK()
        x, y = batches[k % len(batches)]
        params, loss = step(params, x, y)
    jax.block_until_ready(params)
    return CLOCK() - t0, float(loss)


# ---- main ---------------------------------------------------------------------------------------------------


def engines():
    """The engines of this run: jax only when it is installed."""
    out = [("numpy", train_numpy), ("backlit", train_backlit), ("compiled", train_compiled),
           ("torch", train_torch)]
    try:
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 workloads stay float64, as in the others
        out.append(("jax", train_jax))
    except ImportError:
        pass
    return out


def run(name, quick, repeats, engine_list):
    w = workload(name, quick)
    params0 = init_params(w["sizes"], w["dtype"], seed=1)
    for _, fn in engine_list:  # warm every engine up once (imports, BLAS threads, XLA compilation)
        fn(dict(w, steps=min(w["steps"], WARM + 5)), params0)
    best = {engine: (float("inf"), None) for engine, _ in engine_list}
    load0 = os.getloadavg()[0]
    rounds = repeats * w.get("repeat_factor", 1)
    for r in range(rounds):
        # Engines take turns, in an order rotated every round: none always runs first or after the
        # same neighbour. A pause lets the previous engine's BLAS/OpenMP threads go idle (W3).
        order = engine_list[r % len(engine_list):] + engine_list[:r % len(engine_list)]
        for engine, fn in order:
            time.sleep(w.get("pause", 0))
            secs, loss = fn(w, params0)
            best[engine] = (min(best[engine][0], secs), loss)
    load1 = os.getloadavg()[0]
    timed = w["steps"] - WARM
    rows = [(engine, timed, secs, loss) for engine, (secs, loss) in best.items()]
    print_table(f"{w['title']}  ({w['steps']} steps, {timed} timed, best of {rounds} rounds; "
                f"load {load0:.2f} -> {load1:.2f})", rows)
    losses = {r[0]: r[3] for r in rows}
    agree = all(np.isclose(v, losses["numpy"], rtol=w["rtol"], atol=1e-12) for v in losses.values())
    rate = {r[0]: r[1] / r[2] for r in rows}
    print(f"  final losses agree (rtol {w['rtol']:g}): {'yes' if agree else 'NO'}")
    print(f"  backlit / torch: {rate['backlit'] / rate['torch']:.2f}x    "
          f"backlit / numpy: {rate['backlit'] / rate['numpy']:.2f}x    "
          f"compiled / backlit: {rate['compiled'] / rate['backlit']:.2f}x speed" +
          (f"    compiled time / jax time: {rate['jax'] / rate['compiled']:.2f}x" if "jax" in rate else ""))
    return agree


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and a single repeat")
    parser.add_argument("--only", choices=["W1", "W2", "W2g", "W3"], action="append", help="run only these workloads")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or this process's CPU time (time.process_time: a step that "
                             "waits for a core on a busy machine is not charged the wait; use BENCH_THREADS=1)")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    import torch

    torch.set_num_threads(THREADS)
    engine_list = engines()
    jax_version = next((f", jax {__import__('jax').__version__}" for e, _ in engine_list if e == "jax"),
                       " (jax not installed: pip install backlit[bench])")
    print(f"numpy {np.__version__}, torch {torch.__version__}{jax_version}, backlit {bl.__version__}; "
          f"{THREADS} thread(s) for numpy's BLAS and for torch (BENCH_THREADS); {args.clock} clock")
    repeats = 1 if args.quick else 3
    ok = all([run(name, args.quick, repeats, engine_list) for name in (args.only or ["W1", "W2", "W2g", "W3"])])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
