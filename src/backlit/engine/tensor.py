"""The Tensor: a numpy array that remembers how it was made, and a backward pass over that record.

Every Tensor produced by an op stores its parents and the op (``_parents``, ``_op``, ``_ctx``). There are
no closures, so the graph has no reference cycles: once the last reference to the loss goes away,
reference counting frees the whole graph at once, without Python's cyclic garbage collector.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading

import numpy as np

from . import ops

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class _GradMode(threading.local):
    """Whether ops record the graph; per thread, as in PyTorch, so a server thread evaluating under
    no_grad() never switches recording off for a training thread."""

    enabled = True


_mode = _GradMode()
_sequence = itertools.count()  # creation order of recorded nodes: parents always come before children
_ONE = {d: np.ones((), d) for d in _FLOATS}  # the seed gradient dL/dL = 1 for 0-d losses (never written to)
for _one in _ONE.values():
    _one.flags.writeable = False


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) that stops recording the graph, as ``torch.no_grad()``.

    Inside it, ops return Tensors with ``requires_grad=False`` and no parents: use it for evaluation,
    heatmaps and optimizer updates.
    """

    def __enter__(self):
        self._prev = _mode.enabled
        _mode.enabled = False
        return self

    def __exit__(self, *exc):
        _mode.enabled = self._prev
        return False

    def _recreate_cm(self):  # a fresh instance per decorated call, so recursion and threads are safe
        return type(self)()


def is_grad_enabled():
    """True unless inside ``no_grad()`` (in this thread)."""
    return _mode.enabled


def _check_dtype(dtype, where="Tensor"):
    dtype = np.dtype(dtype)
    if dtype not in _FLOATS:
        raise TypeError(f"{where}: unsupported dtype {dtype}; backlit tensors are float32 or float64")
    return dtype


class Tensor:
    """An n-dimensional array of float32 or float64 that records the ops applied to it.

    Attributes:
        data: the values, a numpy array.
        grad: dL/d(this tensor) after ``backward()``, a numpy array of the same shape, or None.
            Leaves (tensors you created) keep it; intermediate results keep it only after
            ``retain_grad()``, as in PyTorch.
        requires_grad: whether gradients flow to this tensor.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_op", "_ctx", "_retain", "_seq", "__weakref__")
    __array_ufunc__ = None  # make numpy defer to our reflected operators: np_array * tensor -> Tensor

    def __init__(self, data, requires_grad=False, dtype=np.float64):
        if isinstance(data, Tensor):
            data = data.data
        arr = np.asarray(data)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Tensor: unsupported dtype {arr.dtype}; pass real numbers (they become float32 or float64)")
        if dtype is None:
            dtype = arr.dtype if arr.dtype in _FLOATS else np.float64
        self.data = np.array(arr, dtype=_check_dtype(dtype))
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._parents = ()
        self._op = None
        self._ctx = None
        self._retain = False

    # ---- plain properties -------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return not self._parents

    @property
    def op(self):
        """Name of the op that produced this tensor ("" for a leaf); handy for drawing graphs."""
        return self._op.name if self._op is not None else ""

    @property
    def parents(self):
        """The input tensors of the op that produced this one (empty for a leaf)."""
        return self._parents

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float64:
            extra += f", dtype={self.data.dtype}"
        if self._op is not None:
            extra += f", op={self._op.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype=None, copy=None):
        """np.asarray(tensor) gives the values (for plotting and plain numpy code)."""
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __float__(self):
        return float(self.item())

    def item(self):
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.data.shape}")
        return self.data.item()

    def numpy(self):
        """The underlying numpy array (shared, not copied, as in PyTorch)."""
        return self.data

    def detach(self):
        """A tensor sharing this data but cut off from the graph."""
        return _leaf(self.data)

    def retain_grad(self):
        """Keep ``.grad`` on this intermediate tensor after backward (leaves always keep it)."""
        self._retain = True
        return self

    def zero_grad(self):
        self.grad = None

    # ---- backward ---------------------------------------------------------------------------------
    def backward(self, gradient=None):
        """Accumulate dL/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``gradient`` is dL/d(self); it may be omitted only when self has one element (then it is 1).
        Calling backward twice adds the gradients again, as PyTorch does.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; create the inputs with "
                "requires_grad=True (and not inside no_grad())")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: the output has shape {self.data.shape}; backward() without gradient= only "
                    f"works on a single-element output (such as a loss). Reduce it first (e.g. .sum()), or "
                    f"pass gradient= an array of shape {self.data.shape}")
            g = _ONE[self.data.dtype] if self.data.ndim == 0 else np.ones(self.data.shape, self.data.dtype)
        else:
            g = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.data.dtype)
            if g.shape != self.data.shape:
                raise ValueError(
                    f"backward: gradient has shape {g.shape} but the output has shape {self.data.shape}")
        if not self._parents:
            _accumulate(self, g, owned=False)
            return
        # Reverse topological order, without recursion: every node was created after its parents, so
        # always processing the pending node created LAST (a heap on creation order) guarantees that
        # all of a node's consumers have already sent it their gradient contributions.
        grads = {self: g}
        heap = [(-self._seq, self)]
        pop, push, ndarray = heapq.heappop, heapq.heappush, np.ndarray
        while heap:
            node = pop(heap)[1]
            g = grads.pop(node)
            if node._retain:
                _accumulate(node, g, owned=False)
            for p, pg in zip(node._parents, node._op.backward(node, g)):
                if pg is None or not p.requires_grad:
                    continue
                if p._parents:  # intermediate: collect contributions until it is popped
                    if p in grads:
                        grads[p] = grads[p] + pg
                    else:
                        grads[p] = pg
                        push(heap, (-p._seq, p))
                elif (p.grad is None and pg.__class__ is ndarray and pg.base is None and pg is not g
                      and pg.shape == p.data.shape and pg.dtype == p.data.dtype):
                    p.grad = pg  # a leaf's first gradient, freshly made by the rule: keep it, no copy
                else:
                    _accumulate(p, pg, owned=False)

    # ---- arithmetic -------------------------------------------------------------------------------
    def __add__(self, other):
        return _binary(ops.Add, self, _lift(other, self))

    def __radd__(self, other):
        return _binary(ops.Add, _lift(other, self), self)

    def __sub__(self, other):
        return _binary(ops.Sub, self, _lift(other, self))

    def __rsub__(self, other):
        return _binary(ops.Sub, _lift(other, self), self)

    def __mul__(self, other):
        return _binary(ops.Mul, self, _lift(other, self))

    def __rmul__(self, other):
        return _binary(ops.Mul, _lift(other, self), self)

    def __truediv__(self, other):
        return _binary(ops.Div, self, _lift(other, self))

    def __rtruediv__(self, other):
        return _binary(ops.Div, _lift(other, self), self)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return _apply(ops.PowScalar, self, c=other)
        return _binary(ops.Pow, self, _lift(other, self))

    def __rpow__(self, other):
        return _binary(ops.Pow, _lift(other, self), self)

    def __matmul__(self, other):
        return _binary(ops.MatMul, self, _lift(other, self))

    def __rmatmul__(self, other):
        return _binary(ops.MatMul, _lift(other, self), self)

    def __neg__(self):
        return _unary(ops.Neg, self)

    def __pos__(self):
        return self

    # Comparisons are not differentiable: they return plain numpy bool arrays (handy for masks and
    # accuracy). == is left as identity, so tensors stay usable as dict keys and in sets.
    def __gt__(self, other):
        return self.data > _raw(other)

    def __ge__(self, other):
        return self.data >= _raw(other)

    def __lt__(self, other):
        return self.data < _raw(other)

    def __le__(self, other):
        return self.data <= _raw(other)

    def __getitem__(self, idx):
        if isinstance(idx, Tensor):
            idx = idx.data.astype(np.int64)
        elif isinstance(idx, tuple):
            idx = tuple(i.data.astype(np.int64) if isinstance(i, Tensor) else i for i in idx)
        return _apply(ops.GetItem, self, idx=idx)

    # ---- elementwise ------------------------------------------------------------------------------
    def exp(self):
        return _unary(ops.Exp, self)

    def log(self):
        return _unary(ops.Log, self)

    def sqrt(self):
        return _unary(ops.Sqrt, self)

    def abs(self):
        return _unary(ops.Abs, self)

    __abs__ = abs

    def sin(self):
        return _unary(ops.Sin, self)

    def cos(self):
        return _unary(ops.Cos, self)

    def tanh(self):
        return _unary(ops.Tanh, self)

    def sigmoid(self):
        return _unary(ops.Sigmoid, self)

    def relu(self):
        return _unary(ops.Relu, self)

    def leaky_relu(self, slope=0.01):
        return _apply(ops.LeakyRelu, self, slope=slope)

    def softplus(self):
        return _unary(ops.Softplus, self)

    def clip(self, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of lo, hi")
        return _apply(ops.Clip, self, lo=lo, hi=hi)

    # ---- reductions -------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _apply(ops.Sum, self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _apply(ops.Mean, self, axis=_axis(axis), keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _apply(ops.Max, self, axis=_axis(axis), keepdims=keepdims)

    def logsumexp(self, axis=None, keepdims=False):
        return _apply(ops.LogSumExp, self, axis=_axis(axis), keepdims=keepdims)

    # ---- shape ------------------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _apply(ops.Reshape, self, shape=shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _apply(ops.Transpose, self, axes=axes or None)

    @property
    def T(self):
        return _apply(ops.Transpose, self, axes=None)

    def matmul(self, other):
        return self @ other


# ---- building nodes -------------------------------------------------------------------------------


def _leaf(data, requires_grad=False):
    """A Tensor around an existing float array, without copying or checking (internal fast path)."""
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._parents = ()
    t._op = None
    t._ctx = None
    t._retain = False
    return t


def _lift(x, like):
    """Turn a Python number or array into a constant Tensor (numbers take ``like``'s dtype)."""
    if x.__class__ is Tensor:
        return x
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot combine a Tensor with {type(x).__name__} of dtype {arr.dtype}")
    if arr.dtype not in _FLOATS or arr.ndim == 0:
        arr = arr.astype(like.data.dtype)
    return _leaf(arr)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def _apply(op, *parents, **params):
    """Run ``op.forward`` on the parents' arrays and wrap the result in a recorded Tensor."""
    try:
        out, ctx = op.forward(*[p.data for p in parents], **params)
    except (ValueError, IndexError) as e:
        raise _named(e, op, parents) from None
    return _node(op, parents, out, ctx)


def _node(op, parents, out, ctx):
    """Wrap ``out`` in a Tensor; record (parents, op, ctx) if grad mode is on and a parent needs grad."""
    t = Tensor.__new__(Tensor)
    t.data = out if out.__class__ is np.ndarray else np.asarray(out)
    t.grad = None
    t._retain = False
    if _mode.enabled:
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._parents = parents
                t._op = op
                t._ctx = ctx
                t._seq = next(_sequence)
                return t
    t.requires_grad = False
    t._parents = ()
    t._op = None
    t._ctx = None
    return t


# _unary and _binary are _apply specialised for the hot paths (no *args/**kwargs packing); the logic
# is the same.


def _unary(op, a):
    out, ctx = op.forward(a.data)
    t = Tensor.__new__(Tensor)
    t.data = out if out.__class__ is np.ndarray else np.asarray(out)
    t.grad = None
    t._retain = False
    if a.requires_grad and _mode.enabled:
        t.requires_grad = True
        t._parents = (a,)
        t._op = op
        t._ctx = ctx
        t._seq = next(_sequence)
    else:
        t.requires_grad = False
        t._parents = ()
        t._op = None
        t._ctx = None
    return t


def _binary(op, a, b):
    try:
        out, ctx = op.forward(a.data, b.data)
    except (ValueError, IndexError) as e:
        raise _named(e, op, (a, b)) from None
    t = Tensor.__new__(Tensor)
    t.data = out if out.__class__ is np.ndarray else np.asarray(out)
    t.grad = None
    t._retain = False
    if (a.requires_grad or b.requires_grad) and _mode.enabled:
        t.requires_grad = True
        t._parents = (a, b)
        t._op = op
        t._ctx = ctx
        t._seq = next(_sequence)
    else:
        t.requires_grad = False
        t._parents = ()
        t._op = None
        t._ctx = None
    return t


def _named(e, op, parents):
    """The same error, its message prefixed with the op's name and every input shape."""
    shapes = " and ".join(str(p.data.shape) for p in parents)
    return type(e)(f"{op.name}: shapes {shapes}: {e}")


def _accumulate(t, g, owned):
    """Add g into t.grad. ``owned`` means g is a fresh array nobody else holds, so we may keep it."""
    if g.__class__ is not np.ndarray or g.dtype != t.data.dtype or g.shape != t.data.shape:
        g = np.array(np.broadcast_to(g, t.data.shape), dtype=t.data.dtype)
        owned = True
    if t.grad is None:
        t.grad = g if owned else g.copy()
    else:
        t.grad += g


# ---- constructors ---------------------------------------------------------------------------------


def tensor(data, requires_grad=False, dtype=np.float64):
    """Same as ``Tensor(data, requires_grad, dtype)``; the spelling PyTorch users type."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


def zeros(*shape, requires_grad=False, dtype=np.float64):
    return _leaf(np.zeros(_shape(shape), dtype=_check_dtype(dtype, "zeros")), requires_grad)


def ones(*shape, requires_grad=False, dtype=np.float64):
    return _leaf(np.ones(_shape(shape), dtype=_check_dtype(dtype, "ones")), requires_grad)


def randn(*shape, seed=None, rng=None, requires_grad=False, dtype=np.float64):
    """Standard normal samples; pass ``seed`` or a ``numpy.random.Generator`` as ``rng`` for repeatability."""
    if rng is None:
        rng = np.random.default_rng(seed)
    data = rng.standard_normal(_shape(shape)).astype(_check_dtype(dtype, "randn"))
    return _leaf(data, requires_grad)
