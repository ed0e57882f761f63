"""nn.Dropout: a seeded mask, scaled by 1/(1-p), active only in train mode; Module.train()/eval()."""

import numpy as np
import pytest
import torch

import backlit as bl
from backlit.nn.layers import MLP, Dropout, Linear, Sequential


def test_train_and_eval_set_every_submodule():
    model = Sequential(Linear(2, 4), Dropout(0.5), Sequential(Dropout(0.2)))
    assert all(m.training for _, m in model.named_modules())
    assert model.eval() is model
    assert not any(m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]  # the flag is no parameter


def test_dropout_is_identity_in_eval_and_seeded_in_train():
    x = np.ones((20, 30))
    a, b = Dropout(0.4, seed=3), Dropout(0.4, seed=3)
    np.testing.assert_array_equal(a(x).data, b(x).data)  # same seed, same masks
    second = a(x).data
    assert not np.array_equal(second, b(bl.tensor(np.zeros((1, 1)))).data)
    assert set(np.unique(second)) == {0.0, 1 / 0.6}
    a.eval()
    np.testing.assert_array_equal(a(x).data, x)
    assert "p=0.4" in repr(a)
    with pytest.raises(ValueError):
        Dropout(1.5)


def test_dropout_gradient_matches_torch_with_the_same_mask():
    x = np.random.default_rng(0).standard_normal((6, 5))
    layer = Dropout(0.5, seed=11)
    xt = bl.tensor(x, requires_grad=True)
    out = layer(xt)
    mask = out.data != 0
    (out * out).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    tout = t * torch.tensor(mask) / 0.5  # what torch's dropout computes for this mask
    (tout * tout).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xt.grad, t.grad.numpy(), rtol=1e-12)


def test_mlp_has_train_and_eval():
    model = MLP([2, 3, 1])
    out = model.eval()(np.zeros((4, 2)))
    assert out.shape == (4, 1) and not model.training
