"""The step recorder: one forward and one backward pass of an MLP, with every number the page animates.

``trace(model, x, y, loss=...)`` runs the model once forward and once backward with the engine's own
``backward()`` and keeps what it saw: each layer's pre-activations z and activations a, the gradients
dL/da and delta = dL/dz (read from the intermediate tensors with ``retain_grad``), every dL/dW and
dL/db (read from the parameters), and dL/dx for the input. Nothing here re-derives a gradient by a second,
hand-written path; the chain-rule explanation in ``Trace.blame`` only *reads* the recorded numbers and
shows how they fit together.

``grid(model, ...)`` evaluates the network over the plane for the decision boundary and the mini
heatmaps, in one batched forward pass.

Notation, shared with the page: layer l is the l-th linear layer (0-based), z_l = a_{l-1} @ W_l.T + b_l,
a_l = f_l(z_l), with a_{-1} = the model's inputs (the features). W_l[i, j] connects neuron j of the
previous column to neuron i of layer l.
"""

from __future__ import annotations

import copy
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import data as _data
from ..nn import functional as F
from ..engine import Tensor, as_tensor, is_grad_enabled, no_grad
from ..engine.keep import kept_grads
from ..nn import activations, loss_function, losses

VERSION = 1


class Unresolvable(ValueError):
    """A finite-difference check that cannot be resolved at these weights; the message says why."""

FD_MEASURE_LIMIT = 400
"""Up to this many parameters, ``Trace.cost`` times the 2P finite-difference passes for real; above it,
it estimates them as 2P times one measured forward pass (timing 2P passes of a big network would
keep the page waiting)."""

def _params(model) -> list[Tensor]:
    return [p for lin in model.linears for p in (lin.weight, lin.bias)]


def _check_width(model, features) -> None:
    if features is not None and len(features) != model.sizes[0]:
        raise ValueError(f"the model takes {model.sizes[0]} input(s) but {len(features)} feature(s) "
                         f"were given: {', '.join(features)}")


def _grad(t: Tensor) -> np.ndarray:
    return np.zeros_like(t.data) if t.grad is None else np.asarray(t.grad)


# --------------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------------

@dataclass
class LayerTrace:
    """Linear layer l as the trace saw it. Per-sample arrays are (out,) for one sample, (n, out) for a batch.

    - ``weight`` (out, in), ``bias`` (out,): the parameters at trace time (copies).
    - ``z`` = a_prev @ W.T + b, the pre-activations; ``a`` = f(z), the activations.
    - ``grad_a`` = dL/da; ``delta`` = dL/dz = f'(z) * dL/da.
    - ``grad_W`` = dL/dW (out, in) = delta.T @ a_prev; ``grad_b`` = dL/db (out,) = delta summed over samples.
    """

    activation: str
    weight: np.ndarray
    bias: np.ndarray
    z: np.ndarray
    a: np.ndarray
    grad_a: np.ndarray
    delta: np.ndarray
    grad_W: np.ndarray
    grad_b: np.ndarray


@dataclass
class Blame:
    """Why dL/dW_l[i, j] has the value it has: the chain rule with the recorded numbers plugged in.

    For one sample the per-sample fields are floats; for a batch they are arrays over the samples and
    ``product`` is their sum (the loss is the batch mean, so each delta already carries the 1/n).
    ``downstream`` lists (k, W_{l+1}[k, i], delta_{l+1}[k], product) and ``sum`` is their total, which is
    dL/da_l[i]; both are empty/None for the output layer, whose delta comes straight from the loss, as
    ``loss_explanation`` says. ``z`` and ``activation`` are neuron i's pre-activation and f.
    """

    layer: int
    i: int
    j: int | str
    delta: float | np.ndarray
    a_in: float | np.ndarray
    product: float
    grad_W: float
    f_prime: float | np.ndarray
    grad_a: float | np.ndarray
    downstream: list
    sum: float | np.ndarray | None
    is_output: bool
    formula: str
    activation: str = "linear"
    z: float | np.ndarray = 0.0
    loss_explanation: str | None = None

    def to_dict(self) -> dict:
        d = {k: _jsonable(getattr(self, k)) for k in
             ("layer", "i", "j", "delta", "a_in", "product", "grad_W", "f_prime", "grad_a", "sum",
              "is_output", "formula", "activation", "z", "loss_explanation")}
        d["downstream"] = [[k, _jsonable(w), _jsonable(dk), _jsonable(p)] for k, w, dk, p in self.downstream]
        return d


@dataclass(repr=False, eq=False)
class Trace:
    """One recorded forward + backward pass. Build it with :func:`trace`.

    Fields (per-sample arrays lose the batch axis when a single point was traced):
    ``layers`` (list of :class:`LayerTrace`), ``x`` (the point(s) as given), ``inputs`` (the model's
    input activations, i.e. the features), ``input_grad`` (dL/dx w.r.t. ``x``: the saliency, and the
    arrow on the plane), ``feature_grad`` (dL/d inputs), ``loss`` (float, the batch mean), ``output``
    (raw network output), ``prediction`` (P(class 1) for bce, class probabilities for cross_entropy,
    the raw output for mse and hinge), ``target``, ``timings`` (seconds: forward, backward).
    """

    model: object
    loss_name: str
    features: list | None
    batched: bool
    x: np.ndarray
    inputs: np.ndarray
    input_grad: np.ndarray
    feature_grad: np.ndarray
    loss: float
    output: np.ndarray
    prediction: np.ndarray
    target: np.ndarray
    layers: list
    timings: dict
    train_X: np.ndarray | None = None
    train_y: np.ndarray | None = None
    # computed on demand and kept: cost(), the last preview(), f'(z) per layer
    _cost: dict | None = field(default=None, init=False)
    _preview: dict | None = field(default=None, init=False)
    _slopes: dict = field(default_factory=dict, init=False)

    def __repr__(self) -> str:
        return (f"Trace(sizes={self.model.sizes}, loss_name={self.loss_name!r}, n={self.n}, "
                f"loss={self.loss:.6g})")

    # ---- shapes ---------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of samples traced."""
        return len(self.x) if self.batched else 1

    def _rows(self, a: np.ndarray) -> np.ndarray:
        """Per-sample array as (n, ...) whether or not a single point was traced."""
        return a if self.batched else a[None]

    def _one(self, a: np.ndarray):
        """(n,) per-sample values -> a float for one sample, the array for a batch."""
        return a if self.batched else float(a[0])

    def a_in(self, layer: int) -> np.ndarray:
        """The activations feeding layer ``layer``: the inputs for layer 0, else a of layer - 1."""
        return self.inputs if layer == 0 else self.layers[layer - 1].a

    def _target_rows(self) -> np.ndarray:
        t = np.asarray(self.target)
        if losses.loss_class(self.loss_name).index_targets:
            return t.reshape(self.n)
        return t.reshape(self.n, -1)

    def _model_inputs(self) -> np.ndarray:
        return self._rows(self.inputs)

    # ---- blame ----------------------------------------------------------------------------------
    def f_prime(self, layer: int) -> np.ndarray:
        """f'(z) of layer ``layer``, (n, out), from the engine's own derivative of the activation.

        Evaluated as the gradient of sum(f(z)) w.r.t. a fresh copy of z: the same vector-Jacobian
        product backward used, so delta = f'(z) * grad_a holds up to rounding.
        """
        if layer not in self._slopes:
            lt = self.layers[layer]
            z = Tensor(self._rows(lt.z), requires_grad=True, dtype=lt.z.dtype)
            a = F.activation(z, lt.activation)
            if a is z:          # identity: f'(z) = 1
                self._slopes[layer] = np.ones_like(z.data)
            else:
                a.sum().backward()
                self._slopes[layer] = _grad(z)
        return self._slopes[layer]

    def _check_index(self, layer: int, i: int, j) -> None:
        L = len(self.layers)
        if not (isinstance(layer, (int, np.integer)) and 0 <= layer < L):
            raise IndexError(f"layer must be in 0..{L - 1}, got {layer!r}")
        out, inp = self.layers[layer].weight.shape
        if not (isinstance(i, (int, np.integer)) and 0 <= i < out):
            raise IndexError(f"layer {layer} has neurons 0..{out - 1}, got i={i!r}")
        if j != "bias" and not (isinstance(j, (int, np.integer)) and 0 <= j < inp):
            raise IndexError(f"layer {layer} has inputs 0..{inp - 1} (or 'bias'), got j={j!r}")

    def blame(self, layer: int, i: int, j) -> Blame:
        """Explain dL/dW_layer[i, j] (``j="bias"``: dL/db_layer[i]) with the chain rule.

        dL/dW_l[i, j] = delta_l[i] * a_{l-1}[j]  (the delta of the neuron the weight feeds, times the
        activation it reads), and for a hidden layer
        delta_l[i] = f'(z_l[i]) * sum_k W_{l+1}[k, i] * delta_{l+1}[k]
        (the next layer's deltas, sent back through the weights that read neuron i). For the output
        layer, delta comes from the loss.
        """
        self._check_index(layer, i, j)
        lt = self.layers[layer]
        L = len(self.layers)
        bias = j == "bias"
        delta = self._rows(lt.delta)[:, i]
        a_in = np.ones_like(delta) if bias else self._rows(self.a_in(layer))[:, j]
        products = delta * a_in
        product = float(products.sum())
        grad = float(lt.grad_b[i] if bias else lt.grad_W[i, j])
        fp = self.f_prime(layer)[:, i]
        grad_a = self._rows(lt.grad_a)[:, i]
        terms, total = [], None
        if layer < L - 1:
            nxt = self.layers[layer + 1]
            d_next = self._rows(nxt.delta)
            for k in range(nxt.weight.shape[0]):
                w = float(nxt.weight[k, i])
                terms.append((k, w, self._one(d_next[:, k]), self._one(w * d_next[:, k])))
            total = self._one(d_next @ nxt.weight[:, i])
        formula, why = self._formula(layer, i, j, delta, a_in, product, fp, grad_a, terms, total)
        return Blame(layer, int(i), j if bias else int(j), self._one(delta), self._one(a_in), product,
                     grad, self._one(fp), self._one(grad_a), terms, total, layer == L - 1, formula,
                     lt.activation, self._one(self._rows(lt.z)[:, i]), why)

    def _formula(self, layer, i, j, delta, a_in, product, fp, grad_a, terms, total):
        """(the formula, lines joined by newlines; for the output layer the loss line alone, else None)."""
        L = len(self.layers)
        # the playground's names: layers and neurons count from 1 (W2[3,1] feeds neuron 3 of layer 2)
        n, m = layer + 1, i + 1
        d = f"δ{n}[{m}]"
        if j == "bias":
            head = f"∂L/∂b{n}[{m}] = {d} · 1"
        else:
            if layer > 0:
                src = f"a{layer}[{j + 1}]"
            elif self.features is not None:
                src = _data.FEATURES[self.features[j]].label
            else:
                src = f"x[{j + 1}]"
            head = f"∂L/∂W{n}[{m},{j + 1}] = {d} · {src}"
        if self.batched:
            lines = [f"{head.replace(' = ', ' = Σₙ ', 1)} over {self.n} samples = {_fmt(product)}"]
        else:
            lines = [f"{head} = {_par(delta[0])} · {_par(a_in[0])} = {_fmt(product)}"]
        if layer < L - 1:
            rule = f"{d} = f′(z{n}[{m}]) · Σₖ W{n + 1}[k,{m}] · δ{n + 1}[k]"
            if self.batched:
                lines.append(rule + "  (for each sample)")
            else:
                parts = " + ".join(f"{_par(w)}·{_par(dk)}" for _, w, dk, _ in terms)
                lines.append(f"{rule} = {_fmt(fp[0])} · ({parts}) = {_fmt(fp[0])} · {_par(total)}"
                             f" = {_fmt(delta[0])}")
            why = None
        else:
            why = self._loss_line(i, d, fp, grad_a, delta)
            lines.append(why)
        return "\n".join(lines), why

    def _loss_line(self, i, d, fp, grad_a, delta) -> str:
        """How the output delta comes from the loss, in words and (for one sample) numbers."""
        row = losses.loss_class(self.loss_name)
        name = row.long_label
        act = self.layers[-1].activation
        if self.batched:
            return f"{d} comes from the {name} loss (the batch mean: each sample's share carries 1/{self.n})"
        z = float(self._rows(self.layers[-1].z)[0, i])
        t = self._target_rows()[0]
        k = self.layers[-1].z.shape[-1]
        if not activations.get(act).identity:
            return (f"{d} = f′(z) · ∂L/∂a = {_fmt(fp[0])} · {_par(grad_a[0])} = {_fmt(delta[0])}, "
                    f"with ∂L/∂a from the {name} loss")
        per = f" / {k}" if k > 1 and row.averages_outputs else ""
        p = float(np.reshape(self._rows(np.asarray(self.prediction))[0], -1)[i])
        why = row.why(i, z, p, t if row.index_targets else t[i], per, _fmt(delta[0]), _fmt)
        return f"{d} = ∂L/∂z{len(self.layers)}[{i + 1}] comes from the {name} loss: {why}"  # counted from 1

    def neuron(self, layer: int, i: int) -> dict:
        """z, a, grad_a and delta of neuron i of ``layer``; layer -1 is the inputs (only a and grad_a)."""
        if layer == -1:
            if not 0 <= i < self._model_inputs().shape[1]:
                raise IndexError(f"there are {self._model_inputs().shape[1]} inputs, got i={i!r}")
            return {"layer": -1, "i": int(i), "z": None, "delta": None,
                    "a": _jsonable(self._one(self._model_inputs()[:, i])),
                    "grad_a": _jsonable(self._one(self._rows(self.feature_grad)[:, i]))}
        self._check_index(layer, i, 0)
        lt = self.layers[layer]
        d = {"layer": int(layer), "i": int(i), "activation": lt.activation}
        for key in ("z", "a", "grad_a", "delta"):
            d[key] = _jsonable(self._one(self._rows(getattr(lt, key))[:, i]))
        d["f_prime"] = _jsonable(self._one(self.f_prime(layer)[:, i]))
        return d

    # ---- what-ifs on the model, which always leave it as they found it ----------------------------
    @contextmanager
    def _weights(self, lr: float = 0.0):
        """Temporarily load the trace-time weights minus ``lr`` * their gradients into the model.

        The live values are copied back afterwards, so the model ends bit-for-bit as it was, even if it
        changed since the trace.
        """
        params = _params(self.model)
        if [p.shape for p in params] != [a.shape for lt in self.layers for a in (lt.weight, lt.bias)]:
            raise ValueError("the model changed shape since this trace was recorded; trace it again")
        live = [p.data.copy() for p in params]
        try:
            for p, lt_arr in zip(params, self._recorded(lr)):
                np.copyto(p.data, lt_arr)
            yield params
        finally:
            for p, v in zip(params, live):
                np.copyto(p.data, v)

    def _recorded(self, lr: float):
        for lt in self.layers:
            yield lt.weight - lr * lt.grad_W if lr else lt.weight
            yield lt.bias - lr * lt.grad_b if lr else lt.bias

    def _eval(self, inputs: np.ndarray, target: np.ndarray) -> float:
        with no_grad():
            out = self.model(Tensor(inputs, dtype=self.layers[0].weight.dtype))
            return float(loss_function(self.loss_name)(out, target).item())

    def check(self, layer: int, i: int, j, eps: float = 1e-6) -> dict:
        """Finite-difference check of dL/dW_layer[i, j] (``j="bias"`` for the bias).

        slope = (L(w + h) - L(w - h)) / (2 h) with a step relative to the weight, h = eps * max(1, |w|)
        (a fixed 1e-6 rounds back to w once |w| passes about 1e10), on the trace's sample(s) and
        weights; the weight is written back exactly. A weight at which the difference cannot be
        resolved (the step rounds away, or the losses are not finite) raises :class:`Unresolvable`,
        saying so.
        """
        self._check_index(layer, i, j)
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        lt = self.layers[layer]
        bias = j == "bias"
        backprop = float(lt.grad_b[i] if bias else lt.grad_W[i, j])
        inputs, target = self._model_inputs(), self._target_rows()
        with self._weights() as params:   # puts every live weight back afterwards, bit for bit
            w = params[2 * layer + (1 if bias else 0)].data
            idx = (i,) if bias else (i, j)
            w0 = w[idx].copy()
            step = eps * max(1.0, abs(float(w0)))
            w[idx] = w0 + step
            plus = self._eval(inputs, target)
            h = w[idx] - (w0 - step)      # the step actually taken, after rounding
            w[idx] = w0 - step
            minus = self._eval(inputs, target)
        name = f"b_{layer}[{i}]" if bias else f"W_{layer}[{i}, {j}]"
        if not (np.isfinite(h) and h > 0 and np.isfinite(plus) and np.isfinite(minus)):
            raise Unresolvable(f"cannot check {name} = {float(w0):.4g} by finite differences: at this "
                                "weight the loss is not finite or the step cannot be resolved; reset or "
                                "lower the learning rate")
        slope = (plus - minus) / float(h)
        scale = max(abs(slope), abs(backprop))
        rel = 0.0 if scale == 0 else abs(slope - backprop) / scale
        return {"layer": int(layer), "i": int(i), "j": j if bias else int(j), "eps": float(step),
                "loss_plus": plus, "loss_minus": minus, "slope": slope, "backprop": backprop,
                "abs_error": abs(slope - backprop), "rel_error": rel}

    def preview(self, lr: float) -> dict:
        """Loss on this sample and on the training set before and after one plain SGD step on it alone.

        The step is W <- W - lr * dL/dW with this trace's gradients; the model is left unchanged.
        Training losses are None when the trace was given no ``train_X``/``train_y``.
        """
        lr = float(lr)
        inputs, target = self._model_inputs(), self._target_rows()
        train = self._train_set()
        out = {"lr": lr}
        for when, step in (("before", 0.0), ("after", lr)):
            with self._weights(step):
                out[f"sample_loss_{when}"] = self._eval(inputs, target)
                out[f"train_loss_{when}"] = None if train is None else self._eval(*train)
        self._preview = out
        return out

    def _train_set(self):
        if self.train_X is None or self.train_y is None:
            return None
        X = np.asarray(self.train_X, dtype=np.float64)
        inputs = _data.featurize(X, self.features) if self.features is not None else X
        k = self.layers[-1].weight.shape[0]
        return inputs, losses.targets(self.train_y, self.loss_name, len(X), k)

    # ---- cost ----------------------------------------------------------------------------------
    def parameter_count(self) -> int:
        """P: the number of weights and biases."""
        return sum(lt.weight.size + lt.bias.size for lt in self.layers)

    def cost(self, measure: bool | None = None) -> dict:
        """Backprop's price against finite differences, in milliseconds, measured on this model.

        - ``forward_backward_ms``: one forward plus one backward pass (graph, loss, backward);
        - ``fd_ms``: the 2P forward passes finite differences need (P parameters, each nudged both ways).
          With ``measure`` (the default when P <= FD_MEASURE_LIMIT) they are run for real, nudging each
          weight of this network on this sample; otherwise they are estimated as 2P times one measured
          forward pass. ``fd_measured`` says which;
        - ``ratio`` = fd_ms / forward_backward_ms; ``trace_ms``: what this trace's own pass took.

        Each time is the best of a few runs. The times depend on the network's shape, not on its weights'
        values, so they are measured once per shape (sizes, activations, features, loss, batch size, dtype)
        and reused by later traces.
        """
        P = self.parameter_count()
        measure = P <= FD_MEASURE_LIMIT if measure is None else bool(measure)
        if self._cost is not None and self._cost["fd_measured"] == measure:
            return self._cost
        key = (tuple(self.model.sizes), tuple(self.model.activations),
               None if self.features is None else tuple(self.features),
               self.loss_name, self.n, self.layers[0].weight.dtype, measure)  # np.dtype: hashable; str() costs 3 us
        times = _COST_TIMES.get(key)
        if times is None:
            times = self._measure_costs(measure)
            if len(_COST_TIMES) > 256:
                _COST_TIMES.clear()
            _COST_TIMES[key] = times
        fwd, fb, fd = times
        self._cost = {"params": P, "fd_passes": 2 * P, "forward_ms": 1e3 * fwd,
                      "forward_backward_ms": 1e3 * fb, "fd_ms": 1e3 * fd,
                      "ratio": fd / fb if fb > 0 else None, "fd_measured": measure,
                      "trace_ms": 1e3 * (self.timings["forward"] + self.timings["backward"])}
        return self._cost

    def _measure_costs(self, measure: bool, runs: int = 5):
        """(one forward, one forward + backward, 2P finite-difference forwards), in seconds."""
        inputs, target = self._model_inputs(), self._target_rows()
        dtype = self.layers[0].weight.dtype
        params = _params(self.model)
        loss_fn = loss_function(self.loss_name)
        clock = time.perf_counter

        def forward_backward():
            out = self.model(Tensor(inputs, requires_grad=True, dtype=dtype))
            loss_fn(out, target).backward()

        with self._weights():
            with kept_grads(params):
                fb = []
                for _ in range(runs):
                    for p in params:
                        p.grad = None
                    t0 = clock()
                    forward_backward()
                    fb.append(clock() - t0)
            fwd = []
            for _ in range(runs):
                t0 = clock()
                self._eval(inputs, target)
                fwd.append(clock() - t0)
            if measure:
                fd = [self._time_finite_differences(params, inputs, target)]
                while sum(fd) < 0.02 and len(fd) < 3:   # short sweeps: best of up to 3
                    fd.append(self._time_finite_differences(params, inputs, target))
                fd = min(fd)
            else:
                fd = 2 * self.parameter_count() * min(fwd)
        return min(fwd), min(fb), fd

    def _time_finite_differences(self, params, inputs, target, eps: float = 1e-6) -> float:
        """Seconds for the 2P nudged forward passes a finite-difference gradient needs (results discarded)."""
        t0 = time.perf_counter()
        for p in params:
            flat = p.data.reshape(-1)   # a view: the parameters are contiguous
            for k in range(flat.size):
                w0 = flat[k]
                flat[k] = w0 + eps
                self._eval(inputs, target)
                flat[k] = w0 - eps
                self._eval(inputs, target)
                flat[k] = w0
        return time.perf_counter() - t0

    # ---- the page's copy ----------------------------------------------------------------------------
    def to_dict(self, lr: float | None = None, cost: bool = True) -> dict:
        """JSON-ready (lists, floats, ints, None; never NaN or inf) and versioned: what the page animates.

        ``lr`` adds ``preview(lr)``; without it the last preview computed (or None) is included.
        """
        top = ("x", "inputs", "input_grad", "feature_grad", "output", "prediction")
        per_layer = ("weight", "bias", "z", "a", "grad_a", "delta", "grad_W", "grad_b")
        lists = iter(_lists([getattr(self, k) for k in top]
                            + [getattr(lt, k) for lt in self.layers for k in per_layer]))
        d = {"version": VERSION, "sizes": list(self.model.sizes),
             "activations": list(self.model.activations), "features": self.features,
             "loss_name": self.loss_name, "batch": self.n if self.batched else None,
             "loss_reads": losses.loss_class(self.loss_name).reads}
        d.update(zip(top, lists))
        d["loss"] = _jsonable(self.loss)
        d["target"] = _jsonable(self.target)
        layers = [dict(zip(per_layer, lists)) for _ in self.layers]
        d["weights"] = [lt.pop("weight") for lt in layers]
        d["biases"] = [lt.pop("bias") for lt in layers]
        d["layers"] = layers
        d["cost"] = self.cost() if cost else None
        d["preview"] = self.preview(lr) if lr is not None else self._preview
        return d

    def to_markdown(self, blanks: bool = False) -> str:
        """This one-sample trace written out as Markdown with LaTeX: every z, a, delta, dL/dW and
        dL/db with the chain rule; ``blanks=True`` gives the exercise with an answer key (see
        :mod:`backlit.lab.worked`)."""
        from . import worked

        return worked.markdown(self, blanks=blanks)


_COST_TIMES: dict = {}


def training_pass(model, x: Tensor, target, loss: str):
    """One forward and backward pass of ``model`` over a batch, keeping only what the playground's frame
    draws, as one flat tuple: ``(loss, output, *zs, *activations, *deltas, *grads_W, *grads_b)``, one
    array per layer in each group (δ = dL/dz of the batch's mean loss). ``x`` is the model's input (already featurized),
    ``target`` as the loss takes it. The same numbers as :func:`trace` (which records much more), in a
    form ``backlit.compile`` can record and replay. The parameters' ``.grad`` are left as they were.
    """
    with kept_grads(_params(model)):
        zas = model.forward_layers(x)
        L = loss_function(loss)(zas[-1][1], target)
        for z, _ in zas:
            z.retain_grad()
        L.backward()
        result = (L.data, zas[-1][1].data, *[z.data for z, _ in zas], *[a.data for _, a in zas],
                  *[z.grad for z, _ in zas], *[lin.weight.grad for lin in model.linears],
                  *[lin.bias.grad for lin in model.linears])
    return result


def trace(model, x, y, loss: str = "bce", features=None, train_X=None, train_y=None) -> Trace:
    """Record one forward and one backward pass of ``model`` (an ``nn.MLP``) on ``x`` with target ``y``.

    - ``x``: one point (d,) or a batch (n, d). With ``features`` (names from ``data.FEATURES``) it is raw
      2-D points, featurized with engine ops so that ``input_grad`` is dL/d(point); without, it is the
      model's input directly.
    - ``y``: as ``backlit.functional`` expects: 0/1 for bce, class indices for cross_entropy, {-1, +1}
      or {0, 1} for hinge, values for mse; one per sample (per output for mse).
    - ``loss``: "bce", "mse", "cross_entropy" or "hinge"; the batch mean, exactly as training computes it.
    - ``train_X``/``train_y`` (raw points and targets) are kept for ``Trace.preview``.

    The model's parameters and their ``.grad`` are left as they were.
    """
    loss_fn = loss_function(loss)
    _check_width(model, features)
    if not is_grad_enabled():
        raise RuntimeError("explain.trace runs a backward pass: call it outside no_grad()")
    dtype = model.linears[0].weight.dtype
    X = np.array(x.data if isinstance(x, Tensor) else x, dtype=dtype)
    if X.ndim not in (1, 2):
        raise ValueError(f"x must be one point (d,) or a batch (n, d), got shape {X.shape}")
    batched = X.ndim == 2
    X2 = X if batched else X[None]
    n, k = len(X2), model.sizes[-1]
    target = losses.targets(y, loss, n, k)

    with kept_grads(_params(model)):
        t0 = time.perf_counter()
        x_t = Tensor(X2, requires_grad=True, dtype=dtype)
        # x1, x2 alone is the identity map: skip the three no-op graph nodes (same numbers, same grads)
        plain = features is None or list(features) == ["x1", "x2"]
        inputs = x_t if plain else _data.featurize(x_t, features)
        zas = model.forward_layers(inputs)
        L = loss_fn(zas[-1][1], target)
        t1 = time.perf_counter()
        for t in [inputs, *(t for za in zas for t in za)]:
            if t is not x_t:    # a leaf keeps its .grad anyway; an intermediate only when asked
                t.retain_grad()
        t2 = time.perf_counter()
        L.backward()
        t3 = time.perf_counter()
        # ours alone once the saved .grad values are put back below, so no copies
        grads_W = [_grad(lin.weight) for lin in model.linears]
        grads_b = [_grad(lin.bias) for lin in model.linears]

    one = (lambda a: a) if batched else (lambda a: a[0])
    layers = [LayerTrace(act, lin.weight.data.copy(), lin.bias.data.copy(), one(z.data), one(a.data),
                         one(_grad(a)), one(_grad(z)), gW, gb)
              for (z, a), lin, act, gW, gb in zip(zas, model.linears, model.activations, grads_W, grads_b)]
    out = zas[-1][1].data
    pred = losses.loss_class(loss).prediction(out)
    return Trace(model=model, loss_name=loss, features=None if features is None else list(features),
                 batched=batched, x=X, inputs=one(inputs.data), input_grad=one(_grad(x_t)),
                 feature_grad=one(_grad(inputs)), loss=float(L.item()), output=one(out),
                 prediction=one(pred), target=target if batched else target[0], layers=layers,
                 timings={"forward": t1 - t0, "backward": t3 - t2}, train_X=train_X, train_y=train_y)


# --------------------------------------------------------------------------------------------------
# Grids over the plane
# --------------------------------------------------------------------------------------------------

@dataclass
class Grid:
    """The network over the plane. Rows run from y = +extent (top) to y = -extent (bottom), columns from
    x = -extent to +extent, so row r, column c is the point (xs[c], ys[r]) and an image needs no flip.

    - ``output`` (res, res, K): the raw output (logits for classification) on the fine grid;
    - ``inputs`` (n_features, nr, nr): each input neuron (feature) on the coarse grid;
    - ``neurons``: per hidden layer, (n_l, nr, nr) activations on the coarse grid;
    - ``output_neurons`` (K, nr, nr): the output neuron(s) on the coarse grid.
    """

    output: np.ndarray
    inputs: np.ndarray
    neurons: list
    output_neurons: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    extent: tuple

    def neuron_maps(self) -> np.ndarray:
        """Every neuron's coarse map stacked: inputs first, then each hidden layer, then the output(s)."""
        return np.concatenate([self.inputs, *self.neurons, self.output_neurons], axis=0)


def _axes(lo: float, hi: float, res: int):
    """Column x values (left to right) and row y values (top to bottom), endpoints included."""
    xs = np.linspace(lo, hi, res)
    return xs, xs[::-1].copy()


@lru_cache(maxsize=16)
def _grid_inputs_as(lo: float, hi: float, res: int, nr: int, features, dtype: str):
    """:func:`_grid_inputs` in another dtype; read-only, cached."""
    inputs = _grid_inputs(lo, hi, res, nr, features).astype(dtype)
    inputs.setflags(write=False)
    return inputs


_shadows: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _shadow(model, dtype):
    """A copy of ``model`` holding its weights in ``dtype``, kept per model and refreshed on each call
    (in place: the weights are copied, nothing is allocated)."""
    held = _shadows.get(model)
    if held is None or held[0] != dtype:
        twin = copy.deepcopy(model)
        for p in twin.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        held = (np.dtype(dtype), twin, list(zip(model.parameters(), twin.parameters())))
        _shadows[model] = held
    for src, dst in held[2]:
        np.copyto(dst.data, src.data, casting="same_kind")
    return held[1]


@lru_cache(maxsize=16)
def _grid_inputs(lo: float, hi: float, res: int, nr: int, features):
    """The fine grid's points followed by the coarse grid's, featurized; read-only, cached."""
    pts = []
    for r in (res, nr):
        xs, ys = _axes(lo, hi, r)
        gx, gy = np.meshgrid(xs, ys)
        pts.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
    P = np.concatenate(pts)
    inputs = _data.featurize(P, list(features)) if features is not None else P
    inputs = np.ascontiguousarray(inputs)
    inputs.setflags(write=False)
    return inputs


def grid(model, extent=(-6.0, 6.0), resolution: int = 100, neuron_resolution: int = 25,
         features=None, dtype=None) -> Grid:
    """Evaluate ``model`` over the plane: the fine output grid and every neuron's coarse map, in one
    batched evaluation under ``no_grad`` (the coarse points ride along after the fine ones).

    ``features`` as in :func:`trace`; without it the model must take the raw 2-D point. ``dtype``
    (default: the model's) evaluates a copy of the model in that dtype: float32 is 2-5x cheaper than
    float64 and plenty for maps drawn at 8 bits.
    """
    if dtype is not None and np.dtype(dtype) != model.linears[0].weight.dtype:
        model = _shadow(model, np.dtype(dtype))
    lo, hi = (float(-extent), float(extent)) if np.isscalar(extent) else map(float, extent)
    _check_width(model, features)
    res, nr = int(resolution), int(neuron_resolution)
    if res < 2 or nr < 2:
        raise ValueError(f"grid resolutions must be at least 2, got {res} and {nr}")
    dtype = model.linears[0].weight.dtype
    inputs = _grid_inputs_as(lo, hi, res, nr, None if features is None else tuple(features), dtype.str)
    total, m, cn = len(inputs), res * res, nr * nr
    out = np.empty((total, model.sizes[-1]), dtype=dtype)
    hidden = [np.empty((cn, n), dtype=dtype) for n in model.sizes[1:-1]]
    rows = _chunk_rows(model.sizes)
    with no_grad():
        for s in range(0, total, rows):
            e = min(s + rows, total)
            zas = model.forward_layers(as_tensor(inputs[s:e], dtype))  # read-only points: no copy
            out[s:e] = zas[-1][1].data
            if e > m:                     # this chunk holds coarse points: keep every neuron there
                c = max(s, m)
                for h, (_, a) in zip(hidden, zas[:-1]):
                    h[c - m:e - m] = a.data[c - s:]

    def coarse(a):  # (nr*nr, n) -> (n, nr, nr)
        return a.T.reshape(-1, nr, nr)

    xs, ys = _axes(lo, hi, res)
    return Grid(output=out[:m].reshape(res, res, -1), inputs=coarse(np.asarray(inputs[m:])),
                neurons=[coarse(h) for h in hidden], output_neurons=coarse(out[m:]),
                xs=xs, ys=ys, extent=(lo, hi))


def forward_chunked(model, inputs: np.ndarray) -> np.ndarray:
    """``model(inputs).data`` under ``no_grad``, in row chunks of :func:`_chunk_rows` (why: there)."""
    rows = _chunk_rows(model.sizes)
    dtype = model.linears[0].weight.dtype
    with no_grad():
        if len(inputs) <= rows:
            return model(Tensor(inputs, dtype=dtype)).data
        return np.concatenate([model(Tensor(inputs[s:s + rows], dtype=dtype)).data
                               for s in range(0, len(inputs), rows)])


def _chunk_rows(sizes) -> int:
    """Rows per batch so that every layer's matmul stays single-threaded and its arrays small.

    NOTE: OpenBLAS splits a matmul over threads once rows * in * out exceeds 65536 * 4. For layers
    this narrow the second thread costs more than it saves, and on a busy machine waiting for it stalls
    for milliseconds (measured: 2-8-8-1 at 100x100, median 8 ms in one batch, under 1 ms in chunks).
    Keeping each layer's array near 64 KiB also keeps it in L2 cache and in malloc's reused memory
    rather than fresh pages from the OS.
    """
    blas = 262144 // max(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    small = 8192 // max(sizes)
    return int(min(4096, max(256, min(blas, small))))


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------

def _jsonable(v):
    """numpy/float -> plain JSON values; NaN and inf become None."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if np.isfinite(f) else None
    a = np.asarray(v)
    if a.dtype.kind in "iub":
        return a.tolist()
    if np.isfinite(a).all():
        return a.astype(np.float64, copy=False).tolist()
    return _replace_nonfinite(a.astype(np.float64).tolist())


def _lists(arrays: list) -> list:
    """Many float arrays to nested lists, checking them all for NaN/inf in one numpy call."""
    if np.isfinite(np.concatenate([a.ravel() for a in arrays])).all():
        return [a.tolist() for a in arrays]
    return [_jsonable(a) for a in arrays]


def _replace_nonfinite(x):
    if isinstance(x, list):
        return [_replace_nonfinite(e) for e in x]
    return x if np.isfinite(x) else None


def _fmt(v) -> str:
    return f"{float(v):.6g}"


def _par(v) -> str:
    """A number, in parentheses when negative, for products in formulas."""
    s = _fmt(v)
    return f"({s})" if s.startswith("-") else s
