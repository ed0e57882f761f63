"""Classical optimisation as a differentiable program: the least-squares circle through noisy points.

The geometric fit minimises the sum of squared distances from each point to the circle,
    E(a, b, r) = Σ_i (|p_i - (a, b)| - r)²,
a non-linear least-squares problem usually solved with Gauss-Newton or Levenberg-Marquardt. Here we
write E with backlit tensors and let backprop supply ∂E/∂(a, b, r) for plain gradient descent with
momentum, started from the closed-form algebraic fit (Kåsa's linear least squares). The answer is
compared with scipy's Levenberg-Marquardt solution when scipy is installed.

    python examples/circle_fit.py [--quick] [--out docs/img/circle_fit.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import backlit as bl  # noqa: E402
from backlit.nn import optim  # noqa: E402


def points(n=40, seed=0):
    """Noisy points on a third of the circle of centre (2, -1), radius 3: hard for the algebraic fit."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.2, 2.3, n)
    return np.column_stack([2 + 3 * np.cos(t), -1 + 3 * np.sin(t)]) + rng.normal(0, 0.15, (n, 2))


def energy(params, P):
    """E = Σ (|p - c| - r)² for params = (a, b, r)."""
    d = P - params[:2]
    return ((((d * d).sum(axis=1)).sqrt() - params[2]) ** 2).sum()


def kasa(P):
    """Algebraic fit: minimise Σ (x² + y² + D x + E y + F)², linear in (D, E, F); closed form."""
    A = np.column_stack([P, np.ones(len(P))])
    D, E, F = np.linalg.lstsq(A, -(P ** 2).sum(axis=1), rcond=None)[0]
    a, b = -D / 2, -E / 2
    return np.array([a, b, np.sqrt(a * a + b * b - F)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (for the test suite)")
    parser.add_argument("--out", default="docs/img/circle_fit.png")
    args = parser.parse_args(argv)
    P = points()

    start = kasa(P)
    params = bl.tensor(start, requires_grad=True)
    opt = optim.SGD([params], lr=2e-3, momentum=0.9)
    history = []
    for _ in range(100 if args.quick else 2000):
        loss = energy(params, P)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    fit = params.data.copy()
    print(f"algebraic fit  (a, b, r) = {start.round(6)}   E = {energy(bl.tensor(start), P).item():.6f}")
    print(f"gradient fit   (a, b, r) = {fit.round(6)}   E = {energy(bl.tensor(fit), P).item():.6f}")
    try:
        from scipy.optimize import least_squares
    except ImportError:
        best = None
        print("scipy is not installed: no reference solution")
    else:
        res = least_squares(lambda q: np.hypot(*(P - q[:2]).T) - q[2], start, method="lm", xtol=1e-15)
        best = res.x
        print(f"scipy LM       (a, b, r) = {best.round(6)}   E = {energy(bl.tensor(best), P).item():.6f}")
        print(f"largest difference from scipy's optimum: {np.abs(fit - best).max():.1e}")
        if not args.quick:
            assert np.abs(fit - best).max() < 1e-6

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(*P.T, "k.", label="points")
    for (a, b, r), style, label in ((start, "--", "algebraic (closed form)"), (fit, "-", "gradient descent")):
        ax.plot(a + r * np.cos(t), b + r * np.sin(t), style, label=f"{label}: r = {r:.3f}")
    ax.set(aspect="equal", title="Least-squares circle fit")
    ax.legend(fontsize=8, loc="lower left")
    bx.semilogy(np.array(history) - min(history) + 1e-12)
    bx.set(xlabel="step", ylabel="E - min E", title="Energy above its minimum")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
