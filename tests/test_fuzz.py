"""Fuzzing the real WebSocket endpoint with hypothesis: random JSON, wrong types, huge numbers, deep
nesting, oversized frames and binary frames, sent over a real socket to the app served by uvicorn with
`backlit serve`'s settings. The server must never raise (no internal errors), the connection must stay
open, and every message must get either a valid reply or an error reply."""

import json
import threading
import time

import numpy as np
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from backlit.server import protocol as P
from backlit.server.app import create_app
from backlit.server.run import bind, uvicorn_config

REPLY_TYPES = {"state", "points", "frame", "selection", "trace", "blame", "neuron", "check", "nudge",
               "update", "session", "error", "saliency", "graph", "graph_zoom", "code", "export",
               "images_state", "images_trace", "images_tile", "images_saliency", "images_attack", "lesson"}
SENTINEL_BASE = 10**15  # ids the fuzzer never uses


class Harness:
    def __init__(self, ws, app):
        self.ws = ws
        self.app = app
        self.sentinel = SENTINEL_BASE
        self.messages = 0

    def receive(self):
        try:
            m = self.ws.recv(timeout=60)
        except ConnectionClosed as e:
            pytest.fail(f"the server closed the connection: {e}")
        if isinstance(m, bytes):
            header, arrays = P.unpack_frame(m)
            assert header["type"] == "frame"
            json.dumps(header, allow_nan=False)
            assert all(np.isfinite(a).all() for a in arrays.values())
            return header
        text = m
        msg = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} sent to the page"))
        assert isinstance(msg, dict) and msg.get("type") in REPLY_TYPES, text[:200]
        if msg["type"] == "error":
            assert isinstance(msg["message"], str) and msg["message"]
            assert msg["field"] is None or isinstance(msg["field"], str)
        return msg

    def exchange(self, send):
        """Send one fuzz frame, then a sentinel; return everything received in between. The session
        is paused again afterwards if the fuzz frame started training."""
        send(self.ws)
        self.messages += 1
        replies = self._until_reply({"type": "save"})
        if any(r.get("playing") for r in replies if r["type"] in ("state", "frame")):
            self._until_reply({"type": "pause"}, last="frame")
        return replies

    def _until_reply(self, sentinel, last=None):
        self.sentinel += 1
        self.ws.send(json.dumps({**sentinel, "id": self.sentinel}))
        replies = []
        while True:
            msg = self.receive()
            if msg.get("reply_to") == self.sentinel:
                if last is None or msg["type"] == last:
                    return replies
                continue
            replies.append(msg)  # (the session is paused between exchanges: no training frames)


@pytest.fixture(scope="module")
def harness():
    app = create_app()
    sock, port = bind("127.0.0.1", 8700)
    server = uvicorn.Server(uvicorn_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            time.sleep(0.01)
        with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10, max_size=None) as ws:
            h = Harness(ws, app)
            h.exchange(lambda w: w.send(json.dumps({"type": "hello"})))
            yield h
        assert app.state.hub.errors == 0  # nothing but ProtocolErrors: the server never raised
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# ---- strategies --------------------------------------------------------------------------------

huge_numbers = st.sampled_from([10**20, -10**20, 2**53, 2**63, 10**300, 1e308, -1e308, 5e-324, 1e-300,
                                float("nan"), float("inf"), -float("inf"), -0.0, 2**31, 2**31 - 1])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), huge_numbers,
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)), max_leaves=25)

FIELD_NAMES = sorted({k for schema in P.SCHEMAS.values() for k in schema} | {"id", "type", "junk"})
field_values = st.one_of(json_values, st.integers(-3, 20), st.sampled_from(["bias", "x1", "spiral"]))


def config_value(name):
    s = P.SETTINGS[name]
    good = {"str": st.sampled_from(s.choices or ("x",)),
            "int": st.integers(int(s.lo or 0) - 2, int(min(s.hi or 10, 6000)) + 2),
            "float": st.floats(-1, 12),
            "bool": st.booleans(),
            "list[str]": st.lists(st.sampled_from(list(s.choices or ("x",))), max_size=8),
            "list[int]": st.lists(st.integers(-1, 18), max_size=10)}[s.type]
    return st.one_of(good, good, json_values)


configs = st.dictionaries(st.sampled_from(list(P.SETTINGS) + ["bogus"]), st.none(), max_size=6).flatmap(
    lambda d: st.fixed_dictionaries({k: (config_value(k) if k in P.SETTINGS else json_values) for k in d}))

shaped = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(P.MESSAGE_TYPES), st.sampled_from(P.MESSAGE_TYPES), json_values)},
    optional={"id": st.one_of(st.integers(-10, 10**6), json_values),
              "config": configs, "layer": field_values, "i": field_values, "j": field_values,
              "value": st.one_of(st.floats(-2e3, 2e3), field_values), "index": field_values,
              "x": st.one_of(st.floats(-12, 12), field_values), "y": st.one_of(st.floats(-12, 12), field_values),
              "url_state": st.one_of(st.text(max_size=60), st.just("d=xor&h=3,3&lr=0.1"), json_values),
              "session": json_values, "weights": json_values, "biases": json_values,
              "junk": json_values})
# Keep "play" rare so the session is not always training. A valid "drawn" (the page's frame
# acknowledgement) has no reply by design: tests/test_protocol.py covers it.
shaped = shaped.filter(lambda m: (m.get("type") != "play" or m.get("id") == 1) and m.get("type") != "drawn")

# Messages that pass the schema's shape (every required field, mostly the right types) so that the
# values reach the session: indices just inside and outside the network, NaN/inf and huge numbers.
near_index = st.one_of(st.integers(-2, 20), st.integers(-2, 20), huge_numbers, json_values)
near_number = st.one_of(st.floats(-2e3, 2e3), st.floats(allow_nan=True, allow_infinity=True), huge_numbers,
                        json_values)
sessions = st.fixed_dictionaries(
    {"format": st.one_of(st.just("backlit.session"), json_values), "version": st.one_of(st.just(1), json_values),
     "config": st.one_of(configs, json_values)},
    optional={"weights": json_values, "biases": json_values, "step": near_index, "samples_seen": near_index})
NEAR = {"neuron": near_index, "frames": near_index, "scale": near_number, "label": near_number, "rescale": st.one_of(st.booleans(), json_values),
        "format": st.one_of(st.sampled_from(["torch", "onnx", "worked", "worked_blanks", "csv"]), json_values),
        "text": st.one_of(st.just("x1,x2,label\n1,2,0\n3,4,1\n"), st.text(max_size=200), json_values),
        "layer": near_index, "i": near_index, "index": near_index, "x": near_number, "y": near_number,
        "value": near_number, "j": st.one_of(near_index, st.just("bias")), "config": configs,
        "session": sessions, "url_state": st.one_of(st.text(max_size=60), st.just("d=xor&h=3,3&lr=1e999")),
        "weights": json_values, "biases": json_values, "samples_seen": near_index, "step": near_index,
        "frames": near_index,
        # the images view's fields
        "network": st.one_of(st.sampled_from(["mlp", "cnn"]), json_values), "speed": near_index, "seed": near_index,
        "unit": near_index, "eps": near_number, "steps": near_index, "target": st.one_of(st.none(), near_index),
        "width": near_index, "height": near_index,
        "pixels": st.one_of(st.just("AAAAAA=="), st.text(max_size=40), json_values),
        # the course's fields
        "lesson": st.one_of(st.sampled_from(["first-look", "chain-rule", "slope"]), json_values),
        "answer": st.one_of(near_number, st.lists(st.text(max_size=6), max_size=4), json_values),
        "event": st.one_of(st.sampled_from(["forward", "backward"]), json_values),
        "done": st.one_of(st.just({"first-look": [0, 1]}), json_values),
        "values": st.one_of(st.just({"a": 2.0, "b": 1.0}), json_values), "wrt": st.one_of(st.just("b"), json_values),
        "points": st.one_of(json_values, st.fixed_dictionaries(
            {"train": st.lists(st.lists(near_number, min_size=3, max_size=3), max_size=4),
             "test": st.lists(st.lists(near_number, min_size=3, max_size=3), max_size=2)}))}
typed = st.sampled_from([k for k in P.MESSAGE_TYPES if k not in ("play", "images_play", "drawn")]).flatmap(
    lambda kind: st.fixed_dictionaries({"type": st.just(kind), **{f: NEAR[f] for f in P.SCHEMAS[kind]}},
                                       optional={"id": st.integers(-10, 10**6)}))


def text_frame(obj):
    return lambda ws: ws.send(json.dumps(obj))  # NaN/Infinity go out as bare literals


frames = st.one_of(
    typed.map(text_frame),
    typed.map(text_frame),
    shaped.map(text_frame),
    shaped.map(text_frame),
    json_values.map(text_frame),
    st.text(max_size=200).map(lambda t: (lambda ws: ws.send(t))),
    st.integers(1, 60_000).map(lambda n: (lambda ws: ws.send("[" * n + "]" * n))),
    st.integers(1, 30_000).map(lambda n: (lambda ws: ws.send('{"a":' * n + "1" + "}" * n))),
    st.integers(64 * 1024 - 100, 200 * 1024).map(
        lambda n: (lambda ws: ws.send('{"type": "step", "p": "' + "x" * n + '"}'))),
    st.binary(max_size=300).map(lambda b: (lambda ws: ws.send(b))),
    st.sampled_from(['{"type": "set", "config": {"lr": NaN}}', '{"type": "set", "config": {"lr": 1e999}}',
                     '{"type": "select", "index": ' + "9" * 5000 + "}", '{"type": "step", "id": 1e400}',
                     '{"type":"set_weight","layer":0,"i":0,"j":0,"value":-Infinity}', "\x00", ""]
                    ).map(lambda t: (lambda ws: ws.send(t))),
)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames)
def test_every_frame_gets_a_reply_and_the_server_survives(harness, send):
    replies = harness.exchange(send)
    assert replies, "no reply"
    assert harness.app.state.hub.errors == 0


def test_well_formed_sequences_never_error_internally(harness):
    """A short scripted tour at the largest limits, after the fuzzing (same session)."""
    big = {"features": list(P.SETTINGS["features"].choices), "hidden": [16] * 8, "n_points": 5000,
           "dataset": "spiral_multi", "classes": 5}
    harness.exchange(text_frame({"type": "images_close"}))   # the fuzzing may have left it in the images view
    harness.exchange(text_frame({"type": "lesson_leave"}))   # or in a lesson, whose exercise refuses some
    for msg in ({"type": "set", "config": big}, {"type": "step"}, {"type": "next_sample"},
                {"type": "nudge"}, {"type": "check", "layer": 8, "i": 4, "j": 15}, {"type": "apply_update"},
                {"type": "save"}):
        replies = harness.exchange(text_frame(msg))
        assert replies and all(r["type"] != "error" for r in replies), replies
    assert harness.messages > 1000 and harness.app.state.hub.errors == 0
