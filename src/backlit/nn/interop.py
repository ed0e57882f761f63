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


# --------------------------------------------------------------------------------------------------
# Any Sequential of the layers backlit has (CNNs included), to torch and to ONNX
# --------------------------------------------------------------------------------------------------

def _kind(m) -> str:
    return type(m).__name__


def _activation(m) -> str | None:
    """The registry name of an activation module (Tanh, ReLU, ...: they carry ``name``), else None."""
    name = getattr(m, "name", None)
    return name if isinstance(name, str) and _kind(m) not in ("Linear", "Conv2d") else None


def sequential_to_torch(model):
    """A float64 ``torch.nn.Sequential`` computing exactly what the backlit ``nn.Sequential`` ``model``
    computes (Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout and the activations), weights
    copied. Anything else raises ValueError naming it."""
    torch = _torch()
    out = []
    for pos, m in enumerate(model):
        kind = _kind(m)
        if kind == "Linear":
            t = torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=torch.float64)
        elif kind == "Conv2d":
            t = torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                                padding=m.padding, bias=m.bias is not None, dtype=torch.float64)
        elif kind in ("MaxPool2d", "AvgPool2d"):
            t = getattr(torch.nn, kind)(m.kernel_size, stride=m.stride or m.kernel_size, padding=m.padding)
        elif kind == "Flatten":
            t = torch.nn.Flatten(m.start_dim)
        elif kind == "Dropout":
            t = torch.nn.Dropout(m.p)
        elif _activation(m) is not None:  # its registry row's torch spelling
            t = torch_activation(m.name)
            if hasattr(m, "negative_slope"):  # a leaky ReLU module with a slope of its own
                t.negative_slope = m.negative_slope
        else:
            raise ValueError(f"layer {pos} ({kind}) has no PyTorch counterpart here")
        if kind in ("Linear", "Conv2d"):
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(np.array(m.weight.data, dtype=np.float64)))
                if m.bias is not None:
                    t.bias.copy_(torch.from_numpy(np.array(m.bias.data, dtype=np.float64)))
        out.append(t)
    return torch.nn.Sequential(*out)


def sequential_to_onnx(model, input_shape, dtype=np.float32):
    """An ONNX model (``onnx.ModelProto``, opset 17) of the backlit ``nn.Sequential`` ``model`` for
    inputs of ``input_shape`` with the batch axis left free, e.g. ``(1, 8, 8)`` for the digits CNN.
    Needs the ``onnx`` package. Conv, MaxPool, AveragePool (padding counted, as backlit and torch do),
    Flatten, Gemm and the activations; Dropout exports as Identity (inference)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx") from None

    elem = TensorProto.FLOAT if np.dtype(dtype) == np.float32 else TensorProto.DOUBLE
    nodes, inits, h = [], [], "input"
    for pos, m in enumerate(model):
        kind, out = _kind(m), f"t{pos}"
        if kind in ("Linear", "Conv2d"):
            w = f"w{pos}"
            inits.append(numpy_helper.from_array(np.asarray(m.weight.data, dtype=dtype), w))
            ins = [h, w]
            if m.bias is not None:
                inits.append(numpy_helper.from_array(np.asarray(m.bias.data, dtype=dtype), f"b{pos}"))
                ins.append(f"b{pos}")
            if kind == "Linear":
                nodes.append(helper.make_node("Gemm", ins, [out], transB=1, name=f"linear{pos}"))
            else:
                k, p, s = m.kernel_size, m.padding, m.stride
                nodes.append(helper.make_node("Conv", ins, [out], kernel_shape=[k, k], pads=[p, p, p, p],
                                              strides=[s, s], name=f"conv{pos}"))
        elif kind in ("MaxPool2d", "AvgPool2d"):
            k, p, s = m.kernel_size, m.padding, m.stride or m.kernel_size
            extra = {"count_include_pad": 1} if kind == "AvgPool2d" else {}
            nodes.append(helper.make_node("MaxPool" if kind == "MaxPool2d" else "AveragePool", [h], [out],
                                          kernel_shape=[k, k], pads=[p, p, p, p], strides=[s, s],
                                          name=f"pool{pos}", **extra))
        elif kind == "Flatten":
            nodes.append(helper.make_node("Flatten", [h], [out], axis=m.start_dim, name=f"flatten{pos}"))
        elif kind == "Dropout" or (_activation(m) is not None and activations.get(m.name).onnx == ()):
            nodes.append(helper.make_node("Identity", [h], [out], name=f"identity{pos}"))
        elif _activation(m) is not None:  # its registry row's ONNX nodes
            steps = activations.get(m.name).onnx
            if steps is None:
                raise ValueError(f"layer {pos} ({kind}): activation {m.name!r} has no ONNX node in its "
                                 f"registry row (Activation.onnx)")
            for k, (op, attrs) in enumerate(steps):
                if "alpha" in attrs and hasattr(m, "negative_slope"):  # the module's own slope
                    attrs = {**attrs, "alpha": m.negative_slope}
                name = out if k == len(steps) - 1 else f"{out}_{k}"
                nodes.append(helper.make_node(op, [h], [name], name=f"{m.name}{pos}_{k}", **attrs))
                h = name
        else:
            raise ValueError(f"layer {pos} ({kind}) has no ONNX counterpart here")
        h = out
    nodes[-1].output[0] = "output"
    from ..engine import Tensor, no_grad

    with no_grad():   # the output's shape, from one sample
        out_shape = model(Tensor(np.zeros((1, *input_shape)))).shape[1:]
    graph = helper.make_graph(nodes, "backlit", [helper.make_tensor_value_info("input", elem, ["n", *input_shape])],
                              [helper.make_tensor_value_info("output", elem, ["n", *out_shape])], inits)
    made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="backlit")
    onnx.checker.check_model(made)
    return made
