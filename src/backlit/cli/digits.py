"""`backlit train --dataset digits`: train the images view's MLP or CNN on the 8×8 digits, then write
confusion.png (the test digits' confusion matrix), saliency.png (one test digit per class: the image,
∂L/∂x, gradient × input and SmoothGrad), loss.png and metrics.json to --out.

The network, its optimizer and its batches are the playground's (``backlit.playground.images``), so the
terminal and the page train the same thing. --epochs left at its default means DEFAULT_EPOCHS here
(the 2-D sets' default would take minutes for the CNN).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from ..lab import saliency as sal
from ..playground import images
from ..playground.palette import GRADIENT

DEFAULT_EPOCHS = 15
NETWORKS = tuple(images.NETWORKS)


def _grad_cmap():
    """Orange where ∂L/∂x < 0 (the loss wants more ink), green where > 0, dark at 0: the page's colours."""
    g = GRADIENT["default"]
    return LinearSegmentedColormap.from_list("grad", [g["increase"], "#151b29", g["decrease"]])


def plot_confusion(confusion: np.ndarray, path: str, title: str) -> None:
    fig = Figure(figsize=(5, 4.6), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(np.sqrt(confusion), cmap="Blues")
    for r in range(10):
        for c in range(10):
            if confusion[r, c]:
                ax.text(c, r, str(confusion[r, c]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[r, c] > confusion.max() / 3 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true digit")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def plot_saliency(session: images.ImagesSession, path: str, title: str) -> None:
    """One test digit per class (columns); rows: the image and the three input-gradient maps."""
    picks = [int(np.flatnonzero(session.y_test == k)[0]) for k in range(10)]
    X, y = session.X_test[picks], session.y_test[picks]
    x = session.net.shape(X)
    maps = [("image", X), ("∂L/∂x", sal.saliency(session.model, x, y)),
            ("gradient × input", sal.gradient_times_input(session.model, x, y)),
            ("SmoothGrad", sal.smoothgrad(session.model, x, y, copies=images.SMOOTH_COPIES,
                                          noise=images.SMOOTH_NOISE, seed=session.config["seed"]))]
    pred = sal.predict(session.model, x)[0]
    fig = Figure(figsize=(10, 4.6), dpi=100)
    axes = fig.subplots(len(maps), 10)
    for r, (name, m) in enumerate(maps):
        m = np.asarray(m).reshape(10, 8, 8)
        for c in range(10):
            ax = axes[r, c]
            if r == 0:
                ax.imshow(m[c], cmap="gray_r", vmin=0, vmax=1)
                ax.set_title(f"{y[c]} → {pred[c]}", fontsize=8)
            else:
                lim = float(np.abs(m[c]).max()) or 1.0
                ax.imshow(m[c], cmap=_grad_cmap(), vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(f"{title} · orange: more ink lowers the loss, green: less ink does "
                 "(a sensitivity, not an explanation)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def run(args, prog: str, epochs: int) -> int:
    """Train for ``epochs`` and write the files; 0 done, 1 diverged (files still written), 2 bad arguments."""
    network = getattr(args, "network", None) or images.DEFAULT_NETWORK
    if network not in images.NETWORKS:
        print(f"{prog}: error: unknown network {network!r}; choose one of: {', '.join(NETWORKS)}", file=sys.stderr)
        return 2
    if epochs < 1:
        print(f"{prog}: error: --epochs must be at least 1", file=sys.stderr)
        return 2
    s = images.ImagesSession(network=network, seed=args.seed)
    steps_per_epoch = -(-s.n_train // images.BATCH)
    history = {"epoch": [0.0], "train_loss": [], "test_loss": []}
    m = s.evaluate()
    history["train_loss"].append(m["train_loss"])
    history["test_loss"].append(m["test_loss"])
    diverged = False
    for e in range(1, epochs + 1):
        if s.train_for(1e9, max_steps=steps_per_epoch):
            diverged = True
            break
        m = s.evaluate()
        history["epoch"].append(s.epoch)
        history["train_loss"].append(m["train_loss"])
        history["test_loss"].append(m["test_loss"])
        if not args.quiet:
            print(f"\repoch {e}/{epochs}  train loss {m['train_loss']:.4f}  test acc {100 * m['test_acc']:.1f}%",
                  end="", file=sys.stderr, flush=True)
    if not args.quiet:
        print(file=sys.stderr)
    from . import plots

    title = f"digits · {s.net.label} · epoch {len(history['epoch']) - 1}"
    os.makedirs(args.out, exist_ok=True)
    files = {"confusion.png": lambda p: plot_confusion(s.confusion(), p, title),
             "saliency.png": lambda p: plot_saliency(s, p, title),
             "loss.png": lambda p: plots.plot_loss(history, path=p, title=title)}
    for name, write in files.items():
        write(os.path.join(args.out, name))
    metrics = {**s.evaluate(), "network": network, "epochs": len(history["epoch"]) - 1, "steps": s.step_count,
               "diverged": diverged, "confusion": s.confusion().tolist()}
    with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    print(f"test accuracy {100 * metrics['test_acc']:.1f}%; wrote "
          f"{', '.join(os.path.join(args.out, n) for n in [*files, 'metrics.json'])}")
    return 1 if diverged else 0
