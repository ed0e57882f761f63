"""Gradient flow through depth: per-layer gradient sizes, and neurons that have stopped learning.

Pure functions over numbers the caller already has. Nothing here runs a second backward pass for the
training gradients:

- :func:`layer_norms` turns one step's recorded gradients (each layer's δ = dL/dz, read with
  ``retain_grad``, and each dL/dW) into one size per layer;
- :func:`from_trace` does the same for an ``explain.Trace`` (the playground's traces);
- :func:`neuron_badges` marks saturated tanh/sigmoid neurons and dead ReLUs over the training set.

Layer l means the l-th linear layer, 0-based (the last one is the output layer), as in ``explain``.
"""

from __future__ import annotations

import numpy as np

from ..nn import activations, functional as F
from ..engine import Tensor, no_grad

SATURATED_SLOPE = 0.01
"""A neuron whose activation row has the "saturated" badge (tanh, sigmoid) is saturated on a sample
when |f'(z)| is below this."""
SATURATED_SHARE = 0.9
"""... and saturated, as a badge, when that happens on more than this share of the training samples."""
BADGES = {
    "saturated": "saturated: |f′(z)| < 0.01 on more than 90% of the training samples, so almost no "
                 "gradient passes through it",
    "dead": "dead: this ReLU is inactive (z ≤ 0) on every training sample, so it gets no gradient at all",
}
"""Badge name -> the legend's sentence (the page shows these words next to the badge glyphs)."""


def layer_norms(deltas, grads_W) -> dict:
    """Per-layer gradient sizes for one step.

    - ``deltas``: for each linear layer, δ = dL/dz as recorded, shape (n, out) for a batch of n or
      (out,) for one sample, where L is the batch's *mean* loss;
    - ``grads_W``: for each linear layer, dL/dW (out, in).

    Returns ``{"delta": [...], "grad_W": [...]}``, one float per layer: ``delta`` is the mean over the
    samples of ‖∂ℓₛ/∂zₛ‖ (sample s's own loss ℓₛ; since L = mean ℓₛ that is n·δₛ, so the number does
    not shrink as the batch grows), and ``grad_W`` is the Frobenius norm ‖dL/dW‖.
    """
    delta = []
    for d in deltas:
        d = np.asarray(d, dtype=float)
        d = d.reshape(1, -1) if d.ndim == 1 else d.reshape(len(d), -1)
        delta.append(float(np.mean(np.linalg.norm(d * len(d), axis=1))))
    return {"delta": delta, "grad_W": [float(np.linalg.norm(np.asarray(g, dtype=float))) for g in grads_W]}


def from_trace(trace) -> dict:
    """:func:`layer_norms` of an ``explain.Trace`` (one sample or a batch): its recorded δ and dL/dW."""
    return layer_norms([lt.delta for lt in trace.layers], [lt.grad_W for lt in trace.layers])


def neuron_badges(model, Xf_train, activation=None) -> list[list]:
    """For each linear layer, one entry per neuron: "saturated", "dead" or None.

    ``Xf_train`` is the training set as model inputs (already featurized). ``activation`` overrides the
    model's per-layer activation names (one name for every layer, or a list); by default they are
    ``model.activations``. Only tanh/sigmoid neurons can be "saturated" and only ReLU neurons "dead":
    - saturated: |f′(z)| < 0.01 on more than 90% of the samples;
    - dead: z ≤ 0 on every sample (the engine's relu′(0) = 0, so not one sample sends it a gradient).
    f′ is the engine's own derivative of the activation, read as the gradient of Σ f(z) w.r.t. z.
    """
    acts = list(model.activations)
    if activation is not None:
        acts = [activation] * len(acts) if isinstance(activation, str) else list(activation)
    with no_grad():
        zs = [z.data for z, _ in model.forward_layers(np.asarray(Xf_train, dtype=float))]
    return badges(zs, acts)


def badges(zs, acts) -> list[list]:
    """:func:`neuron_badges` from each layer's recorded pre-activations z (n, out) over the training
    set, e.g. a batched trace's ``layers[l].z``: no second forward pass."""
    out = []
    for z, act in zip(zs, acts):
        z = np.asarray(z).reshape(-1, np.shape(z)[-1])
        row = [None] * z.shape[-1]
        badge = activations.get(act).badge  # the badge the activation's registry row says it can earn
        if badge == "dead":
            row = ["dead" if dead else None for dead in np.all(z <= 0, axis=0)]
        elif badge == "saturated":
            slope = _slope(z, act)
            share = np.mean(np.abs(slope) < SATURATED_SLOPE, axis=0)
            row = ["saturated" if s > SATURATED_SHARE else None for s in share]
        out.append(row)
    return out


def _slope(z: np.ndarray, act: str) -> np.ndarray:
    """f′(z), elementwise, from the engine's derivative rule for the activation."""
    zt = Tensor(z, requires_grad=True)
    F.activation(zt, act).sum().backward()
    return zt.grad


def series(history: dict) -> dict:
    """The gradient-flow series of a ``train.fit`` history, for plots and the page:
    ``{"epoch": [...], "delta": [[per layer] per epoch], "grad_W": [...]}``, epochs without gradients
    (epoch 0, before any step) left out."""
    rows = [(e, d, w) for e, d, w in zip(history["epoch"], history.get("delta_norm", []),
                                          history.get("grad_W_norm", [])) if d is not None]
    return {"epoch": [r[0] for r in rows], "delta": [r[1] for r in rows], "grad_W": [r[2] for r in rows]}


def layer_names(n_layers: int) -> list[str]:
    """"layer 1", ..., "output": the names the plots and the strip use."""
    return [f"layer {l + 1}" for l in range(n_layers - 1)] + ["output"]


def strip_data(history: dict) -> dict:
    """What the page's GradFlowStrip.setData takes, from a ``train.fit`` history:
    ``{"layers": [...], "rows": [[epoch, [‖δ‖ per layer], [‖dL/dW‖ per layer]], ...]}``."""
    s = series(history)
    n = len(s["delta"][0]) if s["delta"] else 0
    return {"layers": layer_names(n), "rows": [[e, d, w] for e, d, w in zip(s["epoch"], s["delta"], s["grad_W"])]}
