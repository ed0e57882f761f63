"""Shared helpers for the benchmark scripts: timing, a results table, and small 2-D datasets.

Benchmarks are plain scripts (``python benchmarks/<name>.py``), never tests: timing on a shared
machine is too noisy to assert on.
"""

from __future__ import annotations

import time

import numpy as np


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
    """Two interleaving half circles (as scikit-learn's make_moons); labels 0/1."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    X = np.vstack([
        np.column_stack([np.cos(t_out), np.sin(t_out)]),
        np.column_stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5]),
    ])
    y = np.concatenate([np.zeros(n_out), np.ones(n_in)])
    X += rng.normal(scale=noise, size=X.shape)
    return X, y


def spiral(n=500, noise=0.0, seed=0):
    """Two interleaved spiral arms, as in TF Playground (points in about [-5, 5]²); labels 0/1."""
    rng = np.random.default_rng(seed)
    half = n // 2
    pts, labels = [], []
    for label, delta in ((1, 0.0), (0, np.pi)):
        i = np.arange(half)
        r = i / half * 5
        t = 1.75 * i / half * 2 * np.pi + delta
        x = r * np.sin(t) + rng.uniform(-1, 1, half) * noise
        y = r * np.cos(t) + rng.uniform(-1, 1, half) * noise
        pts.append(np.column_stack([x, y]))
        labels.append(np.full(half, label))
    X = np.vstack(pts)
    y = np.concatenate(labels).astype(float)
    order = rng.permutation(len(X))
    return X[order], y[order]
