"""Loss modules: thin wrappers over `backlit.functional`, so ``loss_fn = nn.MSELoss()`` reads as in PyTorch.

Every loss returns the MEAN over the batch as a 0-d Tensor unless built with ``reduction="sum"`` or
``"none"``; the options torch's module takes (``CrossEntropyLoss(label_smoothing=0.1)``,
``BCEWithLogitsLoss(pos_weight=...)``) are listed in each row's ``options``. The maths (and its stable
forms) lives in `backlit.functional`; nothing is re-derived here. `loss_function(name)` gives the
functional form by the short name the CLI, the step recorder and the playground use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import functional as F
from ..engine import Tensor, no_grad
from .module import Module


@dataclass(frozen=True)
class LossOption:
    """A keyword a loss takes beyond (prediction, target, reduction), spelled and defaulted as in torch."""

    name: str
    default: object
    label: str  # the words a control for it would show
    doc: str

    def to_dict(self) -> dict:
        return {"name": self.name, "default": self.default, "label": self.label, "doc": self.doc}


class _Loss(Module):
    """A loss module, and its row in the loss registry (``LOSSES``).

    ``kinds``: the dataset kinds it fits (the first loss listed for a kind is that kind's default);
    ``delta_text``: how the output neuron's δ = ∂L/∂z comes from it, as the inspector shows it;
    ``threshold``: where a binary score switches to class 1; ``index_targets``: whether it takes class
    indices (else one float target per output); ``options``: the keywords ``fn`` takes beyond
    ``reduction`` (LossOption rows, torch's defaults), which the module's constructor accepts.
    """

    name = ""
    label = ""  # the menu's word
    long_label = ""  # the inspector's words
    fn = None  # the backlit.functional loss this module applies
    kinds: tuple = ()
    delta_text = ""
    threshold = 0.0
    index_targets = False
    options: tuple = ()

    def __init__(self, reduction: str = "mean", **options):
        known = {o.name: o.default for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(f"{k}=" for k in known) or "no options"
            raise TypeError(f"{type(self).__name__}: unknown option {', '.join(unknown)}; it takes {takes} "
                            f"(and reduction=)")
        F._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction
        self._options = {**known, **options}  # (private: a weight Tensor here is not a parameter)

    def forward(self, pred, target):
        return self.fn(pred, target, self.reduction, **self._options)

    @staticmethod
    def prediction(out: np.ndarray) -> np.ndarray:
        """What this loss reads the raw output as (the inspector's ŷ): the output itself by default."""
        return out

    @classmethod
    def to_dict(cls) -> dict:
        return {"name": cls.name, "label": cls.label, "long_label": cls.long_label, "kinds": list(cls.kinds),
                "delta": cls.delta_text, "options": [o.to_dict() for o in cls.options]}


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (targets 0/1), in the stable form max(x,0) - x*y + log(1+e^-|x|)."""

    name, label, fn = "bce", "Cross-entropy", staticmethod(F.binary_cross_entropy_with_logits)
    long_label = "binary cross-entropy"
    kinds = ("binary",)
    delta_text = "δ = σ(z) − y   (binary cross-entropy on the logit z)"
    options = (
        LossOption("weight", None, "Weights", "scales each element's loss (broadcast to the outputs' shape)"),
        LossOption("pos_weight", None, "Positive weight",
                   "weighs the loss of the positive examples (one number per output): above 1 favours "
                   "recall, below 1 precision; then δ = (1 + (p − 1)·y)·σ(z) − p·y"),
    )

    @staticmethod
    def prediction(out: np.ndarray) -> np.ndarray:
        """P(class 1) = σ(score), with the engine's overflow-free sigmoid."""
        with no_grad():
            return Tensor(out).sigmoid().data


class HingeLoss(_Loss):
    """mean(max(0, 1 - y*s)) with y in {-1, +1} (0/1 targets are accepted: 0 means -1)."""

    name, label, fn = "hinge", "Hinge", staticmethod(F.hinge_loss)
    long_label = "hinge"
    kinds = ("binary",)
    delta_text = "δ = −y if y·z < 1 else 0   (hinge; the 0/1 label is read as y = −1/+1)"


class MSELoss(_Loss):
    """mean((pred - target)^2)."""

    name, label, fn = "mse", "Squared error", staticmethod(F.mse_loss)
    long_label = "mean squared error"
    kinds = ("binary", "regression")
    delta_text = "δ = 2 (ŷ − y)   (squared error)"
    threshold = 0.5  # a score regressed onto 0/1 targets means class 1 above one half


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: logits (n, K), integer targets in 0..K-1."""

    name, label, fn = "cross_entropy", "Cross-entropy", staticmethod(F.cross_entropy)
    long_label = "cross-entropy"
    kinds = ("multiclass",)
    delta_text = "δ = softmax(z) − onehot(y)   (cross-entropy)"
    index_targets = True
    options = (
        LossOption("weight", None, "Class weights",
                   "one number per class, scaling that class's loss; the mean divides by the targets' total "
                   "weight"),
        LossOption("ignore_index", -100, "Ignored class", "targets with this value add nothing to the loss"),
        LossOption("label_smoothing", 0.0, "Label smoothing",
                   "ε in [0, 1]: the target becomes (1 − ε)·onehot(y) + ε/K, so δ = softmax(z) − that"),
    )

    @staticmethod
    def prediction(out: np.ndarray) -> np.ndarray:
        """The class probabilities softmax(logits)."""
        with no_grad():
            return F.softmax(Tensor(out), axis=-1).data


LOSSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Add (or replace) a loss class in the registry; every menu and check sees it from then on."""
    LOSSES[cls.name] = cls
    return cls


for _cls in (BCEWithLogitsLoss, HingeLoss, MSELoss, CrossEntropyLoss):
    register(_cls)


def losses_for(kind: str) -> tuple[str, ...]:
    """The losses that fit a dataset kind, its default first."""
    return tuple(name for name, cls in LOSSES.items() if kind in cls.kinds)


def loss_class(name: str) -> type:
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def loss_function(name: str):
    """The functional loss for a short name, e.g. "bce" -> F.binary_cross_entropy_with_logits."""
    return loss_class(name).fn


def get_loss(name: str) -> Module:
    """The loss module for a short name: "mse", "bce", "cross_entropy" or "hinge"."""
    return loss_class(name)()


def targets(y, loss: str, n: int, k: int) -> np.ndarray:
    """Targets in the layout ``loss`` takes for outputs of shape (n, k): int class indices (n,) for an
    index loss (cross-entropy), else floats (n, k). Raises ValueError naming what does not fit."""
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if loss_class(loss).index_targets:
        if y.size != n:
            raise ValueError(f"{loss} needs one class index per sample ({n}), got shape {y.shape}")
        t = y.reshape(n)
        bad = t[(t != np.round(t)) | (t < 0) | (t >= k)]
        if bad.size:
            raise ValueError(f"{loss} targets must be class indices in 0..{k - 1}, got {bad[0]:g}")
        return t.astype(np.int64)
    if y.size != n * k:
        raise ValueError(f"{loss} needs {k} target value(s) per sample ({n} samples), got shape {y.shape}")
    return y.astype(np.float64).reshape(n, k)


def penalty(model, kind: str):
    """The regularisation term over a model's *weights* (biases are left out, as in TF Playground).

    kind "l1": sum |w|;  kind "l2": 0.5 * sum w^2 (the 0.5 makes its gradient exactly w).
    `model` is a Module (its parameters named "...weight") or a list of Tensors (used as given).
    Multiply by the regularisation rate and add it to the loss.
    """
    if isinstance(model, Module):
        params = [t for name, t in model.named_parameters() if name.rsplit(".", 1)[-1] == "weight"]
    else:
        params = list(model)
    if kind == "l1":
        return F.l1_penalty(params)
    if kind == "l2":
        return F.l2_penalty(params)
    raise ValueError(f"unknown penalty {kind!r}; choose 'l1' or 'l2'")
