"""A classic from Rumelhart, Hinton & Williams (Nature, 1986): detecting mirror symmetry.

The network sees all 64 six-bit patterns and must output 1 exactly when the pattern is symmetric
about its centre (8 of the 64 are). As in the paper: 6 inputs, 2 sigmoid hidden units, 1 sigmoid
output, squared error E = ½ Σ (y - d)² summed over all 64 patterns, weights updated after each
sweep by gradient descent with momentum, Δw(t) = -ε ∂E/∂w + α Δw(t-1), with ε = 0.1, α = 0.9, and
initial weights uniform in [-0.3, 0.3].

The paper reports that the network needed 1,208 sweeps and found an elegant solution: each hidden
unit's weights are mirror images with opposite signs (w_i = -w_(7-i)), in the ratio 1 : 2 : 4 within
each half, so a hidden unit's input is 0 exactly for symmetric patterns; both hidden units then
inhibit the output, which has a positive bias.

    python examples/symmetry_1986.py [--quick] [--out docs/img/symmetry_1986.png]
"""

import argparse
import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import backlit as bl  # noqa: E402
from backlit.nn import optim  # noqa: E402

X = np.array(list(itertools.product([0.0, 1.0], repeat=6)))
D = np.array([[float((x == x[::-1]).all())] for x in X])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred sweeps (for the test suite)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", default="docs/img/symmetry_1986.png")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    W1, b1 = (bl.tensor(rng.uniform(-0.3, 0.3, s), requires_grad=True) for s in ((6, 2), (2,)))
    W2, b2 = (bl.tensor(rng.uniform(-0.3, 0.3, s), requires_grad=True) for s in ((2, 1), (1,)))
    params = [W1, b1, W2, b2]
    # torch's momentum form b <- αb + g, w <- w - εb is exactly Δw(t) = -ε g + α Δw(t-1)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    errors, learned = [], None
    for sweep in range(1, (400 if args.quick else 5000) + 1):
        y = ((X @ W1 + b1).sigmoid() @ W2 + b2).sigmoid()
        loss = 0.5 * ((y - D) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(loss.item())
        if learned is None and np.abs(y.data - D).max() < 0.5:  # every pattern on the right side of ½
            learned = sweep
            if not args.quick:
                break

    w = W1.data.T
    print(f"sweeps until every output is on the right side of 0.5: {learned} (paper: 1,208)")
    for j, row in enumerate(w):
        ratios = np.sort(np.abs(row[:3])) / np.abs(row[:3]).min()
        print(f"hidden {j}: weights {row.round(2)}  bias {b1.data[j]:.2f}  "
              f"mirror sums w_i + w_(7-i) {(row + row[::-1])[:3].round(2)}  "
              f"|w| in one half, sorted, as ratios {ratios.round(2)} (paper: 1 : 2 : 4)")
    print(f"output: weights {W2.data[:, 0].round(2)}  bias {b2.data[0]:.2f}")
    if not args.quick:
        assert learned is not None
        assert np.all(np.abs(w + w[:, ::-1]) < 0.15 * np.abs(w).max())  # mirror images, opposite signs

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, row in enumerate(w):
        ax.bar(np.arange(6) + 0.2 * (2 * j - 1), row, width=0.4, label=f"hidden unit {j}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xticks=range(6), xticklabels=[f"x{i + 1}" for i in range(6)], ylabel="weight",
           title="Learned input weights: mirrored, opposite signs")
    ax.legend(fontsize=8)
    bx.plot(errors)
    if learned:
        bx.axvline(learned, color="gray", ls="--", label=f"learned at sweep {learned}")
        bx.legend(fontsize=8)
    bx.set(xlabel="sweep (64 patterns)", ylabel="E = ½ Σ (y - d)²", title="Error")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
