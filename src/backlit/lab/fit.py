"""The one training loop: :class:`Trainer` (one step, one target rule, one divergence rule) and
:func:`fit`, the epochs `backlit train` runs on it. The playground's session trains with the same
:class:`Trainer`, a few steps per tick.

Conventions for the output layer:

- binary: one output, a raw score, targets 0/1. ``bce`` reads the score as a logit and ``hinge``
  maps the targets to -1/+1: class 1 where the score is > 0. ``mse`` regresses the score onto 0/1:
  class 1 where it is > 0.5;
- multiclass: one output per class (logits), ``cross_entropy``; the class is the argmax;
- regression: one output, ``mse`` against the float target.

Divergence, everywhere: a step whose objective is not finite, or a weight past ``WEIGHT_LIMIT``
(the range that Save, Load and a reconnect accept, so every state training reaches can be restored).
Counters (steps, samples) saturate at ``MAX_COUNT``, the largest integer a JS number holds exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import data, gradflow, kinds
from .. import nn
from ..nn import optim
from ..engine import Tensor, compile, no_grad  # noqa: A004 (backlit.compile)

ACTIVATIONS = nn.ACTIVATIONS
OPTIMIZERS = optim.OPTIMIZERS
REGULARIZATIONS = ["none", "l1", "l2"]
WEIGHT_LIMIT = 1e6  # |weight| past this is divergence (and what a restored session may hold)
MAX_COUNT = 2**53 - 1  # step and sample counters stop here (saturate)


def default_loss(kind: str) -> str:
    return kinds.get(kind).losses()[0]


def n_outputs(kind: str, classes: int | None) -> int:
    return kinds.get(kind).n_outputs(classes)


# --------------------------------------------------------------------------------------------------
# Model, targets, loss and metrics
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


def targets(y, loss: str, k: int) -> np.ndarray:
    """The one target rule: labels ``y`` (n,) in the layout ``loss`` takes for k outputs: int class
    indices (n,) for an index loss (cross-entropy), else floats (n, k)."""
    y = np.asarray(y)
    return nn.losses.targets(y, loss, y.shape[0] if y.ndim else 1, k)


def objective(out, t: np.ndarray, loss: str):
    """The mean ``loss`` of outputs ``out`` against targets ``t`` laid out by :func:`targets`."""
    return nn.loss_function(loss)(out, nn.loss_class(loss).target(t))


def data_loss(out, y: np.ndarray, loss: str):
    """The mean loss of model outputs ``out`` (n, k) against labels ``y`` (n,), as a 0-d Tensor."""
    return objective(out, targets(y, loss, out.shape[-1]), loss)


def within_limits(params) -> bool:
    """The weight half of the divergence rule: every value finite and within +-WEIGHT_LIMIT."""
    return all(np.all(np.abs(p.data) <= WEIGHT_LIMIT) for p in params)


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
# The step
# --------------------------------------------------------------------------------------------------

class Trainer:
    """Mini-batch training of ``model`` on featurized ``inputs`` and ``targets`` (see :func:`targets`):
    each epoch visits every point once, in a fresh order drawn from ``rng``.

    ``steps`` and ``samples`` count the optimizer steps and the samples they saw (saturating at
    MAX_COUNT); ``epochs`` counts finished passes. With ``keep_norms``, each step also appends the
    per-layer gradient norms (``gradflow.layer_norms``) to ``norms``.
    """

    def __init__(self, model, inputs, targets_, loss: str, optimizer: str, lr: float, rng,
                 keep_norms: bool = False):
        self.model, self.inputs, self.targets, self.loss = model, inputs, targets_, loss
        self.params = model.parameters()
        self.new_optimizer(optimizer, lr)
        self.rng = rng
        self.steps = self.samples = self.epochs = 0
        self.norms: list | None = [] if keep_norms else None
        self._new_order()

    def _new_order(self) -> None:
        perm = self.rng.permutation(len(self.inputs))
        self._X, self._T, self.pos = self.inputs[perm], self.targets[perm], 0

    def new_optimizer(self, name: str, lr: float) -> None:
        self.optimizer = optim.make(name, self.params, lr)
        # the step, recorded once per batch shape and replayed as flat numpy calls (same numbers)
        self._compiled = compile(self._step_body)

    def _step_body(self, x: Tensor, target, regularization, reg_rate):
        """Forward, objective (with penalty), and, when it is finite, backward and the update."""
        if self.norms is None:
            out = self.model(x)
        else:
            self._zas = self.model.forward_layers(x)  # model(x), keeping each layer's z for its δ
            for z, _ in self._zas:
                z.retain_grad()
            out = self._zas[-1][1]
        obj = nn.loss_function(self.loss)(out, target)
        if regularization not in (None, "none") and reg_rate > 0:
            obj = obj + reg_rate * nn.penalty(self.model, regularization)
        if np.isfinite(obj.data):
            self.optimizer.zero_grad()
            obj.backward()
            self.optimizer.step()
        return obj

    def step(self, batch_size: int, regularization: str | None = None, reg_rate: float = 0.0) -> float:
        """One optimizer step on the next batch; returns its objective (data loss plus ``reg_rate``
        times the L1/L2 penalty on the weights). A non-finite objective updates and counts nothing."""
        n = len(self.inputs)
        b = min(batch_size, n)
        xb, tb = self._X[self.pos:self.pos + b], self._T[self.pos:self.pos + b]
        self.pos += len(xb)
        if self.pos >= n:
            self.epochs += 1
            self._new_order()
        run = self._compiled if self.norms is None else self._step_body  # gradient norms: eager
        value = float(run(Tensor(xb), nn.loss_class(self.loss).target(tb), regularization, reg_rate).data)
        if not math.isfinite(value):
            return value
        if self.norms is not None:
            self.norms.append(gradflow.layer_norms([z.grad for z, _ in self._zas],
                                                   [lin.weight.grad for lin in self.model.linears]))
        self.steps = min(self.steps + 1, MAX_COUNT)
        self.samples = min(self.samples + len(xb), MAX_COUNT)
        return value

    def run(self, batch_size: int, regularization: str | None = None, reg_rate: float = 0.0, *,
            max_steps: int = 1, max_samples: int | None = None, deadline: float | None = None,
            to_epoch_end: bool = False) -> bool:
        """Steps until one bound is reached (``max_steps``; ``max_samples``; the ``time.perf_counter``
        ``deadline``; the end of the epoch) or training diverges; at least one step. Returns False on
        divergence (the one rule: a non-finite objective, or a weight past +-WEIGHT_LIMIT); the caller
        puts back what it kept."""
        steps, samples, epochs = self.steps, self.samples, self.epochs
        with np.errstate(all="ignore"):  # overflow is detected and reported, not printed
            while True:
                last = self.steps
                if not math.isfinite(self.step(batch_size, regularization, reg_rate)):
                    return False
                if (to_epoch_end and self.epochs != epochs) or self.steps - steps >= max_steps \
                        or (max_samples is not None and self.samples - samples >= max_samples) \
                        or (deadline is not None and time.perf_counter() >= deadline) \
                        or self.steps == last:  # saturated counters: stop rather than spin
                    break
            # the loss alone can miss it: tanh(inf) = 1, so an infinite weight may still give a finite loss
            return within_limits(self.params)


# --------------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------------

HISTORY_KEYS = ["epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy"]


@dataclass
class FitResult:
    """What :func:`fit` did. ``history`` holds one entry per finished epoch (epoch 0 = before
    training); accuracies are None for regression. ``diverged`` is True when training diverged (a
    non-finite loss, or a weight past +-WEIGHT_LIMIT): it stopped and the model was put back to the
    last good state."""

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
    gets each history entry as a dict. If training diverges (a non-finite loss, or a weight past
    +-WEIGHT_LIMIT), the model is put back to its state after the last good epoch and training stops
    (``diverged``). With
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
    trainer = Trainer(model, in_train, targets(ytr, loss, model.sizes[-1]), loss, optimizer, lr,
                      np.random.default_rng(seed), keep_norms=True)
    result = FitResult()
    result.history.update(delta_norm=[], grad_W_norm=[])  # per epoch, one value per layer: gradflow.py
    norms = trainer.norms  # this epoch's per-step gradflow.layer_norms

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

    if not record(0):
        result.diverged, result.diverged_epoch = True, 0
        return result
    good, good_epoch = model.state_dict(), 0  # the last state whose losses were all finite
    try:
        for epoch in range(1, epochs + 1):
            if not (trainer.run(batch_size, regularization, reg_rate, max_steps=MAX_COUNT, to_epoch_end=True)
                    and record(epoch)):
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
