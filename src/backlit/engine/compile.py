"""``backlit.compile(step)``: record one call of a training step, then replay it as flat numpy calls.

The eager engine builds a graph of Tensors on every step, walks it backwards and allocates a fresh
array for every result. All of that is the same from one step to the next when the shapes are. So the
first call of a compiled step runs eagerly while a recorder watches every numpy call the op table's
rules make (forward, backward, the optimizer's update); the next calls replay that list of calls, each
writing into a buffer allocated once (``out=``). No Tensor, no graph, no heap, no new arrays.

This is the idea behind ``jax.jit`` and ``torch.compile``: trace once, run the trace. The recorder adds
no rule of its own: it records what ``ops.py`` computes, so the replay equals eager to the last bit.

How the recorder sees numpy calls: during a recording, the arrays of the step's inputs, parameters,
gradients and optimizer state are swapped for :class:`_Traced` views of the same memory. numpy hands
every ufunc (``+``, ``np.tanh``, ``@``, ``np.add.reduce``) and most functions (``np.where``,
``np.broadcast_to``) on such an array to the recorder, which runs it for real and writes it down.
Anything computed from constants alone is folded into the recording as a constant.

What it cannot see, it refuses: a value pulled out to Python (``loss.item()`` inside the step), an
array it did not make, or a result that differs between two recordings with the same shapes (a random
draw, a Python value read from outside). Such a step runs eagerly, and ``step.reasons`` says why.
Python control flow is recorded as it went (as in ``jax.jit``): a comparison on an array the step
computed becomes a guard, checked on every replay, and a replay whose guard fails runs eagerly.

Python-side bookkeeping that must still happen on every replay (an optimizer's step counters and the
bias corrections computed from them) is declared by the object as ``_host_calls``: the recorder calls
those methods again on each replay and feeds their numbers in.
"""

from __future__ import annotations

import builtins
import threading
import types

import numpy as np

from .tensor import Tensor, _leaf

__all__ = ["compile", "Compiled", "CompileError"]

_local = threading.local()


class CompileError(Exception):
    """A step the recorder cannot replay faithfully (the reason is in the message)."""


class _Diverged(Exception):
    """A replay's guard saw a different branch than the recording."""


def _active():
    return getattr(_local, "recorder", None)


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, _Traced) else x


class _Traced(np.ndarray):
    """A view of an array the recorder follows; every numpy call on it goes to the recorder."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = _active()
        if rec is None:
            return _untraced(getattr(ufunc, method), inputs, kwargs)
        return rec.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        rec = _active()
        if rec is None:
            return _untraced(func, args, kwargs)
        return rec.function(func, args, kwargs)

    # methods that make views or copies without a ufunc: routed to the recorder
    @property
    def T(self):
        return self._method("transpose", ())

    def transpose(self, *axes):
        return self._method("transpose", axes)

    def reshape(self, *shape, **kw):
        return self._method("reshape", shape, kw)

    def squeeze(self, *a, **kw):
        return self._method("squeeze", a, kw)

    def swapaxes(self, *a):
        return self._method("swapaxes", a)

    def ravel(self, *a):
        return self._method("ravel", a)

    def flatten(self, *a):
        return self._method("flatten", a)

    def astype(self, dtype, *a, **kw):
        return self._method("astype", (dtype,) + a, kw)

    def copy(self, *a, **kw):
        return self._method("copy", a, kw)

    def __getitem__(self, idx):
        return self._method("__getitem__", (idx,))

    def __setitem__(self, idx, value):
        rec = _active()
        if rec is None:
            return self.view(np.ndarray).__setitem__(idx, _plain(value))
        rec.setitem(self, idx, value)

    def fill(self, value):
        rec = _active()
        if rec is None:
            return self.view(np.ndarray).fill(value)
        rec.fill(self, value)

    def _method(self, name, args, kwargs=None):
        rec = _active()
        if rec is None:
            return getattr(self.view(np.ndarray), name)(*map(_plain, args), **(kwargs or {}))
        return rec.method(self, name, args, kwargs or {})

    # values that leave numpy
    def __bool__(self):
        rec = _active()
        value = bool(self.view(np.ndarray))
        if rec is not None:
            rec.guard(self, value)
        return value

    def item(self, *a):
        rec = _active()
        if rec is not None:
            rec.fail(f"a computed value was read into Python (.item() on an array of shape {self.shape})")
        return self.view(np.ndarray).item(*a)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        return self.item().__index__()

    def tolist(self):
        rec = _active()
        if rec is not None:
            rec.fail("a computed array was read into Python (.tolist())")
        return self.view(np.ndarray).tolist()

    def __repr__(self):
        return repr(self.view(np.ndarray))

    __str__ = __repr__


def _untraced(func, args, kwargs):
    """A _Traced array met outside any recording (it escaped one): compute on plain arrays."""
    args = [_plain(a) for a in args]
    kwargs = {k: (tuple(map(_plain, v)) if isinstance(v, tuple) else _plain(v)) for k, v in kwargs.items()}
    return func(*args, **kwargs)


class _Slot:
    """One buffer of the recording: an input, a piece of state, or the result of a call."""

    __slots__ = ("index", "buf", "traced", "kind", "read", "written")

    def __init__(self, index, buf, kind):
        self.index = index
        self.buf = buf  # the plain array the replay reads and writes: allocated once
        self.traced = buf.view(_Traced)
        self.kind = kind  # "input", "state", "new", "view", "host"
        self.read = False
        self.written = False

    @property
    def name(self):
        return f"s{self.index}"


class _Ref:
    """An argument of a recorded call that is a slot (anything else is a constant)."""

    __slots__ = ("slot",)

    def __init__(self, slot):
        self.slot = slot


# Functions whose result depends only on the shape and dtype of their array argument, never its values.
_SHAPE_ONLY = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.shape, np.ndim, np.size}


class _Recorder:
    """Watches one call of the step and writes down every numpy call on the arrays it follows."""

    def __init__(self):
        self.slots = []
        self.by_id = {}  # id of a slot's traced view or buffer -> slot
        self.keep = []  # arrays named in by_id, kept alive so their ids stay unique
        self.code = []  # instructions: (kind, payload) tuples, in order
        self.broken = None
        self.external_written = False

    # ---- slots --------------------------------------------------------------------------------
    def new_slot(self, buf, kind):
        s = _Slot(len(self.slots), buf, kind)
        self.slots.append(s)
        for obj in (buf, s.traced):
            self.by_id[id(obj)] = s
            self.keep.append(obj)
        return s

    def fail(self, reason):
        if self.broken is None:
            self.broken = reason

    def ref(self, x):
        """The slot behind ``x`` (a _Ref), or ``x`` itself if it is a constant."""
        if isinstance(x, np.ndarray):
            s = self.by_id.get(id(x))
            if s is not None:
                return _Ref(s)
            base = x.base
            while base is not None:  # a view of a buffer (made by np.asarray on a traced array, say)
                if id(base) in self.by_id:
                    self.by_id[id(base)].read = True
                    plain = x.view(np.ndarray)
                    s = self.new_slot(plain, "view")
                    self.by_id[id(x)] = s
                    self.keep.append(x)
                    return _Ref(s)
                base = base.base
            if isinstance(x, _Traced):
                self.fail("an array of the step was made outside the recorder's sight")
            return x
        if isinstance(x, tuple):
            return tuple(self.ref(v) for v in x)
        if isinstance(x, list):
            return [self.ref(v) for v in x]
        return x

    @staticmethod
    def real(r):
        """The value a reference stands for now (the slot's plain buffer)."""
        if isinstance(r, _Ref):
            return r.slot.buf
        if isinstance(r, tuple):
            return tuple(_Recorder.real(v) for v in r)
        if isinstance(r, list):
            return [_Recorder.real(v) for v in r]
        return r

    @staticmethod
    def dynamic(r):
        if isinstance(r, _Ref):
            return True
        if isinstance(r, (tuple, list)):
            return any(_Recorder.dynamic(v) for v in r)
        return False

    def mark_read(self, refs):
        for r in refs:
            if isinstance(r, _Ref):
                r.slot.read = True
            elif isinstance(r, (tuple, list)):
                self.mark_read(r)

    def write(self, slot):
        slot.written = True
        if slot.kind == "state":
            self.external_written = True

    def promote(self, x):
        """A constant array about to receive computed values: from now on it is a slot. Its current
        contents are restored at this point of every replay."""
        s = self.new_slot(x, "new")
        self.code.append(("restore", (s, x.copy())))
        return _Ref(s)

    def result(self, value):
        """A freshly computed array (or numpy scalar) becomes a new slot; returns its traced view."""
        buf = np.array(value) if not isinstance(value, np.ndarray) or value.base is not None else value
        s = self.new_slot(buf, "new")
        self.write(s)
        return s

    # ---- what numpy hands over ----------------------------------------------------------------
    def ufunc(self, uf, method, inputs, kwargs):
        call = uf if method == "__call__" else getattr(uf, method)
        if self.broken:
            return _untraced(call, inputs, kwargs)
        refs = [self.ref(x) for x in inputs]
        kw = {k: self.ref(v) for k, v in kwargs.items()}
        out = kw.pop("out", None)
        if out is not None and not isinstance(out, tuple):
            out = (out,)
        if not (self.dynamic(refs) or self.dynamic(out) or self.dynamic(list(kw.values()))):
            return _untraced(call, inputs, kwargs)
        if out is not None:
            out = tuple(o if isinstance(o, _Ref) or o is None else self.promote(o) for o in out)
        if method == "at":  # in place on the first argument
            if not isinstance(refs[0], _Ref):
                refs[0] = self.promote(refs[0])
            call(*self.real(refs), **self._real_kw(kw))
            self.mark_read(refs)
            self.write(refs[0].slot)
            self.code.append(("call", (call, refs, kw, None)))
            return None
        kw_real = self._real_kw(kw)
        if out is not None:
            call(*self.real(refs), out=self.real(out), **kw_real)
            outs = [o.slot for o in out]
        else:
            value = call(*self.real(refs), **kw_real)
            values = value if isinstance(value, tuple) else (value,)
            outs = [self.result(v) for v in values]
        self.mark_read(refs)
        self.mark_read(list(kw.values()))
        for s in outs:
            self.write(s)
        self.code.append(("call", (call, refs, kw, outs)))
        return outs[0].traced if len(outs) == 1 else tuple(s.traced for s in outs)

    def _real_kw(self, kw):
        return {k: self.real(v) for k, v in kw.items()}

    def function(self, func, args, kwargs):
        if self.broken:
            return _untraced(func, args, kwargs)
        refs = [self.ref(x) for x in args]
        kw = {k: self.ref(v) for k, v in kwargs.items()}
        if func in _SHAPE_ONLY or not (self.dynamic(refs) or self.dynamic(list(kw.values()))):
            return _untraced(func, args, kwargs)
        self.mark_read(refs)
        self.mark_read(list(kw.values()))
        if func is np.where and len(refs) == 3 and not kw:
            value = np.where(*self.real(refs))
            s = self.result(value)
            self.code.append(("where", (s, refs)))
            return s.traced
        if func is np.copyto:
            dst = refs[0] if isinstance(refs[0], _Ref) else self.promote(refs[0])
            np.copyto(dst.slot.buf, *self.real(refs[1:]), **self._real_kw(kw))
            self.write(dst.slot)
            self.code.append(("call", (np.copyto, [dst] + refs[1:], kw, None)))
            return None
        value = func(*self.real(refs), **self._real_kw(kw))
        return self._wrap(value, refs, lambda: ("compute", (func, refs, kw)))

    def method(self, x, name, args, kwargs):
        if self.broken:
            return getattr(x.view(np.ndarray), name)(*map(_plain, args), **kwargs)
        src = self.ref(x)
        if not isinstance(src, _Ref):
            return getattr(x.view(np.ndarray), name)(*args, **kwargs)
        src.slot.read = True
        args = [self.ref(a) for a in args]
        self.mark_read(args)
        value = getattr(src.slot.buf, name)(*self.real(args), **kwargs)
        if name in ("copy", "astype") and not self.dynamic(args):
            if isinstance(value, np.ndarray) and value.base is None and value is not src.slot.buf:
                s = self.result(value)
                self.code.append(("copy", (s, src)))
                return s.traced
        return self._wrap(value, [src] + args, lambda: ("method", (name, src, args, kwargs)))

    def _wrap(self, value, refs, instruction):
        """A function's result: a view of a buffer costs nothing to replay (it is made once, here);
        a new array is recomputed on each replay and copied into its buffer."""
        if isinstance(value, (tuple, list)):
            return type(value)(self._wrap_one(v, refs, instruction, i) for i, v in enumerate(value))
        return self._wrap_one(value, refs, instruction, None)

    def _wrap_one(self, value, refs, instruction, part):
        if isinstance(value, np.ndarray) and value.base is not None:
            base = value.base
            while base is not None:
                if id(base) in self.by_id:
                    self.by_id[id(base)].read = True
                    s = self.new_slot(value, "view")
                    return s.traced
                base = base.base
        if not isinstance(value, (np.ndarray, np.generic)):
            self.fail(f"a numpy call returned {type(value).__name__}, which the replay cannot hold")
            return value
        s = self.result(value)
        kind, payload = instruction()
        self.code.append((kind, (s, part) + payload))
        return s.traced

    def setitem(self, x, idx, value):
        dst = self.ref(x)
        if self.broken or not isinstance(dst, _Ref):
            x.view(np.ndarray)[self.real(self.ref(idx))] = _plain(value)
            return
        i, v = self.ref(idx), self.ref(value)
        self.mark_read([i, v])
        dst.slot.buf[self.real(i)] = self.real(v)
        self.write(dst.slot)
        self.code.append(("setitem", (dst.slot, i, v)))

    def fill(self, x, value):
        dst = self.ref(x)
        if self.broken or not isinstance(dst, _Ref) or self.dynamic(self.ref(value)):
            if not self.broken and isinstance(dst, _Ref):
                self.fail("fill() with a computed value")
            x.view(np.ndarray).fill(_plain(value))
            return
        dst.slot.buf.fill(value)
        self.write(dst.slot)
        self.code.append(("call", (np.copyto, [_Ref(dst.slot), value], {}, None)))

    def guard(self, x, value):
        r = self.ref(x)
        if self.broken or not isinstance(r, _Ref):
            return
        if self.external_written:
            self.fail("a branch on a computed value after the step changed its parameters")
            return
        r.slot.read = True
        self.code.append(("guard", (r.slot, value)))

    def host(self, method, args, values):
        """A declared host call: replayed as a Python call whose numbers go into 0-d buffers."""
        if self.broken:
            return values
        if values is None:
            self.code.append(("host", (method, args, ())))
            return None
        single = not isinstance(values, tuple)
        slots = [self.new_slot(np.array(v, dtype=np.float64), "host") for v in ((values,) if single else values)]
        self.code.append(("host", (method, args, slots)))
        return slots[0].traced if single else tuple(s.traced for s in slots)


# ---- the program: the recorded calls as one generated Python function --------------------------------


class _Program:
    """A recording turned into a Python function of flat numpy calls (``source`` shows it)."""

    def __init__(self, rec, inputs, bindings, writebacks, result_slot):
        ns = {"copyto": np.copyto, "_Diverged": _Diverged, "_bool": bool}
        names = {}
        alias = _elide_copies(rec, writebacks, result_slot)

        # NOTE (speed): an input no view was made of is read where it is, not copied in first
        viewed = _viewed(rec)
        direct = {s.index: f"a{i}" for i, s in inputs if id(s.buf) not in viewed and not s.written}

        def nm(s):
            s = alias.get(s.index, s)
            return direct.get(s.index, s.name)

        def name_of(obj, prefix):
            key = (prefix, id(obj))
            if key not in names:
                names[key] = f"{prefix}{len(names)}"
                ns[names[key]] = obj
            return names[key]

        def const(v):
            if v is None or isinstance(v, (bool, int, str)) or (
                    isinstance(v, float) and repr(float(v)) == repr(v) and np.isfinite(v)):
                return repr(v)
            if isinstance(v, tuple):
                return "(" + "".join(arg(x) + ", " for x in v) + ")"
            return name_of(v, "k")

        def arg(r):
            if isinstance(r, _Ref):
                return nm(r.slot)
            if isinstance(r, list):
                return "[" + ", ".join(arg(x) for x in r) + "]"
            if isinstance(r, tuple):
                return "(" + "".join(arg(x) + ", " for x in r) + ")"
            return const(r)

        def kwargs_text(kw):
            return "".join(f", {k}={arg(v)}" for k, v in kw.items())

        def fn_name(f):
            label = getattr(f, "__name__", "f")
            owner = getattr(f, "__self__", None)
            if isinstance(owner, np.ufunc):
                label = f"{owner.__name__}_{label}"
            return name_of(f, label.replace(".", "_") + "_")

        for s in rec.slots:
            ns[s.name] = s.buf
        lines = []
        for i, s in inputs:
            if s.index not in direct:
                lines.append(f"{nm(s)}[...] = a{i}")
        for obj, where, key, s in bindings:
            loc = _loc_text(name_of(obj, "o"), where, key)
            lines.append(f"if {loc} is not {nm(s)}: {nm(s)}[...] = {loc}")
        for n, (kind, payload) in enumerate(rec.code):
            if n in alias.get("dropped", ()):
                continue
            if kind == "call":
                f, refs, kw, outs = payload
                if outs and not kw and isinstance(f, np.ufunc) and f not in _OUT_BY_NAME:
                    # NOTE (speed): out= by position is cheaper than by keyword
                    refs = _scalars_as_arrays(refs)
                    lines.append(f"{fn_name(f)}({''.join(arg(r) + ', ' for r in refs)}"
                                 f"{', '.join(nm(o) for o in outs)})")
                    continue
                out = ""
                if outs:
                    out = f", out={nm(outs[0])}" if len(outs) == 1 else \
                        ", out=(" + "".join(f"{nm(o)}, " for o in outs) + ")"
                lines.append(f"{fn_name(f)}({', '.join(arg(r) for r in refs)}{kwargs_text(kw)}{out})")
            elif kind == "compute":
                s, part, f, refs, kw = payload
                expr = f"{fn_name(f)}({', '.join(arg(r) for r in refs)}{kwargs_text(kw)})"
                lines.append(f"copyto({nm(s)}, {expr}{'' if part is None else f'[{part}]'})")
            elif kind == "method":
                s, part, name, src, args, kw = payload
                if name == "__getitem__":
                    expr = f"{nm(src.slot)}[{arg(args[0])}]"
                else:
                    expr = f"{nm(src.slot)}.{name}({', '.join(arg(a) for a in args)}{kwargs_text(kw)})"
                lines.append(f"copyto({nm(s)}, {expr}{'' if part is None else f'[{part}]'})")
            elif kind == "copy":
                s, src = payload
                lines.append(f"copyto({nm(s)}, {nm(src.slot)}, casting='unsafe')")
            elif kind == "where":
                s, (c, a, b) = payload
                lines.append(f"copyto({nm(s)}, {arg(b)})")
                lines.append(f"copyto({nm(s)}, {arg(a)}, where={arg(c)})")
            elif kind == "setitem":
                s, i, v = payload
                lines.append(f"{nm(s)}[{arg(i)}] = {arg(v)}")
            elif kind == "restore":
                s, snapshot = payload
                lines.append(f"copyto({nm(s)}, {name_of(snapshot, 'k')})")
            elif kind == "guard":
                s, value = payload
                lines.append(f"if _bool({nm(s)}) is not {value!r}: raise _Diverged()")
            elif kind == "host":
                method, args, slots = payload
                call = f"{name_of(method, 'h')}({', '.join(const(a) for a in args)})"
                if not slots:
                    lines.append(call)
                elif len(slots) == 1:
                    lines.append(f"{nm(slots[0])}[()] = {call}")
                else:
                    lines.append(f"_h = {call}")
                    lines.extend(f"{nm(s)}[()] = _h[{j}]" for j, s in enumerate(slots))
        self.calls = len(lines)
        for obj, where, key, s in writebacks:
            lines.append(f"{_loc_text(name_of(obj, 'o'), where, key)} = {'None' if s is None else nm(s)}")
        if isinstance(result_slot, list):
            lines.append(f"return ({''.join(nm(r) + ', ' for r in result_slot)})")
        else:
            lines.append(f"return {nm(result_slot) if result_slot is not None else 'None'}")
        params = ", ".join(f"a{i}" for i, _ in inputs)
        self.source = f"def replay({params}):\n" + "".join(f"    {line}\n" for line in lines)
        exec(builtins.compile(self.source, "<backlit replay>", "exec"), ns)  # noqa: S102 (our own text)
        self.run = ns["replay"]
        self.consts = [ns[n] for (prefix, _), n in names.items() if prefix == "k"]
        # What a replay leaves behind: the next call may skip the full signature when it finds it so.
        self.left = [(obj, where, key, None if s is None else alias.get(s.index, s).buf)
                     for obj, where, key, s in writebacks]
        self.left += [(obj, where, key, s.buf) for obj, where, key, s in bindings
                      if not any(w[:3] == (obj, where, key) for w in writebacks)]


_OUT_BY_NAME = (np.maximum, np.minimum, np.fmax, np.fmin)  # numpy deprecates their positional out


def _scalars_as_arrays(refs):
    """NOTE (speed): a Python number next to a float array costs numpy a conversion on every call;
    a 0-d array of that array's dtype is the same number (numpy casts the number to that dtype)."""
    if len(refs) != 2:
        return refs
    out = list(refs)
    for i, j in ((0, 1), (1, 0)):
        v, other = refs[i], refs[j]
        if (isinstance(other, _Ref) and other.slot.buf.dtype.kind == "f" and type(v) in (int, float)
                and abs(v) < 2 ** 53):
            out[i] = np.array(v, dtype=other.slot.buf.dtype)
    return out


def _mentions(x, found):
    """Every slot index an instruction's payload names."""
    if isinstance(x, _Slot):
        found.add(x.index)
    elif isinstance(x, _Ref):
        found.add(x.slot.index)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _mentions(v, found)
    elif isinstance(x, dict):
        for v in x.values():
            _mentions(v, found)
    return found


def _viewed(rec):
    """Ids of the arrays some view slot looks into."""
    viewed = set()
    for s in rec.slots:
        if s.kind == "view":
            base = s.buf.base
            while base is not None:
                viewed.add(id(base))
                base = base.base
    return viewed


def _elide_copies(rec, writebacks, result_slot):
    """NOTE (speed): the backward pass copies each parameter's first gradient (``astype``) out of a
    temporary no one reads again; the replay lets the temporary's buffer be the gradient instead.
    Returns {slot index: slot that stands for it, "dropped": {instruction numbers}}."""
    viewed = _viewed(rec)
    kept = {s.index for *_, s in writebacks if s is not None}
    for r in (result_slot if isinstance(result_slot, list) else [result_slot]):
        if r is not None:
            kept.add(r.index)
    later = [_mentions(payload, set()) for _, payload in rec.code]
    used_after = [set() for _ in rec.code]
    acc = set()
    for n in range(len(rec.code) - 1, -1, -1):
        used_after[n] = set(acc)
        acc |= later[n]
    alias, dropped = {}, set()
    for n, (kind, payload) in enumerate(rec.code):
        if kind != "copy":
            continue
        dst, src = payload[0], payload[1].slot
        if (src.kind == "new" and src.index not in used_after[n] and src.index not in kept
                and src.index not in alias and id(src.buf) not in viewed and id(dst.buf) not in viewed
                and src.buf.shape == dst.buf.shape and src.buf.dtype == dst.buf.dtype
                and src.buf.flags.c_contiguous):
            alias[dst.index] = src
            dropped.add(n)
    alias["dropped"] = dropped
    return alias


def _loc_text(obj_name, where, key):
    return f"{obj_name}.{key}" if where == "attr" else f"{obj_name}[{key!r}]"


# ---- finding what the step touches ------------------------------------------------------------------


def _is_module(x):
    return callable(getattr(x, "parameters", None)) and not isinstance(x, type)


def _is_optimizer(x):
    return isinstance(getattr(x, "params", None), list) and isinstance(getattr(x, "state", None), list) \
        and not isinstance(x, type)


def _roots(fn, args, depth=2, seen=None):
    """What a step can reach besides its arguments: its closure, its globals and its ``self`` (and
    those of the functions it calls from there), as (container, key, object): the fast path checks
    ``container[key] is object`` before each replay. A dict or list found there is looked into."""
    found, seen = [], set() if seen is None else seen
    f = fn
    if isinstance(f, types.MethodType):
        if hasattr(f.__self__, "__dict__"):
            d = vars(f.__self__)
            found.extend((d, k, v) for k, v in d.items())
        f = f.__func__
    code = getattr(f, "__code__", None)
    if code is None or id(f) in seen:
        return found
    seen.add(id(f))
    for cell in f.__closure__ or ():
        try:
            found.append((cell, None, cell.cell_contents))
        except ValueError:
            pass
    g = f.__globals__
    stack, names = [code], set()
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    found.extend((g, n, g[n]) for n in sorted(names) if n in g)
    more = []
    for container, key, value in found:
        if isinstance(value, dict) and len(value) <= 64:
            more.extend((value, k, v) for k, v in value.items() if isinstance(k, str))
        elif depth and isinstance(value, (types.FunctionType, types.MethodType)) and \
                getattr(value, "__module__", "").split(".")[0] not in ("numpy", "backlit"):
            more.extend(_roots(value, (), depth - 1, seen))
    return found + more


def _relevant(x, depth=2):
    if isinstance(x, Tensor):
        return x.requires_grad
    if _is_optimizer(x) or (_is_module(x) and not isinstance(x, (types.ModuleType, types.FunctionType))):
        return True
    if depth and isinstance(x, (list, tuple)):  # the first 64 items: a long list of numbers is data
        return any(_relevant(v, depth - 1) for v in x[:64])
    if depth and isinstance(x, dict):
        return any(_relevant(v, depth - 1) for v in list(x.values())[:64])
    return False


def _collect(objs):
    """Tensors that require grad and optimizer-like objects among ``objs`` (and one level inside lists,
    tuples and dicts), in a stable order, each once."""
    tensors, optimizers, seen = [], [], set()

    def add_tensor(t):
        if t.requires_grad and id(t) not in seen:
            seen.add(id(t))
            tensors.append(t)

    def visit(x, depth):
        if isinstance(x, Tensor):
            add_tensor(x)
        elif _is_optimizer(x):
            if id(x) not in seen:
                seen.add(id(x))
                optimizers.append(x)
                for p in x.params:
                    add_tensor(p)
        elif _is_module(x) and not isinstance(x, (types.ModuleType, types.FunctionType)):
            try:
                ps = x.parameters()
            except TypeError:
                return
            for p in ps:
                if isinstance(p, Tensor):
                    add_tensor(p)
        elif depth and isinstance(x, (list, tuple)):
            for v in x:
                visit(v, depth - 1)
        elif depth and isinstance(x, dict):
            for v in x.values():
                visit(v, depth - 1)

    for o in objs:
        visit(o, 2)
    return tensors, optimizers


def _opt_signature(opt):
    hyper = tuple((k, getattr(opt, k, None)) for k in ("lr", "weight_decay", *getattr(opt, "hyper", ())))
    states = tuple((id(s), tuple(sorted((k, v.shape, v.dtype.char) if isinstance(v, np.ndarray)
                                        else (k, type(v).__name__) for k, v in s.items())))
                   for s in opt.state)
    return (id(opt), type(opt).__name__, hyper, id(opt.state), states)


# ---- the compiled step ----------------------------------------------------------------------------------


_MISS = object()  # the fast path's answer when something changed since the last replay


class _Entry:
    __slots__ = ("program", "trusted", "eager", "candidate")

    def __init__(self):
        self.program = None
        self.trusted = False
        self.eager = None  # a reason: this signature always runs eagerly
        self.candidate = None


class Compiled:
    """A step function that records itself once per signature and then replays the recording.

    ``step.reasons`` lists every recording and why it happened (first call, a changed shape, ...);
    ``step.source`` is the latest replay as Python text (the tape); ``step.stats`` counts calls.
    """

    def __init__(self, fn, verbose=False):
        self.fn = fn
        self.verbose = verbose
        self.reasons: list[str] = []
        self.stats = {"replays": 0, "recordings": 0, "eager": 0}
        self._entries = {}
        self._last_key = None
        self._last_roots = None
        self._found = ((), ())
        self._watch = []
        self._fast = None
        self._fast_kinds = None
        self._latest = ""

    def __repr__(self):
        return f"backlit.compile({getattr(self.fn, '__qualname__', self.fn)!r})"

    @property
    def source(self):
        """The latest recorded replay as Python source: one numpy call a line."""
        for entry in reversed(list(self._entries.values())):
            if entry.program is not None:
                return entry.program.source
        return self._latest

    def reset(self):
        """Forget every recording (the next call records again)."""
        self._entries.clear()
        self._last_key = None
        self._last_roots = None
        self._fast = None

    def _say(self, text):
        self.reasons.append(text)
        if self.verbose:
            print(f"backlit.compile: {text}")

    def _key(self, args):
        roots = self._watch = [r for r in _roots(self.fn, args) if _relevant(r[2])]
        ids = tuple(id(r[2]) for r in roots) + tuple(id(a) for a in args)
        if ids != self._last_roots:
            self._last_roots = ids
            self._found = _collect(list(args) + [r[2] for r in roots])
        tensors, optimizers = self._found
        parts = []
        for a in args:
            if isinstance(a, Tensor):
                parts.append(("tensor", a.data.shape, a.data.dtype.char, a.requires_grad))
            elif isinstance(a, np.ndarray):
                parts.append(("array", a.shape, a.dtype.char))
            else:
                parts.append(("value", a))
        state = tuple((id(t), t.data.shape, t.data.dtype.char, None if t.grad is None else t.grad.shape)
                      for t in tensors)
        return (tuple(parts), state, tuple(_opt_signature(o) for o in optimizers))

    def _fast_path(self, key, program):
        """One generated function that checks, as cheaply as Python can, that everything is as the
        last replay left it (same argument shapes, same objects, same settings) and then replays."""
        ns = {"replay": program.run, "_MISS": _MISS, "Tensor": Tensor}
        checks, call = [], []
        for i, part in enumerate(key[0]):
            if part[0] == "value":
                ns[f"v{i}"] = part[1]
                checks.append(f"a{i} == v{i}")
                continue
            ns[f"shape{i}"], ns[f"dt{i}"] = part[1], np.dtype(part[2])
            if part[0] == "tensor":
                checks.append(f"a{i}.__class__ is Tensor and not a{i}.requires_grad")
                x = f"a{i}.data"
            else:
                checks.append(f"a{i}.__class__ is _nd")
                ns["_nd"] = np.ndarray
                x = f"a{i}"
            checks.append(f"{x}.shape == shape{i} and {x}.dtype is dt{i}")
            call.append(x)
        for j, (container, k, obj) in enumerate(self._watch):
            ns[f"c{j}"], ns[f"r{j}"] = container, obj
            checks.append(f"c{j}.cell_contents is r{j}" if k is None else f"c{j}.get({k!r}) is r{j}")
        for j, (obj, where, k, value) in enumerate(program.left):
            ns[f"o{j}"], ns[f"l{j}"] = obj, value
            loc = f"o{j}.{k}" if where == "attr" else f"o{j}.get({k!r})"
            checks.append(f"{loc} is l{j}")
        for j, o in enumerate(self._found[1]):  # its settings, and the same list of per-parameter state
            ns[f"opt{j}"], ns[f"st{j}"] = o, o.state
            checks.append(f"opt{j}.state is st{j}")
            for n, (k, v) in enumerate(_opt_signature(o)[2]):
                ns[f"h{j}_{n}"] = v
                checks.append(f"opt{j}.{k} == h{j}_{n}")
        args = ", ".join(f"a{i}" for i in range(len(key[0])))
        source = (f"def fast({args}):\n    if not ({' and '.join(checks) or 'True'}):\n        return _MISS\n"
                  f"    return replay({', '.join(call)})\n")
        exec(builtins.compile(source, "<backlit fast path>", "exec"), ns)  # noqa: S102 (our own text)
        return ns["fast"]

    def __call__(self, *args):
        fast = self._fast
        if fast is not None:
            try:
                out = fast(*args)
            except _Diverged:
                out = self._diverged(args)
            if out is not _MISS:
                self.stats["replays"] += 1
                return _finish(self._fast_kinds, out)
        try:
            key = self._key(args)
            entry = self._entries.get(key)
        except TypeError as e:  # an unhashable argument
            self.stats["eager"] += 1
            if not self.reasons or not self.reasons[-1].startswith("eager"):
                self._say(f"eager: {e}")
            return self.fn(*args)
        if entry is not None and entry.trusted:  # the replay itself copies in whatever moved
            try:
                out = entry.program.run(*[a.data if isinstance(a, Tensor) else a for a in args
                                          if isinstance(a, (Tensor, np.ndarray))])
            except _Diverged:
                return self._diverged(args)
            self._fast = self._fast_path(key, entry.program)
            self._fast_kinds = entry.program.kinds
            self.stats["replays"] += 1
            return _finish(entry.program.kinds, out)
        self._fast = None
        if entry is None:
            entry = self._entries[key] = _Entry()
            self._say(self._why(key))
        if entry.eager:
            self.stats["eager"] += 1
            return self.fn(*args)
        return self._record(entry, key, args)

    def _diverged(self, args):
        self.stats["eager"] += 1
        self._say("eager: a branch went the other way than in the recording")
        return self.fn(*args)

    def _why(self, key):
        old = self._last_key
        self._last_key = key
        if old is None:
            return "recorded: first call"
        if len(old[0]) == len(key[0]):
            for i, (a, b) in enumerate(zip(old[0], key[0])):
                if a != b:
                    return f"recorded again: argument {i} changed from {_describe(a)} to {_describe(b)}"
        if len(old[1]) != len(key[1]) or any(a[0] != b[0] for a, b in zip(old[1], key[1])):
            return "recorded again: the step's parameters changed (a new or rebuilt network)"
        for a, b in zip(old[1], key[1]):
            if a[1:3] != b[1:3]:
                return f"recorded again: a parameter changed shape from {a[1]} to {b[1]}"
            if (a[3] is None) != (b[3] is None):
                return "recorded again: a parameter's gradient was " + ("cleared" if b[3] is None else "set")
        if old[2] != key[2]:
            return "recorded again: the optimizer's settings or state changed"
        return "recorded again"

    def _record(self, entry, key, args):
        self.stats["recordings"] += 1
        tensors, optimizers = self._found
        rec = _Recorder()
        inputs, call_args = [], []
        n_in = 0
        for a in args:
            if isinstance(a, (Tensor, np.ndarray)):
                data = a.data if isinstance(a, Tensor) else a
                s = rec.new_slot(np.array(data), "input")
                inputs.append((n_in, s))
                n_in += 1
                call_args.append(_leaf(s.traced) if isinstance(a, Tensor) else s.traced)
            else:
                call_args.append(a)
        # swap every array of the state for a traced view of the same memory
        locations = []
        for t in tensors:
            locations.append((t, "attr", "data"))
            locations.append((t, "attr", "grad"))
        for o in optimizers:
            for st in o.state:
                locations.extend((st, "item", k) for k in list(st))
        start = {}
        for loc in locations:
            v = _get(loc)
            if isinstance(v, np.ndarray) and not isinstance(v, _Traced) and id(v) not in rec.by_id:
                s = rec.new_slot(v, "state")
                start[_lk(loc)] = s
                _set(loc, s.traced)
            elif isinstance(v, np.ndarray) and id(v) in rec.by_id:
                start[_lk(loc)] = rec.by_id[id(v)]
                _set(loc, start[_lk(loc)].traced)
        hooked = []
        for o in optimizers:
            for name in getattr(o, "_host_calls", ()):
                hooked.append((o, name))
                setattr(o, name, _hook(rec, getattr(o, name)))
        _local.recorder = rec
        try:
            out = self.fn(*call_args)
        finally:
            _local.recorder = None
            for o, name in hooked:
                delattr(o, name)
            final = {}
            for o in optimizers:  # state arrays made during the recording
                for st in o.state:
                    for k in st:
                        if _lk((st, "item", k)) not in start and isinstance(st[k], np.ndarray):
                            locations.append((st, "item", k))
            for loc in locations:
                v = _get(loc)
                if isinstance(v, np.ndarray):
                    s = rec.by_id.get(id(v))
                    final[_lk(loc)] = (loc, s)
                    if s is None:
                        rec.fail(f"the step left an array it did not record in {_loc_text('', *loc[1:])}")
                    if isinstance(v, _Traced):
                        _set(loc, s.buf if s is not None else v.view(np.ndarray))
                else:
                    final[_lk(loc)] = (loc, None)
        # the result: a Tensor, an array, nothing, or a tuple/list of Tensors and arrays
        parts = list(out) if isinstance(out, (tuple, list)) else [out]
        kinds, result = [], []
        for o in parts:
            if isinstance(o, (Tensor, np.ndarray)):
                arr = o.data if isinstance(o, Tensor) else o
                kinds.append(Tensor if isinstance(o, Tensor) else np.ndarray)
                result.append(rec.by_id.get(id(arr)))
                if result[-1] is None:
                    rec.fail("the step returned an array it did not record")
            elif o is not None:
                rec.fail(f"the step returned {type(o).__name__}; return the loss Tensor, arrays, or nothing")
        many = isinstance(out, (tuple, list))
        plain = [_finish_one(k, _plain(o.data if isinstance(o, Tensor) else o)) for k, o in zip(kinds, parts)]
        plain_out = tuple(plain) if many else (plain[0] if plain else None)
        if not many:
            result = result[0] if result else None
            kinds = kinds[0] if kinds else None
        for i, s in inputs:
            if not s.read:
                rec.fail(f"input {i} is never used by a numpy call the recorder saw (is it copied with "
                         f"bl.tensor() inside the step? use it as it is)")
        if rec.broken:
            entry.eager = rec.broken
            self._say(f"eager: {rec.broken}")
            return plain_out
        where = {_lk(loc): loc for loc in locations}
        bindings = [where[lk] + (s,) for lk, s in start.items() if s.read]
        writebacks = [loc + (s,) for lk, (loc, s) in final.items()
                      if s is not start.get(lk) and not (s is None and lk not in start)]
        program = _Program(rec, inputs, bindings, writebacks, result)
        program.kinds = kinds
        if entry.candidate is None:
            entry.candidate = _Fingerprint(program)  # what the second recording must match; no buffers
            self._latest = program.source
        elif _same(entry.candidate, program):
            entry.program = program
            entry.trusted = True
            entry.candidate = None
        else:
            entry.eager = "two recordings with the same shapes differ (a random draw or a Python value " \
                          "read from outside the step?)"
            self._say(f"eager: {entry.eager}")
        return plain_out


def _finish_one(kind, arr):
    """A copy of a result buffer for the caller (the next replay overwrites the buffer)."""
    return _leaf(np.array(arr)) if kind is Tensor else np.array(arr)


def _finish(kinds, out):
    if out is None:
        return None
    if isinstance(kinds, list):
        return tuple(_finish_one(k, o) for k, o in zip(kinds, out))
    return _finish_one(kinds, out)


def _describe(part):
    if part[0] == "value":
        return repr(part[1])
    return f"{part[0]} of shape {part[1]} ({np.dtype(part[2]).name})"


def _lk(loc):
    """A location (object, "attr" or "item", key) as a dict key (the object may be a dict)."""
    return id(loc[0]), loc[1], loc[2]


def _get(loc):
    obj, where, key = loc
    return getattr(obj, key) if where == "attr" else obj.get(key)


def _set(loc, value):
    obj, where, key = loc
    if where == "attr":
        setattr(obj, key, value)
    else:
        obj[key] = value


def _hook(rec, method):
    def hooked(*args):
        return rec.host(method, args, method(*args))
    return hooked


class _Fingerprint:
    """A recording's text and constants, for comparing it with the next recording."""

    __slots__ = ("source", "consts")

    def __init__(self, program):
        self.source, self.consts = program.source, program.consts


def _same(a, b):
    """Two recordings make the same calls with the same constants."""
    if a.source != b.source or len(a.consts) != len(b.consts):
        return False
    for x, y in zip(a.consts, b.consts):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            x, y = np.asarray(x), np.asarray(y)
            if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
                return False
        elif type(x) is not type(y) or (x != y and not (x is y)):
            if not (callable(x) and callable(y)):
                return False
    return True


def compile(fn=None, *, verbose=False):  # noqa: A001 (the name torch.compile uses)
    """Record ``fn`` (a training step) once per input signature and replay it as flat numpy calls.

        step = backlit.compile(step)          # or @backlit.compile
        for x, y in batches:
            loss = step(x, y)

    The step may use any Tensors, modules and optimizers it reaches (arguments, closure, globals);
    array arguments are the data that changes between calls. It records again when an argument's
    shape or dtype, a parameter's shape, or the optimizer's settings change; ``step.reasons`` says so.
    The returned loss is a fresh Tensor; after a replay each parameter's ``.grad`` is a buffer the next
    replay overwrites.
    """
    if fn is None:
        return lambda f: Compiled(f, verbose=verbose)
    return Compiled(fn, verbose=verbose)
