"""`backlit train --gif`: an animated GIF of the decision boundary and the loss curve during training.

:func:`snapshots` trains with :func:`backlit.lab.fit.fit` and keeps the weights at a few chosen epochs
(closer together early on, where the boundary moves fastest); :func:`render_gif` draws each snapshot with
the same heatmap as ``boundary.png`` (``plots``) next to the loss curve so far, and writes the frames
with Pillow (a matplotlib dependency), quantised to a small palette to keep the file small.
"""

from __future__ import annotations

import io

import numpy as np

from ..lab import data, fit as training
from .. import nn
from . import plots

DEFAULT_FRAMES = 60
FRAME_MS = 80
LAST_FRAME_MS = 1500  # hold the trained boundary before the loop starts again
PALETTE_COLORS = 96


def frame_epochs(epochs: int, frames: int = DEFAULT_FRAMES) -> list[int]:
    """Up to ``frames`` epochs from 0 to ``epochs``, both ends kept, closer together early on (on a
    quadratic scale: the boundary moves most in the first epochs)."""
    if epochs <= 0:
        return [0]
    picks = np.round(epochs * np.linspace(0, 1, frames) ** 2).astype(int)
    return sorted(set(picks.tolist()) | {0, epochs})


def snapshots(cfg: dict, split, epochs: int | None = None, frames: int = DEFAULT_FRAMES):
    """Train the network of ``cfg`` (a ``backlit.cli.train.parse_config`` dict) on ``split`` =
    (X_train, y_train, X_test, y_test) for ``epochs`` (default ``cfg["epochs"]``).

    Returns (model, [(epoch, state_dict), ...], history). The run is the one ``backlit train``
    makes for the same config: the same seeded model, data order and steps, so its last snapshot is
    the model ``backlit train`` saves.
    """
    epochs = cfg["epochs"] if epochs is None else epochs
    model = training.build_model(cfg["features"], cfg["hidden"], cfg["kind"], cfg["classes"],
                              cfg["activation"], seed=cfg["seed"], init=cfg["init"])
    recorder = Recorder(model, epochs, frames)
    Xtr, ytr, Xte, yte = split
    result = training.fit(model, Xtr, ytr, Xte, yte, kind=cfg["kind"], loss=cfg["loss"],
                       features=cfg["features"], optimizer=cfg["optimizer"], lr=cfg["lr"],
                       batch_size=cfg["batch"], epochs=epochs, regularization=cfg["regularization"],
                       reg_rate=cfg["reg_rate"], seed=cfg["seed"], callback=recorder)
    recorder.finish(result)
    return model, recorder.kept, result.history


class Recorder:
    """A ``training.fit`` callback that keeps ``model``'s weights at the epochs of :func:`frame_epochs`.

    ``kept`` is [(epoch, state_dict), ...]. Call :meth:`finish` with the ``FitResult``: after a
    divergence or an interruption, fit() puts back the last good weights, and the last frame shows them.
    """

    def __init__(self, model, epochs: int, frames: int = DEFAULT_FRAMES):
        self.model = model
        self.wanted = set(frame_epochs(epochs, frames))
        self.kept: list = []

    def __call__(self, entry: dict) -> None:
        if entry["epoch"] in self.wanted:
            self.kept.append((entry["epoch"], self.model.state_dict()))

    def finish(self, result) -> None:
        if result.diverged or result.interrupted:
            self.kept = [(e, s) for e, s in self.kept if e <= result.epochs_run]
            self.kept.append((result.epochs_run, self.model.state_dict()))


def render_gif(model, kept, history, cfg: dict, split, size=(640, 300), resolution: int = 80) -> bytes:
    """The GIF (bytes): for each snapshot, the boundary with the training points and the loss so far."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    Xtr, ytr = split[0], split[1]
    threshold = nn.loss_class(cfg["loss"]).threshold
    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax_b = fig.add_axes([0.01, 0.04, 0.44, 0.86])
    ax_l = fig.add_axes([0.56, 0.17, 0.41, 0.7])
    epochs = np.asarray(history["epoch"])
    tr = np.array([np.nan if v is None else v for v in history["train_loss"]], dtype=float)
    te = np.array([np.nan if v is None else v for v in history["test_loss"]], dtype=float)
    finite = np.concatenate([tr[np.isfinite(tr)], te[np.isfinite(te)]])
    top = float(finite.max()) * 1.05 if finite.size else 1.0
    colors = np.array(plots.CLASS_COLORS)[np.asarray(ytr, dtype=int)] if cfg["kind"] != "regression" else None
    frames = []
    for epoch, state in kept:
        model.load_state_dict(state)
        _, _, out = plots.output_grid(model, cfg["features"], resolution, data.EXTENT)
        ax_b.clear()
        plots._heatmap(ax_b, out, cfg["kind"], cfg["classes"], data.EXTENT, threshold)
        if colors is None:
            ax_b.scatter(Xtr[:, 0], Xtr[:, 1], c=np.clip(ytr, -1, 1), cmap=plots.POINT_CMAP, vmin=-1,
                         vmax=1, s=7, edgecolors="white", linewidths=0.3)
        else:
            ax_b.scatter(Xtr[:, 0], Xtr[:, 1], c=colors, s=7, edgecolors="white", linewidths=0.3)
        ax_b.set_xlim(*data.EXTENT)
        ax_b.set_ylim(*data.EXTENT)
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_b.set_title(f"{cfg['dataset']} · epoch {epoch}", fontsize=9)
        ax_l.clear()
        upto = epochs <= epoch
        ax_l.plot(epochs[upto], tr[upto], color=plots.TRAIN_COLOR, lw=1.4, label="train")
        if np.isfinite(te).any():
            ax_l.plot(epochs[upto], te[upto], color=plots.TEST_COLOR, lw=1.4, ls="--", label="test")
        ax_l.set_xlim(0, max(1, int(epochs.max())))
        ax_l.set_ylim(0, top)
        ax_l.set_xlabel("epoch", fontsize=8)
        ax_l.set_ylabel("loss", fontsize=8)
        ax_l.tick_params(labelsize=7)
        ax_l.grid(alpha=0.3)
        ax_l.legend(fontsize=7, loc="upper right")
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        frames.append(Image.fromarray(rgba[..., :3].copy()))
    # one palette for every frame, from the first and the last: colours do not flicker between frames
    both = Image.new("RGB", (frames[0].width, 2 * frames[0].height))
    both.paste(frames[0], (0, 0))
    both.paste(frames[-1], (0, frames[0].height))
    palette = both.quantize(PALETTE_COLORS, dither=Image.Dither.NONE)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buf = io.BytesIO()
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS]
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                   loop=0, optimize=True)
    return buf.getvalue()


def training_gif(cfg: dict, split, path: str, epochs: int | None = None,
                 frames: int = DEFAULT_FRAMES) -> int:
    """Train as ``backlit train`` does, write the animation to ``path``; return the frame count."""
    model, kept, history = snapshots(cfg, split, epochs, frames)
    blob = render_gif(model, kept, history, cfg, split)
    with open(path, "wb") as f:
        f.write(blob)
    return len(kept)


__all__ = ["frame_epochs", "snapshots", "render_gif", "training_gif"]
