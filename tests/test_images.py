"""Images: conv2d and pooling against PyTorch (values and gradients, float64 and float32, gradcheck),
the layers, the bundled digits, a drawing reduced as the data was made, and ∂L/∂x turned on the
input: saliency equal to torch's x.grad, and FGSM flipping the class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backlit as bl
from backlit import nn
from backlit.lab import digits, saliency
from backlit.nn import functional as F

CONV_CASES = [  # (N, C, H, W), out channels, kernel, stride, padding
    ((2, 3, 8, 8), 4, 3, 1, 0),
    ((2, 1, 8, 8), 4, 3, 1, 1),
    ((1, 2, 7, 9), 3, 3, 2, 1),
    ((3, 2, 6, 6), 2, 2, 2, 0),
    ((1, 1, 5, 5), 1, 5, 1, 2),
    ((2, 2, 4, 6), 3, 1, 1, 0),
]
POOL_CASES = [  # (N, C, H, W), kernel, stride, padding
    ((2, 3, 8, 8), 2, None, 0),
    ((1, 2, 7, 7), 3, 2, 1),
    ((2, 1, 6, 6), 3, 1, 1),
    ((1, 1, 5, 5), 2, 1, 0),
    ((1, 2, 9, 6), 3, 3, 0),
]


def _compare(bl_fn, torch_fn, arrays, dtype):
    tol = dict(atol=1e-10, rtol=1e-10) if dtype == np.float64 else dict(atol=2e-5, rtol=2e-5)
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    xs = [bl.tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = bl_fn(*xs), torch_fn(*ts)
    assert out.shape == tuple(tout.shape) and out.dtype == dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **tol)
    v = np.random.default_rng(7).standard_normal(out.shape).astype(dtype)
    (out * bl.tensor(v, dtype=dtype)).sum().backward()
    (tout * torch.tensor(v)).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad.dtype == dtype
        np.testing.assert_allclose(x.grad, t.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, out, k, stride, padding", CONV_CASES)
def test_conv2d_matches_torch(shape, out, k, stride, padding, dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape), rng.standard_normal((out, shape[1], k, k)), rng.standard_normal(out)]
    _compare(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding),
             lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding), arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, k, stride, padding", POOL_CASES)
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_matches_torch(pool, shape, k, stride, padding, dtype):
    ours = {"max": F.max_pool2d, "avg": F.avg_pool2d}[pool]
    theirs = {"max": torch.nn.functional.max_pool2d, "avg": torch.nn.functional.avg_pool2d}[pool]
    x = np.random.default_rng(1).standard_normal(shape)
    _compare(lambda a: ours(a, k, stride, padding), lambda a: theirs(a, k, stride, padding), [x], dtype)


def test_max_pool_ties_go_to_the_first_maximum_as_in_torch():
    x = np.ones((1, 1, 4, 4))
    ours, theirs = bl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.max_pool2d(ours, 2, 1).sum().backward()
    torch.nn.functional.max_pool2d(theirs, 2, 1).sum().backward()
    np.testing.assert_array_equal(ours.grad, theirs.grad.numpy())


@pytest.mark.parametrize("fn", [
    lambda x, w: F.conv2d(x, w, stride=2, padding=1),
    lambda x, w: F.max_pool2d(F.conv2d(x, w, padding=1), 2),
    lambda x, w: F.avg_pool2d(F.conv2d(x, w), 3, 1, 1),
])
def test_gradcheck(fn):
    rng = np.random.default_rng(3)
    x = bl.tensor(rng.standard_normal((2, 2, 6, 6)), requires_grad=True)
    w = bl.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    result = bl.gradcheck(fn, x, w)
    assert result, str(result)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(np.zeros((3, 8, 8)), np.zeros((1, 3, 3, 3))), "(N, C, H, W)"),
    (lambda: F.conv2d(np.zeros((1, 2, 8, 8)), np.zeros((1, 3, 3, 3))), "channel"),
    (lambda: F.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))), "does not fit"),
    (lambda: F.conv2d(np.zeros((1, 1, 8, 8)), np.zeros((1, 1, 3, 3)), stride=0), "at least 1"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 8, 8)), 2, padding=2), "half the kernel"),
    (lambda: F.avg_pool2d(np.zeros((1, 1, 2, 2)), 3), "does not fit"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 8, 8)), (2, 3)), "one number"),
])
def test_bad_shapes_say_what_to_change(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def _cnn(seed=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 10, seed=seed + 1, init="xavier"))


def _torch_cnn(model):
    conv, lin = model[0], model[4]
    t = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Flatten(), torch.nn.Linear(64, 10)).double()
    with torch.no_grad():
        t[0].weight.copy_(torch.tensor(conv.weight.data))
        t[0].bias.copy_(torch.tensor(conv.bias.data))
        t[4].weight.copy_(torch.tensor(lin.weight.data))
        t[4].bias.copy_(torch.tensor(lin.bias.data))
    return t


def test_layers_compute_what_torch_layers_compute():
    model = _cnn()
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "4.weight", "4.bias"]
    x = digits.as_images(digits.load()[0][:5])
    ours = model(bl.tensor(x))
    theirs = _torch_cnn(model)(torch.tensor(x))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=1e-12)
    bound = 1 / np.sqrt(9)
    assert np.all(np.abs(model[0].weight.data) <= bound), "torch's default init range"
    assert "kernel_size=3" in repr(model) and "Flatten" in repr(model)


def test_the_digits_are_the_bundled_ones_split_the_same_for_the_same_seed():
    X, y = digits.load()
    assert X.shape == (1797, 64) and y.shape == (1797,) and X.min() == 0 and X.max() == 1
    Xtr, ytr, Xte, yte = digits.split(seed=0)
    assert len(Xtr) + len(Xte) == 1797 and len(Xte) == 359
    assert np.all(np.abs(np.bincount(yte) - np.bincount(y) * 0.2) <= 1), "stratified"
    again = digits.split(seed=0)
    np.testing.assert_array_equal(again[0], Xtr)
    assert not np.array_equal(digits.split(seed=1)[0], Xtr)
    assert digits.as_images(Xtr).shape == (1438, 1, 8, 8)


def test_a_drawing_is_reduced_the_way_the_data_was_made():
    """A 32x32 bitmap whose 4x4 blocks hold k black pixels gives k/16 in that block; the drawing is
    cropped to its ink and centred first, so the same stroke drawn small in a corner gives the same."""
    rng = np.random.default_rng(0)
    bitmap = np.zeros((32, 32))
    counts = rng.integers(0, 17, size=(8, 8))
    for r in range(8):
        for c in range(8):
            block = np.zeros(16)
            block[:counts[r, c]] = 1
            bitmap[4 * r:4 * r + 4, 4 * c:4 * c + 4] = rng.permutation(block).reshape(4, 4)
    bitmap[0, :] = bitmap[-1, :] = bitmap[:, 0] = bitmap[:, -1] = 1     # ink reaches every edge
    counts = bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))
    np.testing.assert_array_equal(digits.from_drawing(bitmap), (counts / 16).reshape(-1))
    canvas = np.zeros((300, 300))
    canvas[40:104, 200:264] = np.kron(bitmap, np.ones((2, 2)))           # the same, drawn elsewhere, 2x
    np.testing.assert_array_equal(digits.from_drawing(canvas), (counts / 16).reshape(-1))
    assert not digits.from_drawing(np.zeros((50, 50))).any()
    with pytest.raises(ValueError):
        digits.from_drawing(np.zeros((600, 10)))


def _train(model, shape, epochs=15, seed=0):
    Xtr, ytr, _, _ = digits.split(seed=0)
    opt = bl.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(Xtr))
        for i in range(0, len(order), 32):
            b = order[i:i + 32]
            loss = F.cross_entropy(model(bl.tensor(shape(Xtr[b]))), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@pytest.fixture(scope="module")
def trained():
    mlp = _train(nn.Sequential(nn.Linear(64, 16, seed=0, init="xavier"), nn.Tanh(),
                               nn.Linear(16, 10, seed=1, init="xavier")), lambda a: a)
    cnn = _train(_cnn(), digits.as_images)
    return {"mlp": (mlp, lambda a: a), "cnn": (cnn, digits.as_images)}


@pytest.mark.parametrize("name, floor", [("mlp", 0.90), ("cnn", 0.95)])
def test_both_networks_learn_the_digits(trained, name, floor):
    model, shape = trained[name]
    _, _, Xte, yte = digits.split(seed=0)
    classes, probs = saliency.predict(model, shape(Xte))
    assert (classes == yte).mean() >= floor
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_saliency_is_torchs_input_gradient(trained):
    model, shape = trained["cnn"]
    _, _, Xte, yte = digits.split(seed=0)
    x = shape(Xte[:6])
    before = [p.grad.copy() for p in model.parameters()]
    ours = saliency.saliency(model, x, yte[:6])
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(_torch_cnn(model)(tx), torch.tensor(yte[:6]), reduction="sum").backward()
    np.testing.assert_allclose(ours, tx.grad.numpy(), atol=1e-12)
    for p, g in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.grad, g)      # the weights' .grad are left as they were
        assert p.requires_grad
    np.testing.assert_allclose(saliency.gradient_times_input(model, x, yte[:6]), ours * x)
    smooth = saliency.smoothgrad(model, x, yte[:6], copies=4, noise=0.1, seed=0)
    assert smooth.shape == x.shape and not np.allclose(smooth, ours)


EPS = 0.2  # a fifth of the pixel range [0, 1]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_fgsm_flips_most_correct_digits(trained, name):
    model, shape = trained[name]
    _, _, Xte, yte = digits.split(seed=0)
    x = shape(Xte)
    right = saliency.predict(model, x)[0] == yte
    adv, path = saliency.fgsm(model, x[right], yte[right], EPS)
    assert len(path) == 2 and np.all(np.abs(adv - x[right]) <= EPS + 1e-12)
    assert adv.min() >= 0 and adv.max() <= 1
    flipped = saliency.predict(model, adv)[0] != yte[right]
    assert flipped.mean() >= 0.8, flipped.mean()
    iterated, path = saliency.fgsm(model, x[right], yte[right], EPS, steps=10)
    assert len(path) == 11 and np.all(np.abs(iterated - x[right]) <= EPS + 1e-12)
    assert (saliency.predict(model, iterated)[0] != yte[right]).mean() >= flipped.mean()


def test_targeted_fgsm_reaches_the_chosen_class(trained):
    model, shape = trained["mlp"]
    _, _, Xte, yte = digits.split(seed=0)
    x, target = shape(Xte[:40]), (yte[:40] + 1) % 10
    adv, _ = saliency.fgsm(model, x, yte[:40], 0.3, steps=20, target=target)
    assert (saliency.predict(model, adv)[0] == target).mean() >= 0.8


def _zoo():
    return [
        _cnn(),
        nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=1, seed=2), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                      nn.Dropout(0.5), nn.Linear(12, 10, seed=3), nn.LeakyReLU(), nn.Linear(10, 10, seed=4)),
        nn.Sequential(nn.Linear(64, 16, seed=5), nn.Sigmoid(), nn.Linear(16, 10, seed=6)),
    ]


@pytest.mark.parametrize("k", range(3))
def test_a_cnn_exports_to_torch_and_onnx_computing_the_same(k):
    import onnxruntime as ort

    model = _zoo()[k].eval()
    flat = model[0].__class__.__name__ == "Linear"
    X = digits.load()[0][:7]
    x = X if flat else digits.as_images(X)
    ours = model(bl.tensor(x)).data
    module = model.to_torch().eval()
    np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), ours, atol=1e-12)
    onnx_model = model.to_onnx(x.shape[1:])          # float32: onnxruntime's Conv has no float64 kernel
    run = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(run.run(None, {"input": x.astype(np.float32)})[0], ours, atol=2e-5)


def test_an_unknown_layer_says_it_cannot_be_exported():
    class Odd(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="layer 1 \\(Odd\\)"):
        nn.Sequential(nn.Flatten(), Odd()).to_onnx((1, 8, 8))
