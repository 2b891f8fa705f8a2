"""Neural-network building blocks (``torch.nn``): modules, parameters, containers, layers,
losses, initialisation, gradient utilities and the functional forms.

Example:
    >>> from cogtensor import nn
    >>> model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    >>> loss = nn.CrossEntropyLoss()(model(x), y)
"""

from cogtensor.nn import functional, init, utils
from cogtensor.nn.containers import ModuleDict, ModuleList, Sequential
from cogtensor.nn.module import Module
from cogtensor.nn.parameter import Buffer, Parameter

from cogtensor.nn import layers, loss  # noqa: E402 - the layers and losses build on Module
from cogtensor.nn.layers import *  # noqa: F403, E402 - Linear, Conv2d, LayerNorm, ReLU, MultiheadAttention, ...
from cogtensor.nn.loss import *  # noqa: F403, E402 - MSELoss, CrossEntropyLoss, ...

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Buffer", "Sequential", "ModuleList", "ModuleDict",
           *layers.__all__, *loss.__all__]
