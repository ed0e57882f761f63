"""The images view's session (backlit.playground.images), driven through validated protocol messages as
the server drives it: both networks learn the digits at the default pace, saliency is torch's x.grad,
the trace is torch's backward, FGSM flips the class, a drawing is reduced on the server, and bad
messages change nothing."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch

from backlit.lab import digits
from backlit.playground import images, pacing
from backlit.playground.session import Playground
from backlit.server import protocol as P


def send(session, kind, **fields):
    """Validate and route one message as the server does: (the current session, replies)."""
    return images.route(session, P.validate({"type": kind, **fields}))


def opened(network="mlp"):
    plane = Playground()
    s, replies = send(plane, "images_open", network=network)
    assert isinstance(s, images.ImagesSession) and s.parent is plane
    assert [r["type"] for r in replies] == ["images_state", "frame"]
    return s


def train_at_default_pace(s, floor, seconds=60):
    """Train as the server does at the default pace (steps per second) for at most ``seconds`` of
    that pace; returns the steps it took to reach ``floor`` test accuracy (None: never)."""
    budget = int(seconds * pacing.BY_LEVEL[pacing.DEFAULT_LEVEL].steps_per_second)
    while s.step_count < budget:
        s.train_for(10.0, max_steps=images.EVAL_EVERY)
        if s.evaluate()["test_acc"] >= floor:
            return s.step_count
    return None


@pytest.fixture(scope="module")
def trained():
    out = {}
    for net, floor in (("mlp", 0.90), ("cnn", 0.95)):
        s = opened(net)
        out[net] = (s, floor, train_at_default_pace(s, floor))
    return out


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_both_networks_reach_their_floor_within_a_minute_at_the_default_pace(trained, net):
    s, floor, steps = trained[net]
    assert steps is not None, f"{net} stayed below {floor} after a minute's worth of steps"
    header, arrays = s.frame()
    assert header["test_acc"] >= floor and header["view"] == "images"
    confusion = np.array(header["confusion"])
    assert confusion.sum() == len(s.X_test) and np.trace(confusion) / confusion.sum() == header["test_acc"]
    assert s.history and s.history[-1][4] == header["test_acc"], "the curve's last point is this evaluation"
    assert s.history[0][1] > s.history[-1][1], "the training loss fell"


def _torch_model(s):
    return s.model.to_torch()


def test_saliency_through_the_messages_is_torchs_x_grad(trained):
    s, _, _ = trained["cnn"]
    s, _ = send(s, "images_select", index=5)
    s, (reply,) = send(s, "images_saliency")
    x = torch.tensor(s.net.shape(s.X_test[5:6]), requires_grad=True)
    torch.nn.functional.cross_entropy(_torch_model(s)(x), torch.tensor([int(s.y_test[5])])).backward()
    maps = {m["key"]: np.array(m["map"]) for m in reply["maps"]}
    np.testing.assert_allclose(maps["saliency"], x.grad.numpy().reshape(8, 8), atol=1e-8)
    np.testing.assert_allclose(maps["grad_x_input"], x.grad.numpy().reshape(8, 8) * s.X_test[5].reshape(8, 8), atol=1e-8)
    assert not np.allclose(maps["smoothgrad"], maps["saliency"])
    assert all(m["is"] and m["not"].startswith("not ") for m in reply["maps"])
    s, (trace,) = send(s, "images_trace")
    np.testing.assert_allclose(np.array(trace["input_grad"]), x.grad.numpy().reshape(8, 8), atol=1e-8)


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_the_trace_is_torchs_backward_pass(trained, net):
    s, _, _ = trained[net]
    s, _ = send(s, "images_select", index=11)
    s, (trace,) = send(s, "images_trace")
    t = _torch_model(s)
    x = torch.tensor(s.net.shape(s.X_test[11:12]))
    loss = torch.nn.functional.cross_entropy(t(x), torch.tensor([int(s.y_test[11])]))
    loss.backward()
    assert trace["loss"] == pytest.approx(loss.item(), abs=1e-6)
    hidden, output = trace["stages"][1]["units"], trace["stages"][2]["units"]
    first, last = t[0], t[len(t) - 1]
    for u, unit in enumerate(hidden):
        g = first.weight.grad[u].numpy().reshape(np.array(unit["grad_w"]).shape)
        np.testing.assert_allclose(unit["grad_w"], g, atol=1e-8)
        assert unit["ring"] == pytest.approx(np.linalg.norm(g), abs=1e-7)
        assert unit["sign"] == int(np.sign(first.bias.grad[u].item()))
    probs = torch.softmax(t(x), dim=1).detach().numpy()[0]
    np.testing.assert_allclose([o["prob"] for o in output], probs, atol=1e-6)
    np.testing.assert_allclose([o["delta"] for o in output], last.bias.grad.numpy(), atol=1e-8)
    s, (tile,) = send(s, "images_tile", layer=2, unit=3)
    np.testing.assert_allclose(tile["tile"]["grad_w"], last.weight.grad[3].numpy(), atol=1e-8)


FGSM_EPS = 0.2  # a fifth of the pixel range [0, 1], one step


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_fgsm_through_the_messages_flips_most_correctly_classified_digits(trained, net):
    s, _, _ = trained[net]
    pred, _ = s._predict(s.X_test)
    right = np.flatnonzero(pred == s.y_test)
    flipped = 0
    for i in right:
        s, _ = send(s, "images_select", index=int(i))
        s, (reply,) = send(s, "images_attack", eps=FGSM_EPS, steps=1)
        last = reply["frames"][-1]
        assert np.abs(np.array(last["perturbation"])).max() <= FGSM_EPS + 1e-9
        flipped += reply["flipped_at"] is not None
        assert (reply["flipped_at"] is not None) == (last["predicted"] != s.y_test[i])
    assert flipped / len(right) >= 0.8, flipped / len(right)
    assert "20% of the pixel range" in reply["budget"]


def test_iterated_and_targeted_attacks_walk_step_by_step(trained):
    s, _, _ = trained["mlp"]
    s, _ = send(s, "images_select", index=0)
    s, (reply,) = send(s, "images_attack", eps=0.3, steps=20, target=(int(s.y_test[0]) + 3) % 10)
    frames = reply["frames"]
    assert len(frames) == 21 and frames[0]["max_change"] == 0
    assert reply["flipped_at"] is not None and frames[reply["flipped_at"]]["predicted"] == reply["target"]
    assert all(np.isclose(sum(f["probs"]), 1, atol=1e-4) for f in frames)


def test_a_drawing_is_reduced_on_the_server_and_explained():
    s = opened()
    bitmap = np.kron(digits.load()[0][7].reshape(8, 8), np.ones((16, 16)))      # a digit drawn 128 px wide
    canvas = (bitmap * 255).astype(np.uint8)
    s, replies = send(s, "images_draw", width=128, height=128, pixels=base64.b64encode(canvas.tobytes()).decode())
    assert [r["type"] for r in replies] == ["images_state", "frame", "images_saliency"]
    np.testing.assert_array_equal(s.x, digits.from_drawing(canvas.astype(float)))
    header = replies[1]["header"]
    assert header["source"] == "drawing" and header["label"] is None
    assert replies[2]["aim"] == header["predicted"], "no label: the loss is taken against the guess"


@pytest.mark.parametrize("kind, fields, field", [
    ("images_attack", {"eps": 5}, "eps"),
    ("images_attack", {"eps": 0.1, "steps": 500}, "steps"),
    ("images_attack", {"eps": 0.1, "target": 12}, "target"),
    ("images_set", {"network": "resnet"}, "network"),
    ("images_tile", {"layer": 7, "unit": 0}, "layer"),
    ("images_tile", {"layer": 1, "unit": 99}, "unit"),
    ("images_draw", {"width": 999, "height": 2, "pixels": "AAAA"}, "width"),
    ("images_draw", {"width": 4, "height": 4, "pixels": "AAAA"}, "pixels"),
    ("images_select", {"index": 359}, "index"),
    ("set", {"config": {"lr": 0.1}}, "type"),
])
def test_bad_messages_are_refused_before_anything_changes(kind, fields, field):
    s = opened()
    s.train_for(1.0, max_steps=3)
    s, _ = send(s, "images_select", index=4)
    weights, step, config, x = [p.data.copy() for p in s.model.parameters()], s.step_count, dict(s.config), s.x.copy()
    with pytest.raises(P.ProtocolError) as err:
        send(s, kind, **fields)
    assert err.value.field == field
    assert s.step_count == step and s.config == config and s.selected == 4
    np.testing.assert_array_equal(s.x, x)
    for p, d in zip(s.model.parameters(), weights):
        np.testing.assert_array_equal(p.data, d)


def test_closing_gives_the_plane_back_as_it_was():
    plane = Playground({"dataset": "xor", "hidden": [3]})
    plane.step()
    weights = [lin.weight.data.copy() for lin in plane.model.linears]
    s, _ = send(plane, "images_open")
    s, _ = send(s, "images_step")
    back, replies = send(s, "images_close")
    assert back is plane and [r["type"] for r in replies] == ["state", "points", "frame"]
    assert replies[0]["schema"]["views"] == [images.VIEW]
    for lin, w in zip(plane.model.linears, weights):
        np.testing.assert_array_equal(lin.weight.data, w)
    again, replies = send(send(plane, "images_open")[0], "hello", config={"dataset": "circle"})
    assert again is plane and plane.config["dataset"] == "circle"


def _neighbour_correlation(W):
    """How alike neighbouring pixels of the first layer's 8x8 weight images are: about 0 for random
    weights, higher as they turn into strokes."""
    I = np.asarray(W).reshape(-1, 8, 8)
    a = np.concatenate([I[:, :, :-1].ravel(), I[:, :-1, :].ravel()])
    b = np.concatenate([I[:, :, 1:].ravel(), I[:, 1:, :].ravel()])
    return np.corrcoef(a, b)[0, 1]


def test_the_mlps_weight_images_turn_into_strokes(trained):
    s, _, _ = trained["mlp"]
    fresh = images.ImagesSession()
    assert abs(_neighbour_correlation(fresh.frame()[1]["tiles"])) < 0.1
    while s.step_count < 600:
        s.train_for(10.0, max_steps=images.EVAL_EVERY)
    assert _neighbour_correlation(s.frame()[1]["tiles"]) > 0.25


def test_the_teachers_pause_and_summary_reach_a_tab_in_the_images_view(tmp_path):
    from types import SimpleNamespace

    from backlit.server.store import SQLiteStore
    from backlit.server.teacher import Classroom

    plane = Playground()
    s, _ = send(plane, "images_open")
    s, _ = send(s, "images_play")
    assert s.playing
    s, _ = send(s, "pause")                      # the teacher's "pause all"
    assert not s.playing and isinstance(s, images.ImagesSession)
    classroom = Classroom(SQLiteStore(str(tmp_path / "class.db")))
    summary = classroom.summary("t-1", SimpleNamespace(pg=s), {})
    assert summary["dataset"] == plane.config["dataset"] and summary["thumb"]["cells"]


def test_backlit_train_on_digits_writes_a_confusion_matrix_and_a_saliency_grid(tmp_path, capsys):
    import json

    from PIL import Image

    from backlit.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--epochs", "3", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    confusion = np.array(metrics["confusion"])
    assert confusion.sum() == 359 and np.trace(confusion) / 359 == pytest.approx(metrics["test_acc"])
    assert metrics["network"] == "mlp" and metrics["epochs"] == 3 and metrics["test_acc"] > 0.9
    for name in ("confusion.png", "saliency.png", "loss.png"):
        with Image.open(out / name) as im:
            assert im.size[0] > 300 and len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)) > 20
    assert main(["train", "--dataset", "digits", "--network", "resnet", "--out", str(out)]) == 2
    assert "choose one of: mlp, cnn" in capsys.readouterr().err


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_every_reply_is_bounded(net):
    """The largest replies (a trace, a tile, a 50-step attack, a full drawing) stay small JSON."""
    s = opened(net)
    pixels = base64.b64encode(bytes(range(256)) * 256).decode()
    asked = [("images_trace", {}), ("images_tile", {"layer": 2, "unit": 9}), ("images_saliency", {}),
             ("images_attack", {"eps": 0.5, "steps": 50, "target": 3}),
             ("images_draw", {"width": 256, "height": 256, "pixels": pixels}), ("images_open", {})]
    for kind, fields in asked:
        s, replies = send(s, kind, **fields)
        for r in replies:
            size = len(P.FrameEncoder().encode(r["header"], r["arrays"])) if r["type"] == "frame" else len(P.encode(r))
            assert size < 64 * 1024, (kind, r["type"], size)


def test_an_images_message_before_the_view_is_open_is_refused_by_name():
    plane = Playground()
    for kind in ("images_trace", "images_step", "images_play"):
        with pytest.raises(P.ProtocolError, match="open it first"):
            send(plane, kind)
    assert not plane.playing and plane.step_count == 0


def test_the_server_loop_can_train_an_images_session():
    """The training loop asks every session for its lesson goals while it trains: the images session
    answers too (it has none), so Train in the images view keeps running."""
    from backlit.playground import images

    pg = images.ImagesSession() if hasattr(images, "ImagesSession") else None
    assert pg is not None and pg.lesson_poll() == []
