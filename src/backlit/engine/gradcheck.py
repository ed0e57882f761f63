"""Check a backward pass against central finite differences, in float64.

For a scalar function f, the central difference (f(x + ε) - f(x - ε)) / 2ε matches df/dx up to O(ε²).
A non-scalar output y is first reduced to the scalar Σ v·y with a fixed random v, which checks the
vector-Jacobian product v·J, exactly what backward computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`: truthy when every element passed.

    ``worst`` describes the element with the largest violation of |analytic - numeric| <= atol +
    rtol·|numeric| as (input index, element index, analytic, numeric).
    """

    ok: bool
    worst_input: int = -1
    worst_index: tuple = ()
    analytic: float = 0.0
    numeric: float = 0.0
    max_abs_error: float = 0.0
    checked: int = 0

    def __bool__(self):
        return self.ok

    def __str__(self):
        verdict = "passed" if self.ok else "FAILED"
        if self.worst_input < 0:
            return f"gradcheck {verdict}: no inputs require grad"
        return (f"gradcheck {verdict} over {self.checked} elements; worst: input {self.worst_input} "
                f"element {self.worst_index}: analytic {self.analytic:.10g} vs numeric {self.numeric:.10g} "
                f"(|diff| {self.max_abs_error:.3g})")


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_on_fail=False, seed=0):
    """Compare ``fn``'s backward pass with central differences for every input that requires grad.

    ``inputs`` are Tensors (others are passed through unchanged). They are copied to float64 first,
    so the originals are not modified. Returns a :class:`GradcheckResult`; with ``raise_on_fail=True``
    a failure raises ``AssertionError`` naming the worst element instead.
    """
    from .tensor import Tensor, no_grad

    xs = [Tensor(x.data, requires_grad=x.requires_grad, dtype=np.float64) if isinstance(x, Tensor) else x
          for x in inputs]
    out = fn(*xs)
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(out.data.shape)

    def scalar():
        with no_grad():
            return float(np.sum(v * fn(*xs).data))

    (out * Tensor(v)).sum().backward()

    result = GradcheckResult(ok=True)
    worst_excess = -np.inf
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            continue
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        for idx in np.ndindex(x.data.shape):
            orig = x.data[idx]
            x.data[idx] = orig + eps
            hi = scalar()
            x.data[idx] = orig - eps
            lo = scalar()
            x.data[idx] = orig
            numeric = (hi - lo) / (2 * eps)
            a = float(analytic[idx])
            err = abs(a - numeric)
            excess = err - (atol + rtol * abs(numeric))
            if not np.isfinite(a) or not np.isfinite(numeric):
                excess = np.inf if (np.isfinite(a) != np.isfinite(numeric) or a != numeric) else -np.inf
            result.checked += 1
            if excess > worst_excess:
                worst_excess = excess
                result.worst_input, result.worst_index = i, idx
                result.analytic, result.numeric, result.max_abs_error = a, numeric, err
            if excess > 0:
                result.ok = False
    if raise_on_fail and not result.ok:
        raise AssertionError(str(result))
    return result
