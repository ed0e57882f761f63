"""exprlab.js in real Chromium, on a minimal static page fed with expression_graph's dicts.

Every number the test expects comes from backlit.lab.expr.expression_graph; the page's full-precision
numbers are read back from the data-raw attributes and its short text is checked against them.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import pytest

from backlit.lab.expr import ExprError, expression_graph
from .conftest import axe_serious

expect = pytest.importorskip("playwright.sync_api").expect

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
WEB = ROOT / "src" / "backlit" / "web"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
ORIGIN = "http://exprlab.test"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>expression lab test page</title>
<link rel="stylesheet" href="/web/style.css"><link rel="stylesheet" href="/web/exprlab.css">
<script type="module">
  import { drawExpressionGraph, drawExpressionError } from '/web/js/exprlab.js';
  const changes = [];
  window.elTest = {
    changes,
    draw: (graph, mode) => { window.elTest.lab = drawExpressionGraph(document.getElementById('lab'), graph,
      { mode, onModeChange: (m) => changes.push(m) }); },
    error: (source, e) => drawExpressionError(document.getElementById('lab'), source, e),
    drawSecond: (graph, mode) => drawExpressionGraph(document.getElementById('lab2'), graph, { mode }),
    ready: true,
  };
</script></head>
<body><main><h1>Expression lab</h1><div id="lab"></div><div id="lab2"></div></main></body></html>"""


def serve(route):
    """A tiny static server inside Playwright: the test page, and the package's web/ files."""
    path = route.request.url[len(ORIGIN):].split("?")[0]
    if path == "/":
        return route.fulfill(status=200, body=PAGE, headers={"content-type": "text/html"})
    file = (WEB / path[len("/web/"):]).resolve() if path.startswith("/web/") else None
    if file is None or WEB.resolve() not in file.parents or not file.is_file():
        return route.fulfill(status=404)
    ctype = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0]
    route.fulfill(status=200, body=file.read_bytes(), headers={"content-type": ctype or "text/plain"})


@pytest.fixture
def lab(page):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("() => window.elTest && window.elTest.ready")
    yield page
    assert errors == []


def draw(page, graph, mode="forward"):
    page.evaluate("([g, m]) => window.elTest.draw(g, m)", [graph, mode])


def shown(page) -> dict:
    """For each drawn node: (value raw, value text, derivative name, derivative raw, derivative text)."""
    rows = page.evaluate("""() => [...document.querySelectorAll('.el-node')].map(n => [
        Number(n.dataset.id), n.querySelector('.el-value').dataset.raw, n.querySelector('.el-value').textContent,
        n.querySelector('.el-deriv-name').textContent, n.querySelector('.el-deriv').dataset.raw,
        n.querySelector('.el-deriv').textContent])""")
    return {r[0]: tuple(r[1:]) for r in rows}


def close_short(text: str, v: float) -> bool:
    """The short text is the number to the 4 significant digits it shows."""
    return abs(float(text.replace("−", "-")) - v) <= 1e-3 * max(abs(v), 1e-12) + 1e-12


def check_nodes(page, g, mode):
    out = g["nodes"][g["output"]]["name"]
    drawn = [n for n in g["nodes"] if n["drawn"]]
    got = shown(page)
    assert sorted(got) == [n["id"] for n in drawn]
    for n in drawn:
        value_raw, value_text, dname, draw_, dtext = got[n["id"]]
        want = n["tangent"] if mode == "forward" else n["adjoint"]
        assert float(value_raw) == n["value"] and close_short(value_text, n["value"]), n
        assert float(draw_) == want and close_short(dtext, want), (n, mode)
        assert dname == (f"∂{n['name']}/∂{g['wrt']}" if mode == "forward" else f"∂{out}/∂{n['name']}")


def check_edges(page, g):
    labels = page.evaluate("""() => [...document.querySelectorAll('.el-edge-label')].map(l => [
        Number(l.dataset.from), Number(l.dataset.to), Number(l.dataset.slot),
        l.querySelector('.el-partial').dataset.raw, l.querySelector('.el-partial').textContent])""")
    want = {(e["from"], e["to"], e["slot"]): e for e in g["edges"] if e["drawn"]}
    assert {tuple(x[:3]) for x in labels} == set(want)
    for f, t, s, raw, text in labels:
        e = want[(f, t, s)]
        assert float(raw) == e["partial"]
        assert close_short(text.split("=")[-1].strip(), e["partial"])
        if len(text.split("=")) > 1:
            assert text.split("=")[0].strip() == e["formula"]


def test_olahs_graph_shows_the_engines_values_tangents_adjoints_and_local_derivatives(lab):
    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b")
    draw(lab, g)
    check_nodes(lab, g, "forward")
    check_edges(lab, g)
    assert lab.locator(".el-node").count() == 5          # a, b, c, d, e: the constant 1 shows in d = b + 1
    expect(lab.locator(".el-formula")).to_have_text("e = (a + b)·(b + 1)")
    passes = lab.locator(".el-passes")
    expect(passes).to_have_attribute("data-forward", str(g["passes"]["forward"]))
    expect(passes).to_contain_text(f"∂e/∂a and ∂e/∂b take {g['passes']['forward']} passes")
    # in forward mode, a (which does not depend on b) is drawn idle; b is the seed
    a = next(n for n in g["nodes"] if n["name"] == "a")
    b = next(n for n in g["nodes"] if n["name"] == "b")
    expect(lab.locator(f'.el-node[data-id="{a["id"]}"]')).to_have_class("el-node el-input el-idle")
    expect(lab.locator(f'.el-node[data-id="{b["id"]}"]')).to_have_class("el-node el-input el-seed")

    # focusing e in forward mode writes its tangent as the chain rule over its operands
    e = g["nodes"][g["output"]]
    lab.locator(f'.el-node[data-id="{e["id"]}"]').focus()
    ins = [x for x in g["edges"] if x["to"] == e["id"]]
    terms = " + ".join(f"{x['partial']:g}·{g['nodes'][x['from']]['tangent']:g}" for x in ins)
    expect(lab.locator(".el-sum")).to_contain_text(
        f"∂e/∂b = ∂e/∂c·∂c/∂b + ∂e/∂d·∂d/∂b = {terms} = {e['tangent']:g}")
    # keyboard: Tab to the checked radio, arrow to the other one: the view switches to reverse mode
    lab.locator('input[value="forward"]').focus()
    lab.keyboard.press("ArrowRight")
    expect(lab.locator(".exprlab")).to_have_attribute("data-mode", "reverse")
    assert lab.evaluate("() => window.elTest.changes") == ["reverse"]
    check_nodes(lab, g, "reverse")
    expect(passes).to_contain_text(f"{g['passes']['reverse']} pass gives ∂e/∂a and ∂e/∂b")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab.set_viewport_size({"width": 390, "height": 844})
    lab.screenshot(path=str(ARTIFACTS / "exprlab-olah-390x844-reverse.png"), full_page=True)

    # focusing b writes its adjoint as the sum over its two paths, with the engine's numbers
    lab.locator(f'.el-node[data-id="{b["id"]}"]').focus()
    out_edges = [e for e in g["edges"] if e["from"] == b["id"]]
    assert len(out_edges) == 2
    terms = " + ".join(f"{g['nodes'][e['to']]['adjoint']:g}·{e['partial']:g}" for e in out_edges)
    expect(lab.locator(".el-sum")).to_contain_text(f"= {terms} = {b['adjoint']:g}")
    # ↑ goes to a consumer of b, ↓ back to an operand of it
    lab.keyboard.press("ArrowUp")
    focused = lab.evaluate("() => Number(document.activeElement.dataset.id)")
    assert focused in {e["to"] for e in out_edges}
    expect(lab.locator(".el-detail")).to_have_attribute("data-node", str(focused))


def test_a_value_used_three_times_is_one_node_and_the_table_holds_every_number(lab):
    g = expression_graph("x*x + sin(x)", {"x": 0.7}, wrt="x")
    draw(lab, g, "reverse")
    check_nodes(lab, g, "reverse")
    check_edges(lab, g)
    x = next(n for n in g["nodes"] if n["name"] == "x")
    assert lab.locator(f'.el-edge[data-from="{x["id"]}"]').count() == 3   # x·x twice, sin once
    lab.locator(f'.el-node[data-id="{x["id"]}"]').click()
    expect(lab.locator(".el-sum")).to_contain_text("so the paths add up")
    expect(lab.locator(f'.el-node[data-id="{x["id"]}"]')).to_have_attribute("aria-pressed", "true")
    lab.get_by_text("Every number, as a table").click()
    for n in g["nodes"]:
        if not n["drawn"]:
            continue
        row = lab.locator(f'.el-table tr[data-id="{n["id"]}"]')
        for cls, key in (("value", "value"), ("tangent", "tangent"), ("adjoint", "adjoint")):
            assert float(row.locator(f".el-t-{cls}").get_attribute("data-raw")) == n[key]


def test_a_refused_expression_shows_its_message_and_a_caret_under_the_character(lab):
    text = "2*x + y.real"
    with pytest.raises(ExprError) as info:
        expression_graph(text, {"x": 1, "y": 2})
    lab.evaluate("([s, e]) => window.elTest.error(s, e)", [text, info.value.to_dict()])
    alert = lab.get_by_role("alert")
    expect(alert).to_contain_text(info.value.message)
    expect(alert).to_contain_text(f"(at character {info.value.position + 1})")
    expect(lab.locator(".el-at-error")).to_have_text(text[info.value.position])
    caret_line = lab.locator(".el-caret").text_content().splitlines()[1]
    assert caret_line.index("^") == info.value.position
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab.set_viewport_size({"width": 390, "height": 300})
    lab.screenshot(path=str(ARTIFACTS / "exprlab-refused-390.png"))


def test_numbers_left_out_show_as_question_marks(lab):
    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b", hide=("adjoint", "partial"))
    draw(lab, g, "reverse")
    got = shown(lab)
    for n in g["nodes"]:
        if n["drawn"]:
            value_raw, _, _, deriv_raw, deriv_text = got[n["id"]]
            assert float(value_raw) == n["value"] and (deriv_raw, deriv_text) == ("", "?")
    labels = lab.locator(".el-partial").all_text_contents()
    assert labels and all(t.endswith("?") for t in labels)
    assert "d = ?" in labels
    lab.get_by_label("Forward mode", exact=False).check()   # tangents were sent: they show
    check_nodes(lab, g, "forward")


def test_forward_and_reverse_side_by_side_keep_their_own_mode(lab):
    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="a")
    draw(lab, g, "forward")
    lab.evaluate("g => { window.elTest.drawSecond(g, 'reverse'); }", g)
    first, second = lab.locator("#lab .exprlab"), lab.locator("#lab2 .exprlab")
    expect(first).to_have_attribute("data-mode", "forward")
    expect(second).to_have_attribute("data-mode", "reverse")
    second.get_by_label("Forward mode", exact=False).check()
    expect(second).to_have_attribute("data-mode", "forward")
    expect(first).to_have_attribute("data-mode", "forward")
    first.get_by_label("Reverse mode", exact=False).check()
    expect(first).to_have_attribute("data-mode", "reverse")
    expect(second).to_have_attribute("data-mode", "forward")
    for view, key in ((first, "adjoint"), (second, "tangent")):
        raws = view.locator(".el-deriv").evaluate_all("ns => ns.map(n => Number(n.dataset.raw))")
        assert raws == [n[key] for n in g["nodes"] if n["drawn"]]
    assert axe_serious(lab, name_rule=False) == []



@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_readable_at_both_sizes_with_no_serious_axe_issue(lab, width, height):
    lab.set_viewport_size({"width": width, "height": height})
    g = expression_graph("L = sigmoid(w*x + b)^2 / 2", {"w": 0.5, "x": -1.5, "b": 0.25}, wrt="w")
    draw(lab, g)
    check_nodes(lab, g, "forward")
    assert lab.evaluate("() => document.documentElement.scrollWidth") <= width   # only the graph scrolls
    # the node text stays readable: its box is at least 90 CSS px wide
    box = lab.locator(".el-node .el-box").first.bounding_box()
    assert box["width"] >= 90
    assert axe_serious(lab, name_rule=False) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab.screenshot(path=str(ARTIFACTS / f"exprlab-{width}x{height}.png"), full_page=True)
    lab.get_by_label("Reverse mode", exact=False).check()
    check_nodes(lab, g, "reverse")
    assert axe_serious(lab, name_rule=False) == []
    lab.locator(".el-node").first.focus()
    lab.screenshot(path=str(ARTIFACTS / f"exprlab-{width}x{height}-reverse.png"), full_page=True)


def test_a_wide_graph_scrolls_inside_its_box_on_a_phone(lab):
    lab.set_viewport_size({"width": 390, "height": 844})
    names = "abcdefgh"
    g = expression_graph("*".join(f"({v}+1)" for v in names), {v: 0.1 * k for k, v in enumerate(names)}, wrt="c")
    draw(lab, g)
    check_nodes(lab, g, "forward")
    assert g["columns"] >= 8
    assert lab.evaluate("() => document.documentElement.scrollWidth") <= 390
    scroll = lab.locator(".el-scroll")
    assert scroll.evaluate("s => s.scrollWidth > s.clientWidth")
    # keyboard reaches a node off to the right, and the box scrolls it into view
    h = next(n for n in g["nodes"] if n["name"] == "h")
    lab.locator(f'.el-node[data-id="{h["id"]}"]').focus()
    assert scroll.evaluate("s => s.scrollLeft") > 0
    assert axe_serious(lab, name_rule=False) == []
    lab.screenshot(path=str(ARTIFACTS / "exprlab-wide-390x844.png"), full_page=True)
