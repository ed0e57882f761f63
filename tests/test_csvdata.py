"""CSV in and out: every bad row named by its line, nothing half-loaded, exact round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from backlit.playground import csvdata
from backlit.lab import data


def test_three_bad_rows_are_named_by_line():
    text = "\n".join([
        "x1,x2,label",          # 1
        "1.0,2.0,0",            # 2
        "1.5,abc,1",            # 3  non-numeric
        "",                     # 4  blank: skipped
        "0.5,0.5",              # 5  two columns
        "# a comment",          # 6
        "2.0,-1.0,1",           # 7
        "3.0,3.0,2",            # 8  not a class index of a binary problem
    ])
    with pytest.raises(csvdata.CSVError) as info:
        csvdata.read_csv(text, kind="binary")
    err = info.value
    assert err.lines == [3, 5, 8]
    message = str(err)
    assert "3 bad rows" in message and "nothing was loaded" in message
    assert "line 3: 'abc' in column x2 is not a number" in message
    assert "line 5: 2 columns, expected 3" in message
    assert "line 8: label 2 is not a class index (0 or 1)" in message
    assert not err.rescalable
    d = err.to_dict()
    assert d["lines"] == [3, 5, 8] and d["problems"][0] == {"line": 3, "message": "'abc' in column x2 is not a number"}
    assert json.loads(json.dumps(d)) == d


def test_labels_classes_and_kind():
    with pytest.raises(csvdata.CSVError, match=r"line 1: label 1.5 is not a class index \(0..2\)") as info:
        csvdata.read_csv("1,1,1.5\n2,2,0\n0,0,2\n", classes=3)
    assert info.value.lines == [1]
    three = csvdata.read_csv("x1,x2,label\n1,1,0\n2,2,2\n0,0,1\n")
    assert three.kind == "multiclass" and three.classes == 3 and three.y.dtype == np.int64
    reg = csvdata.read_csv("x1,x2,y\n1,1,0.25\n2,2,-1\n")
    assert reg.kind == "regression" and reg.classes is None and reg.y.tolist() == [0.25, -1.0]
    assert csvdata.read_csv("1,1,0.25\n2,2,1\n").kind == "regression"   # no header: non-integer labels
    assert csvdata.read_csv("1,1,0\n2,2,1\n").kind == "binary"
    with pytest.raises(csvdata.CSVError, match="line 1: header 'a,b,c' should be x1,x2,label"):
        csvdata.read_csv("a,b,c\n1,1,0\n")
    with pytest.raises(csvdata.CSVError, match="header says regression but a binary problem"):
        csvdata.read_csv("x1,x2,y\n1,1,0\n", kind="binary")
    with pytest.raises(csvdata.CSVError, match="no data rows"):
        csvdata.read_csv("x1,x2,label\n\n")
    with pytest.raises(csvdata.CSVError, match="line 2: 'nan' in column 3 is not a number"):
        csvdata.read_csv("x1,x2,y\n1,1,nan\n")


def test_too_many_rows_and_points_outside_the_plane():
    rows = "\n".join(f"{i % 5},{i % 3},{i % 2}" for i in range(11))
    with pytest.raises(csvdata.CSVError, match="11 rows is more than the limit of 10"):
        csvdata.read_csv(rows, max_rows=10)
    text = "x1,x2,label\n1,2,0\n12,-3,1\n-1,-15,0\n"
    with pytest.raises(csvdata.CSVError) as info:
        csvdata.read_csv(text)
    err = info.value
    assert err.lines == [3, 4] and err.outside == [3, 4] and err.rescalable
    assert "line 3: point (12, -3) is too far out: |x1| and |x2| must be at most 10" in str(err)
    assert "rescale" in str(err)
    ds = csvdata.read_csv(text, rescale=True)
    np.testing.assert_allclose(ds.X, np.array([[1, 2], [12, -3], [-1, -15]]) * 0.4)
    assert np.abs(ds.X).max() == 6.0 and ds.y.tolist() == [0, 1, 0]
    # a file with an outside point AND another problem cannot be fixed by rescaling alone
    with pytest.raises(csvdata.CSVError) as info:
        csvdata.read_csv("1,2,0\n12,1,1\n1,x,0\n")
    assert not info.value.rescalable


@pytest.mark.parametrize("name, classes", [("spiral", None), ("blobs", 4), ("multi_gauss", None)])
def test_a_good_csv_round_trips(tmp_path, name, classes):
    ds = data.make(name, n=300, noise=0.2, seed=5, classes=classes)
    text = csvdata.to_csv(ds.X, ds.y, ds.kind)
    path = tmp_path / "points.csv"
    path.write_text(text)
    back = csvdata.load_csv(path)
    assert back.kind == ds.kind and back.classes == ds.classes and back.name == "points"
    assert np.array_equal(back.X, ds.X) and np.array_equal(back.y, ds.y)
    assert back.y.dtype == ds.y.dtype
    assert csvdata.to_csv(back.X, back.y, back.kind) == text


def test_train_on_a_csv_file(tmp_path, capsys):
    from backlit.cli import main as cli

    ds = data.make("blobs", n=120, seed=1, classes=4)
    good = tmp_path / "four.csv"
    good.write_text(csvdata.to_csv(ds.X, ds.y, ds.kind))
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(good), "--hidden", "4", "--epochs", "3", "--out", str(out),
                     "--quiet"]) == 0
    cfg = json.loads((out / "metrics.json").read_text())["config"]
    assert (cfg["dataset"], cfg["kind"], cfg["classes"], cfg["n_points"]) == ("four", "multiclass", 4, 120)
    assert cfg["loss"] == "cross_entropy" and cfg["data"] == str(good)
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,label\n1,2,0\n1,x,1\n3,3\n4,4,1\n9,99,0\n")
    capsys.readouterr()
    assert cli.main(["train", "--data", str(bad), "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "3 bad rows" in err and "line 3:" in err and "line 4:" in err and "line 6:" in err
    assert not (tmp_path / "no" / "model.json").exists()
    assert cli.main(["train", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "no")]) == 2
    assert "cannot read --data" in capsys.readouterr().err
