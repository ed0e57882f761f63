"""The activation registry: every hidden activation the library, the CLI and the playground offer.

One row holds everything the rest of backlit needs to know about an activation: how to apply it
(an engine op, so its derivative is the engine's own rule in ``engine/ops.py``), its label and
formulas for the page, whether its output is bounded (the neuron heatmaps keep a bounded
activation's natural scale and rescale the others), its PyTorch spelling (a ``torch.nn`` module, and
an expression over ``z``), its ONNX node(s), how the worked example writes it, and which gradient-flow
badge its neurons can earn. ``functional.activation``, ``nn``, the PyTorch interop, the code
generator, the ONNX export, the worked example and the playground's settings and schema all read
this table, so adding an activation is one :func:`register` call plus its derivative rule in
``ops.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ..engine import Tensor


@dataclass(frozen=True)
class Activation:
    """One row of :data:`ACTIVATIONS`.

    - ``torch_expr``: a torch expression over the tensor ``z`` computing the same function (e.g.
      ``"torch.tanh(z)"``); ``torch_module``: the ``torch.nn`` module, spelt as after ``from torch
      import nn`` (e.g. ``"nn.Tanh()"``), or None when torch has none (the generated code then
      defines a small module from ``torch_expr``).
    - ``onnx``: the ONNX nodes that compute it, in order, each ``(op_type, attributes)``; ``()`` for
      the identity; None when there is no ONNX spelling (ONNX export then says so).
    - ``tex``: f as LaTeX (``r"\\tanh"``) for the worked example; ``slope_tex``: f'(z) in terms of
      the output, with ``{a}`` where a = f(z) goes (``"1 - ({a})^2"``); ``slope_note``: what the
      worked example writes after f'(z) when there is no ``slope_tex`` (``{z}`` becomes z's LaTeX
      symbol and ``{side}`` its comparison with 0); without either it writes ``fprime_text``.
    - ``badge``: the gradient-flow badge its neurons can earn: "saturated" (|f'(z)| tiny almost
      everywhere), "dead" (z <= 0 on every sample), or None.
    """

    name: str
    label: str
    fn: Callable[[Tensor], Tensor]  # applies it to a Tensor with engine ops
    formula: str  # f(z), as the page shows it
    fprime_text: str  # f'(z), as the inspector shows it
    bounded: bool  # output within [-1, 1]: the neuron maps keep its natural scale
    torch_expr: str = ""
    torch_module: str | None = None
    onnx: tuple | None = None
    tex: str = ""
    slope_tex: str = ""
    slope_note: str = ""
    badge: str | None = None
    identity: bool = False  # passes z through unchanged: no module after a layer, no ONNX node

    @property
    def class_name(self) -> str:
        """A Python class name for it ("leaky_relu" -> "LeakyRelu"), for generated code."""
        return "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", self.name) if part)

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "formula": self.formula,
                "fprime": self.fprime_text, "bounded": self.bounded, "badge": self.badge}


ACTIVATIONS: dict[str, Activation] = {}
ALIASES = {"identity": "linear"}


def register(activation: Activation) -> Activation:
    """Add (or replace) an activation; it appears in every menu and check from then on."""
    ACTIVATIONS[activation.name] = activation
    return activation


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(f"activation: unknown name {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


LEAKY_SLOPE = 0.01
"""The leaky ReLU's slope below 0 (the engine's ``leaky_relu``; torch's ``LeakyReLU(0.01)``)."""

for _a in (
    Activation("tanh", "Tanh", Tensor.tanh, "f(z) = tanh(z)", "f′(z) = 1 − tanh²(z)", True,
               torch_expr="torch.tanh(z)", torch_module="nn.Tanh()", onnx=(("Tanh", {}),),
               tex=r"\tanh", slope_tex="1 - ({a})^2", badge="saturated"),
    Activation("relu", "ReLU", Tensor.relu, "f(z) = max(0, z)", "f′(z) = 1 if z > 0 else 0", False,
               torch_expr="torch.relu(z)", torch_module="nn.ReLU()", onnx=(("Relu", {}),),
               tex=r"\mathrm{ReLU}", slope_note=", since ${z} {side} 0$ (the slope is 1 above 0, 0 below)",
               badge="dead"),
    Activation("sigmoid", "Sigmoid", Tensor.sigmoid, "f(z) = 1 / (1 + e^−z)", "f′(z) = σ(z)(1 − σ(z))", True,
               torch_expr="torch.sigmoid(z)", torch_module="nn.Sigmoid()", onnx=(("Sigmoid", {}),),
               tex=r"\sigma", slope_tex="{a} (1 - {a})", badge="saturated"),
    Activation("linear", "Linear", lambda z: z, "f(z) = z", "f′(z) = 1", False,
               torch_expr="z", torch_module="nn.Identity()", onnx=(), slope_note=" (a linear layer)",
               identity=True),
    Activation("leaky_relu", "Leaky ReLU", Tensor.leaky_relu, f"f(z) = z if z > 0 else {LEAKY_SLOPE} z",
               f"f′(z) = 1 if z > 0 else {LEAKY_SLOPE}", False,
               torch_expr=f"nn.functional.leaky_relu(z, {LEAKY_SLOPE})",
               torch_module=f"nn.LeakyReLU({LEAKY_SLOPE})", onnx=(("LeakyRelu", {"alpha": LEAKY_SLOPE}),),
               tex=r"\mathrm{LeakyReLU}",
               slope_note=f", since ${{z}} {{side}} 0$ (the slope is 1 above 0, {LEAKY_SLOPE} below)"),
):
    register(_a)
