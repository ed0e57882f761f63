"""Every script in examples/ runs (in its --quick mode) and writes its picture."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _run(script, tmp_path, *extra):
    out = tmp_path / (script.stem + ".png")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(out), *extra], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return proc.stdout


def test_there_are_four_examples():
    assert {p.stem for p in EXAMPLES} == {"projectile", "soft_raster", "circle_fit", "symmetry_1986"}


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_quickly_and_writes_a_png(script, tmp_path):
    assert len(script.read_text().splitlines()) <= 120
    _run(script, tmp_path)


def test_projectile_gradient_matches_finite_differences(tmp_path):
    stdout = _run(ROOT / "examples" / "projectile.py", tmp_path)
    rel = float(re.search(r"relative error ([0-9.e+-]+)", stdout).group(1))
    assert rel < 1e-6


def test_soft_raster_loss_falls(tmp_path):
    stdout = _run(ROOT / "examples" / "soft_raster.py", tmp_path)
    first, last = map(float, re.search(r"error ([0-9.e+-]+) -> ([0-9.e+-]+)", stdout).groups())
    assert last < first / 3


def test_circle_fit_improves_on_the_algebraic_fit(tmp_path):
    stdout = _run(ROOT / "examples" / "circle_fit.py", tmp_path)
    energies = [float(e) for e in re.findall(r"E = ([0-9.]+)", stdout)]
    assert energies[1] < energies[0]  # gradient descent lowers the geometric error of the closed form
