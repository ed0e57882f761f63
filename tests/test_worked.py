"""The worked example: the trace's own numbers, LaTeX that parses, blanks exactly where the key has numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.mathtext import MathTextParser

from backlit.lab import trace as explain, worked
from backlit.cli import train

CASES = [  # (features, hidden, kind, classes, activation, loss, point, target)
    (["x1", "x2", "sin_x1"], [3, 2], "binary", None, "tanh", "bce", [1.5, -2.0], 1),
    (["x1", "x2"], [4], "multiclass", 3, "relu", "cross_entropy", [-0.5, 2.5], 2),
    (["x1", "x2", "x1x2"], [2, 2], "regression", None, "sigmoid", "mse", [3.0, 1.0], -0.4),
    (["x1^2", "x2^2"], [3], "binary", None, "leaky_relu", "hinge", [0.7, -1.1], 0),
    (["x1", "x2"], [2], "binary", None, "linear", "mse", [2.0, 2.0], 1),
]
IDS = [c[5] + "-" + c[4] for c in CASES]


def make_trace(features, hidden, kind, classes, activation, loss, point, target):
    model = train.build_model(features, hidden, kind, classes, activation, seed=4)
    return explain.trace(model, np.array(point), target, loss=loss, features=features)


def math_spans(text: str) -> list[str]:
    spans = re.findall(r"\$([^$]+)\$", text)
    assert text.count("$") == 2 * len(spans)
    return spans


def tex_float(s: str) -> float:
    s = s.strip()
    m = re.fullmatch(r"(-?[\d.]+) \\times 10\^\{(-?\d+)\}", s)
    return float(m.group(1)) * 10.0 ** int(m.group(2)) if m else float(s)


def answer_key(text: str) -> dict[int, tuple[str, str]]:
    key_part = text.split("## Answer key", 1)[1]
    key = {}
    for k, name, value in re.findall(r"^- \((\d+)\) \$(.+) = ([^=$]+)\$$", key_part, flags=re.M):
        key[int(k)] = (name, value)
    return key


def trace_value(t, name: str) -> float:
    """The trace's number for an answer-key name such as z^{(2)}_{1} or \\frac{\\partial L}{\\partial W^{(1)}_{2,3}}
    (counted from 1, as the playground counts)."""
    lay = r"\^\{\((\d+)\)\}_\{(\d+)\}"
    rules = [
        (rf"z{lay}", lambda l, i: t.layers[l].z[i]),
        (rf"a{lay}", lambda l, i: t.layers[l].a[i]),
        (rf"\\delta{lay}", lambda l, i: t.layers[l].delta[i]),
        (rf"f'\(z{lay}\)", lambda l, i: t.f_prime(l)[0, i]),
        (rf"\\frac\{{\\partial L\}}\{{\\partial a{lay}\}}", lambda l, i: t.layers[l].grad_a[i]),
        (rf"\\frac\{{\\partial L\}}\{{\\partial b{lay}\}}", lambda l, i: t.layers[l].grad_b[i]),
        (r"\\frac\{\\partial L\}\{\\partial W\^\{\((\d+)\)\}_\{(\d+),(\d+)\}\}",
         lambda l, i, j: t.layers[l].grad_W[i, j]),
        (r"\\frac\{\\partial L\}\{\\partial x_\{(\d+)\}\}", lambda j: t.feature_grad[j]),
        (r"L", lambda: t.loss),
        (r"\\sigma\(a\)", lambda: t.prediction[0]),
        (r"p_\{(\d+)\}", lambda i: t.prediction[i]),
        (r"y a\^\{\((\d+)\)\}_\{1\}", lambda l: (1.0 if t.target[0] == 1 else -1.0) * t.layers[l].a[0]),
    ]
    for pattern, get in rules:
        m = re.fullmatch(pattern, name)
        if m:   # the playground's names count layers and neurons from 1
            return float(get(*(int(g) - 1 for g in m.groups())))
    raise AssertionError(f"answer key entry {name!r} is not a quantity the test knows")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_numbers_are_the_traces_and_blanks_sit_exactly_where_the_key_has_numbers(case):
    t = make_trace(*case)
    full = t.to_markdown()
    exercise = t.to_markdown(blanks=True)
    assert full == worked.markdown(t)
    key = answer_key(exercise)
    assert sorted(key) == list(range(1, len(key) + 1))
    # every computed number in the worked example is the trace's
    names = [name for name, _ in key.values()]
    for name, value in key.values():
        assert tex_float(value) == pytest.approx(trace_value(t, name), rel=1e-5, abs=1e-12), name
    # every z, a, delta, dL/dW and dL/db (biases included) is there
    n_weights = sum(lt.weight.size for lt in t.layers)
    n_neurons = sum(lt.bias.size for lt in t.layers)
    assert sum("partial W" in n for n in names) == n_weights
    assert sum("partial b" in n for n in names) == n_neurons
    for sym in ("z^", "a^", r"\delta^", "f'(z", r"\partial a^"):
        assert sum(n.startswith(sym) or n.startswith(r"\frac{\partial L}{" + sym) for n in names) == n_neurons
    # filling each blank with its answer gives back the worked example, character for character
    body = exercise.split("\n## Answer key", 1)[0]
    filled = re.sub(r"\\underline\{\\quad\\mathsf\{\((\d+)\)\}\\quad\}",
                    lambda m: key[int(m.group(1))][1], body)
    filled = filled.replace("# Exercise:", "# Worked example:", 1)
    filled = re.sub(r"\nFill in each numbered blank\.[^\n]*\n\n", "\n", filled)
    assert filled.rstrip("\n") == full.rstrip("\n")
    used = {int(k) for k in re.findall(r"\\mathsf\{\((\d+)\)\}", body)}
    assert used == set(key)
    # and the chain-rule line of each layer is written out
    for layer in range(len(t.layers)):
        assert f"\\delta^{{({layer + 1})}} = f'(z^{{({layer + 1})}}) \\odot" in full


# small networks, one per loss and activation: mathtext takes about 0.1 s a span
SMALL = [(["x1", "sin_x2"], [2], "binary", None, "tanh", "bce", [1.5, -2.0], 1),
         (["x1", "x2"], [2], "multiclass", 3, "relu", "cross_entropy", [-0.5, 2.5], 2),
         (["x1x2"], [2], "regression", None, "sigmoid", "mse", [3.0, 1.0], -0.4),
         (["x1^2"], [1], "binary", None, "leaky_relu", "hinge", [0.7, -1.1], 0)]


def test_every_math_span_renders_with_mathtext():
    parser = MathTextParser("path")
    spans = set()
    for k, case in enumerate(SMALL):
        t = make_trace(*case)
        spans.update(math_spans(t.to_markdown()))
        if k == 0:  # the blank version differs only by its blanks and the key
            spans.update(math_spans(t.to_markdown(blanks=True)))
    assert len(spans) > 100
    for span in sorted(spans):
        try:
            parser.parse(f"${span}$")
        except ValueError as e:
            raise AssertionError(f"mathtext cannot parse ${span}$: {e}") from None


def test_tex_numbers_and_batches():
    assert worked.tex_number(-0.000012345678) == r"-1.23457 \times 10^{-5}"
    assert worked.tex_number(2.0) == "2"
    model = train.build_model(["x1", "x2"], [2], "binary", None, "tanh", seed=0)
    batch = explain.trace(model, np.zeros((3, 2)), [0, 1, 1], loss="bce", features=["x1", "x2"])
    with pytest.raises(ValueError, match="one sample"):
        batch.to_markdown()
