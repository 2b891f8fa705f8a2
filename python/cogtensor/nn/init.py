"""Weight initialisation (``torch.nn.init``): fill a tensor in place, without recording
gradients, and return it.

Every random initialiser takes ``generator=`` (a :class:`cogtensor.Generator`; the default
generator otherwise). The values follow the same distributions as torch's (same bounds,
standard deviations, truncation, orthogonality) but not the same numbers: cogtensor draws
from numpy's PCG64, torch from its own Mersenne Twister / Philox streams, so a seed does not
reproduce torch's values bit for bit. To start from torch's exact weights, copy them in with
``load_state_dict``.

Example:
    >>> w = cogtensor.empty(256, 784)
    >>> init.kaiming_uniform_(w, a=math.sqrt(5), generator=cogtensor.Generator().manual_seed(0))
"""

from __future__ import annotations

import math
import statistics
import warnings

import numpy as np

from cogtensor import random
from cogtensor.errors import NotImplementedForDType
from cogtensor.graph import no_grad
from cogtensor.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (torch's table).

    linear / conv* / sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2))
    with ``param`` the negative slope (default 0.01); selu: 3/4.

    Example:
        >>> calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # keeps the variance of the input stable for self-normalising networks
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    _require_tensor("_calculate_fan_in_and_fan_out", tensor)
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    valid_modes = ["fan_in", "fan_out"]
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# ------------------------------------------------------------- helpers
def _require_tensor(op: str, tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a cogtensor.Tensor, got {type(tensor).__name__}")


def _require_floating(op: str, tensor) -> None:
    _require_tensor(op, tensor)
    if not tensor.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: random initialisation needs a floating tensor, got {tensor.dtype}")


def _write(tensor: Tensor, values) -> Tensor:
    """Copy ``values`` (an array of tensor's shape or a number) into ``tensor`` without recording."""
    with no_grad():
        if isinstance(values, np.ndarray):
            tensor.copy_(Tensor(values))
        else:
            tensor.fill_(values)
    return tensor


def _is_empty(tensor: Tensor) -> bool:
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


# ------------------------------------------------------- distributions
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn uniformly from [a, b); returns ``tensor``."""
    _require_floating("uniform_", tensor)
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    return _write(tensor, random.rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with values drawn from N(mean, std^2); returns ``tensor``."""
    _require_floating("normal_", tensor)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _write(tensor, random.rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Tensor:
    """Fill with values from N(mean, std^2) conditioned on a <= x <= b (absolute bounds, not
    in units of std); returns ``tensor``.

    Draws the exact truncated distribution: rejection from N(mean, std^2) when the interval
    holds a fair share of the mass, inverse-CDF sampling (accurate in the tails) otherwise.
    So, unlike torch, a mean far outside [a, b] needs no warning: the values are still right.
    """
    _require_floating("trunc_normal_", tensor)
    if not std > 0:
        raise RuntimeError(f"trunc_normal_ expects std > 0.0, but found std {std}")
    if not a < b:
        raise RuntimeError(f"trunc_normal_ expects a < b, but found a={a} >= b={b}")
    rng, n = random.rng(generator), tensor.numel()
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = _normal_cdf(hi) - _normal_cdf(lo)
    standard = _truncated_by_rejection(rng, n, lo, hi, mass) if mass >= 0.05 else _truncated_by_inversion(rng, n,
                                                                                                          lo, hi)
    values = np.clip(standard * std + mean, a, b)  # rounding may step just outside the bounds
    return _write(tensor, values.reshape(tensor.shape))


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _truncated_by_rejection(rng, n: int, lo: float, hi: float, mass: float) -> np.ndarray:
    kept, found = [], 0
    while found < n:
        draw = rng.standard_normal(int((n - found) / mass * 1.1) + 16)
        draw = draw[(draw >= lo) & (draw <= hi)][: n - found]
        kept.append(draw)
        found += draw.size
    return np.concatenate(kept) if kept else np.empty(0)


def _truncated_by_inversion(rng, n: int, lo: float, hi: float) -> np.ndarray:
    """Inverse-CDF sampling on the side of the mean the interval lies on, so the tail
    probabilities keep their precision (Phi(-8) is 6e-16, not 1 - 1e-16)."""
    flip = lo > 0
    if flip:
        lo, hi = -hi, -lo
    low, high = _normal_cdf(lo), _normal_cdf(hi)
    quantile = statistics.NormalDist().inv_cdf
    tiny = np.nextafter(0, 1)
    u = rng.uniform(low, high, n)
    values = np.fromiter((quantile(min(max(p, tiny), 1 - 1e-16)) for p in u.tolist()), np.float64, n)
    return -values if flip else values


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``; returns ``tensor``."""
    _require_tensor("constant_", tensor)
    return _write(tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1; returns ``tensor``."""
    _require_tensor("ones_", tensor)
    return _write(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0; returns ``tensor``."""
    _require_tensor("zeros_", tensor)
    return _write(tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the main diagonal); returns ``tensor``."""
    _require_tensor("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, np.eye(*tensor.shape))


# ------------------------------------------------- scaled initialisers
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); returns ``tensor``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)); returns ``tensor``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan) with gain =
    ``calculate_gain(nonlinearity, a)`` and fan the ``mode`` fan; returns ``tensor``.

    ``kaiming_uniform_(w, a=math.sqrt(5))`` is torch's default for Linear and Conv weights.
    """
    _require_floating("kaiming_uniform_", tensor)
    if _is_empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    """He normal: N(0, std^2), std = gain / sqrt(fan); returns ``tensor``."""
    _require_floating("kaiming_normal_", tensor)
    if _is_empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain``: the tensor viewed as (rows, numel / rows)
    has orthonormal rows or columns (whichever are fewer). The matrix is the Q of the QR
    decomposition of a Gaussian matrix with R's diagonal made positive, so it is uniformly
    (Haar) distributed, as torch's; returns ``tensor``.
    """
    _require_floating("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor  # nothing to fill
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = random.rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # the sign fix makes the distribution uniform
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape))
