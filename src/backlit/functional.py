"""Neural-net functions on Tensors, PyTorch's ``torch.nn.functional`` in miniature.

``linear``, ``softmax``, ``log_softmax`` and every loss are single fused nodes (see ``engine/ops.py``):
one forward, one hand-derived backward rule, computed in the numerically stable form.

Weight layout is PyTorch's everywhere: W has shape (out_features, in_features), and W[i, j] connects
input neuron j to output neuron i, so ``linear(x, W, b) = x @ W.T + b``.

Every loss returns the MEAN over its elements as a 0-d Tensor.
"""

from __future__ import annotations

import numpy as np

from .engine import Tensor, apply, as_tensor, ops


def _t(x, like=None):
    """x as a Tensor; plain arrays and numbers (inputs, targets) take ``like``'s dtype, without a copy
    when they already have it."""
    if isinstance(x, Tensor):
        return x
    return as_tensor(x, None if like is None else like.data.dtype)


def _same_shape(name, a, b, what=("input", "target")):
    if a.data.shape != b.data.shape:
        raise ValueError(
            f"{name}: {what[0]} shape {a.data.shape} and {what[1]} shape {b.data.shape} differ; reshape one "
            f"to match (e.g. target.reshape({a.data.shape})) — broadcasting them silently would be a bug")


# ---- layers -----------------------------------------------------------------------------------------


def linear(x, W, b=None):
    """x @ W.T + b as ONE node. x is (..., in), W is (out, in), b is (out,) or None."""
    if x.__class__ is not Tensor:
        x = _t(x, W)
    return apply(ops.Linear, x, W) if b is None else apply(ops.Linear, x, W, b)


_ACTIVATIONS = {
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
    "sigmoid": lambda x: x.sigmoid(),
    "linear": lambda x: x,
    "identity": lambda x: x,
    "leaky_relu": lambda x: x.leaky_relu(),
}


def activation(x, name):
    """Apply an activation by name: "tanh", "relu", "sigmoid", "linear" (identity) or "leaky_relu"."""
    try:
        fn = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"activation: unknown name {name!r}; choose from {sorted(_ACTIVATIONS)}") from None
    return fn(_t(x))


ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "leaky_relu")


# ---- softmax family ---------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """e^x / Σ e^x along ``axis``, computed as e^(x - logsumexp(x)) so it never overflows."""
    return apply(ops.Softmax, _t(x), axis=axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``: finite even for logits like 3000."""
    return apply(ops.LogSoftmax, _t(x), axis=axis)


# ---- losses (all return the mean) -----------------------------------------------------------------


def _targets_int(targets):
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise TypeError("cross_entropy: targets must be integer class indices")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}")
    return t


def cross_entropy(logits, targets):
    """Mean of -log softmax(logits)[target]: logits (N, C), targets (N,) integers in 0..C-1.

    A single sample may be given as logits (C,) with a scalar target.
    """
    logits = _t(logits)
    t = _targets_int(targets)
    if logits.data.ndim == 1:
        logits = logits.reshape(1, -1)
        t = t.reshape(1)
    if logits.data.ndim != 2 or t.shape != (logits.data.shape[0],):
        raise ValueError(
            f"cross_entropy: logits shape {logits.data.shape} and targets shape {t.shape} do not fit; expected "
            f"(N, C) and (N,)")
    c = logits.data.shape[1]
    if t.size and (t.min() < 0 or t.max() >= c):
        raise IndexError(f"cross_entropy: targets must be in 0..{c - 1}, got values {t.min()}..{t.max()}")
    return apply(ops.CrossEntropy, logits, targets=t)


def _pair_loss(op, a, b, what):
    """A loss node over (prediction, target) that must have the same shape; plain arrays become tensors."""
    if a.__class__ is not Tensor:
        a = _t(a)
    if b.__class__ is not Tensor:
        b = _t(b, a)
    if a.data.shape != b.data.shape:
        _same_shape(op.name, a, b, what)
    return apply(op, a, b)


def binary_cross_entropy_with_logits(logits, target):
    """Mean binary cross-entropy on raw scores, in the stable form max(x,0) - x·y + log(1 + e^-|x|)."""
    return _pair_loss(ops.BCEWithLogits, logits, target, ("logits", "target"))


def mse_loss(pred, target):
    """Mean of (pred - target)²."""
    return _pair_loss(ops.MSELoss, pred, target, ("pred", "target"))


def hinge_loss(scores, target):
    """Mean of max(0, 1 - y·s); target in {-1, +1} or {0, 1} (0 is read as -1)."""
    scores = _t(scores)
    y = target.data if isinstance(target, Tensor) else np.asarray(target)
    if y.shape != scores.data.shape:
        raise ValueError(
            f"hinge_loss: scores shape {scores.data.shape} and target shape {y.shape} differ; reshape one "
            f"to match")
    y = np.asarray(y, dtype=scores.data.dtype)
    if not (np.abs(y) == 1).all():  # not ±1: accept {0, 1} and map 0 -> -1
        if not ((y == 0) | (y == 1)).all():
            raise ValueError("hinge_loss: target must be in {-1, +1} or {0, 1}")
        y = 2 * y - 1
    return apply(ops.HingeLoss, scores, y=y)


def l2_penalty(params):
    """½ Σ w² over all params. The ½ makes the gradient exactly w, so `loss + λ·l2_penalty` is
    weight decay with coefficient λ."""
    params = tuple(params)
    if not params:
        return as_tensor(0.0)
    return apply(ops.L2Penalty, *params)


def l1_penalty(params):
    """Σ |w| over all params."""
    params = tuple(params)
    if not params:
        return as_tensor(0.0)
    return apply(ops.L1Penalty, *params)


__all__ = [
    "linear", "activation", "ACTIVATIONS", "softmax", "log_softmax", "cross_entropy",
    "binary_cross_entropy_with_logits", "mse_loss", "hinge_loss", "l1_penalty", "l2_penalty",
]
