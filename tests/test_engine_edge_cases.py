"""Edge cases found by running outside test suites against the engine, each checked against PyTorch."""

import numpy as np
import pytest
import torch

import backlit as bl
from backlit.nn import functional as F


def _grad_pair(data, f, tf):
    """x.grad from backlit and from torch (float64) for the same scalar function of x."""
    x = bl.tensor(data, requires_grad=True)
    t = torch.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)
    f(x).backward()
    tf(t).backward()
    return x.grad, t.grad.numpy()


# ---- a Python tuple inside an index repeats elements: the gradient must accumulate ------------------


@pytest.mark.parametrize("index", [((0, 0),), (slice(None), (1, 1)), ((0, 0, 2), slice(None)),
                                   ([1, 1],), (((0, 1), (1, 1)),)], ids=str)
def test_tuple_index_with_repeats_accumulates(index):
    data = np.arange(12.0).reshape(3, 4)
    g, tg = _grad_pair(data, lambda x: (x[index] * 1.5).sum(), lambda t: (t[index] * 1.5).sum())
    np.testing.assert_array_equal(g, tg)


def test_tuple_index_first_axis_gives_two():
    x = bl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[((0, 0),)].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 0.0])


def test_float_tensor_index_raises_like_torch():
    x = bl.tensor([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="numpy int array"):
        x[bl.tensor([1.7])]
    with pytest.raises(IndexError):
        torch.tensor([1.0, 2.0])[torch.tensor([1.0])]
    with pytest.raises(IndexError):
        x[0, bl.tensor(1.0)]


# ---- x ** 0 at x = 0 ------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0, 0.0])
def test_pow_zero_at_zero_has_zero_gradient(c):
    g, tg = _grad_pair([0.0, 2.0, -1.0], lambda x: (x ** c).sum(), lambda t: (t ** c).sum())
    np.testing.assert_array_equal(g, tg)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


def test_tensor_exponent_zero_at_zero():
    data = np.array([0.0, 2.0, 0.0])
    e = np.array([0.0, 0.0, 2.0])
    x, ex = bl.tensor(data, requires_grad=True), bl.tensor(e, requires_grad=True)
    t, et = torch.tensor(data, requires_grad=True), torch.tensor(e, requires_grad=True)
    (x ** ex).sum().backward()
    (t ** et).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())
    np.testing.assert_array_equal(ex.grad, et.grad.numpy())
    assert np.isfinite(x.grad).all()


# ---- a 0-d tensor reduced over axis 0 or -1 ------------------------------------------------------


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "logsumexp", "min", "prod"])
def test_zero_d_reduction_over_axis(name, axis):
    x = bl.tensor(2.5, requires_grad=True)
    t = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    out = getattr(x, name)(axis)
    tout = getattr(torch, name)(t, axis) if name != "max" and name != "min" else getattr(torch, "a" + name)(t, axis)
    assert out.shape == tuple(tout.shape) == ()
    np.testing.assert_allclose(out.data, tout.detach().numpy())
    out.backward()
    tout.backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy())


# ---- float32 softmax family with large logits -------------------------------------------------------


def test_cross_entropy_float32_large_equal_logits_is_ln2():
    loss = F.cross_entropy(bl.tensor([[100.0, 100.0]], dtype=np.float32), [0])
    tl = torch.nn.functional.cross_entropy(torch.tensor([[100.0, 100.0]]), torch.tensor([0]))
    assert loss.data.dtype == np.float32
    assert loss.item() == tl.item()
    assert abs(loss.item() - np.log(2)) < 1e-7


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_family_float32_large_logits_matches_float64(fn):
    rng = np.random.default_rng(0)
    logits = (100 + rng.standard_normal((4, 5)) * 1e-3).astype(np.float32)
    out = getattr(F, fn)(bl.tensor(logits, dtype=np.float32)).data
    ref = getattr(torch, fn)(torch.tensor(logits, dtype=torch.float64), -1).numpy()
    t32 = getattr(torch, fn)(torch.tensor(logits), -1).numpy()
    assert out.dtype == np.float32
    # as good as torch's float32 kernel, measured against the float64 answer
    assert np.abs(out - ref).max() <= np.abs(t32 - ref).max() + 2e-7


# ---- max with a NaN ---------------------------------------------------------------------------------


def test_max_with_nan_sends_gradient_to_the_nan():
    g, tg = _grad_pair([1.0, np.nan, 3.0], lambda x: x.max(), lambda t: t.max())
    np.testing.assert_array_equal(g, tg)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_max_axis_with_nan_row():
    # torch.max(dim) sends the gradient to the NaN, as the full reduction does (torch.amax gives a row
    # of nan here); backlit follows torch.max(dim), as its rule is the same with or without an axis
    data = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    g, tg = _grad_pair(data, lambda x: x.max(axis=1).sum(), lambda t: t.max(dim=1).values.sum())
    np.testing.assert_array_equal(g, tg)
