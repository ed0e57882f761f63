"""Saving and loading models: exact round trip, atomic writes, and one clear error per kind of bad file."""

import json
import os

import numpy as np
import pytest

from backlit import nn


def model():
    m = nn.MLP([3, 5, 4, 2], activation=["relu", "tanh"], output_activation="sigmoid", seed=3,
               init="he")
    m.linears[0].weight.data[0, 0] = 1 / 3  # a float that needs all 17 digits
    return m


def test_round_trip_is_exact(tmp_path):
    m = model()
    m.meta = {"features": ["x1", "x2", "x1x2"], "dataset": "spiral"}
    path = tmp_path / "model.json"
    nn.save(m, path)
    d = json.loads(path.read_text())
    assert d["format"] == "backlit.model" and d["version"] == 1
    assert d["architecture"] == {"sizes": [3, 5, 4, 2], "activations": ["relu", "tanh", "sigmoid"],
                                 "output_activation": "sigmoid", "init": "he"}
    assert list(d["weights"]) == [n for n, _ in m.named_parameters()]

    back = nn.load(str(path))
    assert isinstance(back, nn.MLP)
    assert (back.sizes, back.activations, back.output_activation, back.init) == \
        (m.sizes, m.activations, m.output_activation, m.init)
    assert back.meta == m.meta
    for (name, p), (name2, q) in zip(m.named_parameters(), back.named_parameters()):
        assert name == name2
        np.testing.assert_array_equal(p.data, q.data)
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(m(x).data, back(x).data)


def test_dict_round_trip_without_files():
    m = model()
    d = nn.model_to_dict(m)
    json.dumps(d, allow_nan=False)  # plain JSON types only
    back = nn.model_from_dict(d)
    for p, q in zip(m.parameters(), back.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert "meta" not in d and back.meta == {}


def test_save_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "model.json"
    nn.save(nn.MLP([2, 1], seed=0), path)
    m = model()
    nn.save(m, path)
    assert os.listdir(tmp_path) == ["model.json"]  # the temp file was renamed, not left behind
    assert nn.load(path).sizes == m.sizes

    broken = model()
    broken.linears[1].bias.data[2] = np.nan
    with pytest.raises(nn.ModelFileError, match=r"refusing to save: linears\.1\.bias.*NaN"):
        nn.save(broken, path)
    ok = model()
    ok.meta = {"when": object()}
    with pytest.raises(nn.ModelFileError, match="meta"):
        nn.save(ok, path)
    assert os.listdir(tmp_path) == ["model.json"]
    assert nn.load(path).sizes == m.sizes  # the failed saves left the old file intact
    with pytest.raises(nn.ModelFileError, match="cannot write"):
        nn.save(m, tmp_path / "no" / "such" / "dir" / "m.json")
    with pytest.raises(TypeError, match="MLP"):
        nn.save(nn.Linear(2, 2, seed=0), path)


def test_a_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    old = nn.MLP([2, 3, 1], seed=0)
    nn.save(old, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        nn.save(model(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.json"]  # the temp file was removed


def good():
    return nn.model_to_dict(nn.MLP([2, 3, 1], seed=0))


def edit(fn):
    d = good()
    fn(d)
    return d


BAD_DICTS = [
    ([1, 2], r"expected a JSON object, got list"),
    (edit(lambda d: d.update(format="keras")), r"format is 'keras'"),
    (edit(lambda d: d.pop("format")), r"format is None"),
    (edit(lambda d: d.update(version=2)), r"unsupported model file version 2"),
    (edit(lambda d: d.update(version="1")), r"unsupported model file version '1'"),
    (edit(lambda d: d.pop("architecture")), r"'architecture' must be an object"),
    (edit(lambda d: d["architecture"].update(sizes=[2, 0, 1])), r"'sizes'"),
    (edit(lambda d: d["architecture"].update(sizes=[2])), r"'sizes'"),
    (edit(lambda d: d["architecture"].update(activations=["tanh"])), r"'activations' must list 2"),
    (edit(lambda d: d["architecture"].update(activations=["swish", "linear"])), r"'activations'"),
    (edit(lambda d: d["architecture"].update(output_activation="sigmoid")), r"disagrees"),
    (edit(lambda d: d["architecture"].update(init="zeros")), r"unknown init 'zeros'"),
    (edit(lambda d: d.update(weights=[])), r"'weights' must be an object"),
    (edit(lambda d: d["weights"].pop("linears.1.bias")), r"missing linears\.1\.bias"),
    (edit(lambda d: d["weights"].update(extra=[1.0])), r"unexpected extra"),
    (edit(lambda d: d["weights"].update({"linears.0.weight": [[1.0, 2.0]] * 2})),
     r"linears\.0\.weight has shape \(2, 2\), expected \(3, 2\)"),
    (edit(lambda d: d["weights"].update({"linears.0.bias": [[0.1, 0.1, 0.1]]})),
     r"linears\.0\.bias has shape \(1, 3\), expected \(3,\)"),
    (edit(lambda d: d["weights"].update({"linears.0.weight": [[1.0, 2.0], [1.0], [3.0, 4.0]]})),
     r"linears\.0\.weight is not a rectangular array of numbers"),
    (edit(lambda d: d["weights"].update({"linears.1.bias": ["0.5"]})), r"not a rectangular array"),
    (edit(lambda d: d["weights"].update({"linears.1.bias": [None]})), r"not a rectangular array"),
    (edit(lambda d: d["weights"].update({"linears.1.bias": [True]})), r"not a rectangular array"),
    (edit(lambda d: d["weights"].update({"linears.1.bias": [float("nan")]})), r"non-finite"),
    (edit(lambda d: d["weights"].update({"linears.1.weight": [[1.0, float("inf"), 0.0]]})),
     r"linears\.1\.weight contains a non-finite"),
    (edit(lambda d: d.update(meta=[1])), r"'meta' must be an object"),
]


@pytest.mark.parametrize("d, message", BAD_DICTS)
def test_bad_dicts_raise_clear_errors(d, message):
    with pytest.raises(nn.ModelFileError, match=message) as info:
        nn.model_from_dict(d)
    assert "\n" not in str(info.value)


def test_huge_sizes_fail_before_allocating():
    d = edit(lambda d: d["architecture"].update(sizes=[2, 10**9, 1], activations=["tanh", "linear"]))
    with pytest.raises(nn.ModelFileError, match="shape"):
        nn.model_from_dict(d)


BAD_FILES = [
    ("truncated", lambda text: text[: len(text) // 2], r"not valid JSON \(.* at line 1 column"),
    ("empty", lambda text: "", r"not valid JSON"),
    ("not json", lambda text: "hello", r"not valid JSON"),
    ("binary", lambda text: "\udcff", r"cannot read model file"),
    ("NaN literal", lambda text: text.replace(text[text.index("[[") + 2:].split(",")[0], "NaN", 1),
     r"linears\.0\.weight contains a non-finite"),
    ("overflow", lambda text: text.replace(text[text.index("[[") + 2:].split(",")[0], "1e999", 1),
     r"non-finite"),
    ("other version", lambda text: text.replace('"version":1', '"version":99'), r"version 99"),
    ("other format", lambda text: text.replace("backlit.model", "onnx"), r"format is 'onnx'"),
]


@pytest.mark.parametrize("label, corrupt, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_raise_clear_errors(tmp_path, label, corrupt, message):
    path = tmp_path / "model.json"
    nn.save(nn.MLP([2, 3, 1], seed=0), path)
    text = corrupt(path.read_text())
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(nn.ModelFileError, match=message) as info:
        nn.load(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_file(tmp_path):
    with pytest.raises(nn.ModelFileError, match=r"cannot read model file .*nope\.json: No such file"):
        nn.load(tmp_path / "nope.json")
