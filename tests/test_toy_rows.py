"""A toy activation and a toy loss, each one registry row, reach every place a built-in one does.

Softsign f(z) = z / (1 + |z|) has no torch module (the generated code defines one from its torch
expression) but has an ONNX node; log-cosh L = mean(log cosh(ŷ − y)) has a torch expression and no
ONNX node (its raw output is its prediction). Both are registered for one test at a time and seen in
the menu (the schema), the inspector, the Learn panel's PyTorch code, the exported PyTorch script run
under real torch, the worked example and the ONNX export, and taken out again afterwards. A toy
optimizer and a toy feature reach the menu, the code and ONNX the same way, and every built-in row's
torch spelling is checked against the function it names.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from backlit import nn
from backlit.engine import Tensor
from backlit.lab import data, kinds
from backlit.nn import activations
from backlit.playground import export, settings
from backlit.playground.session import Playground
from backlit.playground.settings import ProtocolError

LOG2 = math.log(2.0)


def softsign_engine(z):
    return z / (1 + z.abs())


def logcosh_engine(pred, target, reduction="mean"):
    d = pred - target
    each = (2 * d).softplus() - d - LOG2  # log cosh d = softplus(2d) - d - log 2, overflow-free
    return each if reduction == "none" else each.sum() if reduction == "sum" else each.mean()


class LogCoshLoss(nn.losses._Loss):
    """mean(log cosh(pred - target)): squared error near 0, absolute error far away."""

    name, label, fn = "logcosh", "Log-cosh", staticmethod(logcosh_engine)
    long_label = "log-cosh"
    kinds = ("regression",)
    delta_text = "δ = tanh(ŷ − y) / k   (log-cosh)"
    formula = "L = log cosh(ŷ − y)"
    tex = r"\log \cosh(a - y)"
    torch = "torch.log(torch.cosh({out} - y)).mean()"


@pytest.fixture
def toys():
    act = activations.register(activations.Activation(
        "softsign", "Softsign", softsign_engine, "f(z) = z / (1 + |z|)", "f′(z) = 1 / (1 + |z|)²", True,
        torch_expr="z / (1 + z.abs())", onnx=(("Softsign", {}),)))
    loss = nn.losses.register(LogCoshLoss)
    yield act, loss
    del activations.ACTIVATIONS["softsign"]
    del nn.LOSSES["logcosh"]


def session() -> Playground:
    pg = Playground({"dataset": "plane", "hidden": [3, 2], "activation": "softsign", "loss": "logcosh",
                     "n_points": 60, "noise": 0.1, "features": ["x1", "x2", "x1x2"], "seed": 5})
    for _ in range(20):
        pg._train_step()  # away from the initial weights
    return pg


def torch_loss(pg: Playground, X, y) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The toy loss of the session's network on (X, y), written out in torch by hand."""
    h = torch.tensor(data.featurize(X, pg.config["features"]))
    params = []
    for k, lin in enumerate(pg.model.linears):
        W = torch.tensor(lin.weight.data, requires_grad=True)
        b = torch.tensor(lin.bias.data, requires_grad=True)
        params += [W, b]
        h = h @ W.T + b
        if k < len(pg.model.linears) - 1:
            h = h / (1 + h.abs())
    L = torch.log(torch.cosh(h - torch.tensor(np.asarray(y, dtype=np.float64))[:, None])).mean()
    return L, params


def run_script(tmp_path, source: str, name: str) -> dict:
    """Run generated code as a script with torch only (no backlit on the path); what it printed."""
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in proc.stdout.splitlines()}


def test_the_toys_are_in_the_menu(toys):
    schema = Playground({"dataset": "plane", "activation": "softsign", "loss": "logcosh"}).state(schema=True)["schema"]
    rows = {s["name"]: s for s in schema["settings"]}
    assert rows["activation"]["labels"]["softsign"] == "Softsign"
    assert rows["loss"]["labels"]["logcosh"] == "Log-cosh"
    act = next(a for a in schema["activations"] if a["name"] == "softsign")
    assert act["formula"] == "f(z) = z / (1 + |z|)" and act["fprime"] == "f′(z) = 1 / (1 + |z|)²"
    loss = next(l for l in schema["losses"] if l["name"] == "logcosh")
    assert loss["delta"].startswith("δ = tanh") and loss["reads"] == "value" and loss["signed_targets"] is False
    assert "logcosh" in next(k for k in schema["kinds"] if k["name"] == "regression")["losses"]
    assert kinds.get("regression").losses()[0] == "mse"  # registered last: not the kind's default
    assert settings.resolve_config(settings.default_config(), {"dataset": "plane", "loss": "logcosh"})["loss"] == "logcosh"
    json.dumps(schema, allow_nan=False)


def test_the_inspector_explains_the_toys_with_the_engines_numbers(toys):
    pg = session()
    tr = pg._trace()
    x, y = pg.X_train[pg.selected], pg.y_train[pg.selected]
    L, params = torch_loss(pg, x[None], [y])
    L.backward()
    assert tr.loss == pytest.approx(L.item(), rel=1e-12, abs=1e-15)
    for lt, (W, b) in zip(tr.layers, zip(params[::2], params[1::2])):
        np.testing.assert_allclose(lt.grad_W, W.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(lt.grad_b, b.grad.numpy(), rtol=1e-10, atol=1e-14)
    [neuron] = pg.neuron(0, 1)
    assert neuron["activation"] == "softsign"
    assert neuron["f_prime"] == pytest.approx(1 / (1 + abs(neuron["z"])) ** 2, rel=1e-12)
    [hidden] = pg.blame(0, 1, 2)
    assert hidden["activation"] == "softsign" and hidden["grad_W"] == pytest.approx(tr.layers[0].grad_W[1, 2])
    [out] = pg.blame(2, 0, 1)
    delta = tr.layers[2].delta[0]
    assert delta == pytest.approx(math.tanh(tr.layers[2].z[0] - y), rel=1e-10)  # d/dz log cosh(z - y)
    assert "log-cosh loss" in out["loss_explanation"] and f"{delta:.6g}" in out["loss_explanation"]
    assert out["loss_explanation"] in out["formula"]
    [trace] = pg.trace()
    assert trace["trace"]["loss_name"] == "logcosh" and trace["trace"]["loss_reads"] == "value"


def test_the_learn_panels_code_and_the_exported_script_run_under_torch(toys, tmp_path):
    pg = session()
    [code] = pg.code()
    text = code["text"]
    assert text == export.pytorch_code(pg.config)
    assert "class Softsign(nn.Module):" in text and "Softsign()" in text and "nn.Tanh" not in text
    assert "torch.log(torch.cosh(model(x) - y)).mean()" in text and "loss.backward()" in text
    printed = run_script(tmp_path, text, "learn")
    assert math.isfinite(float(printed["loss"]))
    # the same generator with the session's weights and a batch: torch's loss is backlit's
    X, y = pg.X_train[:7], pg.y_train[:7]
    printed = run_script(tmp_path, export.pytorch_code(pg.config, pg.model, X, y, decimals=None), "step")
    ours = float(nn.loss_function("logcosh")(pg.model(Tensor(data.featurize(X, pg.config["features"]))),
                                             Tensor(y[:, None])).data)
    assert float(printed["loss"]) == pytest.approx(ours, rel=1e-10, abs=1e-12)
    # "Export -> PyTorch": the whole training set, the current weights; the printed loss is the session's
    [exported] = pg.export("torch")
    script = exported["text"]
    assert exported["filename"].endswith(".py") and "class Softsign(nn.Module):" in script
    printed = run_script(tmp_path, script, "export")
    assert float(printed["loss"]) == pytest.approx(pg.metrics()["train_loss"], rel=1e-10, abs=1e-12)
    L, _ = torch_loss(pg, pg.X_train, pg.y_train)
    assert float(printed["loss"]) == pytest.approx(L.item(), rel=1e-10, abs=1e-12)
    predictions = json.loads(printed["predictions"])
    with torch.no_grad():
        out = pg.model(Tensor(data.featurize(pg.X_train, pg.config["features"]))).data[:, 0]
    np.testing.assert_allclose(predictions, out, rtol=1e-10, atol=1e-12)


def test_interop_builds_the_toy_activation_from_its_torch_expression(toys):
    model = nn.MLP([2, 3, 1], activation="softsign", seed=2)
    module = model.to_torch()
    assert type(module[1]).__name__ == "Softsign"
    x = np.array([[0.3, -2.0], [4.0, 1.5]])
    np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), model(Tensor(x)).data, rtol=1e-12)
    with pytest.raises(ValueError, match="layer 1 is Softsign"):  # no torch module: not one from_torch knows
        nn.MLP.from_torch(module)


def test_the_worked_example_writes_the_toys(toys):
    pg = session()
    [worked] = pg.export("worked")
    text = worked["text"]
    tr = pg._trace()
    assert "activation softsign" in text and "loss: log-cosh" in text
    assert r"\mathrm{softsign}(z^{(0)}_{0})" in text  # a row without tex is written by its name
    assert f"(f′(z) = 1 / (1 + |z|)²)" in text  # and its f′ by the formula the inspector shows
    assert rf"- $L = \log \cosh(a - y) = {worked_number(tr.loss)}$" in text
    for l, lt in enumerate(tr.layers[:-1]):
        for i, slope in enumerate(tr.f_prime(l)[0]):
            assert f"- $f'(z^{{({l})}}_{{{i}}}) = {worked_number(slope)}$ (f′(z)" in text
    [exercise] = pg.export("worked_blanks")
    key = exercise["text"].split("## Answer key", 1)[1]
    assert f"$L = {worked_number(tr.loss)}$" in key


def worked_number(v) -> str:
    from backlit.lab.worked import tex_number
    return tex_number(v)


def test_onnx_export_runs_the_toy_activation_and_says_plainly_why_not_without_a_node(toys):
    ort = pytest.importorskip("onnxruntime")
    pg = session()
    [reply] = pg.export("onnx")
    sess = ort.InferenceSession(base64.b64decode(reply["base64"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["output"]  # log-cosh reads the raw output as it is
    X = pg.X_train[:20]
    [out] = sess.run(None, {"point": X.astype(np.float32)})
    ours = pg.model(Tensor(data.featurize(X, pg.config["features"]))).data
    np.testing.assert_allclose(out, ours, rtol=1e-5, atol=1e-5)
    proto = export.onnx_model(pg.model, pg.config["features"], "logcosh")
    assert [n.op_type for n in proto.graph.node].count("Softsign") == 2  # the row's node, once per hidden layer
    # the same activation with no ONNX spelling: a plain error naming the row, and nothing lost
    activations.register(dataclasses.replace(activations.get("softsign"), onnx=None))
    weights = [lin.weight.data.copy() for lin in pg.model.linears]
    with pytest.raises(ProtocolError, match=r"activation 'softsign' has no ONNX node in its registry row") as e:
        pg.export("onnx")
    assert e.value.field == "format"
    assert all(np.array_equal(w, lin.weight.data) for w, lin in zip(weights, pg.model.linears))
    assert pg.export("torch")[0]["text"]  # PyTorch export still works


def test_a_row_without_a_torch_spelling_is_refused_by_name(toys):
    activations.register(dataclasses.replace(activations.get("softsign"), torch_expr=""))
    with pytest.raises(ValueError, match=r"activation 'softsign' has no PyTorch spelling"):
        export.pytorch_code({"dataset": "plane", "activation": "softsign", "loss": "logcosh", "hidden": [2]})
    with pytest.raises(ValueError, match=r"activation 'softsign' has no PyTorch spelling"):
        nn.MLP([2, 2, 1], activation="softsign").to_torch()
    nn.losses.register(type("Bare", (LogCoshLoss,), {"torch": ""}))
    with pytest.raises(ValueError, match=r"loss 'logcosh' has no PyTorch spelling"):
        export.pytorch_code({"dataset": "plane", "activation": "tanh", "loss": "logcosh", "hidden": [2]})


@pytest.mark.parametrize("name", list(activations.ACTIVATIONS))
def test_each_activation_rows_torch_spellings_compute_its_function(name):
    row = activations.get(name)
    z = np.linspace(-4, 4, 41)
    ours = row.fn(Tensor(z)).data if not row.identity else z
    zt = torch.tensor(z)
    spelled = eval(row.torch_module, {"nn": torch.nn})(zt)  # noqa: S307 (the row's own code)
    expr = eval(f"lambda z: {row.torch_expr}", {"torch": torch, "nn": torch.nn})(zt)  # noqa: S307
    np.testing.assert_allclose(spelled.numpy(), ours, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(expr.numpy(), ours, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(nn.LOSSES))
def test_each_loss_rows_torch_expression_is_its_loss(name):
    row = nn.loss_class(name)
    rng = np.random.default_rng(3)
    k = 3 if row.index_targets else 1
    out = rng.normal(size=(6, k)) * 2
    y = rng.integers(0, 3, 6) if row.index_targets else rng.integers(0, 2, (6, 1)).astype(float)
    ours = float(row.fn(Tensor(out), row.target(y)).data)
    theirs = eval(row.torch.format(out="out"), {"torch": torch, "nn": torch.nn,  # noqa: S307
                                                "out": torch.tensor(out), "y": torch.tensor(y)})
    assert theirs.item() == pytest.approx(ours, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", list(data.FEATURES))
def test_each_feature_rows_torch_expression_is_its_feature(name):
    X = np.random.default_rng(1).uniform(-6, 6, (9, 2))
    ours = data.featurize(X, [name])
    x1, x2 = torch.tensor(X[:, :1]), torch.tensor(X[:, 1:])
    theirs = eval(data.FEATURES[name].torch, {"torch": torch, "x1": x1, "x2": x2})  # noqa: S307
    np.testing.assert_allclose(theirs.numpy(), ours, rtol=1e-12, atol=1e-15)
    assert re.fullmatch(r"[A-Z][A-Za-z]*", data.FEATURES[name].onnx[0])


def test_a_registered_optimizer_and_feature_reach_the_menu_the_code_and_onnx(tmp_path):
    """The other two registries the page and the export read: one row each, and nothing else to edit."""
    from backlit.nn import optim
    optim.register(optim.Choice("adamw", "AdamW", lambda ps, lr, wd: optim.AdamW(ps, lr),
                                "torch.optim.AdamW(model.parameters(), lr={lr})", "Adam, decoupled decay 0.01"))
    data.register_feature(data.Feature("cos_x1", "cos(X₁)", lambda x1, x2: x1.cos() if isinstance(x1, Tensor)
                                       else np.cos(x1), r"\cos X_1", "torch.cos(x1)",
                                       ("Cos", "x1")))
    try:
        schema = settings.schema()
        rows = {s["name"]: s for s in schema["settings"]}
        assert rows["optimizer"]["labels"]["adamw"] == "AdamW" and "cos_x1" in rows["features"]["choices"]
        assert {"name": "cos_x1", "label": "cos(X₁)"} in schema["features"]
        pg = Playground({"dataset": "circle", "optimizer": "adamw", "features": ["x1", "cos_x1"], "hidden": [3]})
        assert isinstance(pg.optimizer, optim.AdamW)
        text = pg.code()[0]["text"]
        assert "torch.optim.AdamW(model.parameters(), lr=0.03)" in text and "torch.cos(x1)" in text
        X, y = pg.X_train[:5], pg.y_train[:5]
        printed = run_script(tmp_path, export.pytorch_code(pg.config, pg.model, X, y, decimals=None), "opt")
        ours = float(nn.loss_function("bce")(pg.model(Tensor(data.featurize(X, pg.config["features"]))),
                                             Tensor(y[:, None].astype(float))).data)
        assert float(printed["loss"]) == pytest.approx(ours, rel=1e-10, abs=1e-12)
        ort = pytest.importorskip("onnxruntime")
        proto = export.onnx_model(pg.model, pg.config["features"], "bce")
        [out, prob] = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"point": X.astype(np.float32)})
        z = pg.model(Tensor(data.featurize(X, pg.config["features"]))).data
        np.testing.assert_allclose(out, z, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(prob, 1 / (1 + np.exp(-z)), rtol=1e-5, atol=1e-5)
    finally:
        del optim.OPTIMIZERS["adamw"], data.FEATURES["cos_x1"]
