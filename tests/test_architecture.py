"""The folders are the layers, and the imports run one way: engine <- nn <- lab <- playground <- server
and cli. This reads every module's imports with ``ast`` (the lazy ones inside functions too) and fails
on an arrow up the stack or a circle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "backlit"

# A module may import its own layer and the layers below it. server and cli sit side by side at the
# top; cli may start the server, the server never reaches into the command line.
LAYERS = {"engine": 0, "nn": 1, "lab": 2, "playground": 3, "server": 4, "cli": 5}
MAY_NOT = {("server", "cli")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """Every backlit module ``name`` imports, as full dotted names (packages count as their
    ``__init__``; ``from . import x`` counts x, not the package, when x is a module)."""
    path = MODULES[name]
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "backlit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "backlit":
                continue
            subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
            found |= subs
            if len(subs) < len(node.names):     # names from the module itself, not only its submodules
                found.add(target)
    return {m for m in found if m in MODULES and m != name}


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = nx.DiGraph()
for _m in MODULES:
    GRAPH.add_node(_m)
    GRAPH.add_edges_from((_m, _t) for _t in imports(_m))


def test_every_module_lives_in_a_layer():
    loose = sorted(m for m in MODULES if layer(m) is None and m not in ("backlit", "backlit.__main__")
                   and not m.startswith("backlit.web"))
    assert loose == [], f"modules outside the layer folders: {loose}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if layer(m)))
def test_imports_point_down_the_stack(name):
    mine = layer(name)
    bad = []
    for target in sorted(imports(name)):
        theirs = layer(target)
        if theirs is None:          # the package root (backlit.__version__, ...) is the public face
            if mine != "cli":
                bad.append(target)
            continue
        if LAYERS[theirs] > LAYERS[mine] and not (mine == "cli" and theirs == "server") or (mine, theirs) in MAY_NOT:
            bad.append(target)
    assert bad == [], f"{name} ({mine}) imports upwards: {bad}"


def test_no_import_circles():
    cycles = [c for c in nx.simple_cycles(GRAPH) if not all(m == "backlit" for m in c)]
    # a package and the modules its __init__ gathers import each other by construction: that is one
    # module's public face, not a circle
    real = [c for c in cycles if not _package_face(c)]
    assert real == [], "import circles: " + "; ".join(" -> ".join(c + [c[0]]) for c in real[:10])


def _package_face(cycle: list[str]) -> bool:
    return len(cycle) == 2 and any(
        MODULES[m].name == "__init__.py" and other.startswith(m + ".") for m, other in (cycle, cycle[::-1]))


def test_the_check_sees_an_arrow_up():
    """The reader is real: it finds the session importing the settings and the server importing the
    session, and it classifies an upward import as one."""
    assert "backlit.playground.settings" in imports("backlit.playground.session")
    assert "backlit.playground.session" in imports("backlit.server.app")
    assert LAYERS[layer("backlit.server.app")] > LAYERS[layer("backlit.lab.trace")]
