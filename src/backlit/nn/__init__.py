"""backlit.nn: modules, layers, losses and model files, shaped like torch.nn.

    model = nn.MLP([2, 8, 8, 1], activation="tanh", seed=1)
    loss = nn.BCEWithLogitsLoss()(model(X), y)
    loss.backward()
"""

from .layers import (
    ACTIVATIONS,
    INITS,
    MLP,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    MaxPool2d,
    Identity,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    activation_module,
    init_weights,
)
from .losses import (
    LOSSES,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HingeLoss,
    LossOption,
    MSELoss,
    get_loss,
    loss_class,
    loss_function,
    losses_for,
    penalty,
)
from .module import Module
from .serialize import ModelFileError, load, model_from_dict, model_to_dict, save

__all__ = [
    "Module",
    "Linear",
    "Dropout",
    "Tanh",
    "ReLU",
    "Sigmoid",
    "Identity",
    "LeakyReLU",
    "Sequential",
    "MLP",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "ACTIVATIONS",
    "INITS",
    "activation_module",
    "init_weights",
    "MSELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HingeLoss",
    "LOSSES",
    "LossOption",
    "losses_for",
    "loss_class",
    "get_loss",
    "loss_function",
    "penalty",
    "ModelFileError",
    "save",
    "load",
    "model_to_dict",
    "model_from_dict",
]
