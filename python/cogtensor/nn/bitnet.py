"""BitNet b1.58 layers: ternary-weight linear layers trained with fake quantization and run
from 2-bit packed weights.

:class:`BitLinear` is the layer of "The Era of 1-bit LLMs" (Ma et al., 2024), as published
in its training notes ("Training Tips, Code and FAQ"): the input is normalised by an RMSNorm
*without* learnable scale (b1.58's choice; the first BitNet, Wang et al. 2023, put a
LayerNorm there, SubLN), then

- activations: 8-bit absmax per token, ``x_q = clip(round(x / s_x), -128, 127) * s_x`` with
  ``s_x = max(max|x|, eps) / 127`` over the last axis;
- weights: absmean ternary per tensor, ``w_q = clip(round(w / s_w), -1, 1) * s_w`` with
  ``s_w = max(mean|w|, eps)``;
- ``y = x_q @ w_q.T (+ bias)``, and both roundings pass the gradient straight through
  (``x + (q(x) - x).detach()``), so the layer trains like :class:`~cogtensor.nn.Linear`
  with latent float weights.

:func:`export_ternary` turns every BitLinear of a trained model into a
:class:`PackedBitLinear` that keeps only the 2-bit packed weights (16x less memory than
float32) and their scale, and computes with :func:`cogtensor.quant.ternary_matmul` on the
int8 activations: the same numbers the fake-quantized layer computes, up to float rounding.
"""

from __future__ import annotations

import copy

import numpy as np

from cogtensor import quant
from cogtensor.errors import ShapeError
from cogtensor.graph import no_grad
from cogtensor.nn import functional as F
from cogtensor.nn.layers._factory import empty
from cogtensor.nn.layers.linear import Linear
from cogtensor.nn.module import Module
from cogtensor.nn.quantized.tensor import fake_quantize_per_token, fake_quantize_ternary
from cogtensor.tensor import Tensor

__all__ = ["BitLinear", "PackedBitLinear", "replace_linear_with_bitlinear", "export_ternary"]


def _positive(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be at least 1 (ternary quantization needs weights), got {value}")
    return int(value)


def _positive_float(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}")
    return float(value)


class BitLinear(Linear):
    """BitNet b1.58 linear layer: RMSNorm, 8-bit per-token activations, ternary weights.

    ``y = absmax8(rms_norm(x)) @ absmean_ternary(weight).T + bias`` in the forward pass; the
    two quantizers are straight-through in the backward pass, so gradients reach ``weight``
    (the latent float weights an optimizer updates) and the input through the RMSNorm.

    Args:
        in_features, out_features: sizes (both at least 1).
        bias: add a float bias after the product (BitNet uses none: default False).
        device, dtype: as :class:`~cogtensor.nn.Linear`.
        eps: lower bound of both quantization scales (keeps an all-zero token or weight finite).
        norm_eps: added to the mean square in the RMSNorm.

    Shapes:
        ``(*, in_features) -> (*, out_features)``.

    Attributes:
        weight: ``(out_features, in_features)`` latent float weights (torch's Linear init).
        bias: ``(out_features,)`` or None.

    Example:
        >>> layer = BitLinear(64, 10)
        >>> layer(cogtensor.randn(8, 64)).shape
        cogtensor.Size([8, 10])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, device=None, dtype=None, *,
                 eps: float = 1e-5, norm_eps: float = 1e-6):
        _positive(in_features, "in_features", "BitLinear")
        _positive(out_features, "out_features", "BitLinear")
        self.eps = _positive_float(eps, "eps", "BitLinear")
        self.norm_eps = _positive_float(norm_eps, "norm_eps", "BitLinear")
        super().__init__(in_features, out_features, bias, device, dtype)

    @classmethod
    def from_float(cls, mod: Linear, *, eps: float = 1e-5, norm_eps: float = 1e-6) -> BitLinear:
        """A BitLinear with a copy of ``mod``'s weight and bias (kept when ``mod`` has one)."""
        if not isinstance(mod, Linear):
            raise TypeError(f"BitLinear.from_float: expected an nn.Linear, got {type(mod).__name__}")
        layer = cls(mod.in_features, mod.out_features, mod.bias is not None, dtype=mod.weight.dtype,
                    eps=eps, norm_eps=norm_eps)
        with no_grad():
            layer.weight.copy_(mod.weight)
            if mod.bias is not None:
                layer.bias.copy_(mod.bias)
        return layer

    def quantized_input(self, input: Tensor) -> Tensor:
        """``absmax8(rms_norm(input))``, what the product sees, with straight-through gradient."""
        normed = F.rms_norm(input, (self.in_features,), eps=self.norm_eps)
        return fake_quantize_per_token(normed, self.eps)

    def quantized_weight(self) -> Tensor:
        """``absmean_ternary(weight)``: ``{-s, 0, +s}`` values, straight-through gradient."""
        return fake_quantize_ternary(self.weight, self.eps)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(self.quantized_input(input), self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", eps={self.eps}, norm_eps={self.norm_eps}"


class PackedBitLinear(Module):
    """Inference form of :class:`BitLinear`: 2-bit packed ternary weights and their scale.

    ``forward`` normalises and quantizes the input to int8 exactly as BitLinear does, then
    runs :func:`cogtensor.quant.ternary_matmul` on the packed weights (additions and
    subtractions, exact int32 sums) and scales by ``s_x * s_w``. No gradient flows through it.

    Buffers (``state_dict``): ``packed_weight`` uint8 ``(out_features, ceil(in_features / 4))``
    in :func:`cogtensor.quant.pack_ternary`'s layout, ``weight_scale`` 0-d (the latent
    weight's dtype), and ``bias`` ``(out_features,)`` when present.

    Example:
        >>> packed = PackedBitLinear.from_float(BitLinear(64, 10))
        >>> packed(cogtensor.randn(8, 64)).shape
        cogtensor.Size([8, 10])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, dtype=None, *,
                 eps: float = 1e-5, norm_eps: float = 1e-6):
        super().__init__()
        self.in_features = _positive(in_features, "in_features", "PackedBitLinear")
        self.out_features = _positive(out_features, "out_features", "PackedBitLinear")
        self.eps = _positive_float(eps, "eps", "PackedBitLinear")
        self.norm_eps = _positive_float(norm_eps, "norm_eps", "PackedBitLinear")
        float_type = empty((0,), None, dtype).dtype.numpy  # the default dtype and its checks, as layers do
        self.register_buffer("packed_weight", Tensor(np.zeros((out_features, -(-in_features // 4)), np.uint8)))
        self.register_buffer("weight_scale", Tensor(np.ones((), float_type)))
        self.register_buffer("bias", Tensor(np.zeros(out_features, float_type)) if bias else None)

    @classmethod
    def from_float(cls, mod: BitLinear) -> PackedBitLinear:
        """Quantize and pack a (trained) BitLinear's weight; copies its bias, eps and norm_eps."""
        if not isinstance(mod, BitLinear):
            raise TypeError(f"PackedBitLinear.from_float: expected a BitLinear, got {type(mod).__name__}")
        layer = cls(mod.in_features, mod.out_features, mod.bias is not None, dtype=mod.weight.dtype,
                    eps=mod.eps, norm_eps=mod.norm_eps)
        packed, scale = quant.quantize_ternary(mod.weight.detach().numpy(), mod.eps)
        layer.packed_weight = Tensor(packed)
        layer.weight_scale = Tensor(scale)
        if mod.bias is not None:
            layer.bias = mod.bias.detach().clone()
        return layer

    def ternary_weight(self) -> Tensor:
        """The unpacked weights, int8 ``(out_features, in_features)`` in {-1, 0, +1}."""
        return Tensor(quant.unpack_ternary(self.packed_weight.numpy(), self.in_features))

    def weight_nbytes(self) -> int:
        """Bytes the weights take: the packed bytes plus the scale."""
        return self.packed_weight.numpy().nbytes + self.weight_scale.numpy().nbytes

    def forward(self, input: Tensor) -> Tensor:
        if not isinstance(input, Tensor):
            raise TypeError(f"PackedBitLinear: expected a Tensor input, got {type(input).__name__}")
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise ShapeError(f"PackedBitLinear: expected input of shape (*, {self.in_features}), "
                             f"got {tuple(input.shape)}")
        with no_grad():
            normed = F.rms_norm(input.detach(), (self.in_features,), eps=self.norm_eps).numpy()
        x_q, x_scale = quant.absmax_quantize(normed, self.eps)
        acc = quant.ternary_matmul(x_q, self.packed_weight.numpy())
        # scale in the input's precision so a float64 model keeps float64 outputs
        values = acc.astype(normed.dtype) * (x_scale * self.weight_scale.numpy().astype(normed.dtype))
        if self.bias is not None:
            values += self.bias.numpy().astype(normed.dtype)
        return Tensor(values)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, eps={self.eps}, norm_eps={self.norm_eps}")


def _swap_modules(model: Module, convert, inplace: bool, skip=frozenset()) -> Module:
    """Replace every submodule (the root included) for which ``convert(module)`` returns a
    module by that module; ``convert`` returns None to keep one and look inside it. Submodules
    whose qualified name is in ``skip`` are kept whole."""
    if not isinstance(model, Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    root = convert(model)
    if root is not None:
        return root
    stack = [("", model)]
    while stack:  # iterative: deep models do not hit the recursion limit
        prefix, parent = stack.pop()
        for name, child in list(parent.named_children()):
            qualified = f"{prefix}.{name}" if prefix else name
            if child is None or qualified in skip:
                continue
            new = convert(child)
            if new is not None:
                setattr(parent, name, new)
            else:
                stack.append((qualified, child))
    return model


def replace_linear_with_bitlinear(model: Module, exclude=(), inplace: bool = False, *, eps: float = 1e-5,
                                  norm_eps: float = 1e-6) -> Module:
    """Replace every ``nn.Linear`` (exactly that type, as torch's quantization swaps) by a
    :class:`BitLinear` with the same weight and bias.

    Use it on a freshly built model to train a BitNet from scratch, or on a trained one to
    fine-tune it with quantization-aware training. Subclasses such as
    ``NonDynamicallyQuantizableLinear`` (the output projection that ``MultiheadAttention``
    reads directly) are left alone.

    Args:
        model: the model (a bare Linear is replaced too).
        exclude: qualified names of submodules (``"head"``, ``"blocks.0.ff"``) to keep in float,
            with everything below them.
        inplace: modify ``model`` itself; otherwise a deep copy is converted.
        eps, norm_eps: passed to every new BitLinear.

    Returns:
        The converted model.

    Example:
        >>> mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> replace_linear_with_bitlinear(mlp)[0]
        BitLinear(in_features=64, out_features=32, bias=True, eps=1e-05, norm_eps=1e-06)
    """
    excluded = _names(exclude, "replace_linear_with_bitlinear")

    def convert(module):
        return BitLinear.from_float(module, eps=eps, norm_eps=norm_eps) if type(module) is Linear else None

    return _swap_modules(model, convert, inplace, skip=excluded)


def export_ternary(model: Module, inplace: bool = False) -> Module:
    """Replace every :class:`BitLinear` by a :class:`PackedBitLinear` holding its packed
    ternary weights: the model for inference with the ternary kernel.

    Args:
        model: a model containing BitLinear layers (a bare BitLinear is converted too).
        inplace: modify ``model`` itself; otherwise a deep copy is converted.

    Returns:
        The converted model; its outputs equal the fake-quantized model's up to float rounding.

    Example:
        >>> packed = export_ternary(nn.Sequential(BitLinear(64, 32), nn.ReLU(), BitLinear(32, 10)))
        >>> packed[0].packed_weight.shape
        cogtensor.Size([32, 16])
    """
    return _swap_modules(model, lambda m: PackedBitLinear.from_float(m) if isinstance(m, BitLinear) else None,
                         inplace)


def _names(exclude, op: str) -> frozenset:
    if isinstance(exclude, str):
        return frozenset([exclude])
    try:
        names = frozenset(exclude)
    except TypeError:
        raise TypeError(f"{op}: exclude must be a name or an iterable of names, got {type(exclude).__name__}") \
            from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise TypeError(f"{op}: exclude must hold submodule names (str), got {bad[0]!r}")
    return names
