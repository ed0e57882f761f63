"""backlit.lab.expr: the expression lab's grammar and graph, checked against PyTorch (float64, forward-
and reverse-mode autodiff), finite differences and the chain rule, and attacked with unsafe input."""

from __future__ import annotations

import builtins
import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backlit.lab import expr as E
from backlit.lab.expr import ExprError, expression_graph, parse

torch = pytest.importorskip("torch")
fwAD = torch.autograd.forward_ad
TOL = dict(rel=1e-10, abs=1e-10)


def by_name(g, name):
    (n,) = [n for n in g["nodes"] if n["name"] == name]
    return n


# ---- Olah's e = (a+b)(b+1) ------------------------------------------------------------------------

def test_olahs_example_has_his_numbers_one_node_for_b_and_the_pass_counts():
    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b")
    assert [n["name"] for n in g["nodes"] if n["drawn"]] == ["a", "b", "c", "d", "e"]
    c, d, e, b, a = (by_name(g, k) for k in "cdeba")
    assert (c["formula"], d["formula"], e["formula"]) == ("a + b", "b + 1", "c·d")
    assert (a["value"], b["value"], c["value"], d["value"], e["value"]) == (2, 1, 3, 2, 6)
    # forward mode from b: ∂c/∂b = 1, ∂d/∂b = 1, ∂e/∂b = d·1 + c·1 = 5; a does not move with b
    assert (a["tangent"], b["tangent"], c["tangent"], d["tangent"], e["tangent"]) == (0, 1, 1, 1, 5)
    # reverse mode from e: ∂e/∂c = d = 2, ∂e/∂d = c = 3, ∂e/∂a = 2, ∂e/∂b = 2 + 3 = 5 (two paths)
    assert (e["adjoint"], c["adjoint"], d["adjoint"], a["adjoint"], b["adjoint"]) == (1, 2, 3, 2, 5)
    assert sorted((x["to"], x["slot"]) for x in g["edges"] if x["from"] == b["id"]) == [(c["id"], 1), (d["id"], 0)]
    assert e["derivative"] == "∂e/∂c = d, ∂e/∂d = c"
    assert g["passes"] == {"forward": 2, "reverse": 1}
    assert (g["source"], g["expression"]) == ("e = (a+b)*(b+1)", "(a + b)·(b + 1)")
    assert (g["wrt"], g["inputs"]) == ("b", ["a", "b"])
    assert g["values"] == {"a": 2.0, "b": 1.0} and g["output"] == e["id"]
    # layout: a, b at the bottom, c above both, d above b, one column apart, e above c and d
    assert g["rows"] == 3
    assert [(n["row"], n["col"]) for n in (a, b, c, d, e)] == [(0, 0), (0, 1), (1, 0.25), (1, 1.25), (2, 0.75)]
    assert g["columns"] == 2.25
    json.dumps(g, allow_nan=False)  # JSON-able, with no NaN or Infinity


def test_the_json_has_exactly_the_keys_the_module_docstring_documents():
    import re

    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b")
    documented = set(re.findall(r'"(\w+)":', E.__doc__.split("returns this JSON-able dict")[1]))
    produced = set(g) | set(g["nodes"][0]) | set(g["edges"][0]) | set(g["passes"]) | set(g["values"])
    assert produced == documented
    assert all(set(n) == set(g["nodes"][0]) for n in g["nodes"])
    assert all(set(e) == set(g["edges"][0]) for e in g["edges"])


def test_hidden_numbers_are_null_and_the_rest_is_unchanged():
    full = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b")
    g = expression_graph("e = (a+b)*(b+1)", {"a": 2, "b": 1}, wrt="b", hide=("tangent", "adjoint"))
    assert g["hidden"] == ["tangent", "adjoint"] and full["hidden"] == []
    assert all(n["tangent"] is None and n["adjoint"] is None for n in g["nodes"])
    assert [n["value"] for n in g["nodes"]] == [n["value"] for n in full["nodes"]]
    assert g["edges"] == full["edges"]
    edges = expression_graph("x*y", {"x": 1, "y": 2}, hide="partial")["edges"]
    assert [e["partial"] for e in edges] == [None, None] and edges[0]["formula"] == "y"
    json.dumps(g, allow_nan=False)
    with pytest.raises(ValueError, match="cannot hide \\['answer'\\]; choose from value, tangent, adjoint, partial"):
        expression_graph("x", {"x": 1}, hide=["answer"])


# ---- the grammar ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("-x^2", -9.0),                 # the power binds tighter than the sign
    ("x^2^0.5", 3.0 ** (2 ** 0.5)),  # right-associative
    ("x-y-1", 0.0), ("x-(y-1)", 2.0), ("x/y/2", 0.75), ("x - -y", 5.0), ("x*-y", -6.0),
    ("2*x+y*3", 12.0), ("(2+x)*(y+3)", 25.0), ("x**2 ÷ y × 3 − 1", 12.5), ("x·y⋅2", 12.0),
    ("x²+x⁻¹", 9 + 1 / 3), ("+x", 3.0), ("2^-1*x", 1.5), ("1.5e1*x + .5", 45.5),
    ("sigmoid(0*x)", 0.5), ("relu(-x)+relu(x)", 3.0), ("sqrt(x*y*6)", 6.0), ("tanh(x-x)", 0.0),
    ("exp(log(x))", 3.0), ("sin(x)^2 + cos(x)^2", 1.0), ("θ*x", 6.0), ("e = x*y", 6.0),
    ("(-3)^2*x", 27.0), ("-3^2*x", -27.0), ("(-x)^2", 9.0), ("x^(-0.5)*x", 3 ** 0.5), ("y - -3", 5.0),
    ("-(-x)", 3.0), ("(-2)^3*x", -24.0),
])
def test_precedence_spellings_and_functions(text, want):
    values = {"x": 3.0, "y": 2.0, "θ": 2.0}
    g = expression_graph(text, values)
    assert g["nodes"][g["output"]]["value"] == pytest.approx(want, rel=1e-12)
    # the canonical spelling parses back to the same graph
    again = expression_graph(g["expression"], values)
    assert [(n["op"], n["value"]) for n in again["nodes"]] == [(n["op"], n["value"]) for n in g["nodes"]]


def test_every_spelling_and_function_in_the_schema_parses_to_its_engine_op():
    s = E.schema()
    for o in s["operators"]:
        for typed in o["spellings"]:
            g = expression_graph(f"x {typed} y", {"x": 1.5, "y": 2.0})
            assert g["nodes"][g["output"]]["op"] == o["op"], typed
    for f in s["functions"]:
        g = expression_graph(f"{f['name']}(x)", {"x": 0.7})
        assert g["nodes"][g["output"]]["op"] == f["name"]  # the engine's Tensor.op
    assert s["limits"]["length"] == E.MAX_LENGTH
    json.dumps(s, allow_nan=False)


def test_repeated_subexpressions_are_one_node_whose_adjoint_sums_its_paths():
    g = expression_graph("(a+b)*(a+b) + a", {"a": 1.5, "b": -0.5})
    sums = [n for n in g["nodes"] if n["op"] == "add" and n["formula"] == "a + b"]
    assert len(sums) == 1 and len([x for x in g["edges"] if x["from"] == sums[0]["id"]]) == 2
    assert sums[0]["adjoint"] == pytest.approx(2 * 1.0, **TOL)          # ∂(s·s)/∂s = 2s, s = 1
    assert by_name(g, "a")["adjoint"] == pytest.approx(2 * 1.0 + 1, **TOL)
    x = expression_graph("x*x", {"x": 3.0})
    assert [(e["from"], e["slot"], e["partial"]) for e in x["edges"]] == [(0, 0, 3.0), (0, 1, 3.0)]
    assert by_name(x, "x")["adjoint"] == 6.0


def test_names_of_intermediates_skip_the_variables_and_the_output_name():
    g = expression_graph("c = a*b + exp(a)", {"a": 0.5, "b": 2})
    assert [n["name"] for n in g["nodes"]] == ["a", "b", "d", "e", "c"]
    assert g["nodes"][g["output"]]["name"] == "c"


def test_the_grammar_never_evaluates_python(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("eval, exec or compile was called")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, refuse)
    g = expression_graph("tanh(w*x)^2 / 2", {"w": 0.3, "x": -1.2})
    assert g["nodes"][g["output"]]["value"] == pytest.approx(math.tanh(-0.36) ** 2 / 2, rel=1e-12)


@pytest.mark.parametrize("text,words,position", [
    ("__import__('os')", "'_' is not allowed", 0),
    ("x.__class__", "attribute access", 1),
    ("exp(x).real", "attribute access", 6),
    ("open('/etc/passwd')", "quotes are not part of the grammar", 5),
    ("open(x)", "unknown function 'open'", 0),
    ("x; import os", "';' is not part of the grammar", 1),
    ("lambda: 1", "':' is not part of the grammar", 6),
    ("[x for x in y]", "use ( ) to group", 0),
    ("x if x else y", "expected an operator between x and if", 2),
    ("2x", "write 2*x", 1),
    ("exp", "exp is a function", 3),
    ("foo(x)", "unknown function 'foo'", 0),
    ("x +", "ends too early", 3),
    ("(x + 1", "not closed", 0),
    ("x + 1)", "without a matching '('", 5),
    ("max(x, y)", "every function here takes one argument", 5),
    ("exp(x, y)", "one argument", 5),
    ("", "empty expression", 0),
    ("x = y = 1", "only one '='", 6),
    ("x = x + 1", "both the output's name and a variable", 0),
    ("2^1000 * x", "exponent 1000 is too large", 2),
    ("x ** -65", "too large", 5),
    ("1e400 * x", "number 1e400 is too large", 0),
    ("x¹²³", "too large", 1),
    ("x + averyveryverylongname", "is too long: names have at most", 4),
])
def test_unsafe_or_malformed_input_is_refused_with_a_message_that_points_at_it(text, words, position):
    with pytest.raises(ExprError) as info:
        expression_graph(text, {"x": 1.0, "y": 2.0})
    assert words in info.value.message
    assert info.value.position == position
    assert f"(at character {position + 1})" in str(info.value)
    assert info.value.caret.splitlines()[1].index("^") == position
    assert info.value.to_dict() == {"error": info.value.message, "position": position}


def test_oversize_input_is_refused_before_any_work():
    with pytest.raises(ExprError, match="too long: 20001 characters, the limit is 200"):
        parse("(" * 10_000 + "x" + ")" * 10_000)
    for deep in ("(" * 30 + "x" + ")" * 30, "-" * 30 + "x", "exp(" * 30 + "x" + ")" * 30, "x^" * 30 + "x"):
        with pytest.raises(ExprError, match=f"nested too deeply: at most {E.MAX_DEPTH} levels") as info:
            parse(deep)
        assert info.value.position is not None
    parse("(" * E.MAX_DEPTH + "x" + ")" * E.MAX_DEPTH)  # the limit itself is fine
    with pytest.raises(ExprError, match=f"more than {E.MAX_NODES} nodes"):
        parse("+".join(f"x*{k}" for k in range(1, 30)))
    with pytest.raises(ExprError, match=f"too many variables .9.: at most {E.MAX_VARIABLES}"):
        parse("+".join("abcdefghi"))


def test_a_huge_power_overflows_into_a_clear_error_not_a_hang():
    with pytest.raises(ExprError, match=r"overflows .* at x = 2") as info:
        expression_graph("x + 9^9^9", {"x": 2})
    assert info.value.position == 5  # the outer ^
    with pytest.raises(ExprError, match=r"overflows"):
        expression_graph("x^60 + 1", {"x": 1e6})


@pytest.mark.parametrize("text,values,words", [
    ("log(x)", {"x": -1.0}, "a = log(x): its value is not defined at x = −1"),
    ("1/x", {"x": 0.0}, "a = 1/x: its value overflows"),
    ("sqrt(x)", {"x": 0.0}, "local derivative ∂a/∂x = 1/(2·a) overflows"),
    ("x*y", {"x": 1.0}, "no value for y"),
    ("x*y", {"x": 1.0, "y": float("nan")}, "value of y must be a finite number"),
    ("x*y", {"x": 1.0, "y": "2"}, "value of y must be a number, got str"),
    ("3*4", {}, "no variable"),
    ("(-2)^x", {"x": 3.0}, "a = (−2)^x: its local derivative ∂a/∂x = a·log(−2) is not defined at x = 3"),
    ("x", [1.0], "the values are a dict"),
])
def test_bad_values_get_a_clear_error(text, values, words):
    with pytest.raises(ExprError) as info:
        expression_graph(text, values)
    assert words in info.value.message


def test_wrt_must_be_a_variable():
    with pytest.raises(ExprError, match="'z' is not a variable of the expression; choose one of x, y"):
        expression_graph("x*y", {"x": 1, "y": 2}, wrt="z")
    assert expression_graph("x*y", {"x": 1, "y": 2})["wrt"] == "x"


# ---- against PyTorch, finite differences and the chain rule, on generated expressions ----------------

VARS = ("a", "b", "c")


def _leaf():
    var = st.sampled_from(VARS).map(lambda v: ("var", v))
    return st.one_of(var, var, var,
                     st.sampled_from([0.5, 1.0, 2.0, 3.0, 1.5, 0.25, -2.0, -0.5]).map(lambda v: ("num", v)))


def _grow(kids):
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/", "^"]), kids, kids, st.integers(0, 2)),
        st.tuples(st.just("neg"), kids, st.integers(0, 1)),
        st.tuples(st.just("fn"), st.sampled_from(sorted(E.FUNCTIONS)), kids),
        st.tuples(st.just("powc"), st.sampled_from([2, 3, -1, 0.5]), kids, st.integers(0, 2)),
        st.tuples(st.just("paren"), kids),
    )


TREES = st.recursive(_leaf(), _grow, max_leaves=7)
SPELL = {"+": ["+"], "-": ["-", "−"], "*": ["*", "×", "·"], "/": ["/", "÷"], "^": ["^", "**"]}
PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


def render(t) -> tuple[str, int]:
    """The tree as text in the lab's grammar, with parentheses where its precedence needs them."""
    kind = t[0]
    if kind == "var":
        return t[1], 9
    if kind == "num":  # a negative number binds like a negation
        return repr(t[1]), 3 if t[1] < 0 else 9
    if kind == "paren":
        return f"({render(t[1])[0]})", 9
    if kind == "fn":
        return f"{t[1]}({render(t[2])[0]})", 9
    if kind == "neg":
        s, p = render(t[1])
        return ("-" if t[2] == 0 else "−") + (f"({s})" if p <= 2 else s), 3
    if kind == "powc":
        s, p = render(t[2])
        base = f"({s})" if p <= 4 else s
        if t[3] == 2 and float(t[1]).is_integer():
            return base + str(int(t[1])).translate(E._SUPER), 4
        return base + ["^", "**", "^"][t[3]] + str(t[1]), 4
    _, op, l, r, spelling = t
    (ls, lp), (rs, rp) = render(l), render(r)
    prec = PREC[op]
    if op == "^":
        ls, rs = (f"({ls})" if lp <= 4 else ls), (f"({rs})" if rp < 3 else rs)
    else:
        ls, rs = (f"({ls})" if lp < prec else ls), (f"({rs})" if rp <= prec else rs)
    sign = SPELL[op][spelling % len(SPELL[op])]
    return f"{ls} {sign} {rs}", prec


def torch_tree(t, leaves):
    """The tree straight into torch, without the lab's parser."""
    kind = t[0]
    if kind == "var":
        return leaves[t[1]]
    if kind == "num":
        return torch.tensor(t[1], dtype=torch.float64)
    if kind == "paren":
        return torch_tree(t[1], leaves)
    if kind == "fn":
        return getattr(torch, t[1])(torch_tree(t[2], leaves))
    if kind == "neg":
        return -torch_tree(t[1], leaves)
    if kind == "powc":
        return torch_tree(t[2], leaves) ** t[1]
    _, op, l, r, _ = t
    a, b = torch_tree(l, leaves), torch_tree(r, leaves)
    return {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div, "^": torch.pow}[op](a, b)


def torch_twin(ex, values, wrt):
    """The parsed graph rebuilt in torch, node by node from the rows' torch spellings: values and
    adjoints (reverse mode, retain_grad) and tangents (torch's own forward mode, dual numbers)."""
    def build(leaf):
        ts = []
        for n in ex.nodes:
            if n.kind != "op":
                ts.append(leaf(n))
                continue
            a = [ts[i] for i in n.args]
            if n.fn:
                ts.append(eval_torch(n.fn.torch)(a[0]))
            elif n.param is not None:
                ts.append(torch.pow(a[0], n.param))
            elif n.operator is None:
                ts.append(eval_torch(E.NEGATE[2])(a[0]))
            else:
                ts.append(eval_torch(n.operator.torch)(a[0], a[1]))
        return ts

    ts = build(lambda n: torch.tensor(values[n.name] if n.kind == "input" else n.value, dtype=torch.float64,
                                      requires_grad=True))
    for t in ts:
        if t.grad_fn is not None:
            t.retain_grad()
    ts[ex.output].backward()
    with fwAD.dual_level():
        duals = build(lambda n: fwAD.make_dual(
            torch.tensor(values[n.name] if n.kind == "input" else n.value, dtype=torch.float64),
            torch.tensor(1.0 if n.kind == "input" and n.name == wrt else 0.0, dtype=torch.float64)))
        tangents = [fwAD.unpack_dual(d).tangent for d in duals]
    tangents = [0.0 if t is None else float(t) for t in tangents]
    return [t.item() for t in ts], [t.grad.item() for t in ts], tangents


def eval_torch(spelling: str):
    assert spelling.startswith("torch.")
    return getattr(torch, spelling[len("torch."):])


def local_partial_torch(ex, n, values_of, slot):
    """∂n/∂(operand `slot`) with the other operands held fixed: torch on fresh leaves."""
    xs = [torch.tensor(values_of[i], dtype=torch.float64, requires_grad=True) for i in n.args]
    if n.fn:
        out = eval_torch(n.fn.torch)(xs[0])
    elif n.param is not None:
        out = torch.pow(xs[0], n.param)
    elif n.operator is None:
        out = -xs[0]
    else:
        out = eval_torch(n.operator.torch)(xs[0], xs[1])
    (g,) = torch.autograd.grad(out, [xs[slot]])
    return float(g)


def generated(tree, values, wrt):
    text = render(tree)[0]
    ex = parse(text)  # a generated expression is always in the grammar
    try:
        g = expression_graph(text, values, wrt=wrt if wrt in ex.inputs else None)
    except ExprError as e:
        assume("no variable" not in e.message and "not defined" not in e.message
               and "overflows" not in e.message)
        raise
    assume(all(abs(n["value"]) < 1e6 and abs(n["adjoint"]) < 1e6 and abs(n["tangent"]) < 1e6
               for n in g["nodes"]))
    return text, ex, g


VALUES = st.fixed_dictionaries({v: st.floats(-2.5, 2.5, allow_nan=False).map(lambda x: round(x, 3))
                                for v in VARS})


@settings(max_examples=150, deadline=None)
@given(TREES, VALUES, st.sampled_from(VARS))
def test_every_node_matches_torch_forward_and_reverse_mode(tree, values, wrt):
    text, ex, g = generated(tree, values, wrt)
    t_values, t_adjoints, t_tangents = torch_twin(ex, values, g["wrt"])
    for n in g["nodes"]:
        assert n["value"] == pytest.approx(t_values[n["id"]], **TOL), (text, n)
        assert n["adjoint"] == pytest.approx(t_adjoints[n["id"]], **TOL), (text, n)
        assert n["tangent"] == pytest.approx(t_tangents[n["id"]], **TOL), (text, n)
    vals = [n["value"] for n in g["nodes"]]
    for e in g["edges"]:
        want = local_partial_torch(ex, ex.nodes[e["to"]], vals, e["slot"])
        assert e["partial"] == pytest.approx(want, **TOL), (text, e)
    # the canonical spelling parses back to the same graph
    again = expression_graph(g["expression"], values, wrt=g["wrt"])
    assert [(n["op"], n["value"], n["adjoint"]) for n in again["nodes"]] == \
        [(n["op"], n["value"], n["adjoint"]) for n in g["nodes"]], (text, g["expression"])
    # the parser read the text as the tree meant it: torch on the tree itself, no parser involved
    leaves = {v: torch.tensor(values[v], dtype=torch.float64, requires_grad=True) for v in VARS}
    out = torch_tree(tree, leaves)
    assert g["nodes"][g["output"]]["value"] == pytest.approx(out.item(), **TOL), text
    grads = torch.autograd.grad(out, [leaves[v] for v in g["inputs"]], allow_unused=True)
    for v, gr in zip(g["inputs"], grads):
        assert by_name(g, v)["adjoint"] == pytest.approx(0.0 if gr is None else float(gr), **TOL), (text, v)


@settings(max_examples=100, deadline=None)
@given(TREES, VALUES, st.sampled_from(VARS))
def test_tangents_and_adjoints_are_the_chain_rule_over_the_edges_and_agree_with_finite_differences(
        tree, values, wrt):
    text, ex, g = generated(tree, values, wrt)
    nodes, edges = g["nodes"], g["edges"]
    # forward mode: a node's tangent is Σ over its operands of (local partial × operand's tangent)
    for n in nodes:
        if n["kind"] == "op":
            s = sum(e["partial"] * nodes[e["from"]]["tangent"] for e in edges if e["to"] == n["id"])
            assert n["tangent"] == pytest.approx(s, rel=1e-9, abs=1e-9), (text, n)
    # reverse mode: a node's adjoint is Σ over its consumers (local partial × consumer's adjoint)
    for n in nodes:
        if n["id"] != g["output"]:
            s = sum(e["partial"] * nodes[e["to"]]["adjoint"] for e in edges if e["from"] == n["id"])
            assert n["adjoint"] == pytest.approx(s, rel=1e-9, abs=1e-9), (text, n)
    # the output's tangent is its adjoint at the chosen input: the two modes agree
    out = nodes[g["output"]]
    assert out["tangent"] == pytest.approx(by_name(g, g["wrt"])["adjoint"], rel=1e-9, abs=1e-12)
    # finite differences of the engine's own values, away from relu's kink and from u^v at u = 0
    # (where ∂/∂v = u^v·log u has no finite limit; the engine, as torch, uses 0 there)
    assume(all(abs(nodes[n.args[0]]["value"]) > 1e-3 for n in ex.nodes if n.fn and n.fn.name == "relu"))
    assume(all(abs(nodes[n.args[0]]["value"]) > 1e-3 for n in ex.nodes
               if n.operator is not None and n.operator.op == "pow"))
    for v in g["inputs"]:
        h = 1e-6 * max(1.0, abs(values[v]))
        try:
            up = expression_graph(text, {**values, v: values[v] + h})["nodes"][g["output"]]["value"]
            down = expression_graph(text, {**values, v: values[v] - h})["nodes"][g["output"]]["value"]
        except ExprError:
            assume(False)
        fd = (up - down) / (2 * h)
        assert by_name(g, v)["adjoint"] == pytest.approx(fd, rel=1e-4, abs=1e-5 * max(1.0, abs(out["value"]))), \
            (text, v)


@settings(max_examples=60, deadline=None)
@given(TREES)
def test_the_layout_keeps_drawn_nodes_a_column_apart_and_operations_above_their_operands(tree):
    text = render(tree)[0]
    try:
        g = expression_graph(text, {v: 0.5 for v in VARS})
    except ExprError:
        assume(False)
    drawn = [n for n in g["nodes"] if n["drawn"]]
    for r in range(g["rows"]):
        xs = sorted(n["col"] for n in drawn if n["row"] == r)
        assert all(b - a >= 1 - 1e-9 for a, b in zip(xs, xs[1:])), text
    assert min(n["col"] for n in drawn) == 0 and max(n["col"] for n in drawn) + 1 == g["columns"]
    for e in g["edges"]:
        if e["drawn"]:
            assert g["nodes"][e["from"]]["row"] < g["nodes"][e["to"]]["row"], text
    assert g["nodes"][g["output"]]["row"] == g["rows"] - 1
