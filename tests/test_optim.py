"""backlit.optim against torch.optim: same model, same data, 20 steps, float64, parameter for parameter."""

import numpy as np
import pytest
import torch

import backlit
from backlit import nn
from backlit.nn import optim

STEPS = 20


def make_pair(seed=0):
    """A backlit MLP and a PyTorch copy with identical float64 weights, plus a small regression set."""
    model = nn.MLP([2, 6, 5, 1], activation="tanh", seed=seed)
    torch_params = [torch.tensor(p.data.copy(), requires_grad=True) for p in model.parameters()]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 2))
    y = np.sin(X[:, :1]) + 0.5 * X[:, 1:] ** 2
    return model, torch_params, X, y


def torch_loss(params, X, y):
    h = torch.tensor(X)
    for k in range(0, len(params), 2):
        h = h @ params[k].T + params[k + 1]
        if k + 2 < len(params):
            h = torch.tanh(h)
    return ((h - torch.tensor(y)) ** 2).mean()


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.02)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.5, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.3)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_matches_torch_after_20_steps(name, kwargs):
    model, tparams, X, y = make_pair()
    opt = getattr(optim, name)(model.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch_loss(tparams, X, y)
        tloss.backward()
        topt.step()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-9)
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # it really trained
    assert opt.steps == STEPS
    for (pname, p), tp in zip(model.named_parameters(), tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{name} {kwargs} {pname}")


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_lr_is_mutable(name):
    model, tparams, X, y = make_pair(seed=1)
    opt = getattr(optim, name)(model.parameters(), lr=0.01)
    topt = getattr(torch.optim, name)(tparams, lr=0.01)
    for step in range(10):
        if step == 5:
            opt.lr = 0.03
            for group in topt.param_groups:
                group["lr"] = 0.03
        opt.zero_grad()
        nn.MSELoss()(model(X), y).backward()
        opt.step()
        topt.zero_grad()
        torch_loss(tparams, X, y).backward()
        topt.step()
    for p, tp in zip(model.parameters(), tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_step_updates_in_place_without_graph(name):
    model, _, X, y = make_pair()
    params = model.parameters()
    arrays = [p.data for p in params]
    before = [a.copy() for a in arrays]
    opt = getattr(optim, name)(params, lr=0.01, **({"momentum": 0.9} if name == "SGD" else {}))
    nn.MSELoss()(model(X), y).backward()
    grads = [p.grad.copy() for p in params]
    opt.step()
    for p, arr, old, g in zip(params, arrays, before, grads):
        assert p.data is arr  # same array, changed in place
        assert not np.array_equal(arr, old)
        np.testing.assert_array_equal(p.grad, g)  # gradients are left alone
        assert p.requires_grad
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_parameters_without_grad_are_skipped():
    a = backlit.tensor([1.0, 2.0], requires_grad=True)
    b = backlit.tensor([3.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])
    assert not np.array_equal(a.data, [1.0, 2.0])
    assert "step" not in opt.state[1]


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_state_dict_resumes_exactly(name):
    kwargs = {"lr": 0.02, "momentum": 0.9} if name != "Adam" else {"lr": 0.02}

    def run(model, opt, n):
        for _ in range(n):
            opt.zero_grad()
            nn.MSELoss()(model(X), y).backward()
            opt.step()

    m1, _, X, y = make_pair()
    o1 = getattr(optim, name)(m1.parameters(), **kwargs)
    run(m1, o1, 10)

    m2, _, _, _ = make_pair()
    o2 = getattr(optim, name)(m2.parameters(), **kwargs)
    run(m2, o2, 5)
    saved_model, saved_opt = m2.state_dict(), o2.state_dict()
    run(m2, o2, 3)  # wander off, then restore
    m3, _, _, _ = make_pair(seed=4)
    o3 = getattr(optim, name)(m3.parameters(), lr=1.0)
    m3.load_state_dict(saved_model)
    o3.load_state_dict(saved_opt)
    assert o3.lr == 0.02
    run(m3, o3, 5)
    for p, q in zip(m1.parameters(), m3.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_bad_arguments():
    p = [backlit.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError, match="lr"):
        optim.SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam(p, lr=float("nan"))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.Adam(p, betas=0.9)
    with pytest.raises(TypeError):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.make("lbfgs", p, lr=0.1)


def test_make_by_name():
    p = [backlit.tensor([1.0], requires_grad=True)]
    assert type(optim.make("sgd", p, 0.1)) is optim.SGD
    mom = optim.make("momentum", p, 0.1)
    assert isinstance(mom, optim.SGD) and mom.momentum == 0.9
    adam = optim.make("adam", p, 0.01, weight_decay=0.1)
    assert isinstance(adam, optim.Adam) and adam.lr == 0.01 and adam.weight_decay == 0.1
    assert isinstance(optim.make("rmsprop", p, 0.01), optim.RMSprop)
    assert repr(mom).startswith("SGD(lr=0.1, momentum=0.9")


# ---- AdamW and the learning-rate schedulers, against torch.optim for 50 steps -------------------------

bl = backlit


def _quadratic_run(make_bl, make_torch, steps=50, sched=None):
    """Minimise Σ (A w - b)² from the same start in backlit and torch; return both final weights and lrs."""
    rng = np.random.default_rng(0)
    A, b, w0 = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3)
    w = bl.tensor(w0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = make_bl([w]), make_torch([tw])
    s = ts = None
    if sched:
        s, ts = sched[0](opt), sched[1](topt)
    lrs, tlrs = [], []
    for _ in range(steps):
        loss = ((bl.tensor(A) @ w - bl.tensor(b)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = ((torch.tensor(A) @ tw - torch.tensor(b)) ** 2).sum()
        topt.zero_grad()
        tloss.backward()
        topt.step()
        if s:
            s.step()
            ts.step()
            lrs.append(s.get_last_lr()[0])
            tlrs.append(ts.get_last_lr()[0])
    return w.data, tw.detach().numpy(), lrs, tlrs


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1}, {"amsgrad": True, "weight_decay": 0.05}], ids=str)
def test_adamw_matches_torch(kw):
    w, tw, _, _ = _quadratic_run(lambda p: optim.AdamW(p, lr=0.05, **kw),
                                 lambda p: torch.optim.AdamW(p, lr=0.05, **kw))
    np.testing.assert_allclose(w, tw, rtol=1e-10, atol=1e-12)


def test_adamw_decay_differs_from_adam_l2():
    w, _, _, _ = _quadratic_run(lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.5),
                                lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.5))
    w2, _, _, _ = _quadratic_run(lambda p: optim.Adam(p, lr=0.05, weight_decay=0.5),
                                 lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.5))
    assert np.abs(w - w2).max() > 1e-3


@pytest.mark.parametrize("which", ["step", "cosine"])
def test_schedulers_match_torch(which):
    if which == "step":
        sched = (lambda o: optim.StepLR(o, step_size=7, gamma=0.5),
                 lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5))
    else:
        sched = (lambda o: optim.CosineAnnealingLR(o, T_max=20, eta_min=0.001),
                 lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.001))
    w, tw, lrs, tlrs = _quadratic_run(lambda p: optim.SGD(p, lr=0.02, momentum=0.9),
                                      lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9), sched=sched)
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(w, tw, rtol=1e-9, atol=1e-12)
