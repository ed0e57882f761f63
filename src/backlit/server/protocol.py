"""The playground's wire protocol: message schemas, validation and frame packing.

This module is pure (no sockets, no asyncio). The settings table and the value checks it builds on live
in `backlit.playground.settings` (the names re-exported here); docs/protocol.md describes the messages
for the page. What a field means for the session (which export formats exist, which points) is the
session's to check.

Every check raises :class:`ProtocolError` naming the offending field and what is allowed; the server
turns it into an ``{"type": "error", "field": ..., "message": ...}`` reply and the session goes on.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from ..playground.settings import (MAX_MESSAGE_BYTES, PLANE_LIMIT, TYPED_WEIGHT_LIMIT, ProtocolError, _describe,
                                   check_bool, check_float, check_int, json_safe)
# The settings table and its checks, re-exported by name: the wire's users find them here too.
from ..playground.settings import (ACTIVATIONS, CONFIG, INITS, LOSSES, MAX_SEED, OPTIMIZERS, PROBLEMS,  # noqa: F401
                                   REGULARIZATIONS, SETTINGS, WEIGHT_LIMIT, Limits, Setting, check_choice,
                                   check_config, check_setting, check_weights, default_config, from_url_state,
                                   resolve_config, schema, to_url_state)

MAX_ID = 2**53 - 1  # the largest integer a JS number holds exactly

# --------------------------------------------------------------------------------------------------
# Messages: client -> server. Each schema maps a field to (checker, required).
# --------------------------------------------------------------------------------------------------

def _opt_dict(name, v):
    if not isinstance(v, dict):
        raise ProtocolError(name, f"{name} must be an object")
    return v


def _any_list_or_dict(name, v):
    if not isinstance(v, (list, dict)):
        raise ProtocolError(name, f"{name} must be a list of per-layer weights or an object {{weights, biases}}")
    return v


def _list(name, v):
    if not isinstance(v, list):
        raise ProtocolError(name, f"{name} must be a list")
    return v


def _short_str(name, v):
    if not isinstance(v, str) or len(v) > 4096:
        raise ProtocolError(name, f"{name} must be a string of at most 4096 characters")
    return v


def _bool(name, v):
    return check_bool(name, v)


def _text(name, v):
    if not isinstance(v, str):
        raise ProtocolError(name, f"{name} must be the text of a CSV file")
    return v


def _any(name, v):
    return v  # checked by the session against the problem kind (a class index, or a value)


def _nonneg_int(name, v):
    return check_int(name, v, 0, 2**53 - 1)


def _layer(name, v):
    return check_int(name, v, 0, 64)


def _layer_or_inputs(name, v):
    return check_int(name, v, -1, 64)


def _index(name, v):
    return check_int(name, v, 0, 10**6)


def _j_or_bias(name, v):
    if v == "bias":
        return v
    try:
        return check_int(name, v, 0, 10**6)
    except ProtocolError:
        raise ProtocolError(name, f"{name} must be an input index >= 0 or \"bias\", got {_describe(v)}") from None


def _weight(name, v):
    return check_float(name, v, -TYPED_WEIGHT_LIMIT, TYPED_WEIGHT_LIMIT)


def _frame_count(name, v):
    return check_int(name, v, 1, 10**6)


def _plane(name, v):
    return check_float(name, v, -PLANE_LIMIT, PLANE_LIMIT)


def _name(name, v):
    if not isinstance(v, str) or not v or len(v) > 40 or not v.replace("_", "").isalnum():
        raise ProtocolError(name, f"{name} must be a name (letters, digits and _), got {_describe(v)}")
    return v


def _scale(name, v):
    return check_float(name, v, 1e-6, 1.0)


def _images():
    from ..playground import images  # the images view's tables (networks, attack limits)

    return images


def _network(name, v):
    return check_choice(name, v, tuple(_images().NETWORKS))


def _speed(name, v):
    from ..playground import pacing

    return check_int(name, v, 1, len(pacing.PACES))


def _seed(name, v):
    return check_int(name, v, 0, 2**31 - 1)


def _tile_layer(name, v):
    return check_int(name, v, 1, 2)


def _eps(name, v):
    a = _images().ATTACKS["eps"]
    return check_float(name, v, a["min"], a["max"])


def _attack_steps(name, v):
    a = _images().ATTACKS["steps"]
    return check_int(name, v, a["min"], a["max"])


def _digit_or_none(name, v):
    return None if v is None else check_int(name, v, 0, 9)


def _side(name, v):
    return check_int(name, v, 1, _images().MAX_DRAWING_SIDE)


def _pixels(name, v):
    side = _images().MAX_DRAWING_SIDE
    if not isinstance(v, str) or len(v) > 4 * (side * side // 3 + 1):
        raise ProtocolError(name, f"{name} must be base64 text of at most {side} x {side} bytes")
    return v


def _lesson(name, v):
    if not isinstance(v, str) or len(v) > 64:
        raise ProtocolError(name, f"{name} must be a lesson's name")
    return v  # the course checks it against its lessons


def _answer(name, v):
    """A number, a choice's index, or a list of up to 64 short strings (links picked)."""
    if isinstance(v, bool):
        raise ProtocolError(name, f"{name} must be a number, a choice or a list of links")
    if isinstance(v, int):
        return check_int(name, v, -2**53, 2**53)
    if isinstance(v, float):
        return check_float(name, v, -1e12, 1e12)
    if isinstance(v, list) and len(v) <= 64 and all(isinstance(a, str) and len(a) <= 16 for a in v):
        return list(v)
    raise ProtocolError(name, f"{name} must be a number, a choice or a list of links")


def _expr_text(name, v):
    if not isinstance(v, str) or len(v) > 400:
        raise ProtocolError(name, f"{name} must be an expression of at most 400 characters, e.g. e = (a + b)*(b + 1)")
    return v  # parsed by backlit.lab.expr, which names what it refuses


def _expr_values(name, v):
    if not isinstance(v, dict) or len(v) > 16:
        raise ProtocolError(name, f"{name} must be an object of at most 16 {{variable: number}}")
    for k, x in v.items():
        if not isinstance(k, str) or not 0 < len(k) <= 32:
            raise ProtocolError(name, f"{name}: a variable's name has 1 to 32 characters")
        check_float(f"{name}.{k}", x, -1e6, 1e6)
    return dict(v)


def _expr_name(name, v):
    if not isinstance(v, str) or not 0 < len(v) <= 32:
        raise ProtocolError(name, f"{name} must be the name of one of the expression's variables")
    return v


def _event(name, v):
    from ..playground.lessons import PAGE_EVENTS

    return check_choice(name, v, PAGE_EVENTS)


_NOARGS: dict = {}
SCHEMAS: dict[str, dict] = {
    "hello": {"config": (_opt_dict, False), "url_state": (_short_str, False),
              "weights": (_any_list_or_dict, False), "biases": (_list, False),
              "samples_seen": (_nonneg_int, False), "step": (_nonneg_int, False),
              "points": (_opt_dict, False)},  # a reconnect's own points: {"train": [[x, y, label], ...], "test": [...]}
    "set": {"config": (_opt_dict, True)},
    "regenerate": _NOARGS,
    "reset": _NOARGS,
    "play": _NOARGS,
    "pause": _NOARGS,
    "step": _NOARGS,
    "set_weight": {"layer": (_layer, True), "i": (_index, True), "j": (_j_or_bias, True),
                   "value": (_weight, True)},
    "select": {"index": (_index, True)},
    "select_point": {"x": (_plane, True), "y": (_plane, True)},
    "next_sample": _NOARGS,
    "trace": _NOARGS,
    "blame": {"layer": (_layer, True), "i": (_index, True), "j": (_j_or_bias, True)},
    "neuron": {"layer": (_layer_or_inputs, True), "i": (_index, True)},
    "check": {"layer": (_layer, True), "i": (_index, True), "j": (_j_or_bias, True)},
    "nudge": _NOARGS,
    "apply_update": {"scale": (_scale, False)},
    "save": _NOARGS,
    "load": {"session": (_opt_dict, True)},
    "saliency": _NOARGS,
    "graph": _NOARGS,
    "graph_zoom": {"layer": (_layer, True), "neuron": (_index, True)},
    "code": _NOARGS,
    "export": {"format": (_name, True)},  # which formats exist is the session's
    "drawn": {"frames": (_frame_count, False)},
    "add_point": {"x": (_plane, True), "y": (_plane, True), "label": (_any, True)},
    "remove_point": {"x": (_plane, True), "y": (_plane, True)},
    "clear_points": _NOARGS,
    "load_csv": {"text": (_text, True), "rescale": (_bool, False)},
    # the images view (backlit.playground.images): its own session, opened like a dataset
    "images_open": {"network": (_network, False)},
    "images_close": _NOARGS,
    "images_set": {"network": (_network, False), "speed": (_speed, False), "seed": (_seed, False)},
    "images_play": _NOARGS,
    "images_pause": _NOARGS,
    "images_step": _NOARGS,
    "images_reset": _NOARGS,
    "images_select": {"index": (_index, True)},
    "images_next": _NOARGS,
    "images_trace": _NOARGS,
    "images_tile": {"layer": (_tile_layer, True), "unit": (_index, True)},
    "images_saliency": _NOARGS,
    "images_attack": {"eps": (_eps, True), "steps": (_attack_steps, False), "target": (_digit_or_none, False)},
    "images_draw": {"width": (_side, True), "height": (_side, True), "pixels": (_pixels, True),
                    "label": (_digit_or_none, False)},
    # the course (backlit.playground.lessons)
    "lesson_open": {"lesson": (_lesson, True), "step": (_nonneg_int, False)},
    "lesson_answer": {"answer": (_answer, True)},
    "lesson_event": {"event": (_event, True)},
    "lesson_leave": _NOARGS,
    "lesson_progress": {"done": (_opt_dict, True)},
    "lesson_expr": {"text": (_expr_text, True), "values": (_expr_values, True), "wrt": (_expr_name, False)},
}
MESSAGE_TYPES = tuple(SCHEMAS)


def decode(raw: str | bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """Parse one text frame into a dict (not yet validated against its schema).

    Rejects binary frames, frames over MAX_MESSAGE_BYTES, invalid JSON and deep nesting (the JSON
    parser's recursion guard). NOTE: NaN/Infinity literals and numbers that overflow a float (1e999)
    are parsed into float nan/inf on purpose: every field's checker then rejects them, so the error
    names the field and its allowed range ("config.lr must be a finite number in 1e-05..10") instead
    of blaming the whole message.
    """
    if raw is None:
        raise ProtocolError("message", "empty message; send one JSON object per text frame")
    if isinstance(raw, (bytes, bytearray)):
        raise ProtocolError("message", "binary frames are not accepted; send JSON text frames")
    size = len(raw.encode("utf-8", "surrogatepass")) if len(raw) * 4 > max_bytes else len(raw)
    if size > max_bytes:
        raise ProtocolError("message", f"message is {size} bytes; the limit is {max_bytes} bytes")
    try:
        msg = json.loads(raw)
    except RecursionError:
        raise ProtocolError("message", "message is nested too deeply") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError("message", f"message is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("message", 'a message must be a JSON object like {"type": "step"}')
    return msg


def message_id(msg) -> int | None:
    """The message's "id" if it is a valid one (used to address error replies), else None."""
    if isinstance(msg, dict):
        v = msg.get("id")
        if isinstance(v, int) and not isinstance(v, bool) and -MAX_ID <= v <= MAX_ID:
            return v
    return None


class FieldErrors(ProtocolError):
    """Several bad fields in one message: one error reply that lists them all (``fields``)."""

    MAX_LISTED = 50

    def __init__(self, errors: list[ProtocolError]):
        first = errors[0]
        shown = "; ".join(e.message for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(first.field, shown + more)
        self.fields = [e.field for e in errors[:self.MAX_LISTED]]
        self.count = len(errors)

    def reply(self, reply_to: int | None = None) -> dict:
        msg = super().reply(reply_to)
        msg["fields"], msg["count"] = self.fields, self.count
        return msg


def merge_errors(errors: list[dict]) -> dict:
    """Error replies of one message -> one error reply listing every bad field."""
    if len(errors) == 1:
        return errors[0]
    fields = [e.get("field") for e in errors]
    shown = "; ".join(str(e.get("message", "")) for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return {"type": "error", "field": fields[0], "message": shown + more,
            "fields": fields[:FieldErrors.MAX_LISTED], "count": len(errors)}


def validate(msg: dict) -> dict:
    """Check a decoded message against its schema. Returns {"type", "id", **fields}; raises one
    ProtocolError naming every bad field (a :class:`FieldErrors` when there are several)."""
    if not isinstance(msg, dict):
        raise ProtocolError("message", "a message must be a JSON object")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise ProtocolError("type", f"type must be one of {', '.join(MESSAGE_TYPES)}; got {_describe(kind)}")
    out: dict = {"type": kind, "id": None}
    errors: list[ProtocolError] = []
    if "id" in msg:
        try:
            out["id"] = check_int("id", msg["id"], -MAX_ID, MAX_ID)
        except ProtocolError as e:
            errors.append(e)
    schema_ = SCHEMAS[kind]
    unknown = [key for key in msg if key not in ("type", "id") and key not in schema_]
    for key in unknown[:FieldErrors.MAX_LISTED]:
        allowed = ", ".join(schema_) or "no fields"
        errors.append(ProtocolError(str(key)[:40], f"{kind} does not take {_describe(key)} (allowed: {allowed})"))
    for key, (checker, required) in schema_.items():
        try:
            if key in msg:
                out[key] = checker(key, msg[key])
            elif required:
                raise ProtocolError(key, f"{kind} needs the field {key!r}")
        except ProtocolError as e:
            errors.append(e)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise FieldErrors(errors)
    return out


# --------------------------------------------------------------------------------------------------
# Server -> client: JSON text and the binary frame
# --------------------------------------------------------------------------------------------------

def encode(msg: dict) -> str:
    """A JSON text frame. Never contains NaN or Infinity (they become null)."""
    try:
        return json.dumps(msg, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError):
        return json.dumps(json_safe(msg), allow_nan=False, separators=(",", ":"), default=str)


FRAME_VERSION = 2
_ALIGN = 8  # every segment of the body starts at a multiple of 8 bytes (a Float64Array view needs it)
_TENSOR_FIELDS = (("weights", "<f8"), ("biases", "<f8"), ("train_grad.grad_W", "<f4"), ("train_grad.grad_b", "<f4"))
_DEFLATE_MIN = 1024  # bodies smaller than this go uncompressed


def _sanitise(a) -> np.ndarray:
    """float64, with NaN -> 0 and +-inf (or beyond float32) -> +-3.4e38, so the page never gets them."""
    a = np.asarray(a, dtype=np.float64)
    # NOTE (speed): min and max, no temporaries; NaN fails both comparisons, as does +-inf
    if a.size and not (a.min() >= -3.4e38 and a.max() <= 3.4e38):
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=3.4e38, neginf=-3.4e38), -3.4e38, 3.4e38)
    return a


def _exact_bytes(a: np.ndarray) -> bool:
    """All values integers in 0..255 (class indices)? Most heatmaps fail on their first values."""
    head = a.ravel()[:64]
    if not np.array_equal(head, np.rint(head)):
        return False
    return bool(a.min() >= 0 and a.max() <= 255 and np.array_equal(a, np.rint(a)))


def _quantise(a: np.ndarray) -> tuple[bytes, dict]:
    """float array -> (uint8 bytes, spec fields). Values that are all integers in 0..255 (class
    indices) go exactly; others are scaled to 0..255 between their min and max, per slice of the first
    axis for 3-D arrays (one neuron map each), else over the whole array."""
    if a.size and _exact_bytes(a):
        return _delta(a.astype(np.uint8)), {"dtype": "u8", "exact": True, "filter": "delta2"}
    per_slice = a.ndim >= 3 and a.shape[0] > 0
    axes = tuple(range(1, a.ndim)) if per_slice else None
    lo = a.min(axis=axes, keepdims=True) if a.size else np.zeros((1,) * max(a.ndim, 1))
    hi = a.max(axis=axes, keepdims=True) if a.size else lo
    lo32, hi32 = lo.astype(np.float32).astype(np.float64), hi.astype(np.float32).astype(np.float64)
    scale = 255.0 / np.where(hi32 > lo32, hi32 - lo32, 1.0)
    q = a - lo32  # then in place: the same numbers as np.rint((a - lo32) * scale), two arrays fewer
    q *= scale
    np.rint(q, out=q)
    np.clip(q, 0.0, 255.0, out=q)
    q = q.astype(np.uint8)
    lo_l, hi_l = _short(lo32), _short(hi32)
    spec = {"dtype": "u8", "lo": lo_l if per_slice else lo_l[0], "hi": hi_l if per_slice else hi_l[0],
            "filter": "delta2"}
    return _delta(q), spec


def _short(a: np.ndarray) -> list[float]:
    """Values to 7 significant digits (about float32's precision): a smaller JSON header."""
    return [float(f"{v:.7g}") for v in a.ravel().tolist()]


def _delta(q: np.ndarray) -> bytes:
    """The "delta2" filter (as PNG's Sub then Up): each byte minus its left neighbour, then each row
    minus the row above, modulo 256, per 2-D map. Smooth heatmaps become runs of small numbers that
    deflate well; the page undoes it with two running sums."""
    if q.ndim < 2:
        return q.tobytes()
    d = q.copy()
    d[..., 1:] = np.diff(q, axis=-1)
    d[..., 1:, :] = np.diff(d, axis=-2)
    return d.tobytes()


def _undelta(q: np.ndarray) -> np.ndarray:
    if q.ndim < 2:
        return q
    return np.cumsum(np.cumsum(q, axis=-2, dtype=np.uint8), axis=-1, dtype=np.uint8)


def _get(header: dict, dotted: str):
    first, _, rest = dotted.partition(".")
    v = header.get(first)
    return v.get(rest) if rest and isinstance(v, dict) else v


class FrameEncoder:
    """Packs the binary frames of one connection (docs/protocol.md, "The binary frame").

    ``compact`` (the server's setting): heatmaps as uint8 with a per-array (per-map) min/max, the body
    deflated, and whatever this connection was already sent in an earlier frame (an array, the
    weights, the batch gradient) marked ``"same": true`` instead of sent again. The page's decoder
    keeps the last value of each, so it always hands out complete frames. Without ``compact``
    (:func:`pack_frame`), arrays go as float32 and nothing is left out: lossless.
    """

    def __init__(self, compact: bool = True):
        self.compact = compact
        self.sent: dict[str, tuple] = {}  # what this connection holds: key -> (spec without offset, bytes)

    def encode(self, header: dict, arrays: dict[str, np.ndarray]) -> bytes:
        header = dict(header)
        segments: list[bytes] = []
        offset = 0

        def add(key: str, spec: dict, blob: bytes) -> dict:
            nonlocal offset
            if self.compact:
                if self.sent.get(key) == (spec, blob):
                    return {**spec, "same": True}
                self.sent[key] = (spec, blob)
            out = {**spec, "offset": offset, "bytes": len(blob)}
            pad = (-len(blob)) % _ALIGN
            segments.append(blob + b"\0" * pad)
            offset += len(blob) + pad
            return out

        specs = []
        for name, arr in arrays.items():
            a = _sanitise(arr)
            if self.compact:
                blob, fields = _quantise(a)
            else:
                blob, fields = a.astype("<f4").tobytes(), {"dtype": "f32"}
            specs.append({"name": name, **add("array:" + name, {"shape": list(a.shape), **fields}, blob)})
        tensors = []
        for field, dtype in _TENSOR_FIELDS:
            value = _get(header, field)
            if value is None:
                continue
            parts = [_sanitise(v) for v in value]
            dt = dtype if self.compact else "<f8"
            if self.compact and header.get("playing") and field in ("weights", "biases"):
                dt = "<f4"  # while training, float32 is plenty; a paused frame has them exactly
            blob = b"".join(p.astype(dt).tobytes() for p in parts)
            spec = {"dtype": "f64" if dt == "<f8" else "f32", "shapes": [list(p.shape) for p in parts]}
            tensors.append({"field": field, **add("tensor:" + field, spec, blob)})
        header.pop("weights", None)
        header.pop("biases", None)
        if header.get("train_grad") is not None:  # its arrays are in the body; its scale stays here
            header["train_grad"] = {k: v for k, v in header["train_grad"].items() if k not in ("grad_W", "grad_b")}
        body = b"".join(segments)
        deflated = self.compact and len(body) >= _DEFLATE_MIN
        if deflated:
            # NOTE (speed): run-length matching suits the delta-filtered maps (runs of small numbers): faster
            # than level 1's default and smaller (145 against 176 us, 4.2 against 4.7 kB on the default
            # network); any inflater reads it
            c = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
            z = c.compress(body) + c.flush()
            deflated = len(z) < len(body)
            body = z if deflated else body
        head = encode({**header, "frame": FRAME_VERSION, "arrays": specs, "tensors": tensors,
                       "body": {"bytes": offset, "deflate": deflated}}).encode("utf-8")
        pad = (-(4 + len(head))) % _ALIGN
        return b"".join([struct.pack("<I", len(head)), head, b" " * pad, body])


def pack_frame(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """One lossless binary frame (float32 arrays, float64 weights, nothing left out). The server
    packs with a per-connection :class:`FrameEncoder` instead, which makes compact frames.
    Non-finite values are replaced (NaN -> 0, +-inf -> +-3.4e38) so the page never receives them."""
    return FrameEncoder(compact=False).encode(header, arrays)


class FrameDecoder:
    """The inverse of :class:`FrameEncoder` for one connection (socket.js does the same in the page):
    keeps the last value of everything so that frames with ``"same"`` parts come out complete."""

    def __init__(self):
        self.held: dict[str, object] = {}

    def decode(self, buf: bytes) -> tuple[dict, dict[str, np.ndarray]]:
        (n,) = struct.unpack_from("<I", buf, 0)
        header = json.loads(buf[4:4 + n].decode("utf-8"))
        body = buf[4 + n + ((-(4 + n)) % _ALIGN):]
        if header.get("body", {}).get("deflate"):
            body = zlib.decompress(body)
        arrays = {}
        for spec in header["arrays"]:
            key = "array:" + spec["name"]
            if spec.get("same"):
                if key in self.held:
                    arrays[spec["name"]] = self.held[key]
                continue
            raw = body[spec["offset"]:spec["offset"] + spec["bytes"]]
            shape = tuple(spec["shape"])
            if spec["dtype"] == "f32":
                a = np.frombuffer(raw, dtype="<f4").reshape(shape)
            else:
                q = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
                if spec.get("filter") == "delta2":
                    q = _undelta(q)
                q = q.astype(np.float32)
                if spec.get("exact"):
                    a = q
                else:
                    lo, hi = (np.asarray(spec[k], dtype=np.float32) for k in ("lo", "hi"))
                    if lo.ndim:
                        lo, hi = lo.reshape((-1,) + (1,) * (len(shape) - 1)), hi.reshape((-1,) + (1,) * (len(shape) - 1))
                    a = lo + q * ((hi - lo) / np.float32(255))
            arrays[spec["name"]] = self.held[key] = a
        for spec in header.get("tensors", []):
            key = "tensor:" + spec["field"]
            if spec.get("same"):
                value = self.held.get(key)
            else:
                flat = np.frombuffer(body[spec["offset"]:spec["offset"] + spec["bytes"]],
                                     dtype="<f8" if spec["dtype"] == "f64" else "<f4")
                value, k = [], 0
                for shape in spec["shapes"]:
                    size = int(np.prod(shape)) if shape else 1
                    value.append(flat[k:k + size].reshape(shape).astype(np.float64).tolist())
                    k += size
                self.held[key] = value
            first, _, rest = spec["field"].partition(".")
            if rest:
                if not isinstance(header.get(first), dict):
                    header[first] = {}
                header[first][rest] = value
            else:
                header[first] = value
        return header, arrays


def unpack_frame(buf: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Decode one frame on its own (tests, the load benchmark); parts marked "same" are left out."""
    return FrameDecoder().decode(buf)
