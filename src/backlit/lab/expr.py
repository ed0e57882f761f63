"""The expression lab: a small, safe grammar parsed into engine ops, drawn as a computational graph
with each node's value, forward-mode tangent and reverse-mode adjoint (Olah's e = (a+b)(b+1)).

The grammar (hand-written recursive descent; nothing is ever passed to ``eval`` or Python's ``ast``)::

    statement  := [name "="] sum                       e = (a + b)*(b + 1)
    sum        := product (("+" | "-" | "−") product)*
    product    := unary (("*" | "×" | "·" | "⋅" | "/" | "÷") unary)*
    unary      := ("-" | "−" | "+") unary | power
    power      := atom [("^" | "**") unary]            right-associative: 2^3^2 = 2^9; -x^2 = -(x^2)
    atom       := number | name | function "(" sum ")" | "(" sum ")"
    (a superscript exponent also works: x², x⁻¹)

Names are letters and digits, starting with a letter (x, w1, θ); the functions are the rows of
:data:`FUNCTIONS` (exp, log, sin, cos, tanh, sigmoid, relu, sqrt). Input is bounded: at most
:data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` levels of nesting, :data:`MAX_NODES` graph nodes,
:data:`MAX_VARIABLES` variables, names of :data:`MAX_NAME` characters, number literals up to
:data:`MAX_NUMBER` and literal exponents up to :data:`MAX_EXPONENT` in size. Anything else raises :class:`ExprError`, whose message names the problem
and whose ``position`` (0-based) points at it; ``str(error)`` gives the 1-based character too.

Identical subexpressions are one node (``b`` used twice is one node with two out-edges; so is a
repeated ``(a + b)``), so a node's adjoint sums over every path to the output.

``schema()`` lists the functions, operators and limits for a page's help text. A refused input's
``ExprError.to_dict()`` is ``{"error": message, "position": index or None}``.

``expression_graph(text, values, wrt=None, hide=())`` returns this JSON-able dict, which
``web/js/exprlab.js`` draws (numbers are floats at full precision; nodes are in id order, operands
before the nodes that use them; edges in the order of the node they enter, then slot)::

    {
      "version": 1,
      "source": "e = (a+b)*(b+1)",       # the text as given
      "expression": "(a + b)·(b + 1)",   # canonical spelling (minimal parentheses, · for times)
      "output": 5,                       # id of the output node
      "inputs": ["a", "b"],              # variable names, in order of first appearance
      "values": {"a": 2.0, "b": 1.0},    # the values used
      "wrt": "b",                        # the chosen input of the forward-mode tangents
      "passes": {"forward": 2, "reverse": 1},
                                         # passes needed for ∂output/∂(every input): forward mode one
                                         # per input, reverse mode one for all of them
      "rows": 3, "columns": 2.25,        # the drawing's size in rows and in node columns (see "row", "col")
      "hidden": [],                      # the numbers left out (hide=...): they are null below
      "nodes": [{
        "id": 2,
        "name": "c",                     # variable name, number (constants) or a free letter
        "kind": "op",                    # "input", "const" or "op"
        "op": "add",                     # the engine's op name (Tensor.op); "" for inputs and constants
        "label": "+",                    # a short label: the op's sign (×, ^2) or function name
        "formula": "a + b",              # what the node computes, in its operands' names
        "expr": "a + b",                 # the whole subexpression it computes
        "derivative": "∂c/∂a = 1, ∂c/∂b = 1",   # its local derivatives, as formulas ("" for leaves)
        "value": 3.0,                    # the engine's forward value
        "tangent": 1.0,                  # forward mode: ∂(this node)/∂(wrt)
        "adjoint": 2.0,                  # reverse mode: ∂(output)/∂(this node)
        "from_wrt": true,                # the chosen input is this node or one of its ancestors
        "drawn": true,                   # false for constants other than the output: they show
                                         # inside their consumer's formula instead
        "row": 1, "col": 0.25,           # layout: row 0 is the bottom, the output is on the top row;
                                         # col is the horizontal position in node columns (0 = left)
      }, ...],
      "edges": [{
        "from": 1, "to": 4, "slot": 0,   # operand number `slot` of node `to` is node `from`
        "formula": "1",                  # the local partial ∂to/∂from, as a formula in names
        "text": "∂d/∂b = 1",             # the same, written out
        "partial": 1.0,                  # its value: the engine's derivative rule, applied to 1
        "drawn": true,                   # both ends drawn
      }, ...],
    }

Every number is the engine's. Values come from the forward pass. ``partial`` is the op's own
vector-Jacobian product (``engine/ops.py``) applied to a gradient of 1. ``adjoint`` comes from one
``output.backward()`` with every intermediate gradient retained. The engine has only reverse mode, so
each ``tangent`` is computed as ∂n/∂wrt by one backward pass from node n, reading the chosen
input's ``.grad``: this is the number forward mode carries up to n in its single pass seeded with
∂wrt/∂wrt = 1. It costs one backward per node here, but ``passes`` reports what each mode needs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..engine import Tensor
from .graph import _vjp

VERSION = 1
MAX_LENGTH = 200
"""The longest expression accepted, in characters."""
MAX_DEPTH = 24
"""The deepest nesting accepted: parentheses, function calls, signs and powers each add a level."""
MAX_NODES = 40
"""The most graph nodes (after identical subexpressions are merged): a graph a page can draw."""
MAX_VARIABLES = 8
MAX_NAME = 12
"""The longest variable name accepted, in characters."""
MAX_NUMBER = 1e9
"""The largest number literal accepted (in absolute value)."""
MAX_EXPONENT = 64
"""The largest literal exponent accepted (in absolute value): 2^64 is fine, 2^1000 is refused."""


class ExprError(ValueError):
    """A refused expression or evaluation. ``message`` says what is wrong and what to do;
    ``position`` is the 0-based index in the text it points at (None when it points nowhere)."""

    def __init__(self, message: str, position: int | None = None, source: str | None = None):
        self.message = message
        self.position = position
        self.source = source
        where = f" (at character {position + 1})" if position is not None else ""
        super().__init__(message + where)

    @property
    def caret(self) -> str:
        """The text with a ^ under the position, for a terminal or a <pre>."""
        if self.source is None or self.position is None:
            return self.message
        return f"{self.source}\n{' ' * self.position}^ {self.message}"

    def to_dict(self) -> dict:
        return {"error": self.message, "position": self.position}


# --------------------------------------------------------------------------------------------------
# The rows: every operator and function of the grammar, with everything anyone needs of it
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Function:
    """A function of the grammar: ``fn`` applies it with an engine op; ``derivative`` is d/du f(u)
    as a formula, where {u} is the operand's name and {z} the node's own name."""

    name: str
    fn: Callable[[Tensor], Tensor]
    torch: str  # its torch spelling, for the tests' twin
    derivative: str


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("exp", Tensor.exp, "torch.exp", "exp({u}) = {z}"),
    Function("log", Tensor.log, "torch.log", "1/{u}"),
    Function("sin", Tensor.sin, "torch.sin", "cos({u})"),
    Function("cos", Tensor.cos, "torch.cos", "−sin({u})"),
    Function("tanh", Tensor.tanh, "torch.tanh", "1 − {z}²"),
    Function("sigmoid", Tensor.sigmoid, "torch.sigmoid", "{z}·(1 − {z})"),
    Function("relu", Tensor.relu, "torch.relu", "1 if {u} > 0 else 0"),  # the engine's choice: 0 at 0
    Function("sqrt", Tensor.sqrt, "torch.sqrt", "1/(2·{z})"),
)}


@dataclass(frozen=True)
class Operator:
    """A binary operator: ``fn`` applies it with engine ops; ``formula`` writes the node in its
    operands' names; ``partials`` are ∂/∂u and ∂/∂v as formulas ({z} is the node's name, {U} the
    first operand's without parentheses); ``prec`` its binding strength."""

    op: str
    sign: str
    fn: Callable[[Tensor, Tensor], Tensor]
    torch: str
    formula: str
    partials: tuple[str, str]
    prec: int


OPERATORS: dict[str, Operator] = {o.sign: o for o in (
    Operator("add", "+", lambda u, v: u + v, "torch.add", "{u} + {v}", ("1", "1"), 1),
    Operator("sub", "−", lambda u, v: u - v, "torch.sub", "{u} − {v}", ("1", "−1"), 1),
    Operator("mul", "·", lambda u, v: u * v, "torch.mul", "{u}·{v}", ("{v}", "{u}"), 2),
    Operator("div", "/", lambda u, v: u / v, "torch.div", "{u}/{v}", ("1/{v}", "−{u}/{v}²"), 2),
    Operator("pow", "^", lambda u, v: u ** v, "torch.pow", "{u}^{v}", ("{v}·{u}^({v} − 1)", "{z}·log({U})"), 4),
)}
NEGATE = ("neg", "−", "torch.neg", "−{u}", "−1")  # op, sign, torch spelling, formula, derivative
_SPELLINGS = {"+": "+", "-": "−", "−": "−", "*": "·", "×": "·", "·": "·", "⋅": "·", "/": "/", "÷": "/",
              "^": "^", "**": "^"}
_SUPER = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_UNSUPER = {c: n for n, c in zip("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")} | {"⁻": "-", "⁺": "+"}


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z\u0391-\u03A9\u03B1-\u03C9][A-Za-z0-9\u0391-\u03A9\u03B1-\u03C9]*")
_SIGNS = ("**", "+", "-", "−", "*", "×", "·", "⋅", "/", "÷", "^", "(", ")", "=")


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "sign", "sup" (a superscript exponent), "end"
    text: str
    pos: int


def _tokens(src: str) -> list[Token]:
    out, i = [], 0
    while i < len(src):
        c = src[i]
        if c in " \t":
            i += 1
            continue
        m = _NUMBER.match(src, i)
        if m:
            out.append(Token("num", m.group(), i))
            i = m.end()
            continue
        m = _NAME.match(src, i)
        if m:
            if len(m.group()) > MAX_NAME:
                raise ExprError(f"the name {m.group()[:MAX_NAME]}… is too long: names have at most {MAX_NAME} "
                                f"characters", i, src)
            out.append(Token("name", m.group(), i))
            i = m.end()
            continue
        if c in _UNSUPER:
            j = i
            while j < len(src) and src[j] in _UNSUPER:
                j += 1
            out.append(Token("sup", "".join(_UNSUPER[ch] for ch in src[i:j]), i))
            i = j
            continue
        sign = next((s for s in _SIGNS if src.startswith(s, i)), None)
        if sign:
            out.append(Token("sign", sign, i))
            i += len(sign)
            continue
        raise ExprError(_bad_character(src, i, out), i, src)
    out.append(Token("end", "", len(src)))
    return out


def _bad_character(src: str, i: int, before: list[Token]) -> str:
    c = src[i]
    if c == ".":
        if before and (before[-1].kind == "name" or before[-1].text == ")"):
            return "'.' after a name: attribute access is not part of the grammar"
        return "'.' is not a number: write 0.5 or .5"
    if c == "_":
        return "'_' is not allowed: names are letters and digits (x, w1, θ)"
    if c in "'\"":
        return "quotes are not part of the grammar: it has numbers, names and + − × ÷ ^"
    if c == ",":
        return "',': every function here takes one argument, as in exp(x)"
    if c in "[]{}":
        return f"'{c}' is not part of the grammar: use ( ) to group"
    return f"{c!r} is not part of the grammar: it has numbers, names, + − × ÷ ^, ( ) and " \
           f"{', '.join(FUNCTIONS)}"


# --------------------------------------------------------------------------------------------------
# Parsing: text -> tree
# --------------------------------------------------------------------------------------------------

@dataclass
class _Tree:
    kind: str  # "num", "var", "op" (binary), "neg", "fn", "powc" (power with a literal exponent)
    pos: int
    text: str = ""  # number or variable spelling, operator sign, function name
    children: tuple = ()
    value: float = 0.0  # a number's value, or a literal exponent


class _Parser:
    def __init__(self, src: str):
        self.src = src
        self.toks = _tokens(src)
        self.i = 0
        self.depth = 0

    # -- helpers --------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, message: str, pos: int | None = None):
        raise ExprError(message, self.tok.pos if pos is None else pos, self.src)

    def sign(self, *signs) -> Token | None:
        t = self.tok
        if t.kind == "sign" and t.text in signs:
            self.i += 1
            return t
        return None

    def enter(self, pos: int):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nested too deeply: at most {MAX_DEPTH} levels of parentheses, functions, signs "
                      f"and powers", pos)

    # -- grammar ----------------------------------------------------------------------------------
    def statement(self) -> tuple[str | None, _Tree]:
        name = None
        if self.tok.kind == "name" and self.toks[self.i + 1].text == "=":
            name = self.tok
            if name.text in FUNCTIONS:
                self.fail(f"{name.text} is a function: name the output something else")
            self.i += 2
        if self.tok.kind == "end":
            self.fail("empty expression: type one, e.g. (a + b)*(b + 1)")
        tree = self.sum()
        t = self.tok
        if t.kind != "end":
            if t.text == ")":
                self.fail("')' without a matching '('")
            if t.text == "=":
                self.fail("only one '=' is allowed, after the output's name: e = (a + b)*(b + 1)")
            self.fail(f"expected an operator before {t.text!r} (write 2*x, not 2x)")
        return (name.text if name else None), tree

    def sum(self) -> _Tree:
        left = self.product()
        while (t := self.sign("+", "-", "−")):
            left = _Tree("op", t.pos, _SPELLINGS[t.text], (left, self.product()))
        return left

    def product(self) -> _Tree:
        left = self.unary()
        while (t := self.sign("*", "×", "·", "⋅", "/", "÷")):
            left = _Tree("op", t.pos, _SPELLINGS[t.text], (left, self.unary()))
        return left

    def unary(self) -> _Tree:
        t = self.sign("-", "−", "+")
        if t is None:
            return self.power()
        self.enter(t.pos)
        inner = self.unary()
        self.depth -= 1
        if t.text == "+":
            return inner
        if inner.kind == "num":  # -3 is a number, not an operation on one
            v = -inner.value if inner.value else 0.0
            return _Tree("num", t.pos, ("−" if v < 0 else "") + inner.text.lstrip("−"), value=v)
        return _Tree("neg", t.pos, children=(inner,))

    def power(self) -> _Tree:
        base = self.atom()
        if self.tok.kind == "sup":
            t = self.tok
            self.i += 1
            try:
                p = float(t.text)
            except ValueError:
                self.fail("a superscript exponent must be a whole number, like x² or x⁻¹", t.pos)
            return self._literal_power(base, p, t.pos, t.text)
        t = self.sign("^", "**")
        if t is None:
            return base
        self.enter(t.pos)
        exponent = self.unary()
        self.depth -= 1
        if exponent.kind == "num":
            return self._literal_power(base, exponent.value, exponent.pos, exponent.text, t.pos)
        return _Tree("op", t.pos, "^", (base, exponent))

    def _literal_power(self, base, p, pos, text, op_pos=None) -> _Tree:
        if abs(p) > MAX_EXPONENT:
            self.fail(f"the exponent {text} is too large: literal exponents are limited to "
                      f"|p| ≤ {MAX_EXPONENT}", pos)
        return _Tree("powc", pos if op_pos is None else op_pos, children=(base,), value=p)

    def atom(self) -> _Tree:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            try:
                v = float(t.text)
            except ValueError:
                self.fail(f"{t.text!r} is not a number")
            if not math.isfinite(v) or abs(v) > MAX_NUMBER:
                self.fail(f"the number {t.text} is too large: numbers are limited to {MAX_NUMBER:,.0f} "
                          f"in size", t.pos)
            if self.tok.kind == "name" or self.tok.text == "(":
                self.fail(f"expected an operator after {t.text} (write {t.text}*{self.tok.text or '('}, "
                          f"not {t.text}{self.tok.text})", self.tok.pos)
            return _Tree("num", t.pos, t.text, value=v)
        if t.kind == "name":
            self.i += 1
            if t.text in FUNCTIONS:
                if self.tok.text != "(":
                    self.fail(f"{t.text} is a function: write {t.text}(x)", self.tok.pos)
                self.i += 1
                self.enter(t.pos)
                arg = self.sum()
                self.depth -= 1
                if not self.sign(")"):
                    self.fail(f"expected ')' to close {t.text}(", self.tok.pos)
                return _Tree("fn", t.pos, t.text, (arg,))
            if self.tok.text == "(":
                self.fail(f"unknown function {t.text!r}: the functions are {', '.join(FUNCTIONS)}", t.pos)
            if self.tok.kind in ("name", "num"):
                self.fail(f"expected an operator between {t.text} and {self.tok.text}", self.tok.pos)
            return _Tree("var", t.pos, t.text)
        if self.sign("("):
            self.enter(t.pos)
            inner = self.sum()
            self.depth -= 1
            if not self.sign(")"):
                self.fail("expected ')': this '(' is not closed", t.pos)
            return inner
        if t.kind == "end":
            self.fail("the expression ends too early: something is missing after the last operator")
        self.fail(f"expected a number, a name or '(' here, not {t.text!r}")


# --------------------------------------------------------------------------------------------------
# The graph: tree -> one node per distinct subexpression
# --------------------------------------------------------------------------------------------------

@dataclass
class Node:
    """One distinct subexpression. ``args`` are operand node ids (in slot order)."""

    id: int
    kind: str  # "input", "const", "op"
    op: str  # our row's op name (the engine's Tensor.op after evaluation says the same)
    label: str
    args: tuple[int, ...]
    pos: int
    name: str = ""
    value: float = 0.0  # a constant's value
    param: float | None = None  # a literal exponent
    fn: Function | None = None
    operator: Operator | None = None
    expr: str = ""
    prec: int = 9


class Expression:
    """A parsed expression: ``nodes`` in topological order (operands first), the output's id, and the
    variables in order of first appearance. Build it with :func:`parse`."""

    def __init__(self, source: str, output_name: str | None, tree: _Tree):
        self.source = source
        self.nodes: list[Node] = []
        self._index: dict[tuple, int] = {}
        self.inputs: list[str] = []
        self.output = self._add(tree)
        if len(self.inputs) > MAX_VARIABLES:
            raise ExprError(f"too many variables ({len(self.inputs)}): at most {MAX_VARIABLES}", None, source)
        self._name_nodes(output_name)
        self.text = self.nodes[self.output].expr

    def _add(self, tree: _Tree) -> int:
        """Iterative post-order (the tree is at most MAX_DEPTH deep, but stay safe anyway)."""
        done: dict[int, int] = {}
        stack = [(tree, False)]
        while stack:
            t, ready = stack.pop()
            if not ready:
                stack.append((t, True))
                stack.extend((c, False) for c in reversed(t.children))
                continue
            args = tuple(done[id(c)] for c in t.children)
            done[id(t)] = self._node(t, args)
        return done[id(tree)]

    def _node(self, t: _Tree, args: tuple[int, ...]) -> int:
        key = (t.kind, t.text if t.kind not in ("num",) else None, t.value, args)
        if key in self._index:
            return self._index[key]
        if len(self.nodes) >= MAX_NODES:
            raise ExprError(f"too big: the graph would have more than {MAX_NODES} nodes", t.pos, self.source)
        k = len(self.nodes)
        if t.kind == "num":
            # a negative number binds like a negation: (−3)², not −3² (which is −9)
            n = Node(k, "const", "", "", args, t.pos, name=t.text, value=t.value, prec=3 if t.value < 0 else 9)
        elif t.kind == "var":
            n = Node(k, "input", "", "", args, t.pos, name=t.text)
            self.inputs.append(t.text)
        elif t.kind == "op":
            o = OPERATORS[t.text]
            n = Node(k, "op", o.op, "×" if o.sign == "·" else o.sign, args, t.pos, operator=o, prec=o.prec)
        elif t.kind == "neg":
            n = Node(k, "op", NEGATE[0], NEGATE[1], args, t.pos, prec=3)
        elif t.kind == "powc":
            n = Node(k, "op", "pow", "^" + _number(t.value), args, t.pos, param=t.value, prec=4)
        else:
            n = Node(k, "op", t.text, t.text, args, t.pos, fn=FUNCTIONS[t.text])
        self.nodes.append(n)
        self._index[key] = k
        n.expr = self._expr(n)
        return k

    def _expr(self, n: Node) -> str:
        """The whole subexpression, with parentheses only where the grammar needs them."""
        if n.kind != "op":
            return n.name
        a = [self.nodes[i] for i in n.args]
        if n.fn:
            return f"{n.fn.name}({a[0].expr})"
        if n.param is not None:
            return _wrap(a[0], a[0].prec <= 4) + _power_text(n.param)
        if n.operator is None:  # negation: -a·b parses as (-a)·b, so a product needs parentheses
            return "−" + _wrap(a[0], a[0].prec <= 3)
        o = n.operator
        if o.op == "pow":  # the base needs parentheses unless it is an atom, and so does the exponent
            left, right = _wrap(a[0], a[0].prec <= 4), _wrap(a[1], a[1].prec <= 4)  # (for clarity)
        else:
            # a negation on the right reads better in parentheses: x·(−y), not x·−y
            left, right = _wrap(a[0], a[0].prec < o.prec), _wrap(a[1], a[1].prec <= max(o.prec, 3))
        return o.formula.format(u=left, v=right)

    def _name_nodes(self, output_name: str | None) -> None:
        taken = set(self.inputs)
        out = self.nodes[self.output]
        if output_name is not None:
            if output_name in taken:
                raise ExprError(f"{output_name} is both the output's name and a variable in the expression",
                                0, self.source)
            if out.kind == "op":
                taken.add(output_name)
        letters = (c for c in "abcdefghijklmnopqrstuvwxyz" if c not in taken)
        spare = (f"v{i}" for i in range(1, MAX_NODES + 1) if f"v{i}" not in taken)
        for n in self.nodes:
            if n.kind == "op":
                if n.id == self.output and output_name is not None:
                    n.name = output_name
                else:
                    n.name = next(letters, None) or next(spare)

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, values: dict) -> list[Tensor]:
        """Build the expression from engine ops at ``values`` ({name: number}): one Tensor per node.
        Inputs and constants are leaves that require grad, so every node has an adjoint."""
        if not isinstance(values, dict):
            raise ExprError(f"the values are a dict {{name: number}}, got {type(values).__name__}")
        missing = [v for v in self.inputs if v not in values]
        if missing:
            first = next(n for n in self.nodes if n.kind == "input" and n.name == missing[0])
            raise ExprError(f"no value for {', '.join(missing)}: give every variable a number", first.pos,
                            self.source)
        ts: list[Tensor] = []
        with np.errstate(all="ignore"):
            for n in self.nodes:
                if n.kind == "input":
                    ts.append(Tensor(_finite(values[n.name], n.name), requires_grad=True))
                elif n.kind == "const":
                    ts.append(Tensor(n.value, requires_grad=True))
                else:
                    a = [ts[i] for i in n.args]
                    if n.fn:
                        ts.append(n.fn.fn(a[0]))
                    elif n.param is not None:
                        ts.append(a[0] ** n.param)
                    elif n.operator is None:
                        ts.append(-a[0])
                    else:
                        ts.append(n.operator.fn(a[0], a[1]))
        return ts

    def formula(self, n: Node) -> str:
        """What node ``n`` computes, in its operands' names."""
        if n.kind != "op":
            return n.name
        a = [_operand(self.nodes[i]) for i in n.args]
        if n.fn:
            return f"{n.fn.name}({self.nodes[n.args[0]].name})"
        if n.param is not None:
            return a[0] + _power_text(n.param)
        if n.operator is None:
            return NEGATE[3].format(u=a[0])
        return n.operator.formula.format(u=a[0], v=a[1])

    def partials(self, n: Node) -> list[str]:
        """∂n/∂(operand) for each slot, as formulas in names."""
        if n.kind != "op":
            return []
        a = [_operand(self.nodes[i]) for i in n.args]
        z = n.name
        if n.fn:
            return [n.fn.derivative.format(u=self.nodes[n.args[0]].name, z=z)]
        if n.param is not None:
            p = n.param
            if p == 0:
                return ["0"]
            if p == 1:
                return ["1"]
            return [f"{_number(p)}·{a[0]}{_power_text(p - 1) if p != 2 else ''}"]
        if n.operator is None:
            return [NEGATE[4]]
        bare = self.nodes[n.args[0]].name  # {U}: the first operand inside a function's own parentheses
        return [f.format(u=a[0], v=a[1], z=z, U=bare) for f in n.operator.partials]


def _number(v: float) -> str:
    """A number as a formula writes it: 2, 0.5, −3."""
    s = f"{v + 0.0:g}"  # (+ 0.0 turns −0 into 0)
    return s.replace("-", "−")


def _power_text(p: float) -> str:
    if p == int(p) and abs(p) < 1000:
        return str(int(p)).translate(_SUPER)
    return f"^{_number(p) if p >= 0 else '(' + _number(p) + ')'}"


def _wrap(n: Node, needed: bool) -> str:
    return f"({n.expr})" if needed else n.expr


def _operand(n: Node) -> str:
    """A node's name inside a formula: negative numbers get parentheses."""
    return f"({n.name})" if n.kind == "const" and n.value < 0 else n.name


def _finite(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ExprError(f"the value of {name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ExprError(f"the value of {name} must be a finite number, got {v}")
    return v


def schema() -> dict:
    """What the grammar accepts, for a page's help text: the functions with their derivatives (z is
    the function's value, z = f(u)), the operators with their spellings, and the limits."""
    spellings: dict[str, list[str]] = {}
    for typed, sign in _SPELLINGS.items():
        spellings.setdefault(sign, []).append(typed)
    return {
        "functions": [{"name": f.name, "formula": f"z = {f.name}(u)", "derivative": f.derivative.format(u="u", z="z")}
                      for f in FUNCTIONS.values()],
        "operators": [{"op": o.op, "sign": o.sign, "spellings": spellings[o.sign], "formula": "z = " + o.formula.format(
            u="u", v="v"), "partials": [p.format(u="u", v="v", U="u", z="z") for p in o.partials]}
                      for o in OPERATORS.values()],
        "limits": {"length": MAX_LENGTH, "depth": MAX_DEPTH, "nodes": MAX_NODES, "variables": MAX_VARIABLES,
                   "name": MAX_NAME, "number": MAX_NUMBER, "exponent": MAX_EXPONENT},
        "example": "e = (a + b)*(b + 1)",
    }


def parse(text: str) -> Expression:
    """Parse ``text`` in the lab's grammar (see the module docstring), or raise :class:`ExprError`."""
    if not isinstance(text, str):
        raise ExprError(f"an expression is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"too long: {len(text)} characters, the limit is {MAX_LENGTH}", MAX_LENGTH, text)
    name, tree = _Parser(text).statement()
    return Expression(text, name, tree)


# --------------------------------------------------------------------------------------------------
# The graph as JSON
# --------------------------------------------------------------------------------------------------

HIDEABLE = ("value", "tangent", "adjoint", "partial")


def expression_graph(text: str, values: dict, wrt: str | None = None, hide=()) -> dict:
    """Parse ``text``, evaluate it with the engine at ``values`` and return the graph with every
    node's value, tangent ∂n/∂wrt and adjoint ∂output/∂n (the shape is in the module docstring).

    ``wrt`` is the chosen input of forward mode (default: the first variable). ``hide`` names numbers
    to leave out (any of :data:`HIDEABLE`): they become null, so that a page can ask for them before
    it is sent the answers; the errors are the same as with nothing hidden. Raises
    :class:`ExprError` for a refused expression, a missing value, or a value or derivative that is not
    finite at these values (log of a negative number, 1/0, an overflow), naming the node.
    """
    hide = (hide,) if isinstance(hide, str) else tuple(hide)
    unknown = [h for h in hide if h not in HIDEABLE]
    if unknown:
        raise ValueError(f"expression_graph: cannot hide {unknown}; choose from {', '.join(HIDEABLE)}")
    ex = parse(text)
    if not ex.inputs:
        raise ExprError("the expression has no variable: use a name such as x or b", None, text)
    wrt = ex.inputs[0] if wrt is None else wrt
    if wrt not in ex.inputs:
        raise ExprError(f"{wrt!r} is not a variable of the expression; choose one of {', '.join(ex.inputs)}",
                        None, text)
    ts = ex.evaluate(values)
    leaves = [t for t, n in zip(ts, ex.nodes) if n.kind != "op"]
    x = ts[_input_id(ex, wrt)]
    with np.errstate(all="ignore"):
        tangents = []
        for t in ts:  # one backward pass per node: ∂t/∂x (see the module docstring)
            for leaf in leaves:
                leaf.grad = None
            t.backward()
            tangents.append(0.0 if x.grad is None else float(x.grad))
        for leaf in leaves:
            leaf.grad = None
        for t in ts:
            t.retain_grad()
        out = ts[ex.output]
        out.backward()  # one reverse-mode pass: ∂out/∂(every node)
        adjoints = [0.0 if t.grad is None else float(t.grad) for t in ts]
        partials = {}
        for n, t in zip(ex.nodes, ts):
            if n.kind == "op":
                for slot, g in enumerate(_vjp(t, np.ones(()))):
                    partials[(n.id, slot)] = 0.0 if g is None else float(g)

    for n, t in zip(ex.nodes, ts):
        _check(ex, n, "value", float(t.data), values)
    for n in ex.nodes:
        for slot, formula in enumerate(ex.partials(n)):
            _check(ex, n, f"local derivative ∂{n.name}/∂{_operand(ex.nodes[n.args[slot]])} = {formula}",
                   partials[(n.id, slot)], values)
    for n in ex.nodes:
        _check(ex, n, f"∂{n.name}/∂{wrt}", tangents[n.id], values)
        _check(ex, n, f"∂{ex.nodes[ex.output].name}/∂{n.name}", adjoints[n.id], values)
    drawn = [n.kind != "const" or n.id == ex.output for n in ex.nodes]
    from_wrt = _descendants(ex, _input_id(ex, wrt))
    nodes, edges = [], []
    for n, t in zip(ex.nodes, ts):
        texts = ex.partials(n)
        value = float(t.data)
        parts = []
        for slot, i in enumerate(n.args):
            p = ex.nodes[i]
            full = f"∂{n.name}/∂{_operand(p)} = {texts[slot]}"
            edges.append({"from": i, "to": n.id, "slot": slot, "formula": texts[slot], "text": full,
                          "partial": partials[(n.id, slot)], "drawn": drawn[i] and drawn[n.id]})
            if p.kind != "const" or all(ex.nodes[j].kind == "const" for j in n.args):
                parts.append(full)
        nodes.append({
            "id": n.id, "name": n.name, "kind": n.kind, "op": t.op if n.kind == "op" else "",
            "label": n.label, "formula": ex.formula(n), "expr": n.expr, "derivative": ", ".join(parts),
            "value": value, "tangent": tangents[n.id], "adjoint": adjoints[n.id],
            "from_wrt": n.id in from_wrt, "drawn": drawn[n.id],
        })
    rows, columns = _layout(ex, nodes, drawn)
    for key in hide:
        for item in edges if key == "partial" else nodes:
            item[key] = None
    return {
        "version": VERSION, "source": text, "expression": ex.text, "output": ex.output,
        "inputs": list(ex.inputs), "values": {v: float(values[v]) for v in ex.inputs}, "wrt": wrt,
        "passes": {"forward": len(ex.inputs), "reverse": 1},
        "rows": rows, "columns": columns, "hidden": [h for h in HIDEABLE if h in hide],
        "nodes": nodes, "edges": edges,
    }


def _input_id(ex: Expression, name: str) -> int:
    return next(n.id for n in ex.nodes if n.kind == "input" and n.name == name)


def _descendants(ex: Expression, start: int) -> set[int]:
    """``start`` and every node that reads it, directly or not (ids are topological)."""
    out = {start}
    for n in ex.nodes:
        if any(a in out for a in n.args):
            out.add(n.id)
    return out


def _check(ex: Expression, n: Node, what: str, v: float, values: dict) -> None:
    if not math.isfinite(v):
        at = ", ".join(f"{k} = {_number(float(values[k]))}" for k in ex.inputs)
        label = n.name if n.kind != "op" else f"{n.name} = {ex.formula(n)}"
        why = "overflows (it is too large for a float)" if math.isinf(v) else "is not defined"
        raise ExprError(f"{label}: its {what} {why} at {at}; choose other values", n.pos, ex.source)


def _layout(ex: Expression, nodes: list[dict], drawn: list[bool]) -> tuple[int, float]:
    """Where each drawn node goes, as in a tidy tree drawing: the output on the top row, every other
    node one row below its lowest consumer (so a value sits next to where it is used); a node with no
    drawn operand one column right of what its row holds so far, in the order a walk from the output
    meets them (operand 0 first), every other node above the mean of its operands; then, along each
    row, nodes pushed at least one column apart. Sets "row" and "col" on every node (row 0 is the
    bottom, col 0 the left edge) and returns the drawing's size in rows and in node columns."""
    users: dict[int, list[int]] = {n.id: [] for n in ex.nodes}
    for n in ex.nodes:
        for a in set(n.args):
            users[a].append(n.id)
    depth = {}
    for n in ex.nodes:  # longest path from a leaf: the output's height
        depth[n.id] = 1 + max((depth[a] for a in n.args if drawn[a]), default=-1)
    row = {}
    for n in reversed(ex.nodes):  # consumers before operands
        row[n.id] = depth[ex.output] if n.id == ex.output else min(row[u] for u in users[n.id]) - 1
    low = min(row[n.id] for n in ex.nodes if drawn[n.id])
    col: dict[int, float] = {}
    right: dict[int, float] = {}  # per row, the right-most column given so far
    stack = [(ex.output, False)]
    while stack:  # iterative post-order walk from the output
        k, ready = stack.pop()
        if k in col:
            continue
        operands = [a for a in ex.nodes[k].args if drawn[a]]
        if ready or not operands:
            r = row[k]
            col[k] = sum(col[a] for a in operands) / len(operands) if operands else right.get(r, -1.0) + 1
            right[r] = max(right.get(r, col[k]), col[k])
            continue
        stack.append((k, True))
        stack.extend((a, False) for a in reversed(operands) if a not in col)
    for r in set(row[k] for k in col):
        order = sorted((k for k in col if row[k] == r), key=lambda k: (col[k], k))
        xs = []
        for k in order:  # at least one column apart, then shifted back towards where they wanted to be
            xs.append(col[k] if not xs else max(col[k], xs[-1] + 1))
        shift = sum(col[k] - x for k, x in zip(order, xs)) / len(xs)
        for k, x in zip(order, xs):
            col[k] = x + shift
    left = min(col.values())
    for n, d in zip(ex.nodes, nodes):
        d["row"] = row[n.id] - low if drawn[n.id] else max(row[n.id] - low, 0)
        d["col"] = round(col[n.id] - left, 3) if n.id in col else 0.0
    return depth[ex.output] - low + 1, round(max(col.values()) - left + 1, 3)
