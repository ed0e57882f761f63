"""Every message the session sends, built from its state: ``state``, ``points``, ``frame``, the
selection and trace replies, the saved session, the error replies. The session's actions change state
and say what changed (:data:`DATA`, :data:`NETWORK`, :data:`WEIGHTS`, :data:`STATE`); :func:`after`
turns that into the replies, in the one order the page expects.
"""

from __future__ import annotations

import json

import numpy as np

from ..lab import data, gradflow, kinds, trace as explain
from . import images, lessons, settings
from .settings import ProtocolError

SESSION_FORMAT = "backlit.session"
SESSION_VERSION = 1
STATUS_DIVERGED = "diverged: lower the learning rate or reset"
FLOAT32_MAX = float(np.finfo(np.float32).max)
GRID_RES = 100
NEURON_RES = 25
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


NO_POINTS = "the plane has no training points: add some (Edit data) or pick a dataset"
NO_POINTS_TO_TRAIN = "the plane has no training points: add some before training"

# what an action changed -> what the page is sent
STATE, WEIGHTS, NETWORK, DATA, SCHEMA = "state", "weights", "network", "data", "schema"


def after(pg, *changed: str) -> list[dict]:
    """The replies to an action that changed ``changed``: the state (with the schema on a fresh
    start), the points when the data changed, a frame when anything the picture shows changed."""
    out = [state(pg, schema=SCHEMA in changed)]
    if DATA in changed:
        out.append(points(pg))
    if {WEIGHTS, NETWORK, DATA} & set(changed):
        out.append(frame_msg(pg))
    return out


def status(pg) -> str:
    if pg.diverged:
        return STATUS_DIVERGED
    if pg.playing:
        return "training"
    return "paused" if pg.step_count else "ready"


def state(pg, schema: bool = False) -> dict:
    p, model = pg.problem, pg.model
    msg = {"type": "state", "config": dict(pg.config), "url_state": settings.to_url_state(pg.config),
           "limits": pg.limits.to_dict(),
           "playing": pg.playing, "diverged": pg.diverged, "status": status(pg),
           "epoch": pg.epoch, "samples_seen": pg.samples_seen, "step": pg.step_count,
           "param_count": sum(t.data.size for t in model.parameters()), "sizes": list(p.sizes),
           "activations": list(model.activations), "problem": pg.config["problem"],
           "kind": p.kind, "classes": p.classes, "selected": pg.selected,
           "n_train": p.n_train, "n_test": len(p.X_test),
           "gradflow_layers": gradflow.layer_names(len(model.linears)),
           "custom_data": p.custom}
    if schema:
        msg["schema"] = {**settings.schema(pg.limits), **exports_menu(), "views": [images.VIEW],  # the images view
                         "course": lessons.schema()}
    return msg


def points(pg) -> dict:
    return {"type": "points", **pg.problem.points.rows(), "kind": pg.problem.kind, "classes": pg.problem.classes}


def frame(pg) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and float32 arrays of one binary frame (layout in docs/protocol.md)."""
    p, lr = pg.problem, pg.learner
    kind = kinds.get(p.kind)
    with np.errstate(all="ignore"):
        g = explain.grid(lr.model, extent=data.EXTENT, resolution=GRID_RES,
                         neuron_resolution=NEURON_RES, features=list(p.features),
                         dtype=np.float32)  # drawn at 8 bits: float32 is plenty, and cheaper
        fine = kind.display(g.output, p.loss)  # (res, res, K)
        coarse = kind.display(np.moveaxis(g.output_neurons, 0, -1), p.loss)  # (nr, nr, K)
        arrays: dict[str, np.ndarray] = {}
        if p.kind == "multiclass":
            arrays["boundary"] = fine.argmax(axis=-1).astype(np.float32)
            arrays["confidence"] = fine.max(axis=-1).astype(np.float32)
        else:
            arrays["boundary"] = fine[..., 0].astype(np.float32)
        arrays["neurons"] = np.concatenate(
            [g.inputs, *g.neurons, np.moveaxis(coarse, -1, 0)], axis=0).astype(np.float32)
        for name, a in arrays.items():
            if not np.isfinite(a).all():  # huge (but finite) weights can overflow float32
                arrays[name] = np.nan_to_num(a, nan=0.0, posinf=FLOAT32_MAX, neginf=-FLOAT32_MAX)
    m = lr.metrics()
    pg.record_history(m)
    train = lr.train_pass()
    header = {"type": "frame", "epoch": pg.epoch, "samples_seen": pg.samples_seen,
              "step": pg.step_count, **m,
              "weights": [lin.weight.data.tolist() for lin in lr.model.linears],
              "biases": [lin.bias.data.tolist() for lin in lr.model.linears],
              "train_grad": settings.json_safe(train["train_grad"]),
              "badges": train["badges"],
              "playing": pg.playing, "diverged": pg.diverged,
              "status": status(pg)}
    return header, arrays


def frame_msg(pg) -> dict:
    header, arrays = frame(pg)
    return {"type": "frame", "header": header, "arrays": arrays}


def selection(pg) -> dict:
    x = pg.problem.X_train[pg.selected]
    return {"type": "selection", "index": int(pg.selected), "point": [float(x[0]), float(x[1])],
            "label": pg.problem.y_train[pg.selected].item()}


def trace(tr, index: int) -> dict:
    with np.errstate(all="ignore"):
        d = tr.to_dict(cost=True)
    d["index"] = int(index)
    return {"type": "trace", "trace": d}


def update(lr: float, scale: float, index: int, overshot: bool, suggestion, preview: dict) -> dict:
    keys = ("sample_loss_before", "sample_loss_after", "train_loss_before", "train_loss_after")
    return {"type": "update", "lr": lr, "scale": scale, "index": int(index), "overshot": overshot,
            "suggested_scale": None, "suggested_loss": None,
            **settings.json_safe(suggestion or {}), **{k: settings.json_safe(preview.get(k)) for k in keys}}


def nudge(index, path, flipped, from_class, to_class, true_label, wrong, losses) -> dict:
    return {"type": "nudge", "index": int(index), "path": path, "flipped": flipped,
            "from_class": from_class, "to_class": to_class, "true_label": true_label, "already_wrong": wrong,
            "losses": settings.json_safe(losses), "steps": len(path) - 1}


def export_text(format: str, filename: str, text: str) -> dict:
    return {"type": "export", "format": format, "filename": filename, "mime": "text/plain", "text": text}


def export_blob(format: str, filename: str, b64: str) -> dict:
    return {"type": "export", "format": format, "filename": filename, "mime": "application/octet-stream",
            "base64": b64}


def no_points_error() -> dict:
    return {"type": "error", "field": "data", "message": NO_POINTS_TO_TRAIN}


def saved(pg) -> dict:
    """The session as JSON-ready data: config, weights and counters (versioned), and the points when
    they are the user's own (packed when the lists would not fit in half a message)."""
    p = pg.problem
    points = p.points.rows() if p.custom else None
    if points is not None and len(json.dumps(points)) > pg.limits.max_message_bytes // 2:
        points = p.points.packed()
    return {"format": SESSION_FORMAT, "version": SESSION_VERSION, "config": dict(pg.config),
            "sizes": list(p.sizes),
            "weights": [lin.weight.data.tolist() for lin in pg.model.linears],
            "biases": [lin.bias.data.tolist() for lin in pg.model.linears],
            "step": pg.step_count, "samples_seen": pg.samples_seen, "epoch": pg.epoch,
            **({"points": points} if p.custom else {})}


class CSVProblem(ProtocolError):
    """A CSV that cannot be loaded: one error reply listing its bad lines (and the rescale offer)."""

    def __init__(self, err):
        super().__init__("csv", str(err))
        self.details = err.to_dict()

    def reply(self, reply_to: int | None = None) -> dict:
        return {**super().reply(reply_to), **self.details}
