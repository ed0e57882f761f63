"""The problem kinds: binary, multiclass and regression.

A kind says how many outputs the network has, how its raw outputs become predictions (a class or a
value), and what the decision boundary shows (P(class 1), the class probabilities, or the value).
The training loop, the step recorder, the playground and the plots all read it here, so each rule
exists once. Which losses fit a kind is the loss registry's to say (``nn.losses_for``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, loss_class, losses_for


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    problem: str  # "classification" or "regression": the page's problem-type menu

    def n_outputs(self, classes: int | None) -> int:
        return classes if self.name == "multiclass" else 1

    def losses(self) -> tuple[str, ...]:
        return losses_for(self.name)

    def predict(self, out: np.ndarray, loss: str | None = None) -> np.ndarray:
        """Class predictions (int) from raw outputs (n, k); for regression the outputs themselves."""
        out = np.asarray(out)
        if self.name == "multiclass":
            return out.argmax(axis=-1)
        if self.name == "binary":
            threshold = loss_class(loss).threshold if loss else 0.0
            return (out[..., 0] > threshold).astype(np.int64)
        return out[..., 0]

    def display(self, out: np.ndarray, loss: str | None = None) -> np.ndarray:
        """Raw outputs (..., k) -> what the plane shows: P(class 1) for a binary score (as the loss
        row's ``shade`` reads it: mse regresses onto 0/1 and clips), class probabilities, or the value."""
        if self.name == "multiclass":
            return CrossEntropyLoss.prediction(out)
        if self.name == "binary":
            return (loss_class(loss) if loss else BCEWithLogitsLoss).shade(out)
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "problem": self.problem, "losses": list(self.losses())}


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("binary", "Classification · 2 classes", "classification"),
    Kind("multiclass", "Classification · 3–5 classes", "classification"),
    Kind("regression", "Regression", "regression"),
)}


def get(name: str) -> Kind:
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kind {name!r}; choose one of: {', '.join(KINDS)}") from None
