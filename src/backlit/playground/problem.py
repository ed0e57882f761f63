"""The problem a session trains on, frozen: the points, their kind and classes, the input features,
the loss and the targets in the layout it takes.

:func:`build` makes one from a resolved config and the user's own points (clicked in, from a CSV, or
restored), in one place; nothing changes a problem afterwards (its arrays are read-only). A new
setting of the data or network group builds a new one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np

from ..lab import data, fit, kinds
from . import settings
from .settings import ProtocolError

LABEL_LIMIT = 1e3  # |target| of a regression point the session holds (clicked, loaded or restored)


@dataclass(frozen=True)
class Points:
    """A set of points of the user's own: training and test points (n, 2) and their labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def of(cls, X_train, y_train, X_test, y_test, kind: str) -> "Points":
        dtype = np.float64 if kind == "regression" else np.int64
        return cls(*(_frozen(np.asarray(a, np.float64).reshape(-1, 2) if i % 2 == 0 else np.asarray(a, dtype))
                     for i, a in enumerate((X_train, y_train, X_test, y_test))))

    def __len__(self) -> int:
        return len(self.X_train) + len(self.X_test)

    def rows(self) -> dict:
        """{"train": [[x, y, label], ...], "test": [...]}: the form points travel in (points, save, hello)."""
        def rows(X, y):
            return [[float(a), float(b), v] for (a, b), v in zip(X.tolist(), y.tolist())]

        return {"train": rows(self.X_train, self.y_train), "test": rows(self.X_test, self.y_test)}

    def packed(self) -> dict:
        """The same, each part packed as :func:`unpack` reads it (half the size of the lists)."""
        def pack(X, y):
            return base64.b64encode(np.column_stack([X, y]).astype("<f8").tobytes()).decode("ascii")

        return {"train": pack(self.X_train, self.y_train), "test": pack(self.X_test, self.y_test)}


@dataclass(frozen=True, eq=False)
class Problem:
    """What a session learns: everything the config and the points decide, and nothing training changes."""

    dataset: str
    kind: str
    classes: int | None  # 2 for binary, K for multiclass, None for regression
    features: tuple
    loss: str
    sizes: tuple  # the network's layer sizes, inputs to outputs
    points: Points
    custom: bool  # the points are the user's own (no setting but the dataset replaces them)
    Xf_train: np.ndarray  # featurized inputs
    Xf_test: np.ndarray
    T_train: np.ndarray  # targets in the loss's layout (fit.targets)
    T_test: np.ndarray

    @property
    def X_train(self): return self.points.X_train  # noqa: E704

    @property
    def y_train(self): return self.points.y_train  # noqa: E704

    @property
    def X_test(self): return self.points.X_test  # noqa: E704

    @property
    def y_test(self): return self.points.y_test  # noqa: E704

    @property
    def n_train(self) -> int:
        return len(self.points.X_train)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def kind_and_classes(config: dict) -> tuple[str, int | None]:
    """The kind of problem the config's dataset poses, and its class count."""
    kind = data.DATASETS[config["dataset"]].kind
    return kind, config["classes"] if kind == "multiclass" else (2 if kind == "binary" else None)


def sizes(config: dict) -> list[int]:
    kind, classes = kind_and_classes(config)
    return [len(config["features"])] + list(config["hidden"]) + [kinds.get(kind).n_outputs(classes)]


def build(config: dict, custom: Points | None = None) -> Problem:
    """The problem of a resolved ``config``: its dataset generated from the seed, or ``custom`` points."""
    kind, classes = kind_and_classes(config)
    if custom is None:
        ds = data.make(config["dataset"], n=config["n_points"], noise=config["noise"], seed=config["seed"],
                       classes=classes if kind == "multiclass" else None)
        points = Points.of(*data.split(ds, train_ratio=config["train_ratio"], seed=config["seed"]), kind)
    else:
        points = custom
    shape = sizes(config)
    Xf_train, Xf_test = (_frozen(data.featurize(X, config["features"])) for X in (points.X_train, points.X_test))
    T_train, T_test = (_frozen(fit.targets(y, config["loss"], shape[-1])) for y in (points.y_train, points.y_test))
    return Problem(config["dataset"], kind, classes, tuple(config["features"]), config["loss"], tuple(shape),
                   points, custom is not None, Xf_train, Xf_test, T_train, T_test)


def check_label(name: str, value, kind: str, classes):
    """A point's label: a class index for classification, a value within +-LABEL_LIMIT for regression."""
    if kind == "regression":
        return settings.check_float(name, value, -LABEL_LIMIT, LABEL_LIMIT)
    return settings.check_int(name, value, 0, classes - 1)


def unpack(text: str, name: str, max_points: int) -> list:
    """Packed points: base64 of little-endian float64 triples x, y, label (a page's Float64Array)."""
    if len(text) > (max_points * 24 + 2) // 3 * 4:
        raise ProtocolError(name, f"{name} holds more than {max_points} points")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(name, f"{name} must be base64 of float64 triples x, y, label") from None
    if len(raw) % 24:
        raise ProtocolError(name, f"{name} must be base64 of float64 triples x, y, label")
    return np.frombuffer(raw, "<f8").reshape(-1, 3).tolist()


def check_rows(rows, kind: str, classes, limits, name: str = "points") -> Points:
    """Points as they travel, ``{"train": [[x, y, label], ...], "test": [...]}`` (or each part packed,
    see :func:`unpack`), checked in full (shape, plane, labels, the session's point limit) -> :class:`Points`."""
    if not isinstance(rows, dict) or not all(isinstance(rows.get(k), (list, str)) for k in ("train", "test")):
        raise ProtocolError(name, f"{name} must be {{'train': [[x, y, label], ...], 'test': [...]}}")
    rows = {k: unpack(v, f"{name}.{k}", limits.max_points) if isinstance(v, str) else v
            for k, v in rows.items() if k in ("train", "test")}
    if len(rows["train"]) + len(rows["test"]) > limits.max_points:
        raise ProtocolError(name, f"{name} holds more than {limits.max_points} points")
    out = []
    for part in ("train", "test"):
        X, y = [], []
        for k, row in enumerate(rows[part]):
            where = f"{name}.{part}[{k}]"
            if not isinstance(row, list) or len(row) != 3:
                raise ProtocolError(where, f"{where} must be [x, y, label]")
            X.append([settings.check_float(where, v, -settings.PLANE_LIMIT, settings.PLANE_LIMIT) for v in row[:2]])
            y.append(check_label(where, row[2], kind, classes))
        out += [X, y]
    return Points.of(*out, kind)
