"""backlit.nn: parameter discovery, state, repr, initialisation, and MLP forward/backward vs PyTorch."""

import numpy as np
import pytest
import torch

import backlit
from backlit import nn

ACT_TORCH = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.01),
}


def torch_forward(model, x):
    """The same network in PyTorch (float64), built from the backlit model's weights."""
    params = [torch.tensor(t.data, dtype=torch.float64, requires_grad=True)
              for t in model.parameters()]
    h = x
    for k, act in enumerate(model.activations):
        W, b = params[2 * k], params[2 * k + 1]
        h = ACT_TORCH[act](h @ W.T + b)
    return h, params


# -- parameter discovery ------------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self):
        self.scale = backlit.tensor([1.0, 2.0], requires_grad=True)
        self.layers = [nn.Linear(2, 3, seed=0), nn.Linear(3, 1, seed=1)]
        self.heads = {"a": nn.Linear(1, 1, seed=2), "b": [backlit.tensor([[3.0]], requires_grad=True)]}
        self.inner = nn.Sequential(nn.Linear(1, 2, seed=3), nn.Tanh())
        self.name = "block"  # plain values are ignored
        self.table = np.ones(3)  # numpy arrays are not parameters
        self._cache = backlit.tensor([9.0])  # private attributes are not walked


def test_named_parameters_walks_attributes_lists_and_dicts():
    names = [n for n, _ in Block().named_parameters()]
    assert names == [
        "scale",
        "layers.0.weight", "layers.0.bias",
        "layers.1.weight", "layers.1.bias",
        "heads.a.weight", "heads.a.bias",
        "heads.b.0",
        "inner.0.weight", "inner.0.bias",
    ]
    m = Block()
    assert [id(t) for t in m.parameters()] == [id(t) for _, t in m.named_parameters()]
    assert m.num_parameters() == 2 + 9 + 4 + 2 + 1 + 4


def test_shared_parameter_listed_once_and_cycles_are_safe():
    m = nn.Module()
    lin = nn.Linear(2, 2, seed=0)
    m.a = lin
    m.b = [lin, lin.weight]
    m.me = [m]  # a reference cycle must not loop forever
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "a.bias"]


def test_named_modules_lists_every_sub_module_once_with_its_path():
    names = [(n, type(m).__name__) for n, m in Block().named_modules()]
    assert names == [("", "Block"), ("layers.0", "Linear"), ("layers.1", "Linear"),
                     ("heads.a", "Linear"), ("inner", "Sequential"), ("inner.0", "Linear"),
                     ("inner.1", "Tanh")]


def test_sequential_names_and_forward():
    seq = nn.Sequential(nn.Linear(2, 4, seed=0), nn.ReLU(), nn.Linear(4, 1, seed=1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    x = np.random.default_rng(0).normal(size=(5, 2))
    expected = np.maximum(x @ seq[0].weight.data.T + seq[0].bias.data, 0)
    expected = expected @ seq[2].weight.data.T + seq[2].bias.data
    np.testing.assert_allclose(seq(backlit.tensor(x)).data, expected, rtol=1e-12)


def test_zero_grad_clears_every_gradient():
    m = nn.MLP([2, 3, 1], seed=0)
    m(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


# -- state dicts ---------------------------------------------------------------------------------


def test_state_dict_is_a_copy_and_round_trips():
    a, b = nn.MLP([2, 5, 3], seed=0), nn.MLP([2, 5, 3], seed=1)
    state = a.state_dict()
    assert list(state) == ["linears.0.weight", "linears.0.bias", "linears.1.weight", "linears.1.bias"]
    a.linears[0].weight.data[0, 0] += 100.0  # later changes do not leak into the snapshot
    assert state["linears.0.weight"][0, 0] != a.linears[0].weight.data[0, 0]
    arrays_before = [id(p.data) for p in b.parameters()]
    b.load_state_dict(state)
    assert [id(p.data) for p in b.parameters()] == arrays_before  # loaded in place
    for name, p in b.named_parameters():
        np.testing.assert_array_equal(p.data, state[name])
    x = np.random.default_rng(0).normal(size=(4, 2))
    a.load_state_dict(state)
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_errors_are_clear_and_change_nothing():
    m = nn.MLP([2, 3, 1], seed=0)
    before = m.state_dict()
    bad = dict(before)
    bad["linears.1.weight"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"linears\.1\.weight.*\(2, 3\).*\(1, 3\)"):
        m.load_state_dict(bad)
    del bad["linears.1.weight"]
    with pytest.raises(ValueError, match=r"missing linears\.1\.weight"):
        m.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"unexpected extra"):
        m.load_state_dict({**before, "extra": np.zeros(1)})
    bad = dict(before, **{"linears.0.bias": np.full(3, 7.0), "linears.1.bias": "abc"})
    with pytest.raises(ValueError, match=r"linears\.1\.bias"):
        m.load_state_dict(bad)
    for name, p in m.named_parameters():  # nothing was half-written
        np.testing.assert_array_equal(p.data, before[name])
    m.load_state_dict({"linears.0.bias": np.zeros(3)}, strict=False)
    np.testing.assert_array_equal(m.linears[0].bias.data, 0.0)


# -- repr ----------------------------------------------------------------------------------------


def test_repr_reads_like_pytorch():
    assert repr(nn.Linear(2, 8, seed=0)) == \
        "Linear(in_features=2, out_features=8, bias=True, init='uniform')"
    assert repr(nn.Tanh()) == "Tanh()"
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.MLP([2, 8, 1], output_activation="sigmoid")) == (
        "MLP(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True, init='xavier')\n"
        "  (1): Tanh()\n"
        "  (2): Linear(in_features=8, out_features=1, bias=True, init='xavier')\n"
        "  (3): Sigmoid()\n"
        ")"
    )
    seq = repr(nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU()))
    assert seq.splitlines() == [
        "Sequential(",
        "  (0): Linear(in_features=2, out_features=3, bias=True, init='uniform')",
        "  (1): ReLU()",
        ")",
    ]
    text = repr(Block())
    assert "(layers.0): Linear(in_features=2, out_features=3" in text
    assert "(heads.a): Linear(in_features=1" in text
    assert "  (inner): Sequential(\n    (0): Linear(" in text  # nested modules are indented


# -- initialisation ------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["uniform", "xavier", "he"])
def test_init_statistics(init):
    n_in, n_out = 300, 200
    lin = nn.Linear(n_in, n_out, init=init, seed=0)
    w, b = lin.weight.data, lin.bias.data
    assert w.shape == (n_out, n_in) and b.shape == (n_out,)
    assert w.dtype == np.float64 and lin.weight.requires_grad and lin.bias.requires_grad
    assert abs(w.mean()) < 0.02 * w.std()  # about 5 standard errors
    if init == "uniform":
        assert w.min() >= -0.5 and w.max() <= 0.5
        assert w.min() < -0.49 and w.max() > 0.49
        assert w.var() == pytest.approx(1 / 12, rel=0.02)
        np.testing.assert_array_equal(b, 0.1)
    elif init == "xavier":
        a = np.sqrt(6 / (n_in + n_out))
        assert w.min() >= -a and w.max() <= a and w.max() > 0.98 * a
        assert w.var() == pytest.approx(a * a / 3, rel=0.02)
        np.testing.assert_array_equal(b, 0.0)
    else:
        assert w.std() == pytest.approx(np.sqrt(2 / n_in), rel=0.02)
        assert abs(((w - w.mean()) ** 3).mean()) / w.std() ** 3 < 0.05  # symmetric, normal-ish
        assert ((w - w.mean()) ** 4).mean() / w.var() ** 2 == pytest.approx(3.0, rel=0.05)
        np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("init", ["uniform", "xavier", "he"])
def test_init_is_seeded(init):
    same = [nn.Linear(4, 3, init=init, seed=7).weight.data for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.array_equal(same[0], nn.Linear(4, 3, init=init, seed=8).weight.data)
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(nn.Linear(4, 3, init=init, rng=rng1).weight.data,
                                  nn.Linear(4, 3, init=init, rng=rng2).weight.data)
    # a shared generator advances, so consecutive layers differ
    assert not np.array_equal(nn.Linear(4, 3, init=init, rng=rng1).weight.data, same[0])


def test_mlp_seeding_and_bad_arguments():
    a, b, c = nn.MLP([2, 4, 1], seed=3), nn.MLP([2, 4, 1], seed=3), nn.MLP([2, 4, 1], seed=4)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.linears[0].weight.data, c.linears[0].weight.data)
    with pytest.raises(ValueError, match="init"):
        nn.Linear(2, 2, init="zeros")
    with pytest.raises(ValueError, match="init"):
        nn.MLP([2, 2], init="glorot")
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 3, 1], activation="swish")
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([2, 3, 1], output_activation="softmax")
    with pytest.raises(ValueError, match="2 hidden layers but 1"):
        nn.MLP([2, 3, 3, 1], activation=["tanh"])
    for sizes in ([2], [2, 0, 1], [2, -1], [2, 1.5], [2, "a", 1], [2, True]):
        with pytest.raises(ValueError, match="sizes"):
            nn.MLP(sizes)


# -- MLP against PyTorch -------------------------------------------------------------------------


def test_mlp_attributes():
    m = nn.MLP([2, 8, 6, 3], activation=["relu", "sigmoid"], output_activation=None, seed=1)
    assert m.sizes == [2, 8, 6, 3]
    assert len(m.linears) == 3 and all(isinstance(l, nn.Linear) for l in m.linears)
    assert [l.weight.shape for l in m.linears] == [(8, 2), (6, 8), (3, 6)]
    assert m.activations == ["relu", "sigmoid", "linear"]
    assert nn.MLP([2, 4, 1], activation="tanh", output_activation="sigmoid").activations == \
        ["tanh", "sigmoid"]
    assert nn.MLP([3, 1]).activations == ["linear"]  # no hidden layer: a linear model


@pytest.mark.parametrize("sizes, activation, output_activation, init", [
    ([2, 8, 8, 1], "tanh", None, "xavier"),
    ([2, 5, 1], "relu", "sigmoid", "he"),
    ([3, 4, 4, 4, 2], ["leaky_relu", "sigmoid", "linear"], None, "uniform"),
    ([2, 6, 3], "leaky_relu", "tanh", "xavier"),
    ([4, 1], "tanh", None, "uniform"),
])
def test_mlp_forward_and_gradients_match_pytorch(sizes, activation, output_activation, init):
    model = nn.MLP(sizes, activation=activation, output_activation=output_activation, seed=2,
                   init=init)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, sizes[0]))
    target = rng.normal(size=(7, sizes[-1]))

    xb = backlit.tensor(x, requires_grad=True)
    out = model(xb)
    loss = ((out - target) ** 2).mean()
    loss.backward()

    xt = torch.tensor(x, requires_grad=True)
    out_t, params_t = torch_forward(model, xt)
    loss_t = ((out_t - torch.tensor(target)) ** 2).mean()
    loss_t.backward()

    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert loss.item() == pytest.approx(loss_t.item(), rel=1e-12)
    for (name, p), pt in zip(model.named_parameters(), params_t):
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(xb.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_forward_layers_keeps_z_and_a():
    model = nn.MLP([2, 4, 3, 1], activation="tanh", output_activation="sigmoid", seed=5)
    x = np.random.default_rng(1).normal(size=(6, 2))
    layers = model.forward_layers(x)
    assert len(layers) == 3
    h = x
    for (z, a), lin, act in zip(layers, model.linears, model.activations):
        zt = h @ lin.weight.data.T + lin.bias.data
        np.testing.assert_allclose(z.data, zt, rtol=1e-12)
        np.testing.assert_allclose(a.data, ACT_TORCH[act](torch.tensor(zt)).numpy(), rtol=1e-12)
        h = a.data
    np.testing.assert_allclose(layers[-1][1].data, model(x).data, rtol=1e-14)
    linear_out = nn.MLP([2, 3, 1], seed=0).forward_layers(x)[-1]
    assert linear_out[0] is linear_out[1]


def test_mlp_names_the_input_width_it_expects():
    m = nn.MLP([3, 4, 1], seed=0)
    for forward in (m, m.forward_layers):
        with pytest.raises(ValueError, match=r"takes 3 input\(s\) per sample.*got shape \(5, 2\)"):
            forward(np.zeros((5, 2)))


def test_mlp_accepts_numpy_and_lists():
    m = nn.MLP([2, 3, 1], seed=0)
    x = [[0.5, -1.0], [2.0, 0.0]]
    np.testing.assert_array_equal(m(x).data, m(backlit.tensor(x)).data)
    assert isinstance(m(np.array(x)), backlit.Tensor)


def test_activation_modules_match_pytorch():
    x = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    t = torch.tensor(x)
    cases = [(nn.Tanh(), torch.tanh(t)), (nn.ReLU(), torch.relu(t)),
             (nn.Sigmoid(), torch.sigmoid(t)), (nn.Identity(), t),
             (nn.LeakyReLU(), torch.nn.functional.leaky_relu(t, 0.01)),
             (nn.LeakyReLU(0.2), torch.nn.functional.leaky_relu(t, 0.2))]
    for module, expected in cases:
        np.testing.assert_allclose(module(backlit.tensor(x)).data, expected.numpy(), rtol=1e-14)
    assert [type(nn.activation_module(n)).__name__ for n in nn.ACTIVATIONS] == \
        ["Tanh", "ReLU", "Sigmoid", "Identity", "LeakyReLU"]


# -- losses --------------------------------------------------------------------------------------


def test_loss_modules_match_pytorch():
    rng = np.random.default_rng(3)
    TF = torch.nn.functional
    s = rng.normal(size=(8, 1)) * 3
    y01 = rng.integers(0, 2, size=(8, 1)).astype(np.float64)
    logits = rng.normal(size=(8, 4))
    labels = rng.integers(0, 4, size=8)
    cases = [
        (nn.MSELoss(), s, y01, lambda a: TF.mse_loss(a, torch.tensor(y01))),
        (nn.BCEWithLogitsLoss(), s, y01,
         lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y01))),
        (nn.CrossEntropyLoss(), logits, labels, lambda a: TF.cross_entropy(a, torch.tensor(labels))),
        (nn.HingeLoss(), s, y01,
         lambda a: torch.clamp(1 - torch.tensor(2 * y01 - 1) * a, min=0).mean()),
        (nn.HingeLoss(), s, 2 * y01 - 1,
         lambda a: torch.clamp(1 - torch.tensor(2 * y01 - 1) * a, min=0).mean()),
    ]
    for module, pred, target, torch_loss in cases:
        p = backlit.tensor(pred, requires_grad=True)
        loss = module(p, target)
        loss.backward()
        pt = torch.tensor(pred, requires_grad=True)
        lt = torch_loss(pt)
        lt.backward()
        assert loss.shape == ()
        assert loss.item() == pytest.approx(lt.item(), rel=1e-12), type(module).__name__
        np.testing.assert_allclose(p.grad, pt.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert isinstance(nn.get_loss("cross_entropy"), nn.CrossEntropyLoss)
    with pytest.raises(ValueError, match="unknown loss"):
        nn.get_loss("kl")


def test_penalty_covers_weights_not_biases():
    m = nn.MLP([2, 3, 1], seed=0, init="uniform")
    W = [l.weight.data for l in m.linears]
    assert nn.penalty(m, "l1").item() == pytest.approx(sum(np.abs(w).sum() for w in W))
    l2 = nn.penalty(m, "l2")
    assert l2.item() == pytest.approx(0.5 * sum((w ** 2).sum() for w in W))
    l2.backward()
    np.testing.assert_allclose(m.linears[0].weight.grad, W[0])  # d(0.5 w^2)/dw = w
    assert m.linears[0].bias.grad is None or not np.any(m.linears[0].bias.grad)
    with pytest.raises(ValueError):
        nn.penalty(m, "l3")


def test_float32_models_stay_float32():
    m = nn.MLP([2, 4, 1], seed=0, dtype=np.float32)
    assert all(p.data.dtype == np.float32 for p in m.parameters())
    out = m(np.ones((3, 2)))
    assert out.data.dtype == np.float32
    ref = nn.MLP([2, 4, 1], seed=0)
    np.testing.assert_allclose(out.data, ref(np.ones((3, 2))).data, rtol=1e-5)


def test_forward_layers_on_a_tensor_passes_gradients_back_to_the_input():
    model = nn.MLP([2, 3, 1], activation="relu", seed=1, init="uniform")
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    xb = backlit.tensor(x, requires_grad=True)
    layers = model.forward_layers(xb)
    layers[-1][1].sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    out_t, _ = torch_forward(model, xt)
    out_t.sum().backward()
    np.testing.assert_allclose(xb.grad, xt.grad.numpy(), rtol=1e-12)
