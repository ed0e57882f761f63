"""The session's actions on one sample, and its reads of the network: select a sample, its trace,
the inspector's blame, neuron and Check it, the adversarial nudge, the step's graph, the code, the
exports and the saliency field. None of them changes the problem or the weights (only which sample
is selected); :class:`~backlit.playground.session.Playground` inherits them.
"""

from __future__ import annotations

import base64

import numpy as np

from . import csvdata, export, replies, settings
from ..engine import Tensor, no_grad
from ..lab import data, graph as graph_module, trace as explain
from .settings import ProtocolError

NUDGE_STEP = 0.1  # plane units per adversarial-nudge step
NUDGE_MAX_STEPS = 120
NUDGE_WRONG_STEPS = 12  # an already misclassified point walks this far deeper into the wrong class


class SampleActions:
    """Needs ``problem``, ``learner``, ``model``, ``config`` and ``selected`` (the session's)."""

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
        return replies.selection(self)

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
            raise ProtocolError("data", replies.NO_POINTS)

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
        return [replies.trace(self._trace(), self.selected)]

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

    def _class_at(self, x: np.ndarray):
        if self.kind == "regression":
            return None
        with no_grad(), np.errstate(all="ignore"):
            out = self.model(Tensor(data.featurize(x[None], self.config["features"]))).data
        return int(self._predict_class(out)[0])

    def nudge(self) -> list[dict]:
        """An adversarial example: walk a copy of the selected point along +∂L/∂x, uphill on the loss
        of its *true* label, in steps of NUDGE_STEP, until its predicted class flips (an already
        misclassified point walks NUDGE_WRONG_STEPS deeper), the plane's edge, or NUDGE_MAX_STEPS."""
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
        return [replies.nudge(self.selected, path, flipped, cls, to_class if self.kind != "regression" else None,
                              target, wrong, losses)]

    def graph(self) -> list[dict]:
        """The selected sample's training step as the engine recorded it, op by op (backlit.graph)."""
        c = self.config
        self._require_points()
        with np.errstate(all="ignore"):
            g = graph_module.step_graph(self.model, self.X_train[self.selected], self._target_of(self.selected),
                                        loss=self.loss_name, features=c["features"],
                                        regularization=c["regularization"], reg_rate=c["reg_rate"])
        return [{"type": "graph", "graph": g.to_dict()}]

    def graph_zoom(self, layer, neuron) -> list[dict]:
        """One neuron of the selected sample's step as micrograd draws it: each wᵢ·aᵢ, their sum, + b,
        the activation, run through the engine on scalars."""
        self._check_index(layer, neuron)
        with np.errstate(all="ignore"):
            g = graph_module.neuron_graph(self._trace(), layer, neuron)
        return [{"type": "graph_zoom", "graph": g.to_dict()}]

    def code(self) -> list[dict]:
        """The current network, loss and optimizer as 10-15 lines of runnable PyTorch."""
        return [{"type": "code", "language": "python", "text": export.pytorch_code(self.config)}]

    def export(self, format) -> list[dict]:
        """A file to download: the model as a PyTorch script or ONNX, the selected sample's worked
        example (with numbers, or with blanks and an answer key), or the data as CSV."""
        stem = f"backlit-{self.config['dataset']}"
        if format != "csv":
            self._require_points()
        if format == "torch":
            return [replies.export_text(format, f"{stem}.py",
                                        export.pytorch_script(self.config, self.model, self.X_train, self.y_train))]
        if format == "onnx":
            try:
                blob = export.onnx_bytes(self.model, self.config["features"], self.loss_name)
            except ImportError:
                raise ProtocolError("format", "ONNX export needs the onnx package on the server: "
                                    "pip install 'backlit[export]'") from None
            except ValueError as e:  # a registry row with no ONNX spelling says so
                raise ProtocolError("format", str(e)) from None
            return [replies.export_blob(format, f"{stem}.onnx", base64.b64encode(blob).decode("ascii"))]
        if format in ("worked", "worked_blanks"):
            with np.errstate(all="ignore"):
                body = self._trace().to_markdown(blanks=format == "worked_blanks")
            name = f"{stem}-sample{self.selected}{'-exercise' if format == 'worked_blanks' else ''}.md"
            return [replies.export_text(format, name, body)]
        X, y = np.concatenate([self.X_train, self.X_test]), np.concatenate([self.y_train, self.y_test])
        return [replies.export_text(format, f"{stem}.csv", csvdata.to_csv(X, y, self.kind))]

    def saliency(self) -> list[dict]:
        """∂L/∂x of every training point, each for its own loss, from ONE batched backward pass: the
        saliency field the page draws as arrows (−∂L/∂x: where each point would move to fit better)."""
        self._require_points()
        with np.errstate(all="ignore"):
            tr = explain.trace(self.model, self.X_train, self.y_train, loss=self.loss_name,
                               features=self.config["features"])
        # the pass is of the mean loss; each point's own gradient is n times its row
        return [{"type": "saliency", "grad": settings.json_safe(tr.input_grad * self.n_train)}]
