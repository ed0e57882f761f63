"""The computation graph the engine records, as a picture and as data for the playground's graph view.

``graph(t)`` walks ``t.parents`` back to the leaves and keeps, for every tensor it meets, the op that
made it (``t.op``), its shape, its value and its gradient. Once a backward pass has run through ``t``
(a leaf holds a ``.grad``), every node's gradient is shown, intermediate ones too: the graph runs a
backward pass of its own from ``t`` (keeping every intermediate gradient) and then puts every ``.grad``
back as it found it, so what it shows is the gradient of ``t`` alone, and the caller's ``.grad`` values
are untouched. Before any backward pass, gradients show as "—" (never 0). The result renders as SVG in a
notebook (``_repr_svg_``), saves ``.svg`` or ``.png`` (matplotlib, no Graphviz), and turns into the
JSON the page draws (``to_dict``). ``model=`` names the leaves by their parameter names.

With ``backward=True`` it also records that backward pass as *steps*, one node at a time in reverse
topological order: the
gradient arriving at the node from each of its consumers (these add up where a value fans out), and
what the node sends to each of its inputs. What it sends is the op's own vector-Jacobian product (the
derivative rule in ``engine/ops.py``) applied to the node's gradient; for elementwise and scalar ops the
local derivative is that rule applied to a gradient of ones, so product = local × upstream.

Two builders make the graphs the playground shows:

- ``step_graph(model, x, y, loss=...)``: one sample's step through an ``nn.MLP``, op by op (input,
  weights, linear, activation, ..., loss), grouped by layer;
- ``neuron_graph(trace, layer, i)``: one neuron re-run through the engine on 0-d tensors, micrograd's
  picture (each wⱼ·aⱼ, their sum, + b, the activation), seeded with the neuron's upstream gradient
  dL/da from the trace, so its dL/dw equal the trace's.

Layout is networkx's: layers from ``topological_generations`` (each leaf pulled to just before its
first consumer), positions from ``multipartite_layout``; the page gets coordinates and only draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import numpy as np

from ..engine import Tensor, is_grad_enabled
from ..engine.keep import kept_grads
from ..nn import functional as F

VERSION = 1
MAX_CELLS = 64
"""Values with more elements than this are sent as a summary plus their first MAX_CELLS elements."""

NODE_W, NODE_H = 168, 78
"""A node's box in layout pixels (the page scales the whole drawing with the SVG viewBox)."""
GAP_X, GAP_Y = 64, 22



# Where a send has no per-element local derivative (the op mixes elements), the graph view shows the
# rule instead: what the op multiplies the upstream gradient g by, for each input slot.
LOCAL_RULES = {
    ("linear", 0): "∂z/∂x = W: sends g · W",
    ("linear", 1): "∂z/∂W = x: sends gᵀ · x (row i of g times x)",
    ("linear", 2): "∂z/∂b = 1: sends g, summed over the batch",
    ("matmul", 0): "sends g · Bᵀ", ("matmul", 1): "sends Aᵀ · g",
    ("sum", 0): "1 for every element: g copied", ("mean", 0): "1/n for every element: g / n",
    ("cross_entropy", 0): "softmax(z) − onehot(y), over the batch",
    ("l2_penalty", None): "∂(Σw²)/∂W = 2W", ("l1_penalty", None): "∂(Σ|w|)/∂W = sign(W)",
}


def _local_rule(op: str, slot: int) -> str:
    """The rule text for input ``slot`` of ``op`` (see LOCAL_RULES), or a plain sentence."""
    rule = LOCAL_RULES.get((op, slot)) or LOCAL_RULES.get((op, None))
    return rule or "no single number: the op mixes elements, the product is its vector-Jacobian product"


def _vjp(node: Tensor, g: np.ndarray) -> tuple:
    """The engine's own derivative rule for the op that made ``node``: dL/d(parent) for each parent,
    given dL/d(node) = g (None where a parent needs no gradient). This is exactly the call the engine's
    backward loop makes (``ops.py``: ``backward(node, g) -> tuple``), without accumulating anything."""
    return node._op.backward(node, np.asarray(g, dtype=node.data.dtype))


# --------------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------------

@dataclass
class Node:
    """One tensor in the graph.

    ``op`` is the engine's op name ("" for a leaf); ``role`` is "op", "param" (a leaf that requires
    grad), "input" (an input leaf that requires grad) or "const" (a leaf without gradient);
    ``value``/``grad`` are numpy copies (``grad`` None when the engine holds none).
    """

    id: int
    op: str
    role: str
    label: str
    shape: tuple
    value: np.ndarray
    grad: np.ndarray | None
    group: str | None = None
    requires_grad: bool = False
    zoom: dict | None = None
    x: float = 0.0
    y: float = 0.0
    layer: int = 0


@dataclass
class Edge:
    """``source`` is an input (parent) of ``target``; ``slot`` is its position among the op's inputs."""

    source: int
    target: int
    slot: int


@dataclass
class Step:
    """One node of the backward sweep.

    ``arrivals``: (consumer id, dL/d(this) through that consumer) for each consumer; they sum to
    ``grad``. ``sends``: for each input that needs a gradient, (input id, slot, local derivative or
    None, product = the op's vector-Jacobian product of ``grad``).
    """

    node: int
    grad: np.ndarray
    arrivals: list = field(default_factory=list)
    sends: list = field(default_factory=list)


class Graph:
    """The recorded graph below ``root``. Build it with :func:`graph`."""

    def __init__(self, root: Tensor, names: dict | None = None, groups: dict | None = None,
                 title: str | None = None, upstream: np.ndarray | None = None, zoom: dict | None = None):
        names, groups, zoom = names or {}, groups or {}, zoom or {}
        order = _topological(root)                      # parents before children
        index = {id(t): k for k, t in enumerate(order)}
        self.title = title
        self.root = index[id(root)]
        self.nodes: list[Node] = []
        for k, t in enumerate(order):
            role = "op" if t.parents else ("param" if t.requires_grad else "const")
            if role == "param" and names.get(id(t), ("", ""))[1] == "input":
                role = "input"
            label = names.get(id(t), (None,))[0] or (t.op if t.parents else _leaf_label(t))
            self.nodes.append(Node(k, t.op, role, label, tuple(t.shape), np.array(t.data, copy=True),
                                   None if t.grad is None else np.array(t.grad, copy=True),
                                   groups.get(id(t)), bool(t.requires_grad), zoom.get(id(t))))
        self.edges = [Edge(index[id(p)], index[id(t)], s) for t in order for s, p in enumerate(t.parents)]
        self.forward = [n.id for n in self.nodes if n.role == "op"]
        self.steps: list[Step] = []
        self.upstream = None if upstream is None else np.asarray(upstream, dtype=float)
        self._layout()

    # ---- the backward sweep ---------------------------------------------------------------------
    def _record_steps(self, order: list[Tensor]) -> None:
        """Reverse topological order over the nodes that hold a gradient; see :class:`Step`."""
        index = {id(t): k for k, t in enumerate(order)}
        arriving: dict[int, list] = {}
        for t in reversed(order):
            k = index[id(t)]
            if t.grad is None or not t.requires_grad:
                continue
            step = Step(k, np.array(t.grad, copy=True), arriving.pop(k, []))
            if t.parents:
                products = _vjp(t, t.grad)
                locals_ = _vjp(t, np.ones_like(t.data)) if _has_local(t) else (None,) * len(t.parents)
                for slot, (p, pg, loc) in enumerate(zip(t.parents, products, locals_)):
                    if pg is None or not p.requires_grad:
                        continue
                    pg = np.array(np.broadcast_to(pg, p.shape), dtype=float)
                    loc = None if loc is None else np.array(np.broadcast_to(loc, p.shape), dtype=float)
                    step.sends.append((index[id(p)], slot, loc, pg))
                    arriving.setdefault(index[id(p)], []).append((k, pg))
            self.steps.append(step)

    @property
    def backward(self) -> list[int]:
        """The node ids in the order the backward sweep visits them."""
        return [s.node for s in self.steps]

    # ---- layout ---------------------------------------------------------------------------------
    def _layout(self) -> None:
        """networkx's layered layout: generations of the DAG, leaves pulled next to their consumer."""
        import networkx as nx

        G = nx.DiGraph()
        G.add_nodes_from(n.id for n in self.nodes)
        G.add_edges_from((e.source, e.target) for e in self.edges)
        ops = G.subgraph(n.id for n in self.nodes if n.role == "op")
        layer = {}
        for depth, generation in enumerate(nx.topological_generations(ops)):
            for k in generation:
                layer[k] = depth + 1
        for n in self.nodes:
            if n.role != "op":  # a leaf sits one column before the first op that reads it
                layer[n.id] = min((layer[c] for c in G.successors(n.id)), default=1) - 1
        nx.set_node_attributes(G, layer, "layer")
        pos = nx.multipartite_layout(G, subset_key="layer", align="vertical", scale=1.0)
        for n in self.nodes:
            n.layer = layer[n.id]
        # multipartite_layout spaces each column evenly; turn its units into pixels
        cols = sorted(set(layer.values()))
        per_col = {c: sorted(k for k in layer if layer[k] == c) for c in cols}
        tallest = max(len(v) for v in per_col.values())
        ys = np.array([p[1] for p in pos.values()])
        span = (ys.max() - ys.min()) or 1.0
        height = tallest * NODE_H + (tallest - 1) * GAP_Y
        for n in self.nodes:
            px, py = pos[n.id]
            n.x = (cols.index(layer[n.id])) * (NODE_W + GAP_X) + NODE_W / 2 + 16
            n.y = 16 + NODE_H / 2 + (py - ys.min()) / span * (height - NODE_H) if tallest > 1 else 16 + NODE_H / 2
        self.width = len(cols) * (NODE_W + GAP_X) - GAP_X + 32
        self.height = height + 32

    # ---- output ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON the page's GraphView draws (see the module docstring and the README's "The computation graph")."""
        return {
            "type": "graph",
            "version": VERSION,
            "title": self.title,
            "width": self.width,
            "height": self.height,
            "node_size": [NODE_W, NODE_H],
            "root": self.root,
            "upstream": None if self.upstream is None else _cells(self.upstream),
            "nodes": [{
                "id": n.id, "op": n.op, "role": n.role, "label": n.label, "group": n.group,
                "shape": list(n.shape), "value": _cells(n.value),
                "grad": None if n.grad is None else _cells(n.grad),
                "requires_grad": n.requires_grad, "zoom": n.zoom, "x": round(n.x, 1), "y": round(n.y, 1),
                "text": {"value": _short(n.value), "grad": "—" if n.grad is None else _short(n.grad)},
            } for n in self.nodes],
            "edges": [{"source": e.source, "target": e.target, "slot": e.slot} for e in self.edges],
            "forward": list(self.forward),
            "backward": [{
                "node": s.node,
                "grad": _cells(s.grad),
                "text": _short(s.grad),
                "arrivals": [{"from": c, "value": _cells(v), "text": _short(v)} for c, v in s.arrivals],
                "sends": [{"to": p, "slot": slot, "local": None if loc is None else _cells(loc),
                           "upstream": _cells(s.grad), "product": _cells(prod),
                           "text": {"local": _local_rule(self.nodes[s.node].op, slot) if loc is None else _short(loc),
                                    "upstream": _short(s.grad),
                                    "product": _short(prod)}}
                          for p, slot, loc, prod in s.sends],
            } for s in self.steps],
        }

    def to_svg(self) -> str:
        """A standalone SVG: one <g class="node"> per tensor (with a <title>), one path per edge."""
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width:.0f} {self.height:.0f}" '
               f'width="{self.width:.0f}" height="{self.height:.0f}" role="img" '
               f'aria-label="{escape(self.title or "computation graph")}" font-family="sans-serif">',
               f'<title>{escape(self.title or "computation graph")}</title>',
               '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
               'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
               '<rect width="100%" height="100%" fill="white"/>']
        for e in self.edges:
            a, b = self.nodes[e.source], self.nodes[e.target]
            x0, y0, x1, y1 = a.x + NODE_W / 2, a.y, b.x - NODE_W / 2, b.y
            mx = (x0 + x1) / 2
            out.append(f'<path class="edge" d="M{x0:.1f},{y0:.1f} C{mx:.1f},{y0:.1f} {mx:.1f},{y1:.1f} '
                       f'{x1:.1f},{y1:.1f}" fill="none" stroke="#888" stroke-width="1.2" '
                       f'marker-end="url(#arrow)"/>')
        for n in self.nodes:
            lines = _lines(n)
            fill = {"op": "#eef3fb", "param": "#fff6e6", "input": "#f2f2f2", "const": "#f7f7f7"}[n.role]
            x, y = n.x - NODE_W / 2, n.y - NODE_H / 2
            out.append(f'<g class="node" data-id="{n.id}" data-op="{escape(n.op)}">'
                       f'<title>{escape(" · ".join(lines))}</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
                       f'fill="{fill}" stroke="#445" stroke-width="1"/>')
            for i, line in enumerate(lines):
                weight = ' font-weight="bold"' if i == 0 else ""
                text, size = _fit(line)
                out.append(f'<text x="{x + 8:.1f}" y="{y + 17 + 18 * i:.1f}" font-size="{size:.1f}"{weight}>'
                           f'{escape(text)}</text>')
            out.append("</g>")
        out.append("</svg>")
        return "\n".join(out)

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def save(self, path: str) -> None:
        """Write ``path`` as SVG (``.svg``) or PNG (``.png``, drawn with matplotlib)."""
        if str(path).lower().endswith(".svg"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.to_svg())
        elif str(path).lower().endswith(".png"):
            self._png(path)
        else:
            raise ValueError(f"graph.save: use a .svg or .png file name, got {path!r}")

    def _png(self, path: str, dpi: int = 100) -> None:
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

        fig = Figure(figsize=(self.width / dpi, self.height / dpi), dpi=dpi)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, self.width)
        ax.set_ylim(self.height, 0)  # SVG's y runs downwards; keep the same picture
        ax.axis("off")
        for e in self.edges:
            a, b = self.nodes[e.source], self.nodes[e.target]
            ax.add_patch(FancyArrowPatch((a.x + NODE_W / 2, a.y), (b.x - NODE_W / 2, b.y),
                                         arrowstyle="-|>", mutation_scale=10, color="#888", lw=1.0,
                                         connectionstyle="arc3,rad=0"))
        for n in self.nodes:
            fill = {"op": "#eef3fb", "param": "#fff6e6", "input": "#f2f2f2", "const": "#f7f7f7"}[n.role]
            ax.add_patch(FancyBboxPatch((n.x - NODE_W / 2, n.y - NODE_H / 2), NODE_W, NODE_H,
                                        boxstyle="round,pad=0,rounding_size=6", fc=fill, ec="#445", lw=0.8))
            for i, line in enumerate(_lines(n)):
                text, size = _fit(line)
                ax.text(n.x - NODE_W / 2 + 8, n.y - NODE_H / 2 + 14 + 18 * i, text, fontsize=size * 0.72,
                        va="center", fontweight="bold" if i == 0 else "normal")
        fig.savefig(path)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self.edges)} edges, {len(self.steps)} backward steps)"


# --------------------------------------------------------------------------------------------------
# Building graphs
# --------------------------------------------------------------------------------------------------

def graph(t: Tensor, backward: bool = False, names: dict | None = None, title: str | None = None,
          model=None) -> Graph:
    """The graph the engine recorded below ``t``: each node's op, shape, value and gradient.

    Gradients appear once a backward pass has run through ``t`` (or with ``backward=True``): the graph
    runs its own pass from ``t``, for every node, and leaves each ``.grad`` as it found it, so calling
    it twice, or after ``t.backward()``, never adds anything up. ``backward=True`` also records the
    sweep (``Graph.steps``). ``names`` maps tensors to labels, e.g. ``{W: "W1", x: "x"}``; ``model`` (an
    ``nn.Module``) names its parameters: ``W1``, ``b1``, ... for an ``nn.MLP`` (as the playground does),
    else their dotted names (``linears.0.weight``).
    """
    labels = _model_names(model) if model is not None else {}
    labels.update({id(k): (v, None) for k, v in (names or {}).items()})
    order = _topological(t)
    ran = any(p.grad is not None for p in order if not p.parents and p.requires_grad)
    if not backward and not (ran and t.data.size == 1 and is_grad_enabled()):
        return Graph(t, labels, title=title)
    return _with_backward(t, labels, {}, title, steps=backward)


def _model_names(model) -> dict:
    """id(parameter) -> its name: W1, b1, ... for an MLP (the playground's names), else dotted paths."""
    linears = getattr(model, "linears", None)
    if linears is not None:
        out = {}
        for l, lin in enumerate(linears, start=1):
            out[id(lin.weight)] = (f"W{l}", None)
            out[id(lin.bias)] = (f"b{l}", None)
        return out
    return {id(p): (name, None) for name, p in model.named_parameters()}


def _with_backward(root: Tensor, names: dict, groups: dict, title, gradient=None, zoom=None,
                   steps: bool = True) -> Graph:
    """Run root.backward(gradient) with every intermediate gradient retained, record the graph (and,
    with ``steps``, the sweep), and leave every tensor's ``.grad`` as it was found."""
    if not is_grad_enabled():
        raise RuntimeError("graph(backward=True) runs a backward pass: call it outside no_grad()")
    order = _topological(root)
    with kept_grads(order):
        for t in order:
            if t.parents:
                t.retain_grad()
        root.backward(gradient)
        g = Graph(root, names, groups, title=title, upstream=gradient, zoom=zoom)
        if steps:
            g._record_steps(order)
    return g


def step_graph(model, x, y, loss: str = "bce", features=None, regularization: str | None = None,
               reg_rate: float = 0.0) -> Graph:
    """One sample's training step through ``model`` (an ``nn.MLP``), op by op, forward and backward.

    ``x`` is one point (raw 2-D with ``features``, else the model's input), ``y`` its target. The graph
    is the engine's own record of ``loss(model(x), y)`` (plus ``reg_rate`` times the L1/L2 penalty on
    the weights, which makes each W fan out to two consumers). Parameter gradients are left as they were.
    """
    from . import data as _data
    from ..nn import loss_function, losses, penalty

    dtype = model.linears[0].weight.dtype
    X = np.array(x, dtype=dtype).reshape(1, -1)
    x_t = Tensor(X, requires_grad=True, dtype=dtype)
    names = {id(x_t): ("x (point)" if features else "x (input)", "input")}
    groups, zoom = {}, {}
    plain = features is None or list(features) == ["x1", "x2"]
    a = x_t if plain else _data.featurize(x_t, features)
    if not plain:
        names[id(a)] = ("features", None)
        _name_below(a, x_t, groups, "features")
    n_layers = len(model.linears)
    for l, ((z, act), lin) in enumerate(zip(model.forward_layers(a), model.linears), start=1):
        group = f"layer {l}" if l < n_layers else "output"
        names[id(lin.weight)] = (f"W{l}", None)
        names[id(lin.bias)] = (f"b{l}", None)
        names[id(z)] = (f"z{l} = linear", None)
        for t in (lin.weight, lin.bias, z):
            groups[id(t)] = group
        # the playground's names of the neurons a zoom opens: h{l}.{k}, or out / out.{k}
        who = ([f"h{l}.{k + 1}" for k in range(lin.out_features)] if l < n_layers else
               ["out"] if lin.out_features == 1 else [f"out.{k + 1}" for k in range(lin.out_features)])
        zoom[id(z)] = zoom[id(act)] = {"layer": l - 1, "neurons": lin.out_features, "names": who}
        if act is not z:
            names[id(act)] = (f"a{l} = {act.op}", None)
            groups[id(act)] = group
        a = act
    L = loss_function(loss)(a, losses.targets(y, loss, 1, model.sizes[-1]))
    names[id(L)] = (f"loss ({loss})", None)
    for p in L.parents:
        if not p.requires_grad:
            names[id(p)] = ("y (target)", None)
    groups[id(L)] = "loss"
    if regularization in ("l1", "l2") and reg_rate:
        pen = penalty([lin.weight for lin in model.linears], regularization)
        names[id(pen)] = (f"{regularization} penalty", None)
        scaled = reg_rate * pen
        total = L + scaled
        for t, label in ((scaled, f"× {reg_rate:g}"), (total, "loss + penalty")):
            names[id(t)] = (label, None)
        for t in (pen, scaled, total):
            groups[id(t)] = "loss"
        L = total
    g = _with_backward(L, names, groups, title="one training step, op by op", zoom=zoom)
    return g


def neuron_graph(trace, layer: int, i: int) -> Graph:
    """Neuron ``i`` of linear layer ``layer`` (0-based, as in ``explain``), micrograd's scalar graph.

    Re-runs that neuron's computation through the engine on 0-d tensors: wⱼ·aⱼ for each input j, their
    running sum, + b, then the activation; and runs backward from its output seeded with the upstream
    gradient dL/da the trace recorded. Its ∂L/∂wⱼ and ∂L/∂b are then the engine's, and equal the
    trace's dL/dW[i, j] and dL/db[i]. The trace must be of one sample.
    """
    if trace.batched:
        raise ValueError("neuron_graph zooms into one sample's step; trace a single point")
    lt = trace.layers[layer]
    a_in = np.asarray(trace.a_in(layer), dtype=float).reshape(-1)
    W, b = lt.weight[i], lt.bias[i]
    names, groups = {}, {}
    # the playground's names: h{layer}.{k} counts from 1, W{l}[i,j] runs from neuron j to neuron i
    from .data import FEATURES

    features = [FEATURES[f].label if f in FEATURES else f for f in (trace.features or ["x1", "x2"])]
    source = [(features[j] if j < len(features) else f"x{j + 1}") if layer == 0 else f"h{layer}.{j + 1}"
              for j in range(len(a_in))]
    last = layer == len(trace.layers) - 1
    me = ("out" if len(np.atleast_1d(lt.bias)) == 1 else f"out.{i + 1}") if last else f"h{layer + 1}.{i + 1}"
    total = None
    for j, (w_j, a_j) in enumerate(zip(W, a_in)):
        w = Tensor(w_j, requires_grad=True)
        a = Tensor(a_j, requires_grad=True)
        names[id(w)] = (f"W{layer + 1}[{i + 1},{j + 1}]", None)
        names[id(a)] = (f"a of {source[j]}", "input")
        prod = w * a
        names[id(prod)] = (f"W{layer + 1}[{i + 1},{j + 1}] · {source[j]}", None)
        total = prod if total is None else total + prod
        if j:
            names[id(total)] = ("Σ wⱼ·aⱼ" if j == len(W) - 1 else "running sum", None)
    bias = Tensor(b, requires_grad=True)
    names[id(bias)] = (f"b{layer + 1}[{i + 1}]", None)
    z = total + bias
    names[id(z)] = ("z = Σ + b", None)
    out = F.activation(z, lt.activation)
    if out is not z:
        names[id(out)] = (f"a = {lt.activation}(z)", None)
    upstream = np.asarray(np.asarray(lt.grad_a, dtype=float).reshape(-1)[i])
    title = f"neuron {me}, on scalars; dL/da = {upstream.item():.4g} from the layers above"
    return _with_backward(out, names, groups, title=title, gradient=upstream)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

def _topological(root: Tensor) -> list[Tensor]:
    """Every tensor below ``root``, parents before children (iterative depth-first post-order)."""
    order, seen, stack = [], {id(root)}, [(root, iter(root.parents))]
    while stack:
        t, parents = stack[-1]
        for p in parents:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append((p, iter(p.parents)))
                break
        else:
            stack.pop()
            order.append(t)
    return order


def _has_local(t: Tensor) -> bool:
    """A local derivative per element exists when the op is elementwise without broadcasting, or
    when everything is a single number. An op is elementwise when its row in the op table says so
    (``Op.elementwise``): its Jacobian is then diagonal, so the local derivative is the op's
    vector-Jacobian product applied to a gradient of ones, and product = local * upstream."""
    if t.data.size == 1 and all(p.data.size == 1 for p in t.parents):
        return True
    return getattr(t._op, "elementwise", False) and all(p.shape == t.shape for p in t.parents)


def _name_below(top: Tensor, stop: Tensor, groups: dict, group: str) -> None:
    for t in _topological(top):
        if t is not stop and t.parents:
            groups[id(t)] = group


def _leaf_label(t: Tensor) -> str:
    return "parameter" if t.requires_grad else "constant"


def _cells(a) -> dict:
    """A value for the page: its shape, up to MAX_CELLS numbers (row-major), and the largest |x| for
    the colour scale. Non-finite numbers become null."""
    a = np.asarray(a, dtype=float)
    flat = a.reshape(-1)[:MAX_CELLS]
    finite = a[np.isfinite(a)]
    return {"shape": list(a.shape), "size": int(a.size),
            "data": [float(f"{v:.6g}") if math.isfinite(v) else None for v in flat.tolist()],
            "absmax": float(np.abs(finite).max()) if finite.size else 0.0}


def _short(a) -> str:
    """A value in a few characters: 0.1234, [0.1, -0.2], or "4×8: -0.3…0.5" (its range)."""
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return f"{a.item():.4g}"
    if a.size <= 3:
        return "[" + ", ".join(f"{v:.3g}" for v in a.reshape(-1)) + "]"
    return f"{'×'.join(map(str, a.shape))}: {np.nanmin(a):.2g}…{np.nanmax(a):.2g}"


def _lines(n: Node) -> list[str]:
    """The four lines of a node's box: its name, op and shape, value, grad."""
    shape = "scalar" if not n.shape else "×".join(map(str, n.shape))
    kind = n.op if n.role == "op" else {"param": "parameter", "input": "input", "const": "constant"}[n.role]
    grad = "—" if n.grad is None else _short(n.grad)
    return [n.label, f"{kind} · {shape}", f"value {_short(n.value)}", f"grad {grad}"]


CHAR_W = 0.6
"""A sans-serif character's width, as a fraction of its font size (a generous average)."""


def _fit(line: str, size: float = 12.0, smallest: float = 8.5) -> tuple[str, float]:
    """The line and a font size at which it fits inside a node's box: smaller type first, then an
    ellipsis (the box's <title> keeps the whole text)."""
    room = NODE_W - 16
    if len(line) * CHAR_W * size <= room:
        return line, size
    size = max(smallest, math.floor(10 * room / (len(line) * CHAR_W)) / 10)
    most = int(room / (CHAR_W * size))
    return (line if len(line) <= most else line[: most - 1] + "…"), size
