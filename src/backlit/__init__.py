"""backlit: backpropagation, lit up.

A reverse-mode autodiff engine over numpy arrays, a small neural-net library on top of it, and a
browser playground that draws every gradient.
"""

from .engine import (
    Tensor,
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
from . import graph  # noqa: E402  (callable: backlit.graph(tensor) draws its computation graph)

__all__ = [
    "Tensor",
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
    "graph",
    "__version__",
]
