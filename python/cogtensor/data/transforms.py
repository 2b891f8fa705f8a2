"""Array transforms for image-like data: Normalize, RandomCrop, RandomHorizontalFlip, Compose.

They take a numpy array or a Tensor of shape ``(C, H, W)`` (one image; ``(H, W)`` too)
or ``(N, C, H, W)`` (a batch) and return the same kind. On a batch, the random
transforms draw independent parameters for every image (torchvision draws one set per
call), so a batch transform equals transforming each image on its own. Random draws
come from ``generator`` (a :class:`cogtensor.Generator`), or the default generator.
"""

from __future__ import annotations

import numbers

import numpy as np

from cogtensor import dtypes
from cogtensor.random import Generator, rng
from cogtensor.tensor import Tensor

__all__ = ["Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip"]


class Compose:
    """Apply transforms one after the other.

    Example:
        >>> tf = Compose([RandomCrop(8, padding=1), RandomHorizontalFlip(), Normalize([0.5], [0.25])])
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({inner}\n)"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel (dimension -3), differentiable on tensors.

    Args:
        mean, std: one number per channel (or one number for all).
        inplace: overwrite the input (it must be writable).

    Raises:
        TypeError: an input that is not floating point. ValueError: a zero std, or as
            many values as channels neither.

    Example:
        >>> Normalize([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])(np.ones((3, 4, 4), np.float32))[0, 0, 0]
        2.5
    """

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, x):
        data = _array(x, "Normalize")
        if data.dtype.kind != "f" and data.dtype != dtypes.bfloat16.numpy:
            raise TypeError(f"Normalize: Input tensor should be a float tensor. Got {data.dtype}.")
        if data.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor image of size (..., C, H, W), got shape {data.shape}")
        mean, std = (np.asarray(v, dtype=data.dtype).reshape(-1, 1, 1) for v in (self.mean, self.std))
        if (std == 0).any():
            raise ValueError(f"Normalize: std evaluated to zero after conversion to {data.dtype}, leading to "
                             "division by zero.")
        for name, v in (("mean", mean), ("std", std)):
            if v.shape[0] not in (1, data.shape[-3]):
                raise ValueError(f"Normalize: {name} has {v.shape[0]} values for {data.shape[-3]} channels")
        if isinstance(x, Tensor):
            m, s = Tensor(mean), Tensor(std)
            return x.sub_(m).div_(s) if self.inplace else (x - m) / s
        if self.inplace:
            np.subtract(x, mean, out=x)
            return np.divide(x, std, out=x)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    Args:
        size: ``(h, w)``, or an int for a square crop.
        padding: added to every border first: an int, ``(left/right, top/bottom)`` or
            ``(left, top, right, bottom)``.
        pad_if_needed: pad an image smaller than ``size`` up to it.
        fill: the value of ``"constant"`` padding.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` or ``"symmetric"``.
        generator: the Generator of the crop positions.

    Raises:
        ValueError: a crop larger than the (padded) image, or bad sizes / padding / mode.

    Example:
        >>> RandomCrop(28, padding=4)(np.zeros((1, 28, 28), np.float32)).shape
        (1, 28, 28)
    """

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0, padding_mode: str = "constant",
                 generator: Generator | None = None):
        self.size = _pair(size, "size")
        self.padding = None if padding is None else _padding(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: padding_mode must be constant, edge, reflect or symmetric, got "
                             f"{padding_mode!r}")
        if not isinstance(fill, numbers.Number):
            raise TypeError(f"RandomCrop: fill must be a number, got {type(fill).__name__}")
        self.pad_if_needed, self.fill, self.padding_mode, self.generator = pad_if_needed, fill, padding_mode, generator

    def __call__(self, x):
        data = _array(x, "RandomCrop")
        if data.ndim < 2:
            raise ValueError(f"RandomCrop: expected an image of shape (..., H, W), got shape {data.shape}")
        if self.padding is not None:
            data = self._pad(data, self.padding)
        th, tw = self.size
        h, w = data.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):
            dh, dw = max(th - h, 0), max(tw - w, 0)
            data = self._pad(data, (dw, dh, dw, dh))
            h, w = data.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        images = data.shape[0] if data.ndim >= 4 else 1
        top = rng(self.generator).integers(0, h - th + 1, size=images)
        left = rng(self.generator).integers(0, w - tw + 1, size=images)
        if data.ndim < 4:
            out = data[..., top[0]:top[0] + th, left[0]:left[0] + tw]
        else:  # one window per image, gathered at once from the (N, ..., H', W', th, tw) windows view
            windows = np.lib.stride_tricks.sliding_window_view(data, (th, tw), axis=(-2, -1))
            out = windows[(np.arange(images),) + (slice(None),) * (data.ndim - 3) + (top, left)]
        return _like(x, np.ascontiguousarray(out))

    def _pad(self, data: np.ndarray, padding) -> np.ndarray:
        left, top, right, bottom = padding
        widths = [(0, 0)] * (data.ndim - 2) + [(top, bottom), (left, right)]
        if self.padding_mode == "constant":
            return np.pad(data, widths, mode="constant", constant_values=self.fill)
        return np.pad(data, widths, mode=self.padding_mode)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right (the last dimension) with probability ``p``.

    Example:
        >>> RandomHorizontalFlip(p=1.0)(np.array([[[1, 2, 3]]])).tolist()
        [[[3, 2, 1]]]
    """

    def __init__(self, p: float = 0.5, generator: Generator | None = None):
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p!r}")
        self.p, self.generator = p, generator

    def __call__(self, x):
        data = _array(x, "RandomHorizontalFlip")
        if data.ndim < 2:
            raise ValueError(f"RandomHorizontalFlip: expected an image of shape (..., H, W), got shape {data.shape}")
        if data.ndim < 4:
            flip = rng(self.generator).random() < self.p
            return _like(x, np.ascontiguousarray(data[..., ::-1])) if flip else x
        flip = rng(self.generator).random(data.shape[0]) < self.p
        out = data.copy()
        out[flip] = data[flip][..., ::-1]
        return _like(x, out)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def _array(x, op: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{op}: expected a numpy array or a Tensor, got {type(x).__name__}")


def _like(x, out: np.ndarray):
    return Tensor(out) if isinstance(x, Tensor) else out


def _pair(size, name: str) -> tuple:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    elif isinstance(size, (list, tuple)) and len(size) == 1:
        size = (int(size[0]), int(size[0]))
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
            isinstance(s, numbers.Integral) and s > 0 for s in size)):
        raise ValueError(f"RandomCrop: {name} must be a positive int or a sequence (h, w), got {size!r}")
    return int(size[0]), int(size[1])


def _padding(padding) -> tuple:
    """(left, top, right, bottom) from an int, a pair (left/right, top/bottom) or four values."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = [padding]
    if not isinstance(padding, (list, tuple)) or len(padding) not in (1, 2, 4) or not all(
            isinstance(p, numbers.Integral) and p >= 0 for p in padding):
        raise ValueError(f"RandomCrop: padding must be a non-negative int or a sequence of 1, 2 or 4 of them, "
                         f"got {padding!r}")
    if len(padding) == 1:
        return (int(padding[0]),) * 4
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    return tuple(int(p) for p in padding)
