"""Layers: `Linear`, the activation modules, `Sequential` and the `MLP` the playground trains."""

from __future__ import annotations

import numpy as np

from . import activations
from . import functional as F
from ..engine import Tensor
from .module import Module

INITS = ("uniform", "xavier", "he")
ACTIVATIONS = activations.ACTIVATIONS  # the live registry; "linear" is the identity


def _as_tensor(x, dtype=np.float64) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _is_size(s) -> bool:
    """A layer size: a positive whole number (8 or 8.0, not True or 8.5)."""
    try:
        return not isinstance(s, bool) and int(s) == s and s >= 1
    except (TypeError, ValueError):
        return False


def _check_activation(name) -> str:
    return activations.get(name).name


def init_weights(in_features: int, out_features: int, init: str, rng: np.random.Generator):
    """Initial (weight (out, in), bias (out,)) as float64 numpy arrays.

    - "uniform": W ~ U(-0.5, 0.5), b = 0.1, as TF Playground does.
    - "xavier":  Glorot uniform, W ~ U(-a, a) with a = sqrt(6 / (in + out)), b = 0. Keeps the variance
                 of activations roughly constant through tanh/sigmoid layers.
    - "he":      Kaiming normal, W ~ N(0, 2 / in), b = 0. The factor 2 makes up for ReLU zeroing half
                 of its inputs.
    """
    shape = (out_features, in_features)
    if init == "uniform":
        return rng.uniform(-0.5, 0.5, size=shape), np.full(out_features, 0.1)
    if init == "xavier":
        a = np.sqrt(6.0 / (in_features + out_features))
        return rng.uniform(-a, a, size=shape), np.zeros(out_features)
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / in_features), size=shape), np.zeros(out_features)
    raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


class Linear(Module):
    """y = x @ W.T + b, with W of shape (out_features, in_features) as in PyTorch.

    W[i, j] connects input neuron j to output neuron i. Give `seed` (or a shared numpy `rng`) for
    reproducible weights; with neither, the weights come from fresh OS entropy.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "uniform",
                 seed: int | None = None, rng: np.random.Generator | None = None,
                 dtype=np.float64):
        in_features, out_features = int(in_features), int(out_features)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear needs positive sizes, got in={in_features}, out={out_features}")
        if rng is None:
            rng = np.random.default_rng(seed)
        w, b = init_weights(in_features, out_features, init, rng)
        self.in_features = in_features
        self.out_features = out_features
        self.init = init
        self.weight = Tensor(w, requires_grad=True, dtype=dtype)
        self.bias = Tensor(b, requires_grad=True, dtype=dtype) if bias else None

    def forward(self, x):
        return F.linear(_as_tensor(x, self.weight.dtype), self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, init={self.init!r}")


class _Activation(Module):
    name = "linear"

    def forward(self, x):
        return activations.get(self.name).fn(_as_tensor(x))


class Tanh(_Activation):
    name = "tanh"


class ReLU(_Activation):
    """max(0, x). NOTE: the gradient at exactly 0 is 0 (the engine's choice, as in PyTorch)."""

    name = "relu"


class Sigmoid(_Activation):
    name = "sigmoid"


class Identity(_Activation):
    """The "linear" activation: passes its input through unchanged."""

    name = "linear"


class LeakyReLU(_Activation):
    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return _as_tensor(x).leaky_relu(self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


_MODULES = {cls.name: cls for cls in (Tanh, ReLU, Sigmoid, Identity, LeakyReLU)}


def activation_module(name: str) -> Module:
    """The activation module for a registered name, e.g. "tanh" -> Tanh(); an activation registered
    without a module class of its own gets a generic one that applies the registry's function."""
    name = _check_activation(name)
    if name in _MODULES:
        return _MODULES[name]()
    module = _Activation()
    module.name = name
    return module


class Sequential(Module):
    """Applies its modules in order; parameters are named "0.weight", "1.bias", ... as in PyTorch."""

    def __init__(self, *modules: Module):
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes modules, got {type(m).__name__}")
        self._layers = list(modules)

    def _members(self):
        return ((str(i), m) for i, m in enumerate(self._layers))

    def forward(self, x):
        for m in self._layers:
            x = m(x)
        return x

    def append(self, module: Module) -> "Sequential":
        self._layers.append(module)
        return self

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self._layers[i])
        return self._layers[i]

    def to_torch(self):
        """This network as a float64 ``torch.nn.Sequential`` with the same weights (needs torch)."""
        from .interop import sequential_to_torch  # lazily: nn never imports torch at import time

        return sequential_to_torch(self)

    def to_onnx(self, input_shape, dtype=np.float32):
        """This network as an ONNX model for inputs of ``input_shape`` (batch axis free; needs onnx)."""
        from .interop import sequential_to_onnx

        return sequential_to_onnx(self, input_shape, dtype)


class MLP(Module):
    """A fully connected network, e.g. ``MLP([2, 8, 8, 1])``: 2 inputs, two hidden layers of 8, 1 output.

    - `activation`: one name for every hidden layer, or a list with one name per hidden layer.
    - `output_activation`: applied after the last layer; None (the default) returns raw outputs, i.e.
      logits for classification, which is what the losses expect.
    - `seed`: weights are drawn layer by layer from one numpy Generator seeded with it.

    Attributes: `sizes`, `linears` (one `Linear` per layer), `activations` (one name per linear
    layer; the last is `output_activation or "linear"`) and `meta`, a free-form JSON-able dict that
    `nn.save` stores with the model (e.g. the input features it was trained on).
    """

    def __init__(self, sizes, activation="tanh", output_activation: str | None = None,
                 seed: int | None = 0, init: str = "xavier", rng: np.random.Generator | None = None,
                 dtype=np.float64):
        sizes = list(sizes)
        if len(sizes) < 2 or not all(_is_size(s) for s in sizes):
            raise ValueError(f"MLP sizes must be at least 2 positive integers, got {sizes}")
        sizes = [int(s) for s in sizes]
        n_hidden = len(sizes) - 2
        hidden = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(hidden) != n_hidden:
            raise ValueError(f"MLP {sizes} has {n_hidden} hidden layers but {len(hidden)} "
                             f"activations were given: {hidden}")
        hidden = [_check_activation(name) for name in hidden]
        if output_activation is not None:
            output_activation = _check_activation(output_activation)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        if rng is None:
            rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.activations = hidden + [output_activation or "linear"]
        self.output_activation = output_activation
        self.init = init
        self.seed = seed
        self.meta = {}
        self.linears = [Linear(a, b, init=init, rng=rng, dtype=dtype)
                        for a, b in zip(sizes[:-1], sizes[1:])]

    def forward(self, x):
        # NOTE: hot path (training loop, benchmarks): one fused linear node + one activation per layer.
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.linears[0].weight.dtype)
        self._check_input(x)
        linear, table = F.linear, activations.ACTIVATIONS
        for lin, act in zip(self.linears, self.activations):
            x = table[act].fn(linear(x, lin.weight, lin.bias))
        return x

    def forward_layers(self, x) -> list[tuple[Tensor, Tensor]]:
        """Forward pass keeping each layer's (z, a): z = a_prev @ W.T + b, a = activation(z).

        For a "linear" layer `a is z`. The last `a` is what `forward` returns.
        """
        a = _as_tensor(x, self.linears[0].weight.dtype)
        self._check_input(a)
        out = []
        for lin, act in zip(self.linears, self.activations):
            z = F.linear(a, lin.weight, lin.bias)
            a = activations.ACTIVATIONS[act].fn(z)
            out.append((z, a))
        return out

    def _check_input(self, x: Tensor) -> None:
        if not x.shape or x.shape[-1] != self.sizes[0]:
            raise ValueError(f"MLP{self.sizes} takes {self.sizes[0]} input(s) per sample, "
                             f"e.g. shape (n, {self.sizes[0]}); got shape {x.shape}")

    def to_torch(self):
        """This network as a float64 ``torch.nn.Sequential`` with the same weights (needs torch)."""
        from .interop import to_torch  # lazily: nn never imports torch at import time

        return to_torch(self)

    @classmethod
    def from_torch(cls, module) -> "MLP":
        """An MLP with the weights of a torch ``Sequential`` of Linear layers and activations."""
        from .interop import sequential_parts

        sizes, activations, output_activation, state = sequential_parts(module)
        model = cls(sizes, activation=activations, output_activation=output_activation, seed=0)
        model.load_state_dict(state)
        return model

    def __repr__(self) -> str:
        lines = []
        for lin, act in zip(self.linears, self.activations):
            lines.append(repr(lin))
            if act != "linear":
                lines.append(repr(activation_module(act)))
        body = "".join(f"  ({i}): {line}\n" for i, line in enumerate(lines))
        return f"MLP(\n{body})"


class Dropout(Module):
    """Zeroes each input element with probability `p` while training and scales the rest by 1/(1-p);
    after `model.eval()` it passes its input through unchanged, as torch.nn.Dropout.

    The masks come from a numpy Generator seeded with `seed`, so the same seed gives the same sequence
    of masks (and the same training run).
    """

    def __init__(self, p: float = 0.5, seed: int | None = 0):
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout p must be in [0, 1], got {p}")
        self.p = float(p)
        self._rng = np.random.default_rng(seed)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, rng=self._rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Conv2d(Module):
    """torch's ``nn.Conv2d`` for square kernels: weight (out_channels, in_channels, k, k), bias
    (out_channels,), one stride and one zero padding for both axes; input (N, C, H, W).

    Initialised as torch does: weight and bias ~ U(-1/√fan_in, 1/√fan_in), fan_in = in_channels·k·k.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, seed: int | None = None,
                 rng: np.random.Generator | None = None, dtype=np.float64):
        in_channels, out_channels, k = int(in_channels), int(out_channels), int(kernel_size)
        if in_channels < 1 or out_channels < 1 or k < 1:
            raise ValueError(f"Conv2d needs positive sizes, got in={in_channels}, out={out_channels}, k={k}")
        if rng is None:
            rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(in_channels * k * k)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding = int(stride), int(padding)
        self.weight = Tensor(rng.uniform(-bound, bound, (out_channels, in_channels, k, k)),
                             requires_grad=True, dtype=dtype)
        self.bias = Tensor(rng.uniform(-bound, bound, out_channels), requires_grad=True,
                           dtype=dtype) if bias else None

    def forward(self, x):
        return F.conv2d(_as_tensor(x, self.weight.dtype), self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class MaxPool2d(Module):
    """torch's ``nn.MaxPool2d`` (square windows; stride defaults to the kernel size)."""

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """torch's ``nn.AvgPool2d`` (square windows; padding counted as zeros in the mean)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    """torch's ``nn.Flatten``: every axis from ``start_dim`` (default 1, after the batch) as one."""

    def __init__(self, start_dim: int = 1):
        self.start_dim = start_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"
