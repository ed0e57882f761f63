"""backlit.lab.gradflow: per-layer gradient sizes through depth, saturated and dead neurons, and `train`."""

import argparse
import json

import numpy as np
import pytest

from backlit.lab import data, trace as explain, gradflow
from backlit import nn
from backlit.cli import train

torch = pytest.importorskip("torch")


def circle(n=200, seed=1):
    ds = data.make("circle", n=n, seed=seed)
    return data.split(ds, train_ratio=0.5, seed=seed)


def test_layer_norms_of_a_batch_trace_match_torch():
    model = nn.MLP([2, 3, 3, 1], activation="tanh", seed=2)
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array([0, 1, 1, 0, 1, 0])
    norms = gradflow.from_trace(explain.trace(model, X, y, loss="bce"))

    xt = torch.tensor(X)
    a, zs = xt, []
    for lin, act in zip(model.linears, model.activations):
        z = a @ torch.tensor(lin.weight.data, requires_grad=True).T + torch.tensor(lin.bias.data)
        z.retain_grad()
        zs.append(z)
        a = torch.tanh(z) if act == "tanh" else z
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(
        a[:, 0], torch.tensor(y, dtype=torch.float64), reduction="none")
    per_sample.sum().backward()      # row s of z.grad is then dℓₛ/dzₛ, sample s's own loss
    expected = [z.grad.norm(dim=1).mean().item() for z in zs]
    np.testing.assert_allclose(norms["delta"], expected, rtol=1e-10)
    # ‖dL/dW‖ of the batch-mean loss
    Ws = [torch.tensor(l.weight.data, requires_grad=True) for l in model.linears]
    a = xt
    for W, lin, act in zip(Ws, model.linears, model.activations):
        z = a @ W.T + torch.tensor(lin.bias.data)
        a = torch.tanh(z) if act == "tanh" else z
    torch.nn.functional.binary_cross_entropy_with_logits(a[:, 0], torch.tensor(y, dtype=torch.float64)).backward()
    np.testing.assert_allclose(norms["grad_W"], [W.grad.norm().item() for W in Ws], rtol=1e-10)


def test_one_sample_delta_is_its_own_norm():
    model = nn.MLP([2, 2, 1], seed=0)
    tr = explain.trace(model, np.array([0.3, -0.7]), 1)
    norms = gradflow.from_trace(tr)
    assert norms["delta"] == pytest.approx([np.linalg.norm(lt.delta) for lt in tr.layers])


def test_fit_records_the_norms_of_its_own_steps():
    Xtr, ytr, _, _ = circle(n=40)
    model = nn.MLP([2, 3, 1], activation="tanh", seed=4)
    before = explain.trace(model, Xtr, ytr, loss="bce")   # the same batch, the same weights
    r = train.fit(model, Xtr, ytr, kind="binary", optimizer="sgd", lr=0.1, batch_size=len(Xtr),
                  epochs=2, seed=0)
    h = r.history
    assert h["delta_norm"][0] is None and h["grad_W_norm"][0] is None     # epoch 0: no step yet
    assert len(h["delta_norm"]) == len(h["epoch"]) == 3
    # epoch 1 is one full-batch step from the initial weights: exactly the trace's gradients
    expected = gradflow.from_trace(before)
    np.testing.assert_allclose(h["delta_norm"][1], expected["delta"], rtol=1e-10)
    np.testing.assert_allclose(h["grad_W_norm"][1], expected["grad_W"], rtol=1e-10)


def deep_run(activation, init, layers=8, epochs=50):
    Xtr, ytr, Xte, yte = circle()
    model = train.build_model(["x1", "x2"], [4] * layers, "binary", activation=activation, seed=1, init=init)
    r = train.fit(model, Xtr, ytr, Xte, yte, kind="binary", optimizer="sgd", lr=0.1, batch_size=10,
                  epochs=epochs, seed=1)
    d = np.array(gradflow.series(r.history)["delta"])
    return r, d[:, -1] / d[:, 0]       # last layer's ‖δ‖ over the first layer's, per epoch


def test_deep_sigmoid_network_starves_its_first_layers_and_relu_he_does_not():
    sig, sig_ratio = deep_run("sigmoid", "uniform")
    assert len(sig_ratio) == 50
    assert sig_ratio.min() >= 100          # every epoch: the first layer's δ is 100x smaller, or worse
    assert sig.final()["train_accuracy"] <= 0.6     # and training stalls on the circle
    relu, relu_ratio = deep_run("relu", "he")
    # ReLU + He narrows the gap by orders of magnitude
    assert np.median(relu_ratio) * 1000 < np.median(sig_ratio)
    assert relu.final()["train_accuracy"] > sig.final()["train_accuracy"]


def test_neuron_badges_mark_saturated_and_dead_neurons():
    Xtr, _, _, _ = circle(n=60)
    for act, push, badge in [("tanh", 50.0, "saturated"), ("sigmoid", -50.0, "saturated"), ("relu", -50.0, "dead")]:
        model = nn.MLP([2, 3, 1], activation=act, seed=0, init="xavier")
        model.linears[0].bias.data[1] = push
        badges = gradflow.neuron_badges(model, Xtr)
        assert badges == [[None, badge, None], [None]]
    # the override names an activation for every layer, e.g. what the model would be with sigmoid
    model = nn.MLP([2, 3, 1], activation="tanh", seed=0)
    model.linears[0].bias.data[:] = 50.0
    assert gradflow.neuron_badges(model, Xtr, activation="relu")[0] == [None, None, None]
    assert gradflow.neuron_badges(model, Xtr, activation="sigmoid")[0] == ["saturated"] * 3


def test_saturation_threshold_is_ninety_percent_of_samples():
    model = nn.MLP([1, 1, 1], activation="tanh", seed=0)
    model.linears[0].weight.data[:] = 1.0
    model.linears[0].bias.data[:] = 0.0
    X = np.r_[np.full(91, 10.0), np.zeros(9)][:, None]      # 91% saturated (tanh'(10) ~ 8e-9)
    assert gradflow.neuron_badges(model, X)[0] == ["saturated"]
    X = np.r_[np.full(90, 10.0), np.zeros(10)][:, None]     # exactly 90%: not more than 90%
    assert gradflow.neuron_badges(model, X)[0] == [None]


def test_backlit_train_writes_gradflow(tmp_path):
    parser = argparse.ArgumentParser(prog="backlit train")
    train.add_train_arguments(parser)
    args = parser.parse_args(["--dataset", "circle", "--hidden", "3,3", "--epochs", "3", "--n-points", "60",
                              "--quiet", "--out", str(tmp_path)])
    assert train.run_train(args) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    h = metrics["history"]
    assert h["delta_norm"][0] is None and len(h["delta_norm"][1]) == 3 == len(h["grad_W_norm"][3])
    assert metrics["gradflow"]["layers"] == ["layer 1", "layer 2", "output"]
    assert (tmp_path / "gradflow.png").read_bytes()[:4] == b"\x89PNG"
