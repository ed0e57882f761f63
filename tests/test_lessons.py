"""The course (backlit.lessons): every answer key against PyTorch, every task against a scripted learner,
the feedback on typical mistakes, and the course's messages through the session and the protocol."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from backlit.playground import lessons, pacing
from backlit.playground.lessons import LESSONS, Choice, Do, Goal, Links, Number
from backlit.playground.session import Playground
from backlit.server import protocol as P
from backlit.playground.settings import ProtocolError

torch = pytest.importorskip("torch")
WEB = Path(__file__).resolve().parents[1] / "src" / "backlit" / "web"
DEFAULT_SPS = pacing.BY_LEVEL[pacing.DEFAULT_LEVEL].steps_per_second
MINUTE_OF_STEPS = int(60 * DEFAULT_SPS)


def send(pg, type_, **payload):
    return pg.handle(P.validate({"type": type_, **payload}))


def opened(name, step=0) -> Playground:
    pg = Playground()
    send(pg, "lesson_open", lesson=name, step=step)
    return pg


def steps_of(kind):
    return [(les.name, k) for les in LESSONS.values() for k, st in enumerate(les.steps) if isinstance(st.check, kind)]


# ---- the registry --------------------------------------------------------------------------------------
def test_the_course_has_the_issues_lessons_in_order():
    names = list(LESSONS)
    assert len(names) >= 12
    order = ["slope", "chain-rule", "forward-pass", "output-delta", "hidden-delta", "blame", "update", "batch",
             "training", "scale", "deep", "input-grad", "physics", "symmetry", "pytorch"]
    assert [n for n in names if n in order] == order
    for les in LESSONS.values():
        assert les.title and les.goal and les.steps
        assert les.steps[0].setup is not None, f"{les.name}: its first step sets the page up"
        for st in les.steps:
            assert st.words and st.action and set(st.show) <= set(lessons.REGIONS)


def test_every_region_is_marked_on_the_page():
    html = (WEB / "index.html").read_text(encoding="utf-8")
    marked = set(re.findall(r'data-region="([\w-]+)"', html))
    assert marked == set(lessons.REGIONS)
    for name, (_, opener) in lessons.REGIONS.items():
        if opener:
            assert f'id="{opener}"' in html


def test_the_schema_carries_no_answer():
    """The page gets words, prompts and choices; no key, no worked line, no reason why."""
    pg = Playground()
    first = send(pg, "hello")[0]          # what a page gets first: the state, with the schema
    assert [les["name"] for les in first["schema"]["course"]["lessons"]] == list(LESSONS)
    sent = json.dumps(first["schema"]["course"], ensure_ascii=False)
    for name, k in steps_of(Choice):
        check = LESSONS[name].steps[k].check
        assert "correct" not in sent
        for _, why in check.options:
            assert why not in sent
    for name, k in steps_of(Number):
        pg = opened(name, k)
        check = LESSONS[name].steps[k].check
        msg = pg.course.message(pg)
        assert check.worked(pg) not in sent + json.dumps(msg, ensure_ascii=False)
        assert all(not math.isclose(v, check.key(pg), rel_tol=1e-9) for _, v in msg["givens"]) or name in ("scale", "chain-rule")


# ---- answer keys against torch -------------------------------------------------------------------------
def hand_oracle(pg):
    """The 2-2-1 network's numbers for the selected sample, from PyTorch (float64)."""
    W1 = torch.tensor(pg.model.linears[0].weight.data, requires_grad=True)
    b1 = torch.tensor(pg.model.linears[0].bias.data, requires_grad=True)
    W2 = torch.tensor(pg.model.linears[1].weight.data, requires_grad=True)
    b2 = torch.tensor(pg.model.linears[1].bias.data, requires_grad=True)
    x = torch.tensor(pg.X_train[pg.selected], dtype=torch.float64)
    y = torch.tensor([float(pg.y_train[pg.selected])], dtype=torch.float64)

    def loss_at(w20):
        W = W2.detach().clone()
        W[0, 0] = w20
        z = W @ torch.tanh(W1.detach() @ x + b1.detach()) + b2.detach()
        return float(torch.nn.functional.binary_cross_entropy_with_logits(z, y))

    z1 = W1 @ x + b1
    z1.retain_grad()
    a1 = torch.tanh(z1)
    z2 = W2 @ a1 + b2
    z2.retain_grad()
    L = torch.nn.functional.binary_cross_entropy_with_logits(z2, y)
    L.backward()
    lr = pg.config["lr"]
    w, h = float(W2[0, 0].detach()), 1e-2
    fd = (float(f"{loss_at(w + h):.6g}") - float(f"{loss_at(w - h):.6g}")) / (2 * h)
    return {"z1": z1.detach().numpy(), "a1": a1.detach().numpy(), "p": float(torch.sigmoid(z2).detach()), "L": float(L.detach()),
            "d2": float(z2.grad[0]), "d1": z1.grad.numpy(), "gW1": W1.grad.numpy(), "gW2": W2.grad.numpy(),
            "lr": lr, "W2": W2.detach().numpy(), "fd": fd}


HAND_KEYS = {
    ("slope", 0): lambda o: o["fd"],
    ("forward-pass", 0): lambda o: o["z1"][0],
    ("forward-pass", 1): lambda o: o["a1"][0],
    ("forward-pass", 2): lambda o: o["p"],
    ("output-delta", 0): lambda o: o["L"],
    ("output-delta", 1): lambda o: o["d2"],
    ("hidden-delta", 0): lambda o: o["d1"][0],
    ("hidden-delta", 1): lambda o: o["d1"][1],
    ("blame", 0): lambda o: o["gW2"][0, 0],
    ("blame", 1): lambda o: o["gW1"][1, 1],
    ("update", 0): lambda o: o["W2"][0, 0] - o["lr"] * o["gW2"][0, 0],
    ("pytorch", 1): lambda o: o["gW1"][0, 0],
}


def torch_key(name, k, pg):
    if (name, k) in HAND_KEYS:
        return HAND_KEYS[(name, k)](hand_oracle(pg))
    if name == "chain-rule":
        a = torch.tensor(lessons.CHAIN["a"], dtype=torch.float64, requires_grad=True)
        b = torch.tensor(lessons.CHAIN["b"], dtype=torch.float64, requires_grad=True)
        ((a + b) * (b + 1)).backward()
        return [float(a.grad), float(b.grad)][k]
    if name == "physics":
        v = torch.tensor(lessons.THROW["v"], dtype=torch.float64, requires_grad=True)
        th = torch.tensor(lessons.THROW["theta"], dtype=torch.float64, requires_grad=True)
        y, vy = torch.zeros((), dtype=torch.float64), v * torch.sin(th)
        for _ in range(lessons.THROW["steps"]):
            y, vy = y + vy * lessons.THROW["dt"], vy - lessons.THROW["g"] * lessons.THROW["dt"]
        y.backward()
        return float(v.grad)
    if name == "symmetry":
        W = torch.tensor(lessons.symmetry_net()["W"][0])
        return float(W @ torch.tensor(lessons.SYMMETRIC_PATTERN, dtype=torch.float64))
    if name == "scale":
        net = torch.nn.Sequential(*[torch.nn.Linear(a, b) for a, b in zip(pg.sizes, pg.sizes[1:])])
        return 2 * sum(p.numel() for p in net.parameters())
    raise AssertionError(f"no torch twin for {name} step {k}")


def torch_batch_grad(pg):
    """∂L/∂W_1[0, 0] of the mean loss of the first three training samples, in PyTorch."""
    params = [torch.tensor(p.data, requires_grad=True) for lin in pg.model.linears for p in (lin.weight, lin.bias)]
    h = torch.tensor(pg.Xf_train[:3])
    acts = pg.model.activations
    for l in range(len(pg.model.linears)):
        h = h @ params[2 * l].T + params[2 * l + 1]
        if acts[l] == "tanh":
            h = torch.tanh(h)
    y = torch.tensor(pg.y_train[:3], dtype=torch.float64)[:, None]
    torch.nn.functional.binary_cross_entropy_with_logits(h, y).backward()
    return float(params[2].grad[0, 0])


@pytest.mark.parametrize("name,k", steps_of(Number))
def test_every_typed_answer_key_matches_torch(name, k):
    pg = opened(name, k)
    check = LESSONS[name].steps[k].check
    key = check.key(pg)
    want = torch_batch_grad(pg) if name == "batch" else torch_key(name, k, pg)
    assert key == pytest.approx(want, rel=1e-10, abs=1e-10)
    # ... and what the learner types from the givens on screen (6 digits) is graded right
    verdict = send(pg, "lesson_answer", answer=float(f"{key:.6g}"))[-1]["feedback"]
    assert verdict["correct"], verdict
    assert k in pg.course.done[name]


def test_the_slope_by_finite_differences_agrees_with_backprop():
    pg = opened("slope")
    o = hand_oracle(pg)
    assert o["fd"] == pytest.approx(o["gW2"][0, 0], rel=2e-3)


def test_the_hidden_delta_answers_are_the_recorders_chain_rule():
    """δ(h) = f′(z)·w·δ(output) from the givens, as the trace's blame writes it."""
    pg = opened("hidden-delta")
    tr = pg._trace()
    for i in range(2):
        b = tr.blame(0, i, 0)
        assert LESSONS["hidden-delta"].steps[i].check.key(pg) == pytest.approx(b.delta, rel=1e-12)
        assert b.delta == pytest.approx(b.f_prime * b.sum, rel=1e-12)


@pytest.mark.parametrize("name,k", steps_of(Links))
def test_the_orange_links_are_those_torch_says_the_loss_wants_larger(name, k):
    pg = opened(name, k)
    check = LESSONS[name].steps[k].check
    g = hand_oracle(pg)["gW1" if check.layer == 0 else "gW2"]
    want = sorted(f"{i},{j}" for i in range(g.shape[0]) for j in range(g.shape[1]) if g[i, j] < 0)
    assert sorted(check.key(pg)) == want and 0 < len(want) < g.size
    msg = pg.course.message(pg)
    assert [o[0] for o in msg["options"]] == [f"{i},{j}" for i in range(2) for j in range(2)]
    wrong = send(pg, "lesson_answer", answer=[o[0] for o in msg["options"] if o[0] not in want])[-1]["feedback"]
    assert not wrong["correct"] and wrong["mistake"] == "wrong sign"
    assert send(pg, "lesson_answer", answer=want)[-1]["feedback"]["correct"]


def test_the_symmetry_network_learned_the_papers_solution():
    net = lessons.symmetry_net()
    W = net["W"]
    assert net["accuracy"] == 1.0
    assert np.allclose(W, -W[:, ::-1], rtol=0.02, atol=0.05 * np.abs(W).max())  # mirror pairs cancel
    for row in W:
        half = np.abs(row[:3])[np.argsort(np.abs(row[:3]))]
        assert half[1] / half[0] == pytest.approx(2, rel=0.05) and half[2] / half[1] == pytest.approx(2, rel=0.05)


# ---- feedback on the typical mistakes -----------------------------------------------------------------
@pytest.mark.parametrize("name,k", steps_of(Number))
def test_each_typical_mistake_is_named_then_hinted_then_worked(name, k):
    pg = opened(name, k)
    check = LESSONS[name].steps[k].check
    key, tol = check.key(pg), check.tolerance(pg)
    named = [(m, v) for m, _, v in check.mistakes(pg) if abs(v - key) > tol]
    assert named or name == "symmetry", "each exercise names at least one mistake"
    for attempt, (mistake, value) in enumerate(named, start=1):
        fb = send(pg, "lesson_answer", answer=float(value))[-1]["feedback"]
        assert not fb["correct"]
        first = next(m for m, _, v in check.mistakes(pg) if abs(v - value) <= tol and abs(v - key) > tol)
        assert fb["mistake"] == first
        assert (fb["hint"] is not None) == (attempt >= 2)
        assert (fb["worked"] is not None) == (attempt >= 3)
    assert k not in pg.course.done.get(name, set())
    fb = send(pg, "lesson_answer", answer=float(key) + 50 * tol + 1.0)[-1]["feedback"]
    assert not fb["correct"] and fb["hint"] is not None or len(named) == 0


def test_the_usual_mistakes_of_the_network_lessons_are_all_there():
    names = {m for name, k in steps_of(Number) for m, _, _ in LESSONS[name].steps[k].check.mistakes(opened(name, k))}
    assert {"wrong sign", "forgot f′(z)", "wrong neuron's a", "forgot the learning rate",
            "summed instead of multiplied"} <= names


def test_a_wrong_choice_says_why_and_the_right_one_is_done():
    for name, k in steps_of(Choice):
        pg = opened(name, k)
        check = LESSONS[name].steps[k].check
        wrong = (check.correct + 1) % len(check.options)
        fb = send(pg, "lesson_answer", answer=wrong)[-1]["feedback"]
        assert not fb["correct"] and check.options[wrong][1] in fb["message"]
        assert send(pg, "lesson_answer", answer=check.correct)[-1]["feedback"]["correct"]
        assert k in pg.course.done[name]


# ---- tasks, with a scripted learner ------------------------------------------------------------------
def run_solution(pg, step) -> None:
    for type_, payload in step.solution:
        if type_ in lessons.PAGE_EVENTS:
            send(pg, "lesson_event", event=type_)
        else:
            send(pg, type_, **payload)


def steps_to_goal(pg, name, k, limit=MINUTE_OF_STEPS) -> int:
    """Optimizer steps until the goal is met, ticked as the server ticks at the default pace."""
    ran = 0
    while k not in pg.course.done.get(name, set()) and ran < limit:
        pg.train_for(10.0, max_steps=int(DEFAULT_SPS // 2))  # half a second's worth per frame
        ran += int(DEFAULT_SPS // 2)
        pg.lesson_poll()
        if pg.diverged:
            pg.lesson_poll()
            break
    return ran


@pytest.mark.parametrize("name,k", steps_of(Goal))
def test_every_task_goal_is_reached_by_a_scripted_learner_within_a_minute(name, k):
    pg = opened(name, k)
    assert k not in pg.course.done.get(name, set()), "the goal is not met before the learner acts"
    assert pg.lesson_poll() == [] or pg.lesson_poll()[0]["progress"]
    run_solution(pg, LESSONS[name].steps[k])
    ran = steps_to_goal(pg, name, k)
    assert k in pg.course.done.get(name, set()), f"{name} step {k}: not reached in {ran} steps"
    assert ran <= MINUTE_OF_STEPS


def test_without_the_solution_the_deep_sigmoid_network_does_not_reach_its_goal():
    pg = opened("deep")
    send(pg, "play")
    steps_to_goal(pg, "deep", 0, limit=1000)
    assert 0 not in pg.course.done.get("deep", set())


@pytest.mark.parametrize("name,k", steps_of(Do))
def test_every_action_step_is_done_by_its_action_and_not_before(name, k):
    pg = opened(name, k)
    assert k not in pg.course.done.get(name, set())
    run_solution(pg, LESSONS[name].steps[k])
    assert k in pg.course.done.get(name, set())


def test_a_condition_on_the_action_is_checked_by_the_server():
    """The overshoot step wants an update that raised the sample's loss: a small learning rate's is not."""
    pg = opened("update", 2)
    send(pg, "set", config={"lr": 0.001})
    send(pg, "apply_update")
    assert 2 not in pg.course.done.get("update", set())
    send(pg, "set", config={"lr": 1.0})
    out = send(pg, "apply_update")
    assert any(m.get("type") == "update" and m["overshot"] for m in out)
    assert out[-1]["type"] == "lesson" and 2 in out[-1]["done"]["update"]


# ---- answers stay on the server ----------------------------------------------------------------------
def test_while_an_exercise_is_open_its_answer_is_not_sent():
    pg = opened("blame")
    out = send(pg, "select", index=pg.selected)
    assert [m["type"] for m in out] == ["selection", "lesson"]  # the trace (every δ and ∂L/∂w) is withheld
    for type_, payload in (("check", {"layer": 1, "i": 0, "j": 0}), ("blame", {"layer": 1, "i": 0, "j": 0}),
                           ("export", {"format": "worked"}), ("graph", {})):
        with pytest.raises(ProtocolError, match="answer the exercise first"):
            send(pg, type_, **payload)
    send(pg, "lesson_answer", answer=LESSONS["blame"].steps[0].check.key(pg))
    assert [m["type"] for m in send(pg, "select", index=pg.selected)] == ["selection", "trace"]


# ---- messages: validated before anything changes --------------------------------------------------------
def test_bad_lesson_messages_change_nothing():
    pg = opened("blame")
    before = (dict(pg.config), pg.course.lesson, pg.course.step, pg.course.progress())
    for msg in ({"type": "lesson_open", "lesson": "nope"}, {"type": "lesson_open", "lesson": "blame", "step": 99},
                {"type": "lesson_open", "lesson": 3}, {"type": "lesson_answer", "answer": "0.5"},
                {"type": "lesson_answer", "answer": float("nan")}, {"type": "lesson_answer", "answer": [1]},
                {"type": "lesson_answer", "answer": True}, {"type": "lesson_event", "event": "play"},
                {"type": "lesson_progress", "done": {"blame": [0, 99]}},
                {"type": "lesson_progress", "done": {"nope": [0]}}, {"type": "lesson_progress", "done": []}):
        with pytest.raises(ProtocolError):
            pg.handle(P.validate(msg))
    assert (dict(pg.config), pg.course.lesson, pg.course.step, pg.course.progress()) == before
    assert pg.course.attempts == 0


def test_progress_survives_save_and_load_and_a_bad_file_changes_nothing():
    pg = opened("chain-rule")
    send(pg, "lesson_answer", answer=2.0)
    saved = send(pg, "save")[0]["session"]
    assert saved["course"] == {"format": 1, "done": {"chain-rule": [0]}}
    other = Playground()
    out = send(other, "load", session=saved)
    assert other.course.progress()["done"] == {"chain-rule": [0]} and out[-1]["type"] == "lesson"
    bad = {**saved, "course": {"format": 1, "done": {"chain-rule": [7]}}, "config": {**saved["config"], "lr": 0.3}}
    with pytest.raises(ProtocolError, match="session.course"):
        send(other, "load", session=bad)
    assert other.config["lr"] == saved["config"]["lr"]


def test_the_page_kept_progress_is_merged_and_free_play_leaves_the_lesson():
    pg = opened("slope")
    out = send(pg, "lesson_progress", done={"blame": [0, 2], "slope": [2]})
    assert out[0]["done"] == {"blame": [0, 2], "slope": [2]}
    out = send(pg, "lesson_leave")
    assert out[0]["lesson"] is None and pg.course.pending() is False


def test_a_lesson_link_opens_its_step_with_its_setup():
    pg = Playground()
    send(pg, "set", config={"dataset": "spiral", "lr": 0.3})
    out = send(pg, "lesson_open", lesson="blame", step=2)
    assert pg.config["dataset"] == "xor" and pg.config["lr"] == 0.5 and pg.selected == lessons.HAND_SAMPLE
    assert out[-1] == pg.course.message(pg) and out[-1]["step"] == 2
    assert [w.tolist() for w in (lin.weight.data for lin in pg.model.linears)] == lessons.HAND_WEIGHTS[0]


def test_the_notebook_opens_a_lesson(recording_comm):
    pytest.importorskip("anywidget")
    import backlit

    w = backlit.show(lesson="chain-rule")
    try:
        assert w.playground.course.lesson == "chain-rule"
        assert w._hello()[-1]["type"] == "lesson"
        with pytest.raises(ProtocolError, match="lesson"):
            backlit.show(lesson="no-such-lesson")
    finally:
        w.close()


# ---- the expression lab in the chain-rule lesson ------------------------------------------------------
def test_the_graph_hides_tangents_and_adjoints_until_the_number_is_answered():
    pg = opened("chain-rule")
    graph = pg.course.message(pg)["graph"]
    assert graph["expression"] and all(n["adjoint"] is None and n["tangent"] is None for n in graph["nodes"])
    assert [n["value"] for n in graph["nodes"] if n["name"] == "e"] == [6.0]
    with pytest.raises(ProtocolError, match="answer the exercise first"):
        send(pg, "lesson_expr", text="f = x*y*z", values={"x": 1, "y": 2, "z": 3})
    out = send(pg, "lesson_answer", answer=2.0)[-1]
    adjoint = {n["name"]: n["adjoint"] for n in out["graph"]["nodes"]}
    a = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    ((a + b) * (b + 1)).backward()
    assert adjoint["a"] == pytest.approx(float(a.grad), abs=1e-12)
    assert adjoint["b"] == pytest.approx(float(b.grad), abs=1e-12)
    assert out["editable"] is True


def test_a_learners_expression_is_parsed_never_evaluated_and_a_bad_one_changes_nothing():
    pg = opened("chain-rule", 3)
    before = pg.course.expression
    for text, values, field in (("__import__('os')", {}, "text"), ("f = x +* y", {"x": 1, "y": 2}, "text"),
                                ("f = x*y", {"x": 1}, "text")):
        with pytest.raises(ProtocolError) as e:
            send(pg, "lesson_expr", text=text, values=values)
        assert e.value.field == field
    with pytest.raises(ProtocolError):
        send(pg, "lesson_expr", text="f = x", values={"x": float("inf")})
    assert pg.course.expression == before and 3 not in pg.course.done.get("chain-rule", set())
    send(pg, "lesson_expr", text="f = x*y", values={"x": 1, "y": 2})
    assert 3 not in pg.course.done.get("chain-rule", set())   # two variables: not yet
    out = send(pg, "lesson_expr", text="f = x*y + sin(z)", values={"x": 1, "y": 2, "z": 0.5}, wrt="z")
    assert 3 in out[-1]["done"]["chain-rule"]
    g = out[-1]["graph"]
    assert g["passes"] == {"forward": 3, "reverse": 1} and g["wrt"] == "z"
    assert {n["name"]: n["adjoint"] for n in g["nodes"]}["z"] == pytest.approx(math.cos(0.5), abs=1e-12)


def test_the_lab_belongs_to_a_lesson_that_has_one():
    pg = opened("blame", 3)
    with pytest.raises(ProtocolError, match="expression lab"):
        send(pg, "lesson_expr", text="f = x", values={"x": 1})
    assert pg.course.message(pg)["graph"] is None


@pytest.mark.parametrize("name", list(LESSONS))
def test_every_steps_message_is_json_for_the_page(name):
    for k in range(len(LESSONS[name].steps)):
        pg = opened(name, k)
        text = json.dumps(pg.course.message(pg), allow_nan=False)
        assert json.loads(text)["step"] == k
