"""All or nothing: random sequences of valid and invalid messages, run as the server runs them
(``protocol.validate``, then ``Playground.handle``). After each refused one, the session's config,
data, weights and counters are exactly as before, and export, Save -> Load and a reconnect still work.
A message is refused when it raises ProtocolError; anything else it raises is a bug."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from backlit.playground.session import Playground
from backlit.server import protocol as P

BASE = {"dataset": "xor", "hidden": [3], "n_points": 60}

# a saved session of another shape (multiclass, own points), and broken copies of it
_other = Playground({"dataset": "blobs", "classes": 4, "hidden": [2], "n_points": 60})
_other.load_csv("x1,x2,label\n" + "".join(f"{k % 4 - 2},{k // 4 - 2},{k % 4}\n" for k in range(16)))
_other.step()
SAVED = _other.save()[0]["session"]


def _broken(change):
    s = copy.deepcopy(SAVED)
    change(s)
    return s


SESSIONS = [SAVED,
            _broken(lambda s: s["weights"][0].pop()),                            # wrong shape
            _broken(lambda s: s["points"]["train"][0].__setitem__(2, 7)),        # class 7 of 4
            _broken(lambda s: s["points"]["test"].append([0, 40, 1])),           # off the plane
            _broken(lambda s: s.__setitem__("step", 2**53)),                      # past the counters' range
            _broken(lambda s: s["config"].__setitem__("classes", 3)),             # labels up to 3 need 4
            _broken(lambda s: s.__setitem__("version", 2))]

CSVS = ["0,0,2",                                                    # one point of a third class
        "x1,x2,label\n0,0,0\n1,1,1\n2,2,2\n-1,1,0\n",               # a 3-class file: switches the set
        "x1,x2,label\n0,0,0\n1,1,1\n-2,1,1\n",                      # binary
        "x1,x2,label\n0,0,0\n1,abc,1\n",                            # a bad row
        "x1,x2,y\n0,0,5000\n1,1,1\n",                               # regression onto classification
        "x1,x2,label\n0,0,9\n1,1,0\n",                              # too many classes
        "x1,x2,label\n40,0,1\n1,1,0\n0,2,1\n",                      # outside the plane (rescale offers)
        ""]

coord = st.one_of(st.floats(-6, 6), st.sampled_from([0.0, 11.0, -10.0, 9.99]))
label = st.sampled_from([0, 1, 2, 3, 5, -1, 0.5, 1e4, "a", None])
config = st.fixed_dictionaries({}, optional={
    "dataset": st.sampled_from(["xor", "circle", "blobs", "plane", "bogus"]),
    "classes": st.sampled_from([2, 3, 4, 5, 6]), "hidden": st.sampled_from([[2], [], [3, 2], [99]]),
    "loss": st.sampled_from(["bce", "mse", "cross_entropy", "hinge"]),
    "lr": st.sampled_from([0.03, 10.0, 0.0, 1e9]), "batch_size": st.sampled_from([1, 10, 0]),
    "problem": st.sampled_from(["regression", "classification"]), "seed": st.sampled_from([0, 2, -1]),
    "optimizer": st.sampled_from(["adam", "sgd", "lbfgs"]), "features": st.sampled_from([["x1"], [], ["x1", "x1"]])})


@st.composite
def hello(draw):
    msg = {"type": "hello", "config": draw(config)}
    if draw(st.booleans()):
        layers = draw(st.sampled_from([[2, 3, 1], [2, 2, 1], [2, 3, 3]]))
        msg["weights"] = [[[0.1] * a for _ in range(b)] for a, b in zip(layers, layers[1:])]
        msg["biases"] = [[0.0] * b for b in layers[1:]]
        msg["step"] = draw(st.sampled_from([0, 5, 2**53 - 1]))
    if draw(st.booleans()):
        msg["points"] = {"train": [[draw(coord), draw(coord), draw(label)] for _ in range(draw(st.integers(0, 3)))],
                         "test": []}
    return msg


messages = st.one_of(
    st.builds(lambda c: {"type": "set", "config": c}, config),
    st.builds(lambda t, r: {"type": "load_csv", "text": t, "rescale": r}, st.sampled_from(CSVS), st.booleans()),
    st.builds(lambda x, y, lab: {"type": "add_point", "x": x, "y": y, "label": lab}, coord, coord, label),
    st.builds(lambda x, y: {"type": "remove_point", "x": x, "y": y}, coord, coord),
    st.builds(lambda s: {"type": "apply_update", "scale": s}, st.sampled_from([1.0, 0.5, 1e-7, 2.0])),
    st.builds(lambda s: {"type": "load", "session": s}, st.sampled_from(SESSIONS)),
    st.builds(lambda i: {"type": "select", "index": i}, st.sampled_from([0, 3, 10**5])),
    hello(),
    st.sampled_from([{"type": t} for t in ("step", "reset", "regenerate", "clear_points", "next_sample")]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(messages, min_size=1, max_size=6))
def test_a_refused_message_changes_nothing(check, sequence):
    pg = Playground(BASE)
    for msg in sequence:
        before = check.snapshot(pg)
        try:
            pg.handle(P.validate(copy.deepcopy(msg)))
        except P.ProtocolError:
            event(f"refused {msg['type']}")  # --hypothesis-show-statistics lists them
            assert check.snapshot(pg) == before, msg
            check.still_works(pg)
    check.still_works(pg)


@pytest.mark.parametrize("msg", [
    {"type": "load_csv", "text": "0,0,2"},
    {"type": "load", "session": SESSIONS[2]},
    {"type": "add_point", "x": 0.0, "y": 0.0, "label": 2},
    {"type": "set", "config": {"dataset": "plane", "loss": "bce"}},
    {"type": "remove_point", "x": 9.0, "y": 9.0},
])
def test_each_kind_of_refusal_on_a_trained_session(check, msg):
    pg = Playground(BASE)
    for _ in range(3):
        pg.step()
    before = check.snapshot(pg)
    with pytest.raises(P.ProtocolError):
        pg.handle(P.validate(msg))
    assert check.snapshot(pg) == before
    check.still_works(pg)
