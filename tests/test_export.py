"""backlit.playground.export against real PyTorch (torch==2.13.0) and onnxruntime.

The generated code is run as is, in a subprocess, through ``runpy``; a global optimizer pre-step hook
records the weights and gradients torch used, so the tests compare torch's loss and gradients with
backlit's for the very same weights and batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from backlit.lab import data
from backlit.playground import export
from backlit import nn
from backlit.cli import train

# Runs each generated file as a script; for the training-step code, records what torch stepped on.
HARNESS = textwrap.dedent("""
    import contextlib, io, json, runpy, sys
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    results = []

    def before_step(opt, args, kwargs):
        params = opt.param_groups[0]["params"]
        results[-1]["weights"] = [p.detach().tolist() for p in params]
        results[-1]["grads"] = [p.grad.tolist() for p in params]

    register_optimizer_step_pre_hook(before_step)
    for path in sys.argv[1:]:
        results.append({})
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        results[-1]["stdout"] = out.getvalue()
    print(json.dumps(results))
""")


def run_torch(tmp_path, sources: list[str]) -> list[dict]:
    """Run each source as its own script under torch, in one subprocess; return what each printed."""
    paths = []
    for k, src in enumerate(sources):
        p = tmp_path / f"generated_{k}.py"
        p.write_text(src)
        paths.append(str(p))
    harness = tmp_path / "harness.py"
    harness.write_text(HARNESS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the code must need only torch
    proc = subprocess.run([sys.executable, str(harness), *paths], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    for r in results:
        r["printed"] = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in r["stdout"].splitlines()}
    return results


def config(**kw) -> dict:
    base = dict(dataset="spiral", noise=0.1, n_points=200, train_ratio=0.5, seed=3, features=["x1", "x2"],
                hidden=[4, 2], activation="tanh", loss="bce", lr=0.03, batch_size=10, optimizer="sgd",
                regularization="none", reg_rate=0.0, classes=3)
    base.update(kw)
    return base


SNIPPET_CONFIGS = [
    config(),
    config(loss="hinge", activation="relu", optimizer="momentum", features=["x1", "x2", "x1^2", "sin_x2"]),
    config(loss="mse", activation="sigmoid", regularization="l2", reg_rate=0.01, optimizer="adam"),
    config(dataset="blobs", classes=4, loss="cross_entropy", activation="leaky_relu", hidden=[5],
           regularization="l1", reg_rate=0.003, features=["x1", "x2", "x1x2", "x2^2", "sin_x1"]),
    config(dataset="multi_gauss", loss="mse", activation="linear", hidden=[3, 3, 2], batch_size=3),
]


def backlit_objective(cfg, weights, X, y):
    """backlit's training objective (data loss + penalty) and its gradients, for the given weights."""
    c = export._setup(cfg)
    sizes = [len(c["features"]), *c["hidden"], train.n_outputs(c["kind"], c["classes"])]
    model = nn.MLP(sizes, activation=c["activation"], seed=0)
    model.load_state_dict({f"linears.{k // 2}.{'weight' if k % 2 == 0 else 'bias'}": np.array(w)
                           for k, w in enumerate(weights)})
    objective = train.data_loss(model(data.featurize(X, c["features"])), y, c["loss"])
    if c["regularization"] != "none":
        objective = objective + c["reg_rate"] * nn.penalty(model, c["regularization"])
    objective.backward()
    return objective.item(), [p.grad for p in model.parameters()]


def test_training_step_code_runs_under_torch_with_backlits_loss_and_gradients(tmp_path):
    codes = [export.pytorch_code(cfg) for cfg in SNIPPET_CONFIGS]
    for code in codes:
        lines = code.strip().splitlines()
        assert 10 <= len(lines) <= 15, code
        assert "loss.backward()" in code and "opt.step()" in code
        assert "backlit" not in "".join(l for l in lines if "import" in l)   # torch only
    assert "momentum=0.9" in codes[1] and "torch.sin(x1)" not in codes[1] and "torch.sin(x2)" in codes[1]
    assert "torch.optim.Adam" in codes[2] and "** 2" in codes[2]
    assert "abs()" in codes[3] and "cross_entropy" in codes[3]
    results = run_torch(tmp_path, codes)
    for cfg, r in zip(SNIPPET_CONFIGS, results):
        X, y = export.sample_batch(cfg)
        assert len(X) == min(export.SNIPPET_ROWS, cfg["batch_size"])
        X, y = np.round(X, export.SNIPPET_DECIMALS), np.round(y, export.SNIPPET_DECIMALS)  # as written
        ours, grads = backlit_objective(cfg, r["weights"], X, y)
        assert float(r["printed"]["loss"]) == pytest.approx(ours, abs=1e-10, rel=1e-10)
        for g_torch, g_ours in zip(r["grads"], grads):
            np.testing.assert_allclose(g_torch, g_ours, rtol=1e-9, atol=1e-12)


def test_training_step_code_takes_the_batch_it_is_given():
    X = np.array([[0.5, -1.25], [3.0, 2.0 / 3.0]])
    code = export.pytorch_code(config(), X=X, y=np.array([1, 0]))
    assert "[[0.5, -1.25], [3.0, 0.6667]]" in code and "[1.0, 0.0]" in code
    assert "[3.0, 0.6666666666666666]" in export.pytorch_code(config(), X=X, y=np.array([1, 0]), decimals=None)
    with pytest.raises(ValueError, match="shape"):
        export.pytorch_code(config(), X=np.zeros((2, 3)), y=np.zeros(2))
    with pytest.raises(ValueError, match="does not fit a binary problem"):
        export.pytorch_code(config(loss="cross_entropy"))
    with pytest.raises(ValueError, match="no 'kind'"):
        export.pytorch_code(config(dataset="custom"))


def trained(cfg, epochs=5):
    c = export._setup(cfg)
    ds = data.make(cfg["dataset"], n=cfg["n_points"], noise=cfg["noise"], seed=cfg["seed"],
                   classes=cfg["classes"] if c["kind"] == "multiclass" else None)
    Xtr, ytr, Xte, yte = data.split(ds, train_ratio=cfg["train_ratio"], seed=cfg["seed"])
    model = train.build_model(c["features"], c["hidden"], c["kind"], c["classes"], c["activation"],
                              seed=cfg["seed"])
    train.fit(model, Xtr, ytr, kind=c["kind"], loss=c["loss"], features=c["features"], lr=0.05,
              batch_size=10, epochs=epochs, seed=cfg["seed"])
    return model, Xtr, ytr, c


def test_exported_script_prints_backlits_loss_and_predictions(tmp_path):
    cfgs = [config(), config(loss="mse", features=["x1", "x2", "x1x2"]), SNIPPET_CONFIGS[3],
            config(dataset="plane", loss="mse", activation="relu")]
    runs = [trained(cfg) for cfg in cfgs]
    scripts = [export.pytorch_script(cfg, model, X, y) for cfg, (model, X, y, _) in zip(cfgs, runs)]
    assert "torch.manual_seed" not in scripts[0] and "weights = [" in scripts[0]
    results = run_torch(tmp_path, scripts)
    for (model, X, y, c), r in zip(runs, results):
        inputs = data.featurize(X, c["features"])
        loss, acc = train.evaluate(model, inputs, y, c["kind"], c["loss"])
        assert float(r["printed"]["loss"]) == pytest.approx(loss, abs=1e-10, rel=1e-10)
        pred = train.predict(model(inputs).data, c["kind"], c["loss"])
        np.testing.assert_allclose(json.loads(r["printed"]["predictions"]), pred, rtol=1e-10, atol=1e-12)
        if acc is not None:
            assert float(r["printed"]["accuracy"]) == pytest.approx(acc)


def test_to_torch_and_from_torch_round_trip():
    model = nn.MLP([3, 5, 4, 2], activation=["relu", "leaky_relu"], output_activation="sigmoid", seed=7)
    module = model.to_torch()
    assert [type(m).__name__ for m in module] == ["Linear", "ReLU", "Linear", "LeakyReLU", "Linear", "Sigmoid"]
    X = np.random.default_rng(1).normal(size=(20, 3))
    with torch.no_grad():
        ours, theirs = model(X).data, module(torch.tensor(X)).numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-13, atol=1e-15)
    back = nn.MLP.from_torch(module)
    assert back.sizes == model.sizes and back.activations == model.activations
    for a, b in zip(back.parameters(), model.parameters()):
        assert np.array_equal(a.data, b.data)
    # a module made in torch, with torch's float32 initialisation, comes back with the same numbers
    torch.manual_seed(0)
    made = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3),
                               torch.nn.Identity(), torch.nn.Linear(3, 1))
    mlp = nn.MLP.from_torch(made)
    assert mlp.sizes == [2, 3, 3, 1] and mlp.activations == ["tanh", "linear", "linear"]
    with torch.no_grad():
        expected = made(torch.tensor(X[:, :2], dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(mlp(X[:, :2]).data, expected, rtol=1e-5, atol=1e-6)
    again = mlp.to_torch()
    for a, b in zip(again.parameters(), made.parameters()):
        assert torch.equal(a.float(), b)


@pytest.mark.parametrize("module, message", [
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Dropout(), torch.nn.Linear(3, 1)),
     "layer 1 is Dropout"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2), torch.nn.Linear(3, 1)),
     r"LeakyReLU\(0.01\)"),
    (lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(4, 1)), "takes 4 inputs"),
    (lambda: torch.nn.Sequential(torch.nn.Tanh()), "before any Linear"),
    (lambda: torch.nn.Linear(2, 1), "Sequential"),
])
def test_from_torch_says_what_it_cannot_convert(module, message):
    with pytest.raises(ValueError, match=message):
        nn.MLP.from_torch(module())


@pytest.mark.parametrize("features, loss, activation, sizes", [
    (["x1", "x2"], "bce", "tanh", [2, 4, 2, 1]),
    (["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"], "cross_entropy", "relu", [7, 6, 4]),
    (["x2", "sin_x1"], "mse", "leaky_relu", [2, 3, 3, 1]),
    (["x1x2"], "hinge", "sigmoid", [1, 2, 1]),
])
def test_onnx_runs_in_onnxruntime_with_backlits_outputs(features, loss, activation, sizes):
    ort = pytest.importorskip("onnxruntime")
    model = nn.MLP(sizes, activation=activation, seed=4, dtype=np.float32)
    blob = export.onnx_bytes(model, features, loss)
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["point"]
    X = np.random.default_rng(2).uniform(-6, 6, (64, 2)).astype(np.float32)
    results = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"point": X})))
    expected = model(data.featurize(X, features).astype(np.float32)).data
    np.testing.assert_allclose(results["output"], expected, rtol=1e-6, atol=1e-6)
    if loss == "bce":
        np.testing.assert_allclose(results["probability"], 1 / (1 + np.exp(-expected)), rtol=1e-6, atol=1e-6)
    if loss == "cross_entropy":
        e = np.exp(expected - expected.max(axis=1, keepdims=True))
        np.testing.assert_allclose(results["probabilities"], e / e.sum(axis=1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError, match="inputs but"):
        export.onnx_bytes(model, features + ["x1"] if "x1" not in features else ["x2"])
