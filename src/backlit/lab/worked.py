"""One sample's forward and backward pass written out as Markdown with LaTeX, from the step recorder.

``markdown(trace)`` (also ``Trace.to_markdown()``) writes every z, a, dL/da, delta, dL/dW and dL/db,
with each formula, the numbers plugged in, and the chain-rule line of each layer. Every number comes
from the :class:`backlit.lab.trace.Trace`: nothing is recomputed here except f'(z), which the trace gives
too (``Trace.f_prime``, the engine's own derivative).

``markdown(trace, blanks=True)`` is the exercise: the same text with every computed number replaced by
a numbered blank, then an answer key listing each blank's quantity and value. The given numbers (the
point, the inputs, the weights, the target) stay. A quantity used again later (a in the next layer's
sum, delta in its gradients) keeps its blank number, so a student carries their own result forward.

Notation, as in the playground: layers and neurons count from 1; W^{(l)}_{i,j} (the playground's
Wl[i,j]) connects input j of layer l to its neuron i; z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}, a^{(l)} = f(z^{(l)}); the network's inputs
(the features of the point (X_1, X_2)) are x_j. Math is inline ``$...$`` only, in the subset of LaTeX
that matplotlib's mathtext, KaTeX and MathJax all read.
"""

from __future__ import annotations

import numpy as np

from . import data
from ..nn import activations, losses


def tex_number(v) -> str:
    """A float as LaTeX with 6 significant digits: 0.123457, -12.5, 3.2 \\times 10^{-5}."""
    s = f"{float(v):.6g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant} \\times 10^{{{int(exp)}}}"
    return s


def blank(k: int) -> str:
    """Blank number ``k`` as LaTeX: an underlined gap with the number in it."""
    return rf"\underline{{\quad\mathsf{{({k})}}\quad}}"


class _Doc:
    """Collects lines; ``num`` writes a computed quantity as its number, or as its blank."""

    def __init__(self, blanks: bool):
        self.blanks = blanks
        self.lines: list[str] = []
        self.slots: dict = {}     # key -> (k, LaTeX name, value)

    def num(self, key, name: str, value, factor: bool = False) -> str:
        if key not in self.slots:
            self.slots[key] = (len(self.slots) + 1, name, float(value))
        k = self.slots[key][0]
        text = blank(k) if self.blanks else tex_number(value)
        return f"({text})" if factor else text

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)


class _Writer:
    """What a loss row's ``worked_loss`` and ``worked_grad`` write with: the output's symbol ``o``,
    its size ``k``, ``per`` (" / k" when the loss averages over the k outputs), the output values
    ``a``, the predictions ``pred`` and the targets ``target``; and, numbered or blanked as the rest
    of the example, ``out(i)`` (output i), ``p(i)`` (prediction i), ``loss()``, ``num(...)``."""

    def __init__(self, doc: _Doc, trace, o: str):
        self.doc, self.o = doc, o
        self.layer = len(trace.layers) - 1
        self.a = trace.layers[-1].a
        self.k = self.a.shape[0]
        self.per = f" / {self.k}" if self.k > 1 and losses.loss_class(trace.loss_name).averages_outputs else ""
        self.pred = np.atleast_1d(trace.prediction)
        self.target = np.atleast_1d(trace.target)
        self._loss = trace.loss
        self.num = doc.num
        self.given = given

    def out(self, i: int, factor: bool = True) -> str:
        return self.doc.num(("a", self.layer, i), "", self.a[i], factor)

    def p(self, i: int, factor: bool = False) -> str:
        return self.doc.num(("p", i), f"p_{{{_ix(i)}}}", self.pred[i], factor)

    def loss(self) -> str:  # numbered where it is read, after the quantities it is made of
        return self.doc.num(("loss",), "L", self._loss)


def given(v) -> str:
    """A given number as a factor: in parentheses when negative."""
    s = tex_number(v)
    return f"({s})" if s.startswith("-") else s


def _sup(l) -> str:
    """A layer's superscript: layers count from 1, as in the playground (a symbol stays as it is)."""
    return f"^{{({_ix(l)})}}"


def _ix(k):
    """A neuron's (or layer's) number as the playground shows it: from 1 (a symbol stays as it is)."""
    return k + 1 if isinstance(k, (int, np.integer)) else k


def markdown(trace, blanks: bool = False) -> str:
    """The worked example of a one-sample ``trace`` (see the module doc); ``blanks`` for the exercise."""
    if trace.batched:
        raise ValueError("the worked example follows one sample: trace a single point, e.g. "
                         "explain.trace(model, X[0], y[0], ...)")
    doc = _Doc(blanks)
    layers = trace.layers
    L = len(layers)
    sizes = trace.model.sizes
    features = trace.features
    title = "Exercise" if blanks else "Worked example"
    acts = sorted({lt.activation for lt in layers[:-1]}) or ["none"]
    row = losses.loss_class(trace.loss_name)
    doc.add(f"# {title}: one forward and one backward pass", "",
            f"Network {'-'.join(map(str, sizes))} (activation {', '.join(acts)}), loss: "
            f"{row.long_label}, on one sample. Layers and neurons count from 1, as in the "
            f"playground (where neuron $i$ of hidden layer $l$ is h$l$.$i$): $z{_sup('l')} = W{_sup('l')} "
            f"a{_sup('l-1')} + b{_sup('l')}$ and $a{_sup('l')} = f(z{_sup('l')})$, where $W{_sup('l')}_{{i,j}}$ "
            f"(the playground's W$l$[$i$,$j$]) runs from input $j$ to neuron $i$ and $a^{{(0)}}$ is the input $x$.",
            "")
    if blanks:
        doc.add("Fill in each numbered blank. The same number means the same quantity: carry your "
                "result forward. The answer key is at the end.", "")

    # ---- the sample and its inputs ----------------------------------------------------------------
    x = np.atleast_1d(trace.x)
    inputs = np.atleast_1d(trace.inputs)
    doc.add("## The sample", "")
    target = np.atleast_1d(trace.target)
    if row.index_targets:
        tgt = f"class $y = {int(target[0])}$"
    elif row.signed_targets:
        tgt = f"label $y = {given(target[0])}$ (read as ${'-1' if target[0] == 0 else given(target[0])}$ " \
              f"by the {row.long_label} loss)"
    else:
        tgt = "target " + ", ".join(f"$y_{{{_ix(i)}}} = {given(t)}$" for i, t in enumerate(target)) \
            if len(target) > 1 else f"target $y = {given(target[0])}$"
    if features is not None:
        doc.add(f"The point $(X_1, X_2) = ({tex_number(x[0])}, {tex_number(x[1])})$, {tgt}. "
                f"The network's inputs are its features:", "")
        for j, name in enumerate(features):
            doc.add(f"- $x_{{{_ix(j)}}} = {data.FEATURES[name].tex} = {tex_number(inputs[j])}$")
    else:
        doc.add(f"The input $x = ({', '.join(tex_number(v) for v in inputs)})$, {tgt}.")
    doc.add("")

    def a_prev(l: int, j: int, factor: bool = True) -> str:
        if l == 0:
            return given(inputs[j]) if factor else tex_number(inputs[j])
        return doc.num(("a", l - 1, j), f"a{_sup(l - 1)}_{{{_ix(j)}}}", layers[l - 1].a[j], factor)

    def a_name(l: int, j: int) -> str:
        return f"x_{{{_ix(j)}}}" if l == 0 else f"a{_sup(l - 1)}_{{{_ix(j)}}}"

    # ---- forward ----------------------------------------------------------------------------------
    doc.add("## Forward pass", "")
    for l, lt in enumerate(layers):
        out_n, in_n = lt.weight.shape
        f = activations.get(lt.activation)
        doc.add(f"### Layer {_ix(l)}: {in_n} → {out_n}, activation "
                f"{f.name if not f.identity else 'none (' + f.name + ')'}", "")
        for i in range(out_n):
            terms = " + ".join(f"{given(lt.weight[i, j])} \\cdot {a_prev(l, j)}" for j in range(in_n))
            z = doc.num(("z", l, i), f"z{_sup(l)}_{{{_ix(i)}}}", lt.z[i])
            doc.add(f"- $z{_sup(l)}_{{{_ix(i)}}} = \\sum_j W{_sup(l)}_{{{_ix(i)},j}} {a_name(l, 'j')} + b{_sup(l)}_{{{_ix(i)}}}"
                    f" = {terms} + {given(lt.bias[i])} = {z}$")
            if f.identity:
                doc.add(f"- $a{_sup(l)}_{{{_ix(i)}}} = z{_sup(l)}_{{{_ix(i)}}} = "
                        f"{doc.num(('a', l, i), f'a{_sup(l)}_{{{_ix(i)}}}', lt.a[i])}$")
            else:
                tex = f.tex or rf"\mathrm{{{f.name}}}".replace("_", r"\_")
                doc.add(f"- $a{_sup(l)}_{{{_ix(i)}}} = {tex}(z{_sup(l)}_{{{_ix(i)}}}) = "
                        f"{tex}({doc.num(('z', l, i), '', lt.z[i])}) = "
                        f"{doc.num(('a', l, i), f'a{_sup(l)}_{{{_ix(i)}}}', lt.a[i])}$")
        doc.add("")

    # ---- the loss ---------------------------------------------------------------------------------
    w = _Writer(doc, trace, f"a{_sup(L - 1)}")
    doc.add("## The loss", "")
    doc.add(*row.worked_loss(w))
    doc.add("")

    # ---- backward ---------------------------------------------------------------------------------
    doc.add("## Backward pass", "",
            "Each layer's δ = ∂L/∂z comes from the layer to its right (the chain rule), and each "
            "weight's gradient is the δ of the neuron it feeds times the activation it reads.", "")
    for l in range(L - 1, -1, -1):
        lt = layers[l]
        out_n, in_n = lt.weight.shape
        fp = trace.f_prime(l)[0]
        doc.add(f"### Layer {_ix(l)}", "")
        if l == L - 1:
            grad = f"\\frac{{\\partial L}}{{\\partial a{_sup(l)}}}"
            doc.add(f"Chain rule: $\\delta{_sup(l)} = f'(z{_sup(l)}) \\odot {grad}$, with "
                    f"$\\partial L / \\partial a{_sup(l)}$ from the loss.", "")
        else:
            doc.add(f"Chain rule: $\\delta{_sup(l)} = f'(z{_sup(l)}) \\odot (W{_sup(l + 1)})^{{\\top}} "
                    f"\\delta{_sup(l + 1)}$.", "")
        for i in range(out_n):
            ga_name = f"\\frac{{\\partial L}}{{\\partial a{_sup(l)}_{{{_ix(i)}}}}}"
            ga = doc.num(("grad_a", l, i), ga_name, lt.grad_a[i])
            if l == L - 1:
                formula = row.worked_grad(w, i)
                doc.add(f"- ${ga_name} = {formula + ' = ' if formula else ''}{ga}$")
            else:
                nxt = layers[l + 1]
                terms = " + ".join(
                    f"{given(nxt.weight[m, i])} \\cdot "
                    f"{doc.num(('delta', l + 1, m), '', nxt.delta[m], True)}"
                    for m in range(nxt.weight.shape[0]))
                doc.add(f"- ${ga_name} = \\sum_m W{_sup(l + 1)}_{{m,{_ix(i)}}} \\delta{_sup(l + 1)}_{{m}} = "
                        f"{terms} = {ga}$")
            f = activations.get(lt.activation)
            slope_name = f"f'(z{_sup(l)}_{{{_ix(i)}}})"
            slope = doc.num(("slope", l, i), slope_name, fp[i])
            if f.slope_tex:  # f'(z) written with the output a = f(z)
                rule = f.slope_tex.format(a=f"a{_sup(l)}_{{{_ix(i)}}}")
                form = f.slope_tex.format(a=doc.num(("a", l, i), "", lt.a[i]))
                doc.add(f"- ${slope_name} = {rule} = {form} = {slope}$")
            else:
                side = ">" if lt.z[i] > 0 else r"\leq"
                note = f.slope_note.format(z=f"z{_sup(l)}_{{{_ix(i)}}}", side=side) or f" ({f.fprime_text})"
                doc.add(f"- ${slope_name} = {slope}${note}")
            delta = doc.num(("delta", l, i), f"\\delta{_sup(l)}_{{{_ix(i)}}}", lt.delta[i])
            doc.add(f"- $\\delta{_sup(l)}_{{{_ix(i)}}} = {slope_name} \\cdot {ga_name} = "
                    f"{doc.num(('slope', l, i), '', fp[i], True)} \\cdot "
                    f"{doc.num(('grad_a', l, i), '', lt.grad_a[i], True)} = {delta}$")
        doc.add("", "Gradients of the weights and biases:", "")
        for i in range(out_n):
            d = doc.num(("delta", l, i), "", lt.delta[i], True)
            for j in range(in_n):
                gw = doc.num(("grad_W", l, i, j), f"\\frac{{\\partial L}}{{\\partial W{_sup(l)}_{{{_ix(i)},{_ix(j)}}}}}",
                             lt.grad_W[i, j])
                doc.add(f"- $\\frac{{\\partial L}}{{\\partial W{_sup(l)}_{{{_ix(i)},{_ix(j)}}}}} = \\delta{_sup(l)}_{{{_ix(i)}}}"
                        f" \\, {a_name(l, j)} = {d} \\cdot {a_prev(l, j)} = {gw}$")
            gb = doc.num(("grad_b", l, i), f"\\frac{{\\partial L}}{{\\partial b{_sup(l)}_{{{_ix(i)}}}}}", lt.grad_b[i])
            doc.add(f"- $\\frac{{\\partial L}}{{\\partial b{_sup(l)}_{{{_ix(i)}}}}} = \\delta{_sup(l)}_{{{_ix(i)}}} "
                    f"\\cdot 1 = {gb}$")
        doc.add("")

    # ---- the input gradient -----------------------------------------------------------------------
    first = layers[0]
    doc.add("## The input gradient", "",
            "The same rule one step further gives how the loss changes with each input:", "")
    fg = np.atleast_1d(trace.feature_grad)
    for j in range(first.weight.shape[1]):
        terms = " + ".join(f"{given(first.weight[i, j])} \\cdot "
                           f"{doc.num(('delta', 0, i), '', first.delta[i], True)}"
                           for i in range(first.weight.shape[0]))
        gx_name = f"\\frac{{\\partial L}}{{\\partial x_{{{_ix(j)}}}}}"
        gx = doc.num(("grad_x", j), gx_name, fg[j])
        doc.add(f"- ${gx_name} = \\sum_i W{_sup(0)}_{{i,{_ix(j)}}} \\delta{_sup(0)}_{{i}} = {terms} = {gx}$")
    doc.add("")

    if blanks:
        doc.add("## Answer key", "")
        for k_, name, value in sorted(doc.slots.values(), key=lambda s: s[0]):
            doc.add(f"- ({k_}) ${name} = {tex_number(value)}$")
        doc.add("")
    return "\n".join(doc.lines)


__all__ = ["markdown", "tex_number", "blank"]
