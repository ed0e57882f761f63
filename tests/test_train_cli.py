"""`backlit train`, run in-process through the real command-line entry point."""

import json

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from matplotlib.image import imread

from backlit.lab import data
from backlit import nn
from backlit.cli import train
from backlit.lab import fit as training
from backlit.cli.main import main

QUICK = ["train", "--dataset", "circle", "--hidden", "4", "--epochs", "15", "--n-points", "200",
         "--seed", "3"]


def run(argv):
    try:
        return main(argv)
    except SystemExit as e:  # argparse reports its own errors by exiting
        return e.code


def _png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img[..., :3]


def _n_colours(img):
    return len(np.unique((img * 255).round().astype(np.uint8).reshape(-1, 3), axis=0))


def _orange_or_green_share(img):
    # Orange (hue ~20-45 deg) and green (~75-165 deg) are reserved for gradients.
    hsv = rgb_to_hsv(img)
    h, s, v = hsv[..., 0] * 360, hsv[..., 1], hsv[..., 2]
    vivid = (s > 0.35) & (v > 0.35)
    return np.mean(vivid & (((h > 20) & (h < 45)) | ((h > 75) & (h < 165))))


def test_quick_run_writes_the_four_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert run([*QUICK, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out
    assert "epoch" in captured.err and "train" in captured.err  # the progress bar
    assert sorted(p.name for p in out.iterdir()) == sorted(train.OUTPUT_FILES)

    for name in ("boundary.png", "loss.png"):
        img = _png(out / name)
        assert _n_colours(img) > 1
    assert _orange_or_green_share(_png(out / "boundary.png")) < 1e-3

    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["dataset"] == "circle" and m["config"]["hidden"] == [4]
    assert m["config"]["loss"] == "bce" and m["config"]["features"] == ["x1", "x2"]
    assert m["epochs_run"] == 15 and m["diverged"] is False
    assert m["history"]["epoch"] == list(range(16))
    for key in train.HISTORY_KEYS:
        assert len(m["history"][key]) == 16
        assert m["final"][key] == m["history"][key][-1]
    assert 0.5 < m["final"]["test_accuracy"] <= 1.0
    assert m["history"]["train_loss"][-1] < m["history"]["train_loss"][0]

    # model.json is the trained model: it reproduces the reported test accuracy
    model = nn.load(out / "model.json")
    assert model.sizes == [2, 4, 1] and model.meta["features"] == ["x1", "x2"]
    ds = data.make("circle", n=200, seed=3)
    _, _, Xte, yte = data.split(ds, train_ratio=0.5, seed=3)
    _, acc = train.evaluate(model, data.featurize(Xte), yte, "binary", "bce")
    assert acc == m["final"]["test_accuracy"]


def test_multiclass_run_with_features(tmp_path):
    out = tmp_path / "multi"
    argv = ["train", "--dataset", "spiral_multi", "--classes", "4", "--hidden", "6",
            "--features", "x1,x2,sin_x1", "--epochs", "5", "--n-points", "200", "--quiet",
            "--optimizer", "rmsprop", "--regularization", "l2", "--reg-rate", "0.001",
            "--out", str(out)]
    assert run(argv) == 0
    model = nn.load(out / "model.json")
    assert model.sizes == [3, 6, 4]
    img = _png(out / "boundary.png")
    assert _n_colours(img) > 4 and _orange_or_green_share(img) < 1e-3
    m = json.loads((out / "metrics.json").read_text())
    assert m["config"]["loss"] == "cross_entropy" and m["config"]["classes"] == 4


def test_regression_run_has_no_accuracy(tmp_path, capsys):
    out = tmp_path / "reg"
    assert run(["train", "--dataset", "plane", "--hidden", "", "--activation", "linear",
                "--epochs", "5", "--n-points", "100", "--noise", "0.1", "--train-ratio", "0.7",
                "--quiet", "--out", str(out)]) == 0
    assert "accuracy" not in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["final"]["test_accuracy"] is None and m["config"]["loss"] == "mse"
    assert _n_colours(_png(out / "boundary.png")) > 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["--dataset", "nope"], "unknown dataset"),
        (["--lr", "-0.1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "abc"], "--lr"),
        (["--hidden", "8,0"], "--hidden"),
        (["--hidden", "eight"], "--hidden"),
        (["--features", "x1,cos_x1"], "unknown feature"),
        (["--activation", "swish"], "activation"),
        (["--optimizer", "lbfgs"], "optimizer"),
        (["--loss", "cross_entropy"], "loss"),
        (["--regularization", "l3"], "regularization"),
        (["--reg-rate", "-1"], "--reg-rate"),
        (["--noise", "0.8"], "--noise"),
        (["--train-ratio", "1.5"], "--train-ratio"),
        (["--batch", "0"], "--batch"),
        (["--epochs", "0"], "--epochs"),
        (["--classes", "4"], "--classes"),
        (["--dataset", "blobs", "--classes", "9"], "--classes"),
        (["--n-points", "1"], "--n-points"),
        (["--bogus"], "unrecognized"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code_2(tmp_path, capsys, args, words):
    out = tmp_path / "never"
    assert run(["train", *args, "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("backlit train: error:") and words in lines[0]
    assert captured.out == ""
    assert not out.exists()


def test_out_must_be_a_folder(tmp_path, capsys):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("keep me")
    assert run([*QUICK, "--quiet", "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"backlit train: error: cannot create output folder "
                                f"{str(not_a_folder)!r}: it is a file, not a folder"]
    assert not_a_folder.read_text() == "keep me"


def test_help_names_every_option_and_shows_an_example(capsys):
    assert run(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--dataset NAME", "--hidden SIZES", "--loss", "--optimizer", "--regularization",
                   "--reg-rate", "--features", "--noise", "--train-ratio", "--classes", "--out DIR"):
        assert option in text, option
    assert "\n  backlit train --dataset spiral --hidden 8,8" in text  # the example, on one line


def test_divergence_stops_suggests_a_smaller_lr_and_keeps_a_finite_model(tmp_path, capsys):
    out = tmp_path / "div"
    code = run(["train", "--dataset", "spiral", "--activation", "relu", "--loss", "mse",
                "--optimizer", "sgd", "--lr", "100", "--epochs", "50", "--quiet", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "smaller learning rate" in err
    m = json.loads((out / "metrics.json").read_text())
    assert m["diverged"] is True and m["epochs_run"] < m["diverged_epoch"] <= 50
    assert all(np.isfinite(v) for v in m["history"]["train_loss"])
    model = nn.load(out / "model.json")  # loading refuses non-finite weights
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    for name in ("boundary.png", "loss.png"):
        _png(out / name)


def test_plot_grid_rows_go_upwards():
    # boundary.png draws out[row, col] at (xs[col], ys[row]) with origin="lower": ys must ascend
    from backlit.cli import plots
    from backlit.engine import no_grad

    feats = ["x1", "x2", "sin_x1"]
    model = nn.MLP([3, 5, 2], seed=1)
    xs, ys, out = plots.output_grid(model, feats, resolution=30)
    assert out.shape == (30, 30, 2) and xs[0] == ys[0] == -6 and xs[-1] == ys[-1] == 6
    gx, gy = np.meshgrid(xs, ys)
    with no_grad():
        ref = model(data.featurize(np.stack([gx.ravel(), gy.ravel()], 1), feats)).data
    np.testing.assert_allclose(out.reshape(-1, 2), ref, rtol=1e-12, atol=1e-12)


def test_ctrl_c_writes_the_last_finished_epoch_and_exits_130(tmp_path, capsys, monkeypatch):
    evaluate, calls = training.evaluate, []

    def interrupted_in_epoch_2(*args):
        calls.append(1)
        if len(calls) == 5:  # two evaluations (train, test) per epoch: the 5th measures epoch 2
            raise KeyboardInterrupt
        return evaluate(*args)

    monkeypatch.setattr(training, "evaluate", interrupted_in_epoch_2)
    out = tmp_path / "stopped"
    assert run([*QUICK, "--quiet", "--out", str(out)]) == 130
    assert "interrupted; kept the model from epoch 1" in capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] is True and m["epochs_run"] == 1 and m["history"]["epoch"] == [0, 1]
    model = nn.load(out / "model.json")  # the model of epoch 1, not the one half-way through epoch 2
    Xtr, ytr, _, _ = data.split(data.make("circle", n=200, seed=3), train_ratio=0.5, seed=3)
    loss, _ = evaluate(model, data.featurize(Xtr), ytr, "binary", "bce")
    assert loss == pytest.approx(m["history"]["train_loss"][1], rel=1e-12)


def test_a_closed_stdout_is_not_an_error(tmp_path):
    # `backlit train ... | head -1`: the reader may go away before the summary is printed
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "backlit.cli.main", *QUICK, "--quiet",
                             "--out", str(tmp_path / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads: every write to stdout fails with a broken pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err
    assert (tmp_path / "run" / "model.json").exists()
