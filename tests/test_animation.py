"""`backlit train --gif` (and the other files --export adds): the animation and the exported model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageChops

from backlit.cli import animation, main as cli
from backlit import nn


def test_frame_epochs_keep_both_ends_and_crowd_the_start():
    assert animation.frame_epochs(0) == [0]
    picks = animation.frame_epochs(300, 60)
    assert picks[0] == 0 and picks[-1] == 300 and 40 <= len(picks) <= 60
    assert picks == sorted(set(picks))
    assert np.diff(picks)[:10].max() < np.diff(picks)[-10:].min()   # closer together early on


def test_train_gif_and_exports(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--dataset", "xor", "--hidden", "4", "--epochs", "40", "--n-points", "200",
                     "--lr", "0.03", "--seed", "2", "--gif", "--export", "torch,onnx", "--out", str(out),
                     "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    for name in ("training.gif", "model.py", "model.onnx", "model.json"):
        assert str(out / name) in printed
    gif = out / "training.gif"
    assert gif.stat().st_size < 2_000_000
    with Image.open(gif) as im:
        assert im.n_frames > 10
        im.seek(0)
        first = im.convert("RGB")
        im.seek(im.n_frames - 1)
        last = im.convert("RGB")
    assert ImageChops.difference(first, last).getbbox() is not None

    metrics = json.loads((out / "metrics.json").read_text())
    cfg = metrics["config"]
    assert cfg["gif"] and cfg["export"] == ["torch", "onnx"]
    # the animation's run is the saved run: its last frame has the saved weights
    model = nn.load(out / "model.json")
    from backlit.lab import data
    ds = data.make("xor", n=200, seed=2)
    split = data.split(ds, train_ratio=cfg["train_ratio"], seed=2)
    _, kept, history = animation.snapshots(cfg, split, epochs=metrics["epochs_run"])
    assert kept[-1][0] == 40
    for name, value in model.state_dict().items():
        assert np.array_equal(kept[-1][1][name], value)
    assert history["train_loss"] == metrics["history"]["train_loss"]

    # the exported script prints the training loss backlit reported
    run = subprocess.run([sys.executable, str(out / "model.py")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    loss = float(run.stdout.splitlines()[0].split()[1])
    assert loss == pytest.approx(metrics["final"]["train_loss"], abs=1e-10, rel=1e-10)
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    X = split[0].astype(np.float32)
    np.testing.assert_allclose(session.run(["output"], {"point": X})[0],
                               model(data.featurize(X, cfg["features"])).data, rtol=1e-5, atol=1e-5)


def test_bad_export_and_gif_arguments(tmp_path, capsys):
    assert cli.main(["train", "--export", "keras", "--out", str(tmp_path)]) == 2
    assert "unknown --export format 'keras'" in capsys.readouterr().err
