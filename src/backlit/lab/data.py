"""Seeded 2-D datasets on the plane [-6, 6] x [-6, 6], and the input feature maps.

The binary and regression sets use the same definitions as TF Playground (`src/dataset.ts`), so that
people who know the playground recognise them:

- ``noise`` is the playground's slider divided by 100, a float in [0, 0.5];
- its labels are -1/+1; here binary labels are 0/1 (playground -1 -> 0, +1 -> 1);
- what noise does depends on the set, as there: for ``circle`` and ``xor`` it moves the point used to
  *decide the label* (the drawn point stays clean, so noisy labels cross the boundary); for ``gauss`` it
  widens the clusters; for ``spiral`` it jitters the points.

Every generator takes a ``numpy.random.Generator``; :func:`make` builds one from ``seed`` and shuffles
the points, so the same arguments always give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..engine import Tensor, concatenate

EXTENT = (-6.0, 6.0)
"""The plane shown by the playground and the CLI plots, on both axes."""

MAX_NOISE = 0.5


# --------------------------------------------------------------------------------------------------
# Generators. Each returns (X (n, 2) float64, y). Points are in class order; make() shuffles.
# --------------------------------------------------------------------------------------------------

def _counts(n: int, k: int) -> list[int]:
    """Split n points into k near-equal groups (the first groups get the remainder)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _circle(n: int, noise: float, rng: np.random.Generator, classes=None):
    # Class 1 inside radius 2.5, class 0 in the ring 3.5..5. The label is decided at the point moved by
    # noise * U(-5, 5) on each axis, but the clean point is the one returned (as TF Playground does).
    radius = 5.0
    n_in, n_out = _counts(n, 2)
    r = np.concatenate([rng.uniform(0, radius * 0.5, n_in), rng.uniform(radius * 0.7, radius, n_out)])
    angle = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    moved = X + rng.uniform(-radius, radius, (n, 2)) * noise
    y = (np.hypot(moved[:, 0], moved[:, 1]) < radius * 0.5).astype(np.int64)
    return X, y


def _xor(n: int, noise: float, rng: np.random.Generator, classes=None):
    # Uniform in [-5, 5]^2, pushed 0.3 away from both axes; class 1 where x*y >= 0 (quadrants 1 and 3).
    X = rng.uniform(-5, 5, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)
    moved = X + rng.uniform(-5, 5, (n, 2)) * noise
    y = (moved[:, 0] * moved[:, 1] >= 0).astype(np.int64)
    return X, y


def _gauss_variance(noise: float) -> float:
    # TF Playground maps noise 0..0.5 linearly onto a variance of 0.5..4.
    return 0.5 + noise * (4.0 - 0.5) / 0.5


def _gauss(n: int, noise: float, rng: np.random.Generator, classes=None):
    # Class 1 around (2, 2), class 0 around (-2, -2).
    std = np.sqrt(_gauss_variance(noise))
    n1, n0 = _counts(n, 2)
    X = np.concatenate([rng.normal(2.0, std, (n1, 2)), rng.normal(-2.0, std, (n0, 2))])
    y = np.concatenate([np.ones(n1, np.int64), np.zeros(n0, np.int64)])
    return X, y


def _arms(n: int, k: int, noise: float, rng: np.random.Generator):
    # Arm c: radius r = 5 i/m, angle t = 1.75 * 2 pi i/m + 2 pi c/k, point (r sin t, r cos t), plus
    # noise * U(-1, 1) on each axis. With k = 2 this is TF Playground's spiral exactly.
    parts, labels = [], []
    for c, m in enumerate(_counts(n, k)):
        i = np.arange(m)
        r = i / m * 5.0
        t = 1.75 * i / m * 2 * np.pi + 2 * np.pi * c / k
        pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        parts.append(pts + rng.uniform(-1, 1, (m, 2)) * noise)
        labels.append(np.full(m, c, np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def _spiral(n: int, noise: float, rng: np.random.Generator, classes=None):
    X, arm = _arms(n, 2, noise, rng)
    # TF's first arm (deltaT = 0) is the positive class.
    return X, (arm == 0).astype(np.int64)


def _spiral_multi(n: int, noise: float, rng: np.random.Generator, classes=3):
    return _arms(n, classes, noise, rng)


def _moons(n: int, noise: float, rng: np.random.Generator, classes=None):
    # Two interleaved half circles (the familiar "moons"), scaled by 3 and centred on the origin.
    # Noise is Gaussian jitter with a standard deviation of 2 * noise plane units.
    n0, n1 = _counts(n, 2)
    t0 = np.linspace(0, np.pi, n0)
    t1 = np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = (np.concatenate([upper, lower]) - [0.5, 0.25]) * 3.0
    X += rng.normal(0.0, 2.0 * noise, X.shape)  # drawn even at noise 0, so seeds line up
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return X, y


def _blobs(n: int, noise: float, rng: np.random.Generator, classes=3):
    # k Gaussian clusters centred on a circle of radius 3.5 (the first at the top), with the same
    # noise -> variance mapping as `gauss`.
    std = np.sqrt(_gauss_variance(noise))
    parts, labels = [], []
    for c, m in enumerate(_counts(n, classes)):
        a = np.pi / 2 + 2 * np.pi * c / classes
        centre = 3.5 * np.array([np.cos(a), np.sin(a)])
        parts.append(rng.normal(0.0, std, (m, 2)) + centre)
        labels.append(np.full(m, c, np.int64))
    return np.concatenate(parts), np.concatenate(labels)


def _plane(n: int, noise: float, rng: np.random.Generator, classes=None):
    # Target (x + y) / 10, read at the point moved by noise * U(-6, 6) on each axis.
    X = rng.uniform(-6, 6, (n, 2))
    moved = X + rng.uniform(-6, 6, (n, 2)) * noise
    return X, (moved[:, 0] + moved[:, 1]) / 10.0


_GAUSSIANS = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]


def _multi_gauss_target(P: np.ndarray) -> np.ndarray:
    # Six bumps of height +-1 falling linearly to 0 at distance 2; the target is the bump that is
    # largest in absolute value (ties keep the earlier one, as TF Playground does).
    out = np.zeros(len(P))
    for cx, cy, sign in _GAUSSIANS:
        v = sign * np.clip(1 - np.hypot(P[:, 0] - cx, P[:, 1] - cy) / 2, 0, 1)
        out = np.where(np.abs(v) > np.abs(out), v, out)
    return out


def _multi_gauss(n: int, noise: float, rng: np.random.Generator, classes=None):
    X = rng.uniform(-6, 6, (n, 2))
    moved = X + rng.uniform(-6, 6, (n, 2)) * noise
    return X, _multi_gauss_target(moved)


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DatasetSpec:
    """One entry of :data:`DATASETS`. ``classes`` is the default class count (None for regression);
    ``min_classes``/``max_classes`` bound the ``classes`` argument of :func:`make`."""

    name: str
    kind: str  # "binary" | "multiclass" | "regression"
    label: str  # short display name
    description: str
    fn: Callable = field(repr=False)
    classes: int | None = 2
    min_classes: int | None = 2
    max_classes: int | None = 2
    solver: dict = field(default_factory=dict)
    """Settings of a network that solves this set at the playground's default pace within a minute
    (95% test accuracy, or a small test loss for regression); the page offers it in one click."""

    @property
    def problem(self) -> str:
        return "regression" if self.kind == "regression" else "classification"


def _spec(name, kind, label, description, fn, classes=2, lo=2, hi=2, **solver):
    return DatasetSpec(name, kind, label, description, fn, classes, lo, hi, solver)


_SIN = ["x1", "x2", "sin_x1", "sin_x2"]


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        _spec("circle", "binary", "Circle", "a disc of one class inside a ring of the other", _circle,
              hidden=[4, 2], activation="tanh", lr=0.1),
        _spec("xor", "binary", "Exclusive or", "four quadrants; opposite quadrants share a class", _xor,
              hidden=[4, 2], activation="tanh", lr=0.1),
        _spec("gauss", "binary", "Gaussian", "two Gaussian clusters, at (2, 2) and (-2, -2)", _gauss,
              hidden=[2], lr=0.1),
        _spec("spiral", "binary", "Spiral", "two interleaved spiral arms", _spiral,
              hidden=[8, 8], activation="tanh", features=_SIN, optimizer="adam", lr=0.01),
        _spec("moons", "binary", "Moons", "two interleaved half circles", _moons,
              hidden=[8, 4], activation="tanh", lr=0.1),
        _spec("blobs", "multiclass", "Blobs", "3 to 5 Gaussian clusters on a circle", _blobs, 3, 3, 5,
              hidden=[4], lr=0.1),
        _spec("spiral_multi", "multiclass", "Spiral arms", "3 to 5 interleaved spiral arms",
              _spiral_multi, 3, 3, 5, hidden=[16, 16], features=_SIN, optimizer="adam", lr=0.01),
        _spec("plane", "regression", "Plane", "target (x1 + x2) / 10, a tilted plane", _plane,
              None, None, None, hidden=[], lr=0.03),
        _spec("multi_gauss", "regression", "Multi Gaussian", "six bumps of height +1 or -1",
              _multi_gauss, None, None, None, hidden=[8, 8], optimizer="adam", lr=0.03),
    ]
}


@dataclass
class Dataset:
    """Points ``X`` (n, 2) float64 and targets ``y``: int64 class indices 0..classes-1 for
    classification, float64 for regression (``classes`` is then None)."""

    X: np.ndarray
    y: np.ndarray
    kind: str
    classes: int | None
    name: str = ""
    noise: float = 0.0
    seed: int = 0

    def __len__(self) -> int:
        return len(self.X)


def make(name: str, n: int = 500, noise: float = 0.0, seed: int = 0, classes: int | None = None) -> Dataset:
    """Generate dataset ``name`` with ``n`` points, shuffled with ``seed``.

    ``classes`` picks the number of classes of a multiclass set (default 3, range 3..5); other sets
    ignore it. Bad arguments raise ``ValueError`` with a one-line message.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    n = int(n)
    noise = float(noise)
    if not np.isfinite(noise) or not 0.0 <= noise <= MAX_NOISE:
        raise ValueError(f"noise must be between 0 and {MAX_NOISE} (got {noise})")
    k = spec.classes
    if spec.kind == "multiclass":
        k = spec.classes if classes is None else int(classes)
        if not spec.min_classes <= k <= spec.max_classes:
            raise ValueError(
                f"dataset {name!r} takes {spec.min_classes} to {spec.max_classes} classes (got {k})"
            )
    if n < max(k or 1, 2):
        raise ValueError(f"n must be at least {max(k or 1, 2)} (got {n})")
    rng = np.random.default_rng(seed)
    X, y = spec.fn(n, noise, rng, k)
    order = rng.permutation(n)
    X = np.ascontiguousarray(X[order], dtype=np.float64)
    y = y[order].astype(np.float64 if spec.kind == "regression" else np.int64)
    return Dataset(X, y, spec.kind, k, name=name, noise=noise, seed=seed)


def split(ds_or_X, y=None, train_ratio: float = 0.5, seed: int = 0):
    """Shuffle and split into ``(X_train, y_train, X_test, y_test)``.

    Accepts a :class:`Dataset` or arrays ``X, y``. The train part has ``round(n * train_ratio)`` points,
    kept between 1 and n - 1 so that neither part is empty.
    """
    if isinstance(ds_or_X, Dataset):
        X, y = ds_or_X.X, ds_or_X.y
    else:
        if y is None:
            raise ValueError("split(X, y, ...) needs y when X is an array")
        X, y = np.asarray(ds_or_X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if len(X) < 2:
        raise ValueError("split needs at least 2 points")
    if not 0.0 < float(train_ratio) < 1.0:
        raise ValueError(f"train_ratio must be between 0 and 1, exclusive (got {train_ratio})")
    n = len(X)
    n_train = min(max(int(round(n * train_ratio)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    tr, te = order[:n_train], order[n_train:]
    return X[tr], y[tr], X[te], y[te]


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Feature:
    """One row of :data:`FEATURES`: an input feature computed from the raw point (x1, x2).

    ``fn(x1, x2)`` computes it from the two columns, numpy arrays or backlit Tensors alike (use
    :func:`sin` for a sine); ``label`` is the page's; ``tex`` the worked example's LaTeX; ``torch``
    the same maths as a torch expression over the columns ``x1``, ``x2``; ``onnx`` the ONNX node
    ``(op_type, *inputs)`` over the columns named ``x1``, ``x2`` (None: no ONNX spelling).
    """

    name: str
    label: str
    fn: Callable = field(repr=False)
    tex: str = ""
    torch: str = ""
    onnx: tuple | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label}


def sin(t):
    """sin of a numpy array or a backlit Tensor (an engine op, so gradients flow through it)."""
    return t.sin() if isinstance(t, Tensor) else np.sin(t)


FEATURES: dict[str, Feature] = {}
"""Feature name -> its row, in the playground's order. ``list(FEATURES)`` gives the names."""


def register_feature(feature: Feature) -> Feature:
    """Add (or replace) an input feature; every menu, check and export sees it from then on."""
    FEATURES[feature.name] = feature
    return feature


for _f in (
    Feature("x1", "X₁", lambda x1, x2: x1, "X_1", "x1", ("Identity", "x1")),
    Feature("x2", "X₂", lambda x1, x2: x2, "X_2", "x2", ("Identity", "x2")),
    Feature("x1^2", "X₁²", lambda x1, x2: x1 * x1, "X_1^2", "x1 * x1", ("Mul", "x1", "x1")),
    Feature("x2^2", "X₂²", lambda x1, x2: x2 * x2, "X_2^2", "x2 * x2", ("Mul", "x2", "x2")),
    Feature("x1x2", "X₁X₂", lambda x1, x2: x1 * x2, "X_1 X_2", "x1 * x2", ("Mul", "x1", "x2")),
    Feature("sin_x1", "sin(X₁)", lambda x1, x2: sin(x1), r"\sin X_1", "torch.sin(x1)", ("Sin", "x1")),
    Feature("sin_x2", "sin(X₂)", lambda x1, x2: sin(x2), r"\sin X_2", "torch.sin(x2)", ("Sin", "x2")),
):
    register_feature(_f)

DEFAULT_FEATURES = ["x1", "x2"]


def check_features(names) -> list[str]:
    """Return ``names`` as a list, or raise ``ValueError`` naming the first bad one."""
    if isinstance(names, str):  # "x1, x2" as typed on a command line
        names = [s.strip() for s in names.split(",") if s.strip()]
    names = list(names)
    if not names:
        raise ValueError("at least one feature is needed")
    for k, name in enumerate(names):
        if name not in FEATURES:
            raise ValueError(f"unknown feature {name!r}; choose from: {', '.join(FEATURES)}")
        if name in names[:k]:
            raise ValueError(f"feature {name!r} is listed twice")
    return names


def featurize(X, names=None):
    """Map raw points to the chosen features, one column per name (in the order given).

    ``X`` is (n, 2) or a single point (2,). A numpy array gives a numpy array. A backlit ``Tensor``
    gives a Tensor built from engine ops (indexing, ``*``, ``sin``, ``concatenate``), so a backward
    pass through the model reaches the raw 2-D point: that is how the playground draws the input
    gradient as an arrow on the plane.
    """
    names = check_features(DEFAULT_FEATURES if names is None else names)
    if not isinstance(X, Tensor):
        X = np.asarray(X, dtype=np.float64)
        _check_points(X.shape)
        x1, x2 = X[..., 0:1], X[..., 1:2]
        return np.concatenate([FEATURES[nm].fn(x1, x2) for nm in names], axis=-1)
    _check_points(X.shape)
    if X.ndim == 1:
        x1, x2, axis = X[0:1], X[1:2], 0
    else:
        x1, x2, axis = X[:, 0:1], X[:, 1:2], 1
    cols = [FEATURES[nm].fn(x1, x2) for nm in names]
    return cols[0] if len(cols) == 1 else concatenate(cols, axis=axis)


def _check_points(shape) -> None:
    if len(shape) not in (1, 2) or shape[-1] != 2:
        raise ValueError(f"points must have shape (n, 2) or (2,), got {tuple(shape)}")
