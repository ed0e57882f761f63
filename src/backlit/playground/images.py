"""The images view: backprop on the 8×8 handwritten digits, then the same ∂L/∂x turned on the input.

A session of its own kind, chosen from the page like a dataset ("Digits (8x8 images)"). It has the
duck shape the server's adapter drives (``playing``, ``train_for``, ``step_count``, ``config["speed"]``,
``frame()``, ``state()``, ``history_since``, ``handle``); :func:`route` swaps it in for the plane's
session on ``images_open`` and back on ``images_close`` (or a ``hello``), keeping the plane's session
as it was.

    s = ImagesSession()                              # the MLP, paused, test digit 0 selected
    s.handle({"type": "images_set", "network": "cnn"})
    s.train_for(0.05)                                # bounded work, as the server's tick does
    trace = s.handle({"type": "images_trace"})[0]    # one digit's forward and backward, per stage
    s.handle({"type": "images_attack", "eps": 0.1, "steps": 10})

All maths is here (and in ``lab.saliency``, ``lab.digits``); the page draws what the messages say.
The trace is the engine's own backward pass (``retain_grad`` on each layer's output), never a second
hand-written one.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import nn
from ..engine import Tensor, no_grad
from ..lab import digits, saliency as sal
from ..nn import functional as F
from ..nn import optim
from . import pacing
from .settings import ProtocolError, json_safe

VIEW = {"key": "digits", "label": "Digits (8x8 images)", "open": "images_open",
        "doc": "1,797 real handwritten digits, 8×8 pixels: train an MLP or a small CNN, then turn ∂L/∂x on the image"}
BATCH = 32
EVAL_EVERY = 15            # optimizer steps between two evaluations (a point on the curves) while training
GALLERY_PER_CLASS = 2
MAX_ATTACK_STEPS = 50
MAX_DRAWING_SIDE = 256     # the page sends its canvas at most this many pixels a side
PIXEL_RANGE = (0.0, 1.0)
HISTORY_LIMIT = 400
# how a drawing becomes a digit: the digits module's own words, as plain text
DRAWING = re.sub(r":func:`(\w+)`", r"\1()", digits.__doc__.split("\n\n")[1]).replace("\n", " ").replace("`", "")


def _mlp(seed: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, 16, seed=seed, init="xavier"), nn.Tanh(),
                         nn.Linear(16, 10, seed=seed + 1, init="xavier"))


def _cnn(seed: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 10, seed=seed + 1, init="xavier"))


@dataclass(frozen=True)
class Network:
    """One network the view offers, and everything the page needs to say about it."""
    key: str
    label: str
    build: Callable[[int], nn.Sequential]
    images_in: bool            # takes (n, 1, 8, 8) rather than (n, 64)
    hidden_out: int            # index of the layer whose output the hidden tiles show
    torch: str                 # the same network in PyTorch, for the page
    tile: str                  # what a hidden tile shows
    lr: float = 0.01

    def shape(self, X: np.ndarray) -> np.ndarray:
        return digits.as_images(X) if self.images_in else np.asarray(X)

    def row(self) -> dict:
        return {"key": self.key, "label": self.label, "torch": self.torch, "tile": self.tile, "lr": self.lr}


NETWORKS: dict[str, Network] = {n.key: n for n in (
    Network("mlp", "MLP 64 → 16 → 10", _mlp, False, 1,
            "nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))",
            "a hidden unit: its 64 incoming weights drawn as an 8×8 image, and its activation tanh(z)"),
    Network("cnn", "CNN: 4 filters 3×3 → ReLU → pool → 10", _cnn, True, 1,
            "nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))",
            "a filter: its 3×3 kernel, beside its feature map ReLU(kernel ⋆ image + b) on this digit"),
)}
DEFAULT_NETWORK = "mlp"

# What each input-gradient map is, and what it is not. The page shows these words beside the maps.
METHODS = (
    {"key": "saliency", "label": "Saliency ∂L/∂x",
     "is": "the loss's gradient with respect to each pixel, from the same backward pass that gives ∂L/∂w: "
           "orange pixels would lower the loss if they got more ink, green ones if they got less",
     "not": "not an explanation of why the network chose its class: it says what a small change would do "
            "to the loss here, and two networks with the same answers can have different maps"},
    {"key": "grad_x_input", "label": "Gradient × input",
     "is": "∂L/∂x times the pixel's ink: the gradient where there is ink, zero on the blank paper",
     "not": "not a share of the decision: it hides every blank pixel, even where ink would change the class"},
    {"key": "smoothgrad", "label": "SmoothGrad",
     "is": "∂L/∂x averaged over noisy copies of the digit (Gaussian noise, σ = 10% of the pixel range): "
           "the pixel-to-pixel noise averages away",
     "not": "not more true than the plain gradient: it is the gradient of a blurred loss, and it changes "
            "with the noise and the number of copies"},
)
SMOOTH_COPIES, SMOOTH_NOISE = 8, 0.1

AGGREGATION = ("A tile holds many weights. Its ring's width is the size of their gradient, ‖∂L/∂w‖ over "
               "the tile (square root of the sum of squares); its colour is the sign of the unit's bias "
               "gradient ∂L/∂b, i.e. of Σδ: orange when the loss wants the unit's input z higher, green "
               "lower. The halo is |δ| (summed over a feature map). Click a tile for every number.")
ATTACKS = {"eps": {"default": 0.1, "min": 0.005, "max": 0.5},
           "steps": {"default": 10, "min": 1, "max": MAX_ATTACK_STEPS}}


def _softmax(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def _r(a, digits_: int = 6):
    """Rounded floats as JSON lists (smaller replies; the maths kept full precision)."""
    return json_safe(np.round(np.asarray(a, dtype=np.float64), digits_).tolist())


class ImagesSession:
    """The images view's state: the network, its optimizer and counters, the current digit."""

    def __init__(self, network: str = DEFAULT_NETWORK, seed: int = 0, speed: int = pacing.DEFAULT_LEVEL,
                 limits=None, parent=None):
        self.limits = limits
        self.parent = parent                       # the plane's session, given back on images_close
        self.config = {"dataset": VIEW["key"], "network": network, "seed": seed, "speed": speed}
        self.X_train, self.y_train, self.X_test, self.y_test = digits.split(seed=0)
        self.n_train = len(self.X_train)
        self.history_generation = 1_000_000        # never equal to a plane session's generation
        self.playing = False
        self.diverged = False
        self._build()
        self._select_test(0)

    # ---- building -------------------------------------------------------------------------------
    @property
    def net(self) -> Network:
        return NETWORKS[self.config["network"]]

    def _build(self) -> None:
        c = self.config
        self.model = self.net.build(c["seed"])
        self.optimizer = optim.Adam(self.model.parameters(), lr=self.net.lr)
        self.Xs_train, self.Xs_test = self.net.shape(self.X_train), self.net.shape(self.X_test)
        self.step_count = 0
        self.samples_seen = 0
        self._rng = np.random.default_rng((c["seed"], 1))
        self._order, self._pos = self._rng.permutation(self.n_train), 0
        self.history: list[list] = []
        self.history_generation += 1
        self._version = 0
        self._eval: tuple | None = None            # (version, metrics dict, confusion)
        self.diverged = False

    def _select_test(self, index: int) -> None:
        self.selected = int(index)
        self.x = self.X_test[self.selected].copy()
        self.label: int | None = int(self.y_test[self.selected])
        self.source = "test"

    # ---- training -------------------------------------------------------------------------------
    def _train_step(self) -> float:
        if self._pos >= self.n_train:
            self._order, self._pos = self._rng.permutation(self.n_train), 0
        b = self._order[self._pos:self._pos + BATCH]
        self._pos += len(b)
        loss = F.cross_entropy(self.model(Tensor(self.Xs_train[b])), self.y_train[b])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        self.samples_seen += len(b)
        self._version += 1
        return float(loss.data)

    def train_for(self, max_seconds: float, max_samples: int = 10**9, max_steps: int = 10**9) -> list[dict]:
        """Train for at most ``max_seconds``, ``max_samples`` or ``max_steps`` (at least one step);
        [] normally, [state] when the loss stopped being finite (then paused, weights as they were)."""
        if self.diverged:
            return []
        snap = [p.data.copy() for p in self.model.parameters()]
        deadline = time.perf_counter() + max_seconds
        start, first = self.samples_seen, self.step_count
        with np.errstate(all="ignore"):
            while True:
                loss = self._train_step()
                if self.step_count % EVAL_EVERY == 0:
                    self._record_history()
                if not np.isfinite(loss) or self.samples_seen - start >= max_samples or \
                        self.step_count - first >= max_steps or time.perf_counter() >= deadline:
                    break
        if not np.isfinite(loss):
            for p, d in zip(self.model.parameters(), snap):
                p.data = d
            self.playing, self.diverged = False, True
            return [self.state()]
        return []

    # ---- evaluation -----------------------------------------------------------------------------
    def evaluate(self, fresh: bool = True) -> dict:
        """Train and test loss and accuracy, and the test set's confusion matrix (rows: true digit,
        columns: predicted), once per weight version. ``fresh=False`` (frames while training) keeps an
        evaluation up to EVAL_EVERY steps old: a forward pass over all 1,797 digits per frame would
        cost the CNN most of its training time."""
        stale = self._eval is None or self._eval[0] != self._version
        if stale and not fresh and self._eval is not None and self._version - self._eval[0] < EVAL_EVERY:
            stale = False
        if stale:
            out = {}
            with no_grad(), np.errstate(all="ignore"):
                for name, X, y in (("train", self.Xs_train, self.y_train), ("test", self.Xs_test, self.y_test)):
                    logits = self.model(Tensor(X)).data
                    out[name + "_loss"] = float(F.cross_entropy(Tensor(logits), y).data)
                    pred = logits.argmax(axis=1)
                    out[name + "_acc"] = float(np.mean(pred == y))
                    if name == "test":
                        confusion = np.zeros((10, 10), dtype=np.int64)
                        np.add.at(confusion, (y, pred), 1)
            self._eval = (self._version, json_safe(out), confusion)
        return dict(self._eval[1])

    def confusion(self) -> np.ndarray:
        """The confusion matrix of the last evaluation."""
        if self._eval is None:
            self.evaluate()
        return self._eval[2]

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_train

    def _record_history(self) -> None:
        m = self.evaluate()
        if self.history and self.history[-1][0] == self.epoch:
            return
        self.history.append([self.epoch, m["train_loss"], m["test_loss"], m["train_acc"], m["test_acc"]])
        if len(self.history) > HISTORY_LIMIT:
            self.history = self.history[-1::-2][::-1]
            self.history_generation += 1

    def history_since(self, cursor) -> dict:
        reset = cursor.generation != self.history_generation
        rows = self.history if reset else self.history[cursor.sent:]
        cursor.generation, cursor.sent = self.history_generation, len(self.history)
        return {"history": rows, "history_reset": reset}

    def lesson_poll(self) -> list[dict]:
        """The course's live goals belong to the plane's session: none while the images view is open."""
        return []

    def metrics(self) -> dict:
        return self.evaluate()

    # ---- one digit ------------------------------------------------------------------------------
    def _input(self) -> np.ndarray:
        return self.net.shape(self.x[None])

    def _aim(self) -> int:
        """The class the loss is taken against: the label, or for a drawing the network's own guess."""
        if self.label is not None:
            return self.label
        return int(self._predict(self.x[None])[0][0])

    def _predict(self, X) -> tuple[np.ndarray, np.ndarray]:
        return sal.predict(self.model, self.net.shape(np.asarray(X)))

    def record(self) -> dict:
        """One digit's forward and backward pass, layer by layer, from the engine's backward:
        every layer's output and its gradient (retained), and every parameter's gradient."""
        params = self.model.parameters()
        saved = [p.grad for p in params]
        try:
            for p in params:
                p.grad = None
            x = Tensor(self._input(), requires_grad=True)
            outs, h = [], x
            for layer in self.model:
                h = layer(h)
                h.retain_grad()
                outs.append(h)
            aim = self._aim()
            loss = F.cross_entropy(h, np.array([aim]))
            loss.backward()
            grads = {id(p): (p.grad.copy() if p.grad is not None else np.zeros_like(p.data)) for p in params}
        finally:
            for p, g in zip(params, saved):
                p.grad = g
        return {"x": x, "outs": outs, "loss": float(loss.data), "aim": aim, "grads": grads}

    def trace(self) -> dict:
        """The ``images_trace`` reply: three stages (input, hidden, output), each with what Forward
        and Backward light up, in the order they light it."""
        r = self.record()
        model, net, outs, grads = self.model, self.net, r["outs"], r["grads"]
        first, last = model[0], model[len(model) - 1]
        W, b = first.weight, first.bias
        units = W.data.shape[0]
        tile_side = 8 if not net.images_in else first.kernel_size
        z1 = outs[0]
        act = outs[net.hidden_out].data[0]                  # (16,) or (4, 8, 8)
        delta1 = z1.grad[0]                                 # ∂L/∂z of the first layer
        gW = grads[id(W)].reshape(units, -1)
        gb = grads[id(b)]
        hidden = []
        for u in range(units):
            d = delta1[u]
            unit = {"unit": u, "weights": _r(W.data[u].reshape(tile_side, tile_side)),
                    "grad_w": _r(gW[u].reshape(tile_side, tile_side), 8), "bias": _r(b.data[u]),
                    "grad_b": _r(gb[u], 8), "ring": _r(np.sqrt(np.sum(gW[u] ** 2)), 8),
                    "halo": _r(np.sum(np.abs(d)), 8), "sign": int(np.sign(gb[u]))}
            if np.ndim(act[u]):
                unit["map"] = _r(act[u], 5)
                unit["delta_map"] = _r(d, 8)
            else:
                unit["value"], unit["delta"] = _r(act[u]), _r(d, 8)
            hidden.append(unit)
        logits = outs[-1].data[0]
        probs = _softmax(logits)
        delta2 = outs[-1].grad[0]
        gW2, gb2 = grads[id(last.weight)], grads[id(last.bias)]
        output = [{"unit": k, "logit": _r(logits[k]), "prob": _r(probs[k]), "delta": _r(delta2[k], 8),
                   "grad_b": _r(gb2[k], 8), "ring": _r(np.sqrt(np.sum(gW2[k] ** 2)), 8),
                   "halo": _r(abs(delta2[k]), 8), "sign": int(np.sign(gb2[k]))} for k in range(10)]
        return {"type": "images_trace", "step": self.step_count, "network": net.key, "loss": _r(r["loss"]),
                "aim": r["aim"], "label": self.label, "predicted": int(np.argmax(probs)),
                "image": _r(self.x.reshape(8, 8), 5), "input_grad": _r(r["x"].grad.reshape(8, 8), 8),
                "stages": [{"name": "input", "label": "Input: 8×8 pixels"},
                           {"name": "hidden", "label": net.tile, "units": hidden},
                           {"name": "output", "label": "10 outputs: softmax probabilities", "units": output}],
                "scale": {"ring": _r(max([u["ring"] for u in hidden + output]) or 1.0, 8),
                          "halo": _r(max([u["halo"] for u in hidden + output]) or 1.0, 8)},
                "aggregation": AGGREGATION}

    def tile(self, layer: int, unit: int) -> dict:
        """Every number of one tile: weights, gradients, bias, activation and δ (bounded: at most 64
        weights)."""
        tr = self.trace()
        stage = tr["stages"][layer]
        if "units" not in stage or not 0 <= unit < len(stage["units"]):
            n = len(stage.get("units", []))
            raise ProtocolError("unit", f"layer {layer} has {n} units; unit must be 0..{max(n - 1, 0)}")
        u = dict(stage["units"][unit])
        if layer == 2:
            last = self.model[len(self.model) - 1]
            u["weights"] = _r(last.weight.data[unit])
            r = self.record()
            u["grad_w"] = _r(r["grads"][id(last.weight)][unit], 8)
            u["bias"] = _r(last.bias.data[unit])
        return {"type": "images_tile", "layer": layer, "unit": unit, "stage": stage["name"],
                "step": self.step_count, "tile": u}

    def saliency_maps(self) -> dict:
        x, aim = self._input(), np.array([self._aim()])
        maps = {"saliency": sal.saliency(self.model, x, aim),
                "grad_x_input": sal.gradient_times_input(self.model, x, aim),
                "smoothgrad": sal.smoothgrad(self.model, x, aim, copies=SMOOTH_COPIES, noise=SMOOTH_NOISE,
                                             seed=self.config["seed"])}
        return {"type": "images_saliency", "step": self.step_count, "aim": int(aim[0]), "label": self.label,
                "maps": [{**m, "map": _r(maps[m["key"]].reshape(8, 8), 9)} for m in METHODS]}

    def attack(self, eps: float, steps: int = 1, target: int | None = None) -> dict:
        """FGSM (steps=1) or its iterated form, one step at a time: each step's image, perturbation
        and probabilities, and the first step whose class differs (or reaches the target)."""
        x0 = self._input()
        start = self._aim()
        if target is not None and target == start:
            raise ProtocolError("target", f"the digit is already classified as {target}: pick another class")
        _, path = sal.fgsm(self.model, x0, np.array([start]), eps, steps=steps,
                           target=None if target is None else np.array([target]),
                           lo=PIXEL_RANGE[0], hi=PIXEL_RANGE[1])
        frames, flipped = [], None
        flat0 = x0.reshape(-1)
        before = int(self._predict(x0.reshape(1, -1))[0][0])   # what the network said before the attack
        for i, xa in enumerate(path):
            cls, probs = self._predict(xa.reshape(1, -1))
            c = int(cls[0])
            done = c == target if target is not None else c != before
            if done and flipped is None and i > 0:
                flipped = i
            delta = xa.reshape(-1) - flat0
            frames.append({"step": i, "image": _r(xa.reshape(8, 8), 5), "perturbation": _r(delta.reshape(8, 8), 6),
                           "probs": _r(probs[0], 5), "predicted": c, "max_change": _r(np.abs(delta).max(), 6)})
        lo, hi = PIXEL_RANGE
        size = eps if steps == 1 else 2.5 * eps / steps
        method = ("FGSM: one step x ← x + ε·sign(∇ₓL)" if steps == 1 else
                  f"iterated FGSM: {steps} steps of {size:.3g}, each kept within ε of the original")
        if target is not None:
            method += f", targeted: each step goes down the loss of class {target}"
        elif before != start:
            method += (f"; the network already said {before}, not {start}, before the attack: a flip is a "
                       f"change from {before}")
        return {"type": "images_attack", "step": self.step_count, "eps": eps, "steps": steps, "target": target,
                "start": before, "label": start, "flipped_at": flipped, "frames": frames, "method": method,
                "budget": f"ε = {eps:g} is {100 * eps / (hi - lo):.3g}% of the pixel range [{lo:g}, {hi:g}]; "
                          f"no pixel moves by more than ε"}

    # ---- messages -------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.diverged:
            return "diverged: reset"
        return "training" if self.playing else ("paused" if self.step_count else "ready")

    def gallery(self) -> list[dict]:
        out = []
        for k in range(10):
            for i in np.flatnonzero(self.y_test == k)[:GALLERY_PER_CLASS]:
                out.append({"index": int(i), "label": k, "image": _r(self.X_test[i].reshape(8, 8), 4)})
        return out

    def state(self, schema: bool = False) -> dict:
        msg = {"type": "images_state", "config": dict(self.config), "playing": self.playing,
               "status": self.status, "step": self.step_count, "epoch": self.epoch,
               "samples_seen": self.samples_seen, "n_train": self.n_train, "n_test": len(self.X_test),
               "selected": self.selected if self.source == "test" else None, "source": self.source,
               "param_count": sum(p.data.size for p in self.model.parameters())}
        if schema:
            msg["schema"] = {"view": VIEW, "networks": [n.row() for n in NETWORKS.values()],
                             "methods": list(METHODS), "aggregation": AGGREGATION, "attack": ATTACKS,
                             "paces": [{"level": p.level, "label": p.label} for p in pacing.PACES],
                             "pixel_range": list(PIXEL_RANGE), "batch": BATCH, "optimizer": "Adam",
                             "max_drawing_side": MAX_DRAWING_SIDE, "gallery": self.gallery(),
                             "drawing": DRAWING}
        return msg

    def frame(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The binary frame: the curves' numbers, the confusion matrix, this digit's prediction, and
        as arrays the digit, the hidden tiles (first-layer weights) and, for the CNN, its feature maps."""
        m = self.evaluate(fresh=not self.playing)
        if not self.playing:
            self._record_history()
        first = self.model[0]
        W = first.weight.data
        side = 8 if not self.net.images_in else first.kernel_size
        arrays = {"image": self.x.reshape(8, 8), "tiles": W.reshape(W.shape[0], side, side)}
        with no_grad():
            h = Tensor(self._input())
            for i, layer in enumerate(self.model):
                h = layer(h)
                if i == self.net.hidden_out:
                    hidden = h.data[0]
            probs = _softmax(h.data[0])
        if self.net.images_in:
            arrays["maps"] = hidden
        header = {"type": "frame", "view": "images", "network": self.net.key, "epoch": self.epoch,
                  "samples_seen": self.samples_seen, "step": self.step_count, **m,
                  "confusion": self.confusion().tolist(), "probs": _r(probs, 5),
                  "hidden": None if self.net.images_in else _r(hidden, 5),
                  "predicted": int(np.argmax(probs)), "label": self.label, "selected": self.selected,
                  "source": self.source, "playing": self.playing, "diverged": self.diverged,
                  "status": self.status}
        return header, arrays

    def _frame_msg(self) -> dict:
        header, arrays = self.frame()
        return {"type": "frame", "header": header, "arrays": arrays}

    def handle(self, msg: dict) -> list[dict]:
        """Run one validated message (every field already checked by the protocol)."""
        kind = msg["type"]
        if kind not in ACTIONS:
            raise ProtocolError("type", f"{kind} is a message of the plane: choose a 2-D dataset first "
                                        f"(images_close), or send one of {', '.join(ACTIONS)}")
        args = {k: v for k, v in msg.items() if k not in ("type", "id")}
        return ACTIONS[kind](self, **args)

    # ---- actions --------------------------------------------------------------------------------
    def open(self, network=None) -> list[dict]:
        if network is not None and network != self.config["network"]:
            self.config["network"] = network
            self._build()
        return [self.state(schema=True), self._frame_msg()]

    def set(self, network=None, speed=None, seed=None) -> list[dict]:
        if network is None and speed is None and seed is None:
            raise ProtocolError("images_set", "images_set needs network, speed or seed")
        rebuild = (network is not None and network != self.config["network"]) or \
                  (seed is not None and seed != self.config["seed"])
        for key, value in (("network", network), ("speed", speed), ("seed", seed)):
            if value is not None:
                self.config[key] = value
        if rebuild:
            self.playing = False
            self._build()
            return [self.state(), self._frame_msg()]
        return [self.state()]

    def play(self) -> list[dict]:
        if self.diverged:
            raise ProtocolError("images_play", "training diverged: reset first")
        self.playing = True
        return [self.state()]

    def pause(self) -> list[dict]:
        self.playing = False
        self._record_history()
        return [self.state(), self._frame_msg()]

    def step(self) -> list[dict]:
        self.playing = False
        self._train_step()
        self._record_history()
        return [self.state(), self._frame_msg()]

    def reset(self) -> list[dict]:
        self.playing = False
        self._build()
        return [self.state(), self._frame_msg()]

    def select(self, index) -> list[dict]:
        if not 0 <= index < len(self.X_test):
            raise ProtocolError("index", f"index must be a test digit 0..{len(self.X_test) - 1}, got {index}")
        self._select_test(index)
        return [self.state(), self._frame_msg()]

    def next(self) -> list[dict]:
        nxt = 0 if self.source != "test" else (self.selected + 1) % len(self.X_test)
        return self.select(nxt)

    def draw(self, width, height, pixels, label=None) -> list[dict]:
        """A drawing (``width`` × ``height`` ink bytes, base64, row by row) reduced to 8×8 as the data
        was made (``digits.from_drawing``), then predicted and explained."""
        try:
            raw = base64.b64decode(pixels, validate=True)
        except (ValueError, TypeError):
            raise ProtocolError("pixels", "pixels must be base64 of width × height bytes") from None
        if len(raw) != width * height:
            raise ProtocolError("pixels", f"pixels hold {len(raw)} bytes; a {width} × {height} drawing has "
                                          f"{width * height}")
        canvas = np.frombuffer(raw, dtype=np.uint8).reshape(height, width).astype(np.float64)
        x = digits.from_drawing(canvas)
        self.x, self.label, self.source, self.selected = x, label, "drawing", None
        return [self.state(), self._frame_msg(), self.saliency_maps()]


ACTIONS: dict[str, Callable] = {
    "images_open": ImagesSession.open,
    "images_set": ImagesSession.set,
    "images_play": ImagesSession.play,
    "images_pause": ImagesSession.pause,
    "play": ImagesSession.play,           # the teacher's "resume all" and "pause all" reach this view too
    "pause": ImagesSession.pause,
    "images_step": ImagesSession.step,
    "images_reset": ImagesSession.reset,
    "images_select": ImagesSession.select,
    "images_next": ImagesSession.next,
    "images_draw": ImagesSession.draw,
    "images_trace": lambda s: [s.trace()],
    "images_tile": lambda s, layer, unit: [s.tile(layer, unit)],
    "images_saliency": lambda s: [s.saliency_maps()],
    "images_attack": lambda s, eps, steps=1, target=None: [s.attack(eps, steps, target)],
}


def route(session, msg: dict):
    """(the session that is current now, its replies) for one validated message.

    ``images_open`` on the plane's session opens the images view (the plane's session kept, paused);
    ``images_close``, ``hello`` (a reconnect) or ``load`` (a pushed setup) in the images view gives the
    plane's session back; every other message goes to the current session."""
    kind = msg["type"]
    if isinstance(session, ImagesSession):
        if kind in ("images_close", "hello", "load"):
            parent = session.parent
            session.playing = False
            if kind != "images_close":                 # a reconnect, or a setup the teacher pushed
                return parent, parent.handle(msg)
            header, arrays = parent.frame()
            return parent, [parent.state(schema=True), parent.points(),
                            {"type": "frame", "header": header, "arrays": arrays}]
        return session, session.handle(msg)
    if kind == "images_open":
        session.playing = False
        images = ImagesSession(network=msg.get("network") or DEFAULT_NETWORK, limits=session.limits,
                               parent=session)
        return images, images.open()
    if kind == "images_close":
        return session, [session.state()]
    if kind in ACTIONS and kind.startswith("images_"):
        raise ProtocolError("type", f"{kind} is a message of the images view: open it first (images_open)")
    return session, session.handle(msg)
