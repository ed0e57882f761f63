"""Physics as a differentiable program: aim a ball with air drag at a target.

The flight is simulated by explicit Euler over 200 steps, with quadratic drag:
    v' = g - k·|v|·v        x' = v
The whole simulation is one backlit graph, so backprop through all 200 steps gives the derivative of
the miss distance with respect to the launch velocity, and gradient descent finds the launch velocity
that hits the target. The gradient is checked against finite differences first.

    python examples/projectile.py [--quick] [--out docs/img/projectile.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import backlit as bl  # noqa: E402

G = np.array([0.0, -9.81])  # gravity, m/s²
K = 0.05                     # drag coefficient per metre
T, STEPS = 2.0, 200          # flight time and Euler steps
TARGET = np.array([12.0, 3.0])  # where the ball should be at time T


def simulate(v0, steps=STEPS):
    """Positions of the ball (a list of 2-vectors) launched from (0, 0) with velocity v0."""
    dt = T / steps
    x, v = bl.tensor(np.zeros(2)), v0
    path = [x]
    for _ in range(steps):
        speed = ((v * v).sum() + 1e-12).sqrt()
        v = v + (G - K * speed * v) * dt
        x = x + v * dt
        path.append(x)
    return path


def miss(v0):
    """Squared distance from the ball at time T to the target."""
    d = simulate(v0)[-1] - TARGET
    return (d * d).sum()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few iterations (for the test suite)")
    parser.add_argument("--out", default="docs/img/projectile.png")
    args = parser.parse_args(argv)

    v0 = np.array([5.0, 5.0])
    value_and_grad = bl.value_and_grad(miss)

    # 1. Check the gradient through 200 Euler steps against central finite differences.
    _, g = value_and_grad(v0)
    eps = 1e-6
    fd = np.array([(miss(bl.tensor(v0 + eps * e)).item() - miss(bl.tensor(v0 - eps * e)).item()) / (2 * eps)
                   for e in np.eye(2)])
    rel = np.abs(g - fd).max() / np.abs(fd).max()
    print(f"gradient {g}, finite differences {fd}, relative error {rel:.1e}")
    assert rel < 1e-6, "backprop and finite differences disagree"

    # 2. Plain gradient descent on the launch velocity, step size 0.1.
    start, history = v0.copy(), []
    iters = 15 if args.quick else 150
    for _ in range(iters):
        loss, g = value_and_grad(v0)
        history.append(loss.item())
        v0 = v0 - 0.1 * g
    final = miss(bl.tensor(v0)).item()
    history.append(final)
    print(f"launch velocity {v0.round(4)} m/s: misses by {np.sqrt(final):.2e} m after {iters} steps")
    if not args.quick:
        assert np.sqrt(final) < 1e-3

    # 3. Picture: the first and the last trajectory, and the loss.
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    for v, style, label in ((start, "--", "first guess"), (v0, "-", "after gradient descent")):
        p = np.array([x.data for x in simulate(bl.tensor(v))])
        ax.plot(p[:, 0], p[:, 1], style, label=f"{label}: v0 = ({v[0]:.2f}, {v[1]:.2f}) m/s")
    ax.plot(*TARGET, "r*", markersize=14, label="target at t = 2 s")
    ax.set(xlabel="x (m)", ylabel="height (m)", title="Aiming through 200 Euler steps with drag")
    ax.legend(fontsize=8)
    bx.semilogy(history)
    bx.set(xlabel="gradient step", ylabel="squared miss (m²)", title="Loss")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
