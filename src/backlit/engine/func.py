"""``grad`` and ``value_and_grad``: derivatives as functions, as in JAX (and ``torch.func``).

``grad(f)`` is a new function that computes ∂f/∂x where ``f`` computes f(x). Under the hood it is the
same backward pass as ``loss.backward()``: the arguments are copied into fresh leaf tensors, f runs on
them, and the gradients are collected from one backward pass, without writing ``.grad`` on any tensor
the caller holds (the arguments, or parameters that f uses).
"""

from __future__ import annotations

import functools

import numpy as np

from .tensor import Tensor, _backprop, _leaf, _mode


def grad(f, argnums=0):
    """A function computing ∂f/∂args[argnums] at the arguments it is given.

    ``f`` must return a Tensor with one element. ``argnums`` is an int, or a tuple of ints for a tuple
    of gradients. Arguments may be Tensors (their gradient is a Tensor) or numpy arrays and numbers
    (their gradient is a numpy array); f receives them as Tensors either way.

        >>> df = grad(lambda x: (x ** 3).sum())
        >>> df(np.array([1.0, 2.0]))          # 3x²
        array([ 3., 12.])
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        return vg(*args, **kwargs)[1]

    return grad_f


def value_and_grad(f, argnums=0):
    """A function returning ``(f(*args), ∂f/∂args[argnums])`` from one forward and one backward pass.

    The value is a Tensor (cut off from the graph) if a differentiated argument was a Tensor, else a
    numpy array. See :func:`grad` for the rest.
    """
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    if len(set(nums)) != len(nums):
        raise ValueError(f"grad: argnums {argnums} repeats an argument")

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        args = list(args)
        leaves = []
        for i in nums:
            if not -len(args) <= i < len(args):
                raise TypeError(f"grad: argnums asks for argument {i}, but the function got {len(args)}")
            leaves.append((_fresh_leaf(args[i]), isinstance(args[i], Tensor)))
            args[i] = leaves[-1][0]
        prev, _mode.enabled = _mode.enabled, True  # works inside no_grad() too, as torch.func.grad
        try:
            out = f(*args, **kwargs)
        finally:
            _mode.enabled = prev
        if not isinstance(out, Tensor) or out.data.size != 1:
            what = f"shape {out.data.shape}" if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(f"grad only applies to functions returning a one-element Tensor (a scalar), got "
                            f"{what}. Reduce the output first (e.g. .sum()), or differentiate each element "
                            f"separately")
        wanted = dict.fromkeys(leaf for leaf, _ in leaves)
        if out.requires_grad:
            _backprop(out, np.ones(out.data.shape, out.data.dtype), wanted)
        grads = tuple(_gradient(leaf, wanted[leaf], as_tensor) for leaf, as_tensor in leaves)
        any_tensor = any(as_tensor for _, as_tensor in leaves)
        value = out.detach() if any_tensor else out.data.copy()
        return value, (grads if many else grads[0])

    return value_and_grad_f


def _fresh_leaf(x):
    """A new leaf holding a copy of x's values, so the caller's tensors and arrays stay untouched."""
    if isinstance(x, Tensor):
        return _leaf(x.data.copy(), requires_grad=True)
    return Tensor(x, requires_grad=True, dtype=None)


def _gradient(leaf, g, as_tensor):
    """The collected gradient as a fresh array of the leaf's shape (zeros if f did not use it)."""
    shape, dtype = leaf.data.shape, leaf.data.dtype
    g = np.zeros(shape, dtype) if g is None else np.array(np.broadcast_to(g, shape), dtype=dtype)
    return _leaf(g) if as_tensor else g
