"""How fast does backlit train a small CNN? The digits CNN, three engines, one process.

    python benchmarks/conv.py            # about 20 seconds
    python benchmarks/conv.py --quick    # a few seconds

C1  Conv2d(1→4, 3×3, padding 1) → ReLU → MaxPool2d(2) → Flatten → Linear(64→10), softmax
    cross-entropy, batches of 32 of the 8×8 digits, SGD lr 0.05, float64.

Each engine trains the same network from the same initial weights on the same batches: backlit,
PyTorch eager, and hand-written numpy (im2col forward, col2im backward, the usual way to write a
convolution by hand). The three final losses must agree. Rounds interleave the engines, rotating
which goes first, and the best round of each is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

THREADS = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402

import backlit as bl  # noqa: E402
from backlit import nn  # noqa: E402
from backlit.lab import digits  # noqa: E402
from backlit.nn import functional as F  # noqa: E402

LR = 0.05
BATCH = 32


def batches(steps, seed=0):
    Xtr, ytr, _, _ = digits.split(seed=0)
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < steps:
        order = rng.permutation(len(Xtr))
        for i in range(0, len(order) - BATCH + 1, BATCH):
            b = order[i:i + BATCH]
            out.append((digits.as_images(Xtr[b]), ytr[b]))
    return out[:steps]


def initial(seed=0):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(64, 10, seed=seed + 1, init="xavier"))
    return [p.data.copy() for p in model.parameters()]


def run_backlit(params, data):
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(64, 10))
    for p, v in zip(model.parameters(), params):
        p.data[...] = v
    opt = bl.optim.SGD(model.parameters(), lr=LR)
    for x, y in data:
        loss = F.cross_entropy(model(bl.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.item())


def run_torch(params, data):
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(64, 10)).double()
    with torch.no_grad():
        for p, v in zip(model.parameters(), params):
            p.copy_(torch.from_numpy(v))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]
    for x, y in data:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.item())


def run_numpy(params, data):
    """im2col by hand: cols (N·H·W, 9) from the padded image, one matmul per layer, col2im back."""
    Wc, bc, Wl, bl_ = [p.copy() for p in params]
    k = 3
    for x, y in data:
        n = x.shape[0]
        xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
        cols = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2)).reshape(n * 64, 9)
        z = (cols @ Wc.reshape(4, 9).T + bc).reshape(n, 8, 8, 4)          # NHWC
        a = np.maximum(z, 0)
        blocks = a.reshape(n, 4, 2, 4, 2, 4).transpose(0, 1, 3, 5, 2, 4).reshape(n, 4, 4, 4, 4)
        arg = blocks.argmax(-1)
        pooled = np.take_along_axis(blocks, arg[..., None], -1)[..., 0]   # (n, 4, 4, C) in NHWC order
        flat = pooled.transpose(0, 3, 1, 2).reshape(n, 64)                # torch's NCHW flatten
        logits = flat @ Wl.T + bl_
        m = logits.max(1, keepdims=True)
        e = np.exp(logits - m)
        p = e / e.sum(1, keepdims=True)
        loss = float(np.mean(np.log(e.sum(1)) + m[:, 0] - logits[np.arange(n), y]))
        g = p
        g[np.arange(n), y] -= 1
        g /= n
        gWl, gbl = g.T @ flat, g.sum(0)
        gflat = (g @ Wl).reshape(n, 4, 4, 4).transpose(0, 2, 3, 1)      # back to (n, 4, 4, C)
        gblocks = np.zeros_like(blocks)
        np.put_along_axis(gblocks, arg[..., None], gflat[..., None], -1)
        ga = gblocks.reshape(n, 4, 4, 4, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 8, 8, 4)
        gz = (ga * (z > 0)).reshape(n * 64, 4)
        gWc, gbc = (gz.T @ cols).reshape(4, 1, 3, 3), gz.sum(0)
        Wc -= LR * gWc
        bc -= LR * gbc
        Wl -= LR * gWl
        bl_ -= LR * gbl
    return loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    args = parser.parse_args(argv)
    steps, rounds = (60, 3) if args.quick else (300, 5)
    try:
        import torch

        torch.set_num_threads(THREADS)
        engines = {"backlit": run_backlit, "torch": run_torch, "numpy": run_numpy}
    except ImportError:
        engines = {"backlit": run_backlit, "numpy": run_numpy}
    params, data = initial(), batches(steps)
    best, losses = {name: float("inf") for name in engines}, {}
    names = list(engines)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            losses[name] = engines[name](params, data)
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = losses["numpy"]
    for name, loss in losses.items():
        if abs(loss - ref) > 1e-9 * max(1.0, abs(ref)):
            print(f"{name} ended on loss {loss!r}, numpy on {ref!r}: not the same work", file=sys.stderr)
            return 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"C1  digits CNN (conv 3x3x4, relu, maxpool 2, linear 64-10), batch {BATCH}, {steps} SGD steps, "
          f"float64, {THREADS} thread(s), load {load:.2f}; final loss {ref:.6f} in every engine")
    print(f"{'engine':<10}{'steps/s':>10}{'time vs numpy':>16}")
    for name in engines:
        print(f"{name:<10}{steps / best[name]:>10.0f}{best[name] / best['numpy']:>15.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
