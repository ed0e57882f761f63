"""The Tensor: a numpy array that remembers how it was made, and a backward pass over that record.

Every Tensor produced by an op stores its parents and the op (``_parents``, ``_op``, ``_ctx``). There are
no closures, so the graph has no reference cycles: once the last reference to the loss goes away,
reference counting frees the whole graph at once, without Python's cyclic garbage collector.
"""

from __future__ import annotations

import builtins
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
        _backprop(self, g)

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
            return apply(ops.PowScalar, self, c=other)
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
        parts = idx if isinstance(idx, tuple) else (idx,)
        if any(isinstance(p, Tensor) for p in parts):
            # NOTE: backlit tensors hold floats, and truncating 1.7 to 1 silently would hide a bug;
            # torch raises for float index tensors too.
            raise IndexError("index with a Tensor: Tensors hold floats and cannot index; pass integer "
                             "indices as a list or a numpy int array (e.g. t.numpy().astype(int))")
        return apply(ops.GetItem, self, idx=idx)

    # ---- elementwise ------------------------------------------------------------------------------
    def exp(self):
        return _unary(ops.Exp, self)

    def expm1(self):
        return _unary(ops.Expm1, self)

    def log(self):
        return _unary(ops.Log, self)

    def log1p(self):
        return _unary(ops.Log1p, self)

    def sqrt(self):
        return _unary(ops.Sqrt, self)

    def abs(self):
        return _unary(ops.Abs, self)

    __abs__ = abs

    def sin(self):
        return _unary(ops.Sin, self)

    def cos(self):
        return _unary(ops.Cos, self)

    def tan(self):
        return _unary(ops.Tan, self)

    def tanh(self):
        return _unary(ops.Tanh, self)

    def sigmoid(self):
        return _unary(ops.Sigmoid, self)

    def relu(self):
        return _unary(ops.Relu, self)

    def leaky_relu(self, slope=0.01):
        return apply(ops.LeakyRelu, self, slope=slope)

    def softplus(self):
        return _unary(ops.Softplus, self)

    def clip(self, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of lo, hi")
        return apply(ops.Clip, self, lo=lo, hi=hi)

    clamp = clip

    def maximum(self, other):
        """Elementwise max(self, other), broadcasting; ties split the gradient in half (as torch)."""
        return _binary(ops.Maximum, self, _lift(other, self))

    def minimum(self, other):
        """Elementwise min(self, other), broadcasting; ties split the gradient in half (as torch)."""
        return _binary(ops.Minimum, self, _lift(other, self))

    def where(self, condition, other):
        """self where ``condition`` is true, else ``other`` (as torch's ``x.where(condition, y)``)."""
        return where(condition, self, other)

    # ---- reductions (axis/keepdims as numpy; dim/keepdim accepted as torch spells them) ------------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return apply(ops.Sum, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return apply(ops.Mean, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The largest value (along ``axis``): values only, like torch.amax; ties share the gradient."""
        return apply(ops.Max, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The smallest value (along ``axis``): values only, like torch.amin; ties share the gradient."""
        return apply(ops.Min, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def prod(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return apply(ops.Prod, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def var(self, axis=None, keepdims=False, *, correction=1, unbiased=None, dim=None, keepdim=None):
        """Variance Σ(x - mean)² / (n - correction); correction=1 (unbiased) by default, as torch."""
        if unbiased is not None:
            correction = int(bool(unbiased))
        return apply(ops.Var, self, correction=correction, **_reduction(self, axis, keepdims, dim, keepdim))

    def std(self, axis=None, keepdims=False, *, correction=1, unbiased=None, dim=None, keepdim=None):
        """√var (same arguments as ``var``), as one node: its gradient is 0 where the result is 0, as torch."""
        if unbiased is not None:
            correction = int(bool(unbiased))
        return apply(ops.Std, self, correction=correction, **_reduction(self, axis, keepdims, dim, keepdim))

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return apply(ops.LogSumExp, self, **_reduction(self, axis, keepdims, dim, keepdim))

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Index of the largest value, as a numpy int array (indices are not differentiable)."""
        return np.argmax(self.data, **_reduction(self, axis, keepdims, dim, keepdim))

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """Index of the smallest value, as a numpy int array (indices are not differentiable)."""
        return np.argmin(self.data, **_reduction(self, axis, keepdims, dim, keepdim))

    def cumsum(self, axis=None, *, dim=None):
        """Running sum along ``axis`` (torch: ``dim``, required there too)."""
        axis = dim if dim is not None else axis
        if axis is None:
            raise TypeError("cumsum: give the axis (dim) to sum along")
        if self.data.ndim == 0:
            _axis(self, axis, "cumsum")
            return self.reshape(1).cumsum(0).reshape(())
        return apply(ops.Cumsum, self, axis=axis)

    def softmax(self, axis=-1, *, dim=None):
        """e^x / Σ e^x along ``axis`` (torch: ``dim``), as one node computed as e^(x - logsumexp(x))."""
        return apply(ops.Softmax, self, axis=_axis(self, axis if dim is None else dim, "softmax"))

    def log_softmax(self, axis=-1, *, dim=None):
        """x - logsumexp(x) along ``axis`` (torch: ``dim``): finite even for logits like 3000."""
        return apply(ops.LogSoftmax, self, axis=_axis(self, axis if dim is None else dim, "log_softmax"))

    # ---- shape ------------------------------------------------------------------------------------
    def reshape(self, *shape):
        return apply(ops.Reshape, self, shape=_shape(shape))

    view = reshape  # backlit never shares storage by contract, so view is reshape

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge axes start_dim..end_dim into one (torch's flatten; a 0-d tensor becomes shape (1,))."""
        shape = self.data.shape
        if not shape:
            return self.reshape(1)
        s, e = start_dim % len(shape), end_dim % len(shape)
        return self.reshape(shape[:s] + (-1,) + shape[e + 1:])

    def squeeze(self, dim=None):
        """Drop axes of length 1 (only ``dim``, if given; a ``dim`` of another length stays, as in torch)."""
        shape = self.data.shape
        if dim is None:
            dims = range(len(shape))
        else:
            dims = [d % max(len(shape), 1) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        return self.reshape(tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1)))

    def unsqueeze(self, dim):
        """Insert an axis of length 1 at ``dim`` (negative counts from the end of the result)."""
        shape = self.data.shape
        dim = dim % (len(shape) + 1)
        return self.reshape(shape[:dim] + (1,) + shape[dim:])

    def expand(self, *sizes):
        """Broadcast to ``sizes`` (-1 keeps an axis); the gradient is summed back by unbroadcast."""
        sizes = _shape(sizes)
        lead = len(sizes) - self.data.ndim
        if lead < 0:
            raise ValueError(f"expand: {len(sizes)} sizes for a {self.data.ndim}-d tensor")
        shape = tuple(self.data.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
        return apply(ops.Expand, self, shape=shape)

    def permute(self, *dims):
        """Reorder every axis: ``x.permute(2, 0, 1)`` (torch's permute, numpy's full transpose)."""
        dims = _shape(dims)
        if sorted(d % max(self.data.ndim, 1) for d in dims) != list(range(self.data.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.data.ndim} axes")
        return apply(ops.Transpose, self, axes=dims)

    def transpose(self, *dims):
        """Swap two axes, as torch: ``x.transpose(0, 1)``. With no arguments, reverse all axes (``x.T``).

        For a full reordering of the axes (numpy's ``transpose(axes)``) use ``permute``.
        """
        if not dims:
            return apply(ops.Transpose, self, axes=None)
        if len(dims) != 2 or not all(isinstance(d, (int, np.integer)) for d in dims):
            raise TypeError(
                f"transpose{dims}: transpose(dim0, dim1) swaps two axes, as in torch; for a full "
                f"permutation of the axes use permute{tuple(_shape(dims))}")
        n = self.data.ndim
        axes = list(range(n))
        d0, d1 = dims[0] % max(n, 1), dims[1] % max(n, 1)
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return apply(ops.Transpose, self, axes=tuple(axes))

    @property
    def T(self):
        """All axes reversed (the transpose of a matrix)."""
        return _unary(ops.Transpose, self)

    def flip(self, *dims):
        """Reverse the order along ``dims`` (torch: ``x.flip(0)`` or ``x.flip((0, 1))``)."""
        return apply(ops.Flip, self, axes=_shape(dims))

    def gather(self, dim, index):
        """out[i][j] = self[index[i][j]][j] for dim=0 (torch.gather); ``index`` is an int array."""
        index = _int_index(index, "gather")
        if index.ndim != self.data.ndim:
            raise ValueError(f"gather: index has {index.ndim} dims but the tensor has {self.data.ndim}")
        return apply(ops.Gather, self, dim=dim % max(self.data.ndim, 1), index=index)

    def split(self, split_size_or_sections, dim=0):
        """Cut into pieces along ``dim``: pieces of one size (the last may be smaller) or a list of sizes."""
        n = self.data.shape[dim]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            sizes = [min(size, n - start) for start in range(0, n, size)]
        else:
            sizes = list(split_size_or_sections)
            if builtins.sum(sizes) != n:
                raise ValueError(f"split: sizes {sizes} do not add up to {n}, the length of axis {dim}")
        lead = (slice(None),) * (dim % self.data.ndim)
        starts = itertools.accumulate([0] + sizes)
        return tuple(self[lead + (slice(a, a + k),)] for a, k in zip(starts, sizes))

    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (the last may be smaller)."""
        n = self.data.shape[dim]
        return self.split(max(1, -(-n // chunks)), dim)

    def matmul(self, other):
        return self @ other


# ---- the backward pass -----------------------------------------------------------------------------


def _backprop(root, g, wanted=None):
    """Send the gradient ``g`` = dL/d(root) back through the graph.

    Normally each leaf that requires grad accumulates its gradient into ``.grad``. If ``wanted`` is a
    dict {leaf: None}, the gradients of those leaves are collected in it instead and no ``.grad`` is
    written anywhere (for ``backlit.grad``).
    """
    if not root._parents:
        _to_leaf(root, g, wanted)
        return
    # Reverse topological order, without recursion: every node was created after its parents, so
    # always processing the pending node created LAST (a heap on creation order) guarantees that
    # all of a node's consumers have already sent it their gradient contributions.
    grads = {root: g}
    heap = [(-root._seq, root)]
    pop, push, ndarray = heapq.heappop, heapq.heappush, np.ndarray
    while heap:
        node = pop(heap)[1]
        g = grads.pop(node)
        if node._retain and wanted is None:
            _accumulate(node, g)
        for p, pg in zip(node._parents, node._op.backward(node, g)):
            if pg is None or not p.requires_grad:
                continue
            if p._parents:  # intermediate: collect contributions until it is popped
                if p in grads:
                    grads[p] = grads[p] + pg
                else:
                    grads[p] = pg
                    push(heap, (-p._seq, p))
            elif (wanted is None and p.grad is None and pg.__class__ is ndarray and pg.base is None
                  and pg is not g and pg.shape == p.data.shape and pg.dtype == p.data.dtype):
                # NOTE (speed): a leaf's first gradient, made by the rule just now (not g, not a view,
                # the leaf's shape and dtype), is stored as it is: no copy
                p.grad = pg
            else:
                _to_leaf(p, pg, wanted)


def _to_leaf(t, g, wanted):
    if wanted is None:
        _accumulate(t, g)
    elif t in wanted:
        wanted[t] = g if wanted[t] is None else wanted[t] + g


def _accumulate(t, g):
    """Add g into t.grad, copying g the first time (the rule may have returned a view of its input)."""
    if t.grad is not None:
        t.grad += g
    elif g.shape == t.data.shape:
        t.grad = g.astype(t.data.dtype)  # a copy (astype copies), as backlit.compile can follow it
    else:
        t.grad = np.broadcast_to(g, t.data.shape).astype(t.data.dtype)


# ---- building nodes -------------------------------------------------------------------------------


def apply(op, *tensors, **params):
    """Apply an op from ``ops`` (or your own ``ops.Op`` subclass) to tensors: the one way ops run.

    Runs ``op.forward`` on the tensors' arrays and returns the result as a Tensor that records
    (tensors, op, saved) when grad mode is on and some input requires grad. ``params`` are passed to
    forward as keywords (an axis, a constant). Errors name the op and every input shape.
    """
    # NOTE (speed): passing one to three arrays by hand skips building a list per call (W2: -4%).
    try:
        n = len(tensors)
        if n == 1:
            out, ctx = op.forward(tensors[0].data, **params)
        elif n == 2:
            out, ctx = op.forward(tensors[0].data, tensors[1].data, **params)
        elif n == 3:
            out, ctx = op.forward(tensors[0].data, tensors[1].data, tensors[2].data, **params)
        else:
            out, ctx = op.forward(*[t.data for t in tensors], **params)
    except (ValueError, IndexError) as e:
        raise _named(e, op, tensors) from None
    return _record(op, tensors, out, ctx)


def _unary(op, a):
    """``apply(op, a)``, without packing *args/**kwargs.

    NOTE (speed): the training loop calls this for every activation; skipping the argument packing
    and the try block of ``apply`` measurably helps small networks (benchmarks/engine.py, W2).
    """
    out, ctx = op.forward(a.data)
    return _record(op, (a,), out, ctx)


def _binary(op, a, b):
    """``apply(op, a, b)``, without packing *args/**kwargs (see _unary)."""
    try:
        out, ctx = op.forward(a.data, b.data)
    except (ValueError, IndexError) as e:
        raise _named(e, op, (a, b)) from None
    return _record(op, (a, b), out, ctx)


def _record(op, parents, out, ctx):
    """The one node constructor: wrap ``out`` in a Tensor and, if grad mode is on and a parent
    requires grad, record (parents, op, ctx) on it so that backward can find its way back.

    NOTE (speed): it fills the slots directly instead of calling Tensor.__init__, which validates and
    copies its input; an op's output is already a fresh float array.
    """
    t = _new(Tensor)
    t.data = out if out.__class__ is np.ndarray else np.asanyarray(out)
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


def _leaf(data, requires_grad=False):
    """A leaf Tensor around an existing float array, without copying or checking it (as _record)."""
    t = _new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._parents = ()
    t._op = None
    t._ctx = None
    t._retain = False
    return t


_new = Tensor.__new__


def _lift(x, like):
    """Turn a Python number or array into a constant Tensor (numbers take ``like``'s dtype)."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot combine a Tensor with {type(x).__name__} of dtype {arr.dtype}")
    if arr.dtype.char not in "fd" or arr.ndim == 0:  # not float32 / float64, or a number
        arr = arr.astype(like.data.dtype)
    return _leaf(arr)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


_WHOLE, _WHOLE_KEEP = {"axis": None, "keepdims": False}, {"axis": None, "keepdims": True}


def _reduction(t, axis, keepdims, dim, keepdim):
    """numpy's (axis, keepdims) from either spelling. A list of axes becomes a tuple, and on a 0-d
    tensor axis 0 or -1 means the whole tensor (torch accepts it; numpy has no axis 0 there)."""
    if axis is None and dim is None and keepdim is None:
        return _WHOLE_KEEP if keepdims else _WHOLE  # the common x.sum(), x.mean(): nothing to convert
    if dim is not None:
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    if isinstance(axis, list):
        axis = tuple(axis)
    if t.data.ndim == 0 and axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        if len(axes) > 1 or any(a not in (0, -1) for a in axes):
            raise IndexError(f"axis {axis} is out of range for a 0-d tensor (use 0, -1 or None)")
        axis = None
    return {"axis": axis, "keepdims": bool(keepdims)}


def _axis(t, axis, where):
    """One axis to work along; on a 0-d tensor only 0 or -1 (which mean the whole tensor, None), as torch."""
    if t.data.ndim == 0:
        if axis not in (0, -1):
            raise IndexError(f"{where}: axis {axis} is out of range for a 0-d tensor (use 0 or -1)")
        return None
    return axis


def _int_index(index, where):
    if isinstance(index, Tensor):
        raise IndexError(f"{where}: index must be integers (a list or numpy int array), not a float Tensor")
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise IndexError(f"{where}: index must be integers, got dtype {index.dtype}")
    return index


def _named(e, op, parents):
    """The same error, its message prefixed with the op's name and every input shape."""
    shapes = " and ".join(str(p.data.shape) for p in parents)
    return type(e)(f"{op.name}: shapes {shapes}: {e}")


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (broadcasting all three), as torch.where."""
    cond = condition.data != 0 if isinstance(condition, Tensor) else np.asarray(condition, dtype=bool)
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:
        like = _leaf(np.asarray(0.0))
    return apply(ops.Where, _lift(a, like), _lift(b, like), condition=cond)


# ---- constructors ---------------------------------------------------------------------------------


def tensor(data, requires_grad=False, dtype=np.float64):
    """Same as ``Tensor(data, requires_grad, dtype)``; the spelling PyTorch users type."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(shape):
    """Sizes given as f(2, 3) or f((2, 3)), as a tuple."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def as_tensor(data, dtype=None):
    """Like ``torch.as_tensor``: a constant Tensor that shares ``data``'s memory when it is already a
    float array of the wanted dtype (no copy), and a converted copy otherwise. A Tensor of the wanted
    dtype is returned as it is. ``dtype=None`` keeps float32/float64 and turns anything else to float64.
    """
    if isinstance(data, Tensor):
        if dtype is None or np.dtype(dtype) == data.data.dtype:
            return data
        data = data.data
    arr = np.asarray(data)
    if dtype is not None and arr.dtype == dtype:  # already as wanted (the common case in a training loop)
        return _leaf(arr)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"as_tensor: expected numbers, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in _FLOATS else np.float64
    dtype = _check_dtype(dtype, "as_tensor")
    return _leaf(arr if arr.dtype == dtype else arr.astype(dtype))


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
