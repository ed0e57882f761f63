"""The autodiff engine: Tensor, its ops, no_grad, gradcheck and the functional grad API.

Every method of Tensor also exists here as a function, so ``engine.exp(t)`` is ``t.exp()``; the
functions accept Python numbers and arrays too (they become constant tensors).

To add an op, write an ``ops.Op`` subclass (a forward and its vector-Jacobian product) and run it with
``apply(MyOp, *tensors, **params)``: that is how every method below, and ``backlit.functional``, runs.
"""

import numpy as _np

from . import ops
from .compile import Compiled, CompileError, compile  # noqa: A004 (torch's name)
from .func import grad, value_and_grad
from .gradcheck import GradcheckResult, gradcheck
from .ops import Op, unbroadcast
from .tensor import Tensor, apply, as_tensor, is_grad_enabled, no_grad, ones, randn, tensor, where, zeros
from .tensor import _leaf


def _t(x):
    if isinstance(x, Tensor):
        return x
    arr = _np.asarray(x)
    return _leaf(arr if arr.dtype in (_np.float32, _np.float64) else arr.astype(_np.float64))


def _method(name, doc=None):
    def fn(x, *args, **kwargs):
        return getattr(_t(x), name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"``{name}(x, ...)`` is ``x.{name}(...)`` (see Tensor.{name})."
    return fn


exp, expm1, log, log1p, sqrt, abs, sin, cos, tan = (  # noqa: A001 - mirrors numpy/torch naming
    _method(n) for n in ("exp", "expm1", "log", "log1p", "sqrt", "abs", "sin", "cos", "tan"))
tanh, sigmoid, relu, leaky_relu, softplus, clip, softmax, log_softmax = (
    _method(n) for n in ("tanh", "sigmoid", "relu", "leaky_relu", "softplus", "clip", "softmax", "log_softmax"))
sum, mean, max, min, prod, var, std, logsumexp, argmax, argmin, cumsum = (  # noqa: A001
    _method(n) for n in ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "argmax",
                         "argmin", "cumsum"))
reshape, transpose, permute, squeeze, unsqueeze, flatten, expand, flip, gather, split, chunk = (
    _method(n) for n in ("reshape", "transpose", "permute", "squeeze", "unsqueeze", "flatten", "expand",
                         "flip", "gather", "split", "chunk"))
maximum, minimum = (_method(n) for n in ("maximum", "minimum"))


def matmul(a, b):
    return _t(a) @ b


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis; the gradient is split back into the pieces."""
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    return apply(ops.Concatenate, *ts, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    """Join same-shape tensors along a new axis."""
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("stack: need at least one tensor")
    return apply(ops.Stack, *ts, axis=axis)


def pad(x, pad, mode="constant", value=None):
    """Pad with torch's ``F.pad`` spelling: ``pad`` lists (before, after) pairs starting from the LAST
    axis, e.g. ``pad(x, (1, 1))`` pads the last axis by one on each side. A negative width crops.

    ``mode``: "constant" fills with ``value`` (default 0); "reflect" mirrors the tensor at its edge
    without repeating the edge element ([1 2 3] -> [3 2 | 1 2 3 | 2 1]); "replicate" repeats the edge
    element; "circular" wraps around, continuing from the other end.
    """
    x = _t(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, _PAD_MODES))}, got {mode!r} "
                         f"(a fill value goes in value=)")
    if mode != "constant" and value is not None:
        raise ValueError(f"pad: mode {mode!r} takes no value= (only \"constant\" fills with a value)")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {pad} must hold (before, after) pairs for at most {x.ndim} axes")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1]
    for n, (lo, hi) in zip(x.shape, widths):
        _check_pad(n, lo, hi, mode)
    if mode != "constant":
        index = _np.ix_(*[_source_index(n, lo, hi, mode) for n, (lo, hi) in zip(x.shape, widths)])
        return apply(ops.PadEdges, x, index=index)
    if any(lo < 0 or hi < 0 for lo, hi in widths):  # crop first, then pad what is left
        x = x[tuple(slice(_neg(lo), n - _neg(hi)) for n, (lo, hi) in zip(x.shape, widths))]
    widths = tuple((_pos(lo), _pos(hi)) for lo, hi in widths)
    return apply(ops.Pad, x, widths=widths, value=0.0 if value is None else value)


_PAD_MODES = {"constant": None, "reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # numpy's names


def _pos(w):
    return w if w > 0 else 0


def _neg(w):
    return -w if w < 0 else 0


def _source_index(n, lo, hi, mode):
    """Along an axis of length n padded by (lo, hi) (a negative width crops): the index in the input
    that each output element is copied from."""
    i = _np.arange(n)
    if mode == "reflect":  # as torch: mirror at the input's own ends, then crop
        i = _np.pad(i, (_pos(lo), _pos(hi)), mode="reflect")
        return i[_neg(lo):len(i) - _neg(hi)]
    i = i[_neg(lo):n - _neg(hi)]  # replicate, circular: crop, then pad what is left
    return _np.pad(i, (_pos(lo), _pos(hi)), mode=_PAD_MODES[mode])


def _check_pad(n, lo, hi, mode):
    """Refuse the widths torch refuses on an axis of length n, with a message saying why."""
    left = n - _neg(lo) - _neg(hi)
    if left < 0:
        raise ValueError(f"pad: cropping {_neg(lo)} and {_neg(hi)} from an axis of length {n} leaves less "
                         f"than nothing")
    widest = _pos(lo) if lo > hi else _pos(hi)
    if mode == "constant" or not widest:
        return
    if mode == "reflect" and widest >= n:
        raise ValueError(f"pad: reflect padding of ({lo}, {hi}) on an axis of length {n}: each width must be "
                         f"less than the axis length (as in torch)")
    if mode == "circular" and widest > left:
        raise ValueError(f"pad: circular padding of ({lo}, {hi}) on an axis of length {n}: each width must be "
                         f"at most the axis length, {left} (it would wrap around more than once)")
    if left == 0:
        raise ValueError(f"pad: {mode} padding of an empty axis (length {n}): there is no edge to copy")


__all__ = [
    "Tensor", "tensor", "as_tensor", "zeros", "ones", "randn", "no_grad", "is_grad_enabled", "gradcheck",
    "GradcheckResult", "unbroadcast", "ops", "Op", "apply", "grad", "value_and_grad",
    "exp", "expm1", "log", "log1p", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
    "leaky_relu", "softplus", "clip", "softmax", "log_softmax", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "argmax", "argmin", "cumsum",
    "reshape", "transpose", "permute", "squeeze", "unsqueeze", "flatten", "expand", "flip", "gather",
    "split", "chunk", "pad", "matmul", "concatenate", "cat", "stack", "Compiled", "CompileError",
    # compile is left out of __all__: `from backlit import *` must not hide Python's builtin compile
]
