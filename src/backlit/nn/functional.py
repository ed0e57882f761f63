"""Neural-net functions on Tensors, PyTorch's ``torch.nn.functional`` in miniature.

``linear``, ``softmax``, ``log_softmax`` and every loss are single fused nodes (see ``engine/ops.py``):
one forward, one hand-derived backward rule, computed in the numerically stable form.

Weight layout is PyTorch's everywhere: W has shape (out_features, in_features), and W[i, j] connects
input neuron j to output neuron i, so ``linear(x, W, b) = x @ W.T + b``.

Every loss takes ``reduction=`` as in PyTorch: "mean" (the default) returns the mean over its elements
as a 0-d Tensor, "sum" the sum, and "none" the per-element losses. The default "mean" runs the fused
node; the other two, and torch's options (``weight=``, ``ignore_index=``, ``label_smoothing=``,
class-probability targets, ``pos_weight=``), are written with plain Tensor ops around the stable
``log_softmax`` and ``softplus`` (the same maths, one node per op, so no second derivative rule).
"""

from __future__ import annotations

import numpy as np

from . import activations
from ..engine import Tensor, apply, as_tensor, ops
from ..engine import pad as _pad


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


def activation(x, name):
    """Apply a registered activation by name (see ``backlit.nn.activations``): "tanh", "relu", ..."""
    return activations.get(name).fn(_t(x))


ACTIVATIONS = activations.ACTIVATIONS  # the live registry: name -> Activation


# ---- softmax family ---------------------------------------------------------------------------------


def softmax(x, axis=-1, *, dim=None):
    """e^x / Σ e^x along ``axis`` (torch: ``dim``), computed as e^(x - logsumexp(x)) so it never
    overflows; the same as ``x.softmax(axis)``."""
    return _t(x).softmax(axis, dim=dim)


def log_softmax(x, axis=-1, *, dim=None):
    """x - logsumexp(x) along ``axis`` (torch: ``dim``): finite even for logits like 3000; the same as
    ``x.log_softmax(axis)``."""
    return _t(x).log_softmax(axis, dim=dim)


# ---- losses (reduction= "mean" by default, "sum" or "none", as in PyTorch) ------------------------------


def _targets_int(name, targets):
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise TypeError(f"{name}: targets must be integer class indices (or, for cross_entropy, class "
                            f"probabilities of the same shape as the input)")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices, got dtype {t.dtype}")
    return t


def _check_reduction(name, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f'{name}: reduction must be "mean", "sum" or "none", got {reduction!r}')


def _reduce(loss, reduction):
    """Per-element losses reduced as asked ("none" keeps them)."""
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _class_targets(name, scores, targets, ignore_index, what="logits"):
    """Scores (N, C), (N, C, d1, ...) or one sample (C,), and integer classes (N,), (N, d1, ...) or (),
    checked against each other. Returns the scores, the classes (0 where ignored), the mask of the
    targets that count (those not equal to ``ignore_index``) and whether they all do."""
    scores = _t(scores)
    shape = scores.data.shape
    t = _targets_int(name, targets)
    want = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if not shape or t.shape != want:
        raise ValueError(
            f"{name}: {what} shape {shape} and targets shape {t.shape} do not fit; expected (N, C) and (N,), "
            f"(N, C, d1, ...) and (N, d1, ...), or (C,) and ()")
    keep = t != ignore_index
    every = np.count_nonzero(keep) == keep.size
    counted = t if every else t[keep]
    c = shape[1] if len(shape) > 1 else shape[0]
    if counted.size and (counted.min() < 0 or counted.max() >= c):
        raise IndexError(f"{name}: targets must be in 0..{c - 1} (or ignore_index={ignore_index}), got values "
                         f"{counted.min()}..{counted.max()}")
    return scores, (t if every else np.where(keep, t, 0)), keep, every


def _class_weights(name, weight, c, like):
    """The per-class weights as a constant array of shape (C,) in ``like``'s dtype, or None."""
    if weight is None:
        return None
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise ValueError(f"{name}: weight is a constant (torch does not differentiate it either); pass "
                             f"weight.detach()")
        weight = weight.data
    w = np.asarray(weight, dtype=like.data.dtype)
    if w.shape != (c,):
        raise ValueError(f"{name}: weight needs one number per class, shape ({c},), got shape {w.shape}")
    return w


def _nll(logp, t, keep, w, reduction, smoothing=0.0):
    """torch's negative log-likelihood of log-probabilities ``logp`` (N, C, d...) at the classes ``t``
    (N, d...): -w[t]·logp[n, t] per target, 0 where ``keep`` is False. The mean divides by the
    weight of the targets that count (their number, without weights).

    With label smoothing ε the target is (1 - ε) on the class and ε/C spread over every class, so the
    per-target loss becomes (1 - ε)·nll + (ε/C)·Σ_c -w[c]·logp[n, c]."""
    dtype = logp.data.dtype
    w_t = keep.astype(dtype) if w is None else w[t] * keep
    loss = -(logp.gather(1, t[:, None]).reshape(t.shape) * w_t)
    if smoothing:
        c = logp.data.shape[1]
        w_c = 1.0 if w is None else w.reshape((1, c) + (1,) * (logp.data.ndim - 2))
        smooth = -(logp * w_c).sum(axis=1) * keep.astype(dtype)
        loss = (1.0 - smoothing) * loss + (smoothing / c) * smooth
    if reduction != "mean":
        return _reduce(loss, reduction)
    total = w_t.sum()
    if total == 0:  # no target counts: as torch, the mean is NaN (0/0) and the gradient 0
        return loss.sum() * 0.0 + np.nan
    return loss.sum() / total


def cross_entropy(logits, targets, reduction="mean", *, weight=None, ignore_index=-100, label_smoothing=0.0):
    """-log softmax(logits)[target] per sample, as torch's ``F.cross_entropy``.

    ``logits`` are (N, C), (N, C, d1, ...) (classes on axis 1, e.g. one per pixel) or one sample (C,).
    ``targets`` are either integer class indices, (N,), (N, d1, ...) or (), or class probabilities
    of the same shape as ``logits`` (each sample's loss is then -Σ_c p_c·log softmax(logits)_c).

    ``weight`` (C,) scales each class's loss (the mean is then divided by the targets' total weight);
    targets equal to ``ignore_index`` count for nothing; ``label_smoothing`` ε mixes the target with the
    uniform distribution: (1 - ε)·target + ε/C.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = _t(logits)
    shape = logits.data.shape
    if shape and np.shape(targets.data if isinstance(targets, Tensor) else targets) == shape:
        return _soft_cross_entropy(logits, targets, weight, ignore_index, reduction, label_smoothing)
    logits, t, keep, every = _class_targets("cross_entropy", logits, targets, ignore_index)
    w = _class_weights("cross_entropy", weight, shape[1] if len(shape) > 1 else shape[0], logits)
    one = logits.data.ndim == 1
    if one:  # one sample: a batch of one (and a 0-d loss for reduction="none")
        logits, t, keep = logits.reshape(1, -1), t.reshape(1), keep.reshape(1)
    if reduction == "mean" and every and w is None and not label_smoothing and logits.data.ndim == 2:
        return apply(ops.CrossEntropy, logits, targets=t)  # the plain case: one fused node
    loss = _nll(logits.log_softmax(1), t, keep, w, reduction, label_smoothing)
    return loss.reshape(()) if one and reduction == "none" else loss


def _soft_cross_entropy(logits, probs, weight, ignore_index, reduction, smoothing):
    """cross_entropy against class probabilities: -Σ_c q_c·log softmax(logits)_c per sample, with
    q = (1 - ε)·p + ε/C smoothed and scaled by the class weights; the mean is over the samples."""
    if ignore_index >= 0:
        raise ValueError("cross_entropy: ignore_index is not supported with class-probability targets "
                         "(as in torch); give the ignored samples probability 0 instead")
    p = probs if isinstance(probs, Tensor) else np.asarray(probs)
    if p.dtype.kind != "f":
        raise TypeError(f"cross_entropy: targets of the same shape as the input are class probabilities and "
                        f"must be floats, got dtype {p.dtype}")
    axis = 1 if logits.data.ndim > 1 else 0
    c = logits.data.shape[axis]
    q = _t(probs, logits)
    if smoothing:
        q = q * (1.0 - smoothing) + smoothing / c
    w = _class_weights("cross_entropy", weight, c, logits)
    if w is not None:
        q = q * w.reshape((c,) + (1,) * (logits.data.ndim - axis - 1))
    return _reduce(-(logits.log_softmax(axis) * q).sum(axis=axis), reduction)


def nll_loss(log_probs, targets, reduction="mean", *, weight=None, ignore_index=-100):
    """-log_probs[n, target_n] per sample: the negative log-likelihood of log-probabilities (N, C) (or
    (N, C, d1, ...), or one sample (C,)), such as log_softmax's output (``nll_loss(log_softmax(x), t)``
    is ``cross_entropy(x, t)``). ``weight`` and ``ignore_index`` as in ``cross_entropy``."""
    _check_reduction("nll_loss", reduction)
    log_probs, t, keep, _ = _class_targets("nll_loss", log_probs, targets, ignore_index, "log_probs")
    shape = log_probs.data.shape
    w = _class_weights("nll_loss", weight, shape[1] if len(shape) > 1 else shape[0], log_probs)
    if log_probs.data.ndim == 1:  # one sample: a batch of one (and a 0-d loss for reduction="none")
        loss = _nll(log_probs.reshape(1, -1), t.reshape(1), keep.reshape(1), w, reduction)
        return loss.reshape(()) if reduction == "none" else loss
    return _nll(log_probs, t, keep, w, reduction)


def _pair(name, a, b, what):
    """(prediction, target) as tensors of the same shape; plain arrays and numbers become tensors."""
    if a.__class__ is not Tensor:
        a = _t(a)
    if b.__class__ is not Tensor:
        b = _t(b, a)
    if a.data.shape != b.data.shape:
        _same_shape(name, a, b, what)
    return a, b


def binary_cross_entropy_with_logits(logits, target, reduction="mean", *, weight=None, pos_weight=None):
    """Binary cross-entropy on raw scores, in the stable form max(x,0) - x·y + log(1 + e^-|x|).

    ``pos_weight`` p (broadcast along the last axis: one per output, as in torch) weighs the positive
    term: -[p·y·log σ(x) + (1 - y)·log(1 - σ(x))]; p > 1 raises recall, p < 1 precision. ``weight``
    (broadcast to the logits' shape) scales each element's loss.
    """
    x, y = _pair("binary_cross_entropy_with_logits", logits, target, ("logits", "target"))
    if weight is None and pos_weight is None and reduction == "mean":
        return apply(ops.BCEWithLogits, x, y)
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if pos_weight is None:
        loss = x.softplus() - x * y  # softplus(x) = max(x,0) + log(1 + e^-|x|)
    else:
        p = _broadcasting("binary_cross_entropy_with_logits", "pos_weight", pos_weight, x)
        # -log σ(x) = softplus(-x) and -log(1 - σ(x)) = x + softplus(-x), so the loss is
        # (1 - y)·x + (1 + (p - 1)·y)·softplus(-x), stable for any x (softplus never overflows)
        loss = (1.0 - y) * x + (1.0 + (p - 1.0) * y) * (-x).softplus()
    if weight is not None:
        loss = loss * _broadcasting("binary_cross_entropy_with_logits", "weight", weight, x)
    return _reduce(loss, reduction)


def _broadcasting(name, what, value, x):
    """``value`` as a Tensor that broadcasts to x's shape without enlarging it."""
    v = _t(value, x)
    try:
        fits = np.broadcast_shapes(v.data.shape, x.data.shape) == x.data.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: {what} shape {v.data.shape} does not broadcast to the input's shape "
                         f"{x.data.shape}" + ("; give one weight per output (the last axis)" if what ==
                                                "pos_weight" else ""))
    return v


def binary_cross_entropy(probs, target, reduction="mean", *, weight=None):
    """Binary cross-entropy on probabilities p in [0, 1]: -(y·ln p + (1-y)·ln(1-p)), each element's
    loss scaled by ``weight`` (broadcast to p's shape) if given.

    As in PyTorch, each log is clamped at -100, so p = 0 or 1 gives a large finite loss, not inf.
    Prefer ``binary_cross_entropy_with_logits`` on raw scores: it is stable without a clamp.
    """
    _check_reduction("binary_cross_entropy", reduction)
    p, y = _pair("binary_cross_entropy", probs, target, ("probs", "target"))
    if ((p.data < 0) | (p.data > 1)).any():
        raise ValueError("binary_cross_entropy: probs must be in [0, 1]; for raw scores use "
                         "binary_cross_entropy_with_logits")
    loss = apply(ops.BinaryCrossEntropy, p, y)
    if weight is not None:
        loss = loss * _broadcasting("binary_cross_entropy", "weight", weight, p)
    return _reduce(loss, reduction)


def mse_loss(pred, target, reduction="mean"):
    """(pred - target)², reduced."""
    p, t = _pair("mse_loss", pred, target, ("pred", "target"))
    if reduction == "mean":
        return apply(ops.MSELoss, p, t)
    _check_reduction("mse_loss", reduction)
    return _reduce((p - t) ** 2, reduction)


def l1_loss(pred, target, reduction="mean"):
    """|pred - target|, reduced (the gradient at a difference of exactly 0 is 0, as |a|)."""
    _check_reduction("l1_loss", reduction)
    p, t = _pair("l1_loss", pred, target, ("pred", "target"))
    return _reduce((p - t).abs(), reduction)


def hinge_loss(scores, target, reduction="mean"):
    """max(0, 1 - y·s) per element; target in {-1, +1} or {0, 1} (0 is read as -1)."""
    _check_reduction("hinge_loss", reduction)
    scores = _t(scores)
    y = target.data if isinstance(target, Tensor) else np.asarray(target)
    if y.shape != scores.data.shape:
        raise ValueError(
            f"hinge_loss: scores shape {scores.data.shape} and target shape {y.shape} differ; reshape one "
            f"to match")
    y = np.asanyarray(y, dtype=scores.data.dtype)
    if not (np.abs(y) == 1).all():  # not ±1: accept {0, 1} and map 0 -> -1
        if not ((y == 0) | (y == 1)).all():
            raise ValueError("hinge_loss: target must be in {-1, +1} or {0, 1}")
        y = 2 * y - 1
    if reduction == "mean":
        return apply(ops.HingeLoss, scores, y=y)
    return _reduce((1.0 - scores * y).relu(), reduction)


# ---- regularisation and shape --------------------------------------------------------------------------


def dropout(x, p=0.5, training=True, rng=None, seed=None):
    """Zero each element with probability p and scale the rest by 1/(1-p), so the expected value is
    unchanged; with ``training=False`` (or p = 0) return x as it is.

    The mask is drawn from ``rng`` (a numpy Generator), else from a Generator seeded with ``seed``:
    the same seed gives the same mask. The gradient flows only through the kept elements.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    x = _t(x)
    if not training or p == 0:
        return x
    if rng is None:
        rng = np.random.default_rng(seed)
    if p == 1:
        return x * np.zeros(x.data.shape, x.data.dtype)
    keep = rng.random(x.data.shape) >= p
    return x * (keep / (1.0 - p)).astype(x.data.dtype)


def pad(x, pad, mode="constant", value=None):
    """Padding with torch's ``F.pad`` spelling (pairs from the last axis; a negative width crops), in
    mode "constant", "reflect", "replicate" or "circular": see engine.pad."""
    return _pad(_t(x), pad, mode, value)


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


# ---- images (NCHW, as in PyTorch) --------------------------------------------------------------------

def _int_pair(name, value):
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{name} must be one number (the same along height and width), got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def _image(name, x):
    x = _t(x)
    if x.ndim != 4:
        raise ValueError(f"{name} takes a batch of images of shape (N, C, H, W); got shape {x.shape} "
                         "(add the batch axis with x.reshape(1, *x.shape) for one image)")
    return x


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """torch's ``F.conv2d`` (cross-correlation): x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or
    None; one ``stride`` and one zero ``padding`` for both axes."""
    x = _image("conv2d", x)
    weight = _t(weight, x)
    stride, padding = _int_pair("stride", stride), _int_pair("padding", padding)
    if stride < 1:
        raise ValueError("stride must be at least 1")
    if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d weight must be (out_channels, {x.shape[1]}, kh, kw) for an input with "
                         f"{x.shape[1]} channel(s); got {weight.shape}")
    if weight.shape[2] > x.shape[2] + 2 * padding or weight.shape[3] > x.shape[3] + 2 * padding:
        raise ValueError(f"a {weight.shape[2]}x{weight.shape[3]} kernel does not fit a "
                         f"{x.shape[2]}x{x.shape[3]} image with padding {padding}")
    out = apply(ops.Conv2d, x, weight, stride=stride, padding=padding)
    if bias is not None:
        out = out + _t(bias, x).reshape(1, -1, 1, 1)
    return out


def _pool(op, name, x, kernel_size, stride, padding):
    x = _image(name, x)
    kernel = _int_pair("kernel_size", kernel_size)
    stride = kernel if stride is None else _int_pair("stride", stride)
    padding = _int_pair("padding", padding)
    if kernel < 1 or stride < 1:
        raise ValueError(f"{name}: kernel_size and stride must be at least 1")
    if padding > kernel // 2:
        raise ValueError(f"{name}: padding must be at most half the kernel size, got padding {padding} "
                         f"for kernel_size {kernel}")
    if kernel > min(x.shape[2], x.shape[3]) + 2 * padding:
        raise ValueError(f"{name}: a {kernel}x{kernel} window does not fit a {x.shape[2]}x{x.shape[3]} "
                         f"image with padding {padding}")
    return apply(op, x, kernel=kernel, stride=stride, padding=padding)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """torch's ``F.max_pool2d``: the maximum of each window (stride defaults to the kernel size)."""
    return _pool(ops.MaxPool2d, "max_pool2d", x, kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """torch's ``F.avg_pool2d`` (padding counted as zeros in the mean, as torch's default)."""
    return _pool(ops.AvgPool2d, "avg_pool2d", x, kernel_size, stride, padding)


def flatten(x, start_dim=1):
    """Every axis from ``start_dim`` on, as one (torch's ``flatten``, default as ``nn.Flatten``)."""
    x = _t(x)
    start = start_dim % x.ndim if x.ndim else 0
    return x.reshape(*x.shape[:start], -1)


__all__ = [
    "linear", "activation", "ACTIVATIONS", "softmax", "log_softmax", "cross_entropy",
    "binary_cross_entropy_with_logits", "binary_cross_entropy", "nll_loss", "mse_loss", "l1_loss",
    "hinge_loss", "l1_penalty", "l2_penalty", "dropout", "pad", "conv2d", "max_pool2d", "avg_pool2d",
    "flatten",
]
