"""Points from CSV and back: ``x1,x2,label`` (classification) or ``x1,x2,y`` (regression).

:func:`read_csv` checks every row before it builds anything, and raises one :class:`CSVError` that
names the first bad rows by their line numbers and counts the rest (non-numeric values, a wrong column
count, a label that is not a class index, points outside the plane, too many rows): the error of a
file with 65,000 bad rows is as short as that of a file with 21. Nothing is half-loaded: either the whole file
becomes a ``data.Dataset``, or the caller's current data stays as it was. Points outside the plane can
be scaled in instead (``rescale=True``); :attr:`CSVError.rescalable` says when that alone would fix
the file, so a page can offer it.

:func:`to_csv` writes the same format, with Python's shortest round-tripping floats, so writing and
reading back gives the very same points.

The file:

- an optional header, ``x1,x2,label`` or ``x1,x2,y`` (``class`` and ``target`` are accepted too); it
  decides the kind of problem when ``kind`` is not given;
- one point per line, comma separated; blank lines and lines starting with ``#`` are skipped;
- classification labels are class indices 0..K-1 (K = 2 for a binary problem, at most
  :data:`MAX_CLASSES`); without a header or ``kind``, a file whose labels are all whole numbers is
  classification, any other is regression.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..lab import data
from .settings import PLANE_LIMIT

MAX_CLASSES = max(s.max_classes or 0 for s in data.DATASETS.values())
DEFAULT_MAX_ROWS = 5000
"""The playground's session limit on points (``settings.Limits.max_points``)."""
SHOWN_PROBLEMS = 20
"""At most this many problems are spelled out (in the message and in ``problems``); the rest are counted."""

_LABEL_NAMES = {"label": "classification", "class": "classification",
                "y": "regression", "target": "regression"}
_KINDS = ("binary", "multiclass", "regression", "classification")


@dataclass(frozen=True)
class Problem:
    """One bad row: its 1-based line number in the file (None for the file as a whole) and what is wrong."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class CSVError(ValueError):
    """The file cannot be loaded. ``problems`` lists the first :data:`SHOWN_PROBLEMS` :class:`Problem` entries
    (the file's own first, then by line), ``lines`` their line numbers; ``bad_rows`` counts every bad
    row and ``count`` every problem. ``outside`` lists the first lines whose point is outside the plane
    (``outside_count`` counts them all); ``rescalable`` is True when those are the only problems, so
    reading again with ``rescale=True`` would succeed."""

    def __init__(self, problems: list[Problem], outside: list[int], source: str = "the CSV", *,
                 count: int | None = None, bad_rows: int | None = None, outside_count: int | None = None,
                 rescalable: bool | None = None):
        problems = sorted(problems, key=lambda p: (p.line is not None, p.line or 0))
        self.count = len(problems) if count is None else count
        self.bad_rows = len({p.line for p in problems if p.line is not None}) if bad_rows is None else bad_rows
        self.outside_count = len(outside) if outside_count is None else outside_count
        if rescalable is None:
            rescalable = bool(outside) and all(p.line in outside for p in problems)
        self.rescalable = rescalable
        self.problems = problems[:SHOWN_PROBLEMS]
        self.outside = sorted(outside)[:SHOWN_PROBLEMS]
        self.lines = [p.line for p in self.problems if p.line is not None]
        shown = "\n".join(f"  {p}" for p in self.problems)
        more = self.count - len(self.problems)
        if more > 0:
            shown += f"\n  ... and {more:,} more"
        rows = self.bad_rows
        if rows:
            head = f"{source}: {rows:,} bad row{'s' if rows != 1 else ''}"
            if more > 0:
                head += f"; the first {len(self.problems)}"
        else:
            head = f"{source} cannot be loaded"
        hint = ("\nThe points outside the plane can be scaled in: read it again with rescale "
                "(--rescale on the command line).") if self.rescalable else ""
        super().__init__(f"{head}; nothing was loaded:\n{shown}{hint}")

    def to_dict(self) -> dict:
        """JSON-ready, for a reply to the page: the message, the first problems and the counts, and the
        rescale offer. Its size is bounded whatever the file."""
        return {"message": str(self), "problems": [{"line": p.line, "message": p.message[:200]} for p in self.problems],
                "lines": self.lines, "outside": self.outside, "rescalable": self.rescalable,
                "count": self.count, "bad_rows": self.bad_rows, "outside_count": self.outside_count}


class _Problems:
    """Collects a file's problems: every one counted (and its line), the first few of each pass kept."""

    def __init__(self):
        self.kept: list[Problem] = []
        self.count = 0
        self.lines: set[int] = set()
        self._pass = 0

    def new_pass(self) -> None:
        self._pass = 0

    def wants(self) -> bool:
        return self._pass < SHOWN_PROBLEMS

    def add(self, line: int | None, message) -> None:
        """``message``: the text, or a function that makes it (only called for a problem that is kept)."""
        self.count += 1
        if line is not None:
            self.lines.add(line)
        if self._pass < SHOWN_PROBLEMS or line is None:
            self.kept.append(Problem(line, message() if callable(message) else message))
            if line is not None:
                self._pass += 1

    def __bool__(self) -> bool:
        return self.count > 0


def _number(text: str) -> float | None:
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        try:
            v = float(text.strip().strip('"').strip("'"))
        except ValueError:
            return None
    return v if math.isfinite(v) else None


def read_csv(text: str, kind: str | None = None, classes: int | None = None, *,
             max_rows: int = DEFAULT_MAX_ROWS, limit: float = PLANE_LIMIT, rescale: bool = False,
             extent=data.EXTENT,
             name: str = "custom", source: str = "the CSV") -> data.Dataset:
    """Parse CSV text into a ``data.Dataset`` (X (n, 2) float64; y int64 labels or float64 targets).

    - ``kind``: "binary", "multiclass", "regression" or "classification" (binary or multiclass by the
      labels); None takes it from the header, or else from the labels (see the module doc).
    - ``classes``: for classification, the class count the labels must fit (a session's current
      one); None takes ``max label + 1`` (at least 2, at most ``MAX_CLASSES``).
    - ``max_rows``: more data rows than this is an error (the session limit).
    - ``limit``: a point with a coordinate beyond +-limit is an error (the playground accepts clicks
      this far out: the plane ``extent`` [-6, 6] plus some slack, where generated data may also
      reach) unless ``rescale``, which scales every point about the origin by one factor so that all
      of them lie in ``extent`` and the farthest lands on its edge.
    - ``source``: how the error message names the file.

    Raises :class:`CSVError` listing every bad row; returns a new Dataset and changes nothing else.
    """
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of: {', '.join(_KINDS)}")
    if classes is not None and not 2 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be between 2 and {MAX_CLASSES} (got {classes})")
    problems = _Problems()
    rows: list[tuple[int, float, float, float, str]] = []  # line, x1, x2, label value, label text
    header_kind = None
    first = True
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if first:
            first = False
            if any(_number(f) is None for f in fields):     # a header
                names = [f.strip('"').strip("'").lower() for f in fields]
                if len(names) != 3 or names[:2] != ["x1", "x2"] or names[2] not in _LABEL_NAMES:
                    problems.add(number, f"header {line[:80]!r} should be x1,x2,label "
                                         f"(classification) or x1,x2,y (regression)")
                else:
                    header_kind = _LABEL_NAMES[names[2]]
                continue
        if len(fields) != 3:
            n = len(fields)
            problems.add(number, lambda: f"{n} column{'s' if n != 1 else ''}, expected 3 (x1,x2,label or x1,x2,y)")
            continue
        values = [_number(f) for f in fields]
        if None in values:
            problems.add(number, lambda: "; ".join(
                f"{f[:40]!r} in column {col} is not a number"
                for f, v, col in zip(fields, values, ("x1", "x2", "3")) if v is None))
            continue
        rows.append((number, values[0], values[1], values[2], fields[2]))

    # the kind: asked for, else the header's, else what the labels look like
    want = kind
    if header_kind is not None:
        if want is not None and (want == "regression") != (header_kind == "regression"):
            problems.add(None, f"the header says {header_kind} but a {want} problem was asked for")
        want = want or header_kind
    if want is None and classes is not None:
        want = "classification"
    if want is None:
        whole = all(v == round(v) and v >= 0 for *_, v, _ in rows)
        want = "classification" if rows and whole else "regression"
    if want == "regression":
        final_kind, k = "regression", None
    else:
        k = classes or (2 if want == "binary" else None)
        labels = [v for *_, v, _ in rows if v == round(v) and v >= 0]
        if k is None:
            k = min(max(2, int(max(labels, default=0)) + 1), MAX_CLASSES)
            if want == "multiclass":
                k = max(k, 3)
        allowed = "0 or 1" if k == 2 else f"0..{k - 1}"
        problems.new_pass()
        for number, _, _, v, t in rows:
            if v != round(v) or not 0 <= v < k:
                problems.add(number, lambda: f"label {t[:40]} is not a class index ({allowed})")
        final_kind = "binary" if k == 2 else "multiclass"
        if want == "multiclass" and k == 2:
            problems.add(None, "a multiclass problem needs 3 or more classes")

    if not rows and not problems:
        problems.add(None, "there are no data rows")
    if len(rows) > max_rows:
        problems.add(None, f"{len(rows):,} rows is more than the limit of {max_rows:,}; "
                           f"keep at most {max_rows:,} points")
    X = np.array([(a, b) for _, a, b, _, _ in rows], dtype=np.float64).reshape(-1, 2)
    out_mask = (np.abs(X) > limit).any(axis=1)
    out_index = np.flatnonzero(out_mask)
    if len(out_index) and not rescale:
        others = problems.count
        problems.new_pass()
        for i in out_index:
            problems.add(rows[i][0], lambda: f"point ({_short(X[i, 0])}, {_short(X[i, 1])}) is too far out: "
                                             f"|x1| and |x2| must be at most {_short(limit)}")
        rescalable = others == 0
    else:
        rescalable = False
    if problems:
        outside = [rows[i][0] for i in out_index[:SHOWN_PROBLEMS]] if not rescale else []
        raise CSVError(problems.kept, outside, source, count=problems.count, bad_rows=len(problems.lines),
                       outside_count=0 if rescale else len(out_index), rescalable=rescalable)
    if len(out_index):  # only with rescale
        X = rescale_points(X, extent)
    y = np.array([v for *_, v, _ in rows], dtype=np.float64)
    if final_kind != "regression":
        y = y.astype(np.int64)
    return data.Dataset(X, y, final_kind, k, name=name)


def rescale_points(X, extent=data.EXTENT) -> np.ndarray:
    """``X`` scaled about the origin by one factor so that every point lies within ``extent``
    (the farthest coordinate lands on the edge); points already inside are returned unchanged."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = map(float, extent)
    if X.size == 0:
        return X.copy()
    # the largest factor s <= 1 with lo <= s * x <= hi for every coordinate
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.min(np.where(X > 0, hi / X, np.where(X < 0, lo / X, np.inf)))
    return np.clip(X * min(1.0, float(s)), lo, hi)  # the clip only absorbs rounding


def load_csv(path, kind: str | None = None, classes: int | None = None, **kw) -> data.Dataset:
    """:func:`read_csv` on a file; the error message names the file."""
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    name = os.path.splitext(os.path.basename(str(path)))[0] or "custom"
    return read_csv(text, kind, classes, name=kw.pop("name", name), source=str(path), **kw)


def to_csv(X, y, kind: str = "binary") -> str:
    """The points as CSV text with a header: ``x1,x2,label`` (classes) or ``x1,x2,y`` (regression).

    Floats are written in Python's shortest round-tripping form, so :func:`read_csv` gives back the
    same numbers exactly.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or len(y) != len(X):
        raise ValueError(f"to_csv needs points (n, 2) and one target each; got X {X.shape}, y {y.shape}")
    regression = kind == "regression"
    lines = ["x1,x2,y" if regression else "x1,x2,label"]
    for (a, b), t in zip(X.tolist(), y.tolist()):
        lines.append(f"{a!r},{b!r},{float(t)!r}" if regression else f"{a!r},{b!r},{int(t)}")
    return "\n".join(lines) + "\n"


def _short(v: float) -> str:
    return f"{v:.6g}"


__all__ = ["read_csv", "load_csv", "to_csv", "rescale_points", "CSVError", "Problem", "MAX_CLASSES",
           "DEFAULT_MAX_ROWS"]
