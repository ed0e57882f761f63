"""The session's state: nothing half-loaded, a reconnect that restores everything Save does (the user's
own points included), counters that stay in range, and Save -> Load of every state it can reach."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backlit.lab import data, fit
from backlit.playground import csvdata
from backlit.playground.session import Playground
from backlit.server import protocol as P
from backlit.server.protocol import ProtocolError

MAX = 2**53 - 1


# ---- 1. a rejected CSV half-loads nothing -----------------------------------------------------------

@pytest.mark.parametrize("text, says", [
    ("0,0,2", "at least 2 points"),                               # a 3-class file of one point on a binary set
    ("x1,x2,y\n0,0,1.5\n1,1,2e6\n2,2,0.5\n", "-1000..1000"),    # a target no session file can hold
])
def test_a_refused_csv_leaves_everything_as_it_was(text, says, check):
    pg = Playground({"dataset": "plane"} if "x1,x2,y" in text else {})
    pg.step()
    before = check.snapshot(pg)
    with pytest.raises(ProtocolError, match=says):
        pg.load_csv(text)
    assert check.snapshot(pg) == before
    assert pg.config["loss"] == ("mse" if "x1,x2,y" in text else "bce") and pg.kind in ("binary", "regression")
    check.still_works(pg)


def test_classes_below_the_users_own_labels_are_refused_and_change_nothing(check):
    pg = Playground({"dataset": "blobs"})
    pg.load_csv("x1,x2,label\n" + "".join(f"{k % 5 - 2},{k // 5 - 2},{k % 5}\n" for k in range(25)))
    assert pg.config["classes"] == 5 and pg.custom is not None
    before = check.snapshot(pg)
    with pytest.raises(ProtocolError, match="classes") as e:
        pg.set({"classes": 3})
    assert e.value.field == "config.classes"
    assert check.snapshot(pg) == before
    check.still_works(pg)


# ---- 6. a reconnect restores the user's own points ----------------------------------------------------

def test_a_reconnect_restores_the_users_own_points_weights_and_counters(check):
    pg = Playground()
    pg.clear_points()
    rng = np.random.default_rng(3)
    for x, y in rng.uniform(-5, 5, size=(30, 2)).tolist():
        pg.add_point(x, y, int(x * y > 0))
    for _ in range(7):
        pg.step()
    assert pg.n_train == 30 and pg.step_count == 7
    back = Playground()
    back.handle(P.validate(check.reconnect_hello(pg)))
    assert back.n_train == 30 and len(back.X_test) == 0 and back.custom is not None
    np.testing.assert_array_equal(back.X_train, pg.X_train)
    np.testing.assert_array_equal(back.y_train, pg.y_train)
    assert check.snapshot(back) == check.snapshot(pg)


def test_the_largest_reconnect_fits_in_one_message_when_packed(check):
    """5,000 regression points with full float64 digits and the largest network: the page packs the
    points (base64 of float64 triples), and the hello stays under the message limit, exactly."""
    big = {"dataset": "plane", "n_points": 5000, "hidden": [16] * 8, "features": list(data.FEATURES)}
    pg = Playground(big)
    ds = data.make("plane", n=5000, seed=4, noise=0.5)
    pg.load_csv(csvdata.to_csv(ds.X, ds.y, ds.kind))
    assert pg.n_train + len(pg.X_test) == 5000
    msg = check.reconnect_hello(pg)
    assert len(json.dumps(msg)) > P.MAX_MESSAGE_BYTES  # as plain lists it would not fit
    msg["points"] = pg.custom.packed()
    text = json.dumps(msg, separators=(",", ":"))
    assert len(text) < P.MAX_MESSAGE_BYTES
    back = Playground(big)
    back.handle(P.validate(P.decode(text)))
    assert check.snapshot(back) == check.snapshot(pg)
    saved = pg.save()[0]["session"]  # Save packs them too, so the file loads
    assert len(json.dumps({"type": "load", "session": saved})) < P.MAX_MESSAGE_BYTES
    loaded = Playground()
    loaded.load(saved)
    assert check.snapshot(loaded) == check.snapshot(pg)


@pytest.mark.parametrize("points, field", [
    ({"train": [[0, 0, 3]], "test": []}, "points.train[0]"),            # class 3 on a binary set
    ({"train": [[0, 99, 1]], "test": []}, "points.train[0]"),           # off the plane
    ({"train": "AAAA", "test": ""}, "points.train"),                    # not whole triples
    ({"train": "not base64!", "test": ""}, "points.train"),
    ({"train": [[0, 0, 1]] * 5001, "test": []}, "points"),              # over the session's limit
])
def test_bad_points_in_a_hello_are_reported_and_the_dataset_is_used(points, field):
    pg = Playground()
    replies = pg.handle(P.validate({"type": "hello", "config": {"dataset": "xor"}, "points": points}))
    assert replies[0]["type"] == "error" and replies[0]["field"] == field
    assert [m["type"] for m in replies[1:]] == ["state", "points", "frame"]
    assert pg.config["dataset"] == "xor" and pg.custom is None and pg.n_train == 250


# ---- 7. counters stay in range -------------------------------------------------------------------------

def test_counters_saturate_and_every_reached_state_saves_loads_and_reconnects(check):
    pg = Playground()
    msg = check.reconnect_hello(pg)
    pg.handle(P.validate({**msg, "step": MAX, "samples_seen": MAX - 3}))
    assert pg.step_count == MAX and pg.samples_seen == MAX - 3
    pg.step()
    pg.train_for(0.01, max_steps=20)
    assert pg.step_count == MAX and pg.samples_seen == MAX  # saturated, not wrapped, not past
    header, _ = pg.frame()
    assert header["step"] == MAX and header["samples_seen"] == MAX
    check.still_works(pg)


def test_the_training_loop_stops_its_counters_at_the_limit_too():
    model = fit.build_model(["x1", "x2"], [3], "binary")
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    trainer = fit.Trainer(model, X, fit.targets(y, "bce", 1), "bce", "sgd", 0.1, np.random.default_rng(0))
    trainer.steps, trainer.samples = MAX - 1, MAX - 5
    assert trainer.run(10, max_steps=5)  # a bounded run ends even though the counters stop moving
    assert trainer.steps == MAX and trainer.samples == MAX


def test_one_divergence_rule_for_the_cli_and_the_playground():
    """A weight past +-WEIGHT_LIMIT is divergence in `backlit train`'s loop as in the session."""
    model = fit.build_model(["x1", "x2"], [4], "regression", activation="relu", seed=0)
    ds = data.make("plane", n=100, seed=0)
    result = fit.fit(model, ds.X, ds.y * 1e4, kind="regression", optimizer="sgd", lr=10.0, epochs=50,
                     batch_size=10)
    assert result.diverged
    assert fit.within_limits(model.parameters())
    pg = Playground({"dataset": "plane", "lr": 10.0, "hidden": [8, 8], "activation": "relu"})
    for _ in range(200):
        pg.step()
        if pg.diverged:
            break
    assert pg.diverged and fit.within_limits(pg.model.parameters())


def test_every_weight_change_and_every_rebuild_gives_a_new_version():
    """A cache outside the session (the teacher's thumbnails) keys on it: no two states share one."""
    pg = Playground()
    seen = [pg.version]
    for act in (pg.step, pg.reset, lambda: pg.set_weight(0, 0, 0, 0.5), lambda: pg.set({"hidden": [3]}),
                pg.regenerate):
        act()
        assert pg.version not in seen
        seen.append(pg.version)
    assert Playground().version not in seen
