"""Quantized tensors, calibration observers and straight-through fake quantization.

The model-level side of :mod:`cogtensor.quant`, following ``torch.ao.quantization``:

- :class:`QuantizedTensor`: int8 / uint8 values ``q`` with ``x ~= (q - zero_point) * scale``,
  one (scale, zero point) per tensor or per channel along an axis; built by
  :func:`quantize_per_tensor` / :func:`quantize_per_channel` (torch's names and rounding:
  ``q = clamp(round_half_even(x * (1 / scale) + zero_point), qmin, qmax)`` in float32).
- Observers that pick ``(scale, zero_point)`` from calibration data with torch's formulas:
  :class:`MinMaxObserver`, :class:`MovingAverageMinMaxObserver`,
  :class:`PerChannelMinMaxObserver` and :class:`PercentileObserver` (clips outliers);
  symmetric schemes fix the zero point (0 for int8, 128 for uint8).
- Fake quantization for quantization-aware training, which rounds in the forward pass and
  lets the gradient through in the backward pass (straight-through estimator):
  :func:`fake_quantize_ternary` (BitNet b1.58 weights), :func:`fake_quantize_per_token`
  (8-bit absmax activations) and torch's :func:`fake_quantize_per_tensor_affine`.
"""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import dtypes, quant
from cogtensor.graph import attach
from cogtensor.nn.module import Module
from cogtensor.tensor import Size, Tensor


class qscheme:  # noqa: N801 - torch.qscheme
    """How a quantized tensor maps integers to reals (``torch.qscheme``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    @property
    def per_channel(self) -> bool:
        return self.name.startswith("per_channel")

    @property
    def symmetric(self) -> bool:
        return self.name.endswith("symmetric")

    def __repr__(self) -> str:
        return f"cogtensor.{self.name}"


per_tensor_affine = qscheme("per_tensor_affine")
per_tensor_symmetric = qscheme("per_tensor_symmetric")
per_channel_affine = qscheme("per_channel_affine")
per_channel_symmetric = qscheme("per_channel_symmetric")
_SCHEMES = (per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric)

qint8, quint8 = dtypes.int8, dtypes.uint8  # torch.qint8 / torch.quint8: stored as int8 / uint8
_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def _qdtype(dtype, op: str) -> np.dtype:
    np_dtype = dtype.numpy if isinstance(dtype, dtypes.dtype) else None
    if np_dtype not in _RANGES:
        raise TypeError(f"{op}: dtype must be cogtensor.qint8 (int8) or cogtensor.quint8 (uint8), got {dtype!r}")
    return np_dtype


def _float_data(x, op: str) -> np.ndarray:
    """x's values as a float32/float64 numpy array (float16 and bfloat16 widen to float32)."""
    data = x.detach().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if not (data.dtype.kind == "f" or data.dtype == dtypes.bfloat16.numpy):
        raise TypeError(f"{op}: expected a floating tensor, got {data.dtype}")
    return data if data.dtype in (np.float32, np.float64) else data.astype(np.float32)


def _quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, np_dtype: np.dtype) -> np.ndarray:
    """torch's rounding: float32 x times the float32 inverse scale plus the zero point, rounded
    once to float32 (a fused multiply-add: the float64 product of two float32 is exact), then
    to an integer half to even."""
    lo, hi = _RANGES[np_dtype]
    inv_scale = (np.float32(1) / scale.astype(np.float32)).astype(np.float64)
    fused = (x.astype(np.float32).astype(np.float64) * inv_scale + zero_point).astype(np.float32)
    return np.clip(np.rint(fused), lo, hi).astype(np_dtype)


class QuantizedTensor:
    """int8 or uint8 values with their affine map to reals, ``x ~= (q - zero_point) * scale``.

    Per tensor (one scale and zero point) or per channel (one pair per index along
    ``axis``). Build one with :func:`quantize_per_tensor`, :func:`quantize_per_channel` or
    :meth:`from_float`; read it back with :meth:`dequantize` and :meth:`int_repr`.

    Example:
        >>> qt = quantize_per_tensor(cogtensor.tensor([-1.0, 0.0, 0.5]), 0.5, 2, quint8)
        >>> qt.int_repr(), qt.q_scale(), qt.q_zero_point()
        (tensor([0, 2, 3], dtype=cogtensor.uint8), 0.5, 2)
    """

    __slots__ = ("_q", "_scale", "_zero_point", "_axis")

    def __init__(self, int_repr, scale, zero_point, axis: int | None = None):
        q = int_repr.detach().numpy() if isinstance(int_repr, Tensor) else np.asarray(int_repr)
        if q.dtype not in _RANGES:
            raise TypeError(f"QuantizedTensor: expected int8 or uint8 values, got {q.dtype}")
        channels = None if axis is None else q.shape[_axis(axis, q.ndim, "QuantizedTensor")]
        self._q, self._axis = q, None if axis is None else axis % q.ndim
        self._scale, self._zero_point = _qparams(scale, zero_point, channels, q.dtype, "QuantizedTensor")

    @classmethod
    def from_float(cls, x, dtype=qint8, qscheme: qscheme = per_tensor_symmetric, axis: int = 0) -> QuantizedTensor:
        """Quantize ``x`` with the min/max of ``x`` itself (one observer pass), as ``torch``'s
        dynamic quantization does. ``axis`` is the channel axis of the per-channel schemes."""
        observer = PerChannelMinMaxObserver(axis, dtype, qscheme) if qscheme.per_channel \
            else MinMaxObserver(dtype, qscheme)
        observer(x)
        scale, zero_point = observer.calculate_qparams()
        if qscheme.per_channel:
            return quantize_per_channel(x, scale, zero_point, axis, dtype)
        return quantize_per_tensor(x, float(scale.item()), int(zero_point.item()), dtype)

    # ---------------------------------------------------------------- metadata
    @property
    def shape(self) -> Size:
        return Size(self._q.shape)

    @property
    def dtype(self) -> dtypes.dtype:
        """The storage type: :data:`qint8` (int8) or :data:`quint8` (uint8)."""
        return dtypes.from_numpy_dtype(self._q.dtype)

    @property
    def ndim(self) -> int:
        return self._q.ndim

    @property
    def is_quantized(self) -> bool:
        return True

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self._q.size)

    def __len__(self) -> int:
        return len(self._q)

    def qscheme(self) -> qscheme:
        return per_tensor_affine if self._axis is None else per_channel_affine

    # ---------------------------------------------------------------- qparams
    def _need(self, per_channel: bool, op: str) -> None:
        if (self._axis is not None) != per_channel:
            raise RuntimeError(f"{op}: expected a {'per-channel' if per_channel else 'per-tensor'} quantized "
                               f"tensor, got {self.qscheme().name}")

    def q_scale(self) -> float:
        self._need(False, "q_scale")
        return float(self._scale)

    def q_zero_point(self) -> int:
        self._need(False, "q_zero_point")
        return int(self._zero_point)

    def q_per_channel_scales(self) -> Tensor:
        """float64 ``(C,)``."""
        self._need(True, "q_per_channel_scales")
        return Tensor(self._scale.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        """int64 ``(C,)``."""
        self._need(True, "q_per_channel_zero_points")
        return Tensor(self._zero_point.copy())

    def q_per_channel_axis(self) -> int:
        self._need(True, "q_per_channel_axis")
        return self._axis

    # ---------------------------------------------------------------- values
    def int_repr(self) -> Tensor:
        """The stored integers as a new int8/uint8 tensor."""
        return Tensor(self._q.copy())

    def dequantize(self) -> Tensor:
        """``(q - zero_point) * scale`` as float32, q's shape (as torch: a float32 product per
        tensor, a float64 product rounded to float32 per channel, whose scales are float64)."""
        if self._axis is None:
            shifted = (self._q.astype(np.int32) - self._zero_point).astype(np.float32)
            return Tensor(shifted * np.float32(self._scale))
        shifted = self._q.astype(np.int64) - self._broadcast(self._zero_point)
        return Tensor((shifted * self._broadcast(self._scale)).astype(np.float32))

    def _broadcast(self, values: np.ndarray) -> np.ndarray:
        if self._axis is None:
            return values
        shape = [1] * self._q.ndim
        shape[self._axis] = -1
        return values.reshape(shape)

    def __repr__(self) -> str:
        values = repr(self.dequantize()).removeprefix("tensor(").removesuffix(")")
        if self._axis is None:
            params = f"scale={self.q_scale()}, zero_point={self.q_zero_point()}"
        else:
            params = (f"scale={self._scale.tolist()}, zero_point={self._zero_point.tolist()}, axis={self._axis}")
        return (f"QuantizedTensor({values}, size={tuple(self._q.shape)}, dtype={self.dtype!r}, "
                f"quantization_scheme={self.qscheme()!r}, {params})")


def _axis(axis, ndim: int, op: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis must be an integer in [{-ndim}, {ndim - 1}], got {axis!r}")
    return int(axis)


def _qparams(scale, zero_point, channels, np_dtype, op: str):
    """(float64 scale, int64 zero point) checked: 0-d per tensor (channels None; one-element
    tensors, as observers return, are taken too, as torch does), else (channels,)."""
    s = np.asarray(scale.detach().numpy() if isinstance(scale, Tensor) else scale, np.float64)
    z = np.asarray(zero_point.detach().numpy() if isinstance(zero_point, Tensor) else zero_point)
    if channels is None and s.size == 1 and z.size == 1:
        s, z = s.reshape(()), z.reshape(())
    want = () if channels is None else (channels,)
    if s.shape != want or z.shape != want:
        raise ValueError(f"{op}: expected scale and zero_point of shape {want}, got {s.shape} and {z.shape}")
    if z.dtype.kind not in "iu":
        raise TypeError(f"{op}: zero_point must be an integer, got {z.dtype}")
    if not (np.isfinite(s) & (s > 0)).all():
        raise ValueError(f"{op}: scale must be positive and finite, got {s}")
    lo, hi = _RANGES[np_dtype]
    if ((z < lo) | (z > hi)).any():
        raise ValueError(f"{op}: zero_point must lie in [{lo}, {hi}] for {np_dtype}, got {z}")
    return s, z.astype(np.int64)


def quantize_per_tensor(input, scale: float, zero_point: int, dtype) -> QuantizedTensor:
    """Quantize with one scale and zero point (``torch.quantize_per_tensor``).

    ``q = clamp(round_half_even(x * float32(1 / scale) + zero_point), qmin, qmax)``, with
    ``[qmin, qmax]`` = [-128, 127] for qint8 and [0, 255] for quint8.

    Args:
        input: floating tensor (or array) of any shape.
        scale: positive float. zero_point: integer in the dtype's range (either may be a
            one-element tensor, such as an observer's ``calculate_qparams()`` returns).
        dtype: :data:`qint8` or :data:`quint8`.

    Raises:
        TypeError: non-floating input or another dtype. ValueError: a non-positive or
        non-finite scale, a zero point out of range, or NaN in the input.

    Example:
        >>> quantize_per_tensor(cogtensor.tensor([0.26, -3.0]), 0.1, 0, qint8).int_repr()
        tensor([  3, -30], dtype=cogtensor.int8)
    """
    np_dtype = _qdtype(dtype, "quantize_per_tensor")
    x = _checked(input, "quantize_per_tensor")
    s, z = _qparams(scale, zero_point, None, np_dtype, "quantize_per_tensor")
    return QuantizedTensor(_quantize(x, s, z, np_dtype), s, z)


def quantize_per_channel(input, scales, zero_points, axis: int, dtype) -> QuantizedTensor:
    """Quantize with one scale and zero point per index along ``axis`` (``torch.quantize_per_channel``).

    Args:
        input: floating tensor with at least one dimension.
        scales: ``(C,)`` positive floats, ``C = input.shape[axis]``.
        zero_points: ``(C,)`` integers in the dtype's range.
        axis: the channel dimension. dtype: :data:`qint8` or :data:`quint8`.

    Raises:
        as :func:`quantize_per_tensor`, and ValueError for a bad axis or parameter shape.

    Example:
        >>> x = cogtensor.tensor([[1.0, -1.0], [10.0, 5.0]])
        >>> quantize_per_channel(x, cogtensor.tensor([0.1, 1.0]), cogtensor.tensor([0, 0]), 0, qint8).int_repr()
        tensor([[ 10, -10],
                [ 10,   5]], dtype=cogtensor.int8)
    """
    np_dtype = _qdtype(dtype, "quantize_per_channel")
    x = _checked(input, "quantize_per_channel")
    if x.ndim == 0:
        raise ValueError("quantize_per_channel: expected a tensor with at least one dimension")
    axis = _axis(axis, x.ndim, "quantize_per_channel") % x.ndim
    s, z = _qparams(scales, zero_points, x.shape[axis], np_dtype, "quantize_per_channel")
    shape = [1] * x.ndim
    shape[axis] = -1
    return QuantizedTensor(_quantize(x, s.reshape(shape), z.reshape(shape), np_dtype), s, z, axis)


def _checked(x, op: str) -> np.ndarray:
    data = _float_data(x, op)
    if np.isnan(data).any():
        raise ValueError(f"{op}: input holds NaN")
    return data


def dequantize(tensor: QuantizedTensor) -> Tensor:
    """``tensor.dequantize()`` (``torch.dequantize``)."""
    if not isinstance(tensor, QuantizedTensor):
        raise TypeError(f"dequantize: expected a QuantizedTensor, got {type(tensor).__name__}")
    return tensor.dequantize()


# ------------------------------------------------------------------- observers
class _Observer(Module):
    """Shared by the observers: quantization range and torch's qparams formulas. Buffers
    (``state_dict``), as torch's: ``eps``, ``min_val``, ``max_val`` (float32)."""

    def __init__(self, dtype, qscheme, reduce_range, quant_min, quant_max, eps, per_channel: bool):
        super().__init__()
        name = type(self).__name__
        self._np_dtype = _qdtype(dtype, name)
        if qscheme not in _SCHEMES or qscheme.per_channel != per_channel:
            kinds = "per_channel_affine or per_channel_symmetric" if per_channel else \
                "per_tensor_affine or per_tensor_symmetric"
            raise ValueError(f"{name}: qscheme must be {kinds}, got {qscheme!r}")
        if qscheme.symmetric and reduce_range and self._np_dtype == np.uint8:
            raise ValueError(f"{name}: cannot reduce the range of symmetric quantization to quint8")
        self.dtype, self.qscheme, self.reduce_range = dtype, qscheme, reduce_range
        self.register_buffer("eps", Tensor(np.array([eps], np.float32)))
        self._custom_range = quant_min is not None and quant_max is not None
        self.quant_min, self.quant_max = self._range(quant_min, quant_max, name)

    def _range(self, quant_min, quant_max, name):
        if self._custom_range:
            if not quant_min <= 0 <= quant_max or quant_min >= quant_max:
                raise ValueError(f"{name}: quant_min < quant_max must hold and the range must include 0, "
                                 f"got [{quant_min}, {quant_max}]")
            lo, hi = _RANGES[self._np_dtype]
            if not lo <= quant_min or not quant_max <= hi:
                raise ValueError(f"{name}: [{quant_min}, {quant_max}] exceeds the {self._np_dtype} range [{lo}, {hi}]")
            return (quant_min // 2, quant_max // 2) if self.reduce_range else (quant_min, quant_max)
        lo, hi = _RANGES[self._np_dtype]
        return (lo // 2, hi // 2) if self.reduce_range else (lo, hi)

    def _observed(self, x) -> np.ndarray | None:
        """x as float32 (None when empty); NaN raises."""
        data = _float_data(x, type(self).__name__).astype(np.float32)
        if np.isnan(data).any():
            raise ValueError(f"{type(self).__name__}: input holds NaN")
        return data if data.size else None

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"

    def _set_min_max(self, min_val, max_val) -> None:
        self.min_val = Tensor(np.array(min_val, np.float32))
        self.max_val = Tensor(np.array(max_val, np.float32))

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """``(scale, zero_point)``: float32 and int64 tensors of shape ``(1,)`` (per tensor)
        or ``(C,)`` (per channel), by torch's formulas. Before any data: ``([1.], [0])``
        with a UserWarning, as torch."""
        lo, hi = self.min_val.numpy(), self.max_val.numpy()
        if lo.size == 0 or np.any(lo == np.inf) and np.any(hi == -np.inf):
            warnings.warn("must run observer before calling calculate_qparams. Returning default values.",
                          UserWarning, stacklevel=2)
            return Tensor(np.ones(1, np.float32)), Tensor(np.zeros(1, np.int64))
        scale, zero_point = self._qparams_of(np.atleast_1d(lo), np.atleast_1d(hi))
        return Tensor(scale), Tensor(zero_point)

    def _qparams_of(self, min_val: np.ndarray, max_val: np.ndarray):
        qmin, qmax, eps = self.quant_min, self.quant_max, self.eps.numpy()[0]
        min_neg, max_pos = np.minimum(min_val, np.float32(0)), np.maximum(max_val, np.float32(0))
        if self.qscheme.symmetric:
            scale = np.maximum(np.maximum(-min_neg, max_pos) / np.float32((qmax - qmin) / 2), eps)
            mid = ((qmin + qmax) // 2 if self._custom_range else 128) if self._np_dtype == np.uint8 else 0
            zero_point = np.full(scale.shape, mid, np.int64)
        else:
            scale = np.maximum((max_pos - min_neg) / np.float32(qmax - qmin), eps)
            zero_point = np.clip(qmin - np.rint(min_neg / scale).astype(np.int64), qmin, qmax)
        return scale.astype(np.float32), zero_point


class MinMaxObserver(_Observer):
    """Running min and max of everything observed (``torch.ao.quantization.MinMaxObserver``).

    Args:
        dtype: :data:`quint8` (default) or :data:`qint8`.
        qscheme: :data:`per_tensor_affine` (default) or :data:`per_tensor_symmetric`.
        reduce_range: use 7 bits of the range. quant_min, quant_max: a custom range
            (both or neither). eps: smallest scale (float32 epsilon).

    Example:
        >>> obs = MinMaxObserver(qint8, per_tensor_symmetric)
        >>> _ = obs(cogtensor.tensor([-2.0, 1.0]))
        >>> obs.calculate_qparams()
        (tensor([0.0157]), tensor([0]))
    """

    def __init__(self, dtype=quint8, qscheme: qscheme = per_tensor_affine, reduce_range: bool = False,
                 quant_min: int | None = None, quant_max: int | None = None, eps: float = 1.1920928955078125e-07):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, per_channel=False)
        self.register_buffer("min_val", Tensor(np.array(np.inf, np.float32)))
        self.register_buffer("max_val", Tensor(np.array(-np.inf, np.float32)))

    def reset_min_max_vals(self) -> None:
        self._set_min_max(np.inf, -np.inf)

    def forward(self, x):
        """Fold ``x`` into the running min/max; returns ``x`` unchanged."""
        data = self._observed(x)
        if data is not None:
            self._update(data.min(), data.max())
        return x

    def _update(self, cur_min, cur_max) -> None:
        self._set_min_max(np.minimum(self.min_val.numpy(), cur_min), np.maximum(self.max_val.numpy(), cur_max))


class MovingAverageMinMaxObserver(MinMaxObserver):
    """Exponential moving average of each batch's min and max
    (``torch.ao.quantization.MovingAverageMinMaxObserver``): the first batch sets them,
    then ``min += averaging_constant * (batch_min - min)`` (max alike).

    Example:
        >>> obs = MovingAverageMinMaxObserver(averaging_constant=0.5)
        >>> _ = obs(cogtensor.tensor([0.0, 2.0])); _ = obs(cogtensor.tensor([0.0, 4.0]))
        >>> obs.max_val
        tensor(3.)
    """

    def __init__(self, averaging_constant: float = 0.01, dtype=quint8, qscheme: qscheme = per_tensor_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = 1.1920928955078125e-07):
        if not 0 < averaging_constant <= 1:
            raise ValueError(f"MovingAverageMinMaxObserver: averaging_constant must be in (0, 1], "
                             f"got {averaging_constant!r}")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps)
        self.averaging_constant = averaging_constant

    def _update(self, cur_min, cur_max) -> None:
        lo, hi = self.min_val.numpy(), self.max_val.numpy()
        if lo == np.inf and hi == -np.inf:
            return self._set_min_max(cur_min, cur_max)
        c = np.float32(self.averaging_constant)
        self._set_min_max(lo + c * (cur_min - lo), hi + c * (cur_max - hi))


class PercentileObserver(MinMaxObserver):
    """Clips outliers: the mean over batches of each batch's ``100 - percentile`` and
    ``percentile`` percentiles (numpy's linear interpolation) stand in for min and max.

    Example:
        >>> obs = PercentileObserver(percentile=90.0)
        >>> _ = obs(cogtensor.arange(11.0))
        >>> obs.min_val, obs.max_val
        (tensor(1.), tensor(9.))
    """

    def __init__(self, percentile: float = 99.99, dtype=quint8, qscheme: qscheme = per_tensor_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = 1.1920928955078125e-07):
        if not 50 < percentile <= 100:
            raise ValueError(f"PercentileObserver: percentile must be in (50, 100], got {percentile!r}")
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps)
        self.percentile, self.batches = float(percentile), 0

    def reset_min_max_vals(self) -> None:
        super().reset_min_max_vals()
        self.batches = 0

    def forward(self, x):
        data = self._observed(x)
        if data is not None:
            lo, hi = np.percentile(data, [100 - self.percentile, self.percentile])
            n, self.batches = self.batches, self.batches + 1
            old_lo, old_hi = self.min_val.numpy(), self.max_val.numpy()
            self._set_min_max(lo if n == 0 else old_lo + (lo - old_lo) / (n + 1),
                              hi if n == 0 else old_hi + (hi - old_hi) / (n + 1))
        return x


class PerChannelMinMaxObserver(_Observer):
    """Running min and max per index along ``ch_axis``
    (``torch.ao.quantization.PerChannelMinMaxObserver``); qparams have shape ``(C,)``.

    Example:
        >>> obs = PerChannelMinMaxObserver(0, qint8, per_channel_symmetric)
        >>> _ = obs(cogtensor.tensor([[1.0, -2.0], [0.5, 0.25]]))
        >>> obs.calculate_qparams()[0]
        tensor([0.0157, 0.0039])
    """

    def __init__(self, ch_axis: int = 0, dtype=quint8, qscheme: qscheme = per_channel_affine,
                 reduce_range: bool = False, quant_min: int | None = None, quant_max: int | None = None,
                 eps: float = 1.1920928955078125e-07):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max, eps, per_channel=True)
        self.ch_axis = ch_axis
        self.register_buffer("min_val", Tensor(np.zeros(0, np.float32)))
        self.register_buffer("max_val", Tensor(np.zeros(0, np.float32)))

    def reset_min_max_vals(self) -> None:
        self._set_min_max(np.zeros(0), np.zeros(0))

    def forward(self, x):
        data = self._observed(x)
        if data is None:
            return x
        if data.ndim == 0:
            raise ValueError("PerChannelMinMaxObserver: expected a tensor with at least one dimension")
        rows = np.moveaxis(data, _axis(self.ch_axis, data.ndim, "PerChannelMinMaxObserver"), 0)
        rows = rows.reshape(rows.shape[0], -1)
        cur_min, cur_max = rows.min(axis=1), rows.max(axis=1)
        seen = self.min_val.numpy()
        if seen.size and seen.shape != cur_min.shape:
            raise ValueError(f"PerChannelMinMaxObserver: saw {seen.size} channels before, now {cur_min.size}")
        if seen.size:
            cur_min, cur_max = np.minimum(seen, cur_min), np.maximum(self.max_val.numpy(), cur_max)
        self._set_min_max(cur_min, cur_max)
        return x


# ------------------------------------------------------ straight-through fake quant
def _fake(input, op: str) -> np.ndarray:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    return _checked(input, op)


def _straight_through(input: Tensor, values: np.ndarray, name: str, mask: np.ndarray | None = None) -> Tensor:
    """``values`` (in input's dtype) as a tensor whose gradient is the incoming one, kept
    where ``mask`` holds (everywhere without a mask)."""
    out = Tensor(values.astype(input.dtype.numpy))
    if getattr(input, "_node", None) is None:
        return out
    if mask is None:
        return attach(out, name, (input,), lambda g: (g,))
    keep = Tensor(mask)
    return attach(out, name, (input,), lambda g: (g.where(keep, 0.0),))


def fake_quantize_ternary(weight: Tensor, eps: float = 1e-5) -> Tensor:
    """BitNet b1.58 weight fake quantization with a straight-through gradient.

    Forward: ``q * scale`` from :func:`cogtensor.quant.absmean_quantize` (q in {-1, 0, +1},
    ``scale = max(mean|w|, eps)``), in ``weight``'s dtype. Backward: the gradient passes
    through unchanged (``w + (quantized(w) - w).detach()`` in torch terms).

    Args:
        weight: floating tensor, at least one element.

    Example:
        >>> fake_quantize_ternary(cogtensor.tensor([0.9, -0.1, -2.0, 0.4]))
        tensor([ 0.8500,  0.0000, -0.8500,  0.0000])
    """
    w = _fake(weight, "fake_quantize_ternary")
    q, scale = quant.absmean_quantize(w, eps)
    return _straight_through(weight, q * scale, "TernaryFakeQuantizeBackward0")


def fake_quantize_per_token(input: Tensor, eps: float = 1e-5) -> Tensor:
    """BitNet b1.58 activation fake quantization: 8-bit absmax per token (last axis),
    straight-through gradient.

    Forward: ``q * scale`` from :func:`cogtensor.quant.absmax_quantize`
    (``scale = max(max|x|, eps) / 127`` per token), in ``input``'s dtype; every value moves
    by at most ``scale / 2``. Backward: the gradient passes through unchanged.

    Args:
        input: floating ``(..., k)`` tensor, ``k >= 1``.

    Example:
        >>> fake_quantize_per_token(cogtensor.tensor([[1.0, 0.3]]))
        tensor([[1.0000, 0.2992]])
    """
    x = _fake(input, "fake_quantize_per_token")
    q, scale = quant.absmax_quantize(x, eps)
    return _straight_through(input, q * scale, "PerTokenFakeQuantizeBackward0")


def fake_quantize_per_tensor_affine(input: Tensor, scale: float, zero_point: int, quant_min: int,
                                    quant_max: int) -> Tensor:
    """``torch.fake_quantize_per_tensor_affine``: quantize then dequantize, in float.

    Forward: ``(clamp(round_half_even(x * (1 / scale)) + zero_point, quant_min, quant_max)
    - zero_point) * scale``. Backward: the gradient passes where the rounded value lies in
    ``[quant_min, quant_max]`` and is 0 where it was clamped, as torch.

    Raises:
        ValueError: ``quant_min > quant_max``, a zero point outside the range, or a
        non-positive scale.

    Example:
        >>> fake_quantize_per_tensor_affine(cogtensor.tensor([0.26, 9.0]), 0.1, 0, -128, 127)
        tensor([0.3000, 9.0000])
    """
    x = _fake(input, "fake_quantize_per_tensor_affine").astype(np.float32)
    if not quant_min <= zero_point <= quant_max:
        raise ValueError(f"fake_quantize_per_tensor_affine: expected quant_min <= zero_point <= quant_max, got "
                         f"{quant_min}, {zero_point}, {quant_max}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"fake_quantize_per_tensor_affine: scale must be positive and finite, got {scale!r}")
    rounded = np.rint(x * (np.float32(1) / np.float32(scale))) + np.float32(zero_point)
    inside = (rounded >= quant_min) & (rounded <= quant_max)
    values = (np.clip(rounded, quant_min, quant_max) - np.float32(zero_point)) * np.float32(scale)
    return _straight_through(input, values, "FakeQuantizePerTensorAffineBackward0", inside)
