"""Shared helpers for the benchmark scripts: timing, a results table, and the playground's 2-D datasets.

Benchmarks are plain scripts (``python benchmarks/<name>.py``), never tests: timing on a shared
machine is too noisy to assert on.
"""

from __future__ import annotations

import time

import numpy as np

from backlit.lab import data


def best_time(fn, repeats=3):
    """Run ``fn()`` ``repeats`` times; return (best wall time in seconds, the last return value).

    The best of several runs is the least disturbed by other processes on the machine.
    """
    best, result = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def print_table(title, rows, reference="numpy"):
    """Print steps/s per engine and each engine's speed relative to ``reference``.

    ``rows`` is a list of (engine name, steps, seconds, final loss).
    """
    ref = next((r for r in rows if r[0] == reference), rows[0])
    ref_rate = ref[1] / ref[2]
    print(f"\n{title}")
    print(f"  {'engine':<10} {'steps/s':>10} {'us/step':>10} {'vs ' + reference:>10} {'final loss':>14}")
    for name, steps, secs, loss in rows:
        rate = steps / secs
        print(f"  {name:<10} {rate:>10.0f} {1e6 / rate:>10.1f} {rate / ref_rate:>9.2f}x {loss:>14.8g}")


def moons(n=100, noise=0.1, seed=0):
    """Two interleaving half circles: ``backlit.lab.data.make("moons", ...)`` (the playground's set, scaled by
    3 and centred; ``noise`` is the playground's: Gaussian jitter of 2 * noise plane units).

    Returns (X, y): X of shape (n, 2) float64, y of shape (n,) float64 labels 0/1.
    """
    ds = data.make("moons", n=n, noise=noise, seed=seed)
    return ds.X, ds.y.astype(np.float64)


def spiral(n=500, noise=0.0, seed=0):
    """Two interleaved spiral arms, as in TF Playground (points in about [-5, 5]²):
    ``backlit.lab.data.make("spiral", ...)``.

    Returns (X, y): X of shape (n, 2) float64, y of shape (n,) float64 labels 0/1.
    """
    ds = data.make("spiral", n=n, noise=noise, seed=seed)
    return ds.X, ds.y.astype(np.float64)


def train_split(name="spiral", n=500, noise=0.0, seed=1, train_ratio=0.5):
    """The training part of a playground dataset, as a session with this seed builds it
    (``data.make`` then ``data.split`` with the same seed): X (m, 2) float64, y (m, 1) float64."""
    X, y, _, _ = data.split(data.make(name, n=n, noise=noise, seed=seed), train_ratio=train_ratio, seed=seed)
    return X, y.astype(np.float64).reshape(-1, 1)
