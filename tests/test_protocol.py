"""The WebSocket protocol end to end, through Starlette's test client: every message type, malformed
messages (an error reply naming the field; the session goes on) and the binary frame layout."""

import json
import struct
import time
import warnings
import zlib

import numpy as np
import pytest

warnings.filterwarnings("ignore", message=".*httpx.*")  # Starlette's test client on newer Starlette
from starlette.testclient import TestClient  # noqa: E402

from backlit.server import protocol as P  # noqa: E402
from backlit.server.app import create_app  # noqa: E402


class Conn:
    """A WebSocket test connection that decodes text and binary frames into (type, payload)."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1

    def recv(self):
        m = self.ws.receive()
        if m.get("bytes") is not None:
            header, arrays = P.unpack_frame(m["bytes"])
            return {**header, "_arrays": arrays}
        if m.get("text") is None:
            raise AssertionError(f"connection closed: {m}")
        return json.loads(m["text"])

    def send(self, msg):
        msg = dict(msg)
        msg.setdefault("id", self.next_id)
        self.next_id += 1
        self.ws.send_text(json.dumps(msg))
        return msg["id"]

    def request(self, msg, count=None):
        """Send and collect the replies to it (frames from the training loop are skipped)."""
        rid = self.send(msg)
        out = []
        while True:
            m = self.recv()
            if m.get("reply_to") != rid:
                continue
            out.append(m)
            if count is not None and len(out) == count:
                return out
            if count is None and len(out) == EXPECTED.get(msg["type"], 1):
                return out


# How many replies each request gets in the default session (see docs/protocol.md).
EXPECTED = {"hello": 3, "set": 2, "regenerate": 3, "reset": 2, "play": 1, "pause": 2, "step": 1,
            "set_weight": 1, "select": 2, "select_point": 2, "next_sample": 2, "trace": 1, "blame": 1,
            "neuron": 1, "check": 1, "nudge": 1, "apply_update": 2, "save": 1, "load": 3}


@pytest.fixture
def conn():
    app = create_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            c = Conn(ws)
            c.app = app
            yield c


def kinds(msgs):
    return [m["type"] for m in msgs]


def test_every_message_type(conn):
    assert kinds(conn.request({"type": "hello", "url_state": "h=3&d=xor"})) == ["state", "points", "frame"]
    replies = conn.request({"type": "set", "config": {"lr": 0.1}})
    assert kinds(replies) == ["state", "frame"] and replies[0]["config"]["lr"] == 0.1
    assert replies[0]["config"]["dataset"] == "xor" and replies[0]["sizes"] == [2, 3, 1]
    assert kinds(conn.request({"type": "step"})) == ["frame"]
    assert kinds(conn.request({"type": "set_weight", "layer": 0, "i": 1, "j": 0, "value": 0.5})) == ["frame"]
    assert kinds(conn.request({"type": "select", "index": 4})) == ["selection", "trace"]
    assert kinds(conn.request({"type": "select_point", "x": 1.5, "y": -2})) == ["selection", "trace"]
    assert kinds(conn.request({"type": "next_sample"})) == ["selection", "trace"]
    assert kinds(conn.request({"type": "trace"})) == ["trace"]
    assert conn.request({"type": "blame", "layer": 0, "i": 2, "j": 1})[0]["type"] == "blame"
    assert conn.request({"type": "neuron", "layer": -1, "i": 0})[0]["type"] == "neuron"
    check = conn.request({"type": "check", "layer": 1, "i": 0, "j": 2})[0]
    assert check["type"] == "check" and check["rel_error"] < 1e-6
    assert conn.request({"type": "nudge"})[0]["type"] == "nudge"
    assert kinds(conn.request({"type": "apply_update"})) == ["update", "frame"]
    session = conn.request({"type": "save"})[0]
    assert session["type"] == "session" and session["session"]["format"] == "backlit.session"
    assert kinds(conn.request({"type": "regenerate"})) == ["state", "points", "frame"]
    assert kinds(conn.request({"type": "reset"})) == ["state", "frame"]
    state = conn.request({"type": "load", "session": session["session"]})[0]
    assert state["type"] == "state" and state["config"]["lr"] == 0.1 and state["config"]["seed"] == 1
    assert conn.request({"type": "play"})[0]["playing"] is True
    frames = [conn.recv() for _ in range(3)]
    assert all(f["type"] == "frame" and f["playing"] for f in frames)
    replies = conn.request({"type": "pause"})
    assert kinds(replies) == ["state", "frame"] and replies[0]["playing"] is False


def test_training_sends_frames_and_controls_apply_between_ticks(conn):
    conn.request({"type": "hello"})
    conn.request({"type": "play"})
    frames = []
    while len(frames) < 5:
        m = conn.recv()
        if m["type"] == "frame":
            frames.append(m)
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    assert all(f["history"] or f["history_reset"] for f in frames)
    assert frames[-1]["train_grad"]["grad_W"]
    state = conn.request({"type": "set", "config": {"lr": 0.3}}, count=1)[0]
    assert state["type"] == "state" and state["playing"] and state["config"]["lr"] == 0.3
    conn.request({"type": "pause"})
    assert conn.app.state.hub.playing == 0 and conn.app.state.hub.errors == 0


def test_reply_ids_and_frame_layout(conn):
    conn.send({"type": "hello", "id": 77})
    msgs = [conn.recv() for _ in range(3)]
    assert all(m["reply_to"] == 77 for m in msgs)
    frame = msgs[2]
    boundary, neurons = frame["arrays"]
    assert {k: boundary[k] for k in ("name", "shape", "dtype", "offset", "bytes")} == \
        {"name": "boundary", "shape": [100, 100], "dtype": "u8", "offset": 0, "bytes": 10000}
    assert neurons["name"] == "neurons" and neurons["shape"] == [9, 25, 25] and neurons["offset"] == 10000
    assert len(neurons["lo"]) == len(neurons["hi"]) == 9  # one range per neuron map
    assert [t["field"] for t in frame["tensors"]] == ["weights", "biases", "train_grad.grad_W", "train_grad.grad_b"]
    assert [np.array(w).shape for w in frame["weights"]] == [(4, 2), (2, 4), (1, 2)]
    # raw layout: length prefix, JSON header, padding to 8, deflated body
    conn.ws.send_text(json.dumps({"type": "step"}))
    buf = conn.ws.receive()["bytes"]
    (n,) = struct.unpack_from("<I", buf)
    head = json.loads(buf[4:4 + n])
    start = 4 + n + (-(4 + n)) % 8
    assert start % 8 == 0 and head["body"]["deflate"] and "reply_to" not in head
    assert len(zlib.decompress(buf[start:])) == head["body"]["bytes"]
    assert len(buf) <= 16_000  # a default-network frame (issue 12: <= 16 KB)
    # a frame whose weights did not change does not send them again
    conn.ws.send_text(json.dumps({"type": "set", "config": {"show_test": True}}))
    conn.ws.send_text(json.dumps({"type": "pause"}))
    msgs = []
    while len(msgs) < 3:
        m = conn.ws.receive()
        msgs.append(m)
    buf = msgs[-1]["bytes"]
    (n,) = struct.unpack_from("<I", buf)
    head = json.loads(buf[4:4 + n])
    assert all(p.get("same") for p in head["arrays"] + head["tensors"]) and len(buf) < 2000


def test_compact_frames_round_trip_within_a_level():
    from backlit.playground.session import Playground

    pg = Playground({"dataset": "spiral_multi", "classes": 5, "hidden": [6, 6]})
    pg.train_for(0.02)
    header, arrays = pg.frame()
    enc, dec = P.FrameEncoder(), P.FrameDecoder()
    h2, a2 = dec.decode(enc.encode(header, arrays))
    assert np.array_equal(a2["boundary"], arrays["boundary"])  # class indices are exact
    for name in ("confidence", "neurons"):
        a, b = arrays[name], a2[name]
        span = np.ptp(a.reshape(len(a), -1), axis=1).reshape((-1,) + (1,) * (a.ndim - 1)) if a.ndim == 3 else np.ptp(a)
        assert np.all(np.abs(a - b) <= span / 510 + 1e-6)  # half a level of its own map's range
    assert h2["weights"] == header["weights"] and h2["biases"] == header["biases"]  # exact (float64)
    assert np.allclose(h2["train_grad"]["grad_W"][0], header["train_grad"]["grad_W"][0], rtol=1e-6)
    assert h2["train_grad"]["scale"] == header["train_grad"]["scale"]
    h3, a3 = dec.decode(enc.encode(header, arrays))  # the same again: nothing re-sent, all decoded
    assert h3["weights"] == header["weights"] and all(np.array_equal(a3[k], a2[k]) for k in arrays)


@pytest.mark.parametrize("msg, field", [
    ({"type": "set", "config": {"lr": "abc"}}, "config.lr"),
    ({"type": "set", "config": {"lr": 1e6}}, "config.lr"),
    ({"type": "set", "config": {"hidden": [4] * 20}}, "config.hidden"),
    ({"type": "set", "config": {"n_points": 10**9}}, "config.n_points"),
    ({"type": "set", "config": "lr=1"}, "config"),
    ({"type": "set"}, "config"),
    ({"type": "set_weight", "layer": 0, "i": 0, "j": 0, "value": "abc"}, "value"),
    ({"type": "set_weight", "layer": 0, "i": 0, "j": 0, "value": 1e9}, "value"),
    ({"type": "set_weight", "layer": 5, "i": 0, "j": 0, "value": 1}, "layer"),
    ({"type": "set_weight", "layer": 0, "i": 9, "j": 0, "value": 1}, "i"),
    ({"type": "set_weight", "layer": 0, "i": 0, "j": "weight", "value": 1}, "j"),
    ({"type": "select", "index": 250}, "index"),
    ({"type": "select", "index": -1}, "index"),
    ({"type": "select", "index": True}, "index"),
    ({"type": "select_point", "x": 0, "y": 99}, "y"),
    ({"type": "neuron", "layer": -2, "i": 0}, "layer"),
    ({"type": "step", "extra": 1}, "extra"),
    ({"type": "launch"}, "type"),
    ({"type": 5}, "type"),
    ({"id": 3}, "type"),
    ({"type": "step", "id": "x"}, "id"),
    ({"type": "load", "session": {"format": "nope"}}, "session.format"),
    ({"type": "hello", "weights": 3}, "weights"),
])
def test_malformed_messages_get_an_error_naming_the_field(conn, msg, field):
    conn.request({"type": "hello"})
    conn.ws.send_text(json.dumps(msg))
    reply = conn.recv()
    assert reply["type"] == "error" and reply["field"] == field and reply["message"]
    # the session is still alive and unchanged
    assert conn.request({"type": "step"})[0]["type"] == "frame"


@pytest.mark.parametrize("raw", [
    "not json", "[1, 2]", '"step"', "null", '{"type": "step", "n": ' + "9" * 5000 + "}",
    "[" * 20000 + "]" * 20000, '{"type": "step", "pad": "' + "x" * (P.MAX_MESSAGE_BYTES + 1024) + '"}', "",
])
def test_undecodable_frames_get_an_error(conn, raw):
    conn.ws.send_text(raw)
    reply = conn.recv()
    assert reply["type"] == "error" and reply["field"] == "message"
    assert kinds(conn.request({"type": "hello"})) == ["state", "points", "frame"]


def test_binary_frames_are_refused(conn):
    conn.ws.send_bytes(b"\x00\x01binary")
    reply = conn.recv()
    assert reply == {"type": "error", "field": "message",
                     "message": "binary frames are not accepted; send JSON text frames"}
    assert conn.request({"type": "step"})[0]["type"] == "frame"


BAD_NUMBERS = [
    ('{"type": "set", "config": {"lr": NaN}}', "config.lr", "finite number in 1e-05..10"),
    ('{"type": "set", "config": {"lr": Infinity}}', "config.lr", "finite number in 1e-05..10"),
    ('{"type": "set", "config": {"lr": 1e999}}', "config.lr", "finite number in 1e-05..10"),
    ('{"type": "set", "config": {"lr": "abc", "hidden": [3]}}', "config.lr", "in 1e-05..10"),
    ('{"type": "set", "config": {"reg_rate": -Infinity}}', "config.reg_rate", "in 0..1"),
    ('{"type": "set_weight", "layer": 0, "i": 0, "j": 0, "value": "abc"}', "value", "in -1000..1000"),
    ('{"type": "set_weight", "layer": 0, "i": 0, "j": 0, "value": NaN}', "value", "in -1000..1000"),
    ('{"type": "set_weight", "layer": 0, "i": 0, "j": "bias", "value": -1e999}', "value", "in -1000..1000"),
    ('{"type": "set_weight", "layer": 0, "i": 4, "j": 0, "value": 1}', "i", "0..3"),
    ('{"type": "set_weight", "layer": 3, "i": 0, "j": 0, "value": 1}', "layer", "0..2"),
    ('{"type": "set_weight", "layer": 1, "i": 0, "j": 4, "value": 1}', "j", "0..3"),
    ('{"type": "select", "index": 250}', "index", "0..249"),
    ('{"type": "select", "index": NaN}', "index", "integer"),
    ('{"type": "select_point", "x": Infinity, "y": 0}', "x", "in -10..10"),
    ('{"type": "hello", "weights": [[[NaN, 1], [1, 1], [1, 1], [1, 1]], [[1, 1, 1, 1], [1, 1, 1, 1]], '
     '[[1, 1]]], "biases": [[0, 0, 0, 0], [0, 0], [0]]}', "weights[0]", "finite numbers in -1e+06..1e+06"),
]


@pytest.mark.parametrize("raw, field, allowed", BAD_NUMBERS)
def test_bad_numbers_never_reach_the_model(conn, raw, field, allowed):
    """NaN/inf, strings and out-of-range indices get an error naming the field and the allowed range;
    the weights, the config and the counters are exactly as before."""
    conn.request({"type": "hello", "config": {"dataset": "xor"}})
    conn.request({"type": "step"})
    before = conn.request({"type": "save"})[0]["session"]
    conn.ws.send_text(raw)
    reply = conn.recv()
    assert reply["type"] == "error" and reply["field"] == field and allowed in reply["message"], reply
    if raw.startswith('{"type": "hello"'):  # hello starts afresh, with fresh weights, not the bad ones
        assert kinds([conn.recv() for _ in range(3)]) == ["state", "points", "frame"]
        before = conn.request({"type": "save"})[0]["session"]
        conn.request({"type": "reset"})
    after = conn.request({"type": "save"})[0]["session"]
    assert after == before
    assert conn.app.state.hub.errors == 0


def test_blame_and_check_take_a_bias(conn):
    conn.request({"type": "hello"})
    blame = conn.request({"type": "blame", "layer": 1, "i": 0, "j": "bias"})[0]
    assert blame["type"] == "blame" and blame["j"] == "bias"
    check = conn.request({"type": "check", "layer": 2, "i": 0, "j": "bias"})[0]
    assert check["type"] == "check" and check["j"] == "bias" and check["rel_error"] < 1e-6
    err = conn.request({"type": "check", "layer": 2, "i": 0, "j": "weight"})[0]
    assert err["type"] == "error" and err["field"] == "j" and '"bias"' in err["message"]


def test_error_reply_carries_the_id_when_it_is_valid(conn):
    conn.ws.send_text(json.dumps({"type": "select", "index": -5, "id": 41}))
    reply = conn.recv()
    assert reply["reply_to"] == 41 and reply["field"] == "index"


def test_divergence_over_the_wire_sends_no_nan(conn):
    conn.request({"type": "hello", "config": {"dataset": "plane", "lr": 10, "hidden": [8, 8],
                                              "activation": "relu"}})
    conn.request({"type": "play"})
    state = None
    for _ in range(200):
        raw = conn.ws.receive()
        if raw.get("text"):
            assert "NaN" not in raw["text"] and "Infinity" not in raw["text"]
            state = json.loads(raw["text"])
            if state["type"] == "state" and state["diverged"]:
                break
        else:
            header, arrays = P.unpack_frame(raw["bytes"])
            assert all(np.isfinite(a).all() for a in arrays.values())
    assert state is not None and state["diverged"] and not state["playing"]
    assert state["status"] == "diverged: lower the learning rate or reset"
    frame = conn.recv()
    assert frame["type"] == "frame" and frame["diverged"] and not frame["playing"]
    assert all(np.isfinite(a).all() for a in frame["_arrays"].values())
    assert conn.app.state.hub.playing == 0


def test_pack_frame_sanitises_and_aligns():
    header = {"type": "frame", "loss": float("nan")}
    buf = P.pack_frame(header, {"a": np.array([1.0, np.nan, np.inf]), "b": np.ones((2, 3))})
    h, arrays = P.unpack_frame(buf)
    assert h["loss"] is None and h["arrays"][1]["offset"] == 16  # 3 float32, padded to 8 bytes
    assert arrays["a"].tolist() == [1.0, 0.0, pytest.approx(3.4e38, rel=1e-3)]
    assert arrays["b"].shape == (2, 3)


def test_sessions_are_isolated_and_share_the_training_budget():
    app = create_app()
    with TestClient(app) as client, client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        ca, cb = Conn(a), Conn(b)
        ca.request({"type": "hello", "config": {"dataset": "xor"}})
        cb.request({"type": "hello", "config": {"dataset": "circle", "hidden": [5]}})
        ca.request({"type": "play"})
        cb.request({"type": "play"})
        assert app.state.hub.playing == 2
        time.sleep(2 * app.state.hub.RECOUNT)  # the busy sessions are recounted every 0.1 s
        assert app.state.hub.rate(time.monotonic()) == pytest.approx(app.state.limits.cpu_share / 2)
        for c in (ca, cb, ca, cb):  # both keep getting training frames: neither starves
            for _ in range(3):
                while c.recv()["type"] != "frame":
                    pass
        sa = ca.request({"type": "pause"})[0]
        sb = cb.request({"type": "pause"})[0]
        assert sa["config"]["dataset"] == "xor" and sa["sizes"] == [2, 4, 2, 1]
        assert sb["config"]["dataset"] == "circle" and sb["sizes"] == [2, 5, 1]
        assert sa["step"] > 0 and sb["step"] > 0
        assert app.state.hub.playing == 0 and app.state.hub.sessions == 2


# ---- issue 12: one error per bad message, huge weights, Check it ---------------------------------

def test_one_error_reply_per_bad_hello(conn):
    config = {str(i): 0 for i in range(5000)}  # 5,000 unknown keys, under the 64 KiB message limit
    conn.send({"type": "hello", "id": 5, "config": config})
    msgs = [conn.recv() for _ in range(4)]
    assert [m["type"] for m in msgs] == ["error", "state", "points", "frame"]
    err = msgs[0]
    assert err["count"] == 5000 and err["fields"][:2] == ["config.0", "config.1"]
    assert len(err["fields"]) == P.FieldErrors.MAX_LISTED and "and 4997 more" in err["message"]
    assert len(json.dumps(err)) < 4000


def test_one_error_reply_listing_every_bad_field(conn):
    conn.send({"type": "set_weight", "id": 9, "layer": "x", "i": -1, "value": "big", "junk": 1})
    err = conn.recv()
    assert err["type"] == "error" and err["reply_to"] == 9
    assert set(err["fields"]) == {"junk", "layer", "i", "j", "value"} and err["count"] == 5
    conn.send({"type": "step", "id": 10})  # the next message is answered as usual
    assert conn.recv()["reply_to"] == 10


@pytest.mark.parametrize("dataset", ["circle", "spiral_multi", "plane"])  # binary, multiclass, regression
def test_every_reachable_state_can_be_saved_and_restored(dataset):
    from backlit.playground.session import Playground

    pg = Playground({"dataset": dataset, "lr": 10.0, "hidden": [8, 8], "optimizer": "momentum"})
    for _ in range(300):
        pg.step()
        biggest = max(float(np.abs(p.data).max()) for p in pg.model.parameters())
        assert biggest <= P.WEIGHT_LIMIT  # divergence is declared before the weights leave the range
        if pg.diverged:
            break
    saved = pg.save()[0]["session"]
    other = Playground()
    msgs = other.load(saved)
    assert msgs[0]["type"] == "state" and other.step_count == pg.step_count
    header, _ = pg.frame()
    again = Playground()
    msgs = again.hello(config=pg.config, weights=header["weights"], biases=header["biases"], step=pg.step_count)
    assert msgs[0]["type"] == "state" and again.step_count == pg.step_count


def test_huge_weights_survive_save_load_and_reconnect_over_the_socket():
    app = create_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            c = Conn(ws)
            c.request({"type": "hello", "config": {"dataset": "plane", "lr": 10.0}})
            frames = []
            for _ in range(12):
                replies = c.request({"type": "step"}, count=None)
                frames += [r for r in replies if r["type"] == "frame"]
            last = frames[-1]
            session = c.request({"type": "save"})[0]["session"]
        with client.websocket_connect("/ws") as ws:  # Load in a new tab
            c = Conn(ws)
            c.request({"type": "hello"})
            state = c.request({"type": "load", "session": session})[0]
            assert state["type"] == "state" and state["step"] == session["step"]
        with client.websocket_connect("/ws") as ws:  # a reconnect restores through hello
            c = Conn(ws)
            msgs = c.request({"type": "hello", "config": session["config"], "weights": last["weights"],
                              "biases": last["biases"], "step": last["step"]})
            assert msgs[0]["type"] == "state" and msgs[0]["step"] == last["step"]


def test_check_it_on_a_huge_weight():
    from backlit.playground.session import Playground

    pg = Playground()
    for w in (7.2e11, 1e12, -1e12):
        pg.model.linears[0].weight.data[0, 0] = w
        out = pg.check(0, 0, 0)[0]
        assert out["type"] == "check" and np.isfinite(out["slope"]) and out["eps"] == pytest.approx(1e-6 * abs(w))
    pg.model.linears[0].weight.data[0, 0] = np.finfo(float).max  # w + h overflows: a clear message
    with pytest.raises(P.ProtocolError, match="cannot check W_0\\[0, 0\\]"):
        pg.check(0, 0, 0)


def test_drawn_acknowledges_frames_without_a_reply(conn):
    conn.send({"type": "drawn", "frames": 2, "id": 3})
    conn.send({"type": "step", "id": 4})
    assert conn.recv()["reply_to"] == 4  # nothing came back for "drawn"
    conn.send({"type": "drawn", "frames": 0, "id": 5})
    assert conn.recv()["field"] == "frames"
