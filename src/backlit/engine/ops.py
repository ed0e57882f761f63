"""Every differentiable primitive, one small class each: a forward and its vector-Jacobian product.

How to read this table
----------------------
Each op is a class used as a singleton (it is never instantiated). It has

* ``name``: used in error messages and graph views;
* ``elementwise``: True when each output element depends only on the input elements at the same place
  (a diagonal Jacobian once the shapes agree); the graph view then shows a local derivative per element;
* ``forward(*arrays, **params) -> (out, saved)``: plain numpy in, plain numpy out. ``saved`` is whatever
  the backward rule needs beyond the inputs and the output (often ``None``);
* ``backward(node, g) -> tuple``: ``g`` is dL/d(out), the gradient flowing in from above. It returns one
  gradient per parent (``dL/d(parent)``, same shape as that parent), or ``None`` for a parent that does
  not require a gradient. ``node.data`` is the output, ``node._parents`` the input Tensors and
  ``node._ctx`` the ``saved`` value.

``backlit.engine.apply(op, *tensors, **params)`` runs an op and records it in the graph. Every Tensor
method and every function of ``backlit.functional`` goes through it (the arithmetic operators through
``_unary`` and ``_binary``, the same steps without argument packing), and so can your own Op subclass.

The comment above each rule states the maths with z the output. A rule never adds into ``.grad`` itself:
the backward loop in ``tensor.py`` does the accumulation, so a tensor used twice gets both contributions.

Broadcasting is handled once, by :func:`unbroadcast`, which every binary rule calls.

A backward rule must not return the same freshly made array for two different parents (returning ``g``
itself, or a view of it, is fine: the backward loop copies those before storing them).
"""

from __future__ import annotations

import math

import numpy as np


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``, undoing numpy broadcasting.

    Forward broadcasting copies a value along new leading axes and along axes of length 1, so its
    vector-Jacobian product sums the incoming gradient along those same axes.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = np.add.reduce(g, axis=tuple(range(lead)))
    if g.shape != shape:
        ones = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
        g = np.add.reduce(g, axis=ones, keepdims=True)
    return g


def mean_all(x):
    """The mean of every element (np.add.reduce skips np.mean's Python-level overhead); NaN if there
    are none, as in torch."""
    return np.add.reduce(x, axis=None) / x.size if x.size else x.dtype.type(np.nan)


def _expand(g, shape, axis, keepdims):
    """Put back the axes a reduction removed, so ``g`` broadcasts against the reduction's input."""
    if axis is None:  # NOTE (speed): a full reduction's g has one element; fill is cheaper than broadcast_to
        out = np.empty(shape, g.dtype)
        out.fill(g.item())
        return out
    if not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def _keep(z, shape, axis, keepdims):
    """The reduction output ``z`` with its reduced axes kept as length 1."""
    if keepdims:
        return z
    if axis is None:
        return np.reshape(z, (1,) * len(shape))
    return np.expand_dims(z, axis)


def _count(shape, axis):
    """How many elements a reduction over ``axis`` averages."""
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


def stable_sigmoid(x):
    """1 / (1 + e^-x) without overflow.

    NOTE: e^-x overflows for x = -1000. With e = e^-|x| (always in (0, 1]) the two branches
    1/(1+e) for x >= 0 and e/(1+e) for x < 0 are the same function and never overflow.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _logsumexp(x, axis, keepdims=True):
    """log Σ e^x along ``axis``, stable: subtract the max m first, so the largest term is e^0 = 1.

    Over an empty axis the sum is 0, so the value is log 0 = -inf (as in torch).
    """
    m = np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf)
    if not np.isfinite(m).all():  # all -inf (or inf, or an empty axis): shift by 0 instead
        m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = m + np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True))
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def log_softmax(x, axis):
    """x - log Σ e^x along ``axis``, computed as (x - m) - log Σ e^(x - m) with m the max.

    NOTE: both forms are the same maths, but in float32 m + log Σ… rounds to the spacing of m (about
    1e-5 at m = 100) before x is subtracted; shifting first keeps the small differences exact.
    """
    if x.size == 0:  # an empty axis or an empty batch: nothing to normalise, an empty result
        np.add.reduce(x, axis=axis)  # (but an axis that does not exist is still refused)
        return x.copy()
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    if not np.isfinite(m).all():  # all -inf (or inf) along the axis: shift by 0 instead
        m = np.where(np.isfinite(m), m, 0.0)
    s = x - m
    return s - np.log(np.add.reduce(np.exp(s), axis=axis, keepdims=True))


class Op:
    """Base class: see the module docstring for the contract."""

    name = "op"
    elementwise = False

    @staticmethod
    def forward(*arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(node, g):
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# Binary arithmetic (numpy broadcasting; every rule ends in unbroadcast)
# --------------------------------------------------------------------------------------------------


class Add(Op):
    # z = a + b            dz/da = 1            dz/db = 1
    name = "add"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return a + b, None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(g, b.data.shape) if b.requires_grad else None)


class Sub(Op):
    # z = a - b            dz/da = 1            dz/db = -1
    name = "sub"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return a - b, None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return (unbroadcast(g, a.data.shape) if a.requires_grad else None,
                unbroadcast(-g, b.data.shape) if b.requires_grad else None)


class Mul(Op):
    # z = a * b            dz/da = b            dz/db = a
    name = "mul"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return a * b, None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return (unbroadcast(g * b.data, a.data.shape) if a.requires_grad else None,
                unbroadcast(g * a.data, b.data.shape) if b.requires_grad else None)


class Div(Op):
    # z = a / b            dz/da = 1/b          dz/db = -a/b² = -z/b
    name = "div"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return a / b, None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return (unbroadcast(g / b.data, a.data.shape) if a.requires_grad else None,
                unbroadcast(-g * node.data / b.data, b.data.shape) if b.requires_grad else None)


class Pow(Op):
    # z = a ** b           dz/da = b·a^(b-1)    dz/db = z·ln(a)
    # NOTE: ln(a) is undefined for a <= 0. Like PyTorch we use 0 where a == 0 and b >= 0
    # (the limit of a^b·ln a as a -> 0+), and let a < 0 give nan, which is the honest answer.
    # NOTE: where b == 0, z = 1 is constant in a, so dz/da = 0 (b·a^(b-1) would be 0·∞ = nan at a = 0).
    name = "pow"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return np.power(a, b), None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        A, B = a.data, b.data
        ga = gb = None
        if a.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                da = np.where(B == 0, 0.0, B * np.power(A, B - 1))
            ga = unbroadcast(g * da, A.shape)
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                lna = np.log(A)
            lna = np.where((A == 0) & (B >= 0), 0.0, lna)
            gb = unbroadcast(g * node.data * lna, B.shape)
        return ga, gb


class PowScalar(Op):
    # z = a ** c  (c a Python number)      dz/da = c·a^(c-1)
    # NOTE: c == 0 gives z = 1, so dz/da = 0 everywhere (not 0·a^-1, which is nan at a = 0).
    name = "pow"
    elementwise = True

    @staticmethod
    def forward(a, c):
        return np.power(a, c), c

    @staticmethod
    def backward(node, g):
        (a,) = node._parents
        c = node._ctx
        if c == 2:  # the common square: 2a, without a call to power
            return (g * (2.0 * a.data),)
        if c == 0:
            return (np.zeros_like(a.data),)
        return (g * (c * np.power(a.data, c - 1)),)


class MatMul(Op):
    # z = A @ B            dL/dA = g @ Bᵀ       dL/dB = Aᵀ @ g
    # A 1-D operand is treated as a row (left) or column (right) vector, as numpy does, and batch
    # dimensions broadcast, so the batch axes are summed back by unbroadcast.
    name = "matmul"

    @staticmethod
    def forward(a, b):
        return np.matmul(a, b), None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        A, B = a.data, b.data
        if A.ndim == 2 and B.ndim == 2:  # the common case, without the reshaping below
            return (g @ B.T if a.requires_grad else None, A.T @ g if b.requires_grad else None)
        if A.ndim == 1 and B.ndim == 1:  # dot product: z = Σ a_i b_i
            return (g * B if a.requires_grad else None, g * A if b.requires_grad else None)
        A2 = A[None, :] if A.ndim == 1 else A
        B2 = B[:, None] if B.ndim == 1 else B
        g2 = g
        if A.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if B.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(B2, -1, -2)), A2.shape)
            if A.ndim == 1:
                ga = ga.reshape(A.shape)
        if b.requires_grad:
            gb = unbroadcast(np.matmul(np.swapaxes(A2, -1, -2), g2), B2.shape)
            if B.ndim == 1:
                gb = gb.reshape(B.shape)
        return ga, gb


class Maximum(Op):
    # z = max(a, b)        dz/da = 1 where a > b, ½ where a == b, 0 where a < b      (dz/db: mirrored)
    # NOTE: at a tie neither input wins, so each gets half the gradient, as torch.maximum does.
    name = "maximum"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return np.maximum(a, b), None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return _pick(g, a, b, a.data < b.data, a.data > b.data)


class Minimum(Op):
    # z = min(a, b)        dz/da = 1 where a < b, ½ where a == b, 0 where a > b      (dz/db: mirrored)
    name = "minimum"
    elementwise = True

    @staticmethod
    def forward(a, b):
        return np.minimum(a, b), None

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        return _pick(g, a, b, a.data > b.data, a.data < b.data)


def _pick(g, a, b, a_loses, b_loses):
    """The gradients of maximum/minimum: g to the winner, g/2 to each at a tie, 0 to the loser."""
    share = np.where(a.data == b.data, g * 0.5, g)
    return (unbroadcast(np.where(a_loses, 0.0, share), a.data.shape) if a.requires_grad else None,
            unbroadcast(np.where(b_loses, 0.0, share), b.data.shape) if b.requires_grad else None)


class Where(Op):
    # z = a where c else b       dz/da = 1 where c, else 0        dz/db = 0 where c, else 1
    # (c is a boolean array, a constant: it gets no gradient)
    name = "where"
    elementwise = True

    @staticmethod
    def forward(a, b, condition):
        return np.where(condition, a, b), condition

    @staticmethod
    def backward(node, g):
        a, b = node._parents
        c = node._ctx
        return (unbroadcast(np.where(c, g, 0.0), a.data.shape) if a.requires_grad else None,
                unbroadcast(np.where(c, 0.0, g), b.data.shape) if b.requires_grad else None)


# --------------------------------------------------------------------------------------------------
# Elementwise functions of one tensor
# --------------------------------------------------------------------------------------------------


class Neg(Op):
    # z = -a               dz/da = -1
    name = "neg"
    elementwise = True

    @staticmethod
    def forward(a):
        return -a, None

    @staticmethod
    def backward(node, g):
        return (-g,)


class Exp(Op):
    # z = e^a              dz/da = e^a = z      (we reuse the saved output)
    name = "exp"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.exp(a), None

    @staticmethod
    def backward(node, g):
        return (g * node.data,)


class Log(Op):
    # z = ln a             dz/da = 1/a
    name = "log"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.log(a), None

    @staticmethod
    def backward(node, g):
        return (g / node._parents[0].data,)


class Log1p(Op):
    # z = ln(1 + a)        dz/da = 1/(1 + a)         (accurate for tiny a, where 1 + a rounds to 1)
    name = "log1p"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.log1p(a), None

    @staticmethod
    def backward(node, g):
        return (g / (1.0 + node._parents[0].data),)


class Expm1(Op):
    # z = e^a - 1          dz/da = e^a = z + 1       (accurate for tiny a)
    name = "expm1"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.expm1(a), None

    @staticmethod
    def backward(node, g):
        return (g * (node.data + 1.0),)


class Sqrt(Op):
    # z = √a               dz/da = 1/(2√a) = 1/(2z)
    name = "sqrt"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.sqrt(a), None

    @staticmethod
    def backward(node, g):
        return (g / (2.0 * node.data),)


class Abs(Op):
    # z = |a|              dz/da = sign(a)      NOTE: sign(0) = 0, as in PyTorch
    name = "abs"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.abs(a), None

    @staticmethod
    def backward(node, g):
        return (g * np.sign(node._parents[0].data),)


class Sin(Op):
    # z = sin a            dz/da = cos a
    name = "sin"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.sin(a), None

    @staticmethod
    def backward(node, g):
        return (g * np.cos(node._parents[0].data),)


class Cos(Op):
    # z = cos a            dz/da = -sin a
    name = "cos"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.cos(a), None

    @staticmethod
    def backward(node, g):
        return (-g * np.sin(node._parents[0].data),)


class Tan(Op):
    # z = tan a            dz/da = 1 + tan² a = 1 + z²
    name = "tan"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.tan(a), None

    @staticmethod
    def backward(node, g):
        z = node.data
        return (g * (1.0 + z * z),)


class Tanh(Op):
    # z = tanh a           dz/da = 1 - tanh² a = 1 - z²
    name = "tanh"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.tanh(a), None

    @staticmethod
    def backward(node, g):
        z = node.data
        return (g * (1.0 - z * z),)


class Sigmoid(Op):
    # z = σ(a) = 1/(1+e^-a)      dz/da = σ(a)(1 - σ(a)) = z(1 - z)
    # NOTE: computed by stable_sigmoid, which never overflows (σ(±1000) is exactly 1 or 0).
    name = "sigmoid"
    elementwise = True

    @staticmethod
    def forward(a):
        return stable_sigmoid(a), None

    @staticmethod
    def backward(node, g):
        z = node.data
        return (g * (z * (1.0 - z)),)


class Relu(Op):
    # z = max(a, 0)        dz/da = 1 if a > 0 else 0
    # NOTE: at exactly a = 0 the derivative does not exist; we use 0 (the same choice as PyTorch),
    # so a neuron sitting exactly at 0 is treated as off.
    name = "relu"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.maximum(a, 0), None

    @staticmethod
    def backward(node, g):
        return (g * (node._parents[0].data > 0),)


class LeakyRelu(Op):
    # z = a if a > 0 else s·a      dz/da = 1 if a > 0 else s      (NOTE: s at exactly 0, as PyTorch)
    name = "leaky_relu"
    elementwise = True

    @staticmethod
    def forward(a, slope):
        return np.where(a > 0, a, a * slope), slope

    @staticmethod
    def backward(node, g):
        return (g * np.where(node._parents[0].data > 0, 1.0, node._ctx),)


class Softplus(Op):
    # z = ln(1 + e^a)      dz/da = e^a/(1+e^a) = σ(a)
    # NOTE: computed as logaddexp(0, a), which is stable for large |a|.
    name = "softplus"
    elementwise = True

    @staticmethod
    def forward(a):
        return np.logaddexp(0, a), None

    @staticmethod
    def backward(node, g):
        return (g * stable_sigmoid(node._parents[0].data),)


class Clip(Op):
    # z = min(max(a, lo), hi)      dz/da = 1 if lo <= a <= hi else 0
    # NOTE: the bounds themselves count as inside (gradient 1), as torch.clamp does.
    name = "clip"
    elementwise = True

    @staticmethod
    def forward(a, lo, hi):
        return np.clip(a, lo, hi), (lo, hi)

    @staticmethod
    def backward(node, g):
        a = node._parents[0].data
        lo, hi = node._ctx
        inside = np.ones(a.shape, dtype=bool)
        if lo is not None:
            inside &= a >= lo
        if hi is not None:
            inside &= a <= hi
        return (g * inside,)


# --------------------------------------------------------------------------------------------------
# Reductions (axis: None, int or tuple; keepdims as numpy)
# --------------------------------------------------------------------------------------------------


class Sum(Op):
    # z = Σ_axis a         dz/da_i = 1: the gradient is copied back along the summed axes
    name = "sum"

    @staticmethod
    def forward(a, axis, keepdims):
        return np.sum(a, axis=axis, keepdims=keepdims), (axis, keepdims)

    @staticmethod
    def backward(node, g):
        axis, keepdims = node._ctx
        return (_expand(g, node._parents[0].data.shape, axis, keepdims),)


class Mean(Op):
    # z = (1/n) Σ_axis a   dz/da_i = 1/n
    name = "mean"

    @staticmethod
    def forward(a, axis, keepdims):
        if axis is None and not keepdims:
            return mean_all(a), (None, False)
        n = _count(a.shape, axis)
        total = np.add.reduce(a, axis=axis, keepdims=keepdims)
        return (total / n if n else total * np.nan), (axis, keepdims)  # (an empty axis: NaN, as in torch)

    @staticmethod
    def backward(node, g):
        axis, keepdims = node._ctx
        shape = node._parents[0].data.shape
        if axis is None:  # NOTE (speed): one number to spread; dividing a Python float skips 0-d array maths
            out = np.empty(shape, g.dtype)
            if out.size:  # (an empty input has an empty gradient, and nothing to divide by)
                out.fill(g.item() / out.size)
            return (out,)
        n = _count(shape, axis)
        return (_expand(g / n if n else g, shape, axis, keepdims),)  # (n = 0: the gradient is empty)


class Max(Op):
    # z = max_axis a       dz/da_i = 1/k if a_i is one of the k elements equal to the max, else 0
    # NOTE: ties split the gradient evenly between the tied elements. This is what PyTorch does for
    # the full reduction t.max() and for torch.amax (torch.max(dim=...) instead sends it all to one
    # index). It keeps the rule symmetric, and it is the average of the one-sided subgradients.
    # NOTE: a NaN input makes the max NaN; the gradient then goes to the NaN (NaN == NaN is False, so
    # the mask marks NaNs explicitly), as in PyTorch.
    name = "max"
    reduce = np.maximum.reduce

    @classmethod
    def forward(cls, a, axis, keepdims):
        if a.size == 0 and _count(a.shape, axis) == 0:
            raise ValueError(f"the {cls.name} of an empty axis has no value (torch raises too); check the "
                             f"shape, or use logsumexp, whose value there is -inf")
        return cls.reduce(a, axis=axis, keepdims=keepdims), (axis, keepdims)

    @staticmethod
    def backward(node, g):
        axis, keepdims = node._ctx
        a = node._parents[0].data
        z = _keep(node.data, a.shape, axis, keepdims)
        mask = a == z
        if np.isnan(node.data).any():
            mask |= np.isnan(a) & np.isnan(z)
        share = mask / np.sum(mask, axis=axis, keepdims=True)
        return (_expand(g, a.shape, axis, keepdims) * share,)


class Min(Max):
    # z = min_axis a       dz/da_i = 1/k if a_i is one of the k elements equal to the min, else 0
    # (the same rule as Max: the gradient goes to the elements equal to the output)
    name = "min"
    reduce = np.minimum.reduce


class Prod(Op):
    # z = Π_axis a         dz/da_i = Π_{j≠i} a_j
    # NOTE: z / a_i would be 0/0 where a_i = 0, so the product of the others is computed directly, as
    # (product of those before i) · (product of those after i): two cumulative products, exact at zeros.
    name = "prod"

    @staticmethod
    def forward(a, axis, keepdims):
        return np.prod(a, axis=axis, keepdims=keepdims), (axis, keepdims)

    @staticmethod
    def backward(node, g):
        axis, keepdims = node._ctx
        a = node._parents[0].data
        return (_expand(g, a.shape, axis, keepdims) * _prod_of_others(a, axis),)


def _prod_of_others(a, axis):
    """For every element, the product of the other elements it was reduced with."""
    if a.size == 0:  # no elements, so no products (and the reshapes below cannot infer a -1)
        return np.ones_like(a)
    axes = tuple(range(a.ndim)) if axis is None else tuple(
        ax % a.ndim for ax in ((axis,) if isinstance(axis, int) else axis))
    ends = tuple(range(a.ndim - len(axes), a.ndim))
    moved = np.moveaxis(a, axes, ends)
    flat = moved.reshape(moved.shape[:a.ndim - len(axes)] + (-1,))
    one = np.ones(flat.shape[:-1] + (1,), a.dtype)
    before = np.cumprod(np.concatenate([one, flat[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([one, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((before * after).reshape(moved.shape), ends, axes)


class Var(Op):
    # z = Σ_axis (a - ā)² / (n - c)       (ā the mean, c the correction: 1 for the unbiased estimate)
    #   dz/da_i = 2(a_i - ā) / (n - c)    (the terms through ā cancel, since Σ (a_j - ā) = 0)
    # NOTE: when c >= n there is no estimate. As torch, the divisor is then max(n - c, 0) = 0, so z is
    # NaN (0/0) or inf; and the gradient is torch's too: 2(a_i - ā)/(n - c) when an axis is given (inf
    # or even negative), and for the whole tensor NaN where a_i = ā, inf elsewhere.
    name = "var"

    @staticmethod
    def forward(a, axis, keepdims, correction):
        n = _count(a.shape, axis)
        with np.errstate(divide="ignore", invalid="ignore"):  # an empty axis: 0/0 is NaN, as in torch
            d = a - np.add.reduce(a, axis=axis, keepdims=True) / n
            z = np.add.reduce(d * d, axis=axis, keepdims=keepdims) / max(n - correction, 0)
        return z, (axis, keepdims, d, n - correction)

    @staticmethod
    def backward(node, g):
        return (_var_grad(node._ctx, g),)


def _var_grad(ctx, g):
    """dL/da of the variance, given dL/dz = g (see Var's NOTE for n - c <= 0)."""
    axis, keepdims, d, dof = ctx
    g = _expand(g, d.shape, axis, keepdims)
    with np.errstate(invalid="ignore"):
        if axis is None and dof <= 0:
            return g * (np.abs(d) * np.inf)  # |d|·∞: inf where a_i ≠ ā, NaN (0·∞) where a_i = ā
        return g * d * (2.0 / dof if dof else math.inf)


class Std(Op):
    # z = √var(a)          dz/da = dvar/da / (2z)
    # NOTE: where z = 0 (one element with correction 0, or all elements equal) 1/(2z) is infinite and
    # dvar/da is 0. As torch, we take the product to be 0 there, so a constant input gets gradient 0.
    name = "std"

    @staticmethod
    def forward(a, axis, keepdims, correction):
        v, ctx = Var.forward(a, axis, keepdims, correction)
        return np.sqrt(v), ctx

    @staticmethod
    def backward(node, g):
        z = node.data
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(z == 0, 0.0, g / (2.0 * z))
        return (_var_grad(node._ctx, g),)


class LogSumExp(Op):
    # z = ln Σ_axis e^a    dz/da_i = e^(a_i - z) = softmax(a)_i
    name = "logsumexp"

    @staticmethod
    def forward(a, axis, keepdims):
        return _logsumexp(a, axis, keepdims), (axis, keepdims)

    @staticmethod
    def backward(node, g):
        axis, keepdims = node._ctx
        a = node._parents[0].data
        p = np.exp(a - _keep(node.data, a.shape, axis, keepdims))
        return (_expand(g, a.shape, axis, keepdims) * p,)


# --------------------------------------------------------------------------------------------------
# Shape: the gradient is the inverse rearrangement
# --------------------------------------------------------------------------------------------------


class Reshape(Op):
    # z = reshape(a)       dL/da = reshape(g, a.shape)
    name = "reshape"

    @staticmethod
    def forward(a, shape):
        return np.reshape(a, shape), None

    @staticmethod
    def backward(node, g):
        return (np.reshape(g, node._parents[0].data.shape),)


class Transpose(Op):
    # z = transpose(a, axes)       dL/da = transpose(g, inverse permutation of axes)
    name = "transpose"

    @staticmethod
    def forward(a, axes=None):
        if axes is None:  # reverse every axis (a.T); the inverse is the same reversal
            return a.T, None
        inverse = [0] * a.ndim
        for i, ax in enumerate(axes):
            inverse[ax % a.ndim] = i
        return a.transpose(axes), inverse

    @staticmethod
    def backward(node, g):
        inverse = node._ctx
        return (g.T if inverse is None else g.transpose(inverse),)


class Expand(Op):
    # z = broadcast_to(a, shape)     dL/da = unbroadcast(g, a.shape): each copy sends its gradient back
    name = "expand"

    @staticmethod
    def forward(a, shape):
        return np.broadcast_to(a, shape), None

    @staticmethod
    def backward(node, g):
        return (unbroadcast(g, node._parents[0].data.shape),)


class Flip(Op):
    # z = a reversed along axes      dL/da = g reversed along the same axes
    name = "flip"

    @staticmethod
    def forward(a, axes):
        return np.flip(a, axes), axes

    @staticmethod
    def backward(node, g):
        return (np.flip(g, node._ctx),)


class Cumsum(Op):
    # z_i = Σ_{j<=i} a_j   dL/da_j = Σ_{i>=j} g_i: a cumulative sum of g taken from the other end
    name = "cumsum"

    @staticmethod
    def forward(a, axis):
        return np.cumsum(a, axis=axis), axis

    @staticmethod
    def backward(node, g):
        axis = node._ctx
        return (np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis),)


class Pad(Op):
    # z = a with `value` added around it      dL/da = the middle of g, where a sits
    # `widths` is numpy's ((before, after), ...) per axis; functional.pad converts torch's order.
    name = "pad"

    @staticmethod
    def forward(a, widths, value):
        return np.pad(a, widths, constant_values=value), widths

    @staticmethod
    def backward(node, g):
        return (g[tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(node._ctx))],)


class Gather(Op):
    # z[i, j] = a[index[i, j], j]   (for dim 0; torch.gather)
    #   dL/da = zeros with g added at the gathered places (np.add.at: an element gathered twice gets both)
    name = "gather"

    @staticmethod
    def forward(a, dim, index):
        where = list(np.indices(index.shape, sparse=True))
        where[dim] = index
        where = tuple(where)
        return a[where], where

    @staticmethod
    def backward(node, g):
        out = np.zeros(node._parents[0].data.shape, dtype=g.dtype)
        np.add.at(out, node._ctx, g)
        return (out,)


_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_advanced(idx):
    """True unless the index is basic (ints, slices, None, ...). Any other part (a list, a tuple, an
    array) may select an element twice, and then scattering the gradient back must use np.add.at."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    return not all(isinstance(p, _BASIC) and not isinstance(p, bool) for p in parts)


class GetItem(Op):
    # z = a[idx]           dL/da = zeros with g scattered into the selected places, *accumulating*:
    #                      a[[0, 0]] uses a[0] twice, so a[0] receives both gradients (np.add.at).
    name = "getitem"

    @staticmethod
    def forward(a, idx):
        return a[idx], idx

    @staticmethod
    def backward(node, g):
        a = node._parents[0].data
        idx = node._ctx
        out = np.zeros(a.shape, dtype=g.dtype)
        if _is_advanced(idx):
            np.add.at(out, idx, g)
        else:
            out[idx] = g
        return (out,)


class PadEdges(Op):
    # z = a[i₀, i₁, ...]: along each axis an index i that runs past a's ends and comes back (reflect),
    #   stays at the end (replicate) or wraps around (circular); `index` is np.ix_ of those indices.
    #   dL/da = zeros with g added back where each element was copied from: an edge element copied
    #   several times receives every copy's gradient (np.add.at), as in GetItem.
    name = "pad"

    @staticmethod
    def forward(a, index):
        return a[index], index

    backward = staticmethod(GetItem.backward)


class Concatenate(Op):
    # z = [a | b | ...] along axis     dL/da = the slice of g that a filled
    name = "concatenate"

    @staticmethod
    def forward(*arrays, axis):
        return np.concatenate(arrays, axis=axis), axis

    @staticmethod
    def backward(node, g):
        axis = node._ctx
        sizes = [p.data.shape[axis] for p in node._parents]
        return tuple(np.split(g, np.cumsum(sizes)[:-1], axis=axis))


class Stack(Op):
    # z = stack(a, b, ...) on a new axis     dL/da_k = g taken at index k of that axis
    name = "stack"

    @staticmethod
    def forward(*arrays, axis):
        return np.stack(arrays, axis=axis), axis

    @staticmethod
    def backward(node, g):
        axis = node._ctx
        return tuple(np.take(g, k, axis=axis) for k in range(len(node._parents)))


# --------------------------------------------------------------------------------------------------
# Fused nodes used by backlit.functional. Each is one node in the graph: fewer Python steps, and the
# numerically stable form is computed once.
# --------------------------------------------------------------------------------------------------


class Linear(Op):
    # z = x @ Wᵀ + b   with W of shape (out, in), PyTorch's layout; x is (..., in)
    #   dL/dx = g @ W          dL/dW = gᵀ @ x (summed over the batch)      dL/db = Σ_batch g
    name = "linear"

    @staticmethod
    def forward(x, W, b=None):
        out = x @ W.T
        if b is not None:
            if out.ndim >= b.ndim and out.ndim and out.dtype == b.dtype:
                out += b  # in place: out is a fresh array (b, of shape (out,), broadcasts into it)
            else:
                out = out + b
        return out, None

    @staticmethod
    def backward(node, g):
        parents = node._parents
        x, W = parents[0], parents[1]
        X = x.data
        gx = g @ W.data if x.requires_grad else None
        gW = gb = None
        if W.requires_grad:
            if X.ndim == 2:
                gW = g.T @ X
            elif X.ndim == 1:
                gW = np.outer(g, X)
            else:
                gW = g.reshape(-1, g.shape[-1]).T @ X.reshape(-1, X.shape[-1])
        if len(parents) == 2:
            return gx, gW
        if parents[2].requires_grad:
            if g.ndim == 2:
                gb = np.add.reduce(g, axis=0)
            else:
                gb = np.add.reduce(g, axis=tuple(range(g.ndim - 1))) if g.ndim > 1 else g
        return gx, gW, gb


class Softmax(Op):
    # z = e^(a - lse(a))   dL/da = z ⊙ (g - Σ_axis g⊙z)
    name = "softmax"

    @staticmethod
    def forward(a, axis):
        return np.exp(log_softmax(a, axis)), axis

    @staticmethod
    def backward(node, g):
        z = node.data
        return (z * (g - np.sum(g * z, axis=node._ctx, keepdims=True)),)


class LogSoftmax(Op):
    # z = a - lse(a)       dL/da = g - softmax(a) ⊙ Σ_axis g       (softmax(a) = e^z)
    name = "log_softmax"

    @staticmethod
    def forward(a, axis):
        return log_softmax(a, axis), axis

    @staticmethod
    def backward(node, g):
        return (g - np.exp(node.data) * np.sum(g, axis=node._ctx, keepdims=True),)


class CrossEntropy(Op):
    # L = -(1/N) Σ_n log_softmax(a_n)[t_n]       (softmax then negative log-likelihood, via log-sum-exp)
    #   dL/da = (softmax(a) - onehot(t)) / N
    name = "cross_entropy"

    @staticmethod
    def forward(a, targets):
        logp = log_softmax(a, -1)
        loss = -mean_all(logp[np.arange(a.shape[0]), targets])
        return loss, (targets, logp)

    @staticmethod
    def backward(node, g):
        targets, logp = node._ctx
        n = logp.shape[0]
        d = np.exp(logp)
        d[np.arange(n), targets] -= 1.0
        d *= g / n
        return (d,)


class BCEWithLogits(Op):
    # L = mean(max(x,0) - x·y + ln(1 + e^-|x|))      (= -y ln σ(x) - (1-y) ln(1-σ(x)), but stable)
    #   dL/dx = (σ(x) - y) / n          dL/dy = -x / n
    # NOTE: max(x,0) + ln(1 + e^-|x|) is softplus(x) = ln(1 + e^x) in its stable form, which is exactly
    # how np.logaddexp(0, x) computes it (one ufunc instead of five). It never overflows: e^-|x| <= 1.
    # Backward reuses it: σ(x) = e^(x - softplus(x)), and x - softplus(x) <= 0, so no overflow either.
    name = "binary_cross_entropy_with_logits"

    @staticmethod
    def forward(x, y):
        sp = np.logaddexp(0, x)
        return mean_all(sp - x * y), sp

    @staticmethod
    def backward(node, g):
        x, y = node._parents
        X = x.data
        gn = g / X.size
        gx = gy = None
        if x.requires_grad:
            gx = (np.exp(X - node._ctx) - y.data) * gn
        if y.requires_grad:
            gy = -X * gn
        return gx, gy


class BinaryCrossEntropy(Op):
    # L = -(y·ln p + (1-y)·ln(1-p))  per element, on probabilities p
    #   dL/dp = (p - y) / (p(1 - p))          dL/dy = ln(1-p) - ln p
    # NOTE: as PyTorch, each log is clamped at -100 (so p = 0 or 1 gives a finite loss), and p(1-p) at
    # 1e-12 in dL/dp, so a saturated p gives a large finite gradient instead of inf.
    name = "binary_cross_entropy"
    elementwise = True

    @staticmethod
    def forward(p, y):
        with np.errstate(divide="ignore"):
            logp, log1mp = np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)
        return -(y * logp + (1.0 - y) * log1mp), (logp, log1mp)

    @staticmethod
    def backward(node, g):
        p, y = node._parents
        logp, log1mp = node._ctx
        gp = gy = None
        if p.requires_grad:
            gp = g * (p.data - y.data) / np.maximum(p.data * (1.0 - p.data), 1e-12)
        if y.requires_grad:
            gy = g * (log1mp - logp)
        return gp, gy


class MSELoss(Op):
    # L = mean((p - t)²)   dL/dp = 2(p - t)/n      dL/dt = -2(p - t)/n
    name = "mse_loss"

    @staticmethod
    def forward(p, t):
        d = p - t
        return mean_all(d * d), d

    @staticmethod
    def backward(node, g):
        p, t = node._parents
        d = node._ctx
        gp = d * (2.0 * g / d.size)
        return (gp if p.requires_grad else None, -gp if t.requires_grad else None)


class HingeLoss(Op):
    # L = mean(max(0, 1 - y·s)) with y in {-1, +1}
    #   dL/ds = -y/n where the margin 1 - y·s > 0, else 0
    # NOTE: exactly on the hinge (y·s = 1) we use 0, the same choice as relu'(0).
    name = "hinge_loss"

    @staticmethod
    def forward(s, y):
        margin = 1.0 - y * s
        return mean_all(np.maximum(margin, 0)), (y, margin)

    @staticmethod
    def backward(node, g):
        y, margin = node._ctx
        return (-(y * (margin > 0)) * (g / margin.size),)


class L2Penalty(Op):
    # L = ½ Σ_params Σ w²    dL/dw = w        (the ½ makes the gradient exactly w)
    name = "l2_penalty"

    @staticmethod
    def forward(*ws):
        total = 0.0
        for w in ws:
            total = total + np.vdot(w, w)  # Σ w² of every element, in one BLAS call
        return 0.5 * np.asanyarray(total, dtype=ws[0].dtype), None

    @staticmethod
    def backward(node, g):
        return tuple(g * p.data if p.requires_grad else None for p in node._parents)


class L1Penalty(Op):
    # L = Σ_params Σ |w|     dL/dw = sign(w)    (NOTE: 0 at w = 0, as |a|)
    name = "l1_penalty"

    @staticmethod
    def forward(*ws):
        total = 0.0
        for w in ws:
            total = total + np.add.reduce(np.abs(w), axis=None)
        return np.asanyarray(total, dtype=ws[0].dtype), None

    @staticmethod
    def backward(node, g):
        return tuple(g * np.sign(p.data) if p.requires_grad else None for p in node._parents)


# --------------------------------------------------------------------------------------------------
# Images: convolution and pooling (NCHW, as in PyTorch)
# --------------------------------------------------------------------------------------------------
# All three read the input through windows: with xp the padded input, window (n, c, r, s) is the
# kh × kw patch xp[n, c, r·stride : r·stride + kh, s·stride : s·stride + kw]. numpy's
# sliding_window_view gives every window as a view (no copy); backward puts each window's share of g
# back where the window came from, one kernel offset (i, j) at a time (kh·kw small strided adds).


def _windows(xp, kh, kw, stride):
    """(N, C, Ho, Wo, kh, kw): every kh × kw window of the padded input, stride apart (a view)."""
    w = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return w[:, :, ::stride, ::stride]


def _pad_hw(x, padding, value=0.0):
    if not padding:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=value)


def _unwindow(gw, padded_shape, stride, padding):
    """The adjoint of _windows: add each window's gradient gw (N, C, Ho, Wo, kh, kw) back into an
    array of the padded input's shape, then drop the padding."""
    _, _, ho, wo, kh, kw = gw.shape
    gx = np.zeros(padded_shape, dtype=gw.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += gw[:, :, :, :, i, j]
    if padding:
        gx = gx[:, :, padding:-padding, padding:-padding]
    return gx


class Conv2d(Op):
    # z[n, o, r, s] = Σ_c,i,j x_pad[n, c, r·stride + i, s·stride + j] · w[o, c, i, j]   (cross-correlation,
    # as in torch; the bias is added outside, by broadcasting)
    # dL/dw[o, c, i, j] = Σ_n,r,s g[n, o, r, s] · window[n, c, r, s, i, j]
    # dL/dx: each window gets Σ_o g[n, o, r, s] · w[o, c, i, j], added back where the window came from
    name = "conv2d"

    @staticmethod
    def forward(x, w, stride, padding):
        xp = _pad_hw(x, padding)
        win = _windows(xp, w.shape[2], w.shape[3], stride)
        z = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))      # (N, Ho, Wo, O)
        return np.ascontiguousarray(z.transpose(0, 3, 1, 2)), (xp.shape, stride, padding)

    @staticmethod
    def backward(node, g):
        x, w = node._parents
        padded_shape, stride, padding = node._ctx
        gw = gx = None
        if w.requires_grad:
            win = _windows(_pad_hw(x.data, padding), w.shape[2], w.shape[3], stride)
            gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
        if x.requires_grad:
            gwin = np.tensordot(g, w.data, axes=([1], [0]))          # (N, Ho, Wo, C, kh, kw)
            gx = _unwindow(gwin.transpose(0, 3, 1, 2, 4, 5), padded_shape, stride, padding)
        return gx, gw


class MaxPool2d(Op):
    # z[n, c, r, s] = max of window (n, c, r, s)       dL/dx = g at each window's first maximum, 0 elsewhere
    # (padding counts as −∞, as in torch; where windows overlap, their shares add up)
    name = "max_pool2d"

    @staticmethod
    def forward(x, kernel, stride, padding):
        xp = _pad_hw(x, padding, -np.inf)
        win = _windows(xp, kernel, kernel, stride)
        flat = win.reshape(*win.shape[:4], kernel * kernel)
        arg = np.argmax(flat, axis=-1)                               # the first maximum, as torch
        z = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        return z, (xp.shape, stride, padding, kernel, arg)

    @staticmethod
    def backward(node, g):
        padded_shape, stride, padding, kernel, arg = node._ctx
        gw = np.zeros((*g.shape, kernel * kernel), dtype=g.dtype)
        np.put_along_axis(gw, arg[..., None], g[..., None], axis=-1)
        return (_unwindow(gw.reshape(*g.shape, kernel, kernel), padded_shape, stride, padding),)


class AvgPool2d(Op):
    # z[n, c, r, s] = mean of window (n, c, r, s), padding counted as zeros (torch's count_include_pad)
    # dL/dx: each window spreads g / (k·k) evenly over its elements
    name = "avg_pool2d"

    @staticmethod
    def forward(x, kernel, stride, padding):
        xp = _pad_hw(x, padding)
        win = _windows(xp, kernel, kernel, stride)
        return win.mean(axis=(4, 5)), (xp.shape, stride, padding, kernel)

    @staticmethod
    def backward(node, g):
        padded_shape, stride, padding, kernel = node._ctx
        share = np.broadcast_to((g / (kernel * kernel))[..., None, None], (*g.shape, kernel, kernel))
        return (_unwindow(share, padded_shape, stride, padding),)
