"""One playground session: its config, the frozen problem, the learner, the selected sample, the history.

Pure Python with no I/O and no asyncio. There is one method per user action, named after the protocol's
message type (see docs/protocol.md); each returns a list of plain dict messages, built by
:mod:`backlit.playground.replies`. A binary frame is the message ``{"type": "frame", "header": {...},
"arrays": {name: float32 array}}``, which the server packs with :func:`backlit.server.protocol.pack_frame`.

    pg = Playground({"dataset": "xor", "hidden": [8]})
    pg.step()                          # one batch -> [frame]
    pg.train_for(0.01, 10_000)         # bounded work for one server tick
    header, arrays = pg.frame()

All or nothing: an action that can be refused (a bad value, a bad CSV, a session file that does not
fit) checks everything first and raises :class:`~backlit.playground.settings.ProtocolError` naming the
field before anything changes. State changes in one place, :meth:`Playground._rebuild`: a new problem
(:func:`backlit.playground.problem.build`) and a new learner, built before either is swapped in.
"""

from __future__ import annotations

import numpy as np

from . import csvdata, lessons, problem as problems, replies, settings
from .learner import Learner
from .sample import NUDGE_MAX_STEPS, NUDGE_STEP, NUDGE_WRONG_STEPS, SampleActions  # noqa: F401
from .problem import Points
from .replies import (CSVProblem, DATA, exports_menu, EXPORTS, NETWORK, SCHEMA, SESSION_FORMAT, SESSION_VERSION, STATE,  # noqa: F401
                      STATUS_DIVERGED, WEIGHTS)
from ..lab import data, fit
from ..engine import Tensor
from .settings import Limits, ProtocolError


class HistoryCursor:
    """How much of a session's loss history one viewer (one connection, one widget) has been sent."""

    __slots__ = ("generation", "sent")

    def __init__(self):
        self.generation, self.sent = -1, 0


def fresh_config(partial: dict | None = None, prefix: str = "config.") -> dict:
    """The defaults with a validated ``partial`` merged in (the cross-field rules applied once)."""
    return settings.resolve_config(settings.resolve_config(settings.default_config(), {}), partial or {}, prefix)


class Playground(SampleActions):
    """One session. ``config`` is a partial config dict (validated), ``limits`` a :class:`Limits`."""

    def __init__(self, config: dict | None = None, limits: Limits | dict | None = None):
        self.limits = Limits(**limits) if isinstance(limits, dict) else (limits or Limits())
        self.history_generation = 0
        self.playing = self.diverged = False
        self.course = lessons.Course()  # the learner's place in the course (backlit.playground.lessons)
        self._rebuild(fresh_config(settings.check_config(config or {}, self.limits)), None)

    # ---- the one place state is replaced ----------------------------------------------------------
    def _rebuild(self, config: dict, custom: Points | None, keep_selection: bool = False) -> None:
        """A new problem and learner from ``config`` and ``custom`` points, built first, then swapped in:
        epoch 0, history cleared, paused. The selection stays only when the points are the same."""
        try:
            new = problems.build(config, custom)
        except ValueError as e:  # labels that do not fit the config: checked by the actions, kept as a guard
            raise ProtocolError("config", str(e)) from None
        self.config, self.problem, self.learner = config, new, Learner(new, config)
        self.playing = self.diverged = False
        self.history: list[list] = []
        self.history_generation += 1  # viewers' cursors see the old history is gone
        if not keep_selection:
            self.selected, self._sample_pos = 0, 0
            self._sample_order = np.random.default_rng((config["seed"], 2)).permutation(new.n_train)

    # ---- what the session holds (read by the server, the widget and the tests) --------------------
    model = property(lambda self: self.learner.model)
    optimizer = property(lambda self: self.learner.optimizer)
    step_count = property(lambda self: self.learner.steps)
    samples_seen = property(lambda self: self.learner.samples)
    kind = property(lambda self: self.problem.kind)
    classes = property(lambda self: self.problem.classes)
    sizes = property(lambda self: list(self.problem.sizes))
    loss_name = property(lambda self: self.problem.loss)
    n_train = property(lambda self: self.problem.n_train)
    X_train = property(lambda self: self.problem.X_train)
    y_train = property(lambda self: self.problem.y_train)
    X_test = property(lambda self: self.problem.X_test)
    y_test = property(lambda self: self.problem.y_test)
    Xf_train = property(lambda self: self.problem.Xf_train)
    T_train = property(lambda self: self.problem.T_train)
    custom = property(lambda self: self.problem.points if self.problem.custom else None)
    status = property(replies.status)
    version = property(lambda self: self.learner.version)  # a new one on every weight change
    _version = version

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_train if self.n_train else 0.0

    # ---- training -------------------------------------------------------------------------------
    def _train_step(self) -> float:
        c = self.config
        value = self.learner.trainer.step(c["batch_size"], c["regularization"], c["reg_rate"])
        self.learner.changed()
        return value

    def train_for(self, max_seconds: float, max_samples: int = 10**9, max_steps: int = 10**9) -> list[dict]:
        """Train for at most ``max_seconds`` of wall time, ``max_samples`` samples or ``max_steps``
        optimizer steps (at least one step).

        Returns [] normally, or [state] when training diverged (the session is then paused, back at
        the weights of the call's start).
        """
        if self.diverged:
            return []
        if self.n_train == 0:
            self.playing = False
            return [self.state(), replies.no_points_error()]
        if self.learner.train(self.config, max_seconds, max_samples, max_steps):
            return []
        self.playing, self.diverged = False, True
        return [self.state()]

    _snapshot = property(lambda self: self.learner.snapshot)
    _restore = property(lambda self: self.learner.restore)
    _weights_finite = property(lambda self: self.learner.within_limits)

    # ---- reads ----------------------------------------------------------------------------------
    def metrics(self) -> dict:
        return self.learner.metrics()

    def _predict_class(self, out: np.ndarray) -> np.ndarray:
        return self.learner.predict_class(out)

    def _forward(self, Xf: np.ndarray) -> Tensor:
        return self.learner.forward(Xf)

    def record_history(self, m: dict) -> None:
        """One loss-curve point per weight version (so any number of viewers add at most one)."""
        self.learner.memo("history", lambda: self._append_history(m))

    def _append_history(self, m: dict) -> None:
        flow = self.learner.train_pass()["gradflow"]
        self.history.append([self.epoch, m["train_loss"], m["test_loss"], flow["delta"], flow["grad_W"]])
        if len(self.history) > self.limits.max_history:
            # Thin the older points 2:1 (keep the newest); viewers get the full history again.
            self.history = self.history[-1::-2][::-1]
            self.history_generation += 1

    def history_since(self, cursor: HistoryCursor) -> dict:
        """The loss-curve rows one viewer has not seen yet; advances *its* cursor, not the session.

        ``{"history": rows, "history_reset": bool}``: with reset, the rows replace the viewer's curve.
        """
        reset = cursor.generation != self.history_generation
        rows = self.history if reset else self.history[cursor.sent:]
        cursor.generation, cursor.sent = self.history_generation, len(self.history)
        return {"history": rows, "history_reset": reset}

    def frame(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The header and float32 arrays of one binary frame. A read: the loss-curve rows are added by
        the adapter from its own :class:`HistoryCursor` (:meth:`history_since`)."""
        return replies.frame(self)

    def _frame_msg(self) -> dict:
        return replies.frame_msg(self)

    def state(self, schema: bool = False) -> dict:
        return replies.state(self, schema)

    def points(self) -> dict:
        return replies.points(self)

    def url_state(self) -> str:
        return settings.to_url_state(self.config)

    def session(self) -> dict:
        return {**replies.saved(self), "course": self.course.progress()}

    # ---- dispatch -------------------------------------------------------------------------------
    def handle(self, msg: dict) -> list[dict]:
        """Run one validated message (``protocol.validate``'s output) and return the replies."""
        args = {k: v for k, v in msg.items() if k not in ("type", "id")}
        self.course.guard(msg["type"])
        replies_ = getattr(self, msg["type"])(**args)
        return self.course.withhold(replies_ + self.course.observe(self, msg["type"], replies_))

    # ---- actions: the course (backlit.playground.lessons) ---------------------------------------
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
              step=None, points=None) -> list[dict]:
        """First message of a tab (or a reconnect: with the weights, counters and the user's own points
        it had). Bad parts are reported and skipped, never fatal; all are checked before anything changes."""
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
                new = fresh_config(partial)
                break
            except ProtocolError as e:
                errors.append(e.reply())
                partial.pop(e.field.split(".")[-1], None)
        custom = None
        if points is not None:
            try:
                custom = problems.check_rows(points, *problems.kind_and_classes(new), self.limits)
            except ProtocolError as e:
                errors.append(e.reply())
        restored = None
        if weights is not None:
            try:
                restored = settings.check_weights(weights, biases, problems.sizes(new))
            except ProtocolError as e:
                errors.append(e.reply())
        self._rebuild(new, custom)
        if restored is not None:
            self.learner.set_weights(*restored, new)
            self.learner.set_counters(step, samples_seen)
        return errors + replies.after(self, SCHEMA, DATA)

    def set(self, config) -> list[dict]:
        """Change settings. Data keys regenerate the data, network keys rebuild the net (both
        re-initialise it and pause, as TF Playground does); training keys keep the weights."""
        new = settings.resolve_config(self.config, settings.check_config(config, self.limits))
        changed = {k for k in new if new[k] != self.config[k]}
        custom = None if "dataset" in changed else self.custom
        if custom is not None and "classes" in changed and len(custom) and self.kind == "multiclass":
            top = int(max(custom.y_train.max(initial=0), custom.y_test.max(initial=0)))
            if new["classes"] <= top:
                raise ProtocolError("config.classes", f"your points use classes 0..{top}: config.classes must "
                                    f"be at least {top + 1} while they are on the plane (pick a dataset to "
                                    "start afresh)")
        if changed & set(settings.GROUPS["data"]):
            self._rebuild(new, custom)
            return replies.after(self, DATA)
        if changed & set(settings.GROUPS["network"]):
            self._rebuild(new, custom, keep_selection=True)
            return replies.after(self, NETWORK)
        self.config = new
        if changed & set(settings.GROUPS["training"]):
            self.diverged = False
            if "optimizer" in changed:
                self.learner.new_optimizer(new)
            else:
                self.optimizer.lr = new["lr"]
            return replies.after(self, WEIGHTS)
        return replies.after(self, STATE)  # page-only settings, or nothing changed

    def regenerate(self) -> list[dict]:
        """New data from seed + 1 (the seed also initialises the net, so it is re-initialised too)."""
        self._rebuild({**self.config, "seed": (self.config["seed"] + 1) % (settings.MAX_SEED + 1)}, None)
        return replies.after(self, DATA)

    def reset(self) -> list[dict]:
        """Re-initialise the weights from the seed: epoch 0, history cleared, paused."""
        self._rebuild(self.config, self.custom, keep_selection=True)
        return replies.after(self, NETWORK)

    def play(self) -> list[dict]:
        self.playing, self.diverged = True, False
        return replies.after(self, STATE)

    def pause(self) -> list[dict]:
        self.playing = False
        return replies.after(self, WEIGHTS)

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
        self.learner.changed()
        return [self._frame_msg()]

    def apply_update(self, scale: float = 1.0) -> list[dict]:
        """One plain SGD step on the selected sample only: W <- W - (scale * lr) * dL/dW.

        When that step raises the sample's own loss, the reply says so and offers the largest smaller
        step, lr × 10^-k, that would lower it (``suggested_scale``; None when none of 1/10 ... 1/1000 does).
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
        self.learner.changed()
        out = []
        if not self.learner.within_limits():  # the one divergence rule: back, fresh optimizer, paused
            self._restore(snap)
            self.learner.new_optimizer(self.config)
            self.playing, self.diverged = False, True
            out.append(self.state())
        return out + [replies.update(lr, scale, self.selected, overshot, suggestion, preview), self._frame_msg()]

    # ---- actions: your own data ------------------------------------------------------------------
    def _set_custom(self, points: Points, select: int | None = None, config: dict | None = None) -> list[dict]:
        """Use these points from now on (the network is re-initialised, as for any new data)."""
        self._rebuild(config or self.config, points)
        if select is not None and 0 <= select < self.n_train:
            self.selected = select  # before the state goes out, so the page follows the new point
            return replies.after(self, DATA) + [self._selection(), self.trace()[0]]
        return replies.after(self, DATA)

    def add_point(self, x, y, label) -> list[dict]:
        """A training point of class ``label`` (a value, for regression) at (x, y); it becomes the
        selected sample, with its own trace."""
        label = problems.check_label("label", label, self.kind, self.classes)
        if self.n_train + len(self.X_test) >= self.limits.max_points:
            raise ProtocolError("data", f"the session holds at most {self.limits.max_points} points")
        p = self.problem.points
        return self._set_custom(Points.of(np.vstack([p.X_train, [[x, y]]]), np.append(p.y_train, label),
                                          p.X_test, p.y_test, self.kind), select=self.n_train)

    def remove_point(self, x, y) -> list[dict]:
        """Remove the point (training or test) nearest to (x, y), if one lies within 1 unit."""
        p, best = self.problem.points, None
        for part, X in (("train", p.X_train), ("test", p.X_test)):
            if len(X):
                d = np.hypot(X[:, 0] - x, X[:, 1] - y)
                k = int(np.argmin(d))
                if best is None or d[k] < best[0]:
                    best = (float(d[k]), part, k)
        if best is None or best[0] > 1.0:
            raise ProtocolError("point", "no point within 1 unit of where you clicked")
        _, part, k = best
        Xtr, ytr, Xte, yte = p.X_train, p.y_train, p.X_test, p.y_test
        if part == "train":
            Xtr, ytr = np.delete(Xtr, k, axis=0), np.delete(ytr, k)
        else:
            Xte, yte = np.delete(Xte, k, axis=0), np.delete(yte, k)
        return self._set_custom(Points.of(Xtr, ytr, Xte, yte, self.kind))

    def clear_points(self) -> list[dict]:
        """An empty plane, to click a dataset of your own into."""
        return self._set_custom(Points.of([], [], [], [], self.kind))

    def load_csv(self, text, rescale=False) -> list[dict]:
        """Points from CSV text (x1,x2,label or x1,x2,y), split by the train ratio and seed. The file is
        parsed and checked in full (every bad row reported by line) before anything changes."""
        kind = "regression" if self.kind == "regression" else "classification"
        try:
            # a point off the drawn plane would be an off-canvas sample: only [-6, 6]² (or rescale)
            ds = csvdata.read_csv(text, kind=kind, max_rows=self.limits.max_points, rescale=bool(rescale),
                                  limit=max(abs(v) for v in data.EXTENT))
        except csvdata.CSVError as e:
            raise CSVProblem(e) from None
        config = dict(self.config)
        if ds.kind != self.kind:  # a multiclass file on a binary set, or the other way round
            config = settings.resolve_config(config, {"dataset": next(n for n, d in data.DATASETS.items()
                                                                      if d.kind == ds.kind)})
        if ds.kind == "multiclass":
            if not 3 <= ds.classes <= 5:
                raise ProtocolError("csv", f"the file has {ds.classes} classes; the playground takes 2 to 5")
            config["classes"] = ds.classes
        if len(ds) < 2:
            raise ProtocolError("csv", "the file needs at least 2 points")
        if ds.kind == "regression" and len(ds) and np.abs(ds.y).max() > problems.LABEL_LIMIT:
            line = int(np.argmax(np.abs(ds.y) > problems.LABEL_LIMIT)) + 1
            raise ProtocolError("csv", f"data row {line}: y must be in -{problems.LABEL_LIMIT:g}.."
                                f"{problems.LABEL_LIMIT:g} (scale the targets down)")
        split = data.split(ds, train_ratio=config["train_ratio"], seed=config["seed"])
        return self._set_custom(Points.of(*split, ds.kind), config=config)

    # ---- actions: save / load -------------------------------------------------------------------
    def save(self) -> list[dict]:
        return [{"type": "session", "session": self.session()}]

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
        new = fresh_config(settings.check_config(session.get("config"), self.limits, prefix="session.config."),
                           prefix="session.config.")
        step = settings.check_int("session.step", session.get("step", 0), 0, fit.MAX_COUNT)
        seen = settings.check_int("session.samples_seen", session.get("samples_seen", 0), 0, fit.MAX_COUNT)
        Ws, bs = settings.check_weights(session.get("weights"), session.get("biases"), problems.sizes(new),
                                        name="session.weights")
        course = None
        if session.get("course") is not None:
            progress = session["course"]
            if not isinstance(progress, dict) or progress.get("format") != lessons.PROGRESS_FORMAT:
                raise ProtocolError("session.course", f"session.course must be {{'format': {lessons.PROGRESS_FORMAT}, "
                                    "'done': {lesson: [step, ...]}}")
            course = lessons.check_progress(progress.get("done"), "session.course.done")
        custom = None
        if session.get("points") is not None:
            custom = problems.check_rows(session["points"], *problems.kind_and_classes(new), self.limits,
                                         name="session.points")
        self._rebuild(new, custom)
        self.learner.set_weights(Ws, bs, new)
        self.learner.set_counters(step, seen)
        if course:
            self.course.merge(course)
        return replies.after(self, SCHEMA, DATA) + ([self.course.message(self)] if course else [])

    # ---- a model object of the caller's own (the notebook widget) ------------------------------------
    def use_model(self, model) -> list[dict]:
        """Make ``model`` (an ``nn.MLP`` that a notebook holds) the session's network, as it is: training,
        Forward/Backward and every view then work on that very object. Its sizes and activations must be
        those the config builds. Also call it after the model's weights changed outside the session (a
        new weight version, so cached metrics refresh; a fresh optimizer)."""
        sizes, acts = list(model.sizes), list(model.activations)
        if sizes != self.sizes or acts != list(self.model.activations):
            raise ProtocolError("model", f"the model is {'-'.join(map(str, sizes))} ({', '.join(acts)}); this "
                                f"session's network is {'-'.join(map(str, self.sizes))} "
                                f"({', '.join(self.model.activations)})")
        self.learner.use_model(model, self.config)
        return [self.state(), self._frame_msg()]


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
