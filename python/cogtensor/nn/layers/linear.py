"""``Identity``, ``Linear`` and ``Bilinear`` (``torch.nn``), with torch's parameter names, shapes
and default initialisation (weights kaiming_uniform_(a=sqrt(5)), biases U(-1/sqrt(fan_in),
1/sqrt(fan_in)), drawn from cogtensor's default generator)."""

from __future__ import annotations

import math

from cogtensor.nn import functional as F
from cogtensor.nn import init
from cogtensor.nn.layers._factory import empty, positive_int
from cogtensor.nn.module import Module, Parameter

__all__ = ["Identity", "Linear", "Bilinear"]  # NonDynamicallyQuantizableLinear stays here, as in torch


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored (as torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``: (*, in_features) -> (*, out_features).

    Attributes:
        weight: (out_features, in_features). bias: (out_features,) or None.

    Example:
        >>> Linear(3, 2)(cogtensor.ones(4, 3)).shape
        cogtensor.Size([4, 2])
    """

    __constants__ = ["in_features", "out_features"]

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        self.weight = Parameter(empty((out_features, in_features), device, dtype))
        if bias:
            self.bias = Parameter(empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class NonDynamicallyQuantizableLinear(Linear):
    """The output projection of :class:`~cogtensor.nn.MultiheadAttention` (torch's class of that name)."""


class Bilinear(Module):
    """``y = x1^T A x2 + b``: (*, in1_features), (*, in2_features) -> (*, out_features).

    Attributes:
        weight: (out_features, in1_features, in2_features), U(-1/sqrt(in1), 1/sqrt(in1)).
        bias: (out_features,) or None, same range.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = positive_int(in1_features, "in1_features", "Bilinear")
        self.in2_features = positive_int(in2_features, "in2_features", "Bilinear")
        self.out_features = positive_int(out_features, "out_features", "Bilinear")
        self.weight = Parameter(empty((out_features, in1_features, in2_features), device, dtype))
        if bias:
            self.bias = Parameter(empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
