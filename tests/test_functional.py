"""backlit.functional against torch.nn.functional (float64), plus gradcheck and stability cases."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import backlit as bl
from backlit.nn import functional as F

ATOL = 1e-10


def _pair(a):
    return bl.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _check(bl_out, t_out, pairs, atol=ATOL):
    np.testing.assert_allclose(bl_out.data, t_out.detach().numpy(), atol=atol, rtol=1e-10)
    v = np.random.default_rng(5).standard_normal(bl_out.shape)
    (bl_out * bl.tensor(v)).sum().backward()
    (t_out * torch.tensor(v)).sum().backward()
    for x, t in pairs:
        np.testing.assert_allclose(x.grad, t.grad.numpy(), atol=atol, rtol=1e-10)


rng = np.random.default_rng(0)


@pytest.mark.parametrize("xshape", [(4, 3), (3,), (2, 4, 3)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    x, tx = _pair(rng.standard_normal(xshape))
    W, tW = _pair(rng.standard_normal((5, 3)))
    pairs = [(x, tx), (W, tW)]
    if bias:
        b, tb = _pair(rng.standard_normal(5))
        pairs.append((b, tb))
        out, tout = F.linear(x, W, b), TF.linear(tx, tW, tb)
    else:
        out, tout = F.linear(x, W), TF.linear(tx, tW)
    assert out.op == "linear" and len(out.parents) == len(pairs)  # one fused node
    _check(out, tout, pairs)
    args = [bl.tensor(p.data, requires_grad=True) for p, _ in pairs]
    assert bl.gradcheck(lambda *a: F.linear(*a), *args)


def test_linear_skips_gradient_for_constant_input():
    W = bl.randn(2, 3, seed=1, requires_grad=True)
    x = bl.randn(4, 3, seed=2)
    F.linear(x, W).sum().backward()
    assert x.grad is None and W.grad.shape == (2, 3)
    # a plain numpy input is accepted as a constant
    F.linear(np.ones((4, 3)), W).sum().backward()


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(axis):
    a = rng.standard_normal((4, 5))
    x, tx = _pair(a)
    _check(F.softmax(x, axis=axis), torch.softmax(tx, dim=axis), [(x, tx)])
    x, tx = _pair(a)
    _check(F.log_softmax(x, axis=axis), torch.log_softmax(tx, dim=axis), [(x, tx)])
    assert bl.gradcheck(lambda t: F.softmax(t, axis=axis), bl.tensor(a, requires_grad=True))
    assert bl.gradcheck(lambda t: F.log_softmax(t, axis=axis), bl.tensor(a, requires_grad=True))


def test_cross_entropy():
    a = rng.standard_normal((6, 4))
    targets = np.array([0, 3, 1, 1, 2, 0])
    x, tx = _pair(a)
    _check(F.cross_entropy(x, targets), TF.cross_entropy(tx, torch.tensor(targets)), [(x, tx)])
    assert bl.gradcheck(lambda t: F.cross_entropy(t, targets), bl.tensor(a, requires_grad=True))
    # a single sample, targets given as a Tensor of floats holding integers
    x, tx = _pair(a[0])
    _check(F.cross_entropy(x, bl.tensor(2.0)), TF.cross_entropy(tx[None], torch.tensor([2])), [(x, tx)])


def test_cross_entropy_errors():
    with pytest.raises(IndexError, match="cross_entropy"):
        F.cross_entropy(bl.zeros(2, 3), [0, 3])
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3\).*\(3,\)"):
        F.cross_entropy(bl.zeros(2, 3), [0, 1, 2])
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(bl.zeros(2, 3), [0.5, 1])


def test_binary_cross_entropy_with_logits():
    a = rng.standard_normal((5, 1)) * 3
    y = (rng.random((5, 1)) > 0.5).astype(float)
    x, tx = _pair(a)
    yy, ty = _pair(y)
    _check(F.binary_cross_entropy_with_logits(x, yy), TF.binary_cross_entropy_with_logits(tx, ty),
           [(x, tx), (yy, ty)])
    assert bl.gradcheck(F.binary_cross_entropy_with_logits, bl.tensor(a, requires_grad=True),
                        bl.tensor(y, requires_grad=True))


def test_bce_with_logits_is_finite_at_1000():
    x = bl.tensor([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    y = [1.0, 0.0, 0.0, 1.0]
    loss = F.binary_cross_entropy_with_logits(x, y)
    loss.backward()
    tx = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    tloss = TF.binary_cross_entropy_with_logits(tx, torch.tensor(y))
    tloss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), atol=1e-12)


def test_log_softmax_is_finite_for_huge_logits():
    a = np.array([[1.0, 2.0, 3.0], [1000.0, 2000.0, 3000.0]])
    x, tx = _pair(a)
    out = F.log_softmax(x)
    assert np.all(np.isfinite(out.data))
    _check(out, torch.log_softmax(tx, dim=-1), [(x, tx)])
    assert np.all(np.isfinite(x.grad))
    x = bl.tensor(a, requires_grad=True)
    F.cross_entropy(x, [2, 0]).backward()
    assert np.all(np.isfinite(x.grad))


def test_mse_loss():
    a, b = rng.standard_normal((2, 7, 1))
    x, tx = _pair(a)
    y, ty = _pair(b)
    _check(F.mse_loss(x, y), TF.mse_loss(tx, ty), [(x, tx), (y, ty)])
    assert bl.gradcheck(F.mse_loss, bl.tensor(a, requires_grad=True), bl.tensor(b, requires_grad=True))


def test_loss_shape_mismatch_is_an_error_naming_both_shapes():
    with pytest.raises(ValueError, match=r"mse_loss.*\(4, 1\).*\(4,\)"):
        F.mse_loss(bl.zeros(4, 1), np.zeros(4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits.*\(4, 1\).*\(4,\)"):
        F.binary_cross_entropy_with_logits(bl.zeros(4, 1), np.zeros(4))


@pytest.mark.parametrize("zero_one", [False, True])
def test_hinge_loss(zero_one):
    s = np.array([0.3, -2.0, 0.5, 1.7, -0.2, 2.5])
    y_pm = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    y = (y_pm + 1) / 2 if zero_one else y_pm
    x, tx = _pair(s)
    _check(F.hinge_loss(x, y), torch.relu(1 - torch.tensor(y_pm) * tx).mean(), [(x, tx)])
    assert bl.gradcheck(lambda t: F.hinge_loss(t, y), bl.tensor(s, requires_grad=True))
    with pytest.raises(ValueError, match="hinge_loss"):
        F.hinge_loss(x, np.full(6, 2.0))


def test_penalties():
    ws = [rng.standard_normal((3, 2)), rng.standard_normal(3)]
    pairs = [_pair(w) for w in ws]
    l2 = F.l2_penalty([p for p, _ in pairs])
    _check(l2, 0.5 * sum((t * t).sum() for _, t in pairs), pairs)
    pairs = [_pair(w) for w in ws]
    l1 = F.l1_penalty([p for p, _ in pairs])
    _check(l1, sum(t.abs().sum() for _, t in pairs), pairs)
    assert F.l2_penalty([]).item() == 0.0
    assert bl.gradcheck(lambda a, b: F.l2_penalty([a, b]), *[bl.tensor(w, requires_grad=True) for w in ws])


@pytest.mark.parametrize("name,tfn", [("tanh", torch.tanh), ("relu", torch.relu), ("sigmoid", torch.sigmoid),
                                      ("linear", lambda t: t), ("leaky_relu", TF.leaky_relu)])
def test_activation_by_name(name, tfn):
    a = np.array([-1.5, -0.2, 0.4, 2.0])
    x, tx = _pair(a)
    _check(F.activation(x, name), tfn(tx) * 1.0, [(x, tx)])


def test_activation_unknown_name():
    with pytest.raises(ValueError, match="unknown name 'swish'"):
        F.activation(bl.zeros(2), "swish")


def test_float32_stays_float32_through_functional():
    x = bl.tensor(rng.standard_normal((8, 3)), dtype=np.float32)
    W = bl.tensor(rng.standard_normal((4, 3)), requires_grad=True, dtype=np.float32)
    b = bl.zeros(4, requires_grad=True, dtype=np.float32)
    h = F.linear(x, W, b).relu()
    assert h.dtype == np.float32
    loss = F.cross_entropy(h, np.arange(8) % 4) + 1e-4 * F.l2_penalty([W])
    assert loss.dtype == np.float32
    loss.backward()
    assert W.grad.dtype == np.float32 and b.grad.dtype == np.float32
    for f in (F.mse_loss, F.binary_cross_entropy_with_logits):
        assert f(h, np.ones((8, 4))).dtype == np.float32
    assert F.hinge_loss(h[:, 0], np.ones(8)).dtype == np.float32
    assert F.softmax(h).dtype == np.float32 and F.log_softmax(h).dtype == np.float32


# ---- losses added for torch users: reduction=, nll_loss, binary_cross_entropy, l1_loss; dropout --------

import torch.nn.functional as TF  # noqa: E402


def _loss_pair(bl_fn, t_fn, arrays, targets, rtol=1e-10):
    """Value and input gradient of a loss in backlit and torch (float64), upstream gradient v for 'none'."""
    x = bl.tensor(arrays, requires_grad=True)
    t = torch.tensor(arrays, requires_grad=True)
    out, tout = bl_fn(x, targets), t_fn(t, targets)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=1e-12)
    v = np.random.default_rng(3).standard_normal(out.shape)
    (out * bl.tensor(v)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=1e-12)


_RNG = np.random.default_rng(5)
_LOGITS = _RNG.standard_normal((4, 3))
_CLASSES = np.array([2, 0, 1, 2])
_PRED = _RNG.standard_normal((4, 2))
_TARGET = _RNG.standard_normal((4, 2))
_BITS = (_RNG.random((4, 2)) > 0.5).astype(float)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_with_reduction_match_torch(reduction):
    r = reduction
    _loss_pair(lambda x, t: F.cross_entropy(x, t, reduction=r),
               lambda x, t: TF.cross_entropy(x, torch.tensor(t), reduction=r), _LOGITS, _CLASSES)
    _loss_pair(lambda x, t: F.nll_loss(F.log_softmax(x), t, reduction=r),
               lambda x, t: TF.nll_loss(TF.log_softmax(x, -1), torch.tensor(t), reduction=r), _LOGITS, _CLASSES)
    _loss_pair(lambda x, t: F.mse_loss(x, t, reduction=r),
               lambda x, t: TF.mse_loss(x, torch.tensor(t), reduction=r), _PRED, _TARGET)
    _loss_pair(lambda x, t: F.l1_loss(x, t, reduction=r),
               lambda x, t: TF.l1_loss(x, torch.tensor(t), reduction=r), _PRED, _TARGET)
    _loss_pair(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=r),
               lambda x, t: TF.binary_cross_entropy_with_logits(x, torch.tensor(t), reduction=r), _PRED, _BITS)
    probs = 1 / (1 + np.exp(-_PRED))
    _loss_pair(lambda x, t: F.binary_cross_entropy(x, t, reduction=r),
               lambda x, t: TF.binary_cross_entropy(x, torch.tensor(t), reduction=r), probs, _BITS)
    y = 2 * _BITS - 1
    _loss_pair(lambda x, t: F.hinge_loss(x, t, reduction=r),
               lambda x, t: torch.relu(1 - torch.tensor(t) * x).mean() if r == "mean" else
               (torch.relu(1 - torch.tensor(t) * x).sum() if r == "sum" else torch.relu(1 - torch.tensor(t) * x)),
               _PRED, y)


def test_binary_cross_entropy_clamps_like_torch_at_0_and_1():
    p = np.array([0.0, 1.0, 0.3, 1.0])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    _loss_pair(lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
               lambda x, t: TF.binary_cross_entropy(x, torch.tensor(t), reduction="none"), p, y, rtol=1e-7)


def test_binary_cross_entropy_target_gradient_matches_torch():
    p, y = 1 / (1 + np.exp(-_PRED)), np.clip(_TARGET, 0, 1)
    bp, by = bl.tensor(p, requires_grad=True), bl.tensor(y, requires_grad=True)
    tp, ty = torch.tensor(p, requires_grad=True), torch.tensor(y, requires_grad=True)
    F.binary_cross_entropy(bp, by).backward()
    TF.binary_cross_entropy(tp, ty).backward()
    np.testing.assert_allclose(by.grad, ty.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bp.grad, tp.grad.numpy(), rtol=1e-10)


def test_bad_reduction_and_bad_probabilities_raise():
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(_PRED, _TARGET, reduction="avg")
    with pytest.raises(ValueError, match="with_logits"):
        F.binary_cross_entropy(_PRED, _BITS)


def test_dropout_seeded_mask_scale_and_gradient():
    x = bl.tensor(np.ones((200, 50)), requires_grad=True)
    out = F.dropout(x, 0.3, seed=7)
    kept = out.data != 0
    assert abs(kept.mean() - 0.7) < 0.02  # about 1 - p of the elements survive
    np.testing.assert_allclose(out.data[kept], 1 / 0.7)  # and are scaled by 1/(1-p)
    np.testing.assert_array_equal(F.dropout(x, 0.3, seed=7).data, out.data)  # same seed, same mask
    assert not np.array_equal(F.dropout(x, 0.3, seed=8).data, out.data)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7)  # gradient only through the kept elements
    assert F.dropout(x, 0.3, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0.0)
