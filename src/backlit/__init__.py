"""backlit: backpropagation, lit up.

A reverse-mode autodiff engine over numpy arrays, a small neural-net library on top of it, and a
browser playground that draws every gradient.
"""

from .engine import (
    Tensor,
    apply,
    as_tensor,
    grad,
    value_and_grad,
    where,
    maximum,
    minimum,
    pad,
    tensor,
    zeros,
    ones,
    randn,
    no_grad,
    is_grad_enabled,
    gradcheck,
    exp,
    log,
    sqrt,
    sin,
    cos,
    tanh,
    sigmoid,
    relu,
    leaky_relu,
    softplus,
    clip,
    concatenate,
    stack,
    matmul,
)

__version__ = "0.1.0"

from . import functional, nn, optim  # noqa: E402  (they build on the engine above)

__all__ = [
    "Tensor",
    "apply",
    "as_tensor",
    "grad",
    "value_and_grad",
    "where",
    "maximum",
    "minimum",
    "pad",
    "tensor",
    "zeros",
    "ones",
    "randn",
    "no_grad",
    "is_grad_enabled",
    "gradcheck",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "clip",
    "concatenate",
    "stack",
    "matmul",
    "functional",
    "nn",
    "optim",
    "__version__",
]
