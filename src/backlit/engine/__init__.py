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
tanh, sigmoid, relu, leaky_relu, softplus, clip = (
    _method(n) for n in ("tanh", "sigmoid", "relu", "leaky_relu", "softplus", "clip"))
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


def pad(x, pad, value=0.0):
    """Pad with a constant, with torch's ``F.pad`` spelling: ``pad`` lists (before, after) pairs
    starting from the LAST axis, e.g. ``pad(x, (1, 1))`` pads the last axis by one on each side."""
    x = _t(x)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {pad} must hold (before, after) pairs for at most {x.ndim} axes")
    if any(p < 0 for p in pad):
        raise ValueError("pad: negative padding (cropping) is not supported; slice the tensor instead")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    widths = tuple([(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1])
    return apply(ops.Pad, x, widths=widths, value=value)


__all__ = [
    "Tensor", "tensor", "as_tensor", "zeros", "ones", "randn", "no_grad", "is_grad_enabled", "gradcheck",
    "GradcheckResult", "unbroadcast", "ops", "Op", "apply", "grad", "value_and_grad",
    "exp", "expm1", "log", "log1p", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
    "leaky_relu", "softplus", "clip", "maximum", "minimum", "where",
    "sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "argmax", "argmin", "cumsum",
    "reshape", "transpose", "permute", "squeeze", "unsqueeze", "flatten", "expand", "flip", "gather",
    "split", "chunk", "pad", "matmul", "concatenate", "cat", "stack", "compile", "Compiled", "CompileError",
]
