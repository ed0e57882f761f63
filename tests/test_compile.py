"""backlit.compile: a recorded step, replayed, equals the eager step to the last bit (float64)."""

import importlib.util
import pathlib

import numpy as np
import pytest

import backlit as bl
from backlit import functional as F
from backlit import nn, optim

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "benchmarks" / "engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()


def workload_step(w, params0):
    """The benchmark's W1/W2/W2g step (forward, loss, backward, SGD) as a function of one batch."""
    params = [bl.tensor(p, requires_grad=True, dtype=w["dtype"]) for p in params0]
    layers = list(zip(params[0::2], params[1::2]))
    act, kind, l2, lr = w["act"], w["loss"], w["l2"], w["lr"]
    last = len(layers) - 1

    def step(x, y):
        h = x
        for i, (W, b) in enumerate(layers):
            h = h @ W.T + b if kind == "mse" else F.linear(h, W, b)
            if i < last:
                h = h.relu() if act == "relu" else h.tanh()
        if kind == "hinge":
            loss = F.hinge_loss(h, y)
        elif kind == "bce":
            loss = F.binary_cross_entropy_with_logits(h, y)
        else:
            loss = ((h - y) ** 2).mean()
        if l2:
            loss = loss + l2 * F.l2_penalty(params)
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        return loss

    return step, params


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", ["W1", "W2", "W2g"])
def test_compiled_workload_equals_eager_bit_for_bit(name):
    w = BENCH.workload(name, quick=True)
    params0 = BENCH.init_params(w["sizes"], w["dtype"], seed=1)
    eager, pe = workload_step(w, params0)
    step, pc = workload_step(w, params0)
    compiled = bl.compile(step)
    # W1 is one full batch: feed it shuffled copies too, so a replay that kept the first batch fails
    rng = np.random.default_rng(0)
    batches = w["batches"] if len(w["batches"]) > 1 else [
        (x[order], y[order]) for x, y in w["batches"] for order in (np.arange(len(x)), rng.permutation(len(x)))]
    for k in range(60):
        x, y = batches[k % len(batches)]
        le = eager(bl.tensor(x), bl.tensor(y))
        lc = compiled(bl.tensor(x), bl.tensor(y))
        assert same_bits(le.data, lc.data), (k, le.item(), lc.item())
        for a, b in zip(pe, pc):
            assert same_bits(a.data, b.data) and same_bits(a.grad, b.grad), k
    assert compiled.stats["replays"] >= 50 and compiled.stats["eager"] == 0
    assert "matmul" in compiled.source and "Tensor" not in compiled.source  # flat numpy calls


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-wd": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "dampening": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adam-wd": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "rmsprop-centered-momentum": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}


def model_step(opt_name, seed=0):
    model = nn.MLP([2, 6, 5, 1], activation="tanh", seed=seed)
    opt = OPTIMIZERS[opt_name](model.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, model, opt


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_every_optimizer_compiled_equals_eager(opt_name):
    eager, me, oe = model_step(opt_name)
    step, mc, oc = model_step(opt_name)
    compiled = bl.compile(step)
    rng = np.random.default_rng(1)
    for k in range(25):
        X = rng.normal(size=(16, 2))
        y = np.sin(X[:, :1]) + 0.5 * X[:, 1:] ** 2
        le, lc = eager(bl.tensor(X), bl.tensor(y)), compiled(bl.tensor(X), bl.tensor(y))
        assert same_bits(le.data, lc.data), k
        for a, b in zip(me.parameters(), mc.parameters()):
            assert same_bits(a.data, b.data), k
    assert oe.steps == oc.steps == 25
    for se, sc in zip(oe.state, oc.state):  # the optimizer's state too: buffers and step counts
        assert se.keys() == sc.keys()
        for key in se:
            assert same_bits(se[key], sc[key]) if isinstance(se[key], np.ndarray) else se[key] == sc[key]
    assert compiled.stats["replays"] >= 20, compiled.reasons


def test_a_shape_change_records_again_and_says_so():
    eager, me, _ = model_step("adam")
    step, mc, _ = model_step("adam")
    compiled = bl.compile(step)
    rng = np.random.default_rng(2)
    sizes = [16] * 6 + [5] * 6 + [16] * 4
    for n in sizes:
        X = rng.normal(size=(n, 2))
        y = X[:, :1] * X[:, 1:]
        assert same_bits(eager(bl.tensor(X), bl.tensor(y)).data, compiled(bl.tensor(X), bl.tensor(y)).data)
    for a, b in zip(me.parameters(), mc.parameters()):
        assert same_bits(a.data, b.data)
    changed = [r for r in compiled.reasons if "argument 0" in r]
    assert changed and "(16, 2)" in changed[0] and "(5, 2)" in changed[0], compiled.reasons
    # back to 16 rows: the earlier recording is replayed, not made again
    assert not any("(5, 2) to tensor of shape (16, 2)" in r for r in compiled.reasons)
    assert compiled.stats["replays"] >= 6


def test_a_new_network_records_again():
    holder = {}

    def build(seed):
        holder["model"] = nn.MLP([2, 4, 1], activation="tanh", seed=seed)
        holder["opt"] = optim.SGD(holder["model"].parameters(), lr=0.1)

    def step(x, y):
        model, opt = holder["model"], holder["opt"]
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = bl.compile(step)
    X = np.random.default_rng(3).normal(size=(8, 2))
    y = X[:, :1] ** 2
    build(0)
    for _ in range(5):
        compiled(bl.tensor(X), bl.tensor(y))
    build(1)
    before = [p.data.copy() for p in holder["model"].parameters()]
    loss = compiled(bl.tensor(X), bl.tensor(y))
    after = [p.data for p in holder["model"].parameters()]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "the new network did not train"
    ref = nn.MLP([2, 4, 1], activation="tanh", seed=1)
    assert np.isclose(loss.item(), F.mse_loss(ref(bl.tensor(X)), bl.tensor(y)).item(), rtol=0, atol=0)


def test_a_value_read_into_python_runs_eagerly_and_says_why():
    step, model, opt = model_step("sgd")
    eager, me, _ = model_step("sgd")
    seen = []

    def leaky(x, y):
        loss = step(x, y)
        seen.append(loss.item())  # a Python float out of the step: the recorder cannot replay it
        return loss

    def leaky_eager(x, y):
        loss = eager(x, y)
        seen.append(loss.item())
        return loss

    compiled = bl.compile(leaky)
    X = np.random.default_rng(4).normal(size=(8, 2))
    y = X[:, :1]
    for _ in range(4):
        assert same_bits(compiled(bl.tensor(X), bl.tensor(y)).data, leaky_eager(bl.tensor(X), bl.tensor(y)).data)
    assert len(seen) == 8
    assert compiled.stats["replays"] == 0
    assert any("eager" in r and ".item()" in r for r in compiled.reasons), compiled.reasons


def test_a_random_draw_inside_the_step_is_not_baked_in():
    model = nn.MLP([2, 4, 1], activation="tanh", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(5)

    def noisy(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x + rng.normal(size=x.shape)), y)
        loss.backward()
        opt.step()
        return loss

    compiled = bl.compile(noisy)
    X = np.zeros((8, 2))
    losses = [compiled(bl.tensor(X), bl.tensor(X[:, :1])).item() for _ in range(6)]
    assert len(set(losses)) == 6
    assert any("differ" in r for r in compiled.reasons), compiled.reasons
    assert compiled.stats["replays"] == 0


def test_a_learning_rate_change_is_followed():
    eager, me, oe = model_step("sgd")
    step, mc, oc = model_step("sgd")
    compiled = bl.compile(step)
    X = np.random.default_rng(6).normal(size=(8, 2))
    y = X[:, :1]
    for k in range(12):
        if k == 6:
            oe.lr = oc.lr = 0.01
        assert same_bits(eager(bl.tensor(X), bl.tensor(y)).data, compiled(bl.tensor(X), bl.tensor(y)).data)
    for a, b in zip(me.parameters(), mc.parameters()):
        assert same_bits(a.data, b.data)
    assert any("optimizer" in r for r in compiled.reasons), compiled.reasons


@pytest.mark.parametrize("config", [{}, {"dataset": "spiral", "hidden": [8, 8], "optimizer": "adam",
                                         "regularization": "l2", "reg_rate": 0.001},
                                    {"dataset": "blobs", "optimizer": "momentum"}])
def test_the_playground_trains_with_the_compiled_step_to_the_same_bits(config):
    from backlit.playground.session import Playground

    compiled, eager = Playground(config), Playground(config)
    eager.learner.trainer._compiled = eager.learner.trainer._step_body  # the same step, run eagerly
    for _ in range(40):
        assert same_bits(compiled._train_step(), eager._train_step())
    for a, b in zip(compiled.model.parameters(), eager.model.parameters()):
        assert same_bits(a.data, b.data)
    step = compiled.learner.trainer._compiled
    assert step.stats["replays"] >= 30, step.reasons


@pytest.mark.parametrize("config", [{}, {"dataset": "spiral", "hidden": [8, 8], "activation": "relu"},
                                    {"dataset": "blobs"}])
def test_the_playgrounds_training_set_pass_replayed_equals_the_trace(config):
    from backlit.lab import trace as explain
    from backlit.playground.session import Playground

    pg = Playground(config)
    pg.playing = True
    for _ in range(6):
        pg.train_for(1.0, max_steps=1)
        loss, output, *rest = pg.learner._pass(pg.model, bl.tensor(pg.Xf_train), pg.T_train, pg.loss_name)
        L = len(pg.model.linears)
        tr = explain.trace(pg.model, pg.Xf_train, pg.y_train, loss=pg.loss_name)
        assert same_bits(loss, np.asarray(tr.loss)) and same_bits(output, tr.output)
        for l, lt in enumerate(tr.layers):
            assert same_bits(rest[l], lt.z) and same_bits(rest[L + l], lt.a) and same_bits(rest[2 * L + l], lt.delta)
            assert same_bits(rest[3 * L + l], lt.grad_W) and same_bits(rest[4 * L + l], lt.grad_b)
        assert all(p.grad is None or p.grad.shape == p.data.shape for p in pg.model.parameters())
    assert pg.learner._pass.stats["replays"] >= 3, pg.learner._pass.reasons
