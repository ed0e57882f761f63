"""backlit.graph: the engine's recorded graph, drawn and stepped; checked against the engine and PyTorch."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import backlit as bl
import backlit.nn.functional as F
from backlit.lab import trace as explain
from backlit.lab.graph import _topological, neuron_graph, step_graph
from backlit import nn

torch = pytest.importorskip("torch")

X = np.array([0.5, -1.0])


def net(sizes=(2, 2, 1), activation="tanh", seed=0):
    return nn.MLP(list(sizes), activation=activation, seed=seed)


def by_label(g, label):
    (node,) = [n for n in g.nodes if n.label == label]
    return node


def torch_step(model, x, y):
    """The same 2-2-1 step in PyTorch: every intermediate's value and gradient."""
    Ws = [torch.tensor(l.weight.data, requires_grad=True) for l in model.linears]
    bs = [torch.tensor(l.bias.data, requires_grad=True) for l in model.linears]
    xt = torch.tensor(np.asarray(x).reshape(1, -1), requires_grad=True)
    a, seen = xt, {"x": xt}
    for k, (W, b, act) in enumerate(zip(Ws, bs, model.activations), start=1):
        z = a @ W.T + b
        z.retain_grad()
        a = torch.tanh(z) if act == "tanh" else z
        if act != "linear":
            a.retain_grad()
            seen[f"a{k}"] = a
        seen[f"z{k}"], seen[f"W{k}"], seen[f"b{k}"] = z, W, b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(a, torch.tensor([[float(y)]], dtype=torch.float64))
    loss.backward()
    return loss, seen


# ---- the op-level graph of one step -----------------------------------------------------------------

def test_step_graph_of_2_2_1_matches_engine_and_torch():
    model = net()
    g = step_graph(model, X, 1, loss="bce")
    # x, W1, b1, z1, a1, W2, b2, z2, y, loss: one node per tensor the engine recorded
    assert len(g.nodes) == 10 and len(g.edges) == 9
    ops = sorted(n.op for n in g.nodes if n.role == "op")
    assert ops == ["binary_cross_entropy_with_logits", "linear", "linear", "tanh"]
    # every node's parents are the engine's: rebuild the same step and walk it
    xt = bl.tensor(X.reshape(1, -1), requires_grad=True)
    (z1, a1), (z2, _) = model.forward_layers(xt)
    loss = F.binary_cross_entropy_with_logits(z2, bl.tensor([[1.0]]))
    assert len(_topological(loss)) == len(g.nodes)
    assert sum(len(t.parents) for t in _topological(loss)) == len(g.edges)

    tl, seen = torch_step(model, X, 1)
    assert by_label(g, "loss (bce)").value == pytest.approx(tl.item(), abs=1e-12)
    for label, key in [("x (input)", "x"), ("W1", "W1"), ("b1", "b1"), ("z1 = linear", "z1"),
                       ("a1 = tanh", "a1"), ("W2", "W2"), ("b2", "b2"), ("z2 = linear", "z2")]:
        node = by_label(g, label)
        np.testing.assert_allclose(node.value, seen[key].detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(node.grad, seen[key].grad.numpy(), atol=1e-12)
    assert by_label(g, "y (target)").grad is None          # a constant: no gradient, shown as "—"


def test_step_graph_leaves_parameter_grads_alone():
    model = net()
    sentinel = np.full((2, 2), 7.0)
    model.linears[0].weight.grad = sentinel
    step_graph(model, X, 0)
    assert model.linears[0].weight.grad is sentinel
    assert model.linears[1].weight.grad is None


def test_backward_steps_are_a_valid_reverse_topological_order():
    model = net((2, 3, 3, 1))
    g = step_graph(model, X, 1)
    order = g.backward
    assert len(order) == len(set(order))
    assert order[0] == g.root
    pos = {k: i for i, k in enumerate(order)}
    for e in g.edges:   # a consumer is always visited before the value it reads
        if e.source in pos:
            assert pos[e.target] < pos[e.source]
    # every node holding a gradient is visited; constants are not
    assert set(order) == {n.id for n in g.nodes if n.grad is not None}
    fpos = {k: i for i, k in enumerate(g.forward)}
    for e in g.edges:
        if e.source in fpos:
            assert fpos[e.source] < fpos[e.target]


def test_arrivals_sum_to_the_engine_gradient_and_sends_are_the_op_vjp():
    model = net((2, 3, 1))
    g = step_graph(model, X, 1)
    sent = {}
    for s in g.steps:
        node = g.nodes[s.node]
        if s.arrivals:
            np.testing.assert_allclose(sum(v for _, v in s.arrivals), node.grad, atol=1e-12)
            assert {c for c, _ in s.arrivals} == {e.target for e in g.edges if e.source == s.node}
        for p, slot, local, product in s.sends:
            sent[(s.node, p)] = product
            if local is not None:      # elementwise or scalar: product = local derivative × upstream
                np.testing.assert_allclose(local * s.grad, product, atol=1e-12)
    # the activation's local derivative is tanh' = 1 - tanh², read from the engine's rule
    a1 = by_label(g, "a1 = tanh")
    (_, _, local, _), = [t for t in next(s for s in g.steps if s.node == a1.id).sends]
    np.testing.assert_allclose(local, 1 - a1.value ** 2, atol=1e-12)
    # what a node sends arrives, unchanged, at its input
    for s in g.steps:
        for c, v in s.arrivals:
            np.testing.assert_allclose(sent[(c, s.node)], v)


def test_fan_out_shows_two_contributions_that_sum_to_the_final_gradient():
    # micrograd's classic: a value feeding two consumers
    a = bl.tensor(2.0, requires_grad=True)
    b = bl.tensor(-3.0, requires_grad=True)
    c = a * b
    d = c + c.tanh()
    L = d * d
    g = bl.graph(L, backward=True, names={a: "a", b: "b", c: "c"})
    node = by_label(g, "c")
    step = next(s for s in g.steps if s.node == node.id)
    assert len(step.arrivals) == 2
    total = sum(v for _, v in step.arrivals)
    ta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    tc = ta * tb
    tc.retain_grad()
    td = tc + torch.tanh(tc)
    (td * td).backward()
    assert float(total) == pytest.approx(tc.grad.item(), rel=1e-12)
    assert float(node.grad) == pytest.approx(tc.grad.item(), rel=1e-12)
    assert float(by_label(g, "a").grad) == pytest.approx(ta.grad.item(), rel=1e-12)
    # d = d * d: one node, two slots, both contributions arrive from the same consumer
    dnode = next(s for s in g.steps if s.node == g.root)
    assert len(dnode.sends) == 2 and dnode.sends[0][0] == dnode.sends[1][0]


def test_l2_penalty_makes_each_weight_fan_out():
    model = net()
    g = step_graph(model, X, 1, regularization="l2", reg_rate=0.1)
    W1 = by_label(g, "W1")
    step = next(s for s in g.steps if s.node == W1.id)
    assert len(step.arrivals) == 2
    # the engine's own gradient of the same objective
    model.zero_grad()
    out = model(bl.tensor(X.reshape(1, -1)))
    obj = F.binary_cross_entropy_with_logits(out, bl.tensor([[1.0]])) + 0.1 * nn.penalty(
        [l.weight for l in model.linears], "l2")
    obj.backward()
    np.testing.assert_allclose(sum(v for _, v in step.arrivals), model.linears[0].weight.grad, atol=1e-12)
    # the penalty's contribution is reg_rate * W (l2 is 0.5 Σ w²)
    contributions = [v for _, v in step.arrivals]
    assert any(np.allclose(v, 0.1 * W1.value) for v in contributions)


def test_graph_shows_every_gradient_after_backward_and_leaves_the_grads_alone():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).sum()
    g = bl.graph(y)
    assert g.steps == [] and all(n.grad is None for n in g.nodes)   # before backward: "—", never 0
    assert all(n["text"]["grad"] == "—" for n in g.to_dict()["nodes"])
    y.backward()
    held = x.grad.copy()
    g = bl.graph(y)
    np.testing.assert_allclose(by_label(g, "parameter").grad, [3.0, 3.0])
    # intermediate nodes too: d(sum)/d(x*3) = 1, and the root's own 1
    assert [n.grad.tolist() for n in g.nodes if n.role == "op"] == [[1.0, 1.0], 1.0]
    assert x.grad is not None and np.array_equal(x.grad, held)            # the caller's .grad untouched


def test_backward_true_after_backward_doubles_nothing():
    x = bl.tensor([1.0, 2.0], requires_grad=True)
    e = (x * 2).sum()
    e.backward()
    g = bl.graph(e, backward=True)
    np.testing.assert_allclose(x.grad, [2.0, 2.0])                        # as the caller left it
    np.testing.assert_allclose(by_label(g, "parameter").grad, [2.0, 2.0])  # this pass alone
    g = bl.graph(e, backward=True)
    np.testing.assert_allclose(x.grad, [2.0, 2.0])
    assert sum(float(np.sum(v)) for _, v in g.steps[-1].arrivals) == pytest.approx(4.0)


def test_an_earlier_backward_left_in_grad_does_not_show_in_the_graph():
    """The graph's gradients are its root's alone, even when the caller forgot to zero .grad."""
    model = nn.MLP([2, 3, 1], activation="tanh", seed=0)
    lf = nn.loss_function("bce")
    X, Y = np.array([[0.5, -1.0]]), np.array([[1.0]])
    lf(model(X), bl.tensor(Y)).backward()           # a stale gradient left behind
    loss = lf(model(X), bl.tensor(Y))
    loss.backward()                                  # .grad now holds twice the true gradient
    g = bl.graph(loss, model=model)
    p = 1 / (1 + np.exp(-float(model(X).data.ravel()[0])))
    assert by_label(g, "b2").grad.ravel()[0] == pytest.approx(p - 1.0)  # ∂L/∂b2 = p − y
    assert model.linears[1].bias.grad.ravel()[0] == pytest.approx(2 * (p - 1.0))
    labels = {n.label for n in g.nodes if n.role == "param"}
    assert labels == {"W1", "b1", "W2", "b2"}
    svg = g.to_svg()
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    for text in root.iterfind(".//s:text", ns):       # every label fits inside its 168 px box
        size = float(text.get("font-size"))
        assert len(text.text) * 0.6 * size <= 168 - 16 + 1e-9, text.text


# ---- the neuron zoom --------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_neuron_zoom_gradients_equal_the_trace(activation):
    model = net((2, 3, 2, 1), activation=activation, seed=3)
    tr = explain.trace(model, X, 1, loss="bce")
    for layer, lt in enumerate(tr.layers):
        for i in range(lt.weight.shape[0]):
            g = neuron_graph(tr, layer, i)
            # the playground's names: W{l}[i,j] and b{l}[i], counted from 1
            ws = sorted((n for n in g.nodes if n.label.startswith(f"W{layer + 1}[{i + 1},") and n.role == "param"),
                        key=lambda n: int(n.label.split(",")[1].rstrip("]")))
            np.testing.assert_allclose([float(n.grad) for n in ws], lt.grad_W[i], atol=1e-12)
            b = by_label(g, f"b{layer + 1}[{i + 1}]")
            assert float(b.grad) == pytest.approx(float(lt.grad_b[i]), abs=1e-12)
            z = by_label(g, "z = Σ + b")
            assert float(z.value) == pytest.approx(float(lt.z[i]), abs=1e-12)
            assert float(z.grad) == pytest.approx(float(lt.delta[i]), abs=1e-12)
            # micrograd's picture: n products, n-1 additions, + b, the activation
            n_in = lt.weight.shape[1]
            ops = [n.op for n in g.nodes if n.role == "op"]
            assert ops.count("mul") == n_in and ops.count("add") == n_in
            assert (activation in ops) == (lt.activation != "linear")


def test_neuron_zoom_needs_one_sample():
    model = net()
    tr = explain.trace(model, np.array([X, -X]), [1, 0], loss="bce")
    with pytest.raises(ValueError, match="one sample"):
        neuron_graph(tr, 0, 0)


# ---- output -------------------------------------------------------------------------------------------

def test_svg_parses_and_has_a_node_per_tensor(tmp_path):
    model = net()
    g = step_graph(model, X, 1)
    svg = g._repr_svg_()
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    nodes = [e for e in root.iter(f"{ns}g") if e.get("class") == "node"]
    assert len(nodes) == len(g.nodes)
    assert sorted(e.get("data-op") for e in nodes if e.get("data-op")) == sorted(
        n.op for n in g.nodes if n.role == "op")
    assert all(e.find(f"{ns}title") is not None for e in nodes)
    assert len([e for e in root.iter(f"{ns}path") if e.get("class") == "edge"]) == len(g.edges)
    g.save(tmp_path / "g.svg")
    ET.parse(tmp_path / "g.svg")
    g.save(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=".svg or .png"):
        g.save(tmp_path / "g.pdf")


def test_to_dict_is_json_and_laid_out_without_overlap():
    model = net((2, 8, 8, 8, 1))
    d = step_graph(model, X, 1).to_dict()
    json.dumps(d, allow_nan=False)
    w, h = d["node_size"]
    boxes = [(n["x"], n["y"]) for n in d["nodes"]]
    for i, (x0, y0) in enumerate(boxes):
        assert w / 2 <= x0 <= d["width"] - w / 2 and h / 2 <= y0 <= d["height"] - h / 2
        for x1, y1 in boxes[i + 1:]:
            assert abs(x0 - x1) >= w or abs(y0 - y1) >= h
    for e in d["edges"]:   # left to right: an input sits in an earlier column than its consumer
        assert d["nodes"][e["source"]]["x"] < d["nodes"][e["target"]]["x"]
    assert d["backward"][0]["node"] == d["root"]
    assert d["nodes"][0]["value"]["shape"] == [1, 2]


def test_long_chain_is_iterative():
    x = bl.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    g = bl.graph(y, backward=True)
    assert len(g.nodes) == 3000 * 2 + 1 and len(g.steps) == 3001
    assert float(g.nodes[0].grad) == pytest.approx(1.0001 ** 3000)
