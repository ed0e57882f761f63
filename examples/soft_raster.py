"""Rendering as a differentiable program: fit three soft circles to a target image.

Each circle covers a pixel p with a soft coverage σ((r - |p - c|) / s): 1 well inside, 0 well outside,
and a smooth ramp of width about s at the edge (a hard edge would have a zero gradient almost
everywhere). Circles are painted over a white background in order, like layers:
    image = image · (1 - coverage) + colour · coverage
The target is rendered from hidden parameters; gradient descent (Adam) on every centre, radius and
colour, through the renderer, makes the picture match it.

    python examples/soft_raster.py [--quick] [--out docs/img/soft_raster.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import backlit as bl  # noqa: E402
from backlit.nn import optim  # noqa: E402


def render(centres, radii, colours, size, sharpness=0.02):
    """A (size, size, 3) image of soft circles; positions and radii are in [0, 1] image units."""
    u = (np.arange(size) + 0.5) / size
    pixels = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 1, 2)      # (P, 1, 2)
    d = pixels - centres.reshape(1, -1, 2)                               # (P, circles, 2)
    dist = ((d * d).sum(axis=-1) + 1e-9).sqrt()                          # (P, circles)
    coverage = ((radii - dist) / sharpness).sigmoid()
    image = bl.tensor(np.ones((size * size, 3)))
    for i in range(radii.shape[0]):
        c = coverage[:, i:i + 1]
        image = image * (1 - c) + colours[i] * c
    return image.reshape(size, size, 3)


TRUE = dict(centres=[[0.3, 0.35], [0.65, 0.6], [0.45, 0.75]], radii=[0.2, 0.22, 0.12],
            colours=[[0.9, 0.2, 0.2], [0.2, 0.4, 0.9], [0.95, 0.8, 0.1]])
START = dict(centres=[[0.4, 0.45], [0.55, 0.5], [0.5, 0.6]], radii=[0.1, 0.1, 0.1],
             colours=[[0.5, 0.5, 0.5]] * 3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small image, few steps (for the test suite)")
    parser.add_argument("--out", default="docs/img/soft_raster.png")
    args = parser.parse_args(argv)
    size, steps = (24, 30) if args.quick else (64, 600)

    target = render(*(bl.tensor(TRUE[k]) for k in ("centres", "radii", "colours")), size).data
    params = [bl.tensor(START[k], requires_grad=True) for k in ("centres", "radii", "colours")]
    first = render(*params, size).data
    opt = optim.Adam(params, lr=0.02)
    losses = []
    for _ in range(steps):
        loss = ((render(*params, size) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = render(*params, size).data
    err = np.abs(final - target).max()
    print(f"mean squared error {losses[0]:.4f} -> {losses[-1]:.2e} after {steps} Adam steps; "
          f"largest pixel error {err:.3f}")
    assert losses[-1] < losses[0] / (3 if args.quick else 100)

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax, img, title in zip(axes, (first, final, target), ("start", f"after {steps} steps", "target")):
        ax.imshow(np.clip(img, 0, 1), origin="lower", extent=(0, 1, 0, 1))
        ax.set(title=title, xticks=[], yticks=[])
    axes[3].semilogy(losses)
    axes[3].set(title="image loss (MSE)", xlabel="Adam step")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
