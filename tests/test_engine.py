"""Engine semantics: accumulation, the backward contract, no_grad, errors, stability, deep graphs."""

import gc
import weakref

import numpy as np
import pytest
import torch

import backlit as bl
from backlit import engine as E
from backlit.nn import functional as F
from backlit.engine import ops

# ---- diamonds and reuse -----------------------------------------------------------------------------


def test_a_plus_a_twice_gives_4():
    a = bl.tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0


def test_shared_subexpression_gives_21():
    x = bl.tensor(2.0, requires_grad=True)
    y = 3 * x
    c = 2 * y + 5 * y
    c.backward()
    assert x.grad == 21.0


def test_a_minus_a_gives_0():
    a = bl.tensor([1.0, -2.0], requires_grad=True)
    (a - a).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])


def test_x_times_x_and_diamond_match_torch():
    def f(lib, x):
        y = x * x
        z = (y.exp() if lib is bl else torch.exp(y)) + y * x
        return (z / (y + 1)).sum()

    data = np.array([0.3, -1.2, 0.7])
    x = bl.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    f(bl, x).backward()
    f(torch, t).backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=1e-12)


def test_intermediate_used_by_many_children_gets_all_contributions():
    x = bl.tensor(1.5, requires_grad=True)
    h = x.tanh()
    out = h * h + h.exp() + h.sin() - h / 2
    out.backward()
    th = np.tanh(1.5)
    expected = (2 * th + np.exp(th) + np.cos(th) - 0.5) * (1 - th**2)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


# ---- the backward contract ----------------------------------------------------------------------------


def test_backward_twice_accumulates_into_leaves():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    ty = (t * t).sum()
    ty.backward(retain_graph=True)
    ty.backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_backward_on_non_scalar_needs_gradient():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*gradient="):
        y.backward()
    y.backward(gradient=np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 20.0])
    with pytest.raises(ValueError, match="gradient has shape"):
        y.backward(gradient=np.ones(3))


def test_backward_on_tensor_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="requires_grad"):
        bl.tensor(1.0).backward()


def test_backward_on_a_leaf_and_on_one_element_arrays():
    x = bl.tensor([[3.0]], requires_grad=True)
    x.backward()
    assert x.grad.shape == (1, 1) and x.grad[0, 0] == 1.0
    (x * 2).backward()
    assert x.grad[0, 0] == 3.0


def test_grad_is_only_kept_on_leaves_unless_retained():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    r = (x * 2).retain_grad()
    (h * r).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(r.grad, 3 * x.data)
    np.testing.assert_array_equal(x.grad, 12 * x.data)


def test_leaf_grad_does_not_alias_other_arrays():
    a = bl.tensor([1.0, 2.0], requires_grad=True)
    b = bl.tensor([1.0, 2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad += 10  # must not change b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    g = np.array([1.0, 1.0])
    c = bl.tensor([0.0, 0.0], requires_grad=True)
    c.backward(gradient=g)
    c.grad += 1
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_constants_do_not_get_grads():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    c = bl.tensor([5.0, 6.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])


def test_graph_structure_is_visible():
    x = bl.tensor(1.0, requires_grad=True)
    y = x * 2
    assert y.op == "mul" and y.parents[0] is x and not y.is_leaf and x.is_leaf and x.op == ""


def test_no_reference_cycles():
    gc.collect()
    gc.disable()
    try:
        x = bl.tensor(np.ones(3), requires_grad=True)
        y = (x * 2).tanh()
        loss = (y * y).sum()
        loss.backward()
        ref = weakref.ref(y)
        del y, loss
        assert ref() is None, "the graph must be freed by reference counting alone"
    finally:
        gc.enable()


# ---- no_grad -----------------------------------------------------------------------------------------------


def test_no_grad_records_nothing():
    x = bl.tensor(2.0, requires_grad=True)
    assert bl.is_grad_enabled()
    with bl.no_grad():
        assert not bl.is_grad_enabled()
        y = x * 3
    assert bl.is_grad_enabled()
    assert not y.requires_grad and y.parents == ()
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_as_decorator_and_nesting():
    @bl.no_grad()
    def f(t):
        return t * 2

    x = bl.tensor(1.0, requires_grad=True)
    assert not f(x).requires_grad
    with bl.no_grad():
        with bl.no_grad():
            pass
        assert not bl.is_grad_enabled()
    assert bl.is_grad_enabled()


def test_no_grad_is_per_thread():
    import threading

    seen = []
    x = bl.tensor(1.0, requires_grad=True)
    inside, release = threading.Event(), threading.Event()

    def worker():
        with bl.no_grad():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    seen.append((x * 2).requires_grad)  # the other thread's no_grad() must not affect this one
    release.set()
    t.join()
    assert seen == [True]


def test_detach_cuts_the_graph():
    x = bl.tensor(2.0, requires_grad=True)
    y = (x * x).detach() * x
    y.backward()
    assert x.grad == 4.0


# ---- construction, dtypes, errors -----------------------------------------------------------------------


def test_constructors():
    assert bl.zeros(2, 3).shape == (2, 3) and bl.ones((4,)).data.sum() == 4
    np.testing.assert_array_equal(bl.randn(3, seed=1).data, bl.randn(3, seed=1).data)
    assert bl.randn(2, 2, rng=np.random.default_rng(0), dtype=np.float32).dtype == np.float32
    t = bl.tensor([1, 2, 3])
    assert t.dtype == np.float64 and len(t) == 3 and t.ndim == 1 and t.size == 3
    assert bl.Tensor(t).shape == (3,)
    assert bl.tensor(2.5).item() == 2.5
    assert "tensor(" in repr(t) and "requires_grad=True" in repr(bl.tensor(1.0, requires_grad=True))
    arr = np.array([1.0, 2.0])
    t = bl.tensor(arr)
    arr[0] = 9.0
    assert t.data[0] == 1.0  # tensor() copies, as torch.tensor does
    assert t.numpy() is t.data
    assert np.asarray(t) is t.data and float(bl.tensor([2.5])) == 2.5


@pytest.mark.parametrize("dtype", [np.int64, np.complex128, np.float16, object])
def test_unsupported_dtype_is_an_error(dtype):
    with pytest.raises(TypeError, match="dtype"):
        bl.tensor([1, 2], dtype=dtype)


def test_unsupported_data_is_an_error():
    with pytest.raises(TypeError, match="complex128"):
        bl.tensor([1 + 2j])
    with pytest.raises(TypeError, match="dtype"):
        bl.tensor(["a", "b"])
    with pytest.raises(TypeError, match="dtype"):
        bl.tensor([1.0]) + "x"


def test_shape_errors_name_the_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3,\) and \(4,\)"):
        bl.zeros(3) + bl.zeros(4)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\)"):
        bl.zeros(2, 3) @ bl.zeros(2, 3)
    with pytest.raises(ValueError, match=r"linear: shapes \(5, 3\) and \(2, 4\)"):
        F.linear(bl.zeros(5, 3), bl.zeros(2, 4))
    with pytest.raises(ValueError, match="reshape"):
        bl.zeros(2, 3).reshape(4)
    with pytest.raises(IndexError, match="getitem"):
        bl.zeros(3)[5]


def test_float32_stays_float32():
    x = bl.tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    y = ((x * 2 + 1) ** 2 / 3 - 0.5).tanh().sigmoid().exp().log().sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_module_functions_mirror_methods():
    x = bl.tensor([[0.5, 1.5], [2.0, 0.25]])
    for name in ["exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "softplus"]:
        np.testing.assert_array_equal(getattr(E, name)(x).data, getattr(x, name)().data)
    for name in ["sum", "mean", "max", "logsumexp"]:
        np.testing.assert_array_equal(getattr(E, name)(x, axis=0).data, getattr(x, name)(axis=0).data)
    np.testing.assert_array_equal(bl.clip(x, 0.5, 1).data, x.clip(0.5, 1).data)
    np.testing.assert_array_equal(E.transpose(x).data, x.T.data)
    np.testing.assert_array_equal(bl.matmul(x, x).data, (x @ x).data)
    np.testing.assert_array_equal(bl.exp([0.0]).data, [1.0])


def test_comparisons_give_numpy_masks():
    x = bl.tensor([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(x > 0, [False, False, True])
    np.testing.assert_array_equal(x <= bl.tensor([0.0, 0.0, 0.0]), [True, True, False])
    assert (x >= 0).dtype == bool and (x < 1).sum() == 2
    assert x == x and x != bl.tensor([-1.0, 0.0, 2.0])  # identity, as for any Python object


def test_numpy_array_on_the_left_returns_a_tensor():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, bl.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ---- stability -----------------------------------------------------------------------------------------------


def test_sigmoid_at_plus_minus_1000_is_finite():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow either
        x = bl.tensor([1000.0, -1000.0, 0.0], requires_grad=True)
        y = x.sigmoid()
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [1.0, 0.0, 0.5])
    assert np.all(np.isfinite(x.grad))


def test_softplus_and_logsumexp_are_stable():
    x = bl.tensor([1000.0, -1000.0], requires_grad=True)
    y = x.softplus()
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [1000.0, 0.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])
    z = bl.tensor([1000.0, 1000.0], requires_grad=True)
    out = z.logsumexp()
    out.backward()
    np.testing.assert_allclose(out.item(), 1000 + np.log(2))
    np.testing.assert_allclose(z.grad, [0.5, 0.5], rtol=1e-12)


def test_relu_gradient_at_zero_is_zero():
    x = bl.tensor([0.0, 1.0, -1.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])
    t = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    torch.relu(t).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_pow_with_tensor_exponent_at_zero_base():
    a = bl.tensor([0.0, 2.0], requires_grad=True)
    b = bl.tensor([2.0, 3.0], requires_grad=True)
    (a**b).sum().backward()
    ta = torch.tensor([0.0, 2.0], requires_grad=True)
    tb = torch.tensor([2.0, 3.0], requires_grad=True)
    (ta**tb).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy())
    np.testing.assert_allclose(b.grad, tb.grad.numpy())


# ---- deep graphs -----------------------------------------------------------------------------------------------


def test_chain_of_100000_ops_has_no_recursion_error():
    x = bl.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0  # 200,000 nodes
    y.backward()
    assert x.grad == 1.0


def test_unbroadcast_helper():
    g = np.ones((2, 3, 4))
    assert ops.unbroadcast(g, (3, 4)).shape == (3, 4)
    assert ops.unbroadcast(g, (1, 4)).tolist() == [[6.0] * 4]
    assert ops.unbroadcast(g, (3, 1)).shape == (3, 1)
    assert ops.unbroadcast(g, ()).item() == 24.0
    assert ops.unbroadcast(g, (2, 3, 4)) is g


def test_gradcheck_catches_a_wrong_rule_and_names_the_worst_element(monkeypatch):
    x = bl.tensor([[0.1, 0.2], [0.3, 0.55]], requires_grad=True)  # tanh(0.55) ~ 0.5
    ok = bl.gradcheck(lambda t: t.tanh(), x)
    assert ok and "passed" in str(ok)
    monkeypatch.setattr(ops.Tanh, "backward", staticmethod(lambda node, g: (g * (1.0 - node.data),)))
    bad = bl.gradcheck(lambda t: t.tanh().sum(), x)
    assert not bad
    assert bad.worst_input == 0 and bad.worst_index == (1, 1)  # where z - z² differs most
    assert "FAILED" in str(bad) and "(1, 1)" in str(bad)
    with pytest.raises(AssertionError, match="worst"):
        bl.gradcheck(lambda t: t.tanh(), x, raise_on_fail=True)
    assert x.grad is None  # gradcheck works on copies
