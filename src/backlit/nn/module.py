"""`Module`: the base class of every layer, loss and network.

As in PyTorch, a module is a plain object whose parameters are found by *walking its attributes*:
a `Tensor` attribute is a parameter, a `Module` attribute is a sub-module, and lists, tuples and dicts
are walked too. Names are dotted paths, e.g. ``linears.0.weight``. Attributes whose name starts with
an underscore are private and never walked (use them for caches and settings).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import numpy as np

from ..engine import Tensor


class Module:
    """Base class: subclasses set parameters and sub-modules as attributes and define `forward`."""

    training = True  # train() / eval() set it on every sub-module; Dropout reads it

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- walking ---------------------------------------------------------------------------------

    def _members(self) -> Iterator[tuple[str, Any]]:
        """The (name, value) pairs the walker visits. Containers like `Sequential` override this."""
        for name, value in vars(self).items():
            if not name.startswith("_"):
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Yield (dotted name, Tensor) for every parameter, in attribute order.

        A Tensor reachable by two paths (a shared weight) is yielded once, under its first name.
        """
        seen: set[int] = set()
        for name, t in _walk(self, prefix, set()):
            if id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def parameters(self) -> list[Tensor]:
        """All parameters as a list (a list, not a generator, so it can be passed around twice)."""
        return [t for _, t in self.named_parameters()]

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(t.data.size for t in self.parameters())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """Yield (dotted name, module) for this module ("" for itself) and every sub-module."""
        yield prefix, self
        for name, child in _children(self, prefix):
            yield from child.named_modules(name)

    def train(self, mode: bool = True) -> "Module":
        """Put this module and every sub-module in training mode (``mode=False``: evaluation mode).

        As in PyTorch, only some layers behave differently (Dropout is active only in training).
        Returns the module, so ``model = MLP(...).eval()`` works.
        """
        for _, m in self.named_modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (`.grad = None`), as PyTorch does by default."""
        for t in self.parameters():
            t.grad = None

    # -- state -----------------------------------------------------------------------------------

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """name -> a *copy* of the parameter's values (later training does not change it)."""
        return OrderedDict((name, t.data.copy()) for name, t in self.named_parameters())

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy values from `state` (name -> array-like) into the parameters, in place.

        In place means an optimizer built on `parameters()` keeps working. Every check runs before
        anything is written, so a bad dict leaves the module unchanged.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if unexpected:
                parts.append("unexpected " + ", ".join(map(str, unexpected)))
            raise ValueError(f"{type(self).__name__}.load_state_dict: " + "; ".join(parts))
        values = {}
        for name, t in params.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            try:
                arr = np.asarray(value, dtype=t.data.dtype)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{name}: cannot read values as numbers ({e})") from None
            if arr.shape != t.data.shape:
                raise ValueError(
                    f"{name}: shape {arr.shape} does not match the parameter's shape {t.data.shape}"
                )
            values[name] = arr
        for name, arr in values.items():
            params[name].data[...] = arr

    # -- printing --------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside the parentheses, e.g. ``in_features=2, out_features=8``."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): {_indent(repr(child))}" for name, child in _children(self, "")]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "".join(f"  {line}\n" for line in lines) + ")"


def _walk(obj: Any, prefix: str, visiting: set[int]) -> Iterator[tuple[str, Tensor]]:
    """Depth-first walk yielding (name, Tensor); `visiting` guards against reference cycles."""
    if isinstance(obj, Tensor):
        yield prefix, obj
        return
    if isinstance(obj, Module):
        items = obj._members()
    elif isinstance(obj, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(obj))
    elif isinstance(obj, dict):
        items = ((str(k), v) for k, v in obj.items())
    else:
        return  # numbers, strings, numpy arrays, ...: not parameters
    if id(obj) in visiting:
        return
    visiting.add(id(obj))
    for name, value in items:
        yield from _walk(value, f"{prefix}.{name}" if prefix else name, visiting)
    visiting.discard(id(obj))


def _children(module: Module, prefix: str) -> Iterator[tuple[str, Module]]:
    """Direct sub-modules, looking inside lists/dicts (``linears.0``), not inside other modules."""

    def walk(obj, name):
        if isinstance(obj, Module):
            yield name, obj
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                yield from walk(v, f"{name}.{i}")
        elif isinstance(obj, dict):
            for k, v in obj.items():
                yield from walk(v, f"{name}.{k}")

    for name, value in module._members():
        yield from walk(value, f"{prefix}.{name}" if prefix else name)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
