"""Dynamic int8 quantization of models (``torch.ao.quantization.quantize_dynamic``).

:func:`quantize_dynamic` swaps every ``nn.Linear`` for a :class:`DynamicQuantizedLinear`:
its weight is quantized once, to int8 with one symmetric scale per output channel (torch's
``per_channel_dynamic_qconfig``: ``PerChannelMinMaxObserver(qint8, per_channel_symmetric)``,
so the int8 weights equal torch's); its input is quantized at run time, one symmetric int8
scale per token (row), and the product runs in exact int32 on
:func:`cogtensor.quant.int8_matmul`; the bias stays float:

``y[t, o] = (sum_i xq[t, i] * wq[o, i]) * s_x[t] * s_w[o] + bias[o]``

Where torch differs: its default qconfig keeps one weight scale per tensor, and its
kernels quantize the activations per tensor to 7-bit uint8 (``reduce_range``); one scale
per token keeps a small-valued token from losing its precision to a large one.
"""

from __future__ import annotations

import copy

import numpy as np

from cogtensor import quant
from cogtensor.errors import ShapeError
from cogtensor.nn.layers.linear import Linear
from cogtensor.nn.module import Module
from cogtensor.nn.quantized.tensor import QuantizedTensor, per_channel_symmetric, qint8
from cogtensor.tensor import Tensor


class DynamicQuantizedLinear(Module):
    """``nn.Linear`` with int8 weights (one scale per output channel) and activations
    quantized per token at run time (``torch.ao.nn.quantized.dynamic.Linear``).

    Shapes:
        ``(*, in_features) -> (*, out_features)``; float32 or float64 input (quantized
        through float32), output in the input's dtype.

    Buffers (``state_dict``): ``qweight`` int8 ``(out_features, in_features)``,
    ``weight_scale`` float32 ``(out_features,)``, ``float_bias`` ``(out_features,)`` when present.

    Example:
        >>> qlinear = DynamicQuantizedLinear.from_float(nn.Linear(64, 10))
        >>> qlinear(cogtensor.randn(8, 64)).shape
        cogtensor.Size([8, 10])
    """

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype=qint8):
        super().__init__()
        if dtype is not qint8:
            raise ValueError(f"DynamicQuantizedLinear: only cogtensor.qint8 weights are supported, got {dtype!r}")
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"DynamicQuantizedLinear: {name} must be a non-negative int, got {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.register_buffer("qweight", Tensor(np.zeros((out_features, in_features), np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(out_features, np.float32)))
        self.register_buffer("float_bias", Tensor(np.zeros(out_features, np.float32)) if bias_ else None)

    @classmethod
    def from_float(cls, mod: Linear) -> DynamicQuantizedLinear:
        """Quantize a float ``nn.Linear``: int8 weights with per-output-channel symmetric
        scales from the weight's own min/max (torch's observer formulas)."""
        if not isinstance(mod, Linear):
            raise TypeError(f"DynamicQuantizedLinear.from_float: expected an nn.Linear, got {type(mod).__name__}")
        layer = cls(mod.in_features, mod.out_features, mod.bias is not None)
        bias = None if mod.bias is None else mod.bias.detach()
        if mod.weight.numel() == 0:  # nothing to observe: keep the zero weights and unit scales
            layer.float_bias = None if bias is None else Tensor(bias.numpy().astype(np.float32))
            return layer
        layer.set_weight_bias(QuantizedTensor.from_float(mod.weight.detach(), qint8, per_channel_symmetric, axis=0),
                              bias)
        return layer

    def weight(self) -> QuantizedTensor:
        """The int8 weight with its per-channel scales (zero points 0), as torch's ``weight()``."""
        return QuantizedTensor(self.qweight.numpy(), self.weight_scale.numpy().astype(np.float64),
                               np.zeros(self.out_features, np.int64), axis=0)

    def bias(self) -> Tensor | None:
        return self.float_bias

    def set_weight_bias(self, w: QuantizedTensor, b: Tensor | None) -> None:
        """Install a per-channel (axis 0) symmetric int8 weight and a float bias (or None)."""
        if not isinstance(w, QuantizedTensor) or w.dtype is not qint8:
            raise TypeError("DynamicQuantizedLinear.set_weight_bias: expected a qint8 QuantizedTensor weight")
        if tuple(w.shape) != (self.out_features, self.in_features):
            raise ShapeError(f"DynamicQuantizedLinear.set_weight_bias: expected a weight of shape "
                             f"({self.out_features}, {self.in_features}), got {tuple(w.shape)}")
        if w.qscheme().per_channel:
            if w.q_per_channel_axis() != 0 or w.q_per_channel_zero_points().numpy().any():
                raise ValueError("DynamicQuantizedLinear.set_weight_bias: expected symmetric per-output-channel "
                                 "scales (axis 0, zero points 0)")
            scales = w.q_per_channel_scales().numpy()
        else:
            if w.q_zero_point() != 0:
                raise ValueError("DynamicQuantizedLinear.set_weight_bias: expected a symmetric weight (zero point 0)")
            scales = np.full(self.out_features, w.q_scale())
        if b is not None and tuple(b.shape) != (self.out_features,):
            raise ShapeError(f"DynamicQuantizedLinear.set_weight_bias: expected a bias of shape "
                             f"({self.out_features},), got {tuple(b.shape)}")
        self.qweight = Tensor(np.ascontiguousarray(w.int_repr().numpy()))
        self.weight_scale = Tensor(scales.astype(np.float32))
        self.float_bias = None if b is None else Tensor(b.detach().numpy().astype(np.float32))

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"DynamicQuantizedLinear: expected a Tensor input, got {type(input).__name__}")
        if not input.dtype.is_floating_point or input.dtype.numpy.itemsize < 4:
            raise TypeError(f"DynamicQuantizedLinear: expected a float32 or float64 input, got {input.dtype}")
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ShapeError(f"DynamicQuantizedLinear: expected input of shape (*, {self.in_features}), "
                             f"got {tuple(input.shape)}")
        data = input.detach().numpy()
        rows = data.reshape(int(np.prod(data.shape[:-1])), self.in_features)
        if rows.size == 0:  # no tokens, or no features (the product is then 0)
            values = np.zeros((rows.shape[0], self.out_features), np.float32)
        else:
            try:
                x_q, x_scale = quant.quantize_int8(rows, axis=0)
            except ValueError as e:
                raise ValueError(f"DynamicQuantizedLinear: {e}") from None
            acc = quant.int8_matmul(x_q, self.qweight.numpy().T)
            values = acc.astype(np.float32) * x_scale[:, None] * self.weight_scale.numpy()
        if self.float_bias is not None:
            values += self.float_bias.numpy()
        return Tensor(values.reshape(data.shape[:-1] + (self.out_features,)).astype(data.dtype, copy=False))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, dtype=cogtensor.qint8, "
                f"qscheme=cogtensor.per_channel_symmetric")


def quantize_dynamic(model: Module, qconfig_spec=None, dtype=qint8, mapping=None, inplace: bool = False) -> Module:
    """Replace float modules by dynamically quantized ones (``torch.ao.quantization.quantize_dynamic``).

    As torch: modules are matched by exact type (``NonDynamicallyQuantizableLinear`` and
    :class:`~cogtensor.nn.BitLinear` are left alone), a selection applies to the selected
    module and everything below it, and the root module itself is never swapped (wrap a bare
    Linear in a Sequential).

    Args:
        model: the float model.
        qconfig_spec: None (every module whose type is in ``mapping``), or a set of module
            types and/or qualified submodule names (``{"encoder", nn.Sequential}``) whose
            descendants of a ``mapping`` type are quantized.
        dtype: :data:`cogtensor.qint8` (the only one supported).
        mapping: float type -> quantized type with ``from_float``; default
            ``{nn.Linear: DynamicQuantizedLinear}``.
        inplace: modify ``model`` itself; otherwise a deep copy is converted.

    Returns:
        The quantized model.

    Raises:
        TypeError: ``model`` not a Module or a bad ``qconfig_spec``. ValueError: a dtype other than qint8.

    Example:
        >>> mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> quantized = quantize_dynamic(mlp)
        >>> type(quantized[0]).__name__, quantized[0].qweight.dtype
        ('DynamicQuantizedLinear', cogtensor.int8)
    """
    if not isinstance(model, Module):
        raise TypeError(f"quantize_dynamic: expected an nn.Module, got {type(model).__name__}")
    if dtype is not qint8:
        raise ValueError(f"quantize_dynamic: only dtype=cogtensor.qint8 is supported, got {dtype!r}")
    mapping = {Linear: DynamicQuantizedLinear} if mapping is None else dict(mapping)
    types, names = _spec(qconfig_spec, mapping)
    if not inplace:
        model = copy.deepcopy(model)
    stack = [("", model, False)]
    while stack:  # iterative walk carrying the inherited selection, as torch's propagate_qconfig_
        prefix, parent, selected = stack.pop()
        selected = selected or type(parent) in types or prefix in names
        for name, child in list(parent.named_children()):
            if child is None:
                continue
            qualified = f"{prefix}.{name}" if prefix else name
            chosen = selected or type(child) in types or qualified in names
            if chosen and type(child) in mapping:
                setattr(parent, name, mapping[type(child)].from_float(child))
            else:
                stack.append((qualified, child, chosen))
    return model


def _spec(qconfig_spec, mapping) -> tuple[frozenset, frozenset]:
    """(module types, qualified names) selected by ``qconfig_spec``."""
    if qconfig_spec is None:
        return frozenset(mapping), frozenset()
    if isinstance(qconfig_spec, (str, type)):
        qconfig_spec = {qconfig_spec}
    try:
        entries = list(qconfig_spec)
    except TypeError:
        raise TypeError(f"quantize_dynamic: qconfig_spec must be None or a set of module types and names, got "
                        f"{type(qconfig_spec).__name__}") from None
    bad = [e for e in entries if not (isinstance(e, str) or (isinstance(e, type) and issubclass(e, Module)))]
    if bad:
        raise TypeError(f"quantize_dynamic: qconfig_spec entries must be nn.Module types or submodule names, "
                        f"got {bad[0]!r}")
    return frozenset(e for e in entries if isinstance(e, type)), frozenset(e for e in entries if isinstance(e, str))
