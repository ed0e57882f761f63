"""The pure session object: every action, state transitions, URL state, determinism, divergence."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from backlit.playground.session import STATUS_DIVERGED, HistoryCursor, Playground
from backlit.server import protocol as P
from backlit.server.protocol import Limits, ProtocolError


def types(msgs):
    return [m["type"] for m in msgs]


def weights(pg):
    return [p.data.copy() for p in pg.model.parameters()]


def assert_json_clean(msgs):
    """Every non-frame message is plain JSON without NaN/inf; frames have finite arrays."""
    for m in msgs:
        if m["type"] == "frame":
            json.dumps(m["header"], allow_nan=False)
            for a in m["arrays"].values():
                assert a.dtype == np.float32 and np.isfinite(a).all()
        else:
            json.dumps(m, allow_nan=False)


def by_type(msgs, kind):
    return next(m for m in msgs if m["type"] == kind)


# ---- construction and state --------------------------------------------------------------------

def test_defaults_are_tf_playground_network():
    pg = Playground()
    s = pg.state(schema=True)
    assert s["sizes"] == [2, 4, 2, 1] and s["activations"] == ["tanh", "tanh", "linear"]
    assert s["config"] == P.resolve_config(P.default_config(), {})
    assert s["kind"] == "binary" and s["classes"] == 2 and s["problem"] == "classification"
    assert s["url_state"] == "" and s["epoch"] == 0 and not s["playing"] and s["status"] == "ready"
    schema = s["schema"]
    assert {d["name"] for d in schema["datasets"]} >= {"spiral", "blobs", "plane"}
    assert [f["name"] for f in schema["features"]][:2] == ["x1", "x2"]
    assert [row["name"] for row in schema["settings"]] == [x.name for x in P.CONFIG]
    assert s["config"]["dataset"] == "circle"
    assert s["param_count"] == 2 * 4 + 4 + 4 * 2 + 2 + 2 + 1
    json.dumps(s, allow_nan=False)


def test_hello_replies_state_points_frame():
    pg = Playground()
    msgs = pg.hello()
    assert types(msgs) == ["state", "points", "frame"]
    assert_json_clean(msgs)
    pts = by_type(msgs, "points")
    assert len(pts["train"]) == 250 and len(pts["test"]) == 250
    assert all(len(p) == 3 and p[2] in (0, 1) for p in pts["train"])


def test_frame_layout():
    pg = Playground()
    header, arrays = pg.frame()
    assert arrays["boundary"].shape == (100, 100)
    assert arrays["neurons"].shape == (2 + 4 + 2 + 1, 25, 25)
    assert "confidence" not in arrays
    assert [np.array(w).shape for w in header["weights"]] == [(4, 2), (2, 4), (1, 2)]
    assert [len(b) for b in header["biases"]] == [4, 2, 1]
    assert "history" not in header
    assert [np.array(g).shape for g in header["train_grad"]["grad_W"]] == [(4, 2), (2, 4), (1, 2)]
    assert 0 <= arrays["boundary"].min() and arrays["boundary"].max() <= 1
    packed = P.pack_frame(header, arrays)
    h2, a2 = P.unpack_frame(packed)
    assert h2["step"] == 0 and np.array_equal(a2["neurons"], arrays["neurons"])


def test_frame_orientation_rows_top_to_bottom():
    # No hidden layer, output = x2 (then x1): P(class 1) = sigmoid(output).
    pg = Playground({"hidden": []})
    pg.set_weight(0, 0, 0, 0.0)
    pg.set_weight(0, 0, 1, 1.0)
    pg.set_weight(0, 0, "bias", 0.0)
    b = pg.frame()[1]["boundary"]
    assert b[0].min() > 0.99 and b[-1].max() < 0.01  # row 0 is y = +6
    pg.set_weight(0, 0, 0, 1.0)
    pg.set_weight(0, 0, 1, 0.0)
    b = pg.frame()[1]["boundary"]
    assert b[:, 0].max() < 0.01 and b[:, -1].min() > 0.99  # column 0 is x = -6
    neurons = pg.frame()[1]["neurons"]
    assert neurons[0][0, 0] == pytest.approx(-6) and neurons[1][0, 0] == pytest.approx(6)


def test_multiclass_and_regression_frames():
    pg = Playground({"dataset": "blobs", "classes": 4})
    assert pg.config["loss"] == "cross_entropy" and pg.sizes[-1] == 4
    h, a = pg.frame()
    assert set(np.unique(a["boundary"])) <= {0, 1, 2, 3}
    assert a["confidence"].shape == (100, 100) and (a["confidence"] >= 0.25 - 1e-6).all()
    assert a["neurons"].shape[0] == 2 + 4 + 2 + 4
    assert h["train_acc"] is not None
    pg = Playground({"dataset": "plane"})
    h, a = pg.frame()
    assert pg.config["problem"] == "regression" and pg.config["loss"] == "mse"
    assert h["train_acc"] is None and h["test_acc"] is None and "confidence" not in a


# ---- settings ----------------------------------------------------------------------------------

def test_training_settings_keep_weights():
    pg = Playground()
    for _ in range(5):
        pg.step()
    before = weights(pg)
    for change in ({"lr": 0.1}, {"batch_size": 3}, {"optimizer": "adam"}, {"regularization": "l2"},
                   {"reg_rate": 0.01}):
        msgs = pg.set(change)
        assert types(msgs) == ["state", "frame"]
        assert all(np.array_equal(a, b) for a, b in zip(before, weights(pg)))
    assert pg.optimizer.lr == 0.1 and pg.step_count == 5


def test_momentum_is_sgd_with_09():
    pg = Playground({"optimizer": "momentum"})
    assert type(pg.optimizer).__name__ == "SGD" and pg.optimizer.momentum == 0.9


def test_network_settings_rebuild_and_pause():
    pg = Playground()
    pg.play()
    msgs = pg.set({"hidden": [8, 8, 3]})
    assert types(msgs) == ["state", "frame"]
    assert pg.sizes == [2, 8, 8, 3, 1] and not pg.playing
    msgs = pg.set({"features": ["sin_x2", "x1"]})
    assert pg.config["features"] == ["x1", "sin_x2"] and pg.sizes[0] == 2
    pg.set({"features": list(P.SETTINGS["features"].choices)})
    assert pg.frame()[1]["neurons"].shape[0] == 7 + 8 + 8 + 3 + 1


def test_data_settings_regenerate_points():
    pg = Playground()
    old = pg.points()["train"]
    msgs = pg.set({"noise": 0.3})
    assert types(msgs) == ["state", "points", "frame"]
    assert by_type(msgs, "points")["train"] != old
    msgs = pg.set({"n_points": 100, "train_ratio": 0.3})
    assert len(by_type(msgs, "points")["train"]) == 30


def test_page_settings_only_echo():
    pg = Playground()
    msgs = pg.set({"show_test": True, "discretize": True})
    assert types(msgs) == ["state"]
    assert msgs[0]["config"]["show_test"] is True and "st=1" in msgs[0]["url_state"]


def test_problem_and_loss_rules():
    pg = Playground()
    pg.set({"problem": "regression"})  # only a problem: switch to that problem's first dataset
    assert pg.config["dataset"] == "plane" and pg.config["loss"] == "mse"
    with pytest.raises(ProtocolError) as e:
        pg.set({"problem": "classification", "dataset": "plane"})
    assert e.value.field == "config.problem"
    pg.set({"dataset": "spiral_multi"})  # the mse loss does not fit: falls back
    assert pg.config["loss"] == "cross_entropy" and pg.config["problem"] == "classification"
    with pytest.raises(ProtocolError) as e:
        pg.set({"loss": "bce"})
    assert e.value.field == "config.loss" and "cross_entropy" in e.value.message
    pg.set({"dataset": "xor", "loss": "hinge"})
    pg.step()
    assert pg.config["loss"] == "hinge" and np.isfinite(pg.metrics()["train_loss"])


@pytest.mark.parametrize("change, field", [
    ({"lr": float("nan")}, "config.lr"),
    ({"lr": float("inf")}, "config.lr"),
    ({"lr": 11}, "config.lr"),
    ({"lr": "abc"}, "config.lr"),
    ({"hidden": [4] * 9}, "config.hidden"),
    ({"hidden": [17]}, "config.hidden"),
    ({"hidden": [True]}, "config.hidden"),
    ({"features": []}, "config.features"),
    ({"features": ["x1", "x1"]}, "config.features"),
    ({"dataset": "mnist"}, "config.dataset"),
    ({"n_points": 5001}, "config.n_points"),
    ({"batch_size": 2.5}, "config.batch_size"),
    ({"show_test": 1}, "config.show_test"),
    ({"bogus": 1}, "config.bogus"),
])
def test_bad_settings_name_the_field(change, field):
    pg = Playground()
    before = dict(pg.config)
    with pytest.raises(ProtocolError) as e:
        pg.set(change)
    assert e.value.field == field
    assert pg.config == before


def test_limits_are_configurable():
    pg = Playground(limits=Limits(max_points=200, max_layers=2, max_neurons=5))
    with pytest.raises(ProtocolError, match=r"50\.\.200"):
        pg.set({"n_points": 300})
    with pytest.raises(ProtocolError, match="up to 2 layers, each 1..5"):
        pg.set({"hidden": [6]})
    pg.set({"hidden": [5, 5], "n_points": 200})
    assert pg.sizes == [2, 5, 5, 1]


# ---- URL state ---------------------------------------------------------------------------------

config_values = st.fixed_dictionaries({}, optional={
    "dataset": st.sampled_from(["circle", "xor", "gauss", "spiral", "moons"]),
    "noise": st.floats(0, 0.5),
    "train_ratio": st.floats(0.1, 0.9),
    "n_points": st.integers(50, 5000),
    "classes": st.integers(3, 5),
    "seed": st.integers(0, P.MAX_SEED),
    "features": st.lists(st.sampled_from(list(P.SETTINGS["features"].choices)), min_size=1, unique=True),
    "hidden": st.lists(st.integers(1, 16), max_size=8),
    "activation": st.sampled_from(tuple(P.ACTIVATIONS)),
    "lr": st.floats(1e-5, 10),
    "batch_size": st.integers(1, 500),
    "optimizer": st.sampled_from(tuple(P.OPTIMIZERS)),
    "regularization": st.sampled_from(tuple(P.REGULARIZATIONS)),
    "reg_rate": st.floats(0, 1),
    "show_test": st.booleans(),
    "discretize": st.booleans(),
})


@settings(max_examples=200, deadline=None)
@given(config_values)
def test_url_state_round_trip(partial):
    limits = Limits()
    config = P.resolve_config(P.resolve_config(P.default_config(), {}), P.check_config(partial, limits))
    text = P.to_url_state(config)
    back = P.resolve_config(P.resolve_config(P.default_config(), {}), P.from_url_state(text, limits))
    assert back == config


def test_url_state_through_hello_reproduces_the_run():
    a = Playground()
    a.set({"dataset": "xor", "hidden": [6, 3], "noise": 0.2, "lr": 0.1, "seed": 42, "show_test": True})
    for _ in range(20):
        a.step()
    b = Playground()
    msgs = b.hello(url_state="#" + a.url_state())
    assert by_type(msgs, "state")["config"] == a.config
    for _ in range(20):
        b.step()
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b)))


def test_hello_skips_bad_keys_and_reports_them():
    pg = Playground()
    msgs = pg.hello(url_state="d=xor&lr=abc&zz=1&h=3", config={"noise": 0.1, "batch_size": -1})
    errors = [m for m in msgs if m["type"] == "error"]
    assert [e["field"] for e in errors] == ["url_state.lr", "url_state.zz", "config.batch_size"]
    assert "1e-05..10" in errors[0]["message"] and "1..500" in errors[2]["message"]
    assert types(msgs)[-3:] == ["state", "points", "frame"]
    assert pg.config["dataset"] == "xor" and pg.config["hidden"] == [3] and pg.config["noise"] == 0.1
    assert pg.config["lr"] == 0.03 and pg.config["batch_size"] == 10


def test_hello_restores_weights_and_rejects_bad_ones():
    a = Playground({"hidden": [3]})
    for _ in range(10):
        a.step()
    h, _ = a.frame()
    b = Playground()
    msgs = b.hello(config={"hidden": [3]}, weights=h["weights"], biases=h["biases"], samples_seen=100, step=10)
    assert types(msgs) == ["state", "points", "frame"]
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert b.samples_seen == 100 and b.step_count == 10
    c = Playground()
    c.hello(config={"hidden": [3]}, weights={"weights": h["weights"], "biases": h["biases"]})
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(c)))
    bad = [[[1.0, 2.0, 3.0]] * 3, h["weights"][1]]  # (3, 3) where layer 0 is (3, 2)
    msgs = Playground().hello(config={"hidden": [3]}, weights=bad, biases=h["biases"])
    assert msgs[0]["type"] == "error" and msgs[0]["field"] == "weights[0]"
    nan = [[[float("nan"), 0.0]] * 3, h["weights"][1]]
    msgs = Playground().hello(config={"hidden": [3]}, weights=nan, biases=h["biases"])
    assert msgs[0]["type"] == "error" and "finite" in msgs[0]["message"]


# ---- training ----------------------------------------------------------------------------------

def test_determinism_from_the_seed():
    runs = []
    for seed in (7, 7, 8):
        pg = Playground({"seed": seed, "optimizer": "adam", "batch_size": 7})
        for _ in range(30):
            pg.step()
        runs.append(weights(pg))
    assert all(np.array_equal(x, y) for x, y in zip(runs[0], runs[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(runs[0], runs[2]))


def test_step_and_epoch_counting():
    pg = Playground({"n_points": 100, "train_ratio": 0.5, "batch_size": 20})
    msgs = pg.step()
    assert types(msgs) == ["frame"]
    h = msgs[0]["header"]
    assert h["step"] == 1 and h["samples_seen"] == 20 and h["epoch"] == pytest.approx(0.4)
    assert np.array(h["train_grad"]["grad_W"][0]).shape == (4, 2)
    assert np.array(h["train_grad"]["grad_b"][0]).shape == (4,)
    for _ in range(4):
        pg.step()
    # batches of 20, 20, then the epoch's last 10, then a new shuffled epoch: 20, 20
    assert pg.samples_seen == 90 and pg.state()["epoch"] == pytest.approx(1.8) and pg.step_count == 5
    pg.set({"batch_size": 500})  # capped at the training-set size
    pg.step()  # the rest of this epoch (10), then whole epochs of 50
    pg.step()
    assert pg.samples_seen == 150


def test_train_for_is_bounded_and_learns():
    pg = Playground({"dataset": "gauss", "lr": 0.1})
    start = pg.metrics()["train_loss"]
    assert pg.train_for(10.0, max_samples=25) == []
    assert pg.samples_seen == 30  # whole batches: stops at the first batch past the limit
    for _ in range(20):
        pg.train_for(0.01, max_samples=2000)
    assert pg.metrics()["train_loss"] < start and pg.metrics()["train_acc"] > 0.9


def test_history_deltas_and_reset():
    pg = Playground()
    cursor = HistoryCursor()
    pg.frame()
    h = pg.history_since(cursor)
    assert h["history_reset"] and len(h["history"]) == 1
    pg.frame()
    assert pg.history_since(cursor) == {"history": [], "history_reset": False}  # nothing changed
    pg.step()
    h = pg.history_since(cursor)
    assert not h["history_reset"] and len(h["history"]) == 1 and h["history"][0][0] == pytest.approx(0.04)
    assert pg.reset()[1]["header"]["epoch"] == 0
    h = pg.history_since(cursor)
    assert h["history_reset"] and len(h["history"]) == 1


def test_frame_is_a_read_two_viewers_each_get_the_whole_history():
    pg = Playground()
    a, b = HistoryCursor(), HistoryCursor()
    for _ in range(3):
        pg.step()
    pg.frame()
    pg.frame()  # a second viewer drawing the same weights adds no point
    assert len(pg.history_since(a)["history"]) == 3
    assert len(pg.history_since(b)["history"]) == 3


def test_history_is_thinned():
    pg = Playground(limits=Limits(max_history=10))
    pg.frame()
    for _ in range(15):
        pg.step()  # each step's frame adds a point
    assert len(pg.history) <= 10
    assert pg.history[-1][0] == pytest.approx(pg.epoch)


@pytest.mark.parametrize("reg", ["l1", "l2"])
def test_regularization_adds_the_penalty(reg):
    a = Playground({"lr": 0.1})
    b = Playground({"lr": 0.1, "regularization": reg, "reg_rate": 0.5})
    w0 = weights(a)
    a.step()
    b.step()
    wa, wb = weights(a), weights(b)
    for k, (x0, xa, xb) in enumerate(zip(w0, wa, wb)):
        if k % 2 == 0:  # weights: W_b - W_a = -lr * rate * d(penalty)/dW at W0
            expected = -0.1 * 0.5 * (np.sign(x0) if reg == "l1" else x0)
            np.testing.assert_allclose(xb - xa, expected, atol=1e-12)
        else:  # biases are not regularised
            np.testing.assert_allclose(xb, xa, atol=1e-12)


def test_divergence_pauses_and_keeps_finite_weights():
    pg = Playground({"dataset": "plane", "lr": 10, "hidden": [8, 8], "activation": "relu"})
    pg.play()
    out = []
    for _ in range(50):
        before = [p.data.copy() for p in pg.model.parameters()]
        out = pg.train_for(0.005)
        if out:
            break
    assert types(out) == ["state"]
    assert out[0]["diverged"] and not out[0]["playing"] and out[0]["status"] == STATUS_DIVERGED
    # the weights are the last finite ones: those the diverging tick started from
    assert pg._weights_finite()
    assert all(np.array_equal(p.data, b) for p, b in zip(pg.model.parameters(), before))
    msgs = [pg._frame_msg(), *pg.save(), *pg.trace(), pg.state()]
    assert_json_clean(msgs)
    assert msgs[0]["header"]["diverged"] and msgs[0]["header"]["status"] == STATUS_DIVERGED
    assert pg.train_for(0.01) == []  # stays paused until a change
    pg.set({"lr": 0.001})
    assert not pg.diverged and pg.status != STATUS_DIVERGED


def test_step_can_diverge_too():
    pg = Playground({"dataset": "multi_gauss", "lr": 10, "activation": "linear", "hidden": [8, 8]})
    msgs = []
    for _ in range(20):
        msgs = pg.step()
        if pg.diverged:
            break
    assert types(msgs) == ["state", "frame"] and pg.diverged
    assert_json_clean(msgs)


def test_play_pause_reset_regenerate():
    pg = Playground()
    assert types(pg.play()) == ["state"] and pg.playing and pg.status == "training"
    pg.train_for(0.005)
    msgs = pg.pause()
    assert types(msgs) == ["state", "frame"] and not pg.playing and pg.status == "paused"
    w_init = weights(Playground())
    msgs = pg.reset()
    assert types(msgs) == ["state", "frame"] and pg.step_count == 0
    assert all(np.array_equal(x, y) for x, y in zip(weights(pg), w_init))
    msgs = pg.regenerate()
    assert types(msgs) == ["state", "points", "frame"] and pg.config["seed"] == 2


# ---- one sample --------------------------------------------------------------------------------

def test_select_next_sample_and_select_point():
    pg = Playground()
    msgs = pg.select(17)
    assert types(msgs) == ["selection", "trace"]
    sel = msgs[0]
    assert sel["index"] == 17 and sel["point"] == pg.X_train[17].tolist() and sel["label"] == pg.y_train[17]
    assert msgs[1]["trace"]["x"] == sel["point"]
    x, y = pg.X_train[42]
    assert pg.select_point(float(x) + 1e-3, float(y))[0]["index"] == 42
    seen = [pg.next_sample()[0]["index"] for _ in range(pg.n_train)]
    assert sorted(seen) == list(range(pg.n_train))
    again = Playground()
    assert [again.next_sample()[0]["index"] for _ in range(5)] == seen[:5]
    with pytest.raises(ProtocolError) as e:
        pg.select(pg.n_train)
    assert e.value.field == "index" and f"0..{pg.n_train - 1}" in e.value.message


def test_trace_blame_neuron_check():
    pg = Playground()
    for _ in range(20):
        pg.step()
    tr = pg.trace()[0]["trace"]
    assert len(tr["layers"]) == 3 and tr["cost"]["params"] == 25 and tr["preview"] is None  # computed on Apply only
    b = pg.blame(1, 1, 3)[0]
    assert b["grad_W"] == pytest.approx(tr["layers"][1]["grad_W"][1][3], rel=1e-12)
    assert b["product"] == pytest.approx(b["grad_W"], rel=1e-9)
    n = pg.neuron(0, 2)[0]
    assert n["delta"] == pytest.approx(tr["layers"][0]["delta"][2])
    assert pg.neuron(-1, 1)[0]["a"] == tr["x"][1]
    c = pg.check(0, 3, 1)[0]
    assert c["rel_error"] < 1e-6 and c["backprop"] == pytest.approx(tr["layers"][0]["grad_W"][3][1])
    assert pg.check(2, 0, "bias")[0]["rel_error"] < 1e-6
    for call, field in ((lambda: pg.blame(3, 0, 0), "layer"), (lambda: pg.blame(1, 2, 0), "i"),
                        (lambda: pg.check(0, 0, 2), "j"), (lambda: pg.neuron(-1, 2), "i"),
                        (lambda: pg.set_weight(2, 0, 5, 1.0), "j")):
        with pytest.raises(ProtocolError) as e:
            call()
        assert e.value.field == field


def test_set_weight():
    pg = Playground()
    msgs = pg.set_weight(1, 1, 2, 0.75)
    assert types(msgs) == ["frame"] and msgs[0]["header"]["weights"][1][1][2] == 0.75
    pg.set_weight(0, 3, "bias", -2.0)
    assert pg.model.linears[0].bias.data[3] == -2.0


def test_apply_update_is_one_sgd_step_on_the_sample():
    pg = Playground({"lr": 0.01})
    for _ in range(10):
        pg.step()
    pg.select(5)
    tr = pg.trace()[0]["trace"]
    w0 = weights(pg)
    msgs = pg.apply_update()
    assert types(msgs) == ["update", "frame"]
    up = msgs[0]
    assert up["sample_loss_after"] < up["sample_loss_before"]
    assert up["train_loss_before"] == pytest.approx(Playground.metrics(pg)["train_loss"], rel=0.5)
    expected = []
    for lt in tr["layers"]:
        expected += [np.array(lt["grad_W"]), np.array(lt["grad_b"])]
    for x0, x1, g in zip(w0, weights(pg), expected):
        np.testing.assert_allclose(x1, x0 - 0.01 * g, atol=1e-15)
    assert pg.metrics()["train_loss"] == pytest.approx(up["train_loss_after"], rel=1e-12)
    assert pg.trace()[0]["trace"]["loss"] == pytest.approx(up["sample_loss_after"], rel=1e-12)


@pytest.mark.parametrize("config", [{"dataset": "gauss"}, {"dataset": "blobs"}, {"dataset": "plane"}])
def test_nudge(config):
    pg = Playground({**config, "lr": 0.1})
    for _ in range(30):
        pg.train_for(0.01, 1000)
    pg.select(3)
    n = pg.nudge()[0]
    path = np.array(n["path"])
    assert path[0].tolist() == pg.X_train[3].tolist() and n["steps"] == len(path) - 1
    assert np.all(np.linalg.norm(np.diff(path, axis=0), axis=1) <= 0.1 + 1e-9)
    assert np.all(np.abs(path) <= 6)
    if pg.kind == "regression":
        assert n["from_class"] is None and not n["flipped"]
    else:
        assert n["from_class"] == pg._class_at(path[0])
        if n["flipped"]:
            assert n["to_class"] == pg._class_at(path[-1]) != n["from_class"]
    assert np.array_equal(pg.X_train[3], path[0])  # the dataset is unchanged
    json.dumps(n, allow_nan=False)


def test_gauss_nudge_flips():
    pg = Playground({"dataset": "gauss", "lr": 0.1})
    for _ in range(30):
        pg.train_for(0.01, 1000)
    flips = [pg.select(i) and pg.nudge()[0]["flipped"] for i in range(5)]
    assert any(flips)


# ---- save / load -------------------------------------------------------------------------------

def test_save_load_round_trip():
    a = Playground({"dataset": "spiral_multi", "classes": 5, "hidden": [5, 5], "seed": 9})
    for _ in range(25):
        a.step()
    session = json.loads(json.dumps(a.save()[0]["session"]))
    assert session["format"] == "backlit.session" and session["version"] == 1
    b = Playground()
    msgs = b.load(session)
    assert types(msgs) == ["state", "points", "frame"]
    assert b.config == a.config and b.step_count == 25 and b.samples_seen == a.samples_seen
    assert all(np.array_equal(x, y) for x, y in zip(weights(a), weights(b)))
    assert len(json.dumps(session)) < P.MAX_MESSAGE_BYTES


def test_largest_session_fits_in_a_message():
    pg = Playground({"features": list(P.SETTINGS["features"].choices), "hidden": [16] * 8,
                     "dataset": "blobs", "classes": 5})
    pg.set_weight(0, 0, 0, -123.456789012345)
    text = json.dumps({"type": "load", "session": pg.save()[0]["session"]})
    assert len(text.encode()) < P.MAX_MESSAGE_BYTES


@pytest.mark.parametrize("mutate, field", [
    (lambda s: s.update(format="zip"), "session.format"),
    (lambda s: s.update(version=2), "session.version"),
    (lambda s: s.update(version=True), "session.version"),
    (lambda s: s.pop("config"), "session.config"),
    (lambda s: s["config"].update(lr=-1), "session.config.lr"),
    (lambda s: s["config"].update(hidden=[3]), "session.weights"),
    (lambda s: s["config"].update(hidden=[3, 2]), "session.weights[0]"),
    (lambda s: s["weights"][1][0].__setitem__(0, "abc"), "session.weights[1]"),
    (lambda s: s["weights"][1][0].__setitem__(0, 1e300), "session.weights[1]"),
    (lambda s: s["biases"].pop(), "biases"),
    (lambda s: s.update(step=-3), "session.step"),
])
def test_load_rejects_malformed_sessions(mutate, field):
    a = Playground()
    session = json.loads(json.dumps(a.session()))
    mutate(session)
    b = Playground({"dataset": "xor"})
    before = weights(b)
    with pytest.raises(ProtocolError) as e:
        b.load(session)
    assert e.value.field == field
    assert b.config["dataset"] == "xor" and all(np.array_equal(x, y) for x, y in zip(before, weights(b)))


def test_handle_dispatches_validated_messages():
    pg = Playground()
    for raw in ({"type": "step"}, {"type": "select", "index": 3, "id": 9}, {"type": "save"},
                {"type": "neuron", "layer": -1, "i": 0}, {"type": "set_weight", "layer": 0, "i": 0,
                                                          "j": "bias", "value": 1}):
        msgs = pg.handle(P.validate(raw))
        assert msgs and all("type" in m for m in msgs)


def test_frames_show_the_training_sets_gradient_and_the_largest_per_sample_gradient():
    """The links' gradient while training is the whole training set's mean ∂L/∂W (equal to PyTorch's),
    and the width scale is the largest |∂L/∂w| of any single sample (per-sample gradients in PyTorch)."""
    import torch
    pg = Playground({"dataset": "xor", "hidden": [3]})
    for _ in range(5):
        pg.step()
    h = pg.frame()[0]
    Ws = [torch.tensor(l.weight.data, requires_grad=True) for l in pg.model.linears]
    bs = [torch.tensor(l.bias.data, requires_grad=True) for l in pg.model.linears]

    def forward(x):
        a = torch.tanh(x @ Ws[0].T + bs[0])
        return a @ Ws[1].T + bs[1]

    X = torch.tensor(pg.Xf_train)
    y = torch.tensor(pg.y_train, dtype=torch.float64)[:, None]
    torch.nn.functional.binary_cross_entropy_with_logits(forward(X), y).backward()
    for l in range(2):
        np.testing.assert_allclose(h["train_grad"]["grad_W"][l], Ws[l].grad.numpy(), rtol=1e-9, atol=1e-14)
    largest = 0.0
    for n in range(len(X)):
        for W in Ws:
            W.grad = None
        torch.nn.functional.binary_cross_entropy_with_logits(forward(X[n:n + 1]), y[n:n + 1]).backward()
        largest = max(largest, *(float(W.grad.abs().max()) for W in Ws))
    assert h["train_grad"]["scale"]["grad_W"] == pytest.approx(largest, rel=1e-9)
    assert pg.metrics()["train_loss"] == pytest.approx(float(torch.nn.functional.binary_cross_entropy_with_logits(
        forward(X), y)), rel=1e-12)


def test_nudge_walks_uphill_on_the_true_labels_loss_until_the_class_flips():
    pg = Playground({"dataset": "gauss", "hidden": [2], "lr": 0.1})
    for _ in range(40):
        pg.step()
    pg.select(0)
    start = pg._trace()
    msg = pg.nudge()[0]
    assert msg["true_label"] == int(pg.y_train[0]) and not msg["already_wrong"] and msg["flipped"]
    assert msg["to_class"] != msg["true_label"]
    losses = msg["losses"]
    assert len(losses) == msg["steps"] + 1 and all(b > a for a, b in zip(losses, losses[1:]))
    # the first step goes along +dL/dx of the true label: opposite the -dL/dx arrow the page draws
    step = np.subtract(msg["path"][1], msg["path"][0])
    g = np.asarray(start.input_grad)
    assert np.dot(step, g) / (np.linalg.norm(step) * np.linalg.norm(g)) == pytest.approx(1.0, abs=1e-9)


def test_nudge_on_a_misclassified_point_walks_deeper_into_the_wrong_class():
    pg = Playground({"dataset": "xor"})  # untrained: about half the points are misclassified
    pred = pg._predict_class(pg._forward(pg.Xf_train).data)
    wrong = int(np.flatnonzero(pred != pg.y_train)[0])
    pg.select(wrong)
    msg = pg.nudge()[0]
    assert msg["already_wrong"] and not msg["flipped"] and msg["steps"] > 0
    assert all(b > a for a, b in zip(msg["losses"], msg["losses"][1:]))


def test_saliency_is_each_points_own_input_gradient_from_one_pass():
    pg = Playground({"dataset": "moons", "features": ["x1", "x2", "sin_x1"]})
    grads = np.asarray(pg.saliency()[0]["grad"])
    assert grads.shape == (pg.n_train, 2)
    for index in (0, 7, 42):
        pg.select(index)
        np.testing.assert_allclose(grads[index], pg._trace().input_grad, rtol=1e-9, atol=1e-15)


def test_an_overshooting_update_says_so_and_offers_a_smaller_step():
    pg = Playground({"dataset": "plane", "hidden": [4, 2], "lr": 3.0})
    over = None
    for index in range(pg.n_train):
        pg.select(index)
        snapshot = pg._snapshot()
        msg = pg.apply_update()[0]
        if msg["overshot"]:
            over = (index, snapshot, msg)
            break
        pg._restore(snapshot)
    assert over is not None, "no sample overshoots at lr 3"
    index, snapshot, msg = over
    assert msg["sample_loss_after"] > msg["sample_loss_before"]
    assert msg["suggested_scale"] in (0.1, 0.01, 0.001)
    pg._restore(snapshot)
    smaller = pg.apply_update(scale=msg["suggested_scale"])[0]
    assert not smaller["overshot"] and smaller["sample_loss_after"] < smaller["sample_loss_before"]
    assert smaller["sample_loss_after"] == pytest.approx(msg["suggested_loss"], rel=1e-9)


def test_graph_of_the_selected_sample_is_the_engines_record():
    pg = Playground({"hidden": [3]})
    g = pg.graph()[0]["graph"]
    ops = [n["op"] for n in g["nodes"]]
    assert "linear" in " ".join(map(str, ops)) and len(g["edges"]) >= len(g["nodes"]) - 1
    loss_node = next(n for n in g["nodes"] if n["id"] == g["root"])
    assert loss_node["value"]["data"][0] == pytest.approx(pg._trace().loss, rel=1e-5)
    zoom = pg.graph_zoom(0, 2)[0]["graph"]
    assert zoom["nodes"] and zoom["backward"]


@pytest.mark.parametrize("fmt", ["torch", "worked", "worked_blanks", "csv"])
def test_exports_are_text_files_named_after_the_dataset(fmt):
    msg = Playground({"dataset": "xor"}).export(fmt)[0]
    assert msg["filename"].startswith("backlit-xor") and msg["text"]


def test_onnx_export_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    import base64
    pg = Playground({"dataset": "xor", "features": ["x1", "x2", "x1x2"]})
    blob = base64.b64decode(pg.export("onnx")[0]["base64"])
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: pg.X_train[:5].astype(np.float32)})[0]
    np.testing.assert_allclose(out, pg._forward(pg.Xf_train[:5]).data, rtol=1e-5, atol=1e-5)


def test_code_is_the_current_network_in_pytorch():
    text = Playground({"hidden": [5, 3], "activation": "relu", "optimizer": "adam"}).code()[0]["text"]
    assert "nn.Linear(2, 5)" in text and "nn.ReLU()" in text and "Adam" in text and "loss.backward()" in text
    assert 10 <= len(text.strip().splitlines()) <= 15


def test_points_by_hand_become_the_selected_sample_and_survive_save_and_load():
    pg = Playground({"dataset": "xor"})
    n = pg.n_train
    msgs = pg.add_point(1.5, -2.0, 1)
    assert types(msgs) == ["state", "points", "frame", "selection", "trace"]
    assert pg.n_train == n + 1 and pg.selected == n and pg.state()["custom_data"]
    assert msgs[-1]["trace"]["x"] == [1.5, -2.0]
    pg.remove_point(1.4, -2.1)
    assert pg.n_train == n
    pg.clear_points()
    assert pg.n_train == 0 and pg.points()["train"] == []
    assert types(pg.step()) == ["state", "error", "frame"]  # nothing to train on: said, not crashed
    for k in range(5):
        pg.add_point(k - 2.0, k - 2.0, k % 2)
    pg.step()
    saved = pg.save()[0]["session"]
    other = Playground()
    other.load(json.loads(json.dumps(saved)))
    assert other.points()["train"] == pg.points()["train"] and other.state()["custom_data"]
    assert other.metrics()["train_loss"] == pytest.approx(pg.metrics()["train_loss"], rel=1e-12)
    with pytest.raises(ProtocolError) as e:
        pg.add_point(0.0, 0.0, 2)  # binary: classes 0 and 1
    assert e.value.field == "label"


def test_a_bad_csv_names_every_bad_line_and_changes_nothing():
    pg = Playground({"dataset": "moons"})
    before = pg.points()
    with pytest.raises(ProtocolError) as e:
        pg.load_csv("x1,x2,label\n1,2,0\n1,abc,1\n3,4\n0.5,0.5,9\n")
    reply = e.value.reply()
    assert reply["field"] == "csv" and reply["lines"] == [3, 4, 5]
    assert pg.points() == before and not pg.state()["custom_data"]
    text = "x1,x2,label\n" + "\n".join(f"{(k % 7) - 3},{(k % 5) - 2},{k % 2}" for k in range(40))
    pg.load_csv(text)
    assert pg.n_train + len(pg.X_test) == 40 and pg.state()["custom_data"]
    assert pg.export("csv")[0]["text"].count("\n") == 41
