"""Convolution layers (``torch.nn``): ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``,
``ConvTranspose2d``, with torch's arguments (``padding='same'/'valid'``, ``padding_mode``,
``groups``, ``dilation``), parameter shapes and default initialisation."""

from __future__ import annotations

import math

from cogtensor.nn import functional as F
from cogtensor.nn import init
from cogtensor.nn.functional_utils import int_tuple
from cogtensor.nn.layers._factory import empty, positive_int
from cogtensor.nn.module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    _spatial = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                 device, dtype, output_padding=0):
        super().__init__()
        name, n = type(self).__name__, self._spatial
        in_channels = positive_int(in_channels, "in_channels", name)
        out_channels = positive_int(out_channels, "out_channels", name)
        groups = positive_int(groups, "groups", name)
        if groups == 0 or in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {list(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = int_tuple(kernel_size, n, "kernel_size", name, minimum=1)
        self.stride = int_tuple(stride, n, "stride", name, minimum=1)
        self.dilation = int_tuple(dilation, n, "dilation", name, minimum=1)
        self.padding = self._padding(padding, name)
        self.output_padding = int_tuple(output_padding, n, "output_padding", name, minimum=0)
        self.transposed, self.padding_mode = self._transposed, padding_mode
        self._reversed_padding_repeated_twice = self._pad_list()
        shape = (in_channels, out_channels // groups) if self._transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(empty(shape + self.kernel_size, device, dtype))
        if bias:
            self.bias = Parameter(empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _padding(self, padding, name):
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            return padding
        return int_tuple(padding, self._spatial, "padding", name, minimum=0)

    def _pad_list(self) -> list[int]:
        """F.pad's argument for the explicit padding that non-'zeros' padding modes apply."""
        return [p for pair in reversed(self._numeric_padding()) for p in pair]

    def _numeric_padding(self):
        if self.padding == "valid":
            return [(0, 0)] * self._spatial
        if self.padding == "same":
            totals = [d * (k - 1) for k, d in zip(self.kernel_size, self.dilation)]
            return [(t // 2, t - t // 2) for t in totals]
        return [(p, p) for p in self.padding]

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _conv = staticmethod(F.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         device, dtype)

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return self._conv(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return self._conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class Conv2d(_Conv):
    """2-d convolution: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out).

    Attributes:
        weight: (out_channels, in_channels / groups, kh, kw), kaiming_uniform_(a=sqrt(5)).
        bias: (out_channels,), U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or None.

    Example:
        >>> Conv2d(1, 4, 3, padding="same")(cogtensor.ones(2, 1, 8, 8)).shape
        cogtensor.Size([2, 4, 8, 8])
    """

    _spatial = 2
    _conv = staticmethod(F.conv2d)


class Conv1d(_Conv):
    """1-d convolution: (N, C_in, L) or (C_in, L) -> (N, C_out, L_out)."""

    _spatial = 1
    _conv = staticmethod(F.conv1d)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _conv = staticmethod(F.conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of ints, got {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
                         device, dtype, output_padding)

    def _output_padding(self, input, output_size) -> tuple[int, ...]:
        """The output padding that gives ``output_size`` (torch's rule), or the layer's own."""
        if output_size is None:
            return self.output_padding
        n = self._spatial
        size = list(output_size)
        non_spatial = 2 if input.ndim == n + 2 else 1
        if len(size) == non_spatial + n:
            size = size[non_spatial:]
        if len(size) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or "
                             f"{non_spatial + n} elements (got {len(output_size)})")
        smallest = [(input.shape[d + non_spatial] - 1) * self.stride[d] - 2 * self.padding[d] +
                    self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        largest = [s + self.stride[d] - 1 for d, s in enumerate(smallest)]
        for want, low, high in zip(size, smallest, largest):
            if not low <= want <= high:
                raise ValueError(f"requested an output size of {size}, but valid sizes range from {smallest} to "
                                 f"{largest} (for an input of {list(input.shape[non_spatial:])})")
        return tuple(want - low for want, low in zip(size, smallest))

    def forward(self, input, output_size=None):
        extra = self._output_padding(input, output_size)
        return self._conv(input, self.weight, self.bias, self.stride, self.padding, extra, self.groups,
                          self.dilation)


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out); ``forward``
    takes an optional ``output_size`` that picks the output padding.

    Attributes:
        weight: (in_channels, out_channels / groups, kh, kw). bias: (out_channels,) or None.
    """

    _spatial = 2
    _conv = staticmethod(F.conv_transpose2d)


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution: (N, C_in, L) -> (N, C_out, L_out)."""

    _spatial = 1
    _conv = staticmethod(F.conv_transpose1d)
