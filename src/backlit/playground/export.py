"""Take a backlit network elsewhere: to PyTorch (a module, or code to copy) and to ONNX.

- Modules both ways (``MLP.to_torch()`` and ``MLP.from_torch(module)``) live in :mod:`backlit.nn.interop`.
- :func:`pytorch_code` writes PyTorch code for a playground configuration. By default it is the
  10-15 lines the explanation panel shows: the same ``nn.Sequential``, a few literal sample rows and ONE
  training step (``loss.backward()``, ``opt.step()``). With ``model=`` the current weights are written
  inline, and with ``evaluate=True`` the code prints the predictions and the loss on the given points
  instead of taking a step: that is the self-contained script of "Export -> PyTorch"
  (:func:`pytorch_script`). One generator serves both, so the two can never disagree.
- :func:`onnx_bytes` builds an ONNX graph with the ``onnx`` package: it takes raw 2-D points, computes
  the input features inside the graph, and returns the raw output plus the class probabilities.

Everything here is a pure function from arrays and a config to text or bytes, or it raises
``ValueError`` saying what to change: the page, the CLI and the tests call the same functions. torch
and onnx are imported only inside the functions that need them (``pip install torch`` for the first,
the ``export`` extra for onnx and onnxruntime).

The conventions are backlit's (see ``backlit.cli.train``): float64, weights (out, in), one raw output for
a binary problem (``bce`` reads it as a logit, ``hinge`` reads 0/1 targets as -1/+1, ``mse`` regresses
it onto 0/1), one logit per class with ``cross_entropy``, and the penalty on the weights only
(l1 = sum |w|, l2 = 0.5 sum w^2).

Every activation, feature, loss and optimizer is spelt as its registry row says (``torch_module`` /
``torch_expr`` and ``onnx`` of ``backlit.nn.activations``, ``torch`` and ``onnx`` of a feature in
``backlit.lab.data.FEATURES``, of a loss class and of an optimizer choice): nothing here names one.
A row without a PyTorch or ONNX spelling gets a ``ValueError`` saying which row lacks what.
"""

from __future__ import annotations

import math

import numpy as np

from ..lab import data, kinds
from .. import nn
from ..nn import activations, optim

SNIPPET_ROWS = 4
"""Rows of the batch written into the short code when no batch is given."""
SNIPPET_DECIMALS = 4
"""The short code's batch is rounded to this many decimals (readable, and still exactly what it trains on)."""


# --------------------------------------------------------------------------------------------------
# PyTorch code
# --------------------------------------------------------------------------------------------------

def _setup(config: dict) -> dict:
    """The fields the generators read, from a playground config or a `backlit train` config.

    A config with ``"kind"`` (the CLI's, or custom data) is taken as it is; otherwise the kind comes
    from the dataset registry.
    """
    c = dict(config)
    kind = c.get("kind")
    if kind is None:
        if c.get("dataset") not in data.DATASETS:
            raise ValueError(f"config has dataset {c.get('dataset')!r} and no 'kind'; give a dataset "
                             f"from {', '.join(data.DATASETS)} or kind: binary, multiclass or regression")
        kind = data.DATASETS[c["dataset"]].kind
    if kind not in kinds.KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose binary, multiclass or regression")
    classes = c.get("classes") if kind == "multiclass" else (2 if kind == "binary" else None)
    loss = c.get("loss") or nn.losses_for(kind)[0]
    if loss not in nn.losses_for(kind):
        raise ValueError(f"loss {loss!r} does not fit a {kind} problem; choose one of: "
                         f"{', '.join(nn.losses_for(kind))}")
    features = data.check_features(c.get("features") or data.DEFAULT_FEATURES)
    activation = activations.get(c.get("activation", "tanh")).name
    optimizer = optim.get(c.get("optimizer", "sgd")).name
    reg = c.get("regularization") or "none"
    if reg not in ("none", "l1", "l2"):
        raise ValueError(f"unknown regularization {reg!r}; choose none, l1 or l2")
    return dict(kind=kind, classes=classes, loss=loss, features=features, activation=activation,
                hidden=[int(h) for h in c.get("hidden", [])], optimizer=optimizer,
                lr=float(c.get("lr", 0.03)), regularization=reg, reg_rate=float(c.get("reg_rate") or 0.0),
                seed=int(c.get("seed", 0)), batch_size=int(c.get("batch_size", c.get("batch", 10))),
                config=c)


def sample_batch(config: dict, rows: int = SNIPPET_ROWS):
    """The first ``rows`` training points (raw 2-D) and targets of the config's dataset, as the
    playground generates and splits it: the default batch of :func:`pytorch_code`."""
    c = _setup(config)
    cfg = c["config"]
    ds = data.make(cfg["dataset"], n=cfg.get("n_points", 500), noise=cfg.get("noise", 0.0),
                   seed=c["seed"], classes=c["classes"] if c["kind"] == "multiclass" else None)
    X, y, _, _ = data.split(ds, train_ratio=cfg.get("train_ratio", 0.5), seed=c["seed"])
    rows = max(1, min(rows, c["batch_size"], len(X)))
    return X[:rows], y[:rows]


def _num(v) -> str:
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"cannot export a non-finite number ({v}); reset or retrain the network first")
    return repr(v)


def _row(values) -> str:
    return "[" + ", ".join(_num(v) for v in values) + "]"


def _matrix(rows, indent: str | None) -> str:
    """Nested list literal; one row per line (with ``indent``) or all on one line."""
    rows = [_row(r) for r in rows]
    if indent is None:
        return "[" + ", ".join(rows) + "]"
    return "[\n" + "".join(f"{indent}    {r},\n" for r in rows) + f"{indent}]"


def pytorch_code(config: dict, model: nn.MLP | None = None, X=None, y=None, *,
                 evaluate: bool = False, decimals: int | None = SNIPPET_DECIMALS) -> str:
    """PyTorch code (a string) that builds the network of ``config`` as ``torch.nn.Sequential``.

    - ``config``: the playground's config dict (or `backlit train`'s): features, hidden, activation,
      loss, optimizer, lr, regularization, reg_rate, seed, and dataset (or kind) and classes.
    - ``model``: when given, its current weights are written inline, so torch computes exactly what
      backlit computes; otherwise the code seeds torch and uses torch's own initialisation.
    - ``X``, ``y``: raw 2-D points (n, 2) and their targets, written as literals; by default the first
      few training points of the config's dataset (:func:`sample_batch`).
    - ``evaluate``: False (the default) writes one training step on the batch (the explanation panel's
      10-15 lines, printing the loss that step minimised); True writes the predictions and the data
      loss on the points instead (the exported script).
    - ``decimals``: the training-step code rounds the batch to this many decimals, to keep it
      readable (the code then trains on the rounded points); None writes every float exactly. The
      exported script always writes them exactly.

    The code runs in float64 and prints ``loss <value>``; it needs only torch.
    """
    c = _setup(config)
    if X is None:
        if y is not None:
            raise ValueError("give both X and y, or neither")
        X, y = sample_batch(config)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if decimals is not None and not evaluate:
        X = np.round(X, decimals)
        y = np.round(y, decimals) if y.dtype.kind == "f" else y
    if X.ndim != 2 or X.shape[1] != 2 or len(y) != len(X) or len(X) == 0:
        raise ValueError(f"X must be raw points of shape (n, 2) with one target each; got X {X.shape}, "
                         f"y {y.shape}")
    kind, loss, features = c["kind"], c["loss"], c["features"]
    sizes = [len(features), *c["hidden"], kinds.get(kind).n_outputs(c["classes"])]
    acts = [c["activation"]] * len(c["hidden"])
    if model is not None:
        if list(model.sizes) != sizes:
            raise ValueError(f"the model's sizes {model.sizes} do not match the config's {sizes} "
                             f"(features {features}, hidden {c['hidden']})")
        sizes, acts = list(model.sizes), list(model.activations[:-1])
    out_act = model.activations[-1] if model is not None else None  # None: the output is the last Linear's

    script = evaluate  # the whole data set as literals: one row per line
    L = ["import torch", "from torch import nn"] + ([""] if script else [])
    L.append("torch.set_default_dtype(torch.float64)  # backlit computes in float64")
    rows = [activations.get(a) for a in acts]
    if out_act is not None and not activations.get(out_act).identity:
        rows.append(activations.get(out_act))
    for row in {r.name: r for r in rows if not r.torch_module}.values():  # torch has no module for it
        L.append(f"class {row.class_name}(nn.Module):  # backlit's {row.name}: {row.formula}\n"
                 f"    def forward(self, z):\n        return {_torch_expr(row)}")
    modules = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        modules.append(f"nn.Linear({a}, {b})")
        if k < len(rows):
            modules.append(rows[k].torch_module or f"{rows[k].class_name}()")
    if model is None:
        L.append(f"torch.manual_seed({c['seed']})  # torch's own initialisation, not backlit's")
    if script:
        L.append("model = nn.Sequential(\n" + "".join(f"    {m},\n" for m in modules) + ")")
    else:
        L.append(f"model = nn.Sequential({', '.join(modules)})")
    if model is not None:
        W = ",\n".join(f"    ({_matrix(lin.weight.data, '    ')},\n     {_row(lin.bias.data)})"
                       for lin in model.linears)
        L.append(f"weights = [  # (W, b) of each Linear layer, W is (out, in): backlit's current values\n{W},\n]")
        L.append("with torch.no_grad():\n"
                 "    for layer, (W, b) in zip([m for m in model if isinstance(m, nn.Linear)], weights):\n"
                 "        layer.weight.copy_(torch.tensor(W))\n"
                 "        layer.bias.copy_(torch.tensor(b))")
    if script:
        L.append("")
    what = f"{len(X)} points (x1, x2)" if script else f"a batch of {len(X)} points (x1, x2)"
    L.append(f"x = torch.tensor({_matrix(X, '' if script else None)})  # {what}")
    if features != ["x1", "x2"]:
        cols = ", ".join(_torch_feature(f) for f in features)
        L.append(f"x1, x2 = x[:, :1], x[:, 1:]; x = torch.cat([{cols}], dim=1)  # the input features")
    if nn.loss_class(loss).index_targets:
        L.append(f"y = torch.tensor({[int(v) for v in y]!r})  # class indices")
    else:
        L.append(f"y = torch.tensor({_row(y)})[:, None]  # " +
                 ("targets" if kind == "regression" else "labels 0/1"))
    if evaluate:
        L += ["", "with torch.no_grad():", "    out = model(x)",
              f"    loss = {_torch_loss(loss, 'out')}",
              'print("loss", loss.item())']
        if kind == "multiclass":
            L.append("pred = out.argmax(dim=1)")
        elif kind == "binary":
            L.append(f"pred = (out[:, 0] > {nn.loss_class(loss).threshold!r}).long()  # class 1 where the score is "
                     f"above {nn.loss_class(loss).threshold!r}")
        if kind == "regression":
            L.append('print("predictions", out[:, 0].tolist())')
        else:
            truth = "y" if kind == "multiclass" else "y[:, 0]"
            L += [f'print("accuracy", (pred == {truth}).double().mean().item())',
                  'print("predictions", pred.tolist())']
        return "\n".join(L) + "\n"
    L.append(f"opt = {optim.get(c['optimizer']).torch_code(c['lr'])}")
    L.append(f"loss = {_torch_loss(loss, 'model(x)')}")
    if c["regularization"] != "none" and c["reg_rate"] > 0:
        term = "m.weight.abs().sum()" if c["regularization"] == "l1" else "(m.weight ** 2).sum() / 2"
        L.append(f"loss = loss + {c['reg_rate']!r} * sum({term} for m in model if isinstance(m, nn.Linear))"
                 f"  # {c['regularization'].upper()}, weights only")
    L += ["opt.zero_grad()", "loss.backward()  # every p.grad is now dloss/dp", "opt.step()",
          'print("loss", loss.item())']
    return "\n".join(L) + "\n"


def _torch_expr(row) -> str:
    if not row.torch_expr:
        raise ValueError(f"activation {row.name!r} has no PyTorch spelling: give its registry row a torch_expr "
                         f"(a torch expression over z) or a torch_module")
    return row.torch_expr


def _torch_feature(name: str) -> str:
    row = data.FEATURES[name]
    if not row.torch:
        raise ValueError(f"feature {name!r} has no PyTorch spelling: give its registry row a torch "
                         f"expression over x1 and x2")
    return row.torch


def _torch_loss(name: str, out: str) -> str:
    row = nn.loss_class(name)
    if not row.torch:
        raise ValueError(f"loss {name!r} has no PyTorch spelling: give its registry class a torch "
                         f"expression of the outputs {{out}} and the targets y")
    return row.torch.format(out=out)


def pytorch_script(config: dict, model: nn.MLP, X, y) -> str:
    """The self-contained script of "Export -> PyTorch": the network with ``model``'s weights inline,
    the points ``X`` (raw, (n, 2)) and targets ``y`` inline; it prints the loss, the accuracy (for
    classification) and the predictions. A docstring at the top says what it is."""
    c = _setup(config)
    name = c["config"].get("dataset", "custom")
    head = (f'"""A backlit network exported to PyTorch: {c["kind"]} problem on {len(X)} points of '
            f'"{name}".\n\nNetwork {"-".join(map(str, model.sizes))}, activation {c["activation"]}, '
            f'loss {c["loss"]}, features {", ".join(c["features"])}.\nRun it with `python` (needs torch). '
            f'It prints the same loss as backlit.\n"""\n')
    return head + pytorch_code(config, model, X, y, evaluate=True)


# --------------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------------

ONNX_OPSET = 17


def onnx_model(model: nn.MLP, features=None, loss: str | None = None, dtype=np.float32):
    """An ``onnx.ModelProto`` of ``model``, checked with ``onnx.checker``.

    Input ``point`` (n, 2): raw points on the plane; the graph computes the ``features`` itself
    (Split, Mul, Sin, Concat), then one ``Gemm`` per layer (W stored (out, in), ``transB=1``) and its
    activation. Outputs: ``output`` (n, k), the raw network output, and for ``bce`` also
    ``probability`` (sigmoid) and for ``cross_entropy`` ``probabilities`` (softmax). Without
    ``features`` the input is the model's own input, named ``input``. The weights are stored in
    ``dtype`` (float32 by default, what every ONNX runtime supports). Every node is the one its
    registry row names (``onnx`` of the feature, the activation, the loss); a row without one raises
    ValueError saying so, before the onnx package is needed.
    """
    _check_onnx_rows(model, features)
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx (or backlit[export])") from None
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}[np.dtype(dtype)]
    nodes, inits = [], []
    if features is not None:
        features = data.check_features(features)
        if len(features) != model.sizes[0]:
            raise ValueError(f"the model takes {model.sizes[0]} inputs but {len(features)} features "
                             f"were given: {', '.join(features)}")
        inputs = [helper.make_tensor_value_info("point", elem, ["n", 2])]
        nodes.append(helper.make_node("Split", ["point"], ["x1", "x2"], axis=1, name="split_x1_x2"))
        cols = []
        for k, f in enumerate(features):
            op, *args = data.FEATURES[f].onnx
            out = f"feature{k}"
            nodes.append(helper.make_node(op, list(args), [out], name=out))
            cols.append(out)
        nodes.append(helper.make_node("Concat", cols, ["features"], axis=1, name="features"))
        h = "features"
    else:
        inputs = [helper.make_tensor_value_info("input", elem, ["n", model.sizes[0]])]
        h = "input"
    last = len(model.linears) - 1
    for k, (lin, act) in enumerate(zip(model.linears, model.activations)):
        W, b = f"W{k}", f"b{k}"
        inits += [numpy_helper.from_array(np.asarray(lin.weight.data, dtype=dtype), W),
                  numpy_helper.from_array(np.asarray(lin.bias.data, dtype=dtype), b)]
        steps = activations.get(act).onnx  # () for the identity
        z = "output" if k == last and not steps else f"z{k}"
        nodes.append(helper.make_node("Gemm", [h, W, b], [z], transB=1, name=f"linear{k}"))
        h = z
        for s, (op, attrs) in enumerate(steps):
            a = "output" if k == last and s == len(steps) - 1 else f"{act}{k}_{s}"
            nodes.append(helper.make_node(op, [h], [a], name=f"{act}{k}_{s}", **attrs))
            h = a
    outputs = [helper.make_tensor_value_info("output", elem, ["n", model.sizes[-1]])]
    if loss and nn.loss_class(loss).onnx:  # the node that reads the output as the loss does
        op, attrs, name = nn.loss_class(loss).onnx
        nodes.append(helper.make_node(op, ["output"], [name], name=name, **attrs))
        outputs.append(helper.make_tensor_value_info(name, elem, ["n", model.sizes[-1]]))
    graph = helper.make_graph(nodes, "backlit_mlp", inputs, outputs, inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                              producer_name="backlit", doc_string=f"backlit MLP {model.sizes}")
    proto.ir_version = 8  # what onnxruntime releases of the last few years all read
    meta = {"sizes": ",".join(map(str, model.sizes)), "activations": ",".join(model.activations),
            "features": ",".join(features or []), "loss": loss or ""}
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)  # with shape inference
    return proto


def _check_onnx_rows(model, features) -> None:
    for act in model.activations:
        if activations.get(act).onnx is None:
            raise ValueError(f"ONNX export: activation {act!r} has no ONNX node in its registry row "
                             f"(Activation.onnx); export to PyTorch instead, or give the row its nodes")
    for f in data.check_features(features) if features is not None else ():
        if data.FEATURES[f].onnx is None:
            raise ValueError(f"ONNX export: feature {f!r} has no ONNX node in its registry row "
                             f"(Feature.onnx); export to PyTorch instead, or give the row its node")


def onnx_bytes(model: nn.MLP, features=None, loss: str | None = None, dtype=np.float32) -> bytes:
    """The ``.onnx`` file of :func:`onnx_model`, as bytes (what "Export -> ONNX" downloads)."""
    return onnx_model(model, features, loss, dtype).SerializeToString()


__all__ = ["pytorch_code", "pytorch_script", "sample_batch", "onnx_model", "onnx_bytes"]
