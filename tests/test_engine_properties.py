"""Property tests: random expression graphs, built the same way in backlit and PyTorch, must agree.

A "program" is a list of instructions over a growing pool of tensors. Each instruction picks its
operands anywhere in the pool, so intermediate results are reused (shared subexpressions, diamonds),
and the leaves have different broadcastable shapes, so every binary op exercises unbroadcast.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import backlit as bl
from backlit.nn import functional as F

LEAF_SHAPES = [(3, 4), (1, 4), (3, 1), (4,), (), (1,)]

# name -> (backlit, torch); every op keeps values bounded so nothing overflows
UNARY = {
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    "sin": (lambda x: x.sin(), torch.sin),
    "cos": (lambda x: x.cos(), torch.cos),
    "neg": (lambda x: -x, lambda t: -t),
    "square": (lambda x: x**2, lambda t: t**2),
    "softplus": (lambda x: x.softplus(), torch.nn.functional.softplus),
    "exp_tanh": (lambda x: x.tanh().exp(), lambda t: torch.tanh(t).exp()),
    "log1p_sq": (lambda x: (x * x + 1).log(), lambda t: (t * t + 1).log()),
    "scale": (lambda x: 0.5 * x + 0.25, lambda t: 0.5 * t + 0.25),
    "sum_keep0": (lambda x: x.sum(axis=0, keepdims=True) if x.ndim else x,
                  lambda t: t.sum(dim=0, keepdim=True) if t.ndim else t),
    "mean_keep_last": (lambda x: x.mean(axis=-1, keepdims=True) if x.ndim else x,
                       lambda t: t.mean(dim=-1, keepdim=True) if t.ndim else t),
    "lse_keep_last": (lambda x: x.logsumexp(axis=-1, keepdims=True) if x.ndim else x,
                      lambda t: torch.logsumexp(t, dim=-1, keepdim=True) if t.ndim else t),
}
_M = {d: np.linspace(-1, 1, 4 * d).reshape(d, 4) for d in (1, 4)}


def _reverse(t):
    return t.permute(tuple(reversed(range(t.ndim))))


def _gather_idx(d):
    return [0, 0, d - 1, d // 2]  # repeats on purpose: the backward must scatter with accumulation


UNARY.update({
    # shape-changing ops whose result still broadcasts against (3, 4)
    "gather_last": (lambda x: x[..., _gather_idx(x.shape[-1])] if x.ndim else x,
                    lambda t: t[..., _gather_idx(t.shape[-1])] if t.ndim else t),
    "matmul_const": (lambda x: x @ _M[x.shape[-1]] if x.ndim else x,
                     lambda t: t @ torch.tensor(_M[t.shape[-1]]) if t.ndim else t),
    "flip_rows": (lambda x: x[::-1] if x.ndim else x, lambda t: t.flip(0) if t.ndim else t),
    "transpose_twice": (lambda x: x.T.T, lambda t: _reverse(_reverse(t))),
})

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
}


@st.composite
def programs(draw):
    n_leaves = draw(st.integers(1, 4))
    shapes = [draw(st.sampled_from(LEAF_SHAPES)) for _ in range(n_leaves)]
    steps = []
    size = n_leaves
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, size - 1)), None))
        else:
            steps.append(("b", draw(st.sampled_from(sorted(BINARY))), draw(st.integers(0, size - 1)),
                          draw(st.integers(0, size - 1))))
        size += 1
    # the output mixes several pool entries, so more than one path reaches the leaves
    outputs = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
    seed = draw(st.integers(0, 2**16))
    return shapes, steps, outputs, seed


def _run(lib, leaves, steps, outputs):
    pool = list(leaves)
    for kind, name, i, j in steps:
        if kind == "u":
            f = UNARY[name][0 if lib == "bl" else 1]
            pool.append(f(pool[i]))
        else:
            f = BINARY[name][0 if lib == "bl" else 1]
            pool.append(f(pool[i], pool[j]))
    total = None
    for k in outputs:
        term = pool[k].sum()
        total = term if total is None else total + term
    return total


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_graphs_match_torch(program):
    shapes, steps, outputs, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [bl.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = _run("bl", xs, steps, outputs)
    tout = _run("torch", ts, steps, outputs)
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-9, atol=1e-12)
    if not tout.requires_grad:  # the output only used leaves that do not reach it: nothing to compare
        return
    out.backward()
    tout.backward()
    for x, t in zip(xs, ts):
        expected = t.grad.numpy() if t.grad is not None else np.zeros(x.shape)
        got = x.grad if x.grad is not None else np.zeros(x.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(programs())
def test_random_graphs_pass_gradcheck(program):
    shapes, steps, outputs, seed = program
    rng = np.random.default_rng(seed)
    xs = [bl.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    result = bl.gradcheck(lambda *leaves: _run("bl", leaves, steps, outputs), *xs)
    assert result, str(result)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(2, 5), st.integers(0, 2**16))
def test_random_mlp_with_losses_matches_torch(batch, hidden, classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, 3))
    W1, b1 = rng.standard_normal((hidden, 3)), rng.standard_normal(hidden)
    W2, b2 = rng.standard_normal((classes, hidden)), rng.standard_normal(classes)
    y = rng.integers(0, classes, batch)
    params = [bl.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    tparams = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    h = F.linear(X, params[0], params[1]).tanh()
    logits = F.linear(h, params[2], params[3])
    loss = F.cross_entropy(logits, y) + 0.1 * F.l2_penalty(params) + F.mse_loss(F.softmax(logits), 0 * logits)
    th = torch.tanh(torch.nn.functional.linear(torch.tensor(X), tparams[0], tparams[1]))
    tlogits = torch.nn.functional.linear(th, tparams[2], tparams[3])
    tloss = (torch.nn.functional.cross_entropy(tlogits, torch.tensor(y))
             + 0.1 * 0.5 * sum((p * p).sum() for p in tparams)
             + (torch.softmax(tlogits, -1) ** 2).mean())
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)
