"""PyTorch interop: an ``nn.MLP`` as a ``torch.nn.Sequential`` and back.

torch is imported only inside these functions (``pip install torch``): nn never needs it to import.
"""

from __future__ import annotations

import numpy as np

LEAKY_SLOPE = 0.01
"""backlit's leaky ReLU slope (torch's ``LeakyReLU(0.01)``)."""


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
        if not last or act != "linear":
            layers.append(_torch_activation(torch, act))
    return torch.nn.Sequential(*layers)


def _torch_activation(torch, name: str):
    if name == "leaky_relu":
        return torch.nn.LeakyReLU(LEAKY_SLOPE)
    return {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid,
            "linear": torch.nn.Identity}[name]()


def sequential_parts(module):
    """What an ``nn.MLP`` needs to hold a torch ``Sequential`` of ``Linear`` layers, each optionally
    followed by one of ``Tanh``, ``ReLU``, ``Sigmoid``, ``LeakyReLU(0.01)``, ``Identity``: (sizes, the
    hidden activations, the output activation or None, a float64 state dict). ``MLP.from_torch`` builds
    the network from them.

    Anything else raises ``ValueError`` naming the module and its position: a backlit MLP has
    nothing else to hold it.
    """
    torch = _torch()
    names = {torch.nn.Tanh: "tanh", torch.nn.ReLU: "relu", torch.nn.Sigmoid: "sigmoid",
             torch.nn.LeakyReLU: "leaky_relu", torch.nn.Identity: "linear"}
    allowed = "Linear, Tanh, ReLU, Sigmoid, LeakyReLU(0.01), Identity"
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
        name = names.get(type(m))
        if name is None:
            raise ValueError(f"layer {pos} is {type(m).__name__}; from_torch converts only {allowed}")
        if not linears:
            raise ValueError(f"layer {pos} ({type(m).__name__}) comes before any Linear layer")
        if name == "leaky_relu" and m.negative_slope != LEAKY_SLOPE:
            raise ValueError(f"layer {pos} is LeakyReLU({m.negative_slope}); backlit's slope is "
                             f"{LEAKY_SLOPE}: use LeakyReLU({LEAKY_SLOPE})")
        if name == "linear":
            continue
        if acts[-1] != "linear":
            raise ValueError(f"layer {pos} ({type(m).__name__}) follows another activation; "
                             f"give at most one activation after each Linear")
        acts[-1] = name
    if not linears:
        raise ValueError("from_torch found no Linear layer in the Sequential")
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    out_act = None if acts[-1] == "linear" else acts[-1]
    state = {}
    for k, m in enumerate(linears):
        state[f"linears.{k}.weight"] = m.weight.detach().cpu().double().numpy()
        state[f"linears.{k}.bias"] = m.bias.detach().cpu().double().numpy()
    return sizes, acts[:-1], out_act, state
