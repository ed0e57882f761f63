"""The training loop: :func:`fit`, with the model, loss and metrics helpers it uses.

`backlit train` (:mod:`backlit.cli.train`) and the tests call it. Conventions for the output layer:

- binary: one output, a raw score, targets 0/1. ``bce`` reads the score as a logit and ``hinge``
  maps the targets to -1/+1: class 1 where the score is > 0. ``mse`` regresses the score onto 0/1:
  class 1 where it is > 0.5 (the playground uses the same conventions);
- multiclass: one output per class (logits), ``cross_entropy``; the class is the argmax;
- regression: one output, ``mse`` against the float target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import data, gradflow, kinds
from .. import nn
from ..nn import optim
from ..engine import Tensor, no_grad

ACTIVATIONS = nn.ACTIVATIONS
OPTIMIZERS = optim.OPTIMIZERS
REGULARIZATIONS = ["none", "l1", "l2"]


def default_loss(kind: str) -> str:
    return kinds.get(kind).losses()[0]


def n_outputs(kind: str, classes: int | None) -> int:
    return kinds.get(kind).n_outputs(classes)


# --------------------------------------------------------------------------------------------------
# Model, loss and metrics
# --------------------------------------------------------------------------------------------------

def build_model(features, hidden, kind: str, classes=None, activation="tanh", seed=0, init="xavier"):
    """An ``nn.MLP`` from ``len(features)`` inputs through ``hidden`` to the right number of outputs.

    ``model.meta`` records the features and the problem so that a saved model can be used again.
    """
    features = data.check_features(features)
    model = nn.MLP([len(features), *hidden, n_outputs(kind, classes)], activation=activation,
                   seed=seed, init=init)
    model.meta = {"features": list(features), "kind": kind, "classes": classes}
    return model


def data_loss(out, y: np.ndarray, loss: str):
    """The mean loss of model outputs ``out`` (n, k) against targets ``y`` (n,), as a 0-d Tensor."""
    n, k = out.shape[0], out.shape[-1]
    t = nn.losses.targets(y, loss, n, k)
    return nn.loss_function(loss)(out, t if t.dtype.kind == "i" else Tensor(t))


def predict(out: np.ndarray, kind: str, loss: str | None = None) -> np.ndarray:
    """Class predictions (int) from raw outputs (n, k); for regression the outputs themselves."""
    return kinds.get(kind).predict(out, loss)


def evaluate(model, inputs: np.ndarray, y: np.ndarray, kind: str, loss: str):
    """(mean loss, accuracy or None) of ``model`` on already-featurized inputs, without a graph."""
    with no_grad(), np.errstate(all="ignore"):
        out = model(inputs)
        value = float(data_loss(out, y, loss).item())
    acc = None if kind == "regression" else float(np.mean(predict(out.data, kind, loss) == y))
    return value, acc


# --------------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------------

HISTORY_KEYS = ["epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy"]


@dataclass
class FitResult:
    """What :func:`fit` did. ``history`` holds one entry per finished epoch (epoch 0 = before
    training); accuracies are None for regression. ``diverged`` is True when a step produced a
    NaN/inf loss or weight: training stopped and the model was put back to the last finite state."""

    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    diverged: bool = False
    diverged_epoch: int | None = None
    interrupted: bool = False

    @property
    def epochs_run(self) -> int:
        return self.history["epoch"][-1] if self.history["epoch"] else 0

    def final(self) -> dict:
        return {k: self.history[k][-1] for k in HISTORY_KEYS if self.history[k]}


def fit(model, X_train, y_train, X_test=None, y_test=None, *, kind="binary", loss=None,
        features=None, optimizer="adam", lr=0.03, batch_size=10, epochs=100, regularization=None,
        reg_rate=0.0, seed=0, callback: Callable[[dict], None] | None = None,
        catch_interrupt=False) -> FitResult:
    """Train ``model`` (an ``nn.MLP``, see :func:`build_model`) with mini-batches on raw 2-D points.

    Each epoch visits the training points once in a fresh seeded order. The objective is the data
    loss plus ``reg_rate`` times the L1 or L2 penalty on the weights (not the biases). The reported
    losses are data losses over the whole train / test set, measured after each epoch. ``callback``
    gets each history entry as a dict. If a step gives a NaN/inf loss or weight, the model is put
    back to its state after the last finite epoch and training stops (``diverged``). With
    ``catch_interrupt``, Ctrl-C also restores the last finished epoch and returns (``interrupted``).
    Returns a :class:`FitResult`.
    """
    kinds.get(kind)  # raises for an unknown kind
    features = data.check_features(data.DEFAULT_FEATURES if features is None else features)
    loss = loss or default_loss(kind)
    if loss not in nn.losses_for(kind):
        raise ValueError(f"loss {loss!r} does not fit a {kind} problem; "
                         f"choose one of: {', '.join(nn.losses_for(kind))}")
    regularization = None if regularization in (None, "none") else regularization
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if epochs < 0:
        raise ValueError(f"epochs must be 0 or more, got {epochs}")
    in_train, ytr = data.featurize(np.asarray(X_train, dtype=np.float64), features), np.asarray(y_train)
    has_test = X_test is not None and len(X_test) > 0
    if has_test:
        in_test, yte = data.featurize(np.asarray(X_test, dtype=np.float64), features), np.asarray(y_test)
    params = model.parameters()
    weights = [lin.weight for lin in model.linears]  # what the penalty covers: not the biases
    opt = optim.make(optimizer, params, lr)
    rng = np.random.default_rng(seed)
    result = FitResult()
    result.history.update(delta_norm=[], grad_W_norm=[])  # per epoch, one value per layer: gradflow.py
    norms = []  # this epoch's per-step gradflow.layer_norms

    def record(epoch: int) -> bool:
        tr_loss, tr_acc = evaluate(model, in_train, ytr, kind, loss)
        te_loss, te_acc = evaluate(model, in_test, yte, kind, loss) if has_test else (None, None)
        if not math.isfinite(tr_loss) or (te_loss is not None and not math.isfinite(te_loss)):
            return False
        entry = dict(epoch=epoch, train_loss=tr_loss, test_loss=te_loss, train_accuracy=tr_acc,
                     test_accuracy=te_acc)
        for k in HISTORY_KEYS:
            result.history[k].append(entry[k])
        # gradient flow: the epoch's mean per-layer norms, from the steps' own gradients (none at epoch 0)
        for k, key in (("delta", "delta_norm"), ("grad_W", "grad_W_norm")):
            result.history[key].append(np.mean([n[k] for n in norms], axis=0).tolist() if norms else None)
        norms.clear()
        if callback is not None:
            callback(entry)
        return True

    def step(idx) -> bool:
        """One optimizer step on the points ``idx``; False if the loss or a weight is not finite."""
        opt.zero_grad()
        zas = model.forward_layers(in_train[idx])  # model(x), keeping each layer's z for its δ
        for z, _ in zas:
            z.retain_grad()
        objective = data_loss(zas[-1][1], ytr[idx], loss)
        if regularization and reg_rate:
            objective = objective + reg_rate * nn.penalty(weights, regularization)
        if not math.isfinite(float(objective.item())):
            return False
        objective.backward()
        norms.append(gradflow.layer_norms([z.grad for z, _ in zas], [lin.weight.grad for lin in model.linears]))
        opt.step()
        # the loss alone can miss it: tanh(inf) = 1, so an infinite weight may still give a finite loss
        return all(np.isfinite(p.data).all() for p in params)

    if not record(0):
        result.diverged, result.diverged_epoch = True, 0
        return result
    good, good_epoch = model.state_dict(), 0  # the last state whose losses were all finite
    try:
        with np.errstate(all="ignore"):  # overflow is detected and reported, not printed
            for epoch in range(1, epochs + 1):
                order = rng.permutation(len(in_train))
                batches = (order[i:i + batch_size] for i in range(0, len(in_train), batch_size))
                if not (all(step(idx) for idx in batches) and record(epoch)):
                    model.load_state_dict(good)
                    result.diverged, result.diverged_epoch = True, epoch
                    break
                good, good_epoch = model.state_dict(), epoch
    except KeyboardInterrupt:
        if not catch_interrupt:
            raise
        model.load_state_dict(good)
        for k in result.history:  # drop an epoch recorded after the state that was kept
            del result.history[k][good_epoch + 1:]
        result.interrupted = True
    return result
