"""Saving and loading an `MLP` as JSON: the architecture and the weights, written atomically.

File layout (version 1)::

    {"format": "backlit.model", "version": 1,
     "architecture": {"sizes": [2, 8, 1], "activations": ["tanh", "linear"],
                      "output_activation": null, "init": "xavier"},
     "weights": {"linears.0.weight": [[...], ...], "linears.0.bias": [...], ...},
     "meta": {...}}

`activations` has one name per linear layer, like `MLP.activations`. Floats are written with
Python's shortest round-tripping repr, so a save/load round trip is exact. `meta` is the model's
free-form `meta` dict (e.g. the input features), returned as `model.meta` by `load`.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile

import numpy as np

from .layers import ACTIVATIONS, INITS, MLP

FORMAT = "backlit.model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file (or dict) that cannot be read back: the message says what is wrong, in one line."""


def model_to_dict(model: MLP) -> dict:
    """The JSON-able dict that `save` writes. Refuses non-finite weights (they would not load)."""
    if not isinstance(model, MLP):
        raise TypeError(f"only nn.MLP models can be saved, got {type(model).__name__}")
    weights = {}
    for name, arr in model.state_dict().items():
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"refusing to save: {name} contains NaN or infinity")
        weights[name] = arr.astype(np.float64).tolist()
    d = {
        "format": FORMAT,
        "version": VERSION,
        "architecture": {
            "sizes": list(model.sizes),
            "activations": list(model.activations),
            "output_activation": model.output_activation,
            "init": model.init,
        },
        "weights": weights,
    }
    if model.meta:
        d["meta"] = copy.deepcopy(model.meta)
    return d


def model_from_dict(d) -> MLP:
    """Build the MLP a `model_to_dict` dict describes; anything malformed raises ModelFileError."""
    if not isinstance(d, dict):
        raise ModelFileError(f"not a backlit model (expected a JSON object, got {_kind(d)})")
    if d.get("format") != FORMAT:
        raise ModelFileError(f"not a backlit model (format is {d.get('format')!r}, "
                             f"expected {FORMAT!r})")
    version = d.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ModelFileError(f"unsupported model file version {version!r} "
                             f"(this backlit reads version {VERSION})")
    kwargs = _architecture(d.get("architecture"))
    sizes = kwargs["sizes"]
    weights = d.get("weights")
    if not isinstance(weights, dict):
        raise ModelFileError(f"'weights' must be an object mapping names to arrays, "
                             f"got {_kind(weights)}")
    # Check every array against the shapes the sizes imply *before* building anything, so a
    # corrupt file with huge sizes fails fast instead of allocating.
    expected = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"linears.{i}.weight"] = (n_out, n_in)
        expected[f"linears.{i}.bias"] = (n_out,)
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing or extra:
        what = "; ".join(filter(None, [missing and "missing " + ", ".join(missing),
                                       extra and "unexpected " + ", ".join(extra)]))
        raise ModelFileError(f"weights do not match sizes {sizes}: {what}")
    state = {}
    for name, shape in expected.items():
        arr = _numbers(name, weights[name])
        if arr.shape != shape:
            raise ModelFileError(f"{name} has shape {arr.shape}, expected {shape} for sizes {sizes}")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{name} contains a non-finite number (NaN or infinity)")
        state[name] = arr
    meta = d.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(f"'meta' must be an object, got {_kind(meta)}")
    model = MLP(**kwargs)
    model.load_state_dict(state)
    model.meta = meta
    return model


def save(model: MLP, path) -> None:
    """Write `model` to `path` as JSON, atomically: a temp file in the same folder, then os.replace.

    A crash mid-write leaves the old file (if any) intact, never a truncated one.
    """
    d = model_to_dict(model)
    try:
        text = json.dumps(d, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"cannot save: model.meta is not JSON-serialisable ({e})") from None
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=folder)
    except OSError as e:
        raise ModelFileError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is not a secret
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path) -> MLP:
    """Read a model written by `save`. Any problem raises ModelFileError naming the file."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise ModelFileError(f"cannot read model file {path}: {reason}") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} "
                             f"column {e.colno})") from None
    try:
        return model_from_dict(d)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None


def _architecture(arch) -> dict:
    """Validate the "architecture" object and turn it into MLP keyword arguments."""
    if not isinstance(arch, dict):
        raise ModelFileError(f"'architecture' must be an object, got {_kind(arch)}")
    sizes = arch.get("sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise ModelFileError(f"architecture 'sizes' must be a list of at least 2 positive "
                             f"integers, got {sizes!r}")
    acts = arch.get("activations")
    if (not isinstance(acts, list) or len(acts) != len(sizes) - 1
            or not all(a in ACTIVATIONS for a in acts)):
        raise ModelFileError(f"architecture 'activations' must list {len(sizes) - 1} names from "
                             f"{', '.join(ACTIVATIONS)}, got {acts!r}")
    out = arch.get("output_activation")
    if out is not None and out not in ACTIVATIONS:
        raise ModelFileError(f"unknown output_activation {out!r}")
    if acts[-1] != (out or "linear"):
        raise ModelFileError(f"last activation {acts[-1]!r} disagrees with "
                             f"output_activation {out!r}")
    init = arch.get("init", "xavier")
    if init not in INITS:
        raise ModelFileError(f"unknown init {init!r}; expected one of {', '.join(INITS)}")
    return {"sizes": sizes, "activation": acts[:-1], "output_activation": out, "init": init}


def _numbers(name: str, value) -> np.ndarray:
    """A (possibly nested) JSON list of numbers as a float64 array; anything else is an error."""
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nesting
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise ModelFileError(f"{name} is not a rectangular array of numbers")
    return arr.astype(np.float64)


def _kind(x) -> str:
    return "null" if x is None else type(x).__name__
