"""backlit.lab.trace against PyTorch (float64, retain_grad), finite differences and the model itself."""

import json

import numpy as np
import pytest
import torch

from backlit.lab import data, trace as explain
from backlit import nn
from backlit.engine import Tensor, no_grad

TORCH_ACT = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": lambda z: z,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
}


def torch_features(X, names):
    x1, x2 = X[:, 0:1], X[:, 1:2]
    table = {"x1": x1, "x2": x2, "x1^2": x1 * x1, "x2^2": x2 * x2, "x1x2": x1 * x2,
             "sin_x1": torch.sin(x1), "sin_x2": torch.sin(x2)}
    return torch.cat([table[n] for n in names], dim=1)


def torch_loss(name, out, y):
    if name == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(
            out, torch.as_tensor(y, dtype=torch.float64).reshape(out.shape))
    if name == "mse":
        return torch.nn.functional.mse_loss(out, torch.as_tensor(y, dtype=torch.float64).reshape(out.shape))
    if name == "cross_entropy":
        return torch.nn.functional.cross_entropy(out, torch.as_tensor(y, dtype=torch.int64).reshape(-1))
    t = torch.as_tensor(y, dtype=torch.float64).reshape(out.shape)
    t = torch.where(t == 0, -torch.ones_like(t), t)
    return torch.clamp(1 - t * out, min=0).mean()


def torch_trace(model, x, y, loss, features):
    """The same forward and backward in PyTorch, keeping every intermediate gradient."""
    X = torch.tensor(np.atleast_2d(x), dtype=torch.float64, requires_grad=True)
    inputs = torch_features(X, features) if features else X
    if inputs is not X:
        inputs.retain_grad()
    params, zs, as_ = [], [], []
    a = inputs
    for lin, act in zip(model.linears, model.activations):
        W = torch.tensor(lin.weight.data, requires_grad=True)
        b = torch.tensor(lin.bias.data, requires_grad=True)
        params.append((W, b))
        z = a @ W.T + b
        z.retain_grad()
        a = TORCH_ACT[act](z)
        a.retain_grad()
        zs.append(z)
        as_.append(a)
    L = torch_loss(loss, a, y)
    L.backward()
    if loss == "bce":
        pred = torch.sigmoid(a)
    elif loss == "cross_entropy":
        pred = torch.softmax(a, dim=-1)
    else:
        pred = a
    return dict(X=X, inputs=inputs, params=params, zs=zs, as_=as_, loss=L, pred=pred)


def make_target(loss, n, k, rng):
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "bce":
        return rng.integers(0, 2, (n, k)).astype(float)
    if loss == "hinge":
        y = rng.integers(0, 2, (n, k)).astype(float)  # {0, 1}: 0 means -1, as in functional.hinge_loss
        return y if rng.random() < 0.5 else 2 * y - 1  # or {-1, +1}
    return rng.normal(size=(n, k))


# (sizes, hidden activation(s), output activation, loss, features, batch size or None for one point)
CASES = [
    ([2, 4, 2, 1], "tanh", None, "bce", None, None),
    ([2, 4, 2, 1], "tanh", None, "bce", ["x1", "x2"], None),
    ([2, 4, 2, 1], "tanh", None, "bce", ["x1", "x2"], 10),
    ([7, 5, 3, 1], "relu", None, "mse", list(data.FEATURES), 6),
    ([2, 3, 3], "sigmoid", None, "cross_entropy", None, 5),
    ([3, 6, 3], "leaky_relu", None, "cross_entropy", ["x1", "x2", "x1x2"], None),
    ([2, 5, 4, 1], "linear", None, "hinge", ["x1^2", "x2^2"], 8),
    ([2, 1], "tanh", None, "hinge", None, None),
    ([7, 8, 8, 8, 1], ["tanh", "relu", "sigmoid"], None, "bce", list(data.FEATURES), 4),
    ([2, 3, 2], "tanh", None, "mse", None, 3),
    ([4, 3, 1], "leaky_relu", "sigmoid", "mse", ["sin_x1", "sin_x2", "x1", "x2"], None),
    ([2, 16, 1], "relu", "tanh", "hinge", ["x1", "x2"], 7),
]


def build(case, seed=0):
    sizes, act, out_act, loss, features, batch = case
    model = nn.MLP(sizes, activation=act, output_activation=out_act, seed=seed,
                   init="uniform" if seed % 2 else "xavier")
    rng = np.random.default_rng(seed + 100)
    n = batch or 1
    d = 2 if features else sizes[0]
    x = rng.uniform(-3, 3, (n, d))
    y = make_target(loss, n, sizes[-1], rng)
    if batch is None:
        x, y = x[0], y[0]
    return model, x, y, loss, features


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-10, atol=1e-12)


def unbatch(t, batched):
    a = t.detach().numpy()
    return a if batched else a[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[3]}-{c[4] and len(c[4])}-{c[5]}")
@pytest.mark.parametrize("seed", [0, 1])
def test_every_field_equals_pytorch(case, seed):
    model, x, y, loss, features = build(case, seed)
    tr = explain.trace(model, x, y, loss=loss, features=features)
    ref = torch_trace(model, x, y, loss, features)
    batched = case[5] is not None
    assert tr.batched == batched
    close(tr.loss, ref["loss"].item())
    close(tr.inputs, unbatch(ref["inputs"], batched))
    close(tr.input_grad, unbatch(ref["X"].grad, batched))
    close(tr.feature_grad, unbatch(ref["inputs"].grad, batched))
    close(tr.prediction, unbatch(ref["pred"], batched))
    close(tr.output, unbatch(ref["as_"][-1], batched))
    assert len(tr.layers) == len(model.linears)
    for lt, z, a, (W, b), lin in zip(tr.layers, ref["zs"], ref["as_"], ref["params"], model.linears):
        close(lt.z, unbatch(z, batched))
        close(lt.a, unbatch(a, batched))
        close(lt.grad_a, unbatch(a.grad, batched))
        close(lt.delta, unbatch(z.grad, batched))
        close(lt.grad_W, W.grad.numpy())
        close(lt.grad_b, b.grad.numpy())
        assert lt.grad_W.shape == lin.weight.shape
        assert np.array_equal(lt.weight, lin.weight.data) and np.array_equal(lt.bias, lin.bias.data)


def test_trace_reads_one_real_engine_backward(monkeypatch):
    # the recorded gradients come from the engine's own backward(), run once, not a second hand path
    calls = []
    backward = Tensor.backward

    def spy(self, *args, **kwargs):
        calls.append(self.shape)
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(Tensor, "backward", spy)
    explain.trace(nn.MLP([2, 4, 2, 1], seed=3), [0.5, -1.0], [1], loss="bce", features=["x1", "x2"])
    assert calls == [()]


def test_single_point_shapes_and_batch_shapes():
    model = nn.MLP([2, 4, 2, 1], seed=3)
    one = explain.trace(model, [0.5, -1.0], [1], loss="bce", features=["x1", "x2"])
    assert one.layers[0].z.shape == (4,) and one.input_grad.shape == (2,) and one.inputs.shape == (2,)
    assert np.ndim(one.prediction) == 1 and isinstance(one.loss, float)
    batch = explain.trace(model, np.ones((5, 2)), np.ones(5), loss="bce", features=["x1", "x2"])
    assert batch.layers[0].z.shape == (5, 4) and batch.input_grad.shape == (5, 2)
    assert batch.layers[0].grad_W.shape == (4, 2)


def test_batch_trace_is_the_mean_of_single_traces():
    # the batch loss is the mean, so batch grad_W is the mean of the per-sample grad_W
    model = nn.MLP([2, 3, 1], seed=4)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4, 2)), np.array([0, 1, 1, 0])
    batch = explain.trace(model, X, y, loss="bce")
    singles = [explain.trace(model, X[n], y[n], loss="bce") for n in range(4)]
    close(batch.loss, np.mean([s.loss for s in singles]))
    for l in range(2):
        close(batch.layers[l].grad_W, np.mean([s.layers[l].grad_W for s in singles], axis=0))
        close(batch.layers[l].delta, np.stack([s.layers[l].delta for s in singles]) / 4)


def test_trace_leaves_parameters_and_their_grads_alone():
    model = nn.MLP([2, 4, 2, 1], seed=5)
    params = list(model.parameters())
    before = [p.data.copy() for p in params]
    params[0].grad = np.full(params[0].shape, 7.0)
    explain.trace(model, [1.0, 2.0], [0], loss="bce")
    assert np.array_equal(params[0].grad, np.full(params[0].shape, 7.0))
    assert all(p.grad is None for p in params[1:])
    assert all(np.array_equal(p.data, b) for p, b in zip(params, before))


SMOOTH = [
    ([2, 4, 2, 1], "tanh", None, "bce", ["x1", "x2"], None),
    ([2, 4, 2, 1], "tanh", None, "bce", ["x1", "x2"], 10),
    ([3, 5, 3], "sigmoid", None, "cross_entropy", ["x1", "x2", "sin_x1"], None),
    ([2, 6, 2], "tanh", None, "mse", None, 4),
]


def all_indices(model):
    for l, lin in enumerate(model.linears):
        out, inp = lin.weight.shape
        for i in range(out):
            yield l, i, "bias"
            for j in range(inp):
                yield l, i, j


@pytest.mark.parametrize("case", SMOOTH, ids=lambda c: f"{c[0]}-{c[3]}-{c[5]}")
def test_check_agrees_with_backprop_for_every_weight(case):
    model, x, y, loss, features = build(case, seed=2)
    tr = explain.trace(model, x, y, loss=loss, features=features)
    checked = 0
    for l, i, j in all_indices(model):
        r = tr.check(l, i, j)
        g = tr.layers[l].grad_b[i] if j == "bias" else tr.layers[l].grad_W[i, j]
        assert r["backprop"] == g
        assert abs(r["slope"] - g) < 1e-9
        if abs(g) > 1e-5:
            assert r["rel_error"] < 1e-6, (l, i, j, r)
            checked += 1
        assert r["loss_plus"] != r["loss_minus"] or g == 0
    assert checked >= 5


def test_check_catches_a_wrong_gradient():
    # the check really compares: corrupt the recorded gradient and it reports the mismatch
    model, x, y, loss, features = build(SMOOTH[0], seed=2)
    tr = explain.trace(model, x, y, loss=loss, features=features)
    tr.layers[0].grad_W[1, 0] *= 1.01
    assert tr.check(0, 1, 0)["rel_error"] > 1e-3


def test_check_restores_the_weight_bit_for_bit_and_uses_the_traced_weights():
    model = nn.MLP([2, 4, 2, 1], seed=6)
    tr = explain.trace(model, [0.3, -0.7], [1], loss="bce")
    # the model moves on after the trace (training, a weight edit): check still checks the traced state
    model.linears[1].weight.data[0, 0] += 0.5
    live = [p.data.copy().tobytes() for p in model.parameters()]
    r = tr.check(1, 0, 0, eps=1e-6)
    assert r["rel_error"] < 1e-6
    assert r["eps"] == 1e-6 and {"slope", "backprop", "loss_plus", "loss_minus"} <= set(r)
    assert [p.data.tobytes() for p in model.parameters()] == live
    tr.check(0, 2, "bias")
    assert [p.data.tobytes() for p in model.parameters()] == live


@pytest.mark.parametrize("case", CASES[:7], ids=lambda c: f"{c[0]}-{c[3]}-{c[5]}")
def test_blame_product_is_grad_W_and_the_chain_rule_holds(case):
    model, x, y, loss, features = build(case, seed=1)
    tr = explain.trace(model, x, y, loss=loss, features=features)
    L = len(tr.layers)
    for l, i, j in all_indices(model):
        b = tr.blame(l, i, j)
        g = tr.layers[l].grad_b[i] if j == "bias" else tr.layers[l].grad_W[i, j]
        if tr.batched:
            assert b.product == pytest.approx(g, rel=1e-12, abs=1e-15)
        else:
            assert b.product == g          # one product: exactly the engine's number
            assert b.product == b.delta * b.a_in
        assert b.grad_W == g
        assert b.is_output == (l == L - 1)
        if l < L - 1:
            assert len(b.downstream) == tr.layers[l + 1].weight.shape[0]
            close(b.sum, np.asarray(tr.layers[l].grad_a)[..., i])
            close(b.sum, sum(np.asarray(t[3]) for t in b.downstream))
            close(np.asarray(b.f_prime) * np.asarray(b.sum), b.delta)
        else:
            assert b.downstream == [] and b.sum is None
            assert "loss" in b.formula
        assert isinstance(b.formula, str) and f"[{i + 1}" in b.formula   # counted from 1
        json.dumps(b.to_dict(), allow_nan=False)


def test_blame_formula_shows_the_real_numbers():
    model = nn.MLP([2, 4, 2, 1], seed=7)
    tr = explain.trace(model, [1.5, -2.0], [1], loss="bce", features=["x1", "x2"])
    b = tr.blame(1, 1, 2)
    assert b.formula.startswith("∂L/∂W2[2,3] = δ2[2] · a1[3] = ")   # counted from 1, as the page does
    assert b.activation == "tanh" and b.z == tr.layers[1].z[1] and b.loss_explanation is None
    assert tr.blame(0, 3, 1).formula.startswith("∂L/∂W1[4,2] = δ1[4] · X₂ = ")
    assert f"{b.product:.6g}" in b.formula and f"{abs(b.delta):.6g}" in b.formula
    assert f"{b.f_prime:.6g}" in b.formula
    out = tr.blame(2, 0, 0)
    p = float(tr.prediction[0])
    assert f"{p:.6g}" in out.formula and "σ(z) − y" in out.formula
    assert out.loss_explanation in out.formula and out.activation == "linear"
    assert out.delta == pytest.approx(p - 1, rel=1e-12)
    with pytest.raises(IndexError):
        tr.blame(3, 0, 0)
    with pytest.raises(IndexError):
        tr.blame(0, 4, 0)
    with pytest.raises(IndexError):
        tr.blame(0, 0, 2)


@pytest.mark.parametrize("loss, y", [("bce", [1.0, 0.0]), ("mse", [0.3, -0.2]), ("hinge", [1.0, 0.0])])
def test_output_blame_divides_by_the_number_of_outputs(loss, y):
    # these losses average over every output, so with two outputs each delta carries a 1/2
    tr = explain.trace(nn.MLP([2, 3, 2], seed=4), [0.7, -0.4], y, loss=loss)
    z, t = tr.layers[1].z, np.array(y)
    local = {"bce": 1 / (1 + np.exp(-z)) - t, "mse": 2 * (z - t),
             "hinge": np.where((2 * t - 1) * z < 1, -(2 * t - 1), 0.0)}[loss]
    close(tr.layers[1].delta, local / 2)
    for i in range(2):
        line = tr.blame(1, i, 0).loss_explanation
        assert f"{tr.layers[1].delta[i]:.6g}" in line
        assert "/ 2" in line or tr.layers[1].delta[i] == 0


def test_f_prime_matches_the_activation_derivative():
    model = nn.MLP([2, 3, 3, 2], activation=["tanh", "sigmoid"], seed=8)
    tr = explain.trace(model, [0.4, 0.9], [0.0, 1.0], loss="mse")
    close(tr.f_prime(0)[0], 1 - np.tanh(tr.layers[0].z) ** 2)
    s = 1 / (1 + np.exp(-tr.layers[1].z))
    close(tr.f_prime(1)[0], s * (1 - s))
    close(tr.f_prime(2)[0], np.ones(2))


def test_neuron_reads_the_recorded_values():
    model = nn.MLP([2, 4, 2, 1], seed=9)
    tr = explain.trace(model, [0.2, 0.1], [0], loss="bce", features=["x1", "x2"])
    d = tr.neuron(0, 3)
    assert d["z"] == tr.layers[0].z[3] and d["delta"] == tr.layers[0].delta[3]
    assert d["grad_a"] == tr.layers[0].grad_a[3] and d["a"] == tr.layers[0].a[3]
    inp = tr.neuron(-1, 1)
    assert inp["a"] == tr.inputs[1] and inp["grad_a"] == tr.feature_grad[1] and inp["z"] is None


def reference_loss(model, weights, biases, x, y, loss, features):
    m = nn.MLP(model.sizes, activation=model.activations[:-1], seed=0)
    for lin, W, b in zip(m.linears, weights, biases):
        lin.weight.data[...] = W
        lin.bias.data[...] = b
    X = torch.tensor(np.atleast_2d(x))
    inputs = torch_features(X, features) if features else X
    a = inputs
    for lin, act in zip(m.linears, m.activations):
        a = TORCH_ACT[act](a @ torch.tensor(lin.weight.data).T + torch.tensor(lin.bias.data))
    return torch_loss(loss, a, y).item()


def test_preview_is_one_sgd_step_and_leaves_the_model_unchanged():
    ds = data.make("circle", n=60, seed=1)
    feats = ["x1", "x2", "x1^2"]
    model = nn.MLP([3, 4, 2, 1], seed=10)
    tr = explain.trace(model, ds.X[0], ds.y[0], loss="bce", features=feats, train_X=ds.X, train_y=ds.y)
    params = list(model.parameters())
    before = [p.data.tobytes() for p in params]
    grads = [p.grad for p in params]
    lr = 0.1
    pv = tr.preview(lr)
    assert [p.data.tobytes() for p in params] == before
    assert [p.grad for p in params] == grads
    assert pv["lr"] == lr
    assert pv["sample_loss_before"] == pytest.approx(tr.loss, rel=1e-12)
    new_W = [lt.weight - lr * lt.grad_W for lt in tr.layers]
    new_b = [lt.bias - lr * lt.grad_b for lt in tr.layers]
    old_W = [lt.weight for lt in tr.layers]
    old_b = [lt.bias for lt in tr.layers]
    assert pv["sample_loss_after"] == pytest.approx(
        reference_loss(model, new_W, new_b, ds.X[0], ds.y[0], "bce", feats), rel=1e-10)
    assert pv["train_loss_before"] == pytest.approx(
        reference_loss(model, old_W, old_b, ds.X, ds.y, "bce", feats), rel=1e-10)
    assert pv["train_loss_after"] == pytest.approx(
        reference_loss(model, new_W, new_b, ds.X, ds.y, "bce", feats), rel=1e-10)
    assert pv["sample_loss_after"] < pv["sample_loss_before"]   # a small step downhill
    no_train_set = explain.trace(model, [0, 1], [1], loss="bce", features=feats)
    assert no_train_set.preview(0.1)["train_loss_after"] is None


def test_cost_measures_small_networks_and_estimates_on_request():
    model = nn.MLP([2, 4, 2, 1], seed=11)
    tr = explain.trace(model, [0.1, 0.2], [1], loss="bce")
    live = [p.data.tobytes() for p in model.parameters()]
    c = tr.cost()
    assert [p.data.tobytes() for p in model.parameters()] == live
    assert c["params"] == 2 * 4 + 4 + 4 * 2 + 2 + 2 + 1 == 25
    assert c["fd_passes"] == 50 and c["fd_measured"] is True
    assert c["fd_ms"] > 0 and c["forward_backward_ms"] > 0
    assert c["ratio"] == pytest.approx(c["fd_ms"] / c["forward_backward_ms"])
    assert c["trace_ms"] > 0 and c["forward_ms"] > 0
    est = explain.trace(model, [0.1, 0.2], [1], loss="bce").cost(measure=False)
    assert est["fd_measured"] is False
    assert est["fd_ms"] == pytest.approx(50 * est["forward_ms"])
    assert [p.data.tobytes() for p in model.parameters()] == live
    assert all(p.grad is None for p in model.parameters())


def test_cost_estimates_finite_differences_for_large_networks():
    model = nn.MLP([2, 64, 32, 1], seed=11)   # P = 2305 > FD_MEASURE_LIMIT
    tr = explain.trace(model, [0.1, 0.2], [1], loss="bce")
    assert tr.parameter_count() == 2305 > explain.FD_MEASURE_LIMIT
    c = tr.cost()
    assert c["fd_measured"] is False and c["fd_passes"] == 2 * 2305
    assert c["fd_ms"] == pytest.approx(2 * 2305 * c["forward_ms"])


def test_to_dict_is_json_ready_and_carries_the_trace():
    ds = data.make("spiral_multi", n=30, seed=2, classes=3)
    model = nn.MLP([2, 5, 3], seed=12)
    tr = explain.trace(model, ds.X[3], ds.y[3], loss="cross_entropy", features=["x1", "x2"],
                       train_X=ds.X, train_y=ds.y)
    d = tr.to_dict(lr=0.03)
    s = json.dumps(d, allow_nan=False)
    back = json.loads(s)
    assert back["version"] == 1
    assert back["sizes"] == [2, 5, 3] and back["activations"] == ["tanh", "linear"]
    for key in ("weights", "biases", "layers", "inputs", "input_grad", "loss", "prediction", "target",
                "cost", "preview"):
        assert back[key] is not None, key
    assert back["layers"][0]["grad_W"] == tr.layers[0].grad_W.tolist()
    assert back["layers"][1]["delta"] == tr.layers[1].delta.tolist()
    assert back["weights"][1] == model.linears[1].weight.data.tolist()
    assert back["input_grad"] == tr.input_grad.tolist() and back["loss"] == tr.loss
    assert back["target"] == int(ds.y[3]) and back["preview"]["lr"] == 0.03
    assert len(s) < 8000


def test_to_dict_never_sends_nan_or_inf():
    model = nn.MLP([2, 3, 1], seed=13)
    tr = explain.trace(model, [1.0, 1.0], [1.0], loss="mse")
    tr.layers[0].z[1] = np.nan
    tr.layers[0].grad_W[0, 0] = np.inf
    d = tr.to_dict(cost=False)
    json.dumps(d, allow_nan=False)
    assert d["layers"][0]["z"][1] is None and d["layers"][0]["grad_W"][0][0] is None


def direct(model, points, features):
    inputs = data.featurize(np.asarray(points), features) if features else np.asarray(points)
    return [(z.data, a.data) for z, a in model.forward_layers(Tensor(inputs))]


@pytest.mark.parametrize("features", [None, ["x1", "x2", "x1x2", "sin_x2"]])
def test_grid_orientation_and_values(features):
    sizes = [len(features) if features else 2, 4, 3, 2]
    model = nn.MLP(sizes, activation="tanh", seed=14)
    g = explain.grid(model, extent=(-6, 6), resolution=40, neuron_resolution=9, features=features)
    assert g.output.shape == (40, 40, 2)
    assert [n.shape for n in g.neurons] == [(4, 9, 9), (3, 9, 9)]
    assert g.inputs.shape == (sizes[0], 9, 9) and g.output_neurons.shape == (2, 9, 9)
    assert g.neuron_maps().shape == (sizes[0] + 4 + 3 + 2, 9, 9)
    # top-left is (-6, +6), bottom-right is (+6, -6)
    assert g.xs[0] == -6 and g.xs[-1] == 6 and g.ys[0] == 6 and g.ys[-1] == -6
    cells = [(0, 0), (0, 39), (39, 0), (39, 39), (5, 17), (23, 8)]
    pts = [(g.xs[c], g.ys[r]) for r, c in cells]
    out = direct(model, pts, features)[-1][1]
    for (r, c), o in zip(cells, out):
        close(g.output[r, c], o)
    close(direct(model, [(-6, 6)], features)[-1][1][0], g.output[0, 0])
    # coarse maps: neuron values at coarse cells
    cx = np.linspace(-6, 6, 9)
    coarse = [(0, 0), (8, 8), (2, 6), (7, 1)]
    ref = direct(model, [(cx[c], cx[::-1][r]) for r, c in coarse], features)
    for n, (r, c) in enumerate(coarse):
        close(g.neurons[0][:, r, c], ref[0][1][n])
        close(g.neurons[1][:, r, c], ref[1][1][n])
        close(g.output_neurons[:, r, c], ref[2][1][n])
    inputs = data.featurize(np.array([(cx[c], cx[::-1][r]) for r, c in coarse]), features) if features \
        else np.array([(cx[c], cx[::-1][r]) for r, c in coarse])
    for n, (r, c) in enumerate(coarse):
        close(g.inputs[:, r, c], inputs[n])


def test_grid_coarse_points_across_batch_chunks():
    # 16-wide layers evaluate in chunks of 512 rows: the 400 coarse points after the 900 fine ones
    # straddle the chunk boundary at 1024
    model = nn.MLP([2, 16, 16, 1], activation="relu", seed=16)
    g = explain.grid(model, extent=(-3, 5), resolution=30, neuron_resolution=20)
    cx = np.linspace(-3, 5, 20)
    pts = np.array([(cx[c], cx[::-1][r]) for r in range(20) for c in range(20)])
    ref = direct(model, pts, None)
    close(g.inputs.reshape(2, -1).T, pts)
    close(g.neurons[0].reshape(16, -1).T, ref[0][1])
    close(g.neurons[1].reshape(16, -1).T, ref[1][1])
    close(g.output_neurons.reshape(1, -1).T, ref[2][1])
    fx = np.linspace(-3, 5, 30)
    fine = np.array([(fx[c], fx[::-1][r]) for r in range(30) for c in range(30)])
    close(g.output.reshape(-1, 1), direct(model, fine, None)[-1][1])


def test_grid_default_sizes():
    model = nn.MLP([2, 4, 2, 1], seed=15)
    g = explain.grid(model, features=["x1", "x2"])
    assert g.output.shape == (100, 100, 1) and g.neurons[0].shape == (4, 25, 25)
    assert g.extent == (-6.0, 6.0)


def test_bad_arguments_say_what_is_wrong():
    model = nn.MLP([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="unknown loss"):
        explain.trace(model, [0, 0], [1], loss="l1")
    with pytest.raises(ValueError, match="class indices"):
        explain.trace(nn.MLP([2, 3, 3]), [0, 0], [3], loss="cross_entropy")
    with pytest.raises(ValueError, match="target"):
        explain.trace(model, np.zeros((3, 2)), [1, 0], loss="bce")
    with pytest.raises(ValueError, match="eps"):
        explain.trace(model, [0, 0], [1]).check(0, 0, 0, eps=0)
    with no_grad(), pytest.raises(RuntimeError, match="no_grad"):
        explain.trace(model, [0, 0], [1])
    with pytest.raises(ValueError, match=r"takes 2 input\(s\) but 3 feature\(s\)"):
        explain.trace(model, [0, 0], [1], features=["x1", "x2", "x1x2"])
    with pytest.raises(ValueError, match=r"takes 2 input\(s\) but 1 feature"):
        explain.grid(model, features=["x1"])
    with pytest.raises(ValueError, match=r"MLP\[2, 3, 1\] takes 2 input\(s\) per sample"):
        explain.trace(model, [0, 0, 0], [1])
