"""Optimizers: SGD (with momentum), Adam, AdamW and RMSprop, following torch.optim's formulas exactly,
and two learning-rate schedulers, StepLR and CosineAnnealingLR.

Each `step()` updates every parameter's `.data` in place with plain numpy, from its `.grad`; no graph
nodes are built. Parameters whose `.grad` is None are skipped, as in PyTorch. `weight_decay` adds
wd * w to the gradient before anything else (classic L2 decay), except in AdamW, which decays the
weights directly (decoupled weight decay).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..engine import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "StepLR", "CosineAnnealingLR", "OPTIMIZERS",
           "Choice", "make"]


class Optimizer:
    """Base class: holds the parameter list, the mutable learning rate `lr` and per-parameter state."""

    hyper: tuple[str, ...] = ()  # names of the hyper-parameters besides lr, for state_dict()
    decoupled = False  # True: weight decay shrinks w directly (AdamW) instead of adding wd·w to g
    # Python-side bookkeeping of a step (counters, and the numbers made from them): backlit.compile
    # calls these again on every replay of a recorded step, and everything else is numpy on arrays.
    _host_calls: tuple[str, ...] = ("_tick",)

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} takes Tensors, got {type(p).__name__}")
        _check_nonneg("lr", lr)
        _check_nonneg("weight_decay", weight_decay)
        self.params = params
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.state: list[dict] = [{} for _ in params]
        self.steps = 0

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None (call before each backward)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self._tick()
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = np.asanyarray(p.grad, dtype=p.data.dtype)
            if self.weight_decay:
                if self.decoupled:
                    p.data *= 1 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p.data
            self._update(p.data, g, state)

    def _tick(self) -> None:
        self.steps += 1

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Hyper-parameters, step count and a copy of each parameter's buffers (by position)."""
        return {
            "type": type(self).__name__,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            **{k: getattr(self, k) for k in self.hyper},
            "steps": self.steps,
            "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in self.state],
        }

    def load_state_dict(self, d: dict) -> None:
        """Restore what `state_dict` returned (same optimizer type, same parameter list)."""
        if d.get("type") != type(self).__name__:
            raise ValueError(f"state is for {d.get('type')}, not {type(self).__name__}")
        if len(d["state"]) != len(self.params):
            raise ValueError(f"state has {len(d['state'])} parameters, optimizer has "
                             f"{len(self.params)}")
        for k in ("lr", "weight_decay", *self.hyper):
            setattr(self, k, d[k])
        self.steps = d["steps"]
        self.state = [{k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in d["state"]]

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("lr", *self.hyper, "weight_decay"))
        return f"{type(self).__name__}({hp})"


class SGD(Optimizer):
    """Stochastic gradient descent, with PyTorch's momentum formulation.

        b <- momentum * b + (1 - dampening) * g      (b = g on the first step)
        w <- w - lr * b                              (nesterov: w <- w - lr * (g + momentum * b))

    Note the learning rate multiplies the velocity, not the gradient inside it (unlike Sutskever's
    form); with a constant lr the two are the same.
    """

    hyper = ("momentum", "dampening", "nesterov")

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr, weight_decay)
        _check_nonneg("momentum", momentum)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)

    def _update(self, w, g, state):
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            g = g + self.momentum * buf if self.nesterov else buf
        w -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), in PyTorch's arrangement of the bias corrections.

        m <- b1 m + (1 - b1) g            v <- b2 v + (1 - b2) g^2         (t = step count)
        w <- w - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    With amsgrad, v in the denominator is the running maximum of v.
    """

    hyper = ("betas", "eps", "amsgrad")
    _host_calls = ("_tick", "_corrections")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, lr, weight_decay)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            b1 = b2 = math.nan
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam betas must be a pair of numbers in [0, 1), got {betas!r}")
        _check_nonneg("eps", eps)
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        self.amsgrad = bool(amsgrad)

    def _update(self, w, g, state):
        b1, b2 = self.betas
        if "step" not in state:
            state.update(step=0, exp_avg=np.zeros_like(w), exp_avg_sq=np.zeros_like(w))
            if self.amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(w)
        step_size, correction2 = self._corrections(state)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v) / correction2 + self.eps
        w -= step_size * (m / denom)

    def _corrections(self, state):
        """Count this parameter's step t; return lr / (1 - b1^t) and √(1 - b2^t)."""
        state["step"] += 1
        t = state["step"]
        b1, b2 = self.betas
        return self.lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW.

        w <- w - lr * wd * w          then the Adam update with the plain gradient g
    Unlike Adam's weight_decay, the decay is not divided by Adam's running scale, so every weight
    shrinks at the same rate. The default weight_decay is 0.01, as in PyTorch.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton), as torch.optim.RMSprop.

        s <- alpha s + (1 - alpha) g^2          avg = sqrt(s) + eps
        (centered: a <- alpha a + (1 - alpha) g,  avg = sqrt(s - a^2) + eps)
        w <- w - lr * g / avg                   (momentum: b <- momentum b + g / avg; w <- w - lr b)
    """

    hyper = ("alpha", "eps", "momentum", "centered")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0, centered: bool = False):
        super().__init__(params, lr, weight_decay)
        if not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop alpha must be in [0, 1], got {alpha}")
        _check_nonneg("eps", eps)
        _check_nonneg("momentum", momentum)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.centered = bool(centered)

    def _update(self, w, g, state):
        a = self.alpha
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(w)
            if self.centered:
                state["grad_avg"] = np.zeros_like(w)
            if self.momentum:
                state["momentum_buffer"] = np.zeros_like(w)
        s = state["square_avg"]
        s *= a
        s += (1 - a) * g * g
        if self.centered:
            ga = state["grad_avg"]
            ga *= a
            ga += (1 - a) * g
            avg = np.sqrt(s - ga * ga) + self.eps
        else:
            avg = np.sqrt(s) + self.eps
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / avg
            w -= self.lr * buf
        else:
            w -= self.lr * (g / avg)


@dataclass(frozen=True)
class Choice:
    """One row of :data:`OPTIMIZERS`, an optimizer by short name as the playground and the CLI offer it.

    ``build(params, lr, weight_decay)`` makes it; ``label`` is the menu's word and ``doc`` says what it
    is; ``torch`` is the same optimizer in PyTorch, with ``{lr}`` where the learning rate goes.
    """

    name: str
    label: str
    build: Callable = field(repr=False)
    torch: str
    doc: str = ""

    def torch_code(self, lr: float) -> str:
        return self.torch.format(lr=repr(float(lr)))

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "doc": self.doc}


OPTIMIZERS: dict[str, Choice] = {}


def register(choice: Choice) -> Choice:
    """Add (or replace) an optimizer choice; every menu and check sees it from then on."""
    OPTIMIZERS[choice.name] = choice
    return choice


for _c in (
    Choice("sgd", "SGD", lambda ps, lr, wd: SGD(ps, lr, weight_decay=wd),
           "torch.optim.SGD(model.parameters(), lr={lr})", "plain SGD"),
    Choice("momentum", "Momentum", lambda ps, lr, wd: SGD(ps, lr, momentum=0.9, weight_decay=wd),
           "torch.optim.SGD(model.parameters(), lr={lr}, momentum=0.9)", "SGD with momentum 0.9"),
    Choice("adam", "Adam", lambda ps, lr, wd: Adam(ps, lr, weight_decay=wd),
           "torch.optim.Adam(model.parameters(), lr={lr})", "Adam with the default betas"),
    Choice("rmsprop", "RMSprop", lambda ps, lr, wd: RMSprop(ps, lr, weight_decay=wd),
           "torch.optim.RMSprop(model.parameters(), lr={lr})", "RMSprop with the default alpha"),
):
    register(_c)


def get(name: str) -> Choice:
    try:
        return OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None


def make(name: str, params, lr: float, weight_decay: float = 0.0) -> Optimizer:
    """An optimizer by short name (a row of :data:`OPTIMIZERS`): "sgd" plain SGD, "momentum" SGD with
    momentum 0.9, "adam" Adam with default betas, "rmsprop" RMSprop with default alpha."""
    return get(name).build(params, lr, weight_decay)


# ---- learning-rate schedulers ---------------------------------------------------------------------


class LRScheduler:
    """Base class: call ``step()`` once per epoch, after ``optimizer.step()``, as in PyTorch.

    It sets ``optimizer.lr`` to ``lr_at(epoch)``, a function of the epoch count and the learning rate
    the optimizer had when the scheduler was made (``base_lr``).
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} takes an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """The learning rate now in use, in a list (one per parameter group in PyTorch; backlit has one)."""
        return [self.optimizer.lr]


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs:

        lr = base_lr · gamma^⌊epoch / step_size⌋
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR step_size must be a positive integer, got {step_size!r}")
        _check_nonneg("gamma", gamma)
        self.step_size, self.gamma = int(step_size), float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to ``eta_min`` over ``T_max`` epochs (then back up, periodically):

        lr = eta_min + (base_lr - eta_min) · (1 + cos(π · epoch / T_max)) / 2
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803 (torch's name)
        super().__init__(optimizer)
        if int(T_max) != T_max or T_max < 1:
            raise ValueError(f"CosineAnnealingLR T_max must be a positive integer, got {T_max!r}")
        _check_nonneg("eta_min", eta_min)
        self.T_max, self.eta_min = int(T_max), float(eta_min)

    def lr_at(self, epoch):
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


def _check_nonneg(name: str, value) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
