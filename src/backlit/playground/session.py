"""One playground session: configuration, data, model, optimizer, history and the selected sample.

Pure Python with no I/O and no asyncio. There is one method per user action, named after the protocol's
message type (see docs/protocol.md); each returns a list of plain dict messages. A binary frame is the
message ``{"type": "frame", "header": {...}, "arrays": {name: float32 array}}``, which the server packs
with :func:`backlit.server.protocol.pack_frame`.

    pg = Playground({"dataset": "xor", "hidden": [8]})
    pg.step()                          # one batch -> [frame]
    pg.train_for(0.01, 10_000)         # bounded work for one server tick
    header, arrays = pg.frame()

The config table, its validation and the URL-hash form live in ``backlit.playground.settings`` (the session and
the server's protocol share the one table). Invalid input raises
:class:`~backlit.playground.settings.ProtocolError` naming the field.
"""

from __future__ import annotations

import base64
import time

import numpy as np

from . import csvdata, export, lessons, settings
from ..lab import data, trace as explain, gradflow, kinds
from .. import nn
from ..nn import optim
from ..lab.graph import neuron_graph, step_graph
from ..engine import Tensor, compile, no_grad  # noqa: A004 (backlit.compile)
from .settings import Limits, ProtocolError

SESSION_FORMAT = "backlit.session"
SESSION_VERSION = 1
STATUS_DIVERGED = "diverged: lower the learning rate or reset"
FLOAT32_MAX = float(np.finfo(np.float32).max)
GRID_RES = 100
NEURON_RES = 25
NUDGE_STEP = 0.1  # plane units per adversarial-nudge step
NUDGE_MAX_STEPS = 120
NUDGE_WRONG_STEPS = 12  # an already misclassified point walks this far deeper into the wrong class
EXPORTS = {"torch": "PyTorch script (.py)", "onnx": "ONNX model (.onnx)",
           "worked": "Worked example of this sample (.md)", "worked_blanks": "Exercise with answer key (.md)",
           "csv": "The data (.csv)"}


def exports_menu() -> dict:
    """The Export menu offers what this server can make: ONNX only with the onnx package installed;
    without it the menu shows, unselectable, how to get it."""
    import importlib.util

    if importlib.util.find_spec("onnx") is not None:
        return {"exports": EXPORTS, "exports_missing": {}}
    return {"exports": {k: v for k, v in EXPORTS.items() if k != "onnx"},
            "exports_missing": {EXPORTS["onnx"]: "pip install 'backlit[export]' where the server runs"}}


class HistoryCursor:
    """How much of a session's loss history one viewer (one connection, one widget) has been sent."""

    __slots__ = ("generation", "sent")

    def __init__(self):
        self.generation, self.sent = -1, 0


def _float(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


class Playground:
    """One session. ``config`` is a partial config dict (validated), ``limits`` a :class:`Limits`."""

    def __init__(self, config: dict | None = None, limits: Limits | dict | None = None):
        if isinstance(limits, dict):
            limits = Limits(**limits)
        self.limits = limits or Limits()
        self.config = settings.resolve_config(settings.default_config(), {})
        if config:
            self.config = settings.resolve_config(self.config, settings.check_config(config, self.limits))
        self.history_generation = 0
        self.custom: tuple | None = None  # (X_train, y_train, X_test, y_test) of points the user made
        self.playing = False
        self.diverged = False
        self.course = lessons.Course()  # the learner's place in the course (backlit.playground.lessons)
        self._build_data()
        self._build_model()

    # ---- building -------------------------------------------------------------------------------
    def _build_data(self) -> None:
        """The points: the configured dataset, or the custom points (clicked in, or from a CSV), which
        no setting but the dataset itself (or Regenerate) replaces."""
        c = self.config
        spec = data.DATASETS[c["dataset"]]
        if self.custom is not None:
            self.X_train, self.y_train, self.X_test, self.y_test = self.custom
            self.kind = spec.kind
            self.classes = c["classes"] if spec.kind == "multiclass" else (2 if spec.kind == "binary" else None)
        else:
            classes = c["classes"] if spec.kind == "multiclass" else None
            ds = data.make(c["dataset"], n=c["n_points"], noise=c["noise"], seed=c["seed"], classes=classes)
            self.kind = ds.kind
            self.classes = ds.classes  # 2 for binary, K for multiclass, None for regression
            self.X_train, self.y_train, self.X_test, self.y_test = data.split(ds, train_ratio=c["train_ratio"],
                                                                              seed=c["seed"])
        self.n_train = len(self.X_train)
        self.selected = 0
        self._sample_order = np.random.default_rng((c["seed"], 2)).permutation(self.n_train)
        self._sample_pos = 0

    def _build_model(self) -> None:
        """(Re)build the network from the config, initialised from the seed; epoch 0, history cleared."""
        c = self.config
        self.sizes = [len(c["features"])] + list(c["hidden"]) + [kinds.get(self.kind).n_outputs(self.classes)]
        self.model = nn.MLP(self.sizes, activation=c["activation"], seed=c["seed"], init=c["init"])
        self.loss_name = c["loss"]
        self.Xf_train = data.featurize(self.X_train, c["features"])
        self.Xf_test = data.featurize(self.X_test, c["features"])
        self.T_train = self._targets(self.y_train)
        self.T_test = self._targets(self.y_test)
        self._make_optimizer()
        self.step_count = 0
        self.samples_seen = 0
        self._batch_rng = np.random.default_rng((c["seed"], 1))
        self._new_epoch_order()
        self.history: list[list] = []
        self.history_generation += 1  # viewers' cursors see the old history is gone
        self._version = 0  # bumped on every weight change; caches key on it
        self._history_version = -1
        self._metrics_cache = None
        self._pass_cache = None
        self.diverged = False

    def _make_optimizer(self) -> None:
        self.optimizer = optim.make(self.config["optimizer"], self.model.parameters(), self.config["lr"])
        # the step, recorded once per batch shape and replayed as flat numpy calls (same numbers)
        self._step = compile(self._step_body)
        self._pass = compile(explain.training_pass)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Targets in the layout the loss takes: class indices for cross-entropy, else (n, 1) floats."""
        return nn.losses.targets(y, self.loss_name, len(y), self.sizes[-1])

    def _new_epoch_order(self) -> None:
        perm = self._batch_rng.permutation(self.n_train)
        self._Xp, self._Tp, self._pos = self.Xf_train[perm], self.T_train[perm], 0

    def _params(self) -> list[Tensor]:
        return self.model.parameters()

    # ---- training -------------------------------------------------------------------------------
    def _loss(self, out: Tensor, target) -> Tensor:
        return nn.loss_function(self.loss_name)(out, target)

    def _step_body(self, x: Tensor, target) -> Tensor:
        """Forward, loss (with penalty), and, when the loss is finite, backward and the update."""
        c = self.config
        loss = self._loss(self.model(x), target)
        if c["regularization"] != "none" and c["reg_rate"] > 0:
            loss = loss + c["reg_rate"] * nn.penalty(self.model, c["regularization"])
        if np.isfinite(loss.data):
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return loss

    def _train_step(self) -> float:
        """One optimizer step on the next batch; returns the batch's training loss (with penalty)."""
        c = self.config
        b = min(c["batch_size"], self.n_train)
        xb, tb = self._Xp[self._pos:self._pos + b], self._Tp[self._pos:self._pos + b]
        self._pos += len(xb)
        if self._pos >= self.n_train:
            self._new_epoch_order()
        value = float(self._step(Tensor(xb), nn.loss_class(self.loss_name).target(tb)).data)
        if not np.isfinite(value):
            return value
        self.step_count += 1
        self.samples_seen += len(xb)
        self._version += 1
        return value

    def _snapshot(self) -> tuple:
        return [p.data.copy() for p in self._params()], self.step_count, self.samples_seen

    def _restore(self, snap: tuple) -> None:
        weights, self.step_count, self.samples_seen = snap
        for p, v in zip(self._params(), weights):
            np.copyto(p.data, v)
            p.grad = None
        self._version += 1

    def _weights_finite(self) -> bool:
        """Finite *and* within settings.WEIGHT_LIMIT, the range that save, load and hello accept: a
        weight past it is divergence, so every state a session reaches can be saved and restored."""
        return all(np.all(np.abs(p.data) <= settings.WEIGHT_LIMIT) for p in self._params())

    def _diverge(self, snap: tuple) -> None:
        """Loss went non-finite or a weight left +-WEIGHT_LIMIT: back to the weights of the tick's start
        (within the limit), fresh optimizer, paused."""
        self._restore(snap)
        self._make_optimizer()
        self.playing = False
        self.diverged = True

    def train_for(self, max_seconds: float, max_samples: int = 10**9, max_steps: int = 10**9) -> list[dict]:
        """Train for at most ``max_seconds`` of wall time, ``max_samples`` samples or ``max_steps``
        optimizer steps (at least one step).

        Returns [] normally, or [state] when training diverged (the session is then paused).
        """
        if self.diverged:
            return []
        if self.n_train == 0:
            self.playing = False
            return [self.state(), {"type": "error", "field": "data",
                                   "message": "the plane has no training points: add some before training"}]
        snap = self._snapshot()
        deadline = time.perf_counter() + max_seconds
        start, first_step = self.samples_seen, self.step_count
        with np.errstate(all="ignore"):
            while True:
                loss = self._train_step()
                if not np.isfinite(loss):
                    break
                if self.samples_seen - start >= max_samples or self.step_count - first_step >= max_steps \
                        or time.perf_counter() >= deadline:
                    break
            ok = np.isfinite(loss) and self._weights_finite()
        if not ok:
            self._diverge(snap)
            return [self.state()]
        return []

    # ---- evaluation -----------------------------------------------------------------------------
    def _predict_class(self, out: np.ndarray) -> np.ndarray:
        return kinds.get(self.kind).predict(out, self.loss_name)

    def _forward(self, Xf: np.ndarray) -> Tensor:
        return Tensor(explain.forward_chunked(self.model, Xf))

    def _evaluate(self, Xf: np.ndarray, T: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
        if len(Xf) == 0:
            return None, None
        with no_grad(), np.errstate(all="ignore"):
            out = self._forward(Xf)
            loss = _float(self._loss(out, nn.loss_class(self.loss_name).target(T)).data)
            acc = None
            if self.kind != "regression":
                acc = float(np.mean(self._predict_class(out.data) == y))
        return loss, acc

    def _train_pass(self) -> dict:
        """One forward + backward over the whole training set, once per weight version.

        It gives the training loss and accuracy, and the gradient the links and halos show while
        training: the training set's mean ∂L/∂w (data loss), which changes smoothly from step to step,
        where one batch's gradient would flicker. ``scale`` is the largest |∂L/∂w| (and |δ|) any single
        training sample has right now: the page's one width scale for every view, so that two samples'
        blame, and the training view, can be compared by eye.
        """
        if self._pass_cache is not None and self._pass_cache[0] == self._version:
            return self._pass_cache[1]
        if self.n_train == 0:
            L = len(self.model.linears)
            out = {"train_loss": None, "train_acc": None, "train_grad": None, "badges": None,
                   "gradflow": {"delta": [None] * L, "grad_W": [None] * L}}
            self._pass_cache = (self._version, out)
            return out
        with np.errstate(all="ignore"):
            # recorded once, then replayed as flat numpy calls (explain.trace's numbers, less of them)
            loss, output, *rest = self._pass(self.model, Tensor(self.Xf_train), self.T_train, self.loss_name)
            L = len(self.model.linears)
            zs, acts, deltas, grads_W, grads_b = (rest[i * L:(i + 1) * L] for i in range(5))
            # the recorded δ are of the mean loss: one sample's own δ is n times larger
            n = self.n_train
            a_in = [self.Xf_train, *acts[:-1]]
            per_w = n * max(float((np.abs(d).max(axis=1) * np.abs(a).max(axis=1)).max()) for d, a in zip(deltas, a_in))
            per_delta = n * max(float(np.abs(d).max()) for d in deltas)
        acc = None if self.kind == "regression" else float(np.mean(self._predict_class(output) == self.y_train))
        with np.errstate(all="ignore"):
            flow = gradflow.layer_norms(deltas, grads_W)
            badges = gradflow.badges(zs[:-1], self.model.activations[:-1])
        # badges: None when no neuron has one (the usual case: nothing to send)
        out = {"train_loss": _float(loss), "train_acc": acc, "gradflow": settings.json_safe(flow),
               "badges": badges if any(map(any, badges)) else None,
               "train_grad": {"grad_W": grads_W, "grad_b": grads_b,
                              "scale": {"grad_W": _float(per_w), "delta": _float(per_delta)}}}
        self._pass_cache = (self._version, out)
        return out

    def metrics(self) -> dict:
        """Train/test loss (data loss only, no penalty) and accuracy (None for regression)."""
        if self._metrics_cache is None or self._metrics_cache[0] != self._version:
            train = self._train_pass()
            sl, sa = self._evaluate(self.Xf_test, self.T_test, self.y_test)
            m = {"train_loss": train["train_loss"], "test_loss": sl, "train_acc": train["train_acc"], "test_acc": sa}
            self._metrics_cache = (self._version, m)
        return dict(self._metrics_cache[1])

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_train if self.n_train else 0.0

    def _record_history(self, m: dict) -> None:
        """One loss-curve point per weight version (so any number of viewers add at most one)."""
        if self._history_version == self._version:
            return
        self._history_version = self._version
        flow = self._train_pass()["gradflow"]
        self.history.append([self.epoch, m["train_loss"], m["test_loss"], flow["delta"], flow["grad_W"]])
        if len(self.history) > self.limits.max_history:
            # Thin the older points 2:1 (keep the newest); viewers get the full history again.
            self.history = self.history[-1::-2][::-1]
            self.history_generation += 1

    def history_since(self, cursor: "HistoryCursor") -> dict:
        """The loss-curve rows one viewer has not seen yet; advances *its* cursor, not the session.

        ``{"history": rows, "history_reset": bool}``: with reset, the rows replace the viewer's curve.
        """
        reset = cursor.generation != self.history_generation
        rows = self.history if reset else self.history[cursor.sent:]
        cursor.generation, cursor.sent = self.history_generation, len(self.history)
        return {"history": rows, "history_reset": reset}

    def _output_maps(self, out: np.ndarray) -> np.ndarray:
        """Raw outputs (..., K) -> what the boundary shows: P(class 1), class probabilities or values."""
        return kinds.get(self.kind).display(out, self.loss_name)

    def frame(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The header and float32 arrays of one binary frame (layout in docs/protocol.md).

        A read: the loss-curve rows are added by the adapter from its own :class:`HistoryCursor`
        (:meth:`history_since`), so two viewers of one session never take history from each other."""
        with np.errstate(all="ignore"):
            g = explain.grid(self.model, extent=data.EXTENT, resolution=GRID_RES,
                             neuron_resolution=NEURON_RES, features=self.config["features"],
                             dtype=np.float32)  # drawn at 8 bits: float32 is plenty, and cheaper
            fine = self._output_maps(g.output)  # (res, res, K)
            coarse = self._output_maps(np.moveaxis(g.output_neurons, 0, -1))  # (nr, nr, K)
            arrays: dict[str, np.ndarray] = {}
            if self.kind == "multiclass":
                arrays["boundary"] = fine.argmax(axis=-1).astype(np.float32)
                arrays["confidence"] = fine.max(axis=-1).astype(np.float32)
            else:
                arrays["boundary"] = fine[..., 0].astype(np.float32)
            arrays["neurons"] = np.concatenate(
                [g.inputs, *g.neurons, np.moveaxis(coarse, -1, 0)], axis=0).astype(np.float32)
            for name, a in arrays.items():
                if not np.isfinite(a).all():  # huge (but finite) weights can overflow float32
                    arrays[name] = np.nan_to_num(a, nan=0.0, posinf=FLOAT32_MAX, neginf=-FLOAT32_MAX)
        m = self.metrics()
        self._record_history(m)
        header = {"type": "frame", "epoch": self.epoch, "samples_seen": self.samples_seen,
                  "step": self.step_count, **m,
                  "weights": [lin.weight.data.tolist() for lin in self.model.linears],
                  "biases": [lin.bias.data.tolist() for lin in self.model.linears],
                  "train_grad": settings.json_safe(self._train_pass()["train_grad"]),
                  "badges": self._train_pass()["badges"],
                  "playing": self.playing, "diverged": self.diverged,
                  "status": self.status}
        return header, arrays

    def _frame_msg(self) -> dict:
        header, arrays = self.frame()
        return {"type": "frame", "header": header, "arrays": arrays}

    # ---- state messages -------------------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.diverged:
            return STATUS_DIVERGED
        if self.playing:
            return "training"
        return "paused" if self.step_count else "ready"

    def state(self, schema: bool = False) -> dict:
        msg = {"type": "state", "config": dict(self.config), "url_state": settings.to_url_state(self.config),
               "limits": self.limits.to_dict(),
               "playing": self.playing, "diverged": self.diverged, "status": self.status,
               "epoch": self.epoch, "samples_seen": self.samples_seen, "step": self.step_count,
               "param_count": sum(p.data.size for p in self._params()), "sizes": list(self.sizes),
               "activations": list(self.model.activations), "problem": self.config["problem"],
               "kind": self.kind, "classes": self.classes, "selected": self.selected,
               "n_train": self.n_train, "n_test": len(self.X_test),
               "gradflow_layers": gradflow.layer_names(len(self.model.linears)),
               "custom_data": self.custom is not None}
        if schema:
            msg["schema"] = {**settings.schema(self.limits), **exports_menu(), "course": lessons.schema()}
        return msg

    def points(self) -> dict:
        def rows(X, y):
            lab = y.tolist()
            return [[float(a), float(b), v] for (a, b), v in zip(X.tolist(), lab)]

        return {"type": "points", "train": rows(self.X_train, self.y_train),
                "test": rows(self.X_test, self.y_test), "kind": self.kind, "classes": self.classes}

    def url_state(self) -> str:
        return settings.to_url_state(self.config)

    # ---- dispatch -------------------------------------------------------------------------------
    def handle(self, msg: dict) -> list[dict]:
        """Run one validated message (``protocol.validate``'s output) and return the replies."""
        args = {k: v for k, v in msg.items() if k not in ("type", "id")}
        self.course.guard(msg["type"])
        replies = getattr(self, msg["type"])(**args)
        return self.course.withhold(replies + self.course.observe(self, msg["type"], replies))

    # ---- actions: the course (backlit.playground.lessons) --------------------------------------------------
    def lesson_open(self, lesson, step=0) -> list[dict]:
        return self.course.open(self, lesson, step)

    def lesson_answer(self, answer) -> list[dict]:
        return self.course.answer(self, answer)

    def lesson_event(self, event) -> list[dict]:
        return self.course.event(self, event)

    def lesson_leave(self) -> list[dict]:
        return self.course.leave(self)

    def lesson_progress(self, done) -> list[dict]:
        return self.course.restore(self, done)

    def lesson_expr(self, text, values, wrt=None) -> list[dict]:
        return self.course.draw(self, text, values, wrt)

    def lesson_poll(self) -> list[dict]:
        """While training: the open lesson's live goal, when it is met or its progress changed."""
        return self.course.poll(self)

    # ---- actions: session -----------------------------------------------------------------------
    def hello(self, config=None, url_state=None, weights=None, biases=None, samples_seen=None,
              step=None) -> list[dict]:
        """First message of a tab (or a reconnect). Bad parts are reported and skipped, never fatal."""
        errors: list[dict] = []
        partial: dict = {}
        if url_state:
            pairs = [p for p in str(url_state).lstrip("#").split("&") if p]
            partial.update(_lenient(lambda t: settings.from_url_state(t, self.limits), url_state, pairs, errors))
        if config:
            items = [{k: v} for k, v in config.items()] if isinstance(config, dict) else []
            partial.update(_lenient(lambda c: settings.check_config(c, self.limits), config, items, errors))
        for _ in range(len(partial) + 1):
            try:
                self.config = settings.resolve_config(settings.resolve_config(settings.default_config(), {}), partial)
                break
            except ProtocolError as e:
                errors.append(e.reply())
                partial.pop(e.field.split(".")[-1], None)
        self.playing = False
        self._build_data()
        self._build_model()
        if weights is not None:
            try:
                self._set_weights(*settings.check_weights(weights, biases, self.sizes))
                if samples_seen is not None:
                    self.samples_seen = samples_seen
                if step is not None:
                    self.step_count = step
            except ProtocolError as e:
                errors.append(e.reply())
        return errors + [self.state(schema=True), self.points(), self._frame_msg()]

    def _set_weights(self, Ws, bs) -> None:
        for lin, W, b in zip(self.model.linears, Ws, bs):
            np.copyto(lin.weight.data, W)
            np.copyto(lin.bias.data, b)
        self._make_optimizer()
        self._version += 1

    def set(self, config) -> list[dict]:
        """Change settings. Data keys regenerate the data, network keys rebuild the net (both
        re-initialise it and pause, as TF Playground does); training keys keep the weights."""
        partial = settings.check_config(config, self.limits)
        new = settings.resolve_config(self.config, partial)
        changed = {k for k in new if new[k] != self.config[k]}
        self.config = new
        if "dataset" in changed:
            self.custom = None  # picking a dataset replaces custom points
        if changed & set(settings.GROUPS["data"]):
            self.playing = False
            self._build_data()
            self._build_model()
            return [self.state(), self.points(), self._frame_msg()]
        if changed & set(settings.GROUPS["network"]):
            self.playing = False
            self._build_model()
            return [self.state(), self._frame_msg()]
        if changed & set(settings.GROUPS["training"]):
            self.diverged = False
            if "optimizer" in changed:
                self._make_optimizer()
            else:
                self.optimizer.lr = new["lr"]
            return [self.state(), self._frame_msg()]
        return [self.state()]  # page-only settings, or nothing changed

    def regenerate(self) -> list[dict]:
        """New data from seed + 1 (the seed also initialises the net, so it is re-initialised too)."""
        self.config["seed"] = (self.config["seed"] + 1) % (settings.MAX_SEED + 1)
        self.playing = False
        self.custom = None
        self._build_data()
        self._build_model()
        return [self.state(), self.points(), self._frame_msg()]

    def reset(self) -> list[dict]:
        """Re-initialise the weights from the seed: epoch 0, history cleared, paused."""
        self.playing = False
        self._build_model()
        return [self.state(), self._frame_msg()]

    def play(self) -> list[dict]:
        self.playing = True
        self.diverged = False
        return [self.state()]

    def pause(self) -> list[dict]:
        self.playing = False
        return [self.state(), self._frame_msg()]

    def step(self) -> list[dict]:
        """One batch. A divergence restores the weights and also sends the state."""
        self.diverged = False
        was_playing, self.playing = self.playing, False
        out = self.train_for(0.0, 1)
        self.playing = was_playing and not self.diverged
        return out + [self._frame_msg()]

    def set_weight(self, layer, i, j, value) -> list[dict]:
        """W_layer[i, j] = value, or b_layer[i] = value when j == "bias"."""
        self._check_index(layer, i, j)
        lin = self.model.linears[layer]
        if j == "bias":
            lin.bias.data[i] = value
        else:
            lin.weight.data[i, j] = value
        self._version += 1
        return [self._frame_msg()]

    def _check_index(self, layer, i, j=None) -> None:
        L = len(self.model.linears)
        if not 0 <= layer < L:
            raise ProtocolError("layer", f"layer must be in 0..{L - 1} (this network has {L} weight layers)")
        out, inp = self.model.linears[layer].weight.shape
        if not 0 <= i < out:
            raise ProtocolError("i", f"i must be in 0..{out - 1} (layer {layer} has {out} neurons)")
        if j is not None and j != "bias" and not 0 <= j < inp:
            raise ProtocolError("j", f"j must be in 0..{inp - 1} or \"bias\" (layer {layer} has {inp} inputs)")

    # ---- actions: one sample --------------------------------------------------------------------
    def _selection(self) -> dict:
        self._require_points()
        x = self.X_train[self.selected]
        return {"type": "selection", "index": int(self.selected), "point": [float(x[0]), float(x[1])],
                "label": self.y_train[self.selected].item()}

    def select(self, index) -> list[dict]:
        if not 0 <= index < self.n_train:
            raise ProtocolError("index", f"index must be in 0..{self.n_train - 1} (the training samples)")
        self.selected = int(index)
        return [self._selection(), self.trace()[0]]

    def select_point(self, x, y) -> list[dict]:
        self._require_points()
        d = (self.X_train[:, 0] - x) ** 2 + (self.X_train[:, 1] - y) ** 2
        return self.select(int(np.argmin(d)))

    def next_sample(self) -> list[dict]:
        """The next training sample in a seeded order (a permutation of the training set)."""
        self._require_points()
        self.selected = int(self._sample_order[self._sample_pos % self.n_train])
        self._sample_pos += 1
        return [self._selection(), self.trace()[0]]

    def _target_of(self, index: int):
        y = self.y_train[index]
        return int(y) if self.kind != "regression" else float(y)

    def _require_points(self) -> None:
        if self.n_train == 0:
            raise ProtocolError("data", "the plane has no training points: add some (Edit data) or pick a dataset")

    def _trace(self, x=None, y=None) -> explain.Trace:
        if x is None:
            self._require_points()
            x, y = self.X_train[self.selected], self._target_of(self.selected)
        with np.errstate(all="ignore"):
            return explain.trace(self.model, x, y, loss=self.loss_name, features=self.config["features"],
                                 train_X=self.X_train, train_y=self.y_train)

    def trace(self) -> list[dict]:
        """Forward + backward of the selected sample, and the cost meter's figures. (No preview of an
        update: Apply this update computes its own, only when pressed.)"""
        tr = self._trace()
        with np.errstate(all="ignore"):
            d = tr.to_dict(cost=True)
        d["index"] = int(self.selected)
        return [{"type": "trace", "trace": d}]

    def blame(self, layer, i, j) -> list[dict]:
        self._check_index(layer, i, j)
        return [{"type": "blame", **self._trace().blame(layer, i, j).to_dict()}]

    def neuron(self, layer, i) -> list[dict]:
        if layer == -1:
            n = self.sizes[0]
            if not 0 <= i < n:
                raise ProtocolError("i", f"i must be in 0..{n - 1} (there are {n} inputs)")
        else:
            self._check_index(layer, i)
        return [{"type": "neuron", **self._trace().neuron(layer, i)}]

    def check(self, layer, i, j) -> list[dict]:
        self._check_index(layer, i, j)
        try:
            with np.errstate(all="ignore"):
                result = self._trace().check(layer, i, j)
        except explain.Unresolvable as e:
            raise ProtocolError("j", str(e)) from None
        return [{"type": "check", **settings.json_safe(result)}]

    def nudge(self) -> list[dict]:
        """An adversarial example: walk a copy of the selected point along +∂L/∂x, uphill on the loss
        of its *true* label (the opposite of the −∂L/∂x arrow), in steps of NUDGE_STEP.

        A correctly classified point walks until its predicted class flips; one that is already
        misclassified walks NUDGE_WRONG_STEPS steps deeper into the wrong class. Either walk also stops
        at the edge of the plane or after NUDGE_MAX_STEPS. ``losses`` is the true-label loss at every
        point of the path: it rises.
        """
        self._require_points()
        x = self.X_train[self.selected].astype(np.float64).copy()
        target = self._target_of(self.selected)
        cls = self._class_at(x)
        wrong = self.kind != "regression" and cls != target
        path, flipped, to_class = [x.tolist()], False, cls
        tr = self._trace(x, target)
        losses = [tr.loss]
        lo, hi = data.EXTENT
        for _ in range(NUDGE_WRONG_STEPS if wrong else NUDGE_MAX_STEPS):
            g = np.asarray(tr.input_grad, dtype=np.float64)
            norm = float(np.hypot(*g))
            if not np.isfinite(norm) or norm == 0.0:
                break
            x = np.clip(x + NUDGE_STEP * g / norm, lo, hi)
            path.append(x.tolist())
            tr = self._trace(x, target)
            losses.append(tr.loss)
            if self.kind != "regression":
                to_class = self._class_at(x)
                if not wrong and to_class != cls:
                    flipped = True
                    break
            if x[0] in (lo, hi) or x[1] in (lo, hi):
                break
        return [{"type": "nudge", "index": int(self.selected), "path": path, "flipped": flipped,
                 "from_class": cls, "to_class": to_class if self.kind != "regression" else None,
                 "true_label": target, "already_wrong": wrong, "losses": settings.json_safe(losses),
                 "steps": len(path) - 1}]

    def graph(self) -> list[dict]:
        """The selected sample's training step as the engine recorded it, op by op (backlit.graph)."""
        c = self.config
        self._require_points()
        with np.errstate(all="ignore"):
            g = step_graph(self.model, self.X_train[self.selected], self._target_of(self.selected),
                                        loss=self.loss_name, features=c["features"],
                                        regularization=c["regularization"], reg_rate=c["reg_rate"])
        return [{"type": "graph", "graph": g.to_dict()}]

    def graph_zoom(self, layer, neuron) -> list[dict]:
        """One neuron of the selected sample's step as micrograd draws it: each wᵢ·aᵢ, their sum, + b,
        the activation, run through the engine on scalars."""
        self._check_index(layer, neuron)
        with np.errstate(all="ignore"):
            g = neuron_graph(self._trace(), layer, neuron)
        return [{"type": "graph_zoom", "graph": g.to_dict()}]

    def code(self) -> list[dict]:
        """The current network, loss and optimizer as 10-15 lines of runnable PyTorch (one training
        step on a few of this session's points), for the explanation panel."""
        return [{"type": "code", "language": "python", "text": export.pytorch_code(self.config)}]

    def export(self, format) -> list[dict]:
        """A file to download: the model as a PyTorch script or ONNX, the selected sample's worked
        example (with numbers, or with blanks and an answer key), or the data as CSV."""
        stem = f"backlit-{self.config['dataset']}"
        if format != "csv":
            self._require_points()
        if format == "torch":
            body, name = export.pytorch_script(self.config, self.model, self.X_train, self.y_train), f"{stem}.py"
        elif format == "onnx":
            try:
                blob = export.onnx_bytes(self.model, self.config["features"], self.loss_name)
            except ImportError:
                raise ProtocolError("format", "ONNX export needs the onnx package on the server: "
                                    "pip install 'backlit[export]'") from None
            except ValueError as e:  # a registry row with no ONNX spelling says so
                raise ProtocolError("format", str(e)) from None
            return [{"type": "export", "format": format, "filename": f"{stem}.onnx",
                     "mime": "application/octet-stream", "base64": base64.b64encode(blob).decode("ascii")}]
        elif format in ("worked", "worked_blanks"):
            with np.errstate(all="ignore"):
                body = self._trace().to_markdown(blanks=format == "worked_blanks")
            name = f"{stem}-sample{self.selected}{'-exercise' if format == 'worked_blanks' else ''}.md"
        else:  # csv
            X = np.concatenate([self.X_train, self.X_test])
            y = np.concatenate([self.y_train, self.y_test])
            body, name = csvdata.to_csv(X, y, self.kind), f"{stem}.csv"
        return [{"type": "export", "format": format, "filename": name, "mime": "text/plain", "text": body}]

    def saliency(self) -> list[dict]:
        """∂L/∂x of every training point, each for its own loss, from ONE batched backward pass: the
        saliency field the page draws as arrows (−∂L/∂x: where each point would move to fit better)."""
        self._require_points()
        with np.errstate(all="ignore"):
            tr = explain.trace(self.model, self.X_train, self.y_train, loss=self.loss_name,
                               features=self.config["features"])
        # the pass is of the mean loss; each point's own gradient is n times its row
        return [{"type": "saliency", "grad": settings.json_safe(tr.input_grad * self.n_train)}]

    def _class_at(self, x: np.ndarray):
        if self.kind == "regression":
            return None
        with no_grad(), np.errstate(all="ignore"):
            out = self.model(Tensor(data.featurize(x[None], self.config["features"]))).data
        return int(self._predict_class(out)[0])

    def apply_update(self, scale: float = 1.0) -> list[dict]:
        """One plain SGD step on the selected sample only: W <- W - (scale * lr) * dL/dW.

        When that step raises the sample's own loss (one full step on one sample can jump past the
        minimum along the gradient), the reply says so and offers the largest smaller step, lr × 10^-k,
        that would lower it (``suggested_scale``; None when none of 1/10 ... 1/1000 does).
        """
        lr = self.config["lr"] * scale
        tr = self._trace()
        with np.errstate(all="ignore"):
            preview = tr.preview(lr)
            overshot = bool(preview["sample_loss_after"] > preview["sample_loss_before"])
            suggestion = None
            if overshot:
                for k in (0.1, 0.01, 0.001):
                    smaller = tr.preview(lr * k)
                    if smaller["sample_loss_after"] < smaller["sample_loss_before"]:
                        suggestion = {"suggested_scale": scale * k, "suggested_loss": smaller["sample_loss_after"]}
                        break
            snap = self._snapshot()
            for lin, lt in zip(self.model.linears, tr.layers):
                lin.weight.data -= lr * lt.grad_W
                lin.bias.data -= lr * lt.grad_b
        self._version += 1
        out = []
        if not self._weights_finite():
            self._diverge(snap)
            out.append(self.state())
        keys = ("sample_loss_before", "sample_loss_after", "train_loss_before", "train_loss_after")
        update = {"type": "update", "lr": lr, "scale": scale, "index": int(self.selected), "overshot": overshot,
                  "suggested_scale": None, "suggested_loss": None,
                  **settings.json_safe(suggestion or {}), **{k: settings.json_safe(preview.get(k)) for k in keys}}
        return out + [update, self._frame_msg()]

    # ---- actions: your own data ------------------------------------------------------------------
    def _set_custom(self, X_train, y_train, X_test, y_test, select: int | None = None) -> list[dict]:
        """Use these points from now on (the network is re-initialised, as for any new data)."""
        self.custom = (np.asarray(X_train, np.float64).reshape(-1, 2), np.asarray(y_train),
                       np.asarray(X_test, np.float64).reshape(-1, 2), np.asarray(y_test))
        self.playing = False
        self._build_data()
        self._build_model()
        if select is not None and 0 <= select < self.n_train:
            self.selected = select  # before the state goes out, so the page follows the new point
            return [self.state(), self.points(), self._frame_msg(), self._selection(), self.trace()[0]]
        return [self.state(), self.points(), self._frame_msg()]

    def _label(self, label):
        if self.kind == "regression":
            return settings.check_float("label", label, -1e3, 1e3)
        return settings.check_int("label", label, 0, self.classes - 1)

    def add_point(self, x, y, label) -> list[dict]:
        """A training point of class ``label`` (a value, for regression) at (x, y); it becomes the
        selected sample, with its own trace."""
        label = self._label(label)
        if self.n_train + len(self.X_test) >= self.limits.max_points:
            raise ProtocolError("data", f"the session holds at most {self.limits.max_points} points")
        dtype = np.float64 if self.kind == "regression" else np.int64
        X = np.vstack([self.X_train, [[x, y]]])
        ys = np.concatenate([self.y_train, np.array([label], dtype=dtype)])
        return self._set_custom(X, ys, self.X_test, self.y_test, select=len(X) - 1)

    def remove_point(self, x, y) -> list[dict]:
        """Remove the point (training or test) nearest to (x, y), if one lies within 1 unit."""
        best = None
        for part, X in (("train", self.X_train), ("test", self.X_test)):
            if len(X):
                d = np.hypot(X[:, 0] - x, X[:, 1] - y)
                k = int(np.argmin(d))
                if best is None or d[k] < best[0]:
                    best = (float(d[k]), part, k)
        if best is None or best[0] > 1.0:
            raise ProtocolError("point", "no point within 1 unit of where you clicked")
        _, part, k = best
        Xtr, ytr, Xte, yte = self.X_train, self.y_train, self.X_test, self.y_test
        if part == "train":
            Xtr, ytr = np.delete(Xtr, k, axis=0), np.delete(ytr, k)
        else:
            Xte, yte = np.delete(Xte, k, axis=0), np.delete(yte, k)
        return self._set_custom(Xtr, ytr, Xte, yte)

    def clear_points(self) -> list[dict]:
        """An empty plane, to click a dataset of your own into."""
        empty = np.zeros((0, 2))
        dtype = np.float64 if self.kind == "regression" else np.int64
        return self._set_custom(empty, np.zeros(0, dtype), empty, np.zeros(0, dtype))

    def load_csv(self, text, rescale=False) -> list[dict]:
        """Points from CSV text (x1,x2,label or x1,x2,y), split by the train ratio and seed. Every bad
        row is reported by line; a bad file changes nothing."""
        kind = "regression" if self.kind == "regression" else "classification"
        try:
            # a point off the drawn plane would be an off-canvas sample: only [-6, 6]² (or rescale)
            ds = csvdata.read_csv(text, kind=kind, max_rows=self.limits.max_points, rescale=bool(rescale),
                                  limit=max(abs(v) for v in data.EXTENT))
        except csvdata.CSVError as e:
            raise CSVProblem(e) from None
        if ds.kind != self.kind:  # a multiclass file on a binary set, or the other way round
            name = next(n for n, d in data.DATASETS.items() if d.kind == ds.kind)
            self.config = settings.resolve_config(self.config, {"dataset": name})
        if ds.kind == "multiclass":
            if not 3 <= ds.classes <= 5:
                raise ProtocolError("csv", f"the file has {ds.classes} classes; the playground takes 2 to 5")
            self.config["classes"] = ds.classes
        if len(ds) < 2:
            raise ProtocolError("csv", "the file needs at least 2 points")
        split = data.split(ds, train_ratio=self.config["train_ratio"], seed=self.config["seed"])
        return self._set_custom(*split)

    # ---- actions: save / load -------------------------------------------------------------------
    def save(self) -> list[dict]:
        return [{"type": "session", "session": self.session()}]

    def session(self) -> dict:
        """The session as JSON-ready data: config, weights and counters (versioned)."""
        return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "config": dict(self.config),
                "sizes": list(self.sizes),
                "weights": [lin.weight.data.tolist() for lin in self.model.linears],
                "biases": [lin.bias.data.tolist() for lin in self.model.linears],
                "step": self.step_count, "samples_seen": self.samples_seen, "epoch": self.epoch,
                "course": self.course.progress(),
                **({"points": {k: v for k, v in self.points().items() if k in ("train", "test")}}
                   if self.custom is not None else {})}

    def _check_points(self, points, kind: str, classes) -> tuple:
        """Saved custom points {"train": [[x, y, label], ...], "test": [...]} -> the four arrays."""
        name = "session.points"
        if not isinstance(points, dict) or not all(isinstance(points.get(k), list) for k in ("train", "test")):
            raise ProtocolError(name, f"{name} must be {{'train': [[x, y, label], ...], 'test': [...]}}")
        if len(points["train"]) + len(points["test"]) > self.limits.max_points:
            raise ProtocolError(name, f"{name} holds more than {self.limits.max_points} points")
        out = []
        for part in ("train", "test"):
            X, y = [], []
            for k, row in enumerate(points[part]):
                where = f"{name}.{part}[{k}]"
                if not isinstance(row, list) or len(row) != 3:
                    raise ProtocolError(where, f"{where} must be [x, y, label]")
                X.append([settings.check_float(where, row[0], -settings.PLANE_LIMIT, settings.PLANE_LIMIT),
                          settings.check_float(where, row[1], -settings.PLANE_LIMIT, settings.PLANE_LIMIT)])
                y.append(settings.check_float(where, row[2], -1e3, 1e3) if kind == "regression"
                         else settings.check_int(where, row[2], 0, classes - 1))
            out += [np.asarray(X, np.float64).reshape(-1, 2),
                    np.asarray(y, np.float64 if kind == "regression" else np.int64)]
        return tuple(out)

    def load(self, session) -> list[dict]:
        """Restore a saved session. Everything is validated before anything changes."""
        if not isinstance(session, dict):
            raise ProtocolError("session", "session must be an object saved by the Save button")
        if session.get("format") != SESSION_FORMAT:
            raise ProtocolError("session.format", f"not a backlit session file (format must be {SESSION_FORMAT!r})")
        version = session.get("version")
        if version != SESSION_VERSION or isinstance(version, bool):
            raise ProtocolError("session.version", f"session version {settings._describe(version)} is not supported "
                                f"(this backlit reads version {SESSION_VERSION})")
        config = session.get("config")
        partial = settings.check_config(config, self.limits, prefix="session.config.")
        new = settings.resolve_config(settings.resolve_config(settings.default_config(), {}), partial, prefix="session.config.")
        step = settings.check_int("session.step", session.get("step", 0), 0, 2**53 - 1)
        seen = settings.check_int("session.samples_seen", session.get("samples_seen", 0), 0, 2**53 - 1)
        n_out = kinds.get(data.DATASETS[new["dataset"]].kind).n_outputs(new["classes"])
        sizes = [len(new["features"])] + list(new["hidden"]) + [n_out]
        Ws, bs = settings.check_weights(session.get("weights"), session.get("biases"), sizes, name="session.weights")
        course = None
        if session.get("course") is not None:
            progress = session["course"]
            if not isinstance(progress, dict) or progress.get("format") != lessons.PROGRESS_FORMAT:
                raise ProtocolError("session.course", f"session.course must be {{'format': {lessons.PROGRESS_FORMAT}, "
                                    "'done': {lesson: [step, ...]}}")
            course = lessons.check_progress(progress.get("done"), "session.course.done")
        custom = None
        if session.get("points") is not None:
            kind = data.DATASETS[new["dataset"]].kind
            custom = self._check_points(session["points"], kind, new["classes"] if kind == "multiclass" else 2)
        self.config = new
        self.custom = custom
        self.playing = False
        self._build_data()
        self._build_model()
        self._set_weights(Ws, bs)
        self.step_count, self.samples_seen = step, seen
        if course:
            self.course.merge(course)
        return [self.state(schema=True), self.points(), self._frame_msg()] + ([self.course.message(self)] if course else [])

    # ---- a model object of the caller's own (the notebook widget) ------------------------------------
    def use_model(self, model) -> list[dict]:
        """Make ``model`` (an ``nn.MLP`` that a notebook holds) the session's network, as it is: training,
        Forward/Backward and every view then work on that very object. Its sizes and activations must be
        those the config builds. Also call it after the model's weights changed outside the session (a
        new weight version, so cached metrics refresh; a fresh optimizer)."""
        sizes, acts = list(model.sizes), list(model.activations)
        if sizes != list(self.sizes) or acts != list(self.model.activations):
            raise ProtocolError("model", f"the model is {'-'.join(map(str, sizes))} ({', '.join(acts)}); this "
                                f"session's network is {'-'.join(map(str, self.sizes))} "
                                f"({', '.join(self.model.activations)})")
        self.model = model
        self._make_optimizer()
        self._version += 1
        return [self.state(), self._frame_msg()]


class CSVProblem(ProtocolError):
    """A CSV that cannot be loaded: one error reply listing every bad line (and the rescale offer)."""

    def __init__(self, err):
        super().__init__("csv", str(err))
        self.details = err.to_dict()

    def reply(self, reply_to: int | None = None) -> dict:
        return {**super().reply(reply_to), **self.details}


def _lenient(parse, whole, pieces: list, errors: list) -> dict:
    """``parse(whole)``; if that fails, keep every piece (one URL pair, one config key) that parses on
    its own, and report each piece that does not (or the whole's error if no single piece is to blame)."""
    try:
        return parse(whole)
    except ProtocolError as e:
        first = e.reply()
    good: dict = {}
    bad: list = []
    for piece in pieces:
        try:
            good.update(parse(piece))
        except ProtocolError as e:
            bad.append(e.reply())
    errors.extend(bad or [first])
    return good
