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
    ``formula``: the loss of one sample, as the page shows it; ``tex``: the same in LaTeX (the worked
    example); ``threshold``: where a binary score switches to class 1; ``index_targets``: whether it
    takes class indices (else one float target per output); ``options``: the keywords ``fn`` takes
    beyond ``reduction`` (LossOption rows, torch's defaults), which the module's constructor accepts;
    ``signed_targets``: whether it reads 0/1 labels as y = −1/+1; ``averages_outputs``: whether the
    mean runs over every output as well as every sample (so each output's δ carries a 1/k);
    ``reads``: what ``prediction`` gives, for the page's words ("probability" of class 1, "classes"
    probabilities, or the "value" itself); ``torch``: the same batch-mean loss, with the options at
    their defaults, as a torch expression of the outputs ``{out}`` and targets ``y``; ``onnx``: the ONNX node that turns the raw output into its prediction, ``(op_type,
    attributes, output name)``, or None when the raw output is the prediction.

    The methods ``why``, ``worked_loss`` and ``worked_grad`` write its explanation lines with the
    numbers plugged in (the inspector's and the worked example's); a loss without them still gets a
    plain line.
    """

    name = ""
    label = ""  # the menu's word
    long_label = ""  # the inspector's words
    fn = None  # the backlit.functional loss this module applies
    kinds: tuple = ()
    delta_text = ""
    formula = ""
    tex = ""
    threshold = 0.0
    index_targets = False
    signed_targets = False
    averages_outputs = True
    reads = "value"
    torch = ""
    onnx: tuple | None = None
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

    @staticmethod
    def shade(out: np.ndarray) -> np.ndarray:
        """What the plane shows for a binary score: P(class 1) = σ(score) by default."""
        with no_grad():
            return Tensor(out).sigmoid().data

    @classmethod
    def target(cls, y):
        """The targets as the loss reads them: a Tensor of floats, or the int class indices as they are."""
        return y if cls.index_targets else Tensor(y)

    @classmethod
    def why(cls, i: int, z: float, p: float, y, per: str, value: str, fmt) -> str:
        """Output i's δ for one sample with the numbers plugged in: ``z`` the raw output, ``p`` the
        prediction, ``y`` the target (a class index for an index loss), ``per`` " / k" when the loss
        averages over k outputs, ``value`` the δ as text, ``fmt`` the number format."""
        return value

    @classmethod
    def worked_loss(cls, w) -> list[str]:
        """The worked example's lines for the loss of its sample; ``w`` is the example's writer
        (see ``backlit.lab.worked``): it numbers each quantity or blanks it."""
        return [f"- $L = {cls.tex + ' = ' if cls.tex else ''}{w.loss()}$"]

    @classmethod
    def worked_grad(cls, w, i: int) -> str:
        """∂L/∂a of output i as a formula with the numbers plugged in ("" when there is none)."""
        return ""

    @classmethod
    def to_dict(cls) -> dict:
        return {"name": cls.name, "label": cls.label, "long_label": cls.long_label, "kinds": list(cls.kinds),
                "delta": cls.delta_text, "formula": cls.formula, "reads": cls.reads,
                "signed_targets": cls.signed_targets, "options": [o.to_dict() for o in cls.options]}


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (targets 0/1), in the stable form max(x,0) - x*y + log(1+e^-|x|)."""

    name, label, fn = "bce", "Cross-entropy", staticmethod(F.binary_cross_entropy_with_logits)
    long_label = "binary cross-entropy"
    kinds = ("binary",)
    delta_text = "δ = σ(z) − y   (binary cross-entropy on the logit z)"
    formula = "L = −[y log σ(z) + (1 − y) log(1 − σ(z))]"
    tex = r"-[y \log p + (1 - y) \log(1 - p)]"
    reads = "probability"
    torch = "nn.functional.binary_cross_entropy_with_logits({out}, y)"
    onnx = ("Sigmoid", {}, "probability")
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

    @classmethod
    def why(cls, i, z, p, y, per, value, fmt):
        if per:
            return f"(σ(z) − y){per} = ({fmt(p)} − {fmt(y)}){per} = {value}"
        return f"σ(z) − y = {fmt(p)} − {fmt(y)} = {value}"

    @classmethod
    def worked_loss(cls, w):
        return [f"- $p = \\sigma({w.o}_{{1}}) = 1 / (1 + e^{{-{w.o}_{{1}}}}) = {w.p(0)}$",
                f"- $L = {cls.tex} = {w.loss()}$"]

    @classmethod
    def worked_grad(cls, w, i):
        p, y = w.p(i, factor=True), w.given(w.target[i])
        return f"(p - y){w.per} = ({p} - {y}){w.per}" if w.per else f"p - y = {p} - {y}"


class HingeLoss(_Loss):
    """mean(max(0, 1 - y*s)) with y in {-1, +1} (0/1 targets are accepted: 0 means -1)."""

    name, label, fn = "hinge", "Hinge", staticmethod(F.hinge_loss)
    long_label = "hinge"
    kinds = ("binary",)
    delta_text = "δ = −y if y·z < 1 else 0   (hinge; the 0/1 label is read as y = −1/+1)"
    formula = "L = max(0, 1 − y·z)"
    tex = r"\max(0, 1 - y \, a)"
    signed_targets = True
    torch = "torch.clamp(1 - (2 * y - 1) * {out}, min=0).mean()"  # 0/1 targets read as -1/+1

    @staticmethod
    def signed(y) -> float:
        return -1.0 if y == 0 else float(y)

    @classmethod
    def why(cls, i, z, p, y, per, value, fmt):
        # d/dz max(0, 1 - y z) is -y inside the margin, 0 outside
        y = cls.signed(y)
        cond = f"y·z = {fmt(y * z)} {'<' if y * z < 1 else '≥'} 1 (y = {fmt(y)})"
        return f"−y{per} = {value}, since {cond}" if y * z < 1 else f"{value}, since {cond}"

    @classmethod
    def _margin(cls, w, i, factor=False):
        yv = cls.signed(w.target[i])
        return yv, w.num(("margin",), f"y {w.o}_{{1}}", yv * float(w.a[i]), factor)

    @classmethod
    def worked_loss(cls, w):
        yv, margin = cls._margin(w, 0)
        return [f"- $y \\, {w.o}_{{1}} = {w.given(yv)} \\cdot {w.out(0)} = {margin}$",
                f"- $L = \\max(0, 1 - y \\, {w.o}_{{1}}) = {w.loss()}$"]

    @classmethod
    def worked_grad(cls, w, i):
        yv, margin = cls._margin(w, i, factor=True)
        if yv * float(w.a[i]) < 1:
            return f"-y{w.per} \\;\\; (\\mathrm{{since}}\\; y \\, {w.o}_{{1}} = {margin} < 1)"
        return f"0 \\;\\; (\\mathrm{{since}}\\; y \\, {w.o}_{{1}} = {margin} \\geq 1)"


class MSELoss(_Loss):
    """mean((pred - target)^2)."""

    name, label, fn = "mse", "Squared error", staticmethod(F.mse_loss)
    long_label = "mean squared error"
    kinds = ("binary", "regression")
    delta_text = "δ = 2 (ŷ − y)   (squared error)"
    formula = "L = (ŷ − y)²"
    tex = "(a - y)^2"
    threshold = 0.5  # a score regressed onto 0/1 targets means class 1 above one half
    torch = "nn.functional.mse_loss({out}, y)"

    @staticmethod
    def shade(out: np.ndarray) -> np.ndarray:
        """A score regressed onto 0/1 targets, clipped to [0, 1]."""
        return np.clip(out, 0.0, 1.0)

    @classmethod
    def why(cls, i, z, p, y, per, value, fmt):
        return f"2 · (z − y){per} = 2 · ({fmt(z)} − {fmt(y)}){per} = {value}"

    @classmethod
    def worked_loss(cls, w):
        if w.k > 1:
            return [f"- $L = \\frac{{1}}{{{w.k}}} \\sum_i ({w.o}_i - y_i)^2 = {w.loss()}$"]
        return [f"- $L = ({w.o}_{{1}} - y)^2 = ({w.out(0)} - {w.given(w.target[0])})^2 = {w.loss()}$"]

    @classmethod
    def worked_grad(cls, w, i):
        return f"2 ({w.o}_{{{i + 1}}} - y){w.per} = 2 ({w.out(i)} - {w.given(w.target[i])}){w.per}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: logits (n, K), integer targets in 0..K-1."""

    name, label, fn = "cross_entropy", "Cross-entropy", staticmethod(F.cross_entropy)
    long_label = "cross-entropy"
    kinds = ("multiclass",)
    delta_text = "δ = softmax(z) − onehot(y)   (cross-entropy)"
    formula = "L = −log softmax(z)ᵧ"
    tex = r"-\log p_{y}"
    index_targets = True
    averages_outputs = False  # the mean runs over the samples only
    reads = "classes"
    torch = "nn.functional.cross_entropy({out}, y)"
    onnx = ("Softmax", {"axis": 1}, "probabilities")
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

    shade = prediction

    @classmethod
    def why(cls, i, z, p, y, per, value, fmt):
        return f"softmax(z)[{i}] − [y = {i}] = {fmt(p)} − {int(y == i)} = {value}"

    @classmethod
    def worked_loss(cls, w):
        y = int(w.target[0])
        lines = [f"- $p_{{{i + 1}}} = \\mathrm{{softmax}}({w.o})_{{{i + 1}}} = e^{{{w.o}_{{{i + 1}}}}} / \\sum_c e^{{{w.o}_c}} = "
                 f"{w.p(i)}$" for i in range(w.k)]
        return lines + [f"- $L = -\\log p_{{{y + 1}}}$ (class {y} is output neuron {y + 1}) $= "
                        f"-\\log {w.p(y, factor=True)} = {w.loss()}$"]

    @classmethod
    def worked_grad(cls, w, i):
        return f"p_{{{i + 1}}} - [y = {i}] = {w.p(i, factor=True)} - {int(int(w.target[0]) == i)}"


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
