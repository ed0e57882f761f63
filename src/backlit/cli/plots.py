"""PNG plots for `backlit train`: the decision boundary and the loss curves.

Uses matplotlib's object API with the Agg canvas (no pyplot, so no global backend is touched).
Classes take the colours of ``backlit.playground.palette``, which the page uses too; orange and green are
reserved for gradients.
"""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..lab import data, trace as explain, kinds
from ..playground.palette import CLASS_COLORS

TRAIN_COLOR, TEST_COLOR = CLASS_COLORS[1], CLASS_COLORS[0]


def _lighten(color, amount: float) -> np.ndarray:
    """Blend ``color`` towards white: amount 0 keeps it, 1 gives white."""
    rgb = np.asarray(to_rgb(color))
    return rgb + (1.0 - rgb) * amount


# Binary and regression heatmaps: -1 (class 0) magenta, 0 white, +1 (class 1) blue, kept light so
# that the points stay visible on top.
SCORE_CMAP = LinearSegmentedColormap.from_list(
    "backlit_score", [_lighten(CLASS_COLORS[0], 0.55), (1, 1, 1), _lighten(CLASS_COLORS[1], 0.55)]
)
# Regression targets on the points: the same scale at full strength.
POINT_CMAP = LinearSegmentedColormap.from_list(
    "backlit_points", [CLASS_COLORS[0], "#d9d9d9", CLASS_COLORS[1]]
)


def output_grid(model, features=None, resolution: int = 200, extent=data.EXTENT):
    """Raw model outputs on a grid over the plane: (xs, ys, out) with out[row, col] for the point
    (xs[col], ys[row]); ys goes upwards, as matplotlib's origin="lower" wants."""
    with np.errstate(all="ignore"):  # a diverged model may overflow: it is still drawn
        g = explain.grid(model, extent, resolution, neuron_resolution=2, features=features)
    return g.xs, g.ys[::-1], g.output[::-1]


def _heatmap(ax, out, kind, classes, extent, threshold):
    ext = [extent[0], extent[1], extent[0], extent[1]]
    if kind == "multiclass":
        p = kinds.get(kind).display(out)
        k = p.argmax(axis=2)
        conf = (p.max(axis=2) - 1 / classes) / (1 - 1 / classes)  # 0 at a tie, 1 when certain
        base = np.array([to_rgb(c) for c in CLASS_COLORS[:classes]])[k]
        img = base + (1 - base) * (1 - 0.45 * conf)[..., None]
        ax.imshow(img, origin="lower", extent=ext, interpolation="bilinear")
        return
    score = out[..., 0] - (threshold if kind == "binary" else 0.0)
    # binary: 0 at the boundary; a 0/1 (mse) score is stretched by 2 so that 0 and 1 look alike
    value = np.tanh(score * (2 if threshold else 1)) if kind == "binary" else np.clip(score, -1, 1)
    ax.imshow(value, origin="lower", extent=ext, cmap=SCORE_CMAP, vmin=-1, vmax=1,
              interpolation="bilinear")
    if kind == "binary" and score.min() < 0 < score.max():
        xs = np.linspace(extent[0], extent[1], score.shape[1])
        ax.contour(xs, xs, score, levels=[0.0], colors="#222222", linewidths=0.8)


def plot_boundary(model, X_train, y_train, X_test=None, y_test=None, *, kind="binary", classes=2,
                  features=None, path="boundary.png", title=None, resolution=200,
                  extent=data.EXTENT, threshold=0.0):
    """Write a decision-boundary heatmap with the train points (white edge) and test points (black
    edge). Binary: tanh of (score - threshold), so the boundary is white and outlined (threshold is
    0 for logits and hinge scores, 0.5 for an mse score regressed onto 0/1). Multiclass:
    the winning class's colour, paler where the model is unsure. Regression: the output in [-1, 1]."""
    _, _, out = output_grid(model, features, resolution, extent)
    fig = Figure(figsize=(5.2, 5.2), dpi=100)
    ax = fig.add_subplot()
    _heatmap(ax, out, kind, classes, extent, threshold)

    def scatter(X, y, edge):
        if X is None or len(X) == 0:
            return
        if kind == "regression":
            ax.scatter(X[:, 0], X[:, 1], c=np.clip(y, -1, 1), cmap=POINT_CMAP,
                       vmin=-1, vmax=1, s=20, edgecolors=edge, linewidths=0.7)
            return
        colors = np.array(CLASS_COLORS)[np.asarray(y, dtype=int)]
        ax.scatter(X[:, 0], X[:, 1], c=colors, s=20, edgecolors=edge, linewidths=0.7)

    scatter(X_train, y_train, "white")
    scatter(X_test, y_test, "black")
    ax.set_xlim(*extent)
    ax.set_ylim(*extent)
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    if title:
        ax.set_title(title, fontsize=10)
    handles = [Line2D([], [], ls="", marker="o", mfc="#9e9e9e", mec="white", label="train"),
               Line2D([], [], ls="", marker="o", mfc="#9e9e9e", mec="black", label="test")]
    if kind != "regression":
        handles += [Line2D([], [], ls="", marker="o", mfc=CLASS_COLORS[k], mec=CLASS_COLORS[k],
                           label=f"class {k}") for k in range(classes)]
    ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    fig.tight_layout()
    fig.savefig(path)


def plot_loss(history: dict, path="loss.png", title=None):
    """Write the train and test loss curves (one point per epoch; epoch 0 is the untrained model)."""
    # A diverged run can leave losses near 1e300: matplotlib's log scale then overflows harmlessly.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        _plot_loss(history, path, title)


def _plot_loss(history, path, title):
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot()
    epochs = history["epoch"]
    ax.plot(epochs, history["train_loss"], color=TRAIN_COLOR, lw=1.6, label="train loss")
    test = [np.nan if v is None else v for v in history.get("test_loss", [])]
    if test and not np.all(np.isnan(test)):
        ax.plot(epochs, test, color=TEST_COLOR, lw=1.6, ls="--", label="test loss")
    values = np.array([v for v in history["train_loss"] + test if v is not None and np.isfinite(v)])
    if len(values) and values.min() > 0 and values.max() / values.min() > 30:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def plot_gradflow(history: dict, path="gradflow.png", title=None):
    """Write the gradient flow through depth: per layer, ‖δ‖ (mean over the samples, left) and
    ‖dL/dW‖ (right) against the epoch, on a log scale (``history`` from ``train.fit``; see
    ``backlit.lab.gradflow``). Layers go from light (first) to dark (output), with a different dash per
    layer as a second cue; blues and purples only, as orange and green mean a gradient's sign."""
    from ..lab import gradflow

    s = gradflow.series(history)
    fig = Figure(figsize=(9, 3.6), dpi=100)
    axes = fig.subplots(1, 2, sharex=True)
    if not s["epoch"]:
        fig.text(0.5, 0.5, "no gradient steps yet", ha="center")
        fig.savefig(path)
        return
    n_layers = len(s["delta"][0])
    ramp = LinearSegmentedColormap.from_list("backlit_depth", ["#9ecae1", "#3f51b5", "#3b0f70"])
    dashes = ["-", "--", "-.", ":"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        for ax, key, label in ((axes[0], "delta", "‖δ‖ = ‖∂ℓ/∂z‖, mean over samples"),
                               (axes[1], "grad_W", "‖∂L/∂W‖")):
            values = np.array(s[key], dtype=float)
            for l in range(n_layers):
                name = "output" if l == n_layers - 1 else f"layer {l + 1}"
                ax.plot(s["epoch"], np.where(values[:, l] > 0, values[:, l], np.nan),
                        color=ramp(l / max(n_layers - 1, 1)), ls=dashes[l % len(dashes)], lw=1.5, label=name)
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_title(label, fontsize=9)
            ax.grid(alpha=0.3, which="both")
        axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
