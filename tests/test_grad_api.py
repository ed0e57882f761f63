"""backlit.grad and backlit.value_and_grad, against torch.func.grad on the same functions."""

import numpy as np
import pytest
import torch
from torch.func import grad as tgrad

import backlit as bl
from backlit import engine as E
from backlit.engine import grad, value_and_grad

X = np.array([0.3, -1.2, 2.0])
Y = np.array([[0.5, 1.5], [-0.7, 0.2], [1.1, -0.4]])

FUNCTIONS = {  # name: (backlit f, torch f, args)
    "cubic": (lambda x: (x ** 3).sum(), lambda x: (x ** 3).sum(), (X,)),
    "softplus_mean": (lambda x: x.softplus().mean(), lambda x: torch.nn.functional.softplus(x).mean(), (X,)),
    "two_args": (lambda x, y: (x @ y).tanh().sum(), lambda x, y: (x @ y).tanh().sum(), (X, Y)),
    # arguments not differentiated arrive as they were given (numpy here), so use backlit's functions
    "reuse": (lambda x, y: E.sum(x * x) * bl.exp(y).mean(),
              lambda x, y: (x * x).sum() * y.exp().mean(), (X, Y)),
    "max_var": (lambda x, y: E.max(x) + E.var(y), lambda x, y: x.max() + y.var(), (X, Y)),
}


CASES = [(name, argnums) for name in sorted(FUNCTIONS) for argnums in (0, 1, (0, 1))
         if argnums == 0 or len(FUNCTIONS[name][2]) == 2]


@pytest.mark.parametrize("name, argnums", CASES, ids=str)
def test_grad_matches_torch_func_grad(name, argnums):
    f, tf, args = FUNCTIONS[name]
    got = grad(f, argnums=argnums)(*args)
    want = tgrad(tf, argnums=argnums)(*[torch.tensor(a) for a in args])
    if isinstance(argnums, tuple):
        assert isinstance(got, tuple) and len(got) == len(argnums)
        for g, w in zip(got, want):
            assert isinstance(g, np.ndarray)
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-12, atol=1e-14)
    else:
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-14)


def test_value_and_grad_on_tensors_leaves_no_gradients():
    w = bl.tensor(Y, requires_grad=True)  # a caller's parameter, closed over by f
    x = bl.tensor(X, requires_grad=True)

    def f(x):
        return ((x @ w).sigmoid() ** 2).sum()

    value, g = bl.value_and_grad(f)(x)
    assert isinstance(value, bl.Tensor) and isinstance(g, bl.Tensor)
    assert not value.requires_grad and not g.requires_grad
    assert x.grad is None and w.grad is None  # nothing written on the caller's tensors
    t = torch.tensor(X)
    tw = torch.tensor(Y)
    np.testing.assert_allclose(g.data, tgrad(lambda x: ((x @ tw).sigmoid() ** 2).sum())(t).numpy(), rtol=1e-12)
    np.testing.assert_allclose(value.item(), f(x).item(), rtol=1e-15)


def test_grad_of_grad_free_inputs_numbers_and_float32():
    assert grad(lambda x: x * x)(3.0) == pytest.approx(6.0)
    g32 = grad(lambda x: (x * x).sum())(np.array([1.0, 2.0], dtype=np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(grad(lambda x, y: (x * 0).sum() + y, argnums=0)(X, 1.0), 0.0)
    # an argument f never uses has a zero gradient, as in torch.func
    np.testing.assert_array_equal(grad(lambda x, y: E.sum(x), argnums=1)(X, Y), np.zeros_like(Y))


def test_grad_works_inside_no_grad_and_explains_bad_outputs():
    with bl.no_grad():
        np.testing.assert_allclose(grad(lambda x: (x ** 2).sum())(X), 2 * X)
    with pytest.raises(TypeError, match="one-element"):
        grad(lambda x: x * 2)(X)
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda x: x.sum(), argnums=2)(X)


def test_gradient_descent_with_grad():
    df = grad(lambda w: ((w - np.array([1.0, -2.0])) ** 2).sum())
    w = np.zeros(2)
    for _ in range(100):
        w = w - 0.1 * df(w)
    np.testing.assert_allclose(w, [1.0, -2.0], atol=1e-8)
