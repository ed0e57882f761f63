"""Every engine op over a table of shapes: gradcheck passes, and value and gradient equal PyTorch's.

One row per (op, shapes, options). Each row builds float64 inputs from a fixed seed, runs the op in
backlit and in PyTorch, pulls a random upstream gradient v back through both (loss = Σ v·out), and
compares the values and every input gradient. Every row runs again in float32 against PyTorch's
float32 (at float32 tolerances, checking that float32 stays float32).

The shapes include the degenerate ones (empty, a single element, 0-d), so every op is checked there
too: where torch answers, backlit gives the same value and gradient (NaN and inf included); where
torch raises, backlit raises.
"""

import numpy as np
import pytest
import torch

import backlit as bl
from backlit import engine as E

ATOL = 1e-10  # every rule below is exact maths, so only rounding separates us from PyTorch

UNARY_SHAPES = [(), (5,), (3, 4), (2, 3, 4), (0,), (1,), (3, 0)]
BINARY_SHAPES = [
    ((0,), (0,)),
    ((3, 0), (1,)),
    ((0, 4), (4,)),
    ((), ()),
    ((5,), (5,)),
    ((3, 4), (3, 4)),
    ((1,), (5, 4)),
    ((5, 4), (1,)),
    ((4, 1), (1, 3)),
    ((3, 4), ()),
    ((2, 3, 4), (3, 4)),
    ((3, 1), (3, 4)),
]
AXES = [None, 0, 1, -1, (0, 1)]


def _inputs(shapes, domain, seed):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if domain == "small":  # |x| < 1.2, away from tan's poles at ±π/2
            out.append(rng.uniform(-1.2, 1.2, size=s))
        elif domain == "positive":
            out.append(rng.uniform(0.5, 2.0, size=s))
        elif domain == "nonzero":  # away from kinks at 0 (relu, abs, leaky_relu) and from division by 0
            out.append(rng.uniform(0.3, 2.0, size=s) * rng.choice([-1.0, 1.0], size=s))
        else:
            out.append(rng.standard_normal(s))
    return out


def _compare(bl_fn, torch_fn, arrays, check_grad=True, dtype=np.float64):
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    atol, rtol = (ATOL, 1e-10) if dtype == np.float64 else (2e-5, 2e-5)
    xs = [bl.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = bl_fn(*xs)
    tout = torch_fn(*ts)
    assert out.shape == tuple(tout.shape)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol, rtol=rtol)
    v = np.random.default_rng(99).standard_normal(out.shape).astype(dtype)
    (out * bl.tensor(v, dtype=dtype)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad is not None and x.grad.shape == x.shape and x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=atol, rtol=rtol)
    finite = np.isfinite(out.data).all() and all(np.isfinite(t.grad.numpy()).all() for t in ts)
    if check_grad and dtype == np.float64 and finite:  # (finite differences cannot check NaN or inf)
        result = bl.gradcheck(bl_fn, *[bl.tensor(a, requires_grad=True) for a in arrays])
        assert result, str(result)


def _compare_or_raise(bl_fn, torch_fn, arrays, dtype=np.float64):
    """As _compare where torch gives an answer; where torch raises (a max over nothing, an axis out of
    range), backlit must raise too."""
    try:
        torch_fn(*[torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays])
    except (RuntimeError, IndexError, ValueError):
        with pytest.raises((ValueError, IndexError)):
            bl_fn(*[bl.tensor(a, requires_grad=True, dtype=dtype) for a in arrays])
        return
    _compare(bl_fn, torch_fn, arrays, dtype=dtype)


# ---- elementwise -------------------------------------------------------------------------------------

UNARY = {
    "neg": (lambda x: -x, lambda t: -t, "any"),
    "exp": (lambda x: x.exp(), torch.exp, "any"),
    "log": (lambda x: x.log(), torch.log, "positive"),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt, "positive"),
    "abs": (lambda x: x.abs(), torch.abs, "nonzero"),
    "sin": (lambda x: x.sin(), torch.sin, "any"),
    "cos": (lambda x: x.cos(), torch.cos, "any"),
    "tanh": (lambda x: x.tanh(), torch.tanh, "any"),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, "any"),
    "relu": (lambda x: x.relu(), torch.relu, "nonzero"),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1), "nonzero"),
    "leaky_relu_default": (lambda x: bl.leaky_relu(x), torch.nn.functional.leaky_relu, "nonzero"),
    "softplus": (lambda x: x.softplus(), torch.nn.functional.softplus, "any"),
    "clip": (lambda x: x.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), "any"),
    "clip_lo": (lambda x: x.clip(lo=0.1), lambda t: t.clamp(min=0.1), "any"),
    "clip_hi": (lambda x: x.clip(hi=0.1), lambda t: t.clamp(max=0.1), "any"),
    "pow2": (lambda x: x**2, lambda t: t**2, "any"),
    "pow3": (lambda x: x**3, lambda t: t**3, "any"),
    "pow_half": (lambda x: x**0.5, lambda t: t**0.5, "positive"),
    "pow_neg": (lambda x: x**-1.5, lambda t: t**-1.5, "positive"),
    "rsub": (lambda x: 2.0 - x, lambda t: 2.0 - t, "any"),
    "rdiv": (lambda x: 2.0 / x, lambda t: 2.0 / t, "nonzero"),
    "rpow": (lambda x: 2.0**x, lambda t: 2.0**t, "any"),
    "scalar_mul": (lambda x: x * 3 + 1, lambda t: t * 3 + 1, "any"),
    "module_exp": (lambda x: bl.exp(x), torch.exp, "any"),
    "module_sin_cos": (lambda x: bl.sin(x) * bl.cos(x), lambda t: torch.sin(t) * torch.cos(t), "any"),
    "tan": (lambda x: x.tan(), torch.tan, "small"),
    "log1p": (lambda x: x.log1p(), torch.log1p, "positive"),
    "expm1": (lambda x: x.expm1(), torch.expm1, "any"),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), "any"),
    "pow0": (lambda x: x**0, lambda t: t**0, "any"),
    "pow0_float": (lambda x: x**0.0, lambda t: t**0.0, "any"),
}


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, dtype):
    f, tf, domain = UNARY[name]
    _compare(f, tf, _inputs([shape], domain, seed=sum(map(ord, name))), dtype=dtype)


# ---- binary, with broadcasting ---------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, "any"),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, "any"),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, "any"),
    "div": (lambda a, b: a / b, lambda a, b: a / b, "nonzero"),
    "pow": (lambda a, b: a**b, lambda a, b: a**b, "positive"),
    "maximum": (lambda a, b: a.maximum(b), torch.maximum, "any"),
    "minimum": (lambda a, b: bl.engine.minimum(a, b), torch.minimum, "any"),
    "where": (lambda a, b: bl.engine.where(a > 0.2, a, b), lambda a, b: torch.where(a > 0.2, a, b), "any"),
    "where_method": (lambda a, b: a.where(b < 0, b * 2), lambda a, b: a.where(b < 0, b * 2), "any"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes, dtype):
    f, tf, domain = BINARY[name]
    _compare(f, tf, _inputs(shapes, domain, seed=len(name)), dtype=dtype)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_the_gradient_like_torch(name):
    a = np.array([1.0, 2.0, 3.0, 2.0])
    b = np.array([3.0, 2.0, 1.0, 2.0])
    _compare(lambda x, y: getattr(x, name)(y), getattr(torch, name), [a, b], check_grad=False)


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (4, 3, 2)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((0, 3), (3, 4)),
    ((2, 0), (0, 4)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    _compare(lambda a, b: a @ b, torch.matmul, _inputs(shapes, "any", seed=3))
    _compare(lambda a, b: bl.matmul(a, b), torch.matmul, _inputs(shapes, "any", seed=4), check_grad=False)


# ---- reductions ------------------------------------------------------------------------------------


def _dim(axis):
    return {} if axis is None else {"dim": axis}


REDUCTIONS = {
    "sum": (lambda x, ax, kd: x.sum(axis=ax, keepdims=kd),
            lambda t, ax, kd: t.sum(**_dim(ax), keepdim=kd) if ax is not None else
            (t.sum().reshape((1,) * t.ndim) if kd else t.sum())),
    "mean": (lambda x, ax, kd: x.mean(axis=ax, keepdims=kd),
             lambda t, ax, kd: t.mean(**_dim(ax), keepdim=kd) if ax is not None else
             (t.mean().reshape((1,) * t.ndim) if kd else t.mean())),
    "max": (lambda x, ax, kd: x.max(axis=ax, keepdims=kd),
            lambda t, ax, kd: torch.amax(t, dim=ax if ax is not None else tuple(range(t.ndim)), keepdim=kd)),
    "logsumexp": (lambda x, ax, kd: x.logsumexp(axis=ax, keepdims=kd),
                  lambda t, ax, kd: torch.logsumexp(t, dim=ax if ax is not None else tuple(range(t.ndim)),
                                                    keepdim=kd)),
    "min": (lambda x, ax, kd: x.min(axis=ax, keepdims=kd),
            lambda t, ax, kd: torch.amin(t, dim=ax if ax is not None else tuple(range(t.ndim)), keepdim=kd)),
    "prod": (lambda x, ax, kd: x.prod(axis=ax, keepdims=kd), lambda t, ax, kd: _torch_prod(t, ax, kd)),
    "var": (lambda x, ax, kd: x.var(axis=ax, keepdims=kd),
            lambda t, ax, kd: torch.var(t, dim=ax, keepdim=kd)),
    "var_biased": (lambda x, ax, kd: x.var(dim=ax, keepdim=kd, correction=0),
                   lambda t, ax, kd: torch.var(t, dim=ax, keepdim=kd, correction=0)),
    "std": (lambda x, ax, kd: x.std(ax, kd), lambda t, ax, kd: torch.std(t, dim=ax, keepdim=kd)),
    "std_biased": (lambda x, ax, kd: x.std(ax, kd, correction=0),
                   lambda t, ax, kd: torch.std(t, dim=ax, keepdim=kd, correction=0)),
    "var_correction_3": (lambda x, ax, kd: x.var(ax, kd, correction=3),  # 3 >= n on every axis of length 3
                         lambda t, ax, kd: torch.var(t, dim=ax, keepdim=kd, correction=3)),
    "std_correction_4": (lambda x, ax, kd: x.std(ax, kd, correction=4),
                         lambda t, ax, kd: torch.std(t, dim=ax, keepdim=kd, correction=4)),
    "sum_dim_alias": (lambda x, ax, kd: x.sum(dim=ax, keepdim=kd),
                      lambda t, ax, kd: t.sum(dim=ax if ax is not None else tuple(range(t.ndim)), keepdim=kd)),
}


def _torch_prod(t, axis, keepdim):
    """torch.prod takes one dim at a time: reduce a tuple of axes one by one, last first."""
    axes = tuple(range(t.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    if len({a % max(t.ndim, 1) for a in axes}) < len(axes):
        raise RuntimeError(f"dim appears multiple times in {axes}")  # as torch.sum says
    if t.ndim == 0 or len(axes) == 1:
        return torch.prod(t, dim=axes[0], keepdim=keepdim) if axes else t
    for ax in sorted((a % t.ndim for a in axes), reverse=True):
        t = torch.prod(t, dim=ax, keepdim=keepdim)
    return t


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims, dtype):
    f, tf = REDUCTIONS[name]
    _compare(lambda x: f(x, axis, keepdims), lambda t: tf(t, axis, keepdims), _inputs([shape], "any", seed=7),
             dtype=dtype)


# The degenerate shapes: empty (a zero-size axis reduced, or kept), a single element, 0-d. Every axis
# spelling is tried on each; the ones out of range for a shape must raise, as they do in torch.
EDGE_SHAPES = [(), (0,), (1,), (1, 1), (1, 4), (3, 0), (0, 4)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_on_degenerate_shapes(name, shape, axis, keepdims, dtype):
    f, tf = REDUCTIONS[name]
    _compare_or_raise(lambda x: f(x, axis, keepdims), lambda t: tf(t, axis, keepdims),
                      _inputs([shape], "any", seed=7), dtype=dtype)


@pytest.mark.parametrize("correction", [1, 2, 5])
@pytest.mark.parametrize("name", ["var", "std"])
def test_correction_at_or_above_the_count(name, correction):
    """n - correction <= 0: torch's NaN / inf values and gradients, never -0.0 or an exception."""
    for shape, axis in [((1,), None), ((2,), None), ((2,), 0), ((2, 3), 0), ((1, 1), (0, 1)), ((), 0)]:
        _compare(lambda x: getattr(x, name)(axis, correction=correction),
                 lambda t: getattr(torch, name)(t, dim=axis, correction=correction),
                 _inputs([shape], "any", seed=correction))


def test_single_element_std_has_zero_gradient_like_torch():
    x = bl.tensor([1.5], requires_grad=True)
    out = x.std(correction=0)
    out.backward()
    assert out.item() == 0.0 and x.grad.tolist() == [0.0]  # not NaN (1/(2·0) times 0)
    x = bl.tensor([[2.0, 2.0, 2.0]], requires_grad=True)
    x.std(axis=1).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0]]


# Ops along one axis (the output has the input's shape).
ALONG_AXIS = {
    "cumsum": (lambda x, ax: x.cumsum(ax), lambda t, ax: t.cumsum(ax)),
    "cumsum_dim": (lambda x, ax: x.cumsum(dim=ax), lambda t, ax: torch.cumsum(t, dim=ax)),
    "softmax": (lambda x, ax: x.softmax(ax), lambda t, ax: t.softmax(ax)),
    "softmax_dim": (lambda x, ax: x.softmax(dim=ax), lambda t, ax: torch.softmax(t, dim=ax)),
    "softmax_functional": (lambda x, ax: bl.functional.softmax(x, ax), lambda t, ax: torch.softmax(t, ax)),
    "softmax_module": (lambda x, ax: E.softmax(x, ax), lambda t, ax: torch.softmax(t, ax)),
    "log_softmax": (lambda x, ax: x.log_softmax(ax), lambda t, ax: t.log_softmax(ax)),
    "log_softmax_dim": (lambda x, ax: x.log_softmax(dim=ax), lambda t, ax: torch.log_softmax(t, dim=ax)),
    "log_softmax_functional": (lambda x, ax: bl.functional.log_softmax(x, dim=ax),
                               lambda t, ax: torch.nn.functional.log_softmax(t, dim=ax)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)] + EDGE_SHAPES, ids=str)
@pytest.mark.parametrize("name", ["cumsum", "softmax", "log_softmax"])
def test_along_axis(name, shape, axis, dtype):
    f, tf = ALONG_AXIS[name]
    _compare_or_raise(lambda x: f(x, axis), lambda t: tf(t, axis), _inputs([shape], "any", seed=9), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [0, -1, 1])
@pytest.mark.parametrize("shape", [(3, 4), ()], ids=str)
@pytest.mark.parametrize("name", sorted(set(ALONG_AXIS) - {"cumsum", "softmax", "log_softmax"}))
def test_along_axis_other_spellings(name, shape, axis, dtype):
    f, tf = ALONG_AXIS[name]
    _compare_or_raise(lambda x: f(x, axis), lambda t: tf(t, axis), _inputs([shape], "any", seed=9), dtype=dtype)


def test_softmax_methods_are_single_nodes():
    x = bl.tensor(np.ones((2, 3)), requires_grad=True)
    assert x.softmax(-1).op == "softmax" and x.log_softmax(dim=0).op == "log_softmax"


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_prod_with_zeros_is_exact(axis):
    data = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, -2.0, 0.5]])
    _compare(lambda x: x.prod(axis), lambda t: _torch_prod(t, axis, False), [data])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_argmax_argmin_match_torch(name, axis):
    data = np.array([[1.0, 5.0, 5.0], [7.0, -1.0, 2.0]])  # ties pick the first index in both
    got = getattr(bl.tensor(data), name)(axis)
    want = getattr(torch.tensor(data), name)(dim=axis)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(getattr(bl.tensor(data), name)(dim=0, keepdim=True),
                                  getattr(torch.tensor(data), name)(dim=0, keepdim=True).numpy())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_vector_and_scalar(name):
    f, tf = REDUCTIONS[name]
    _compare(lambda x: f(x, None, False), lambda t: tf(t, None, False), _inputs([(5,)], "any", seed=8))
    _compare(lambda x: f(x, 0, False), lambda t: tf(t, 0, False), _inputs([(5,)], "any", seed=8))


def test_max_ties_split_evenly_like_torch():
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    # full reduction: torch's t.max() splits the gradient between the two 3s
    x = bl.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    x.max().backward()
    t.max().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])
    # per-axis: torch.amax also splits evenly
    x = bl.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    (x.max(axis=1) * bl.tensor([1.0, 3.0])).sum().backward()
    (torch.amax(t, dim=1) * torch.tensor([1.0, 3.0])).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 1, 1]])


# ---- shape ops -----------------------------------------------------------------------------------------

SHAPE_OPS = {
    "reshape": ((3, 4), lambda x: x.reshape(2, 6), lambda t: t.reshape(2, 6)),
    "reshape_tuple_infer": ((3, 4), lambda x: x.reshape((4, -1)), lambda t: t.reshape(4, -1)),
    "module_reshape": ((3, 4), lambda x: E.reshape(x, 12), lambda t: t.reshape(12)),
    "transpose": ((3, 4), lambda x: x.transpose(), lambda t: t.T),
    "T": ((3, 4), lambda x: x.T, lambda t: t.T),
    "permute": ((2, 3, 4), lambda x: x.permute(1, 2, 0), lambda t: t.permute(1, 2, 0)),
    "permute_tuple": ((2, 3, 4), lambda x: x.permute((2, 0, 1)), lambda t: t.permute(2, 0, 1)),
    "permute_negative": ((2, 3, 4), lambda x: x.permute(-1, 0, 1), lambda t: t.permute(-1, 0, 1)),
    "transpose_dims_3d": ((2, 3, 4), lambda x: x.transpose(0, 1), lambda t: t.transpose(0, 1)),
    "transpose_dims_neg": ((2, 3, 4), lambda x: x.transpose(-1, 0), lambda t: t.transpose(-1, 0)),
    "transpose_dims_2d_same": ((3, 4), lambda x: x.transpose(0, 1), lambda t: t.transpose(0, 1)),
    "index_int": ((3, 4), lambda x: x[1], lambda t: t[1]),
    "index_negative": ((3, 4), lambda x: x[-1, 2], lambda t: t[-1, 2]),
    "slice": ((5, 4), lambda x: x[1:4, ::2], lambda t: t[1:4, ::2]),
    "ellipsis_newaxis": ((3, 4), lambda x: x[None, ..., 1:], lambda t: t[None, ..., 1:]),
    "int_array_repeats": ((5, 4), lambda x: x[np.array([0, 2, 0, 0])], lambda t: t[torch.tensor([0, 2, 0, 0])]),
    "int_list": ((5,), lambda x: x[[1, 1, 3]], lambda t: t[[1, 1, 3]]),
    "int_pair_arrays": ((5, 4), lambda x: x[np.array([0, 1, 0]), np.array([2, 2, 2])],
                        lambda t: t[torch.tensor([0, 1, 0]), torch.tensor([2, 2, 2])]),
    "slice_and_array": ((3, 4), lambda x: x[:, [0, 0, 3]], lambda t: t[:, [0, 0, 3]]),
    "bool_mask": ((5,), lambda x: x[np.array([True, False, True, True, False])],
                  lambda t: t[torch.tensor([True, False, True, True, False])]),
    "index_int_array_from_tensor": ((5,), lambda x: x[bl.tensor([4.0, 0.0, 4.0]).numpy().astype(int)],
                                    lambda t: t[torch.tensor([4, 0, 4])]),
    "index_tuple_repeats": ((3, 4), lambda x: x[((0, 0, 2),)], lambda t: t[((0, 0, 2),)]),
    "index_slice_tuple": ((3, 4), lambda x: x[:, (1, 1)], lambda t: t[:, (1, 1)]),
}


_GATHER = np.array([[0, 0], [3, 1], [2, 2]])
_GATHER0 = np.array([[0, 2, 2, 1], [1, 1, 0, 0]])


def _pieces(parts, cat):
    """Join split pieces back, each scaled differently, so every piece's gradient is checked."""
    return cat([p * (i + 1) for i, p in enumerate(parts)])


SHAPE_OPS.update({
    "squeeze": ((3, 1, 4, 1), lambda x: x.squeeze(), lambda t: t.squeeze()),
    "squeeze_dim": ((3, 1, 4), lambda x: x.squeeze(1), lambda t: t.squeeze(1)),
    "squeeze_dim_not_one": ((3, 4), lambda x: x.squeeze(0), lambda t: t.squeeze(0)),
    "unsqueeze": ((3, 4), lambda x: x.unsqueeze(1), lambda t: t.unsqueeze(1)),
    "unsqueeze_negative": ((3, 4), lambda x: x.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
    "flatten": ((2, 3, 4), lambda x: x.flatten(), lambda t: t.flatten()),
    "flatten_from_1": ((2, 3, 4), lambda x: x.flatten(1), lambda t: t.flatten(1)),
    "view": ((3, 4), lambda x: x.view(4, 3), lambda t: t.view(4, 3)),
    "expand": ((3, 1), lambda x: x.expand(2, 3, 4), lambda t: t.expand(2, 3, 4)),
    "expand_keep": ((3, 1), lambda x: x.expand(-1, 5), lambda t: t.expand(-1, 5)),
    "flip": ((3, 4), lambda x: x.flip(0), lambda t: t.flip(0)),
    "flip_two": ((2, 3, 4), lambda x: x.flip((0, 2)), lambda t: t.flip((0, 2))),
    "cumsum": ((3, 4), lambda x: x.cumsum(1), lambda t: t.cumsum(1)),
    "cumsum_dim0": ((3, 4), lambda x: x.cumsum(dim=0), lambda t: t.cumsum(dim=0)),
    "gather": ((3, 4), lambda x: x.gather(1, _GATHER), lambda t: t.gather(1, torch.tensor(_GATHER))),
    "gather_dim0": ((3, 4), lambda x: x.gather(0, _GATHER0), lambda t: t.gather(0, torch.tensor(_GATHER0))),
    "pad": ((3, 4), lambda x: bl.engine.pad(x, (1, 2)), lambda t: torch.nn.functional.pad(t, (1, 2))),
    "pad_two_axes": ((3, 4), lambda x: bl.functional.pad(x, (1, 0, 2, 1), value=0.5),
                     lambda t: torch.nn.functional.pad(t, (1, 0, 2, 1), value=0.5)),
    "split": ((5, 4), lambda x: _pieces(x.split(2), bl.concatenate), lambda t: _pieces(t.split(2), torch.cat)),
    "split_sizes": ((3, 4), lambda x: _pieces(x.split([1, 3], dim=1), lambda ps: bl.concatenate(ps, 1)),
                    lambda t: _pieces(t.split([1, 3], dim=1), lambda ps: torch.cat(ps, 1))),
    "chunk": ((5, 4), lambda x: _pieces(x.chunk(3), bl.concatenate), lambda t: _pieces(t.chunk(3), torch.cat)),
    "min_then_index": ((3, 4), lambda x: x.min(dim=1)[1:], lambda t: torch.amin(t, dim=1)[1:]),
})


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name, dtype):
    shape, f, tf = SHAPE_OPS[name]
    _compare(f, tf, _inputs([shape], "any", seed=11), dtype=dtype)


# Padding in every mode; a negative width crops (torch crops first, then pads). torch pads in the
# modes other than "constant" only the last one to three axes of a 2-D to 5-D input; backlit pads any.
PADS = [((3, 4), (2, 1)), ((3, 4), (-1, 2)), ((3, 4), (1, -2)), ((3, 4), (3, 0)), ((3, 4), (-1, -1)),
        ((2, 3, 4), (1, 1, 1, 1)), ((2, 3, 4), (-1, 1, 1, 0)), ((2, 3, 4), (0, 0, 2, 0)),
        ((2, 3, 4), (2, 0, -1, 2)), ((1, 3), (-1, 2)), ((1, 3), (2, -1)), ((1, 3), (-2, 2)), ((1, 1), (0, 0))]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,pad", PADS, ids=str)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode, shape, pad, dtype):
    _compare_or_raise(lambda x: bl.functional.pad(x, pad, mode=mode),
                      lambda t: torch.nn.functional.pad(t, pad, mode=mode), _inputs([shape], "any", seed=15),
                      dtype=dtype)


def test_constant_pad_with_negative_widths_on_any_axes():
    _compare(lambda x: E.pad(x, (-1, 2, 1, -1), value=0.5),
             lambda t: torch.nn.functional.pad(t, (-1, 2, 1, -1), value=0.5), _inputs([(3, 4)], "any", seed=2))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_of_empty_tensors(mode):
    """torch refuses reflect and replicate padding of empty tensors; backlit pads the axes that have
    edges (and refuses the empty ones), as torch does in circular mode."""
    _compare(lambda x: E.pad(x, (1, 2), mode=mode), lambda t: torch.nn.functional.pad(t, (1, 2), mode="circular"),
             [np.zeros((0, 4))])
    if mode != "constant":
        with pytest.raises(ValueError, match="length 0"):
            E.pad(bl.zeros(3, 0), (1, 1), mode=mode)


@pytest.mark.parametrize("mode,pad", [("reflect", (4, 0)), ("reflect", (0, 5)), ("circular", (5, 0))])
def test_pad_wider_than_torch_allows_is_refused(mode, pad):
    x = np.zeros((2, 4))
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.tensor(x), pad, mode=mode)
    with pytest.raises(ValueError, match=f"{mode}.*length 4"):
        bl.functional.pad(bl.tensor(x), pad, mode=mode)


def test_pad_refuses_what_torch_refuses():
    x = bl.tensor(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="mode must be one of"):
        bl.functional.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="takes no value"):
        bl.functional.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(ValueError, match="less than nothing"):
        bl.functional.pad(x, (-3, -2))
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.zeros(2, 4), (-3, -2))


def test_transpose_with_a_full_permutation_points_to_permute():
    x = bl.tensor(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match="permute"):
        x.transpose(1, 2, 0)
    with pytest.raises(TypeError):  # torch refuses it too
        torch.zeros(2, 3, 4).transpose(1, 2, 0)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis):
    shapes = [(2, 3), (2, 3), (2, 3)] if axis != 0 else [(1, 3), (4, 3), (2, 3)]
    if axis in (1, -1):
        shapes = [(2, 1), (2, 3), (2, 2)]
    _compare(lambda *xs: bl.concatenate(xs, axis=axis), lambda *ts: torch.cat(ts, dim=axis),
             _inputs(shapes, "any", seed=12))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack(axis):
    _compare(lambda *xs: bl.stack(xs, axis=axis), lambda *ts: torch.stack(ts, dim=axis),
             _inputs([(2, 3)] * 3, "any", seed=13))


def test_stack_scalars_and_vectors():
    _compare(lambda a, b, c: bl.stack([a, b, c]), lambda a, b, c: torch.stack([a, b, c]),
             _inputs([(), (), ()], "any", seed=14))


# ---- the elementwise flag: what it claims is true, and the graph view reads it ---------------------

_PARAMS = {E.ops.PowScalar: {"c": 3}, E.ops.LeakyRelu: {"slope": 0.1}, E.ops.Clip: {"lo": 1.5, "hi": 2.5},
           E.ops.Where: {"condition": np.array([True, False, True, False])}}


def _elementwise_ops():
    return [op for op in vars(E.ops).values()
            if isinstance(op, type) and issubclass(op, E.Op) and op.__dict__.get("elementwise")]


@pytest.mark.parametrize("op", _elementwise_ops(), ids=lambda op: op.__name__)
def test_elementwise_ops_have_a_diagonal_jacobian(op):
    """Each output element moves only with the input elements at its own place."""
    params = _PARAMS.get(op, {})
    n_inputs = op.forward.__code__.co_argcount - len(params)
    arrays = [a + 2.0 for a in _inputs([(4,)] * n_inputs, "nonzero", seed=5)]  # in (0, 4): log, sqrt
    if op is E.ops.BinaryCrossEntropy:
        arrays[0] = arrays[0] / 5.0  # a probability
    base = op.forward(*arrays, **params)[0]
    for k in range(n_inputs):
        for i in range(4):
            moved = [a.copy() for a in arrays]
            moved[k][i] += 1e-3
            change = op.forward(*moved, **params)[0] - base
            assert np.all(np.delete(change, i) == 0), (op.name, k, i)


def test_graph_view_shows_local_derivatives_of_every_elementwise_op():
    from backlit.lab import graph as G

    x = bl.tensor([0.1, 0.2, 0.3], requires_grad=True)
    for out in (x.tan(), x.log1p(), x.expm1(), x.maximum(x * 0.5), x.minimum(x * 0.4 + 0.1), x.where(x > 0.15, x * 2)):
        assert out._op.elementwise and G._has_local(out), out.op
    assert not G._has_local(x.cumsum(0)) and not G._has_local(x.softmax(0))


# ---- losses with torch's options -----------------------------------------------------------------

_R = np.random.default_rng(21)
_T2 = np.array([0, 3, 1, 3, 2])
_T2_IGNORED = np.array([0, -100, 1, 3, -100])
_T4 = _R.integers(0, 4, (2, 3, 2))
_T4_IGNORED = np.where(_R.random((2, 3, 2)) < 0.3, 2, _T4)  # some targets are class 2, ignored below
_W = _R.uniform(0.5, 2.0, 4)
_P2 = _R.dirichlet(np.ones(4), 5)
_P4 = np.moveaxis(_R.dirichlet(np.ones(4), (2, 3, 2)), -1, 1)  # (2, 4, 3, 2): probabilities on axis 1
_BITS = (_R.random((6, 3)) > 0.5).astype(float)
_POS = _R.uniform(0.3, 3.0, 3)
TF = torch.nn.functional


def _like(t, a):
    """A numpy constant as a torch tensor of t's dtype (torch does not mix float32 and float64)."""
    return torch.tensor(a, dtype=t.dtype)


def _ce(t, target, **kw):
    if "weight" in kw:
        kw["weight"] = _like(t, kw["weight"])
    return TF.cross_entropy(t, torch.tensor(target) if target.dtype.kind == "i" else _like(t, target), **kw)


# name -> (input shapes, bl_fn, torch_fn); the inputs are logits, and for class-probability targets and
# BCE the targets too (so their gradient is checked as well)
LOSS_ROWS = {}
for _r in ("mean", "sum", "none"):
    LOSS_ROWS.update({
        f"ce_label_smoothing_{_r}": ([(5, 4)], lambda x, r=_r: bl.functional.cross_entropy(
            x, _T2, r, label_smoothing=0.1), lambda t, r=_r: _ce(t, _T2, reduction=r, label_smoothing=0.1)),
        f"ce_weight_{_r}": ([(5, 4)], lambda x, r=_r: bl.functional.cross_entropy(x, _T2, r, weight=_W),
                            lambda t, r=_r: _ce(t, _T2, reduction=r, weight=_W)),
        f"ce_ignore_index_{_r}": ([(5, 4)], lambda x, r=_r: bl.functional.cross_entropy(x, _T2_IGNORED, r),
                                  lambda t, r=_r: _ce(t, _T2_IGNORED, reduction=r)),
        f"ce_everything_{_r}": ([(5, 4)], lambda x, r=_r: bl.functional.cross_entropy(
            x, _T2_IGNORED, r, weight=_W, label_smoothing=0.3),
            lambda t, r=_r: _ce(t, _T2_IGNORED, reduction=r, weight=_W, label_smoothing=0.3)),
        f"ce_4d_{_r}": ([(2, 4, 3, 2)], lambda x, r=_r: bl.functional.cross_entropy(x, _T4, r),
                        lambda t, r=_r: _ce(t, _T4, reduction=r)),
        f"ce_4d_everything_{_r}": ([(2, 4, 3, 2)], lambda x, r=_r: bl.functional.cross_entropy(
            x, _T4_IGNORED, r, weight=_W, ignore_index=2, label_smoothing=0.2),
            lambda t, r=_r: _ce(t, _T4_IGNORED, reduction=r, weight=_W, ignore_index=2, label_smoothing=0.2)),
        f"ce_one_sample_{_r}": ([(4,)], lambda x, r=_r: bl.functional.cross_entropy(
            x, 2, r, weight=_W, label_smoothing=0.1),
            lambda t, r=_r: _ce(t, np.array(2), reduction=r, weight=_W, label_smoothing=0.1)),
        f"ce_probabilities_{_r}": ([(5, 4), (5, 4)], lambda x, p, r=_r: bl.functional.cross_entropy(x, p, r),
                                   lambda t, p, r=_r: TF.cross_entropy(t, p, reduction=r)),
        f"ce_probabilities_everything_{_r}": ([(5, 4), (5, 4)], lambda x, p, r=_r: bl.functional.cross_entropy(
            x, p, r, weight=_W, label_smoothing=0.25),
            lambda t, p, r=_r: TF.cross_entropy(t, p, reduction=r, weight=_like(t, _W), label_smoothing=0.25)),
        f"ce_probabilities_4d_{_r}": ([(2, 4, 3, 2), (2, 4, 3, 2)], lambda x, p, r=_r: bl.functional.cross_entropy(
            x, p, r, weight=_W), lambda t, p, r=_r: TF.cross_entropy(t, p, reduction=r, weight=_like(t, _W))),
        f"ce_probabilities_one_sample_{_r}": ([(4,), (4,)], lambda x, p, r=_r: bl.functional.cross_entropy(
            x, p, r, label_smoothing=0.1), lambda t, p, r=_r: TF.cross_entropy(t, p, reduction=r,
                                                                                 label_smoothing=0.1)),
        f"nll_weight_ignore_4d_{_r}": ([(2, 4, 3, 2)], lambda x, r=_r: bl.functional.nll_loss(
            x, _T4_IGNORED, r, weight=_W, ignore_index=2),
            lambda t, r=_r: TF.nll_loss(t, torch.tensor(_T4_IGNORED), reduction=r, weight=_like(t, _W),
                                        ignore_index=2)),
        f"bce_pos_weight_{_r}": ([(6, 3), (6, 3)], lambda x, y, r=_r: bl.functional.binary_cross_entropy_with_logits(
            x, y, r, pos_weight=_POS), lambda t, y, r=_r: TF.binary_cross_entropy_with_logits(
            t, y, reduction=r, pos_weight=_like(t, _POS))),
        f"bce_weight_{_r}": ([(6, 3), (6, 3)], lambda x, y, r=_r: bl.functional.binary_cross_entropy_with_logits(
            x, y, r, weight=_BITS[0] + 0.5), lambda t, y, r=_r: TF.binary_cross_entropy_with_logits(
            t, y, reduction=r, weight=_like(t, _BITS[0] + 0.5))),
        f"bce_weight_pos_weight_{_r}": ([(6, 3), (6, 3)], lambda x, y, r=_r:
            bl.functional.binary_cross_entropy_with_logits(x, y, r, weight=_BITS[:, :1] + 0.5, pos_weight=_POS),
            lambda t, y, r=_r: TF.binary_cross_entropy_with_logits(
                t, y, reduction=r, weight=_like(t, _BITS[:, :1] + 0.5), pos_weight=_like(t, _POS))),
        f"bce_probabilities_weight_{_r}": ([(6, 3), (6, 3)], lambda x, y, r=_r: bl.functional.binary_cross_entropy(
            x.sigmoid(), y, r, weight=_BITS + 0.5), lambda t, y, r=_r: TF.binary_cross_entropy(
            t.sigmoid(), y, reduction=r, weight=_like(t, _BITS + 0.5))),
        f"bce_pos_weight_one_{_r}": ([(6, 3), (6, 3)], lambda x, y, r=_r: bl.functional.binary_cross_entropy_with_logits(
            x, y, r, pos_weight=2.5), lambda t, y, r=_r: TF.binary_cross_entropy_with_logits(
            t, y, reduction=r, pos_weight=_like(t, [2.5]))),
    })


def _loss_inputs(name, shapes):
    logits = _inputs(shapes[:1], "any", seed=len(name))[0] * 2
    if len(shapes) == 1:
        return [logits]
    if name.startswith("bce"):
        return [logits * 3, _BITS * 0.8 + 0.1]  # soft 0/1 targets: the target gradient is checked too
    return [logits, _P2 if shapes[1] == (5, 4) else _P4 if len(shapes[1]) == 4 else _P2[0]]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(LOSS_ROWS))
def test_loss_options(name, dtype):
    shapes, f, tf = LOSS_ROWS[name]
    _compare(f, tf, _loss_inputs(name, shapes), dtype=dtype)


def test_losses_where_nothing_counts_are_nan_with_zero_gradient_like_torch():
    everything_ignored = np.full(5, -100)
    _compare(lambda x: bl.functional.cross_entropy(x, everything_ignored),
             lambda t: TF.cross_entropy(t, torch.tensor(everything_ignored)), _inputs([(5, 4)], "any", seed=1))
    _compare(lambda x: bl.functional.cross_entropy(x, np.zeros((0,), int), reduction="sum"),
             lambda t: TF.cross_entropy(t, torch.zeros(0, dtype=torch.long), reduction="sum"), [np.zeros((0, 4))])


def test_bce_pos_weight_is_finite_at_1000():
    x = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0]])
    _compare(lambda a: bl.functional.binary_cross_entropy_with_logits(a, y, pos_weight=[3.0]),
             lambda t: TF.binary_cross_entropy_with_logits(t, _like(t, y), pos_weight=_like(t, [3.0])), [x])


def test_loss_options_refuse_what_torch_refuses():
    F, x = bl.functional, bl.tensor(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, _T2, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight.*\(4,\)"):
        F.cross_entropy(x, _T2, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(x, _P2, ignore_index=1)
    with pytest.raises(IndexError, match="0..3"):
        F.cross_entropy(x, np.array([0, 4, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"\(2, 4, 3, 2\).*\(2, 3\)"):
        F.cross_entropy(bl.zeros(2, 4, 3, 2), np.zeros((2, 3), int))
    with pytest.raises(ValueError, match="constant"):
        F.cross_entropy(x, _T2, weight=bl.tensor(_W, requires_grad=True))
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(bl.zeros(6, 3), _BITS, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match=r"weight shape \(2, 3\)"):
        F.binary_cross_entropy_with_logits(bl.zeros(6, 3), _BITS, weight=np.ones((2, 3)))
    with pytest.raises(RuntimeError):  # torch refuses the same
        TF.cross_entropy(torch.zeros(5, 4), torch.tensor(_P2, dtype=torch.float32), ignore_index=1)


def test_plain_cross_entropy_stays_one_fused_node():
    x = bl.tensor(np.zeros((5, 4)), requires_grad=True)
    assert bl.functional.cross_entropy(x, _T2).op == "cross_entropy"
    assert bl.functional.cross_entropy(x, _T2, label_smoothing=0.1).op != "cross_entropy"


# ---- images: convolution and pooling (NCHW) -----------------------------------------------------------

IMAGE_ROWS = {  # name: (backlit fn, torch fn, input shapes)
    "conv2d 3x3": (lambda x, w: bl.nn.functional.conv2d(x, w), torch.nn.functional.conv2d,
                   [(2, 3, 6, 6), (4, 3, 3, 3)]),
    "conv2d stride 2 padding 1": (lambda x, w: bl.nn.functional.conv2d(x, w, stride=2, padding=1),
                                  lambda x, w: torch.nn.functional.conv2d(x, w, stride=2, padding=1),
                                  [(1, 2, 7, 9), (3, 2, 3, 3)]),
    "conv2d 1x1": (lambda x, w: bl.nn.functional.conv2d(x, w), torch.nn.functional.conv2d,
                   [(2, 2, 4, 5), (3, 2, 1, 1)]),
    "conv2d with bias": (lambda x, w, b: bl.nn.functional.conv2d(x, w, b, padding=1),
                         lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1),
                         [(2, 1, 5, 5), (2, 1, 3, 3), (2,)]),
    "max_pool2d 2": (lambda x: bl.nn.functional.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2),
                     [(2, 3, 6, 6)]),
    "max_pool2d 3 stride 1 padding 1": (lambda x: bl.nn.functional.max_pool2d(x, 3, 1, 1),
                                        lambda x: torch.nn.functional.max_pool2d(x, 3, 1, 1), [(1, 2, 5, 5)]),
    "avg_pool2d 2": (lambda x: bl.nn.functional.avg_pool2d(x, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2),
                     [(2, 3, 6, 6)]),
    "avg_pool2d 3 stride 2 padding 1": (lambda x: bl.nn.functional.avg_pool2d(x, 3, 2, 1),
                                        lambda x: torch.nn.functional.avg_pool2d(x, 3, 2, 1), [(1, 2, 7, 7)]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(IMAGE_ROWS))
def test_images(name, dtype):
    fn, torch_fn, shapes = IMAGE_ROWS[name]
    _compare(fn, torch_fn, _inputs(shapes, "any", seed=len(name)), dtype=dtype)
