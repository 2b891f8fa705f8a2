"""Quantized models (``torch.ao.quantization`` and ``torch.ao.nn.quantized``), the model-level
side of :mod:`cogtensor.quant`:

- :mod:`.tensor`: :class:`QuantizedTensor` (int8 / uint8 with scale and zero point, per
  tensor or per channel), calibration observers, straight-through fake quantization;
- :mod:`.dynamic`: :func:`quantize_dynamic`, which swaps every ``nn.Linear`` of a model for
  a :class:`DynamicQuantizedLinear` (int8 weights, activations quantized per token at run time).

BitNet b1.58 ternary layers are in :mod:`cogtensor.nn.bitnet`.
"""

from cogtensor.nn.quantized.dynamic import DynamicQuantizedLinear, quantize_dynamic
from cogtensor.nn.quantized.tensor import (
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    PercentileObserver,
    PerChannelMinMaxObserver,
    QuantizedTensor,
    dequantize,
    fake_quantize_per_tensor_affine,
    fake_quantize_per_token,
    fake_quantize_ternary,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qscheme,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)

__all__ = [
    "qscheme", "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "qint8", "quint8", "QuantizedTensor", "quantize_per_tensor", "quantize_per_channel", "dequantize",
    "MinMaxObserver", "MovingAverageMinMaxObserver", "PerChannelMinMaxObserver", "PercentileObserver",
    "fake_quantize_ternary", "fake_quantize_per_token", "fake_quantize_per_tensor_affine",
    "DynamicQuantizedLinear", "quantize_dynamic",
]
