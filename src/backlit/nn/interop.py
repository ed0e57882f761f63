"""PyTorch interop: an ``nn.MLP`` as a ``torch.nn.Sequential`` and back.

torch is imported only inside these functions (``pip install torch``): nn never needs it to import.
Each activation's torch spelling is its row's (``Activation.torch_module``, or ``torch_expr`` for an
activation torch has no module for).
"""

from __future__ import annotations

import numpy as np

from . import activations
from .activations import LEAKY_SLOPE  # noqa: F401 (its old home)


# --------------------------------------------------------------------------------------------------
# Modules both ways
# --------------------------------------------------------------------------------------------------

def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("converting to or from PyTorch needs torch: pip install torch") from None
    return torch


def to_torch(model):
    """A float64 ``torch.nn.Sequential`` computing exactly what ``model`` computes, weights copied.

    Each hidden layer is ``Linear`` then its activation (``Identity`` for "linear"); the output layer
    is followed by an activation only when the MLP has an ``output_activation``.
    """
    torch = _torch()
    layers = []
    for k, (lin, act) in enumerate(zip(model.linears, model.activations)):
        t = torch.nn.Linear(lin.in_features, lin.out_features, dtype=torch.float64)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(np.array(lin.weight.data, dtype=np.float64)))
            t.bias.copy_(torch.from_numpy(np.array(lin.bias.data, dtype=np.float64)))
        layers.append(t)
        last = k == len(model.linears) - 1
        if not last or not activations.get(act).identity:
            layers.append(torch_activation(act))
    return torch.nn.Sequential(*layers)


def _spelling(torch, text: str):
    # NOTE: the text is a registry row's own torch spelling (the very code the generator writes),
    # never anything from outside; evaluating it keeps the row the one place it is written.
    return eval(text, {"__builtins__": {}, "torch": torch, "nn": torch.nn})  # noqa: S307


def torch_activation(name: str):
    """The torch module of an activation row: its ``torch_module``, or a small module applying its
    ``torch_expr``. Raises ValueError when the row has neither."""
    torch = _torch()
    row = activations.get(name)
    if row.torch_module:
        return _spelling(torch, row.torch_module)
    if not row.torch_expr:
        raise ValueError(f"activation {row.name!r} has no PyTorch spelling: give its registry row a "
                         f"torch_expr (a torch expression over z) or a torch_module")
    fn = _spelling(torch, f"lambda z: {row.torch_expr}")

    class Expression(torch.nn.Module):
        def forward(self, z):
            return fn(z)

        def extra_repr(self):
            return row.torch_expr

    Expression.__name__ = Expression.__qualname__ = row.class_name
    return Expression()


def sequential_parts(module):
    """What an ``nn.MLP`` needs to hold a torch ``Sequential`` of ``Linear`` layers, each optionally
    followed by one activation module (``Tanh``, ``ReLU``, ``LeakyReLU(0.01)``, ...): (sizes, the
    hidden activations, the output activation or None, a float64 state dict). ``MLP.from_torch`` builds
    the network from them. The activations it knows are the registry rows with a ``torch_module``.

    Anything else raises ``ValueError`` naming the module and its position: a backlit MLP has
    nothing else to hold it.
    """
    torch = _torch()
    rows = {type(m): (row, m) for row in activations.ACTIVATIONS.values() if row.torch_module
            for m in [_spelling(torch, row.torch_module)]}  # torch module type -> (row, its instance)
    allowed = ", ".join(["Linear", *(repr(m) for _, m in rows.values())])
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"from_torch takes a torch.nn.Sequential of {allowed}; got {type(module).__name__}")
    linears, acts = [], []  # acts[k]: the activation after linears[k] ("linear" if none)
    for pos, m in enumerate(module):
        if isinstance(m, torch.nn.Linear):
            if m.bias is None:
                raise ValueError(f"layer {pos} (Linear) has no bias; backlit's Linear layers always have one")
            if linears and m.in_features != linears[-1].out_features:
                raise ValueError(f"layer {pos} (Linear) takes {m.in_features} inputs but the layer before "
                                 f"gives {linears[-1].out_features}")
            linears.append(m)
            acts.append("linear")
            continue
        row, ours = rows.get(type(m), (None, None))
        if row is None:
            raise ValueError(f"layer {pos} is {type(m).__name__}; from_torch converts only {allowed}")
        if not linears:
            raise ValueError(f"layer {pos} ({type(m).__name__}) comes before any Linear layer")
        if repr(m) != repr(ours):  # same module, other settings (a LeakyReLU's slope)
            raise ValueError(f"layer {pos} is {m!r}; backlit's {row.name} is {ours!r}: use {row.torch_module}")
        if row.identity:
            continue
        if acts[-1] != "linear":
            raise ValueError(f"layer {pos} ({type(m).__name__}) follows another activation; "
                             f"give at most one activation after each Linear")
        acts[-1] = row.name
    if not linears:
        raise ValueError("from_torch found no Linear layer in the Sequential")
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    out_act = None if acts[-1] == "linear" else acts[-1]
    state = {}
    for k, m in enumerate(linears):
        state[f"linears.{k}.weight"] = m.weight.detach().cpu().double().numpy()
        state[f"linears.{k}.bias"] = m.bias.detach().cpu().double().numpy()
    return sizes, acts[:-1], out_act, state
