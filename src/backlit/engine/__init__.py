"""The autodiff engine: Tensor, its ops, no_grad and gradcheck.

Every method of Tensor also exists here as a function, so ``engine.exp(t)`` is ``t.exp()``; the
functions accept Python numbers and arrays too (they become constant tensors).
"""

import numpy as _np

from . import ops
from .gradcheck import GradcheckResult, gradcheck
from .ops import unbroadcast
from .tensor import Tensor, is_grad_enabled, no_grad, ones, randn, tensor, zeros
from .tensor import _apply, _leaf


def _t(x):
    if isinstance(x, Tensor):
        return x
    arr = _np.asarray(x)
    return _leaf(arr if arr.dtype in (_np.float32, _np.float64) else arr.astype(_np.float64))


def exp(x):
    return _t(x).exp()


def log(x):
    return _t(x).log()


def sqrt(x):
    return _t(x).sqrt()


def abs(x):  # noqa: A001 - mirrors numpy/torch naming
    return _t(x).abs()


def sin(x):
    return _t(x).sin()


def cos(x):
    return _t(x).cos()


def tanh(x):
    return _t(x).tanh()


def sigmoid(x):
    return _t(x).sigmoid()


def relu(x):
    return _t(x).relu()


def leaky_relu(x, slope=0.01):
    return _t(x).leaky_relu(slope)


def softplus(x):
    return _t(x).softplus()


def clip(x, lo=None, hi=None):
    return _t(x).clip(lo, hi)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return _t(x).sum(axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return _t(x).mean(axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return _t(x).max(axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    return _t(x).logsumexp(axis, keepdims)


def reshape(x, *shape):
    return _t(x).reshape(*shape)


def transpose(x, *axes):
    return _t(x).transpose(*axes)


def matmul(a, b):
    return _t(a) @ b


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis; the gradient is split back into the pieces."""
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("concatenate: need at least one tensor")
    return _apply(ops.Concatenate, *ts, axis=axis)


def stack(tensors, axis=0):
    """Join same-shape tensors along a new axis."""
    ts = tuple(_t(x) for x in tensors)
    if not ts:
        raise ValueError("stack: need at least one tensor")
    return _apply(ops.Stack, *ts, axis=axis)


__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "no_grad", "is_grad_enabled", "gradcheck",
    "GradcheckResult", "unbroadcast", "ops",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "clip",
    "sum", "mean", "max", "logsumexp", "reshape", "transpose", "matmul", "concatenate", "stack",
]
