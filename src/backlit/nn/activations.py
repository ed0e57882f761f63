"""The activation registry: every hidden activation the library, the CLI and the playground offer.

One entry holds everything the rest of backlit needs to know about an activation: how to apply it
(an engine op, so its derivative is the engine's own rule in ``engine/ops.py``), its label and
formulas for the page, and whether its output is bounded (the neuron heatmaps keep a bounded
activation's natural scale and rescale the others). ``functional.activation``, ``nn`` and the
playground's settings and schema all read this table, so adding an activation is one
:func:`register` call plus its derivative rule in ``ops.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..engine import Tensor


@dataclass(frozen=True)
class Activation:
    name: str
    label: str
    fn: Callable[[Tensor], Tensor]  # applies it to a Tensor with engine ops
    formula: str  # f(z), as the page shows it
    fprime_text: str  # f'(z), as the inspector shows it
    bounded: bool  # output within [-1, 1]: the neuron maps keep its natural scale

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "formula": self.formula,
                "fprime": self.fprime_text, "bounded": self.bounded}


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


for _a in (
    Activation("tanh", "Tanh", Tensor.tanh, "f(z) = tanh(z)", "f′(z) = 1 − tanh²(z)", True),
    Activation("relu", "ReLU", Tensor.relu, "f(z) = max(0, z)", "f′(z) = 1 if z > 0 else 0", False),
    Activation("sigmoid", "Sigmoid", Tensor.sigmoid, "f(z) = 1 / (1 + e^−z)", "f′(z) = σ(z)(1 − σ(z))", True),
    Activation("linear", "Linear", lambda z: z, "f(z) = z", "f′(z) = 1", False),
    Activation("leaky_relu", "Leaky ReLU", Tensor.leaky_relu, "f(z) = z if z > 0 else 0.01 z",
               "f′(z) = 1 if z > 0 else 0.01", False),
):
    register(_a)
