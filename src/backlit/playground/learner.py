"""What training changes: the network, its optimizer, the batch order, the counters, and a version.

A :class:`Learner` trains on one :class:`~backlit.playground.problem.Problem` with the one training
step of :class:`backlit.lab.fit.Trainer`. Every change of a weight gives a new ``version`` (unique
across learners, so it can key a cache outside the session too); :meth:`memo`
keeps one value per name for the current version, so whatever is computed from the weights (the
metrics, the pass over the training set, the loss-curve point) is computed once per version.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from .. import nn
from ..engine import Tensor, compile, no_grad  # noqa: A004 (backlit.compile)
from ..lab import fit, gradflow, kinds, trace as explain
from . import settings


_VERSIONS = itertools.count(1)  # one sequence for every learner: a version names one state of one learner


def _float(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


class Learner:
    def __init__(self, problem, config: dict):
        self.problem = problem
        model = nn.MLP(list(problem.sizes), activation=config["activation"], seed=config["seed"],
                                init=config["init"])
        self.trainer = fit.Trainer(model, problem.Xf_train, problem.T_train, problem.loss, config["optimizer"],
                                   config["lr"], np.random.default_rng((config["seed"], 1)))
        self.version = next(_VERSIONS)
        self._memo: dict = {}
        self._pass = compile(explain.training_pass)  # recorded once, then replayed as flat numpy calls

    # ---- state ------------------------------------------------------------------------------------
    @property
    def model(self):
        return self.trainer.model

    @property
    def optimizer(self):
        return self.trainer.optimizer

    @property
    def steps(self) -> int:
        return self.trainer.steps

    @property
    def samples(self) -> int:
        return self.trainer.samples

    def set_counters(self, steps: int | None = None, samples: int | None = None) -> None:
        if steps is not None:
            self.trainer.steps = min(int(steps), fit.MAX_COUNT)
        if samples is not None:
            self.trainer.samples = min(int(samples), fit.MAX_COUNT)

    def changed(self) -> None:
        """The weights changed (however): a new version, so every memo refreshes."""
        self.version = next(_VERSIONS)

    def memo(self, name: str, compute):
        """``compute()`` once per weight version."""
        hit = self._memo.get(name)
        if hit is None or hit[0] != self.version:
            hit = self._memo[name] = (self.version, compute())
        return hit[1]

    def new_optimizer(self, config: dict) -> None:
        self.trainer.new_optimizer(config["optimizer"], config["lr"])

    def snapshot(self) -> tuple:
        return [p.data.copy() for p in self.trainer.params], self.trainer.steps, self.trainer.samples

    def restore(self, snap: tuple) -> None:
        weights, self.trainer.steps, self.trainer.samples = snap
        for p, v in zip(self.trainer.params, weights):
            np.copyto(p.data, v)
            p.grad = None
        self.changed()

    def set_weights(self, Ws, bs, config: dict) -> None:
        for lin, W, b in zip(self.model.linears, Ws, bs):
            np.copyto(lin.weight.data, W)
            np.copyto(lin.bias.data, b)
        self.new_optimizer(config)
        self.changed()

    def use_model(self, model, config: dict) -> None:
        """Train ``model`` (of the same sizes) from now on, with a fresh optimizer; order and counters stay."""
        self.trainer.model, self.trainer.params = model, model.parameters()
        self.new_optimizer(config)
        self.changed()

    def within_limits(self) -> bool:
        return fit.within_limits(self.trainer.params)

    # ---- training -----------------------------------------------------------------------------------
    def train(self, config: dict, max_seconds: float, max_samples: int, max_steps: int) -> bool:
        """At least one step, within the bounds. On divergence the weights and counters go back to
        where they were, with a fresh optimizer, and it returns False."""
        snap = self.snapshot()
        ok = self.trainer.run(config["batch_size"], config["regularization"], config["reg_rate"],
                              max_steps=max_steps, max_samples=max_samples,
                              deadline=time.perf_counter() + max_seconds)
        self.changed()
        if not ok:
            self.restore(snap)
            self.new_optimizer(config)
        return ok

    # ---- reading the weights --------------------------------------------------------------------------
    def predict_class(self, out: np.ndarray) -> np.ndarray:
        return kinds.get(self.problem.kind).predict(out, self.problem.loss)

    def forward(self, Xf: np.ndarray) -> Tensor:
        return Tensor(explain.forward_chunked(self.model, Xf))

    def _evaluate(self, Xf: np.ndarray, T: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
        if len(Xf) == 0:
            return None, None
        with no_grad(), np.errstate(all="ignore"):
            out = self.forward(Xf)
            loss = _float(fit.objective(out, T, self.problem.loss).data)
            acc = None
            if self.problem.kind != "regression":
                acc = float(np.mean(self.predict_class(out.data) == y))
        return loss, acc

    def train_pass(self) -> dict:
        """One forward + backward over the whole training set, once per weight version.

        It gives the training loss and accuracy, and the gradient the links and halos show while
        training: the training set's mean ∂L/∂w (data loss), which changes smoothly from step to step,
        where one batch's gradient would flicker. ``scale`` is the largest |∂L/∂w| (and |δ|) any single
        training sample has right now: the page's one width scale for every view, so that two samples'
        blame, and the training view, can be compared by eye.
        """
        return self.memo("train_pass", self._train_pass)

    def _train_pass(self) -> dict:
        p = self.problem
        if p.n_train == 0:
            L = len(self.model.linears)
            return {"train_loss": None, "train_acc": None, "train_grad": None, "badges": None,
                    "gradflow": {"delta": [None] * L, "grad_W": [None] * L}}
        with np.errstate(all="ignore"):
            # explain.trace's numbers, less of them, from a recorded pass
            loss, output, *rest = self._pass(self.model, Tensor(p.Xf_train), p.T_train, p.loss)
            L = len(self.model.linears)
            zs, acts, deltas, grads_W, grads_b = (rest[i * L:(i + 1) * L] for i in range(5))
            # the recorded δ are of the mean loss: one sample's own δ is n times larger
            n = p.n_train
            a_in = [p.Xf_train, *acts[:-1]]
            per_w = n * max(float((np.abs(d).max(axis=1) * np.abs(a).max(axis=1)).max()) for d, a in zip(deltas, a_in))
            per_delta = n * max(float(np.abs(d).max()) for d in deltas)
        acc = None if p.kind == "regression" else float(np.mean(self.predict_class(output) == p.y_train))
        with np.errstate(all="ignore"):
            flow = gradflow.layer_norms(deltas, grads_W)
            badges = gradflow.badges(zs[:-1], self.model.activations[:-1])
        # badges: None when no neuron has one (the usual case: nothing to send)
        return {"train_loss": _float(loss), "train_acc": acc, "gradflow": settings.json_safe(flow),
                "badges": badges if any(map(any, badges)) else None,
                "train_grad": {"grad_W": grads_W, "grad_b": grads_b,
                               "scale": {"grad_W": _float(per_w), "delta": _float(per_delta)}}}

    def metrics(self) -> dict:
        """Train/test loss (data loss only, no penalty) and accuracy (None for regression)."""
        def compute():
            train = self.train_pass()
            sl, sa = self._evaluate(self.problem.Xf_test, self.problem.T_test, self.problem.y_test)
            return {"train_loss": train["train_loss"], "test_loss": sl, "train_acc": train["train_acc"],
                    "test_acc": sa}

        return dict(self.memo("metrics", compute))
