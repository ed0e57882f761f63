"""The playground's wire protocol: message schemas, validation and frame packing.

This module is pure (no sockets, no asyncio). The settings table and the value checks it builds on live
in `backlit.settings` (re-exported here); docs/protocol.md describes the messages for the page.

Every check raises :class:`ProtocolError` naming the offending field and what is allowed; the server
turns it into an ``{"type": "error", "field": ..., "message": ...}`` reply and the session goes on.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from ..settings import *  # noqa: F401,F403  (the settings table and checks, re-exported)
from ..settings import (MAX_MESSAGE_BYTES, PLANE_LIMIT, WEIGHT_LIMIT, ProtocolError, _describe,
                        check_float, check_int, json_safe)

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
    return check_float(name, v, -WEIGHT_LIMIT, WEIGHT_LIMIT)


def _plane(name, v):
    return check_float(name, v, -PLANE_LIMIT, PLANE_LIMIT)


def _export_format(name, v):
    from ..playground import EXPORTS  # the playground's table of formats

    return check_choice(name, v, tuple(EXPORTS))


def _scale(name, v):
    return check_float(name, v, 1e-6, 1.0)


_NOARGS: dict = {}
SCHEMAS: dict[str, dict] = {
    "hello": {"config": (_opt_dict, False), "url_state": (_short_str, False),
              "weights": (_any_list_or_dict, False), "biases": (_list, False),
              "samples_seen": (_nonneg_int, False), "step": (_nonneg_int, False)},
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
    "export": {"format": (_export_format, True)},
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


def validate(msg: dict) -> dict:
    """Check a decoded message against its schema. Returns {"type", "id", **fields}."""
    if not isinstance(msg, dict):
        raise ProtocolError("message", "a message must be a JSON object")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise ProtocolError("type", f"type must be one of {', '.join(MESSAGE_TYPES)}; got {_describe(kind)}")
    out: dict = {"type": kind, "id": None}
    if "id" in msg:
        out["id"] = check_int("id", msg["id"], -MAX_ID, MAX_ID)
    schema_ = SCHEMAS[kind]
    for key in msg:
        if key not in ("type", "id") and key not in schema_:
            allowed = ", ".join(schema_) or "no fields"
            raise ProtocolError(str(key)[:40], f"{kind} does not take {_describe(key)} (allowed: {allowed})")
    for key, (checker, required) in schema_.items():
        if key in msg:
            out[key] = checker(key, msg[key])
        elif required:
            raise ProtocolError(key, f"{kind} needs the field {key!r}")
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


def pack_frame(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """The binary frame: uint32 LE header length H, H bytes of UTF-8 JSON header, zero padding to a
    multiple of 4, then the arrays as float32 LE, back to back. The header gets an "arrays" list of
    {name, shape, offset} (offset in float32 elements after the padding). Non-finite values are
    replaced (NaN -> 0, +-inf -> +-3.4e38) so the page never receives them."""
    specs, blobs, offset = [], [], 0
    for name, arr in arrays.items():
        a = np.asarray(arr, dtype="<f4")
        if not np.isfinite(a).all():
            a = np.nan_to_num(a, nan=0.0, posinf=3.4e38, neginf=-3.4e38)
        specs.append({"name": name, "shape": list(a.shape), "offset": offset})
        blobs.append(np.ascontiguousarray(a).tobytes())
        offset += a.size
    head = encode({**header, "arrays": specs}).encode("utf-8")
    pad = (-(4 + len(head))) % 4
    return b"".join([struct.pack("<I", len(head)), head, b"\0" * pad, *blobs])


def unpack_frame(buf: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """The inverse of :func:`pack_frame` (used by tests and the load benchmark)."""
    (n,) = struct.unpack_from("<I", buf, 0)
    header = json.loads(buf[4:4 + n].decode("utf-8"))
    start = 4 + n + ((-(4 + n)) % 4)
    body = np.frombuffer(buf, dtype="<f4", offset=start)
    arrays = {}
    for spec in header["arrays"]:
        size = int(np.prod(spec["shape"])) if spec["shape"] else 1
        arrays[spec["name"]] = body[spec["offset"]:spec["offset"] + size].reshape(spec["shape"])
    return header, arrays
