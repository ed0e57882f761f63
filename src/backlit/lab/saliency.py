"""∂L/∂x for free: saliency maps and adversarial examples, from the engine's own backward pass.

Backprop computes the loss's gradient with respect to the input as a side effect of computing it for
the weights. On an image it says which pixels the loss is most sensitive to, and which way to push
each one to raise the loss.

- :func:`saliency`: ∂L/∂x, signed. A saliency map is a sensitivity, not an explanation: it says what
  a small change would do to the loss here, not why the network decided what it did.
- :func:`gradient_times_input`: ∂L/∂x · x, a pixel's gradient weighted by how much ink it has.
- :func:`smoothgrad`: the mean of ∂L/∂x over a few noisy copies of x (Smilkov et al., 2017), which
  averages away the gradient's pixel-to-pixel noise.
- :func:`fgsm`: the fast gradient sign method (Goodfellow et al., 2015), x ← x + ε·sign(∇ₓL), and its
  iterated form (steps of 2.5·ε/steps, as Madry et al. do, each kept within ε of the original and
  within the pixel range); with
  ``target`` it walks *down* the loss of the class to reach instead.

Every function takes a model (any backlit Module), inputs in the layout the model takes, and integer
labels; the model's weights and their ``.grad`` are left as they were.
"""

from __future__ import annotations

import numpy as np

from ..engine import Tensor
from ..nn import functional as F


def _input_grad(model, x: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """(∂L/∂x, per-sample losses) with L = Σ cross-entropy over the batch (so each sample's row is its
    own loss's gradient), without touching the parameters' .grad."""
    params = model.parameters()
    saved = [p.grad for p in params]
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad = False
        xt = Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        losses = F.cross_entropy(model(xt), np.asarray(labels), reduction="none")
        losses.sum().backward()
        return xt.grad, losses.data
    finally:
        for p, g, f in zip(params, saved, flags):
            p.requires_grad = f
            p.grad = g


def saliency(model, x, labels) -> np.ndarray:
    """∂L/∂x for each sample, with L its cross-entropy against ``labels``: same shape as ``x``."""
    return _input_grad(model, x, labels)[0]


def gradient_times_input(model, x, labels) -> np.ndarray:
    """∂L/∂x · x, elementwise."""
    return saliency(model, x, labels) * np.asarray(x, dtype=np.float64)


def smoothgrad(model, x, labels, copies: int = 8, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """The mean of ∂L/∂x over ``copies`` noisy versions of x (Gaussian noise of standard deviation
    ``noise`` times the pixel range, seeded)."""
    x = np.asarray(x, dtype=np.float64)
    spread = noise * (float(x.max() - x.min()) or 1.0)
    rng = np.random.default_rng(seed)
    total = np.zeros_like(x)
    for _ in range(copies):
        total += saliency(model, x + rng.normal(0.0, spread, x.shape), labels)
    return total / copies


def predict(model, x) -> tuple[np.ndarray, np.ndarray]:
    """(classes, softmax probabilities) for a batch."""
    from ..engine import no_grad

    with no_grad():
        logits = model(Tensor(np.asarray(x, dtype=np.float64))).data
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return p.argmax(axis=1), p


def fgsm(model, x, labels, eps: float, steps: int = 1, target=None, lo: float = 0.0, hi: float = 1.0):
    """Adversarial inputs by the fast gradient sign method.

    ``steps=1``: x + ε·sign(∂L/∂x), clipped to [lo, hi]. ``steps>1``: that many steps of 2.5·ε/steps
    each, each kept within ε of the original (the iterated method). With ``target`` (class indices), every
    step goes *down* the loss of the target class instead of up the loss of the true one. Returns
    (the adversarial inputs, a list of each step's inputs, first included).
    """
    if not eps > 0 or steps < 1:
        raise ValueError("fgsm needs eps > 0 and steps >= 1")
    x0 = np.asarray(x, dtype=np.float64)
    xa, path = x0.copy(), [x0.copy()]
    aim, sign = (labels, 1.0) if target is None else (target, -1.0)
    size = eps if steps == 1 else 2.5 * eps / steps
    for _ in range(steps):
        g, _ = _input_grad(model, xa, aim)
        xa = np.clip(xa + sign * size * np.sign(g), x0 - eps, x0 + eps)
        xa = np.clip(xa, lo, hi)
        path.append(xa.copy())
    return xa, path
