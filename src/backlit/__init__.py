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
    compile,
)

__version__ = "0.1.0"

import sys as _sys  # noqa: E402

from . import nn  # noqa: E402  (it builds on the engine above)
from .nn import functional, optim  # noqa: E402
from .lab import data  # noqa: E402
from .lab import graph as _graph_module  # noqa: E402
from .lab.graph import graph  # noqa: E402  (a plain function: backlit.graph(tensor) draws its computation graph)

# ``import backlit.optim`` / ``backlit.functional`` / ``backlit.data`` keep working, and so does
# ``from backlit.graph import step_graph``: they are backlit.nn.optim, backlit.nn.functional,
# backlit.lab.data and backlit.lab.graph, under their old names.
for _name, _module in {"functional": functional, "optim": optim, "graph": _graph_module, "data": data}.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)
del _name, _module


def show(model=None, data=None, **config):
    """The playground as a notebook widget, on ``model`` (an ``nn.MLP``, trained live in the kernel) and
    ``data`` (a dataset name such as ``"xor"``, or arrays ``(X, y)``); ``config``: any playground setting,
    e.g. ``lr=0.1``; ``lesson``: open a lesson of the course, e.g. ``backlit.show(lesson="chain-rule")``
    (names in ``backlit.playground.lessons.LESSONS``). Needs the notebook extra (anywidget); see backlit.server.notebook."""
    try:
        from .server.notebook import show as _show
    except ImportError as e:
        if "anywidget" not in str(e):
            raise
        raise ImportError("backlit.show needs anywidget: pip install 'backlit[notebook]'") from None
    return _show(model, data, **config)

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
    "graph",
    "data",
    "show",
    "__version__",
]
