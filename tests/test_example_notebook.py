"""examples/backprop.ipynb, run by a real kernel: its computation graph shows the sample's own
gradients, on every node, under the playground's names; and the notebook extra brings that kernel."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def test_the_notebook_extra_brings_a_kernel():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0] for r in extras["notebook"]}
    assert {"anywidget", "ipykernel"} <= names, names


def test_the_notebooks_graph_shows_this_samples_gradients_on_every_node(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    book = nbformat.read(ROOT / "examples" / "backprop.ipynb", as_version=4)
    nbclient.NotebookClient(book, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    cell = next(c for c in book.cells if c.cell_type == "code" and "backlit.graph(" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    p_minus_y, grad_b2 = map(float, re.search(r"p − y = (\S+), ∂L/∂b2 = (\S+)", printed).groups())
    assert grad_b2 == pytest.approx(p_minus_y, abs=1e-4)
    svg = next(o["data"]["image/svg+xml"] for o in cell.outputs if "image/svg+xml" in o.get("data", {}))
    root = ET.fromstring(svg)
    boxes = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            lines = [t.text for t in g.iter(f"{SVG}text")]
            boxes[lines[0]] = lines
            for t in g.iter(f"{SVG}text"):           # every line fits in its 168 px box
                assert len(t.text) * 0.6 * float(t.get("font-size")) <= 152 + 1e-9, t.text
    assert {"W1", "b1", "W2", "b2"} <= set(boxes), list(boxes)
    assert "parameter" not in boxes
    # every node that depends on a weight shows a gradient, the intermediate ones too
    ops = [lines for lines in boxes.values() if lines[1].split(" · ")[0] not in ("parameter", "constant")]
    assert ops and all(lines[3] != "grad —" for lines in ops), ops
    assert float(boxes["b2"][3].split()[1]) == pytest.approx(p_minus_y, abs=1e-3)
