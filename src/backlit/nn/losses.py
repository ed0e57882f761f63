"""Loss modules: thin wrappers over `backlit.functional`, so ``loss_fn = nn.MSELoss()`` reads as in PyTorch.

Every loss returns the MEAN over the batch as a 0-d Tensor. The maths (and its stable forms) lives in
`backlit.functional`; nothing is re-derived here. `loss_function(name)` gives the functional form by
the short name the CLI, the step recorder and the playground use.
"""

from __future__ import annotations

from .. import functional as F
from .module import Module


class _Loss(Module):
    name = ""
    fn = None  # the backlit.functional loss this module applies

    def forward(self, pred, target):
        return self.fn(pred, target)


class MSELoss(_Loss):
    """mean((pred - target)^2)."""

    name, fn = "mse", staticmethod(F.mse_loss)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (targets 0/1), in the stable form max(x,0) - x*y + log(1+e^-|x|)."""

    name, fn = "bce", staticmethod(F.binary_cross_entropy_with_logits)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy: logits (n, K), integer targets in 0..K-1."""

    name, fn = "cross_entropy", staticmethod(F.cross_entropy)


class HingeLoss(_Loss):
    """mean(max(0, 1 - y*s)) with y in {-1, +1} (0/1 targets are accepted: 0 means -1)."""

    name, fn = "hinge", staticmethod(F.hinge_loss)


LOSSES = {cls.name: cls for cls in (MSELoss, BCEWithLogitsLoss, CrossEntropyLoss, HingeLoss)}

# Which losses fit which kind of dataset; the first is the default.
LOSSES_BY_KIND = {
    "binary": ("bce", "hinge", "mse"),
    "multiclass": ("cross_entropy",),
    "regression": ("mse",),
}


def _loss_class(name: str) -> type:
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def loss_function(name: str):
    """The functional loss for a short name, e.g. "bce" -> F.binary_cross_entropy_with_logits."""
    return _loss_class(name).fn


def get_loss(name: str) -> Module:
    """The loss module for a short name: "mse", "bce", "cross_entropy" or "hinge"."""
    return _loss_class(name)()


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
