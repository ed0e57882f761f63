"""The playground's settings: one table of every setting (type, default, range, URL key), the
session limits, and the checks every value passes before it reaches a model.

It is pure (no sockets, no asyncio). The session object (`backlit.playground.session`) validates with it, and
the wire protocol (`backlit.server.protocol`) builds its message schemas on it, so defaults, ranges and
URL keys exist in exactly one place.

Every check raises :class:`ProtocolError` naming the offending field and what is allowed; the server
turns it into an ``{"type": "error", "field": ..., "message": ...}`` reply and the session goes on.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields as dc_fields
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from ..nn import activations, optim
from ..lab import data, gradflow, kinds
from .. import nn
from . import pacing, palette, presets

MAX_MESSAGE_BYTES = 256 * 1024  # room for a CSV of the session's 5,000 points
MAX_SEED = 2**31 - 1
from ..lab.fit import WEIGHT_LIMIT  # noqa: E402  |value| of a restored weight (hello, load); training past it is divergence
TYPED_WEIGHT_LIMIT = 1e3  # |value| of a weight typed into the page (set_weight)
PLANE_LIMIT = 10.0  # |x|, |y| of a clicked plane point (the plane is [-6, 6]^2, with some slack)


class ProtocolError(ValueError):
    """A message or value the protocol does not allow. ``field`` names it (dotted, e.g. 'config.lr')."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def reply(self, reply_to: int | None = None) -> dict:
        msg = {"type": "error", "field": self.field, "message": self.message}
        if reply_to is not None:
            msg["reply_to"] = reply_to
        return msg


@dataclass(frozen=True)
class Limits:
    """Server-side limits. The CLI sets max_sessions and max_points; the rest are sensible defaults."""

    max_sessions: int = 32
    max_points: int = 5000
    max_layers: int = 8
    max_neurons: int = 16
    max_message_bytes: int = MAX_MESSAGE_BYTES
    frame_interval: float = 0.025  # seconds between frames while training (about 40 frames/s)
    tick_seconds: float = 0.008  # training work per tick, before yielding to other sessions
    train_seconds_per_frame: float = 0.015  # most training per frame interval for one session
    max_history: int = 1000  # loss-curve points kept; older ones are thinned 2:1
    cpu_share: float = 0.9  # share of the event loop's time the busy sessions split evenly (budgets)
    cpu_burst: float = 0.05  # seconds a session may spend at once before its budget holds it back
    max_queued: int = 32  # messages one connection may have waiting; more are dropped with an error
    frames_in_flight: int = 3  # training frames sent ahead of the page's "drawn" acknowledgements
    max_tabs_per_student: int = 4  # open tabs one student (one class cookie) may have on a worker
    hello_seconds: float = 30.0  # a connection that says nothing this long after opening is closed
    idle_seconds: float = 900.0  # a tab that sends nothing (no control, no frame acknowledged) this long

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dc_fields(self)}


# --------------------------------------------------------------------------------------------------
# The config table: one row per setting (name, type, default, range or choices, URL key, group).
# Groups: "data" regenerates the data (and re-initialises the net), "network" rebuilds the net,
# "training" keeps the weights, "pace" is read by the adapter that runs training, "page" is only
# stored and echoed (the page uses it).
# --------------------------------------------------------------------------------------------------

ACTIVATIONS = activations.ACTIVATIONS  # live registries: an entry added there is a valid choice here
LOSSES = nn.LOSSES
OPTIMIZERS = optim.OPTIMIZERS
REGULARIZATIONS = {"none": "None", "l1": "L1", "l2": "L2"}
PROBLEMS = {"classification": "Classification", "regression": "Regression"}
INITS = {"uniform": "Uniform (TF Playground)", "xavier": "Xavier", "he": "He"}


@dataclass(frozen=True)
class Setting:
    name: str
    type: str  # "str" | "int" | "float" | "bool" | "list[str]" | "list[int]"
    default: Any
    url: str
    group: str
    lo: float | None = None  # numbers: range; lists: per-item range
    hi: float | None = None
    options: Mapping | None = None  # strings and list[str] items: a live registry, value -> label or entry
    max_len: int | None = None  # lists
    min_len: int = 0
    doc: str = ""
    label: str = ""  # the control's label on the page
    stops: tuple = ()  # numbers: the values a menu or slider offers (any value in range is valid)

    @property
    def choices(self) -> tuple | None:
        """The valid values now (read from the registry each time, so a registered entry is valid)."""
        return None if self.options is None else tuple(self.options)

    def to_dict(self, limits: Limits) -> dict:
        d = {"name": self.name, "type": self.type, "default": self.default, "url": self.url,
             "group": self.group, "doc": self.doc, "label": self.label}
        lo, hi, max_len = bounds(self, limits)
        if lo is not None:
            d["min"], d["max"] = lo, hi
        if self.options is not None:
            d["choices"] = list(self.options)
            d["labels"] = {k: v if isinstance(v, str) else getattr(v, "label", k) for k, v in self.options.items()}
        if self.stops:
            d["stops"] = [v for v in self.stops if hi is None or v <= hi]
        if max_len is not None:
            d["min_len"], d["max_len"] = self.min_len, max_len
        return d


CONFIG: tuple[Setting, ...] = (
    Setting("dataset", "str", "circle", "d", "data", options=data.DATASETS, doc="dataset name", label="Dataset"),
    Setting("noise", "float", 0.0, "n", "data", 0.0, 0.5, doc="TF Playground's noise slider / 100", label="Noise"),
    Setting("train_ratio", "float", 0.5, "tr", "data", 0.1, 0.9, doc="share of points used for training",
            label="Ratio of training to test data"),
    Setting("n_points", "int", 500, "np", "data", 50, 5000, doc="number of points (max: limits.max_points)",
            label="Points", stops=(100, 250, 500, 1000, 2000, 5000)),
    Setting("classes", "int", 3, "k", "data", 3, 5, doc="classes of a multiclass set (others ignore it)",
            label="Classes", stops=(3, 4, 5)),
    Setting("seed", "int", 1, "s", "data", 0, MAX_SEED, doc="seeds the data, the split, the init, the order",
            label="Seed"),
    Setting("features", "list[str]", ["x1", "x2"], "f", "network", options=data.FEATURES,
            min_len=1, max_len=len(data.FEATURES), doc="input features, a non-empty subset", label="Features"),
    Setting("hidden", "list[int]", [4, 2], "h", "network", 1, 16, max_len=8,
            doc="neurons per hidden layer (max: limits.max_layers x limits.max_neurons)", label="Hidden layers"),
    Setting("activation", "str", "tanh", "a", "network", options=ACTIVATIONS, doc="hidden activation",
            label="Activation"),
    Setting("init", "str", "xavier", "i", "network", options=INITS,
            doc="weight initialisation: uniform (as TF Playground), xavier (Glorot) or he (Kaiming)",
            label="Initialisation"),
    Setting("problem", "str", "classification", "p", "network", options=PROBLEMS,
            doc="derived from the dataset; a mismatch is an error", label="Problem type"),
    Setting("loss", "str", "bce", "l", "network", options=LOSSES,
            doc="a loss of backlit.nn.LOSSES that fits the dataset's kind (the kind's first is its default)", label="Loss"),
    Setting("lr", "float", 0.03, "lr", "training", 1e-5, 10.0, doc="learning rate", label="Learning rate",
            stops=(0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10)),
    Setting("batch_size", "int", 10, "bs", "training", 1, 500, doc="samples per step", label="Batch size",
            stops=(1, 100)),
    Setting("optimizer", "str", "sgd", "o", "training", options=OPTIMIZERS,
            doc="a row of backlit.nn.optim.OPTIMIZERS (sgd, momentum, ...)", label="Optimizer"),
    Setting("regularization", "str", "none", "r", "training", options=REGULARIZATIONS,
            doc="penalty added to the training loss: l1 = sum |w|, l2 = 0.5 sum w^2 (weights only)",
            label="Regularization"),
    Setting("reg_rate", "float", 0.0, "rr", "training", 0.0, 1.0, doc="penalty factor", label="Regularization rate",
            stops=(0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1)),
    Setting("speed", "int", pacing.DEFAULT_LEVEL, "sp", "pace", 1, len(pacing.PACES),
            options=None, doc="training pace while playing: a level of backlit.playground.pacing.PACES (the top one has no limit)",
            label="Training speed", stops=tuple(p.level for p in pacing.PACES)),
    Setting("show_test", "bool", False, "st", "page", doc="page only: draw the test points", label="Show test data"),
    Setting("discretize", "bool", False, "dz", "page", doc="page only: discretize the boundary",
            label="Discretize output"),
)

SETTINGS: dict[str, Setting] = {s.name: s for s in CONFIG}
BY_URL_KEY: dict[str, Setting] = {s.url: s for s in CONFIG}
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(s.name for s in CONFIG if s.group == g) for g in ("data", "network", "training", "pace", "page")
}


def default_config() -> dict:
    return {s.name: (list(s.default) if isinstance(s.default, list) else s.default) for s in CONFIG}


def bounds(s: Setting, limits: Limits) -> tuple:
    """(lo, hi, max_len) of a setting, with the configurable limits applied."""
    if s.name == "n_points":
        return s.lo, limits.max_points, None
    if s.name == "hidden":
        return s.lo, limits.max_neurons, limits.max_layers
    return s.lo, s.hi, s.max_len


def schema(limits: Limits | None = None) -> dict:
    """Everything the page builds itself from, as JSON (sent in the first `state` message): the
    settings table, and the registries of activations, losses, optimizers, problem kinds, datasets (with the
    settings of a network that solves each), input features, training paces and colours, and the
    plane's extent. The page holds no copy of any of these."""
    limits = limits or Limits()
    return {
        "settings": [s.to_dict(limits) for s in CONFIG],
        "activations": [a.to_dict() for a in activations.ACTIVATIONS.values()],
        "losses": [cls.to_dict() for cls in nn.LOSSES.values()],
        "optimizers": [o.to_dict() for o in optim.OPTIMIZERS.values()],
        "kinds": [k.to_dict() for k in kinds.KINDS.values()],
        "datasets": [{"name": d.name, "kind": d.kind, "label": d.label, "description": d.description,
                      "problem": d.problem, "solver": d.solver, "preview": _preview(d.name)}
                     for d in data.DATASETS.values()],
        "features": [f.to_dict() for f in data.FEATURES.values()],
        "presets": [p.to_dict() for p in presets.PRESETS.values()],
        "badges": gradflow.BADGES,
        "paces": [{"level": p.level, "steps_per_second": p.steps_per_second, "label": p.label}
                  for p in pacing.PACES],
        "extent": list(data.EXTENT),
        "palette": palette.to_dict(),
    }


@functools.lru_cache(maxsize=None)
def _preview(name: str, n: int = 80) -> list:
    """A few of a dataset's real points, scaled to [-1, 1], for its thumbnail: [[x, y, label], ...]."""
    ds = data.make(name, n=n, seed=0)
    scale = max(abs(data.EXTENT[0]), abs(data.EXTENT[1]))
    return [[round(x / scale, 3), round(y / scale, 3), round(float(v), 3) if ds.kind == "regression" else int(v)]
            for (x, y), v in zip(ds.X.tolist(), ds.y.tolist())]


def markdown_table(limits: Limits | None = None) -> str:
    """The settings table as Markdown, for docs/protocol.md (a test checks the doc against it):
    ``python -c "from backlit.playground.settings import markdown_table; print(markdown_table())"``."""
    limits = limits or Limits()
    lines = ["| key | URL key | type | default | allowed | group |", "|---|---|---|---|---|---|"]
    for s in CONFIG:
        lo, hi, max_len = bounds(s, limits)
        if s.choices is not None:
            allowed = ", ".join(s.choices)
        elif s.type == "list[int]":
            allowed = f"0 .. {max_len} layers, each {lo} .. {hi}"
        elif lo is not None:
            allowed = f"{_fmt(lo)} .. {_fmt(hi)}"
        else:
            allowed = "true, false"
        lines.append(f"| `{s.name}` | `{s.url}` | {s.type} | {json.dumps(s.default)} | {allowed} | {s.group} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Scalar checks
# --------------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    return repr(v) if not isinstance(v, float) else f"{v:g}"


def _describe(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(name: str, value, lo=None, hi=None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)  # JS sends 3.0 as 3; accept exact integers
        else:
            raise ProtocolError(name, f"{name} must be an integer{_range(lo, hi)}, got {_describe(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ProtocolError(name, f"{name} must be an integer{_range(lo, hi)}, got {_describe(value)}")
    return value


def check_float(name: str, value, lo=None, hi=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(name, f"{name} must be a number{_range(lo, hi)}, got {_describe(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise ProtocolError(name, f"{name} must be a finite number{_range(lo, hi)}") from None
    if not math.isfinite(value):
        raise ProtocolError(name, f"{name} must be a finite number{_range(lo, hi)}, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ProtocolError(name, f"{name} must be a number{_range(lo, hi)}, got {_fmt(value)}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(name, f"{name} must be true or false, got {_describe(value)}")
    return value


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ProtocolError(name, f"{name} must be one of {', '.join(choices)}; got {_describe(value)}")
    return value


def _range(lo, hi) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" >= {_fmt(lo)}"
    if lo is None:
        return f" <= {_fmt(hi)}"
    return f" in {_fmt(lo)}..{_fmt(hi)}"


def check_setting(s: Setting, value, limits: Limits, prefix: str = "config."):
    """Validate one config value against its row of the table; returns the clean value."""
    name = prefix + s.name
    lo, hi, max_len = bounds(s, limits)
    if s.type == "str":
        return check_choice(name, value, s.choices)
    if s.type == "int":
        return check_int(name, value, lo, hi)
    if s.type == "float":
        return check_float(name, value, lo, hi)
    if s.type == "bool":
        return check_bool(name, value)
    # lists
    if not isinstance(value, list):
        raise ProtocolError(name, f"{name} must be a list ({_list_rule(s, lo, hi, max_len)}), got {_describe(value)}")
    if not s.min_len <= len(value) <= max_len:
        raise ProtocolError(name, f"{name} must have {s.min_len}..{max_len} items ({_list_rule(s, lo, hi, max_len)})")
    if s.type == "list[str]":
        out = [check_choice(name, v, s.choices) for v in value]
        if len(set(out)) != len(out):
            raise ProtocolError(name, f"{name} lists a value twice: {', '.join(out)}")
        if s.name == "features":  # keep the canonical order so equal sets compare equal
            order = list(s.choices)
            out.sort(key=order.index)
        return out
    out = []
    for k, v in enumerate(value):
        try:
            out.append(check_int(name, v, lo, hi))
        except ProtocolError:
            raise ProtocolError(name, f"{name}[{k}] must be an integer in {lo}..{hi} "
                                f"({_list_rule(s, lo, hi, max_len)}), got {_describe(v)}") from None
    return out


def _list_rule(s: Setting, lo, hi, max_len) -> str:
    if s.type == "list[str]":
        return f"each one of {', '.join(s.choices)}"
    return f"up to {max_len} layers, each {lo}..{hi}"


def check_config(partial, limits: Limits, prefix: str = "config.") -> dict:
    """Validate a partial config dict (unknown keys are errors). Cross-field rules are checked by
    :func:`resolve_config`, once the partial is merged into the session's config."""
    if not isinstance(partial, dict):
        raise ProtocolError(prefix.rstrip("."), f"{prefix.rstrip('.')} must be an object of settings")
    out = {}
    for key, value in partial.items():
        if key not in SETTINGS:
            raise ProtocolError(prefix + str(key)[:40], f"unknown setting {_describe(key)}; known: {', '.join(SETTINGS)}")
        out[key] = check_setting(SETTINGS[key], value, limits, prefix)
    return out


def resolve_config(current: dict, partial: dict, prefix: str = "config.") -> dict:
    """Merge a validated partial config into ``current`` and apply the cross-field rules:

    - ``problem`` follows the dataset. Giving a problem that does not fit the dataset given in the same
      message is an error; giving only a new problem switches to that problem's first dataset.
    - ``loss`` must fit the dataset's kind. A dataset of another kind starts from that kind's default
      loss (bce, cross_entropy, mse), so regression's mse does not stick to a binary set picked later.
    """
    new = dict(current)
    new.update(partial)
    if "problem" in partial and "dataset" not in partial:
        if data.DATASETS[new["dataset"]].problem != partial["problem"]:
            new["dataset"] = next(n for n, s in data.DATASETS.items() if s.problem == partial["problem"])
    spec = data.DATASETS[new["dataset"]]
    if "problem" in partial and partial["problem"] != spec.problem:
        raise ProtocolError(prefix + "problem", f"problem {partial['problem']!r} does not fit dataset "
                            f"{spec.name!r}, which is a {spec.problem} set")
    new["problem"] = spec.problem
    allowed = kinds.get(spec.kind).losses()
    kind_changed = data.DATASETS[current["dataset"]].kind != spec.kind if "dataset" in current else False
    if kind_changed and "loss" not in partial:
        new["loss"] = allowed[0]  # a set of another kind starts from that kind's usual loss
    if new["loss"] not in allowed:
        if "loss" in partial:
            raise ProtocolError(prefix + "loss", f"loss {new['loss']!r} does not fit the {spec.kind} dataset "
                                f"{spec.name!r}; choose one of {', '.join(allowed)}")
        new["loss"] = allowed[0]
    return new


# --------------------------------------------------------------------------------------------------
# URL-hash form: "d=spiral&n=0.1&h=4,2&f=x1,x2&st=1" (only values that differ from the defaults)
# --------------------------------------------------------------------------------------------------

def to_url_state(config: dict) -> str:
    """The config as a URL hash (without '#'); keys are the table's short URL keys, in table order.
    Lists are comma-separated, booleans 1/0. Values equal to the default are left out."""
    parts = []
    for s in CONFIG:
        if s.name not in config or config[s.name] == s.default:
            continue
        v = config[s.name]
        if s.type.startswith("list"):
            text = ",".join(str(x) for x in v)
        elif s.type == "bool":
            text = "1" if v else "0"
        elif s.type == "float":
            text = repr(float(v))
        else:
            text = str(v)
        parts.append(f"{s.url}={quote(text, safe=',.-_^')}")
    return "&".join(parts)


def from_url_state(text: str, limits: Limits | None = None) -> dict:
    """Parse a URL hash back into a validated partial config (unknown keys are errors)."""
    limits = limits or Limits()
    if not isinstance(text, str):
        raise ProtocolError("url_state", "url_state must be a string like 'd=spiral&h=4,2'")
    text = text.lstrip("#")
    out = {}
    for part in filter(None, text.split("&")):
        key, sep, raw = part.partition("=")
        if key not in BY_URL_KEY:
            raise ProtocolError("url_state." + key[:20], f"unknown URL key {key[:20]!r}; known: {', '.join(BY_URL_KEY)}")
        s = BY_URL_KEY[key]
        raw = unquote(raw)
        name = "url_state." + s.name
        try:
            if s.type == "int":
                value: Any = int(raw)
            elif s.type == "float":
                value = float(raw)
            elif s.type == "bool":
                if raw not in ("0", "1", "true", "false"):
                    raise ValueError
                value = raw in ("1", "true")
            elif s.type == "list[int]":
                value = [int(x) for x in raw.split(",") if x != ""]
            elif s.type == "list[str]":
                value = [x for x in raw.split(",") if x != ""]
            else:
                value = raw
        except ValueError:
            check_setting(s, raw[:20], limits, prefix="url_state.")  # raises, naming the allowed range
            raise ProtocolError(name, f"{name} has a malformed value {raw[:20]!r}") from None
        out[s.name] = check_setting(s, value, limits, prefix="url_state.")
    return out


# --------------------------------------------------------------------------------------------------
# Weights sent by a client (hello on reconnect, load)
# --------------------------------------------------------------------------------------------------

def check_weights(weights, biases, sizes: list[int], name: str = "weights") -> tuple[list, list]:
    """Validate per-layer weights (out, in) and biases (out,) against ``sizes``; returns float64 arrays.

    Every value must be a finite number with |value| <= WEIGHT_LIMIT.
    """
    if isinstance(weights, dict):
        weights, biases = weights.get("weights"), weights.get("biases", biases)
    L = len(sizes) - 1
    if not isinstance(weights, list) or len(weights) != L:
        raise ProtocolError(name, f"{name} must be a list of {L} layer matrices for sizes {sizes}")
    if not isinstance(biases, list) or len(biases) != L:
        raise ProtocolError("biases", f"biases must be a list of {L} layer vectors for sizes {sizes}")
    Ws, bs = [], []
    for l in range(L):
        shape_w, shape_b = (sizes[l + 1], sizes[l]), (sizes[l + 1],)
        Ws.append(_array(f"{name}[{l}]", weights[l], shape_w))
        bs.append(_array(f"biases[{l}]", biases[l], shape_b))
    return Ws, bs


def _array(name: str, value, shape: tuple) -> np.ndarray:
    bad = ProtocolError(name, f"{name} must be a {'x'.join(map(str, shape))} array of finite numbers "
                        f"in -{WEIGHT_LIMIT:g}..{WEIGHT_LIMIT:g}")
    if not isinstance(value, list):
        raise bad
    flat: list = []
    if len(shape) == 2:
        if len(value) != shape[0] or any(not isinstance(r, list) or len(r) != shape[1] for r in value):
            raise bad
        for r in value:
            flat.extend(r)
    else:
        if len(value) != shape[0]:
            raise bad
        flat = value
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in flat):
        raise bad
    try:
        arr = np.array(flat, dtype=np.float64).reshape(shape)
    except (OverflowError, ValueError):
        raise bad from None
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > WEIGHT_LIMIT):
        raise bad
    return arr


def json_safe(obj):
    """Replace non-finite floats (and numpy scalars/arrays) by JSON-safe values: NaN/inf -> None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    return obj
