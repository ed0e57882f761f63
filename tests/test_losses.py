"""The loss registry's rows take torch's options: each module against its torch twin (float64 and
float32, value and gradient), and each option is in the row the playground and export read."""

import numpy as np
import pytest
import torch

import backlit as bl
from backlit import nn

_R = np.random.default_rng(4)
LOGITS = _R.standard_normal((6, 3))
CLASSES = np.array([0, 2, 1, 2, 0, 1])
BITS = (_R.random((6, 3)) > 0.5).astype(float)
WEIGHT = np.array([0.5, 2.0, 1.0])

# (backlit module, torch module, targets): the same options spelled the same way
ROWS = [
    (lambda: nn.CrossEntropyLoss(label_smoothing=0.2), lambda d: torch.nn.CrossEntropyLoss(label_smoothing=0.2),
     CLASSES),
    (lambda: nn.CrossEntropyLoss(weight=WEIGHT, ignore_index=1, reduction="sum"),
     lambda d: torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT, dtype=d), ignore_index=1, reduction="sum"),
     CLASSES),
    (lambda: nn.CrossEntropyLoss(reduction="none"), lambda d: torch.nn.CrossEntropyLoss(reduction="none"), CLASSES),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=WEIGHT), lambda d: torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor(WEIGHT, dtype=d)), BITS),
    (lambda: nn.BCEWithLogitsLoss(reduction="sum"), lambda d: torch.nn.BCEWithLogitsLoss(reduction="sum"), BITS),
    (lambda: nn.BCEWithLogitsLoss(weight=WEIGHT, pos_weight=WEIGHT[::-1].copy()), lambda d: torch.nn.BCEWithLogitsLoss(
        weight=torch.tensor(WEIGHT, dtype=d), pos_weight=torch.tensor(WEIGHT[::-1].copy(), dtype=d)), BITS),
    (lambda: nn.MSELoss(reduction="none"), lambda d: torch.nn.MSELoss(reduction="none"), BITS),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("row", range(len(ROWS)))
def test_loss_modules_with_options_match_torch(row, dtype):
    make, make_torch, targets = ROWS[row]
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    x = bl.tensor(LOGITS, requires_grad=True, dtype=dtype)
    t = torch.tensor(LOGITS, requires_grad=True, dtype=tdtype)
    ty = torch.tensor(targets) if targets.dtype.kind == "i" else torch.tensor(targets, dtype=tdtype)
    out, tout = make()(x, targets), make_torch(tdtype)(t, ty)
    assert out.dtype == dtype and out.shape == tuple(tout.shape)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    v = _R.standard_normal(out.shape)
    (out * bl.tensor(v, dtype=dtype)).sum().backward()
    (tout * torch.tensor(v, dtype=tdtype)).sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=tol, atol=tol)
    if dtype == np.float64:
        assert bl.gradcheck(lambda a: make()(a, targets).sum(), bl.tensor(LOGITS, requires_grad=True))


def test_the_rows_list_their_options_for_the_page_and_export():
    rows = {cls.name: cls.to_dict() for cls in nn.LOSSES.values()}
    ce = {o["name"]: o for o in rows["cross_entropy"]["options"]}
    assert set(ce) == {"weight", "ignore_index", "label_smoothing"}
    assert ce["ignore_index"]["default"] == -100 and ce["label_smoothing"]["default"] == 0.0
    assert all(o["label"] and o["doc"] for o in ce.values())
    assert [o["name"] for o in rows["bce"]["options"]] == ["weight", "pos_weight"]
    assert rows["mse"]["options"] == [] and rows["hinge"]["options"] == []
    # each listed default is torch's
    import inspect
    torch_defaults = inspect.signature(torch.nn.functional.cross_entropy).parameters
    assert all(torch_defaults[name].default == o["default"] for name, o in ce.items())
    bce_defaults = inspect.signature(torch.nn.functional.binary_cross_entropy_with_logits).parameters
    assert all(bce_defaults[o["name"]].default == o["default"] for o in rows["bce"]["options"])


def test_a_loss_refuses_an_option_it_does_not_take():
    with pytest.raises(TypeError, match="label_smoothing.*pos_weight="):
        nn.BCEWithLogitsLoss(label_smoothing=0.1)
    with pytest.raises(TypeError, match="no options"):
        nn.MSELoss(weight=[1.0])
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


def test_a_weight_tensor_is_not_a_parameter_of_the_loss():
    loss = nn.CrossEntropyLoss(weight=bl.tensor(WEIGHT))
    assert loss.parameters() == []
    assert np.isfinite(loss(bl.tensor(LOGITS), CLASSES).item())


def test_default_modules_keep_the_fused_nodes():
    x = bl.tensor(LOGITS, requires_grad=True)
    assert nn.get_loss("cross_entropy")(x, CLASSES).op == "cross_entropy"
    assert nn.get_loss("bce")(x, BITS).op == "binary_cross_entropy_with_logits"
