"""backlit.cli.train.fit: the shared training loop reaches the accuracies the issue asks for, and its
pieces (losses, predictions, regularisation, divergence handling) behave as documented."""

import numpy as np
import pytest
import torch

from backlit.lab import data
from backlit.cli import train

SIN = ["x1", "x2", "sin_x1", "sin_x2"]


def _run(name, hidden, *, features=None, noise=0.0, classes=None, seed=1, n=500, **kw):
    ds = data.make(name, n=n, noise=noise, seed=seed, classes=classes)
    Xtr, ytr, Xte, yte = data.split(ds, train_ratio=0.5, seed=seed)
    features = features or ["x1", "x2"]
    model = train.build_model(features, hidden, ds.kind, ds.classes, kw.pop("activation", "tanh"),
                              seed=seed)
    result = train.fit(model, Xtr, ytr, Xte, yte, kind=ds.kind, features=features, seed=seed, **kw)
    return model, result


@pytest.mark.parametrize(
    "name, hidden, epochs",
    [("circle", [4, 2], 50), ("xor", [4, 2], 50), ("gauss", [], 20), ("moons", [8], 50)],
)
def test_easy_binary_sets_reach_95_percent(name, hidden, epochs):
    _, r = _run(name, hidden, optimizer="adam", lr=0.03, batch_size=10, epochs=epochs)
    assert not r.diverged
    assert r.final()["test_accuracy"] >= 0.95


@pytest.mark.parametrize("loss", ["hinge", "mse"])
def test_other_binary_losses_train_too(loss):
    _, r = _run("circle", [4, 2], loss=loss, optimizer="adam", lr=0.03, batch_size=10, epochs=50)
    assert r.final()["test_accuracy"] >= 0.95


def test_spiral_reaches_95_percent_with_8_8_tanh():
    # raw x1, x2 only: the hard version of TF Playground's spiral
    model, r = _run("spiral", [8, 8], optimizer="adam", lr=0.01, batch_size=10, epochs=400)
    assert model.sizes == [2, 8, 8, 1] and model.activations == ["tanh", "tanh", "linear"]
    assert r.final()["test_accuracy"] >= 0.95


def test_spiral_is_easy_with_sine_features():
    model, r = _run("spiral", [8, 8], features=SIN, optimizer="adam", lr=0.03, batch_size=10,
                    epochs=300)
    assert model.sizes == [4, 8, 8, 1]
    assert r.final()["test_accuracy"] >= 0.95


def test_three_class_spiral_reaches_90_percent():
    model, r = _run("spiral_multi", [16, 16], classes=3, features=SIN, optimizer="adam", lr=0.01,
                    batch_size=10, epochs=300)
    assert model.sizes[-1] == 3
    assert r.final()["test_accuracy"] >= 0.90


def test_regression_loss_falls():
    _, r = _run("plane", [], activation="linear", optimizer="sgd", lr=0.01, epochs=20)
    assert r.history["train_accuracy"][-1] is None
    assert r.final()["test_loss"] < 1e-3 < r.history["test_loss"][0]


def test_fit_is_deterministic_and_reports_every_epoch():
    seen = []
    _, a = _run("xor", [4], optimizer="sgd", lr=0.1, epochs=5, callback=seen.append)
    _, b = _run("xor", [4], optimizer="sgd", lr=0.1, epochs=5)
    assert a.history == b.history
    assert a.history["epoch"] == [0, 1, 2, 3, 4, 5] and a.epochs_run == 5
    assert [e["epoch"] for e in seen] == a.history["epoch"]


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.3), ("momentum", 0.03), ("adam", 0.03),
                                           ("rmsprop", 0.01)])
def test_every_optimizer_lowers_the_loss(optimizer, lr):
    assert optimizer in train.OPTIMIZERS
    _, r = _run("circle", [4], optimizer=optimizer, lr=lr, epochs=10)
    assert r.history["train_loss"][-1] < 0.5 * r.history["train_loss"][0]


@pytest.mark.parametrize("reg", ["l1", "l2"])
def test_regularization_shrinks_the_weights(reg):
    def weight_norm(model):
        return sum(np.abs(lin.weight.data).sum() for lin in model.linears)

    plain, _ = _run("gauss", [4], optimizer="sgd", lr=0.05, epochs=20)
    shrunk, _ = _run("gauss", [4], optimizer="sgd", lr=0.05, epochs=20, regularization=reg,
                     reg_rate=0.1)
    assert weight_norm(shrunk) < 0.7 * weight_norm(plain)


def test_divergence_stops_and_keeps_the_last_finite_model():
    model, r = _run("spiral", [8, 8], activation="relu", loss="mse", optimizer="sgd", lr=100.0,
                    epochs=50)
    assert r.diverged and r.diverged_epoch is not None and r.epochs_run < r.diverged_epoch <= 50
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    # the model left in place is the one whose losses were recorded last
    ds = data.make("spiral", n=500, seed=1)
    Xtr, ytr, _, _ = data.split(ds, train_ratio=0.5, seed=1)
    loss, _ = train.evaluate(model, data.featurize(Xtr), ytr, "binary", "mse")
    assert loss == pytest.approx(r.history["train_loss"][-1], rel=1e-12)


def test_loss_must_fit_the_problem():
    model = train.build_model(["x1", "x2"], [3], "binary")
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="does not fit a binary problem"):
        train.fit(model, X, y, kind="binary", loss="cross_entropy", epochs=1)
    with pytest.raises(ValueError, match="unknown kind 'classification'"):
        train.fit(model, X, y, kind="classification", epochs=1)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        train.fit(model, X, y, batch_size=0, epochs=1)


# ------------------------------------------------------------------ losses and predictions vs torch


def _outputs(k, n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, k)) * 2


@pytest.mark.parametrize("loss", ["bce", "hinge", "mse"])
def test_binary_losses_match_torch(loss):
    from backlit import tensor

    out = _outputs(1)
    y = np.array([0, 1, 1, 0, 1, 0])
    got = train.data_loss(tensor(out), y, loss).item()
    s, t01 = torch.tensor(out[:, 0]), torch.tensor(y, dtype=torch.float64)
    want = {
        "bce": lambda: torch.nn.functional.binary_cross_entropy_with_logits(s, t01),
        "hinge": lambda: torch.clamp(1 - (2 * t01 - 1) * s, min=0).mean(),  # targets -1/+1
        "mse": lambda: ((s - t01) ** 2).mean(),  # the score is regressed onto 0/1
    }[loss]().item()
    assert got == pytest.approx(want, rel=1e-12)


def test_multiclass_and_regression_losses_match_torch():
    from backlit import tensor

    out, y = _outputs(4), np.array([0, 3, 2, 1, 1, 0])
    got = train.data_loss(tensor(out), y, "cross_entropy").item()
    want = torch.nn.functional.cross_entropy(torch.tensor(out), torch.tensor(y)).item()
    assert got == pytest.approx(want, rel=1e-12)
    out, y = _outputs(1), np.linspace(-1, 1, 6)
    got = train.data_loss(tensor(out), y, "mse").item()
    assert got == pytest.approx(np.mean((out[:, 0] - y) ** 2), rel=1e-12)


def test_predictions():
    assert train.predict(np.array([[-0.1], [0.0], [0.3], [2.0]]), "binary").tolist() == [0, 0, 1, 1]
    mse = train.predict(np.array([[0.3], [0.5], [0.7]]), "binary", "mse")
    assert mse.tolist() == [0, 0, 1]
    assert train.predict(np.array([[1, 3, 2], [5, 0, 0]]), "multiclass").tolist() == [1, 0]
    assert train.predict(np.array([[0.25]]), "regression").tolist() == [0.25]


def test_ctrl_c_keeps_the_last_finished_epoch():
    def stop_at_3(entry):
        if entry["epoch"] == 3:
            raise KeyboardInterrupt

    model, r = _run("circle", [4], optimizer="adam", lr=0.03, epochs=10, callback=stop_at_3,
                    catch_interrupt=True)
    assert r.interrupted and not r.diverged
    # epoch 3 was measured, then interrupted in the callback: model and history go back to epoch 2
    assert r.epochs_run == 2 and r.history["epoch"] == [0, 1, 2]
    ds = data.make("circle", n=500, seed=1)
    Xtr, ytr, _, _ = data.split(ds, train_ratio=0.5, seed=1)
    loss, _ = train.evaluate(model, data.featurize(Xtr), ytr, "binary", "bce")
    assert loss == pytest.approx(r.history["train_loss"][2], rel=1e-12)
    with pytest.raises(KeyboardInterrupt):
        _run("circle", [4], epochs=10, callback=stop_at_3)
