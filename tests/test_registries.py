"""The registries the library, the CLI and the page are built from: one entry each, used everywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import backlit as bl
from backlit.nn import activations
from backlit.lab import data, trace as explain, kinds
from backlit import nn
from backlit.playground import settings
from backlit.playground.session import Playground

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "backlit" / "web"


@pytest.fixture
def softsign():
    """A toy activation, registered for one test: f(z) = z / (1 + |z|), from engine ops only."""
    act = activations.register(activations.Activation(
        "softsign", "Softsign", lambda z: z / (1 + z.abs()), "f(z) = z / (1 + |z|)",
        "f′(z) = 1 / (1 + |z|)²", True))
    yield act
    del activations.ACTIVATIONS["softsign"]


def test_a_registered_activation_works_everywhere(softsign):
    # the library
    model = nn.MLP([2, 3, 1], activation="softsign", seed=0)
    assert "softsign" in nn.ACTIVATIONS and type(nn.activation_module("softsign")).__name__ == "_Activation"
    # the settings: a valid choice, with its label and formulas in the schema the page builds from
    pg = Playground({"activation": "softsign", "dataset": "xor"})
    schema = pg.state(schema=True)["schema"]
    row = next(r for r in schema["settings"] if r["name"] == "activation")
    assert "softsign" in row["choices"] and row["labels"]["softsign"] == "Softsign"
    entry = next(a for a in schema["activations"] if a["name"] == "softsign")
    assert entry["fprime"] == "f′(z) = 1 / (1 + |z|)²" and entry["bounded"] is True
    # the step recorder: its f'(z) is the engine's derivative, and the gradients match torch's
    tr = pg._trace()
    z = np.asarray(tr.layers[0].z)
    np.testing.assert_allclose(tr.f_prime(0)[0], 1 / (1 + np.abs(z)) ** 2, rtol=1e-12)
    W0 = torch.tensor(pg.model.linears[0].weight.data, requires_grad=True)
    b0 = torch.tensor(pg.model.linears[0].bias.data, requires_grad=True)
    x = torch.tensor(tr.inputs)[None]
    h = x @ W0.T + b0
    h = h / (1 + h.abs())
    for lin in pg.model.linears[1:]:
        h = h @ torch.tensor(lin.weight.data).T + torch.tensor(lin.bias.data)
        h = h / (1 + h.abs()) if lin is not pg.model.linears[-1] else h
    y = torch.tensor([[float(pg.y_train[pg.selected])]], dtype=torch.float64)
    torch.nn.functional.binary_cross_entropy_with_logits(h, y).backward()
    np.testing.assert_allclose(tr.layers[0].grad_W, W0.grad.numpy(), rtol=1e-10, atol=1e-14)
    # the inspector's neuron reply carries it
    assert pg.neuron(0, 0)[0]["activation"] == "softsign"
    assert model(bl.tensor([[1.0, -1.0]])).shape == (1, 1)


def test_losses_per_kind_come_from_the_loss_registry():
    for kind in kinds.KINDS.values():
        allowed = kind.losses()
        assert allowed and all(kind.name in nn.LOSSES[name].kinds for name in allowed)
    assert kinds.get("binary").losses()[0] == "bce"
    assert settings.resolve_config(settings.default_config(), {"dataset": "blobs"})["loss"] == "cross_entropy"


def test_kind_display_and_predict_agree_with_the_losses():
    out = np.array([[-2.0], [0.3], [4.0]])
    b = kinds.get("binary")
    np.testing.assert_allclose(b.display(out, "bce"), 1 / (1 + np.exp(-out)), rtol=1e-12)
    assert b.predict(out, "bce").tolist() == [0, 1, 1]
    assert b.predict(out, "mse").tolist() == [0, 0, 1]  # threshold 0.5 for a score regressed onto 0/1
    logits = np.array([[1.0, 2.0, 0.5]])
    p = kinds.get("multiclass").display(logits)
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(logits), -1).numpy(), rtol=1e-12)
    # the trace's prediction is the loss's reading of the output, the same function
    model = nn.MLP([2, 3, 3], seed=0)
    tr = explain.trace(model, [0.5, -1.0], 2, loss="cross_entropy")
    np.testing.assert_allclose(tr.prediction, kinds.get("multiclass").display(tr.output), rtol=1e-12)


def test_schema_carries_every_registry_and_is_json():
    schema = settings.schema()
    json.dumps(schema, allow_nan=False)
    assert [a["name"] for a in schema["activations"]] == list(activations.ACTIVATIONS)
    assert {l["name"] for l in schema["losses"]} == set(nn.LOSSES)
    assert all(l["delta"].startswith("δ") for l in schema["losses"])
    assert schema["extent"] == list(data.EXTENT)
    assert len(schema["palette"]["classes"]) >= 5
    assert [p["level"] for p in schema["paces"]] == list(range(1, len(schema["paces"]) + 1))
    assert schema["paces"][-1]["steps_per_second"] is None


# Where a registry name is also a word of the page with another meaning (checked by hand):
OTHER_MEANINGS = {
    ("js/rail.js", "linear"): "the loss chart's axis scale (linear or log), not the activation",
    ("js/dataedit.js", "x1"): "the point editor's raw-coordinate field, not the feature",
    ("js/dataedit.js", "x2"): "the point editor's raw-coordinate field, not the feature",
}


def _as_literal(value: str, text: str) -> bool:
    """Whether ``value`` is written in ``text`` as a whole JS/HTML string literal: 'v', "v" or `v`."""
    return re.search(r"(['\"`])" + re.escape(value) + r"\1", text) is not None


def test_the_page_holds_no_domain_table():
    """Nothing the schema sends of a registry (activations, losses, optimizers, features, datasets,
    settings, palette, extent) is written into the page: no name or label as a literal, no formula
    anywhere. The page gets them from the schema, so a new row needs no page edit."""
    schema = settings.schema()
    files = {p.relative_to(WEB).as_posix(): p.read_text(encoding="utf-8") for p in sorted(WEB.rglob("*"))
             if p.suffix in (".html", ".js")}
    assert "<option" not in files["index.html"]
    whole, anywhere = set(), set()
    for registry in ("activations", "losses", "optimizers", "features"):
        for row in schema[registry]:
            whole.update(v for k, v in row.items() if k in ("name", "label", "long_label") and v)
            anywhere.update(v for k, v in row.items() if k in ("formula", "fprime", "delta", "doc") and v)
    whole.update(d["label"] for d in schema["datasets"])
    anywhere.update(d["description"] for d in schema["datasets"])
    anywhere.update(f"url: '{s['url']}'" for s in schema["settings"])
    anywhere.update(", ".join(f"{v:.10f}".rstrip("0").rstrip(".") for v in s["stops"][:3])
                    for s in schema["settings"] if len(s.get("stops", ())) > 2)  # a copied menu of stops
    anywhere.update(c for c in schema["palette"]["classes"])
    assert len(whole) > 30 and len(anywhere) > 30
    found = sorted((f, v) for f, text in files.items() for v in whole
                   if _as_literal(v, text) and (f, v) not in OTHER_MEANINGS)
    assert not found, f"registry names or labels written into the page: {found}"
    found = sorted((f, v) for f, text in files.items() for v in anywhere if v in text)
    assert not found, f"registry formulas, settings or colours written into the page: {found}"
    js = "\n".join(t for f, t in files.items() if f.endswith(".js"))
    assert not re.search(r"\b6\s*\*\s*2\b|extent\s*=\s*6\b", js)
    # the check can fail: a menu written into the page is caught
    assert "Tanh" in whole and _as_literal("Tanh", "const MENU = ['Tanh', \"ReLU\"];")
    assert "bce" in whole and _as_literal("bce", "if (t.loss === `bce`) x();")


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_each_dataset_offers_a_network_that_solves_it(name):
    """The 'network that can solve this' suggestion reaches its goal within the steps a minute of the
    default pace allows (95% test accuracy; a small test loss for regression)."""
    from backlit.playground import pacing
    budget = int(60 * pacing.BY_LEVEL[pacing.DEFAULT_LEVEL].steps_per_second)
    pg = Playground({"dataset": name, **data.DATASETS[name].solver})
    for step in range(1, budget + 1):
        pg._train_step()
        if step % 50 == 0:
            m = pg.metrics()
            if (m["test_acc"] or 0) >= 0.95 or (m["test_acc"] is None and m["test_loss"] < 0.05):
                return
    pytest.fail(f"{name}: {pg.metrics()} after {budget} steps")


def test_protocol_doc_settings_table_is_the_registry():
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in doc, "regenerate it with backlit.playground.settings.markdown_table()"
