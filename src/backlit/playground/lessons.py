"""The course: lessons as data, and the learner's progress through them.

A :class:`Lesson` is a name (its link key), a title, a one-line goal and its steps. A :class:`Step`
holds its words, a :class:`Setup` (the configuration, seed, weights, selected sample and open panels it
starts from, and which regions of the page it shows), the action the learner must take, and a check
that the *server* evaluates on the session:

- :class:`Do`: an action was taken (a protocol message the session ran, or Forward/Backward on the
  page), optionally on a condition of the session ("pressed Backward on sample 17");
- :class:`Number`: a number typed by hand, graded against the step recorder's own value, with
  feedback that names the likely mistake, then a hint, then the worked line with the real numbers;
- :class:`Links`: predict which links turn orange, graded against the sign of the recorded ∂L/∂w;
- :class:`Choice`: a question with choices, each with the reason it is right or wrong;
- :class:`Goal`: a task with a measurable goal (a loss, an accuracy, a neuron budget), checked live.

The page gets :func:`schema` (words, regions, prompts and choices: never an answer) and, per step,
the givens the step computes from the session. Answers stay here until the learner has answered.

:class:`Course` is one learner's place in the course: the open lesson and step, the steps done, and
the attempts at the open exercise. The session holds one and passes it the messages it runs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..engine import Tensor
from ..lab import expr as expr_lab
from .settings import ProtocolError, check_choice, check_int

REL_TOL = 0.01  # a typed number is right within 1% of the engine's value (see Number.scale)
PROGRESS_FORMAT = 1

# ---- the page's regions: what a step can show ------------------------------------------------------
# name -> (label, id of the button that opens it when it is a panel, or None). The page marks each
# region with data-region="name"; in a lesson it hides every region the step does not list.
REGIONS: dict[str, tuple[str, str | None]] = {
    "transport": ("Reset, Train and Step", None),
    "counter": ("Epoch counter", None),
    "speed": ("Training speed", None),
    "lr": ("Learning rate", None),
    "activation": ("Activation", None),
    "more-settings": ("Regularization, problem, loss and optimizer", None),
    "data": ("Data and features", None),
    "layers": ("Add or remove layers", None),
    "legend": ("Colour legend", None),
    "presets": ("Presets, initialisation and the graph", None),
    "network": ("The network", None),
    "forward": ("Forward", None),
    "backward": ("Backward", None),
    "next-sample": ("Next sample", None),
    "apply-update": ("Apply this update", None),
    "nudge": ("Adversarial nudge", None),
    "step-opts": ("Animation options", None),
    "inspector": ("Inspector", None),
    "metrics": ("Loss and accuracy", None),
    "loss-chart": ("Loss curve", None),
    "gradflow": ("Gradient flow", None),
    "plane": ("The plane", None),
    "out-opts": ("Plane options", None),
    "learn": ("Learn panel", "learn-toggle"),
}

# Events a Do check can wait for: the session's own messages, plus two the page reports itself
# (Forward and Backward animate the trace the page already has; they send nothing else).
PAGE_EVENTS = ("forward", "backward")
COURSE_EVENTS = ("lesson_expr",)  # an expression drawn in the expression lab
SESSION_EVENTS = ("play", "pause", "step", "reset", "next_sample", "select", "select_point", "apply_update",
                  "nudge", "saliency", "graph", "code", "check", "set", "blame")
# While an exercise is open: replies that would show its answer are withheld, and messages that only
# exist to show one are refused.
WITHHELD = ("trace", "blame", "neuron", "check", "graph", "graph_zoom", "saliency", "nudge")
CHANGES_GIVENS = ("select", "select_point", "next_sample", "set", "set_weight", "reset", "regenerate", "step",
                  "apply_update", "play", "hello", "load", "add_point", "remove_point", "clear_points", "load_csv")
REFUSED = ("blame", "neuron", "check", "graph", "graph_zoom", "export", "saliency", "nudge")


def _g(v: float) -> float:
    """A given as the page shows it: 6 significant digits (the learner computes with these)."""
    return float(f"{float(v):.6g}")


def _fmt(v: float) -> str:
    return f"{float(v):.6g}"


# ---- setups ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """Where a step starts: the session rebuilt from ``config`` (over the defaults: the seed is a
    config key), then ``weights`` (optional, [W per layer], [b per layer]) and the ``select``-ed sample.
    ``panels`` are regions to open. ``expression`` (text, {name: value}, the input of forward mode) puts
    the expression lab beside the lesson: the graph of the expression with values, tangents and
    adjoints from the engine (backlit.lab.expr)."""

    config: dict = field(default_factory=dict)
    weights: tuple | None = None
    select: int | None = None
    panels: tuple = ()
    expression: tuple | None = None


# ---- checks ---------------------------------------------------------------------------------------
@dataclass
class Verdict:
    """The grade of one answer: ``correct``, the named ``mistake`` (or None), ``message``, ``hint``
    (from the second wrong answer) and ``worked`` (the worked line, from the third, and when right)."""

    correct: bool
    message: str
    mistake: str | None = None
    hint: str | None = None
    worked: str | None = None

    def to_dict(self) -> dict:
        return {"correct": self.correct, "message": self.message, "mistake": self.mistake, "hint": self.hint,
                "worked": self.worked}


class Check:
    kind = "read"
    answered = False  # True: the learner types or picks an answer (lesson_answer)

    def public(self) -> dict:
        return {"kind": self.kind}

    def givens(self, s) -> list:
        return []

    def observe(self, s, event: str, replies: list) -> bool:
        return False


@dataclass
class Do(Check):
    """Done when the session runs ``event`` (and ``where(session, replies)`` holds)."""

    event: str
    where: Callable | None = None
    kind = "do"

    def __post_init__(self):
        assert self.event in PAGE_EVENTS + SESSION_EVENTS + COURSE_EVENTS, self.event

    def public(self) -> dict:
        return {"kind": self.kind, "event": self.event}

    def observe(self, s, event, replies) -> bool:
        return event == self.event and (self.where is None or bool(self.where(s, replies)))


@dataclass
class Goal(Check):
    """A task: done when ``test(session)`` holds, checked after every message and every frame while
    training. ``progress(session)`` says how close the learner is, in words."""

    test: Callable
    progress: Callable
    kind = "goal"

    def observe(self, s, event, replies) -> bool:
        return bool(self.test(s))


@dataclass
class Number(Check):
    """A number typed by hand. ``key(s)`` is the engine's value; ``givens(s)`` the numbers on screen;
    ``mistakes(s)`` (name, message, value) of the likely wrong answers; ``worked(s)`` the worked line;
    ``scale(s)`` the size the 1% tolerance is taken of (default |key|)."""

    prompt: str
    symbol: str
    key: Callable
    given: Callable
    mistakes: Callable
    hint: str
    worked: Callable
    scale: Callable | None = None
    kind = "number"
    answered = True

    def public(self) -> dict:
        return {"kind": self.kind, "prompt": self.prompt, "symbol": self.symbol}

    def givens(self, s) -> list:
        return [[label, _g(v)] for label, v in self.given(s)]

    def tolerance(self, s) -> float:
        size = abs(self.scale(s)) if self.scale else abs(self.key(s))
        return max(REL_TOL * size, 1e-9)

    def grade(self, s, answer, attempts: int) -> Verdict:
        key, tol = float(self.key(s)), self.tolerance(s)
        if not isinstance(answer, (int, float)) or isinstance(answer, bool):
            raise ProtocolError("answer", f"{self.symbol}: type a number")
        worked = self.worked(s)
        if abs(answer - key) <= tol:
            return Verdict(True, f"Right: {self.symbol} = {_fmt(key)}.", worked=worked)
        mistake = next(((name, msg) for name, msg, v in self.mistakes(s) if abs(answer - v) <= tol
                        and abs(v - key) > tol), None)
        message = f"Not yet: {mistake[1]}" if mistake else "Not yet: that is not what the engine computed."
        return Verdict(False, message, mistake and mistake[0], self.hint if attempts >= 2 else None,
                       worked if attempts >= 3 else None)


@dataclass
class Links(Check):
    """Predict, then reveal: which links of layer ``layer`` turn orange (the loss wants the weight to
    increase: ∂L/∂w < 0) for the selected sample. Graded against the recorded ∂L/∂W."""

    layer: int
    prompt: str
    kind = "links"
    answered = True

    def public(self) -> dict:
        return {"kind": self.kind, "prompt": self.prompt}

    def options(self, s) -> list:
        names = _neuron_names(s)
        W = s.model.linears[self.layer].weight.data
        return [[f"{i},{j}", f"{names[self.layer][j]} → {names[self.layer + 1][i]}"]
                for i in range(W.shape[0]) for j in range(W.shape[1])]

    def givens(self, s) -> list:
        return []

    def key(self, s) -> list[str]:
        g = _trace(s).layers[self.layer].grad_W
        return [f"{i},{j}" for i in range(g.shape[0]) for j in range(g.shape[1]) if g[i, j] < 0]

    def grade(self, s, answer, attempts: int) -> Verdict:
        ids = {o[0] for o in self.options(s)}
        if not isinstance(answer, list) or not all(isinstance(a, str) and a in ids for a in answer):
            raise ProtocolError("answer", f"answer must be a list of links, each one of {sorted(ids)}")
        key, picked = set(self.key(s)), set(answer)
        labels = dict(self.options(s))
        worked = "Orange (∂L/∂w < 0): " + (", ".join(labels[k] for k in sorted(key)) or "none") + "."
        if picked == key:
            return Verdict(True, "Right: " + worked, worked=worked)
        missed, extra = len(key - picked), len(picked - key)
        mistake = "wrong sign" if picked == ids - key and key else None
        message = ("Not yet: you picked exactly the green ones. Orange means ∂L/∂w < 0: the loss falls "
                   "when the weight grows." if mistake else
                   f"Not yet: {missed} orange link(s) missed and {extra} picked that turn green.")
        return Verdict(False, message, mistake, "A link is orange when δ of the neuron it feeds and the "
                       "activation it reads have opposite signs (∂L/∂w = δ·a < 0)." if attempts >= 2 else None,
                       worked if attempts >= 3 else None)


@dataclass
class Choice(Check):
    """A question with choices: (text, why) each; ``correct`` is the index of the right one."""

    prompt: str
    options: list
    correct: int
    kind = "choice"
    answered = True

    def public(self) -> dict:
        return {"kind": self.kind, "prompt": self.prompt, "options": [text for text, _ in self.options]}

    def grade(self, s, answer, attempts: int) -> Verdict:
        n = len(self.options)
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < n:
            raise ProtocolError("answer", f"answer must be the index of a choice, 0..{n - 1}")
        why = self.options[answer][1]
        if answer == self.correct:
            return Verdict(True, f"Right: {why}", worked=why)
        return Verdict(False, f"Not this one: {why}", None,
                       None, self.options[self.correct][1] if attempts >= 3 else None)


# ---- the numbers of a step, from the step recorder -----------------------------------------------
def _trace(s):
    """The selected sample's forward + backward pass, as the session records it."""
    return s._trace()


def _neuron_names(s) -> list[list[str]]:
    """Column by column, the page's names: the features, h1.1 ..., then "output"."""
    from ..lab import data

    cols = [[data.FEATURES[f].label for f in s.config["features"]]]
    for c, n in enumerate(s.sizes[1:-1], start=1):
        cols.append([f"h{c}.{i + 1}" for i in range(n)])
    cols.append(["output"] if s.sizes[-1] == 1 else [f"out {i}" for i in range(s.sizes[-1])])
    return cols


def _tr(s, attr, layer, *idx):
    return float(np.asarray(getattr(_trace(s).layers[layer], attr))[idx])


def _x(s, j):
    return float(_trace(s).inputs[j])


def _y(s):
    return float(_trace(s).target[0])


def _lr(s):
    return float(s.config["lr"])


def _w(s, layer, i, j):
    return float(s.model.linears[layer].weight.data[i, j])


def _b(s, layer, i):
    return float(s.model.linears[layer].bias.data[i])


def _fp(s, layer, i):
    return float(_trace(s).f_prime(layer)[0, i])


def _p(s):
    return float(_trace(s).prediction[0])


def z_hidden(i: int) -> Number:
    """z of hidden neuron i of a 2-input network: w₁X₁ + w₂X₂ + b."""
    name = f"h1.{i + 1}"
    return Number(
        f"Type z of {name}: its weighted sum of the inputs plus its bias.", f"z({name})",
        key=lambda s: _tr(s, "z", 0, i),
        given=lambda s: [(_neuron_names(s)[0][0], _x(s, 0)), (_neuron_names(s)[0][1], _x(s, 1)),
                         (f"w({_neuron_names(s)[0][0]} → {name})", _w(s, 0, i, 0)),
                         (f"w({_neuron_names(s)[0][1]} → {name})", _w(s, 0, i, 1)), (f"b({name})", _b(s, 0, i))],
        mistakes=lambda s: [
            ("forgot the bias", "that is the weighted sum without the bias b.",
             _w(s, 0, i, 0) * _x(s, 0) + _w(s, 0, i, 1) * _x(s, 1)),
            ("summed instead of multiplied", "you added each weight to its input; multiply them instead.",
             _w(s, 0, i, 0) + _x(s, 0) + _w(s, 0, i, 1) + _x(s, 1) + _b(s, 0, i)),
            ("applied f", "that is a = tanh(z), one step too far: z is before the activation.",
             math.tanh(_tr(s, "z", 0, i)))],
        hint="z = w₁·X₁ + w₂·X₂ + b: multiply each input by the weight of its link, add them, add the bias.",
        worked=lambda s: (f"z = {_fmt(_w(s, 0, i, 0))}·{_fmt(_x(s, 0))} + {_fmt(_w(s, 0, i, 1))}·{_fmt(_x(s, 1))}"
                          f" + {_fmt(_b(s, 0, i))} = {_fmt(_tr(s, 'z', 0, i))}"))


def a_hidden(i: int) -> Number:
    name = f"h1.{i + 1}"
    return Number(
        f"Type a of {name}: its activation, tanh(z).", f"a({name})",
        key=lambda s: _tr(s, "a", 0, i),
        given=lambda s: [(f"z({name})", _tr(s, "z", 0, i))],
        mistakes=lambda s: [("forgot f", "that is z itself: the neuron passes z through tanh.", _tr(s, "z", 0, i)),
                            ("used the sigmoid", "that is σ(z); this network's hidden activation is tanh.",
                             1 / (1 + math.exp(-_tr(s, "z", 0, i))))],
        hint="tanh(z) = (e^z − e^−z) / (e^z + e^−z); a calculator's tanh key gives it.",
        worked=lambda s: f"a = tanh({_fmt(_tr(s, 'z', 0, i))}) = {_fmt(_tr(s, 'a', 0, i))}")


def p_output() -> Number:
    return Number(
        "Type the network's prediction p = σ(z) of the output: the probability of class 1.", "p",
        key=_p,
        given=lambda s: [("z(output)", _tr(s, "z", 1, 0))],
        mistakes=lambda s: [("forgot f", "that is z itself: p = σ(z) squashes it into 0..1.", _tr(s, "z", 1, 0)),
                            ("used tanh", "that is tanh(z); the output of a binary classifier is σ(z).",
                             math.tanh(_tr(s, "z", 1, 0)))],
        hint="σ(z) = 1 / (1 + e^−z).",
        worked=lambda s: f"p = σ({_fmt(_tr(s, 'z', 1, 0))}) = 1 / (1 + e^{_fmt(-_tr(s, 'z', 1, 0))}) = {_fmt(_p(s))}")


def loss_value() -> Number:
    def L(s):
        return float(_trace(s).loss)
    return Number(
        "Type the loss L = −[y·log p + (1 − y)·log(1 − p)] of this sample (natural log).", "L",
        key=L,
        given=lambda s: [("p", _p(s)), ("y", _y(s))],
        mistakes=lambda s: [("wrong sign", "a loss is never negative: keep the minus in front.", -L(s)),
                            ("used the other class", "that is the loss of the other label: use log p when y = 1 "
                             "and log(1 − p) when y = 0.", -math.log(_p(s)) if _y(s) == 0 else -math.log(1 - _p(s)))],
        hint="Only one of the two terms is non-zero: for y = 1, L = −log p; for y = 0, L = −log(1 − p).",
        worked=lambda s: f"L = −log({_fmt(_p(s) if _y(s) == 1 else 1 - _p(s))}) = {_fmt(L(s))}")


def delta_output() -> Number:
    def key(s):
        return _tr(s, "delta", 1, 0)
    return Number(
        "Type δ of the output: ∂L/∂z, how the loss changes as the output's z grows.", "δ(output)",
        key=key,
        given=lambda s: [("p", _p(s)), ("y", _y(s))],
        mistakes=lambda s: [("wrong sign", "that is y − p; δ = p − y (the loss grows as p moves away from y).", -key(s)),
                            ("multiplied by f′(z)", "for σ with cross-entropy the f′(z) = p(1 − p) cancels: δ = p − y.",
                             key(s) * _p(s) * (1 - _p(s)))],
        hint="With a sigmoid output and the cross-entropy loss, ∂L/∂z simplifies to p − y.",
        worked=lambda s: f"δ = p − y = {_fmt(_p(s))} − {_fmt(_y(s))} = {_fmt(key(s))}")


def delta_hidden(i: int) -> Number:
    name = f"h1.{i + 1}"

    def key(s):
        return _tr(s, "delta", 0, i)

    def back(s):
        return _w(s, 1, 0, i) * _tr(s, "delta", 1, 0)
    return Number(
        f"Type δ of {name}: the output's δ sent back through the link, times f′(z) of {name}.", f"δ({name})",
        key=key,
        given=lambda s: [("δ(output)", _tr(s, "delta", 1, 0)), (f"w({name} → output)", _w(s, 1, 0, i)),
                         (f"a({name})", _tr(s, "a", 0, i))],
        mistakes=lambda s: [("forgot f′(z)", "that is w·δ, which is ∂L/∂a; multiply by f′(z) = 1 − a² for tanh.",
                             back(s)),
                            ("wrong sign", "the sign is flipped: δ = f′(z)·w·δ(output), no minus.", -key(s)),
                            ("used a for f′(z)", "f′(z) of tanh is 1 − a², not a.", _tr(s, "a", 0, i) * back(s)),
                            ("summed instead of multiplied", "the chain rule multiplies the factors; you added them.",
                             (1 - _tr(s, "a", 0, i) ** 2) + _w(s, 1, 0, i) + _tr(s, "delta", 1, 0))],
        hint="δ(h) = f′(z_h) · w(h → output) · δ(output), and for tanh f′(z) = 1 − a².",
        worked=lambda s: (f"δ = (1 − {_fmt(_tr(s, 'a', 0, i))}²) · {_fmt(_w(s, 1, 0, i))} · "
                          f"{_fmt(_tr(s, 'delta', 1, 0))} = {_fmt(key(s))}"))


def grad_w(layer: int, i: int, j: int) -> Number:
    """∂L/∂W_layer[i, j] = δ_i · a_j of a 2-2-1 network."""
    def names(s):
        n = _neuron_names(s)
        return n[layer][j], n[layer + 1][i]

    def a_in(s, k):
        return _x(s, k) if layer == 0 else _tr(s, "a", layer - 1, k)

    def key(s):
        return float(_trace(s).layers[layer].grad_W[i, j])

    def delta(s):
        return _tr(s, "delta", layer, i)

    def act(s, k):  # an input's value is its own name; a neuron's is its a
        name = _neuron_names(s)[layer][k]
        return name if layer == 0 else f"a({name})"
    other = 1 - j
    return Number(
        "Type ∂L/∂w of the link: δ of the neuron it feeds times the activation it reads.", "∂L/∂w",
        key=key,
        given=lambda s: [(f"δ({names(s)[1]})", delta(s)), (act(s, j), a_in(s, j)), (act(s, other), a_in(s, other))],
        mistakes=lambda s: [("wrong neuron's a", "that uses the activation of the other neuron; use the one the "
                             "link starts at.", delta(s) * a_in(s, other)),
                            ("wrong sign", "the sign is flipped: ∂L/∂w = δ·a, no minus.", -key(s)),
                            ("summed instead of multiplied", "∂L/∂w is δ times a, not δ plus a.", delta(s) + a_in(s, j))],
        hint="∂L/∂w = ∂L/∂z · ∂z/∂w, and ∂z/∂w is the activation a the link carries.",
        worked=lambda s: f"∂L/∂w = δ · a = {_fmt(delta(s))} · {_fmt(a_in(s, j))} = {_fmt(key(s))}")


def w_after(layer: int, i: int, j: int) -> Number:
    def g(s):
        return float(_trace(s).layers[layer].grad_W[i, j])

    def key(s):
        return _w(s, layer, i, j) - _lr(s) * g(s)
    return Number(
        "Type the weight after one SGD step on this sample: w − η·∂L/∂w.", "w′",
        key=key,
        given=lambda s: [("w", _w(s, layer, i, j)), ("∂L/∂w", g(s)), ("learning rate η", _lr(s))],
        mistakes=lambda s: [("forgot the learning rate", "that steps by the whole gradient; multiply it by η first.",
                             _w(s, layer, i, j) - g(s)),
                            ("wrong sign", "that steps uphill: gradient descent subtracts η·∂L/∂w.",
                             _w(s, layer, i, j) + _lr(s) * g(s)),
                            ("gave the step only", "that is the change η·∂L/∂w; the new weight is w minus it.",
                             _lr(s) * g(s))],
        hint="Gradient descent moves against the gradient: w′ = w − η · ∂L/∂w.",
        worked=lambda s: f"w′ = {_fmt(_w(s, layer, i, j))} − {_fmt(_lr(s))} · {_fmt(g(s))} = {_fmt(key(s))}",
        scale=lambda s: _lr(s) * g(s))


# ---- lesson-specific programs, run through the engine ----------------------------------------------
CHAIN = {"a": 2.0, "b": 1.0}  # Olah's example: e = (a + b)(b + 1)
CHAIN_LAB = ("e = (a + b)*(b + 1)", CHAIN, "b")


def chain_grads(a: float = CHAIN["a"], b: float = CHAIN["b"]) -> dict:
    """e = (a + b)(b + 1) and its reverse-mode derivatives, from one engine backward pass."""
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    c, d = ta + tb, tb + 1.0
    e = c * d
    e.backward()
    return {"c": float(c.data), "d": float(d.data), "e": float(e.data),
            "de_da": float(ta.grad), "de_db": float(tb.grad)}


THROW = {"v": 12.0, "theta": 0.6, "g": 9.81, "dt": 0.01, "steps": 100}


def throw(v: float = THROW["v"], theta: float = THROW["theta"]) -> dict:
    """A ball thrown at speed v and angle θ, simulated step by step (Euler, dt) for ``steps`` steps;
    the height it reaches, and ∂height/∂v and ∂height/∂θ from ONE engine backward pass through the
    whole loop."""
    tv, tt = Tensor(v, requires_grad=True), Tensor(theta, requires_grad=True)
    y, vy = Tensor(0.0), tv * tt.sin()
    for _ in range(THROW["steps"]):
        y = y + vy * THROW["dt"]
        vy = vy - THROW["g"] * THROW["dt"]
    y.backward()
    return {"y": float(y.data), "dy_dv": float(tv.grad), "dy_dtheta": float(tt.grad),
            "T": THROW["steps"] * THROW["dt"]}


SYMMETRY_SEED = 1


@functools.lru_cache(maxsize=1)
def symmetry_net() -> dict:
    """The 1986 paper's symmetry problem: 6 binary inputs, 2 hidden sigmoid units, 1 output that is on
    when the pattern is a mirror image of itself. Trained here with the engine (all 64 patterns)."""
    from .. import nn
    from ..nn import optim

    X = np.array([[(k >> (5 - b)) & 1 for b in range(6)] for k in range(64)], dtype=np.float64)
    y = np.array([float(np.array_equal(r, r[::-1])) for r in X])
    model = nn.MLP([6, 2, 1], activation="sigmoid", seed=SYMMETRY_SEED, init="xavier")
    opt = optim.make("momentum", model.parameters(), 0.5)  # gradient descent with momentum 0.9, as in the paper
    loss_fn = nn.loss_function("bce")
    for _ in range(2000):
        loss = loss_fn(model(Tensor(X)), Tensor(y[:, None]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with np.errstate(all="ignore"):
        from ..engine import no_grad
        with no_grad():
            p = 1 / (1 + np.exp(-model(Tensor(X)).data[:, 0]))
    return {"W": model.linears[0].weight.data.copy(), "b": model.linears[0].bias.data.copy(),
            "accuracy": float(np.mean((p > 0.5) == (y > 0.5))), "X": X, "y": y}


SYMMETRIC_PATTERN = (1, 0, 1, 1, 0, 1)


def symmetry_sum(unit: int = 0) -> float:
    net = symmetry_net()
    return float(net["W"][unit] @ np.array(SYMMETRIC_PATTERN, dtype=np.float64))


# ---- lessons ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    words: str
    action: str
    check: Check
    show: tuple
    setup: Setup | None = None   # None: go on from the session as the previous step left it
    solution: tuple = ()         # the messages a scripted learner sends: ((type, payload), ...)

    def public(self) -> dict:
        return {"words": self.words, "action": self.action, "show": list(self.show), "check": self.check.public(),
                "panels": list(self.setup.panels) if self.setup else []}


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    goal: str
    steps: tuple

    def public(self) -> dict:
        return {"name": self.name, "title": self.title, "goal": self.goal,
                "steps": [st.public() for st in self.steps]}


def _hidden_total(s) -> int:
    return int(sum(s.config["hidden"]))


def _pct(v):
    return "–" if v is None else f"{100 * v:.0f}%"


# The shown regions of the lessons' usual screens
NET = ("network", "legend")
SAMPLE = NET + ("forward", "backward", "plane")
TRAIN = ("transport", "counter", "speed", "metrics", "loss-chart", "plane")
HAND = {"dataset": "xor", "hidden": [2], "activation": "tanh", "seed": 3, "lr": 0.5, "features": ["x1", "x2"]}
HAND_WEIGHTS = ([[[0.4, -0.3], [0.25, 0.5]], [[0.8, -0.6]]], [[0.1, -0.2], [0.1]])  # round numbers to work with
HAND_SAMPLE = 92  # a point of class 0 the network puts in class 1 (p ≈ 0.73), every neuron well inside its range


def _hand(**extra) -> Setup:
    return Setup(config={**HAND, **extra.pop("config", {})}, weights=HAND_WEIGHTS, select=HAND_SAMPLE, **extra)


PLANE_SETUP = Setup(config={"dataset": "plane", "hidden": [4, 2], "lr": 1.0, "seed": 1}, select=0)


def _loss3(v):
    return "–" if v is None else f"{v:.3g}"


def _fd_givens(s):
    w, h = _w(s, 1, 0, 0), 1e-2
    return [("w", w), ("h", h), ("L(w + h)", _loss_at(s, w + h)), ("L(w − h)", _loss_at(s, w - h))]


def _loss_at(s, w):
    lin = s.model.linears[1]
    old = float(lin.weight.data[0, 0])
    try:
        lin.weight.data[0, 0] = w
        return float(_trace(s).loss)
    finally:
        lin.weight.data[0, 0] = old


def _fd_key(s):
    _, (_, h), (_, lp), (_, lm) = _fd_givens(s)
    return (_g(lp) - _g(lm)) / (2 * h)


SLOPE = Number(
    "Type the slope of the loss in w, from the two nudged losses: (L(w + h) − L(w − h)) / 2h.", "slope",
    key=_fd_key, given=_fd_givens,
    mistakes=lambda s: [("divided by h", "that divides by h; the two points are 2h apart.", 2 * _fd_key(s)),
                        ("wrong sign", "that is L(w − h) − L(w + h): the slope is the right one minus the left one.",
                         -_fd_key(s))],
    hint="Rise over run: the loss rises by L(w + h) − L(w − h) over a run of 2h.",
    worked=lambda s: (f"slope = ({_fmt(_fd_givens(s)[2][1])} − {_fmt(_fd_givens(s)[3][1])}) / "
                      f"(2·{_fmt(1e-2)}) = {_fmt(_fd_key(s))}"),
)

LESSONS_LIST = (
    Lesson("first-look", "A first look", "See the forward pass, the backward pass and training, once each.", (
        Step("The network makes a guess: the selected point goes in on the left, the number under each hidden "
             "neuron is its output a for this point (its fill is its map over the whole plane), and the last "
             "column is the network's guess: its number is z, which the line below turns into a prediction.",
             "Press Forward.", Do("forward"), SAMPLE, Setup(config={"dataset": "circle"}, select=0),
             (("forward", {}),)),
        Step("Backward runs from right to left: a halo grows around each neuron, wider where its |δ| is larger, "
             "and each link turns orange (the loss wants that weight larger) or green (smaller); grey links have "
             "almost no pull.", "Press Backward.", Do("backward"), SAMPLE,
             None, (("backward", {}),)),
        Step("Training repeats the two passes on batch after batch and moves every weight a little each time. "
             "Watch the plane's background reshape around the points and the loss curve fall.",
             "Press Train.", Do("play"), TRAIN + NET, None, (("play", {}),)),
        Step("Every point blames the weights differently: Next sample selects another training point and "
             "shows its own pattern of links. Training follows the mean of all that blame.",
             "Press Next sample.", Do("next_sample"), SAMPLE + ("next-sample", "transport"), None,
             (("pause", {}), ("next_sample", {}))),
    )),
    Lesson("slope", "The slope of a loss in one weight",
           "Measure how the loss changes when one weight moves, and compare it with backprop's ∂L/∂w.", (
        Step("Nudge one weight, the link h1.1 → output, by a small h either way and the loss changes. The numbers "
             "below are this sample's loss at w + h and at w − h, computed by the engine.",
             "Compute the slope.", SLOPE, NET, _hand(), ()),
        Step("Backprop gets the same slope without nudging anything: ∂L/∂w from one backward pass. The "
             "inspector's Check it does what you just did, with a much smaller h, and compares the two.",
             "Click the link h1.1 → output, then press Check it.",
             Do("check", lambda s, r: any(m.get("type") == "check" and (m["layer"], m["i"], m["j"]) == (1, 0, 0)
                                          for m in r)), NET + ("inspector",), None,
             (("check", {"layer": 1, "i": 0, "j": 0}),)),
        Step("The sign of the slope says which way to move the weight.", "Answer the question.",
             Choice("The slope ∂L/∂w of a weight is negative. Which way should the weight move to lower the loss?",
                    [("Up", "a negative slope means the loss falls as w grows, so w should grow. The link is drawn "
                      "orange."),
                     ("Down", "moving down a negative slope climbs it: the loss would rise."),
                     ("It does not matter", "the slope is exactly what tells the two directions apart.")], 0),
             NET, None, ()),
    )),
    Lesson("chain-rule", "The chain rule on a small graph",
           "Take e = (a + b)(b + 1) apart into c = a + b, d = b + 1, e = c·d, and get its derivatives.", (
        Step(f"With a = {CHAIN['a']:g} and b = {CHAIN['b']:g}: c = a + b, d = b + 1 and e = c·d. The chain rule "
             "multiplies along a path: ∂e/∂a = ∂e/∂c · ∂c/∂a.", "Compute ∂e/∂a.",
             Number("Type ∂e/∂a.", "∂e/∂a", key=lambda s: chain_grads()["de_da"],
                    given=lambda s: [("a", CHAIN["a"]), ("b", CHAIN["b"]), ("c", chain_grads()["c"]),
                                     ("d", chain_grads()["d"])],
                    mistakes=lambda s: [("used the wrong factor", "∂e/∂c is d, the other factor of the product, not c.",
                                         chain_grads()["c"])],
                    hint="∂e/∂c = d (the other factor) and ∂c/∂a = 1.",
                    worked=lambda s: f"∂e/∂a = ∂e/∂c · ∂c/∂a = d · 1 = {_fmt(chain_grads()['de_da'])}"),
             (), Setup(expression=CHAIN_LAB), ()),
        Step("b reaches e by two paths, through c and through d. The chain rule adds the paths: "
             "∂e/∂b = ∂e/∂c·∂c/∂b + ∂e/∂d·∂d/∂b.", "Compute ∂e/∂b.",
             Number("Type ∂e/∂b.", "∂e/∂b", key=lambda s: chain_grads()["de_db"],
                    given=lambda s: [("c", chain_grads()["c"]), ("d", chain_grads()["d"])],
                    mistakes=lambda s: [("missed a path", "that counts one path only; b feeds both c and d.",
                                         chain_grads()["d"]),
                                        ("missed a path", "that counts one path only; b feeds both c and d.",
                                         chain_grads()["c"]),
                                        ("multiplied the paths", "paths add; the factors along one path multiply.",
                                         chain_grads()["c"] * chain_grads()["d"])],
                    hint="Along c: d · 1. Along d: c · 1. Add them.",
                    worked=lambda s: (f"∂e/∂b = d·1 + c·1 = {_fmt(chain_grads()['d'])} + {_fmt(chain_grads()['c'])} "
                                      f"= {_fmt(chain_grads()['de_db'])}")),
             (), None, ()),
        Step("Forward mode follows one input's tangent forward through every node: a pass per input. Reverse "
             "mode sends one adjoint back from e: a pass per output, and it meets every input on the way. "
             "Switch the graph between the two modes.", "Answer the question.",
             Choice("Under the graph: forward mode needs 2 passes for ∂e/∂a and ∂e/∂b, reverse mode 1. Why?",
                    [("A forward pass carries the tangent of one input; one backward pass from the single output "
                      "reaches every input", "forward mode seeds a, then b; reverse mode starts from e alone."),
                     ("Reverse mode approximates, so it can skip a pass", "both are exact: the graph's tangents and "
                      "adjoints agree with your answers."),
                     ("Forward mode runs the graph twice to check itself", "its two passes seed different inputs, "
                      "a and then b.")], 0),
             (), None, ()),
        Step("Now an expression of your own, in the lab's grammar: numbers, names, + − × ÷, powers (^) and "
             "exp, log, sin, cos, tanh, sigmoid, relu, sqrt. With three variables, forward mode needs three "
             "passes; reverse mode still one.", "Draw an expression with three variables.",
             Do("lesson_expr", lambda s, r: len(expr_lab.parse(s.course.expression[0]).inputs) >= 3),
             (), None, (("lesson_expr", {"text": "f = x*y + sin(z)", "values": {"x": 1.0, "y": 2.0, "z": 0.5}}),)),
    )),
    Lesson("forward-pass", "The forward pass through a 2-2-1 network",
           "Compute a hidden neuron's z and a, and the network's prediction, from the numbers on screen.", (
        Step("Each hidden neuron takes a weighted sum of the inputs and adds its bias: z = w₁X₁ + w₂X₂ + b.",
             "Compute z of h1.1.", z_hidden(0), NET + ("plane",), _hand(), ()),
        Step("Then it fires: a = f(z). This network's hidden activation is tanh.", "Compute a of h1.1.",
             a_hidden(0), NET, None, ()),
        Step("The output does the same with the hidden activations, and a sigmoid turns its z into the "
             "probability of class 1.", "Compute p.", p_output(), NET, None, ()),
        Step("Forward animates exactly these numbers, column by column.", "Press Forward.", Do("forward"), SAMPLE,
             None, (("forward", {}),)),
    )),
    Lesson("output-delta", "The loss and the output's δ",
           "Score the prediction with the loss, and find how the loss changes with the output's z.", (
        Step("The loss scores the prediction p against the label y: cross-entropy is small when p is near y.",
             "Compute the loss.", loss_value(), NET + ("plane",), _hand(), ()),
        Step("δ = ∂L/∂z is where the backward pass starts. For a sigmoid output with cross-entropy it is "
             "simply p − y.", "Compute δ of the output.", delta_output(), NET, None, ()),
    )),
    Lesson("hidden-delta", "δ one layer back",
           "Send the output's δ back through a link and through the hidden neuron's f′(z).", (
        Step("A hidden neuron's δ is the δ of the neuron it feeds, times the weight between them, times its own "
             "slope f′(z). For tanh, f′(z) = 1 − a².", "Compute δ of h1.1.", delta_hidden(0), NET, _hand(), ()),
        Step("The same for the other hidden neuron.", "Compute δ of h1.2.", delta_hidden(1), NET, None, ()),
        Step("Backward animates these δ as halos, from right to left.", "Press Backward.", Do("backward"),
             SAMPLE, None, (("backward", {}),)),
    )),
    Lesson("blame", "∂L/∂w = δ·a: the blame and the colours",
           "Compute a weight's gradient, then predict which links turn orange.", (
        Step("A weight's gradient is the δ of the neuron it feeds times the activation it carries.",
             "Compute ∂L/∂w of the link h1.1 → output.", grad_w(1, 0, 0), NET, _hand(), ()),
        Step("The same rule one layer back: the link X₂ → h1.2 carries X₂ into h1.2.",
             "Compute ∂L/∂w of the link X₂ → h1.2.", grad_w(0, 1, 1), NET, None, ()),
        Step("A link turns orange when ∂L/∂w < 0 (the loss wants the weight to grow) and green when ∂L/∂w > 0. "
             "Right now the links show the whole training set's mean ∂L/∂w; Backward will draw this sample's own.",
             "Pick the links into the hidden layer that will turn orange.",
             Links(0, "Which of these links will Backward draw orange?"), NET, None, ()),
        Step("See it drawn.", "Press Backward.", Do("backward"), SAMPLE, None, (("backward", {}),)),
    )),
    Lesson("update", "The update, and an overshoot",
           "Move a weight one SGD step, then see a step so big that the loss goes up.", (
        Step("Gradient descent moves each weight a step against its gradient, scaled by the learning rate η.",
             "Compute the new weight of h1.1 → output.", w_after(1, 0, 0), NET + ("lr",), _hand(), ()),
        Step("Apply this update does that step for every weight at once, on this sample only.",
             "Press Apply this update.", Do("apply_update"), NET + ("apply-update", "inspector", "lr"), None,
             (("apply_update", {}),)),
        Step("On this regression problem the loss is the squared error, which has its minimum where the output "
             "equals the target. With a learning rate of 1, one step on one sample goes too far, past that "
             "minimum, and the sample's loss goes up. The inspector says so.", "Press Apply this update.",
             Do("apply_update", lambda s, r: any(m.get("type") == "update" and m["overshot"] for m in r)),
             SAMPLE + ("apply-update", "inspector", "lr"), PLANE_SETUP, (("apply_update", {}),)),
        Step("On every step of training the same thing can happen to the whole training set: the steps grow "
             "instead of shrinking, and the weights run away.", "Find a learning rate that diverges, then press Train.",
             Goal(lambda s: s.diverged, lambda s: "diverged" if s.diverged else
                  f"training loss {_loss3(s.metrics()['train_loss'])}: not diverged yet"),
             TRAIN + NET + ("lr",), Setup(config={**PLANE_SETUP.config, "lr": 0.03}),
             (("set", {"config": {"lr": 1.0}}), ("play", {}))),
        Step("Now a learning rate that does not diverge: small enough that each step lowers the loss.",
             "Reach a training loss of 0.01 or lower without diverging.",
             Goal(lambda s: not s.diverged and (s.metrics()["train_loss"] or 1.0) <= 0.01,
                  lambda s: f"training loss {_loss3(s.metrics()['train_loss'])} (goal: 0.01 or lower)"),
             TRAIN + NET + ("lr",), Setup(config={**PLANE_SETUP.config, "lr": 1.0}),
             (("set", {"config": {"lr": 0.3}}), ("play", {}))),
    )),
    Lesson("batch", "Many samples, many blame patterns",
           "See each sample blame the weights its own way, and the batch gradient as their mean.", (
        Step("Each training sample has its own ∂L/∂w: different points light up different links.",
             "Press Next sample three times.",
             Do("next_sample", lambda s, r: s.course.counts.get("next_sample", 0) >= 3),
             SAMPLE + ("next-sample",), Setup(config={"dataset": "circle", "hidden": [4], "seed": 2}, select=0),
             (("next_sample", {}),) * 3),
        Step("A batch's loss is the mean of its samples' losses, so its gradient is the mean of theirs. Below are "
             "∂L/∂w of one link for three samples.", "Compute the batch's ∂L/∂w.", Number(
                 "Type ∂L/∂w of the link h1.1 → output for the batch of these three samples.", "∂L/∂w (batch)",
                 key=lambda s: _batch_grad(s), given=lambda s: [(f"∂L/∂w, sample {k}", g) for k, g in _sample_grads(s)],
                 mistakes=lambda s: [("summed instead of averaged", "that is the sum; the batch loss is a mean, so "
                                      "divide by 3.", 3 * _batch_grad(s))],
                 hint="The batch loss is (L₁ + L₂ + L₃) / 3, so its gradient is the mean of the three gradients.",
                 worked=lambda s: ("∂L/∂w = (" + " + ".join(_fmt(g) for _, g in _sample_grads(s))
                                   + f") / 3 = {_fmt(_batch_grad(s))}")),
             NET, None, ()),
    )),
    Lesson("training", "Training: the boundary reshapes, the loss drops",
           "Train until the goals are met, and solve XOR and the spiral.", (
        Step("Press Train and watch the background of the plane reshape around the points while the loss "
             "curve falls.", "Train until the test accuracy reaches 95%.",
             Goal(lambda s: (s.metrics()["test_acc"] or 0) >= 0.95,
                  lambda s: f"test accuracy {_pct(s.metrics()['test_acc'])} (goal: 95%)"),
             TRAIN + NET, Setup(config={"dataset": "circle"}), (("play", {}),)),
        Step("XOR's classes sit in opposite corners: no straight line separates them, so the hidden neurons "
             "have to combine. Use as few of them as you can.",
             "Reach 95% test accuracy on XOR with at most 4 hidden neurons.",
             Goal(lambda s: (s.metrics()["test_acc"] or 0) >= 0.95 and _hidden_total(s) <= 4,
                  lambda s: f"test accuracy {_pct(s.metrics()['test_acc'])} with {_hidden_total(s)} hidden "
                            f"neurons (goal: 95% with at most 4)"),
             TRAIN + NET + ("layers", "lr", "activation"), Setup(config={"dataset": "xor", "hidden": [1]}),
             (("set", {"config": {"hidden": [3]}}), ("play", {}))),
        Step("The spiral is hard for a small network on X₁ and X₂ alone. More neurons, more features "
             "(sin X₁, sin X₂) or another optimizer all help.", "Reach 90% test accuracy on the spiral.",
             Goal(lambda s: (s.metrics()["test_acc"] or 0) >= 0.90,
                  lambda s: f"test accuracy {_pct(s.metrics()['test_acc'])} (goal: 90%)"),
             TRAIN + NET + ("layers", "lr", "activation", "data", "more-settings"),
             Setup(config={"dataset": "spiral"}),
             (("set", {"config": {"hidden": [8, 8], "features": ["x1", "x2", "sin_x1", "sin_x2"],
                                  "optimizer": "adam", "lr": 0.01}}), ("play", {}))),
    )),
    Lesson("scale", "Why backprop scales",
           "Count what finite differences cost against one forward and one backward pass.", (
        Step("Finite differences nudge each of the P parameters both ways: two forward passes per parameter. "
             "Backprop gets every ∂L/∂w from one forward and one backward pass.",
             "Count the forward passes finite differences need for this network.",
             Number("Type the number of forward passes finite differences need for all of this network's "
                    "∂L/∂w.", "passes", key=lambda s: 2 * _trace(s).parameter_count(),
                    given=lambda s: [("weights and biases P", _trace(s).parameter_count())],
                    mistakes=lambda s: [("one pass per parameter", "central differences nudge each parameter up "
                                         "and down: two passes each.", _trace(s).parameter_count())],
                    hint="Two forward passes, L(w + h) and L(w − h), for each of the P parameters.",
                    worked=lambda s: f"2P = 2 · {_trace(s).parameter_count()} = {2 * _trace(s).parameter_count()}",
                    scale=lambda s: 1.0),
             NET + ("inspector",), Setup(config={"dataset": "circle", "hidden": [8, 8]}, select=0), ()),
        Step("The cost meter in the inspector times both on this very network: one forward plus one backward "
             "pass, against the 2P forward passes finite differences need.", "Press Forward and read the cost meter.",
             Do("forward"), NET + ("forward", "inspector"), None, (("forward", {}),)),
        Step("A network with a billion parameters would need two billion forward passes per step by finite "
             "differences; backprop still needs two passes.", "Answer the question.",
             Choice("Why does one backward pass give the gradient of every weight?",
                    [("Reverse mode starts from the one output, the loss, and the chain rule reuses each layer's "
                      "δ for every weight below it", "one pass per output, and a loss is one number."),
                     ("It nudges all the weights at once", "nudging them together would mix their effects: that "
                      "gives one number, not P."),
                     ("It only approximates the gradient", "backprop's gradient is exact up to rounding; Check it "
                      "agrees with finite differences.")], 0),
             NET, None, ()),
    )),
    Lesson("deep", "Deep networks: vanishing gradients, then ReLU + He",
           "Make a deep sigmoid network learn.", (
        Step("Eight sigmoid layers: on its way back, the gradient is multiplied by f′(z) ≤ 0.25 at every "
             "layer, so the first layers hardly move and training stalls.",
             "Make it learn: reach 90% training accuracy.",
             Goal(lambda s: (s.metrics()["train_acc"] or 0) >= 0.90,
                  lambda s: f"training accuracy {_pct(s.metrics()['train_acc'])} (goal: 90%)"),
             TRAIN + NET + ("activation", "presets", "gradflow", "lr"),
             Setup(config={"dataset": "circle", "hidden": [4] * 8, "activation": "sigmoid", "init": "uniform",
                           "lr": 0.1, "optimizer": "sgd"}),
             (("set", {"config": {"activation": "relu", "init": "he"}}), ("play", {}))),
        Step("ReLU's slope is 1 wherever a neuron is on, and He initialisation keeps the signal's size from "
             "layer to layer.", "Answer the question.",
             Choice("Why did the sigmoid network's first layers barely learn?",
                    [("Each layer back multiplies the gradient by f′(z) ≤ 0.25, so it shrinks geometrically",
                      "eight factors of at most 0.25 multiply to 0.25⁸ ≈ 0.000015 or less."),
                     ("The learning rate was too high", "a too-high rate makes the loss jump or diverge, not stall."),
                     ("Sigmoid networks cannot draw a circle", "one sigmoid hidden layer can; depth made it slow.")], 0),
             NET + ("gradflow",), None, ()),
    )),
    Lesson("input-grad", "∂L/∂x for free: saliency and an adversarial nudge",
           "Use the gradient with respect to the input that backprop computes on the way.", (
        Step("Backprop's chain ends at the input: ∂L/∂x says how the loss changes as the point moves. The arrow "
             "on the selected point is −∂L/∂x.", "Turn on Show input gradients.", Do("saliency"),
             ("plane", "out-opts"), Setup(config={"dataset": "circle"}, select=0), (("saliency", {}),)),
        Step("Walk the point the other way, up the loss, until the network changes its mind.",
             "Press Adversarial nudge.",
             Do("nudge", lambda s, r: any(m.get("type") == "nudge" and m["flipped"] for m in r)),
             ("plane", "nudge") + NET, None, (("nudge", {}),)),
        Step("The same gradient draws saliency maps of images and builds adversarial examples.",
             "Answer the question.",
             Choice("What did ∂L/∂x cost on top of training's ∂L/∂w?",
                    [("Nothing more: the backward pass reaches the input anyway", "the chain rule passes through "
                      "the first layer to x, one more product."),
                     ("Another backward pass per input feature", "one backward pass gives ∂L/∂x for every feature."),
                     ("Finite differences on the input", "the engine's backward pass gives it exactly.")], 0),
             ("plane",), None, ()),
    )),
    Lesson("physics", "Beyond networks: the gradient of a physics program",
           "Differentiate a small simulation by running it backward.", (
        Step(f"A ball is thrown at speed v = {THROW['v']:g} m/s and angle θ = {THROW['theta']:g} rad. A loop "
             f"steps its height {THROW['steps']} times: y += v_y·dt, v_y −= g·dt. After T seconds the height is "
             "T·v·sin θ minus a term without v.", "Compute ∂y/∂v.",
             Number("Type ∂y/∂v, the height's change per unit of speed.", "∂y/∂v",
                    key=lambda s: throw()["dy_dv"],
                    given=lambda s: [("T (s)", throw()["T"]), ("θ (rad)", THROW["theta"]),
                                     ("sin θ", math.sin(THROW["theta"]))],
                    mistakes=lambda s: [("used cos θ", "the vertical speed is v·sin θ.", throw()["T"] * math.cos(
                        THROW["theta"])), ("forgot T", "y gains v·sin θ every second, for T seconds.",
                                           math.sin(THROW["theta"]))],
                    hint="Only the v_y·dt terms depend on v: T/dt of them, each sin θ·dt.",
                    worked=lambda s: (f"∂y/∂v = T · sin θ = {_fmt(throw()['T'])} · {_fmt(math.sin(THROW['theta']))} "
                                      f"= {_fmt(throw()['dy_dv'])}")),
             (), Setup(), ()),
        Step("The engine ran backward through all the loop's steps once and got ∂y/∂v and ∂y/∂θ together.",
             "Answer the question.",
             Choice("How many backward passes did the engine need for ∂y/∂v and ∂y/∂θ?",
                    [("One", "y is one output; reverse mode gives the derivative of one output with respect to "
                      "every input in one pass."),
                     ("Two", "that would be forward mode: one pass per input."),
                     (f"{THROW['steps']}, one per step of the loop", "the backward pass goes through every step, "
                      "but once.")], 0),
             (), None, ()),
    )),
    Lesson("symmetry", "The 1986 paper's symmetry network",
           "Read how two hidden units detect mirror symmetry, as Rumelhart, Hinton and Williams showed.", (
        Step("Six binary inputs, two sigmoid hidden units, one output that is on when the pattern is its own "
             "mirror image. Trained by backprop on all 64 patterns, each hidden unit's weights come out "
             "equal in size and opposite in sign across the middle, in the ratio 1 : 2 : 4 on each side, as in "
             "the paper.",
             "Compute hidden unit 1's weighted sum for the symmetric pattern 1 0 1 1 0 1.",
             Number("Type Σ wᵢ·xᵢ of hidden unit 1 for the pattern 1 0 1 1 0 1 (without the bias).", "Σ w·x",
                    key=lambda s: symmetry_sum(0),
                    given=lambda s: [(f"w{k + 1}", w) for k, w in enumerate(symmetry_net()["W"][0])],
                    mistakes=lambda s: [("added one half only", "that adds inputs 1 and 3 alone; every input that "
                                         "is 1 counts: 1, 3, 4 and 6.", float(symmetry_net()["W"][0][[0, 2]].sum()))],
                    hint="Add the weights of inputs 1, 3, 4 and 6.",
                    worked=lambda s: ("Σ w·x = " + " + ".join(
                        _fmt(w) for w, x in zip(symmetry_net()["W"][0], SYMMETRIC_PATTERN) if x)
                        + f" = {_fmt(symmetry_sum(0))}"),
                    scale=lambda s: float(np.abs(symmetry_net()["W"][0]).sum())),
             (), Setup(), ()),
        Step("Mirror pairs cancel, so every symmetric pattern gives both hidden units about the same input: "
             "their bias alone.", "Answer the question.",
             Choice("Why do the hidden units stay quiet for a symmetric pattern?",
                    [("Mirror-image inputs have weights of equal size and opposite sign, so they cancel",
                      "a symmetric pattern switches on both inputs of a pair or neither."),
                     ("The weights are all small", "they are large; they cancel in pairs."),
                     ("The output ignores the hidden units", "the output reads nothing else.")], 0),
             (), None, ()),
    )),
    Lesson("pytorch", "The same thing in PyTorch: loss.backward()",
           "Match the numbers you computed by hand to what PyTorch's autograd stores.", (
        Step("The Learn panel writes this network as a few lines of PyTorch. loss.backward() runs the same "
             "reverse-mode pass; afterwards each parameter's .grad holds ∂L/∂w.", "Press Learn and read the code.",
             Do("code"), NET + ("learn",), _hand(), (("code", {}),)),
        Step("In PyTorch, the first Linear layer's weight.grad[i, j] is ∂L/∂w of the link from input j to "
             "hidden neuron i.", "Compute it for the link X₁ → h1.1.", grad_w(0, 0, 0), NET, None, ()),
        Step("One optimizer step is opt.step(); before the next backward, opt.zero_grad().", "Answer the question.",
             Choice("You run the forward pass and loss.backward() twice on the same batch, without opt.zero_grad() "
                    "in between. What does .grad hold?",
                    [("Twice ∂L/∂w: the two gradients add up", "backward accumulates into .grad, as the engine "
                      "does for a value used twice."),
                     ("∂L/∂w: the second backward replaces the first", "PyTorch adds into .grad; it never "
                      "overwrites it."),
                     ("Zero: the two cancel", "both gradients have the same sign; they add up.")], 0),
             NET, None, ()),
    )),
)


def _sample_grads(s) -> list[tuple[int, float]]:
    """∂L/∂W_1[0, 0] of the first three training samples, each traced alone."""
    from ..lab import trace as explain

    out = []
    for k in range(3):
        tr = explain.trace(s.model, s.X_train[k], s._target_of(k), loss=s.loss_name, features=s.config["features"])
        out.append((k, float(tr.layers[1].grad_W[0, 0])))
    return out


def _batch_grad(s) -> float:
    from ..lab import trace as explain

    tr = explain.trace(s.model, s.X_train[:3], s.y_train[:3], loss=s.loss_name, features=s.config["features"])
    return float(tr.layers[1].grad_W[0, 0])


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in LESSONS_LIST}


def schema() -> dict:
    """The course as the page builds it: lessons (words, regions, prompts, choices: no answers) and the
    regions a step can show."""
    return {"lessons": [lesson.public() for lesson in LESSONS.values()],
            "regions": [{"name": k, "label": label, "opener": opener} for k, (label, opener) in REGIONS.items()],
            "page_events": list(PAGE_EVENTS)}


def setup_at(lesson: Lesson, step: int) -> Setup:
    """The setup a step starts from: its own, or the last one before it."""
    for k in range(step, -1, -1):
        if lesson.steps[k].setup is not None:
            return lesson.steps[k].setup
    return Setup()


# ---- the learner's progress ------------------------------------------------------------------------
class Course:
    """One learner's place in the course. The session holds one and calls :meth:`observe` after every
    message it runs; the lesson_* messages come here through the session's methods of the same names."""

    def __init__(self):
        self.lesson: str | None = None
        self.step = 0
        self.done: dict[str, set[int]] = {}
        self.answers: dict[str, dict[int, object]] = {}
        self.attempts = 0
        self.verdict: Verdict | None = None
        self.counts: dict[str, int] = {}
        self.progress_text: str | None = None
        self.expression: tuple | None = None  # (text, values, wrt) in the expression lab, when open

    @property
    def check(self) -> Check | None:
        return LESSONS[self.lesson].steps[self.step].check if self.lesson else None

    def pending(self) -> bool:
        """An answer the learner is asked to compute is open (and not yet given)."""
        return (self.check is not None and self.check.answered
                and self.step not in self.done.get(self.lesson, set()))

    def guard(self, msg_type: str) -> None:
        """Refuse a message that would show the open exercise's answer before it is answered."""
        if msg_type in REFUSED and self.pending():
            raise ProtocolError("lesson", "answer the exercise first (or leave the lesson): this would "
                                "show the answer")

    def withhold(self, replies: list) -> list:
        """The replies without those that would show the open exercise's answer (a selection's trace)."""
        if not self.pending():
            return replies
        return [r for r in replies if r.get("type") not in WITHHELD]

    # ---- messages ----
    def message(self, s, feedback: Verdict | None = None) -> dict:
        msg = {"type": "lesson", "lesson": self.lesson, "step": self.step if self.lesson else None,
               "done": self.progress()["done"], "feedback": feedback.to_dict() if feedback else None,
               "givens": [], "options": None, "progress": None, "graph": None, "editable": False}
        if self.lesson and self.expression:
            text, values, wrt = self.expression
            # tangents and adjoints are the answers while a number is asked for: "?" until then
            hide = ("tangent", "adjoint") if self.pending() and isinstance(self.check, Number) else ()
            msg["graph"] = expr_lab.expression_graph(text, dict(values), wrt, hide=hide)
            msg["editable"] = not self.pending()
        if self.lesson:
            check = self.check
            msg["givens"] = check.givens(s)
            if isinstance(check, Links):
                msg["options"] = check.options(s)
            if isinstance(check, Goal):
                msg["progress"] = self.progress_text = check.progress(s)
        return msg

    def open(self, s, lesson, step=0) -> list[dict]:
        name = check_choice("lesson", lesson, tuple(LESSONS))
        les = LESSONS[name]
        step = check_int("step", step, 0, len(les.steps) - 1)
        if self.lesson == name and les.steps[step].setup is None:
            # the next (or an earlier) step of the open lesson goes on from the session as it is
            self.step, self.attempts, self.verdict, self.counts = step, 0, None, {}
            self._maybe_done(s, "open", [])
            return [self.message(s)]
        setup = setup_at(les, step)
        self.expression = setup.expression
        out = []
        # the step's setup: a fresh session from its config, weights and sample (validated as hello's)
        weights = {} if setup.weights is None else {"weights": setup.weights[0], "biases": setup.weights[1]}
        out += [m for m in s.hello(config={**setup.config}, **weights) if m["type"] == "error"]
        if setup.select is not None:
            s.selected = min(setup.select, max(s.n_train - 1, 0))
        out += [s.state(schema=True), s.points(), s._frame_msg()]  # with the sample selected
        self.lesson, self.step = name, step
        self.attempts, self.verdict, self.counts = 0, None, {}
        self._maybe_done(s, "open", [])
        return out + [self.message(s)]

    def answer(self, s, answer) -> list[dict]:
        check = self.check
        if check is None or not check.answered:
            raise ProtocolError("answer", "this step asks for an action, not an answer" if check else
                                "no lesson is open")
        self.attempts += 1
        verdict = check.grade(s, answer, self.attempts)   # raises on a malformed answer, before anything changes
        if verdict.correct:
            self._mark(self.lesson, self.step)
            self.answers.setdefault(self.lesson, {})[self.step] = answer
        self.verdict = verdict
        return [self.message(s, verdict)]

    def draw(self, s, text, values, wrt=None) -> list[dict]:
        """An expression typed into the lab (once no answer is asked for): validated, then drawn."""
        if not self.lesson or self.expression is None:
            raise ProtocolError("lesson", "the expression lab is part of a lesson's step; open one first")
        if self.pending():
            raise ProtocolError("lesson", "answer the exercise first: a new expression would show its answer")
        try:
            values = {str(k): float(v) for k, v in values.items()}
            expr_lab.expression_graph(text, values, wrt)
        except expr_lab.ExprError as e:
            raise ProtocolError("text", str(e)) from None
        except ValueError as e:
            raise ProtocolError("values", str(e)) from None
        self.expression = (text, values, wrt)
        self._maybe_done(s, "lesson_expr", [])
        return [self.message(s)]

    def event(self, s, event) -> list[dict]:
        event = check_choice("event", event, PAGE_EVENTS)
        return self.observe(s, event, []) or [self.message(s)]   # every message gets its answer

    def leave(self, s) -> list[dict]:
        self.lesson, self.step, self.attempts = None, 0, 0
        return [self.message(s)]

    def restore(self, s, done) -> list[dict]:
        """Steps done that the page kept (localStorage) or a session file holds: merged in."""
        self.merge(check_progress(done))
        return [self.message(s)]

    # ---- observing the session ----
    def observe(self, s, event: str, replies: list) -> list[dict]:
        """After the session ran ``event``: is the open step's check met now?"""
        if not self.lesson or event.startswith("lesson_"):
            return []
        self.counts[event] = self.counts.get(event, 0) + 1
        if self._maybe_done(s, event, replies) or (self.pending() and event in CHANGES_GIVENS):
            return [self.message(s)]  # done now, or the numbers on screen are of another sample or weights
        return []

    def poll(self, s) -> list[dict]:
        """While training: a live goal met, or its progress text changed."""
        check = self.check
        if not isinstance(check, Goal) or self.step in self.done.get(self.lesson, set()):
            return []
        if self._maybe_done(s, "frame", []):
            return [self.message(s)]
        if check.progress(s) != self.progress_text:
            return [self.message(s)]
        return []

    def _maybe_done(self, s, event, replies) -> bool:
        check = self.check
        if self.step in self.done.get(self.lesson, set()):
            return False
        if check.kind == "read" or (not check.answered and event != "open" and check.observe(s, event, replies)):
            self._mark(self.lesson, self.step)
            return True
        return False

    def _mark(self, lesson, step):
        self.done.setdefault(lesson, set()).add(step)

    def merge(self, done: dict) -> None:
        for name, steps in done.items():
            self.done.setdefault(name, set()).update(steps)

    def progress(self) -> dict:
        """What Save writes and the page keeps: {"format": 1, "done": {lesson: [steps]}}."""
        return {"format": PROGRESS_FORMAT, "done": {k: sorted(v) for k, v in sorted(self.done.items()) if v}}


def check_progress(done, name: str = "done") -> dict:
    """{lesson: [step indices]}, every lesson a course lesson and every index one of its steps."""
    if not isinstance(done, dict):
        raise ProtocolError(name, f"{name} must be an object {{lesson: [step, ...]}}")
    out = {}
    for lesson, steps in done.items():
        if lesson not in LESSONS:
            raise ProtocolError(f"{name}.{lesson}"[:80], f"{name}: {str(lesson)[:40]!r} is not a lesson of the course")
        n = len(LESSONS[lesson].steps)
        if not isinstance(steps, list) or len(steps) > n:
            raise ProtocolError(f"{name}.{lesson}", f"{name}.{lesson} must be a list of step numbers 0..{n - 1}")
        out[lesson] = {check_int(f"{name}.{lesson}", k, 0, n - 1) for k in steps}
    return out
